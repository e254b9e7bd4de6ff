"""New VMs whose disk is a qcow2 overlay of a base image (what vagrant-libvirt does for boxes)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from lxml import etree

from vmm.model import cloudinit, metadata
from vmm.model.cloudinit import Identity
from vmm.model.definition import new_domain
from vmm.model.errors import InvalidInput, InvalidState, NotFound, VmmError
from vmm.model.metadata import Metadata
from vmm.ops import faults
from vmm.ops.transaction import (
    all_or_nothing,
    check_name_free,
    define_new,
    reserve_image,
    track_image,
)
from vmm.virt import images, seeds, storage
from vmm.virt.domains import Conn
from vmm.virt.errors import LibvirtError, as_vmm_errors
from vmm.virt.hosts import Hosts
from vmm.virt.images import Image

# What qemu-img reports for a file that is a disk image by its own header; anything else it
# reads as raw, which any file is (/etc/passwd too).
IMAGE_FORMATS = frozenset({"qcow2", "qcow", "qed", "vmdk", "vdi", "vhdx", "vpc", "luks"})
MIN_RAW_BYTES = 2**20
SECTOR = 512


@dataclass(frozen=True)
class Shape:
    memory_mib: int = 1024
    vcpus: int = 1
    network: str | None = None  # None: the host's 'default' network when it has one
    arch: str = "x86_64"  # what the image was built for
    disk_gib: int | None = None  # None: the base image's size


def find_base(conn: Conn, ref: str) -> Image:
    """A base image named by absolute path, as POOL/VOLUME, or by a volume name that one
    active pool of the host holds."""
    if ref.startswith("/"):
        return images.image_at(conn, ref, None)
    pool_name, _, volume_name = ref.partition("/")
    if not volume_name:
        return images.image_at(conn, _volume_named(conn, ref), None)
    volume = storage.volume_in_pool(conn, pool_name, volume_name)
    if volume is None:
        raise NotFound(f"no base image {ref!r}")
    return images.image_at(conn, volume.path(), None)


def _volume_named(conn: Conn, name: str) -> str:
    pools = [pool for pool in conn.listAllStoragePools(0) if pool.isActive()]
    found = [
        f"{pool.name()}/{name}"
        for pool in pools
        if name in pool.listVolumes()  # listVolumes: names, one call per pool
    ]
    if not found:
        raise NotFound(f"no image {name!r} in any storage pool: give a path or POOL/VOLUME")
    if len(found) > 1:
        raise InvalidInput(f"{name!r} is in more than one pool: name one ({', '.join(found)})")
    pool_name = found[0].partition("/")[0]
    return conn.storagePoolLookupByName(pool_name).storageVolLookupByName(name).path()


def check_image(hosts: Hosts, ref: str) -> None:
    """That `ref` names an image new VMs can be made from, where new VMs go."""
    with as_vmm_errors():
        check_disk_image(find_base(hosts.home.conn, ref))


def check_disk_image(image: Image) -> None:
    """Refuse what is no disk image: a device, a text file, anything too small to boot."""
    if image.volume is None and not os.path.isfile(image.path):
        raise InvalidInput(f"{image.path} is no regular file: a base image must be a disk image")
    if image.format in IMAGE_FORMATS:
        return
    if image.format != "raw" or image.capacity < MIN_RAW_BYTES or image.capacity % SECTOR:
        raise InvalidInput(
            f"{image.path} does not look like a disk image ({image.format},"
            f" {image.capacity} bytes): give a qcow2 image, or a raw one of whole sectors"
        )


def _emulates_nothing(caps: etree._Element) -> bool:
    return {d.get("type") for d in caps.iterfind("guest/arch/domain")} == {"test"}


def guest_type(conn: Conn, arch: str = "x86_64") -> tuple[str, str]:
    """(domain type, architecture) for a guest of `arch`: kvm when the host offers it for that
    architecture, else emulation. Never another architecture: a 64-bit image does not boot
    as i686 (the first guest in the capabilities, which vmm once took)."""
    caps = etree.fromstring(conn.getCapabilities().encode())
    offered = []
    for guest in caps.iterfind("guest"):
        found = guest.find("arch")
        if guest.findtext("os_type") != "hvm" or found is None:
            continue
        offered.append(found.get("name", ""))
        if found.get("name") != arch:
            continue
        types = [d.get("type") for d in found.iterfind("domain")]
        for preferred in ("kvm", "qemu", "test"):
            if preferred in types:
                return preferred, arch
    if _emulates_nothing(caps):
        return "test", arch  # libvirt's test driver lists only i686 but defines any, runs none
    can = ", ".join(sorted(set(offered))) or "none"
    raise InvalidInput(f"this host cannot run {arch} guests (it runs: {can}); see --arch")


def _default_network(conn: Conn) -> str | None:
    """The host's 'default' network, when it is there and up (else the VM could not start)."""
    try:
        return "default" if conn.networkLookupByName("default").isActive() else None
    except LibvirtError:
        return None


