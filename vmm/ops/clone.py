"""Linked and full clones, and new VMs from a base image, that leave nothing behind on failure.

The one rule of linked clones: an image that a clone reads through must never be written again.
So a linked clone freezes the source's disks: the clone *and the source* each get a new qcow2
overlay on top of them, and from then on nobody opens the old images for writing. The source
keeps all its data (its overlay reads through to it) and what it writes later lands in its own
overlay, where the clone cannot see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import libvirt
from lxml import etree

from vmm.model import metadata
from vmm.model.errors import HostError, InvalidInput, InvalidState, VmmError
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
from vmm.virt import images, storage
from vmm.virt.connection import one_line
from vmm.virt.images import Image, Progress
from vmm.virt.locks import vm_lock


@dataclass(frozen=True)
class DiskPlan:
    target: str
    image: Image


def _inactive_xml(dom: libvirt.virDomain) -> etree._Element:
    flags = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
    return storage.definition(dom, flags)


def check_clonable(dom: libvirt.virDomain, *, linked: bool) -> None:
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


def plan_disks(conn: libvirt.virConnect, xml: etree._Element) -> list[DiskPlan]:
    """The source's writable disks, each with the image a clone builds on.

    A writable disk vmm cannot copy would be shared, and written by both VMs: refused."""
    disks = storage.disks_of(xml)
    for disk in disks:
        if disk.out_of_reach:
            raise InvalidInput(
                f"cannot clone {xml.findtext('name')!r}: its disk {disk.target} is a {disk.kind}"
                " disk, which vmm can neither copy nor overlay; detach it, or mark it"
                " <shareable/> or <readonly/> to share it with the clone"
            )
    return [
        DiskPlan(disk.target, images.image_at(conn, disk.path, disk.format))
        for disk in disks
        if disk.writable and disk.path
    ]


def clone_xml(
    source: etree._Element, name: str, disks: dict[str, str], meta: Metadata | None
) -> str:
    """The new domain's XML: new name and disks, no UUID or MACs (new ones are made: the UUID
    by `define_new`, the MACs by libvirt)."""
    xml = etree.fromstring(etree.tostring(source))
    xml.find("name").text = name
    for element in (xml.find("uuid"), *xml.iterfind("devices/interface/mac")):
        if element is not None:
            element.getparent().remove(element)
    for disk in xml.iterfind("devices/disk"):
        target = disk.find("target")
        if target is not None and target.get("dev") in disks:
            _point_disk_at(disk, disks[target.get("dev")])
    nvram = xml.find("os/nvram")
    if nvram is not None:
        nvram.text = None  # libvirt makes the clone's own from the template; see copy_nvram
    if meta is not None:
        _replace_metadata(xml, meta)
    return etree.tostring(xml, encoding="unicode")


def _point_disk_at(disk: etree._Element, path: str) -> None:
    disk.set("type", "file")
    for old in disk.findall("source") + disk.findall("backingStore"):
        disk.remove(old)
    driver = disk.find("driver")
    if driver is not None:
        driver.set("type", "qcow2")
    source = etree.Element("source", file=path)
    (driver if driver is not None else disk.find("target")).addprevious(source)


def _replace_metadata(xml: etree._Element, meta: Metadata) -> None:
    container = xml.find("metadata")
    if container is None:
        container = etree.SubElement(xml, "metadata")
    old = metadata.find_in_domain(xml)
    if old is not None:
        container.remove(old)
    if not meta.is_default:
        container.append(metadata.to_element(meta, namespaced=True))


def copy_nvram(source_xml: etree._Element, new: libvirt.virDomain, rollback: Rollback) -> str:
    """Give the clone its own copy of the source's UEFI variables; returns a note for the user.

    libvirt names the clone's variables file when it is defined. The copy is made by libvirtd
    through storage pools (a file vmm could not read itself, as a user or over a remote link,
    is copied all the same), with the mode libvirt gives variables, 0600. A clone never starts
    with fresh variables in their place: when they cannot be copied, nothing is cloned.
    """
    source_path = source_xml.findtext("os/nvram")
    new_path = _inactive_xml(new).findtext("os/nvram")
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
        images.copy_file(conn, source_path, new_path)
    except (libvirt.libvirtError, VmmError) as err:
        why = err.get_error_message() if isinstance(err, libvirt.libvirtError) else str(err)
        raise HostError(f"cannot copy the UEFI variables {source_path}: {one_line(why)}") from None
    return "; UEFI variables copied"


def clone(
    dom: libvirt.virDomain,
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
    image the source still writes; and a record of each step is kept until the end."""
    conn = dom.connect()
    check_name_free(conn, name)
    kind = "linked clone" if linked else "full clone"
    with vm_lock(dom.UUIDString(), dom.name()):  # two clones of one source freeze it in turn
        check_clonable(dom, linked=linked)
        source_xml = _inactive_xml(dom)
        meta = _clone_metadata(source_xml, folder, labels)
        plans = plan_disks(conn, source_xml)
        if linked:
            refuse_other_writers(conn, dom, plans)
        faults.point("clone.checked")
        stem = images.safe_stem(name)
        target_pool = conn.storagePoolLookupByName(pool) if pool and not linked else None
        operation = f"{kind} {name!r} of {dom.name()!r}"
        with all_or_nothing(operation, conn.getURI()) as rollback:
            if linked:
                freeze_source(dom, source_xml, plans, rollback)
                faults.point("clone.source-frozen")
                check_still_shut_off(dom, plans)
            made: dict[str, str] = {}
            for plan in plans:
                note = f"{'overlay' if linked else 'copy'} of {plan.target} for the clone {name!r}"
                stem_of = f"{stem}-{plan.target}"
                where = reserve_image(conn, plan.image, stem_of, rollback, note, target_pool)
                faults.point("clone.image-reserved")
                if linked:
                    made[plan.target] = images.create_overlay(plan.image, where)
                else:
                    made[plan.target] = images.copy_image(plan.image, where, progress)
            faults.point("clone.images-made")
            if not linked:
                check_still_shut_off(dom, plans)  # a copy of a disk in use is no copy
            new = define_new(conn, clone_xml(source_xml, name, made, meta), rollback)
            faults.point("clone.defined")
            note = copy_nvram(source_xml, new, rollback)
            faults.point("clone.done")
    return f"{kind} {new.name()!r} created ({len(plans)} disk(s){note})"


