"""Disks, volumes and backing chains: what a VM's images are and what depends on them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import libvirt
from lxml import etree

MAX_CHAIN = 32


@dataclass(frozen=True)
class Disk:
    target: str
    device: str  # disk, cdrom, floppy, lun
    path: str | None
    format: str | None
    readonly: bool
    shareable: bool
    kind: str = "file"  # the disk's type: file, block, volume, network, ...
    has_source: bool = True

    @property
    def exclusive(self) -> bool:
        """Written by this VM alone: the kind a clone needs its own copy or overlay of."""
        return self.device == "disk" and not self.readonly and not self.shareable

    @property
    def writable(self) -> bool:
        """An exclusive disk on a file or device vmm can reach."""
        return self.exclusive and bool(self.path)

    @property
    def out_of_reach(self) -> bool:
        """An exclusive disk that is no file or device (a network disk, a volume by name):
        vmm can neither copy it nor lay an overlay on it."""
        return self.exclusive and self.has_source and not self.path


# For a definition that is not well-formed (libvirt keeps another application's undefined
# entities as they are): its devices are still read, so that no disk goes unseen by a check.
_RECOVERING = etree.XMLParser(
    recover=True, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


def parse_definition(text: str) -> etree._Element:
    """A domain's (or volume's, pool's) XML as libvirt gave it, parsed safely: no entity is
    expanded, nothing fetched; one VM's odd XML never stops a check over every VM."""
    from vmm.model.metadata import parse

    try:
        return parse(text)
    except etree.XMLSyntaxError:
        return etree.fromstring(text.encode(), _RECOVERING)


def definition(dom: libvirt.virDomain, flags: int = 0) -> etree._Element:
    return parse_definition(dom.XMLDesc(flags))


def disks_of(domain_xml: etree._Element) -> list[Disk]:
    found = []
    for disk in domain_xml.iterfind("devices/disk"):
        source = disk.find("source")
        path = None
        if source is not None:
            path = source.get("file") or source.get("dev") or source.get("volume")
        found.append(
            Disk(
                target=disk.find("target").get("dev", "")
                if disk.find("target") is not None
                else "",
                device=disk.get("device", "disk"),
                path=path if disk.get("type", "file") in ("file", "block") else None,
                format=disk.find("driver").get("type") if disk.find("driver") is not None else None,
                readonly=disk.find("readonly") is not None,
                shareable=disk.find("shareable") is not None,
                kind=disk.get("type", "file"),
                has_source=source is not None,
            )
        )
    return found


def volume_at(conn: libvirt.virConnect, path: str) -> libvirt.virStorageVol | None:
    try:
        return conn.storageVolLookupByPath(path)
    except libvirt.libvirtError as err:
        if err.get_error_code() in (
            libvirt.VIR_ERR_NO_STORAGE_VOL,
            libvirt.VIR_ERR_NO_STORAGE_POOL,
        ):
            return None
        raise


def backing_of(volume: libvirt.virStorageVol) -> str | None:
    xml = parse_definition(volume.XMLDesc(0))
    return xml.findtext("backingStore/path")


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
        pool.refresh(0)  # pick up images made outside libvirt (qemu-img)
        for volume in pool.listAllVolumes(0):
            backing = backing_of(volume)
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
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE if dom.isPersistent() else 0
        for disk in disks_of(definition(dom, flags)):
            if disk.path in wanted and (disk.writable or not writing):
                found[disk.path] = dom.name()
    return found


def images_of(conn: libvirt.virConnect, dom: libvirt.virDomain) -> set[str]:
    """Every image `dom` reads: its writable disks and everything beneath them."""
    flags = libvirt.VIR_DOMAIN_XML_INACTIVE if dom.isPersistent() else 0
    images: set[str] = set()
    for disk in disks_of(definition(dom, flags)):
        if disk.writable and disk.path:
            images.add(disk.path)
            images.update(backing_chain(conn, disk.path))
    return images


def sharing(conn: libvirt.virConnect, dom: libvirt.virDomain) -> list[tuple[str, str]]:
    """(VM, image) for every other VM that reads one of `dom`'s images."""
    mine = images_of(conn, dom)
    found = []
    for other in conn.listAllDomains(0):
        if other.UUIDString() == dom.UUIDString():
            continue
        shared = mine & images_of(conn, other)
        if shared:
            found.append((other.name(), sorted(shared)[0]))
    return sorted(found)