def check_network(conn: Conn, name: str) -> str:
    """Refuse a network the VM could not start on: one the host does not have, or one that is
    down and does not start with the host. Returns a note for a network that is down now but
    starts with the host ("" for an active one)."""
    try:
        network = conn.networkLookupByName(name)
    except LibvirtError:
        known = ", ".join(sorted(conn.listNetworks() + conn.listDefinedNetworks())) or "none"
        raise NotFound(f"no network {name!r} on this host (networks: {known})") from None
    if network.isActive():
        return ""
    if network.autostart():
        return f" (not active now; it starts with the host, or now with 'virsh net-start {name}')"
    raise InvalidState(
        f"network {name!r} is not active and does not start with the host, so the VM could not"
        f" start: start it first (virsh net-start {name}), or name another (--network)"
    )


def _pool(conn: Conn, name: str):
    """The storage pool `name`, or an error naming the pools there are."""
    try:
        return conn.storagePoolLookupByName(name)
    except LibvirtError:
        known = ", ".join(sorted(conn.listStoragePools() + conn.listDefinedStoragePools()))
        raise NotFound(
            f"no storage pool {name!r} on this host (pools: {known or 'none'})"
        ) from None


def base_images(hosts: Hosts) -> list[str]:
    """What `vmm new --base` would take on the host where new VMs go."""
    return volume_paths(hosts.home.conn)


def pool_names(hosts: Hosts) -> list[str]:
    """The active storage pools of the host where new VMs go."""
    with as_vmm_errors():
        pools = hosts.home.conn.listAllStoragePools(0)
        return sorted(pool.name() for pool in pools if pool.isActive())


def domain_xml(
    name: str,
    disk: str,
    shape: Shape,
    kind: tuple[str, str],
    network: str | None,
    meta: Metadata,
    seed: str | None = None,
) -> str:
    return new_domain(
        name,
        kind=kind,
        memory_mib=shape.memory_mib,
        vcpus=shape.vcpus,
        disk=disk,
        network=network,
        meta=meta,
        seed=seed,
    ).to_xml()


def volume_paths(conn: Conn) -> list[str]:
    """The volumes of the active pools that `new` would take as a base image: disk images
    no VM writes (offering the others would only lead to a refusal)."""
    with as_vmm_errors():
        pools = [pool for pool in conn.listAllStoragePools(0) if pool.isActive()]
        paths = sorted(volume.path() for pool in pools for volume in pool.listAllVolumes(0))
        written = storage.owners(conn, paths, writing=True)
        return [path for path in paths if path not in written and _is_disk_image(conn, path)]


def _is_disk_image(conn: Conn, path: str) -> bool:
    try:
        check_disk_image(find_base(conn, path))
    except VmmError:
        return False
    return True


def new_vm_journalled(
    hosts: Hosts,
    name: str,
    base_ref: str,
    shape: Shape = Shape(),
    folder: str | None = None,
    pool: str | None = None,
    identity: Identity | None = None,
    labels: tuple[str, ...] = (),
) -> str:
    """`new_vm` where new VMs go (one host, or a Fleet's first), its pool by default the
    host's configured one; the journal records it, whoever asked (CLI or picker)."""
    home = hosts.home
    message = new_vm(home.conn, name, base_ref, shape, folder, pool or home.pool, identity, labels)
    home.vm(name).record("new", message)
    return message


def new_vm(
    conn: Conn,
    name: str,
    base_ref: str,
    shape: Shape = Shape(),
    folder: str | None = None,
    pool: str | None = None,
    identity: Identity | None = None,
    labels: tuple[str, ...] = (),
) -> str:
    """Define `name` on a fresh overlay of the base, in `pool` or the base's own, with a
    cloud-init seed for `identity` when given; nothing is left behind if a step fails."""
    with as_vmm_errors():
        return _new_vm(conn, name, base_ref, shape, folder, pool, identity, labels)


