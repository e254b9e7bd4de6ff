"""Linked and full clones of a VM, that leave nothing behind on failure (new VMs: vmm.ops.create).

The one rule of linked clones: an image that a clone reads through must never be written again.
So a linked clone freezes the source's disks: the clone *and the source* each get a new qcow2
overlay on top of them, and from then on nobody opens the old images for writing. The source
keeps all its data (its overlay reads through to it) and what it writes later lands in its own
overlay, where the clone cannot see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from vmm.model import metadata
from vmm.model.definition import Definition
from vmm.model.errors import HostError, InvalidInput, InvalidState, NameTaken, VmmError
from vmm.model.metadata import Metadata
from vmm.ops import faults
from vmm.ops.intents import Leftover
from vmm.ops.transaction import (
    Rollback,
    all_or_nothing,
    check_name_free,
    define_new,
    reserve_image,
    track_image,
)
from vmm.virt import domains, images, seeds, storage
from vmm.virt.domains import Conn, Dom
from vmm.virt.errors import LibvirtError, message
from vmm.virt.images import Destination, Image, Progress
from vmm.virt.locks import vm_lock


@dataclass(frozen=True)
class DiskPlan:
    target: str
    image: Image


def _inactive(dom: Dom) -> Definition:
    return Definition.from_xml(domains.persistent_xml(dom))


def check_clonable(dom: Dom, *, linked: bool) -> None:
    """Refuse what would copy an inconsistent disk or write into a shared base."""
    if dom.isActive():
        raise InvalidState(f"cannot clone {dom.name()!r} while it runs: shut it down first")
    if linked and dom.hasManagedSaveImage():
        raise InvalidState(
            f"cannot make a linked clone of {dom.name()!r}: its saved state refers to the disks"
            " that would become the shared base; start it and shut it down, or discard the state"
        )
    if linked and dom.snapshotNum(0):
        raise InvalidState(
            f"cannot make a linked clone of {dom.name()!r}: its snapshots live in the images that"
            " would become the shared base; delete them, or make a --full clone"
        )


def plan_disks(conn: Conn, source: Definition) -> list[DiskPlan]:
    """The source's writable disks, each with the image a clone builds on.

    A writable disk vmm cannot copy would be shared, and written by both VMs: refused."""
    for disk in source.disks:
        if disk.out_of_reach:
            raise InvalidInput(
                f"cannot clone {source.name!r}: its disk {disk.target} is a {disk.kind}"
                " disk, which vmm can neither copy nor overlay; detach it, or mark it"
                " <shareable/> or <readonly/> to share it with the clone"
            )
    return [
        DiskPlan(disk.target, images.image_at(conn, disk.path, disk.format))
        for disk in source.disks
        if disk.writable and disk.path
    ]


def clone_xml(
    source: Definition,
    name: str,
    disks: dict[str, str],
    meta: Metadata | None,
    seed: str | None = None,
) -> str:
    """The new domain's XML: new name and disks, no UUID or MACs (new ones are made: the UUID
    by `define_new`, the MACs by libvirt), its own seed when given; libvirt makes the clone's
    own UEFI variables file from the template (see copy_nvram)."""
    new = source.renamed(name).without_identity().with_disks_at(disks).with_nvram(None)
    new = new.with_metadata(meta) if meta is not None else new
    return (new.with_seed_at(source.seed, seed) if seed and source.seed else new).to_xml()


def copy_nvram(source: Definition, new: Dom, rollback: Rollback) -> str:
    """Give the clone its own copy of the source's UEFI variables; returns a note for the user.

    libvirt names the clone's variables file when it is defined. The copy is made by libvirtd
    through storage pools (a file vmm could not read itself, as a user or over a remote link,
    is copied all the same), with the mode libvirt gives variables, 0600. A clone never starts
    with fresh variables in their place: when they cannot be copied, nothing is cloned.
    """
    source_path = source.nvram
    new_path = _inactive(new).nvram
    if not source_path or not new_path:
        return ""
    conn = new.connect()
    if images.file_exists(conn, new_path):
        raise HostError(
            f"cannot copy the UEFI variables: {new_path} already exists (left by an older VM"
            f" named {new.name()!r}?); remove it, or give the clone another name"
        )
    track_image(conn, new_path, rollback, f"UEFI variables of the clone {new.name()!r}")
    try:
        with rollback.making(new_path):
            images.copy_file(conn, source_path, new_path)
    except NameTaken:
        raise
    except (LibvirtError, VmmError) as err:
        why = message(err) if isinstance(err, LibvirtError) else str(err)
        raise HostError(f"cannot copy the UEFI variables {source_path}: {why}") from None
    return "; UEFI variables copied"


def clone(
    dom: Dom,
    name: str,
    *,
    linked: bool = True,
    folder: str | None = None,
    labels: tuple[str, ...] | None = None,
    progress: Progress | None = None,
    pool: str | None = None,
) -> str:
    """Clone `dom` as `name`; a full clone's disks go to `pool` when given.

    On any failure (Ctrl-C included) all it made is removed and the source is returned to
    exactly its old definition. The steps are ordered for a crash, too: a linked clone first
    moves the source onto overlays of its own, so that at no point does anything build on an
    image the source still writes; and a record of each step is kept until the end. The clone
    is defined before any of its images is made (as virt-clone does, "to catch any xml errors
    before duping storage"): a definition libvirt refuses costs no copying."""
    conn = dom.connect()
    check_name_free(conn, name)
    kind = "linked clone" if linked else "full clone"
    with vm_lock(dom.UUIDString(), dom.name()):  # two clones of one source freeze it in turn
        check_clonable(dom, linked=linked)
        source = _inactive(dom)
        meta = _clone_metadata(source, folder, labels)
        plans = plan_disks(conn, source)
        if linked:
            refuse_other_writers(conn, dom, plans)
        faults.point("clone.checked")
        target_pool = conn.storagePoolLookupByName(pool) if pool and not linked else None
        operation = f"{kind} {name!r} of {dom.name()!r}"
        with all_or_nothing(operation, conn.getURI()) as rollback:
            if linked:
                freeze_source(dom, source, plans, rollback)
                faults.point("clone.source-frozen")
                check_still_shut_off(dom, plans)
            places = _reserve(conn, plans, name, linked, rollback, target_pool)
            planned = {target: where.path for target, where in places.items()}
            seed = _reserve_seed(conn, source, name, rollback)
            xml = clone_xml(source, name, planned, meta, seed)
            new = define_new(conn, xml, rollback)
            faults.point("clone.defined")
            made = _make_images(plans, places, linked, progress, rollback)
            faults.point("clone.images-made")
            if seed is not None:
                _write_seed(conn, source, name, seed, rollback)
            if made != planned:  # libvirt put an image elsewhere than its pool's directory
                domains.define(conn, _inactive(new).with_disks_at(made).to_xml())
            if not linked:
                check_still_shut_off(dom, plans)  # a copy of a disk in use is no copy
            note = copy_nvram(source, new, rollback)
            faults.point("clone.done")
    identity = (
        "; its own cloud-init seed gives it its own hostname and SSH host keys"
        if seed is not None
        else "; the guest's identity (hostname, SSH host keys) is its source's"
    )
    return f"{kind} {new.name()!r} created ({len(plans)} disk(s){note}){identity}"


def _reserve_seed(conn: Conn, source: Definition, name: str, rollback: Rollback) -> str | None:
    """A place for the clone's own seed, beside its source's, when vmm made the source's."""
    if source.seed is None or source.seed not in {disk.path for disk in source.disks}:
        return None
    path = seeds.seed_path(seeds.pool_of(conn, source.seed), images.safe_stem(name))
    return track_image(conn, path, rollback, f"the cloud-init seed of the clone {name!r}")


def _write_seed(conn: Conn, source: Definition, name: str, path: str, rollback: Rollback) -> None:
    """The source's user-data (its user and keys) under a new instance-id and the clone's
    hostname: cloud-init then sets the hostname and makes new SSH host keys."""
    from vmm.model import cloudinit

    image = cloudinit.reseeded(seeds.read_seed(conn, source.seed), cloudinit.hostname_for(name))
    with rollback.making(path):
        seeds.write_seed(seeds.pool_of(conn, source.seed), path, image)
    faults.point("clone.seed-made")


def _reserve(
    conn: Conn,
    plans: list[DiskPlan],
    name: str,
    linked: bool,
    rollback: Rollback,
    pool: domains.Pool | None,
) -> dict[str, Destination]:
    """A free place for each of the clone's images, its removal registered before it is made."""
    stem = images.safe_stem(name)
    places = {}
    for plan in plans:
        note = f"{'overlay' if linked else 'copy'} of {plan.target} for the clone {name!r}"
        stem_of = f"{stem}-{plan.target}"
        places[plan.target] = reserve_image(conn, plan.image, stem_of, rollback, note, pool)
        faults.point("clone.image-reserved")
    return places


def _make_images(
    plans: list[DiskPlan],
    places: dict[str, Destination],
    linked: bool,
    progress: Progress | None,
    rollback: Rollback,
) -> dict[str, str]:
    made = {}
    for plan in plans:
        where = places[plan.target]
        with rollback.making(where.path):
            if linked:
                made[plan.target] = images.create_overlay(plan.image, where)
            else:
                made[plan.target] = images.copy_image(plan.image, where, progress)
    return made


def refuse_other_writers(conn: Conn, dom: Dom, plans: list[DiskPlan]) -> None:
    """A disk another VM also writes would go on being written under the clone: refused."""
    writers = storage.owners(conn, [plan.image.path for plan in plans], writing=True, besides=dom)
    if writers:
        path, other = next(iter(writers.items()))
        raise InvalidInput(
            f"cannot make a linked clone of {dom.name()!r}: its disk {path} is written by"
            f" {other!r} too, which would change the clone underneath; shut that sharing down"
            " (or make a --full clone)"
        )


def check_still_shut_off(dom: Dom, plans: list[DiskPlan]) -> None:
    """The source may have been started since it was checked (by another tool): refused, and
    everything undone, when it runs on the images the clone is built from."""
    if _running_on(dom, {plan.image.path for plan in plans}):
        raise InvalidState(
            f"{dom.name()!r} was started while it was being cloned: nothing was cloned;"
            " try again once it is shut off"
        )


def freeze_source(dom: Dom, source: Definition, plans: list[DiskPlan], rollback: Rollback) -> None:
    """Move the source onto overlays of its own, so that its old images are never written."""
    stem = images.safe_stem(dom.name())
    moved: dict[str, str] = {}
    for plan in plans:
        where = images.destination(plan.image, f"{stem}-{plan.target}")
        note = f"overlay of {plan.target} that {dom.name()!r} was moved onto (it may use it)"
        rollback.push(
            partial(_delete_unless_used, dom, where.path, rollback.made),
            Leftover("image", where.path, note),
        )
        with rollback.making(where.path):
            moved[plan.target] = images.create_overlay(plan.image, where)
    note = f"{dom.name()!r} moved onto overlays of its images: safe to keep"
    # first: harmless if the define never was
    rollback.push(
        partial(_unfreeze, dom, source.to_xml(), set(moved.values())),
        Leftover("source", dom.UUIDString(), note),
    )
    domains.define(dom.connect(), source.with_disks_at(moved).to_xml())


def _running_on(dom: Dom, paths: set[str]) -> bool:
    if not dom.isActive():
        return False
    return any(disk.path in paths for disk in storage.view(dom).disks)


def _unfreeze(dom: Dom, original: str, overlays: set[str]) -> None:
    """Put the source back on its old images, unless it was started on its overlays since:
    then it stays there (safe: nothing else builds on them)."""
    if not _running_on(dom, overlays):
        dom.connect().defineXML(original)


def _delete_unless_used(dom: Dom, path: str, made: set[str]) -> None:
    if path in made and not _running_on(dom, {path}):
        images.delete_image(dom.connect(), path)


def _clone_metadata(
    source: Definition, folder: str | None, labels: tuple[str, ...] | None
) -> Metadata | None:
    """The source's folder and labels unless the user chose others; None keeps the XML's."""
    if folder is None and labels is None:
        return None
    meta = source.meta
    if folder is not None:
        meta = meta.moved_to(folder)
    if labels is not None:
        meta = Metadata(meta.path, metadata.normalise_labels(labels), meta.extra)
    return meta
