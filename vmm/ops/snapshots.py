"""Snapshots of one VM: list them as a tree, create, revert, delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from vmm.model import metadata
from vmm.model.errors import InvalidInput, InvalidState, NotFound
from vmm.model.metadata import fits_in_xml, normalise_label
from vmm.model.sides import Stored, summary
from vmm.virt.domains import Dom, delete_snapshot, snapshot_by_name, snapshot_parent
from vmm.virt.domains import Snapshot as SnapshotHandle
from vmm.virt.errors import as_vmm_errors
from vmm.virt.locks import vm_lock
from vmm.virt.vm import Vm
from vmm.virt.vm_metadata import read_stored, set_element, store_metadata


@dataclass(frozen=True)
class Snapshot:
    name: str
    parent: str | None
    created: int  # seconds since the epoch
    state: str  # the VM's state when it was taken
    current: bool
    description: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "parent": self.parent,
            "created": self.created,
            "state": self.state,
            "current": self.current,
            "description": self.description,
        }


def _read(snap: SnapshotHandle) -> Snapshot:
    try:
        xml = metadata.parse(snap.getXMLDesc(0))
    except etree.XMLSyntaxError:  # the VM's definition inside holds an undefined entity
        return Snapshot(snap.getName(), _parent(snap), 0, "", bool(snap.isCurrent(0)))
    created = xml.findtext("creationTime") or "0"
    return Snapshot(
        name=snap.getName(),
        parent=xml.findtext("parent/name"),
        created=int(created) if created.isdigit() else 0,
        state=xml.findtext("state") or "",
        current=bool(snap.isCurrent(0)),
        description=xml.findtext("description") or "",
    )


def _parent(snap: SnapshotHandle) -> str | None:
    parent = snapshot_parent(snap)
    return parent.getName() if parent is not None else None  # None: a root


def list_snapshots(dom: Dom) -> list[Snapshot]:
    return [_read(snap) for snap in dom.listAllSnapshots(0)]


def tree_of(vm: Vm) -> list[tuple[int, Snapshot]]:
    """A VM's snapshots in tree order, with their depths."""
    with as_vmm_errors():
        return as_tree(list_snapshots(vm.dom))


def as_tree(snapshots: list[Snapshot]) -> list[tuple[int, Snapshot]]:
    """Depth-first order with depths: roots first, children by creation time."""
    children: dict[str | None, list[Snapshot]] = {}
    names = {s.name for s in snapshots}
    for snap in snapshots:
        parent = snap.parent if snap.parent in names else None
        children.setdefault(parent, []).append(snap)
    ordered: list[tuple[int, Snapshot]] = []

    def walk(parent: str | None, depth: int) -> None:
        for snap in sorted(children.get(parent, []), key=lambda s: (s.created, s.name)):
            ordered.append((depth, snap))
            walk(snap.name, depth + 1)

    walk(None, 0)
    return ordered


def default_name(now: datetime | None = None) -> str:
    return f"snap-{(now or datetime.now()):%Y%m%d-%H%M%S}"


def create(dom: Dom, name: str | None = None, description: str = "") -> str:
    name = default_name() if name is None else _check_name(name)
    if not fits_in_xml(description):
        raise InvalidInput("the snapshot description contains control characters")
    root = etree.Element("domainsnapshot")
    etree.SubElement(root, "name").text = name
    if description:
        etree.SubElement(root, "description").text = description
    dom.snapshotCreateXML(etree.tostring(root, encoding="unicode"), 0)
    return f"snapshot {name!r} created"


def _check_name(name: str) -> str:
    try:
        checked = normalise_label(name)
    except InvalidInput:
        raise InvalidInput(f"bad snapshot name {name!r}") from None
    if "/" in checked:
        raise InvalidInput(f"bad snapshot name {name!r}: no '/' allowed")
    return checked


def _lookup(dom: Dom, name: str) -> SnapshotHandle:
    snap = snapshot_by_name(dom, name)
    if snap is None:
        raise NotFound(f"{dom.name()!r} has no snapshot {name!r}")
    return snap


def revert(dom: Dom, name: str | None = None) -> str:
    """Revert to `name`, or to the current snapshot, keeping the VM's folder and labels: a
    snapshot holds the whole definition, and its metadata is no state worth going back to."""
    if name is None:
        if not dom.hasCurrentSnapshot(0):
            raise InvalidState(f"{dom.name()!r} has no current snapshot; name one")
        snap = dom.snapshotCurrent(0)
    else:
        snap = _lookup(dom, name)
    with vm_lock(dom.UUIDString(), dom.name()):
        kept = read_stored(dom).chosen
        dom.revertToSnapshot(snap, 0)
        note = _keep_metadata(dom, kept)
    return f"reverted to snapshot {snap.getName()!r}{note}"


def _keep_metadata(dom: Dom, kept: Stored) -> str:
    """Put back on a reverted VM the vmm element it held before; says so when it differed."""
    reverted = read_stored(dom)
    if reverted.other is None and reverted.chosen.meaning == kept.meaning:
        return ""
    notes = []
    if kept.problem is not None:
        set_element(dom, kept.raw)  # unreadable, but the VM's own, not the snapshot's
    else:
        notes = store_metadata(dom, kept.meta)
    said = f"; kept its folder and labels ({summary(kept)}),"
    said += f" not the snapshot's ({summary(reverted.chosen)})"
    return said + "".join(f"; {note}" for note in notes)


def delete(dom: Dom, name: str, *, children: bool = False) -> str:
    snap = _lookup(dom, name)
    delete_snapshot(snap, children=children)
    return f"snapshot {name!r} deleted" + (" with its children" if children else "")