def refuse_other_writers(
    conn: libvirt.virConnect, dom: libvirt.virDomain, plans: list[DiskPlan]
) -> None:
    """A disk another VM also writes would go on being written under the clone: refused."""
    writers = storage.owners(conn, [plan.image.path for plan in plans], writing=True, besides=dom)
    if writers:
        path, other = next(iter(writers.items()))
        raise InvalidInput(
            f"cannot make a linked clone of {dom.name()!r}: its disk {path} is written by"
            f" {other!r} too, which would change the clone underneath; shut that sharing down"
            " (or make a --full clone)"
        )


def check_still_shut_off(dom: libvirt.virDomain, plans: list[DiskPlan]) -> None:
    """The source may have been started since it was checked (by another tool): refused, and
    everything undone, when it runs on the images the clone is built from."""
    if not dom.isActive():
        return
    live = {disk.path for disk in storage.disks_of(storage.definition(dom))}
    if live & {plan.image.path for plan in plans}:
        raise InvalidState(
            f"{dom.name()!r} was started while it was being cloned: nothing was cloned;"
            " try again once it is shut off"
        )


def freeze_source(
    dom: libvirt.virDomain, source_xml: etree._Element, plans: list[DiskPlan], rollback: Rollback
) -> None:
    """Move the source onto overlays of its own, so that its old images are never written."""
    conn = dom.connect()
    stem = images.safe_stem(dom.name())
    moved: dict[str, str] = {}
    for plan in plans:
        where = images.destination(plan.image, f"{stem}-{plan.target}")
        note = f"overlay of {plan.target} that {dom.name()!r} was moved onto (it may use it)"
        rollback.push(
            partial(_delete_unless_used, dom, where.path), Leftover("image", where.path, note)
        )
        moved[plan.target] = images.create_overlay(plan.image, where)
    original = etree.tostring(source_xml, encoding="unicode")
    xml = etree.fromstring(original)
    for disk in xml.iterfind("devices/disk"):
        target = disk.find("target")
        if target is not None and target.get("dev") in moved:
            _point_disk_at(disk, moved[target.get("dev")])
    note = f"{dom.name()!r} moved onto overlays of its images: safe to keep"
    # first: harmless if the define never was
    rollback.push(
        partial(_unfreeze, dom, original, set(moved.values())),
        Leftover("source", dom.UUIDString(), note),
    )
    conn.defineXMLFlags(etree.tostring(xml, encoding="unicode"), libvirt.VIR_DOMAIN_DEFINE_VALIDATE)


def _running_on(dom: libvirt.virDomain, paths: set[str]) -> bool:
    if not dom.isActive():
        return False
    live = storage.disks_of(storage.definition(dom))
    return any(disk.path in paths for disk in live)


def _unfreeze(dom: libvirt.virDomain, original: str, overlays: set[str]) -> None:
    """Put the source back on its old images, unless it was started on its overlays since:
    then it stays there (safe: nothing else builds on them)."""
    if not _running_on(dom, overlays):
        dom.connect().defineXML(original)


def _delete_unless_used(dom: libvirt.virDomain, path: str) -> None:
    if not _running_on(dom, {path}):
        images.delete_image(dom.connect(), path)


def _clone_metadata(
    source_xml: etree._Element, folder: str | None, labels: tuple[str, ...] | None
) -> Metadata | None:
    """The source's folder and labels unless the user chose others; None keeps the XML's."""
    if folder is None and labels is None:
        return None
    element = metadata.find_in_domain(source_xml)
    try:
        meta = metadata.from_element(element) if element is not None else Metadata()
    except metadata.MalformedMetadata:
        meta = Metadata()
    if folder is not None:
        meta = meta.moved_to(folder)
    if labels is not None:
        meta = Metadata(meta.path, metadata.normalize_labels(labels), meta.extra)
    return meta