def _new_vm(
    conn: Conn,
    name: str,
    base_ref: str,
    shape: Shape,
    folder: str | None,
    pool_name: str | None,
    identity: Identity | None,
    labels: tuple[str, ...],
) -> str:
    check_name_free(conn, name)
    if shape.memory_mib < 1 or shape.vcpus < 1:
        raise InvalidInput("memory and vcpus must be at least 1")
    path = metadata.normalise_path(folder) if folder else metadata.ROOT
    meta = Metadata(path, metadata.normalise_labels(labels))
    base = find_base(conn, base_ref)
    check_disk_image(base)
    capacity = _capacity(base, shape.disk_gib)
    pool = _pool(conn, pool_name) if pool_name else None
    if pool is None and base.pool is None:
        raise InvalidInput(
            f"{base.path} is in no storage pool, and vmm writes no image beside it: name the"
            " storage pool for the new VM's disk (vmm new --pool POOL, or `pool` in the host's"
            " [hosts.NAME] table of the config), or define a pool for its directory"
        )
    writer = storage.owners(conn, [base.path], writing=True).get(base.path)
    if writer is not None:
        raise InvalidInput(
            f"{base.path} is the disk of {writer!r}, which still writes it: a VM built on it would"
            f" see it change underneath; make a linked clone of {writer!r} instead (vmm clone)"
        )
    kind = guest_type(conn, shape.arch)
    network_note = check_network(conn, shape.network) if shape.network else ""
    network = shape.network or _default_network(conn)
    with all_or_nothing(f"new VM {name!r}", conn.getURI()) as rollback:
        note = f"the disk of the new VM {name!r}"
        where = reserve_image(conn, base, images.safe_stem(name), rollback, note, pool)
        faults.point("new.name-chosen")
        with rollback.making(where.path):
            disk = images.create_overlay(base, where, capacity)
        faults.point("new.image-made")
        seed = _seed(conn, where.pool, name, identity, rollback) if identity else None
        define_new(conn, domain_xml(name, disk, shape, kind, network, meta, seed), rollback)
    nic = f", on network {network!r}{network_note}" if network else ", with no network"
    login = f"; cloud-init lets {identity.user} in with {_keys(identity)}" if identity else ""
    return f"created on an overlay of {base.path}{nic}{login}"


def _keys(identity: Identity) -> str:
    count = len(identity.keys)
    return "1 SSH key" if count == 1 else f"{count} SSH keys"


def _capacity(base: Image, disk_gib: int | None) -> int | None:
    if disk_gib is None:
        return None
    capacity = disk_gib * 2**30
    if capacity < base.capacity:
        raise InvalidInput(
            f"a {disk_gib} GiB disk is smaller than the image ({base.capacity / 2**30:.1f} GiB):"
            " a disk can grow on its image, not shrink"
        )
    return capacity


def _seed(conn: Conn, pool, name: str, identity: Identity, rollback) -> str:
    """The new VM's cloud-init seed, written in the pool of its disk; its removal registered
    before a byte is written."""
    path = seeds.seed_path(pool, images.safe_stem(name))
    track_image(conn, path, rollback, f"the cloud-init seed of the new VM {name!r}")
    image = cloudinit.seed_image(cloudinit.hostname_for(name), cloudinit.user_data(identity))
    with rollback.making(path):
        written = seeds.write_seed(pool, path, image)
    faults.point("new.seed-made")
    return written


def new_from_profile(
    hosts: Hosts, name: str, tables: dict, profile_name: str, folder: str | None = None
) -> str:
    """`vmm new NAME -p PROFILE` with nothing else given (the picker's way): the profile's
    image, shape, place and labels, and a seed for the user's keys unless it says no."""
    from vmm.model.profiles import resolve
    from vmm.ops.identity import identity

    profile = resolve(tables, profile_name)
    if profile.image is None:
        raise InvalidInput(f"profile {profile_name!r} names no image")
    who = identity(profile.user, (), profile.user_data) if profile.cloud_init is not False else None
    shape = Shape(
        profile.memory or 1024, profile.vcpus or 1, profile.network, disk_gib=profile.disk
    )
    return new_vm_journalled(
        hosts, name, profile.image, shape, folder or profile.folder, profile.pool, who,
        profile.labels,
    )  # fmt: skip
