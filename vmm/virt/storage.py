"""Disks, volumes and backing chains: what a VM's images are and what depends on them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator

import libvirt
from lxml import etree

from vmm.model.definition import Definition, disks_of, parse_definition
from vmm.model.errors import NameTaken
from vmm.virt.errors import is_missing
from vmm.virt.vm import Vm

MAX_CHAIN = 32


def definition(dom: libvirt.virDomain, flags: int = 0) -> etree._Element:
    return parse_definition(dom.XMLDesc(flags))


def view(dom: libvirt.virDomain, flags: int = 0) -> Definition:
    """The typed view of `dom`'s definition (the live one unless `flags` say otherwise)."""
    return Definition.of(definition(dom, flags))


@contextlib.contextmanager
def claiming(path: str) -> Iterator[None]:
    """Creating the volume (or file) at `path`, a name chosen as free a moment ago: if the
    host says it exists, another client took the name since, and NameTaken tells the undo
    to leave it alone."""
    try:
        yield
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_STORAGE_VOL_EXIST:
            raise NameTaken(path) from None
        raise
    except FileExistsError:
        raise NameTaken(path) from None


def claim_file(path: str) -> None:
    """Take the name of a local file no pool holds, atomically (qemu-img then writes it)."""
    with claiming(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))


def volume_at(conn: libvirt.virConnect, path: str) -> libvirt.virStorageVol | None:
    try:
        return conn.storageVolLookupByPath(path)
    except libvirt.libvirtError as err:
        if is_missing(err):
            return None
        raise


def volume_in_pool(conn: libvirt.virConnect, pool: str, name: str) -> libvirt.virStorageVol | None:
    """The volume `name` of the pool `pool`; None when either is not there."""
    try:
        return conn.storagePoolLookupByName(pool).storageVolLookupByName(name)
    except libvirt.libvirtError as err:
        if is_missing(err):
            return None
        raise


def backing_of(volume: libvirt.virStorageVol) -> str | None:
    xml = parse_definition(volume.XMLDesc(0))
    return xml.findtext("backingStore/path")


def volumes_named(conn: libvirt.virConnect, name: str) -> list[libvirt.virStorageVol]:
    """The volumes called `name` in the host's active pools."""
    found = []
    for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        try:
            pool.refresh(0)
            found.append(pool.storageVolLookupByName(name))
        except libvirt.libvirtError as err:
            if not is_missing(err):
                raise
    return found


def backing_chain(conn: libvirt.virConnect, path: str) -> list[str]:
    """The images under `path`, nearest first, as far as libvirt's pools know them."""
    chain: list[str] = []
    current = path
    while len(chain) < MAX_CHAIN:
        volume = volume_at(conn, current)
        backing = backing_of(volume) if volume is not None else None
        if not backing or backing in chain:
            break
        chain.append(backing)
        current = backing
    return chain


def dependants(conn: libvirt.virConnect, paths: Iterable[str]) -> dict[str, list[str]]:
    """For each of `paths`, the volumes in any active pool whose backing image it is."""
    wanted = set(paths)
    found: dict[str, list[str]] = {}
    for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        try:
            pool.refresh(0)  # pick up images made outside libvirt (qemu-img)
            volumes = [(volume, backing_of(volume)) for volume in pool.listAllVolumes(0)]
        except libvirt.libvirtError as err:
            if is_missing(err):
                continue  # a pool (or volume) someone removed since the listing: none of ours
            raise
        for volume, backing in volumes:
            if backing in wanted:
                found.setdefault(backing, []).append(volume.path())
    return found


def owners(
    conn: libvirt.virConnect,
    paths: Iterable[str],
    *,
    writing: bool = False,
    besides: libvirt.virDomain | None = None,
) -> dict[str, str]:
    """Which VM uses each of `paths` as a disk (as one it writes, with `writing`), from the
    persistent definitions; `besides` is left out."""
    wanted = set(paths)
    found = {}
    skip = besides.UUIDString() if besides is not None else None
    for dom in conn.listAllDomains(0):
        if dom.UUIDString() == skip:
            continue
        try:
            xml = stored_definition(dom)
        except libvirt.libvirtError as err:
            if is_missing(err):
                continue  # undefined since the listing
            raise
        for disk in disks_of(xml):
            if disk.path in wanted and (disk.writable or not writing):
                found[disk.path] = dom.name()
    return found


def stored_definition(dom: libvirt.virDomain) -> etree._Element:
    """The definition that stays: the persistent one, or a transient VM's live one."""
    return definition(dom, libvirt.VIR_DOMAIN_XML_INACTIVE if dom.isPersistent() else 0)


def images_of(conn: libvirt.virConnect, dom: libvirt.virDomain) -> set[str]:
    """Every image `dom` reads: its writable disks and everything beneath them."""
    images: set[str] = set()
    for disk in disks_of(stored_definition(dom)):
        if disk.writable and disk.path:
            images.add(disk.path)
            images.update(backing_chain(conn, disk.path))
    return images


def sharing(vm: Vm) -> list[tuple[str, str]]:
    """(VM, image) for every other VM that reads one of `vm`'s images."""
    conn, dom = vm.dom.connect(), vm.dom
    mine = images_of(conn, dom)
    found = []
    for other in conn.listAllDomains(0):
        if other.UUIDString() == dom.UUIDString():
            continue
        shared = mine & images_of(conn, other)
        if shared:
            found.append((other.name(), sorted(shared)[0]))
    return sorted(found)
