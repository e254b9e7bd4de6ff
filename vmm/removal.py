"""Deleting a VM, and with `storage` its disk volumes, without breaking any linked clone."""

from __future__ import annotations

import libvirt
from lxml import etree

from vmm import storage
from vmm.errors import InvalidState


def _undefine_flags(dom: libvirt.virDomain, xml: etree._Element) -> int:
    """Everything that belongs to the VM goes with it; flags only for what it has."""
    flags = (
        libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    )
    if xml.find("os/nvram") is not None:
        flags |= libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    if _has_checkpoints(dom):
        flags |= libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
    return flags


def _has_checkpoints(dom: libvirt.virDomain) -> bool:
    try:
        return bool(dom.listAllCheckpoints(0))
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
            return False
        raise


def volumes_to_delete(conn: libvirt.virConnect, xml: etree._Element) -> list[libvirt.virStorageVol]:
    """The VM's own writable disks that live in a storage pool."""
    volumes = []
    for disk in storage.disks_of(xml):
        volume = storage.volume_at(conn, disk.path) if disk.writable and disk.path else None
        if volume is not None:
            volumes.append(volume)
    return volumes


def refuse_shared_bases(
    dom: libvirt.virDomain, conn: libvirt.virConnect, volumes: list[libvirt.virStorageVol]
) -> None:
    if not volumes:
        return  # the disks stay: whatever builds on them keeps working
    paths = [volume.path() for volume in volumes]
    users = storage.dependants(conn, paths)
    if not users:
        return
    dependent_images = [image for images in users.values() for image in images]
    names = storage.owners(conn, dependent_images)
    who = sorted({names.get(image, image) for image in dependent_images})
    raise InvalidState(
        f"cannot delete {dom.name()!r} with its storage: its disk backs other images;"
        f" delete these first: {', '.join(who)}"
    )


def delete(dom: libvirt.virDomain, *, with_storage: bool = False, force: bool = False) -> str:
    """Undefine the VM (with its saved state and snapshot metadata), then its volumes.

    Every check runs before anything is removed: a running VM without `force`, or a disk that
    backs another image (a linked clone), stops the whole deletion.
    """
    conn = dom.connect()
    if dom.isActive() and not force:
        raise InvalidState(f"{dom.name()!r} is running; force it off first or use --force")
    persistent = bool(dom.isPersistent())  # a transient VM is gone once destroyed
    flags = libvirt.VIR_DOMAIN_XML_INACTIVE if persistent else 0
    xml = etree.fromstring(dom.XMLDesc(flags).encode())
    volumes = volumes_to_delete(conn, xml) if with_storage else []
    refuse_shared_bases(dom, conn, volumes)
    if dom.isActive():
        dom.destroy()
    if persistent:
        dom.undefineFlags(_undefine_flags(dom, xml))
    for volume in volumes:
        volume.delete(0)
    if volumes:
        return f"deleted with {len(volumes)} volume(s)"
    return "deleted"
