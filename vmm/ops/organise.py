"""Organising VMs: moving them between folders and changing their labels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from vmm.model import tree
from vmm.model.domain import Domain
from vmm.model.errors import InvalidInput, InvalidState, NotFound, VmmError
from vmm.model.metadata import Metadata, normalise_labels, normalise_path
from vmm.model.sides import MetadataChange, Reading, describe, summary
from vmm.ops import faults
from vmm.ops.selection import host_vm, is_folder_ref
from vmm.virt.domains import Dom
from vmm.virt.errors import as_vmm_errors
from vmm.virt.host import Host
from vmm.virt.hosts import Hosts
from vmm.virt.locks import vm_lock
from vmm.virt.vm import Vm
from vmm.virt.vm_metadata import update_saved_state

Change = Callable[[Metadata], Metadata]


def update_metadata(vm: Vm, change: Change, action: str) -> MetadataChange:
    """Re-read, apply `change`, and write only if something changed; journalled.

    The VM's lock is held from the read to the write, so vmm processes on this machine
    never lose each other's changes. Unreadable stored metadata is replaced, since the
    user has now asked to change this VM; what a write overwrites that vmm cannot show
    (an unreadable element, a side that differs) goes into the history first.
    """
    host, dom = vm.host, vm.dom
    name, uuid = vm.name, vm.uuid
    with vm_lock(uuid, name):
        reading = host.reading(dom)
        before = reading.meta
        after = change(before)
        notes: list[str] = []
        if after != before or reading.chosen.problem is not None:
            notes += _journal_overwritten(host, dom, reading, after)
            host.write_metadata(dom, after)
            host.record(dom, action, before=before, after=after)
            with as_vmm_errors():
                notes += update_saved_state(dom, after)
    return MetadataChange(name, uuid, before, after, tuple(notes))


def _journal_overwritten(host: Host, dom: Dom, reading: Reading, after: Metadata) -> list[str]:
    """Journal what writing `after` loses: an unreadable element, the side not shown."""
    chosen, other = reading.chosen, reading.other
    if chosen.problem is not None:
        detail = f"unreadable vmm metadata replaced ({chosen.problem}): {chosen.raw}"
        host.record(dom, "metadata replaced", detail)
    if other is None:
        return []
    detail = f"the {reading.other_side} held: {other.raw or 'no vmm metadata'}"
    host.record(dom, "metadata overwritten", detail, before=other.meta, after=after)
    return [
        f"{dom.name()!r}: its {reading.other_side} held other folder and labels"
        f" ({summary(other)}), now overwritten; 'vmm history' keeps them"
    ]


def move_vm(vm: Vm, dest: str) -> MetadataChange:
    return update_metadata(vm, into(dest), "move")


def into(dest: str) -> Change:
    folder = normalise_path(dest)
    return lambda meta: meta.moved_to(folder)


def check_folder_move(old: str, new: str) -> tuple[str, str]:
    """Validate a folder rename before any VM is touched; returns both paths normalised."""
    old, new = normalise_path(old), normalise_path(new)
    if tree.is_within(new, old):
        raise InvalidInput(f"cannot move folder {old} into itself ({new})")
    return old, new


def rehomed(old: str, new: str) -> Change:
    """Re-home a VM of folder `old` under `new`, judged on its freshly read path."""

    def rehome(meta: Metadata) -> Metadata:
        if not tree.is_within(meta.path, old):
            return meta  # moved elsewhere by someone else since we listed it
        return meta.moved_to(tree.rehome(meta.path, old, new))

    return rehome


def plan_moves(
    host: Hosts, sources: Sequence[str], dest: str, listing: Callable[[], list[Domain]]
) -> list[tuple[Vm, Change]]:
    """What `vmm mv SOURCES DEST` does to each VM, checked before anything moves: a SOURCE
    naming a VM moves it into DEST; one naming no VM but a folder renames that folder (every
    VM under it keeps its sub-folder); a SOURCE holding a '/' is a folder (`lab/web` is /lab/web,
    as `ls` takes it). `listing` lists the host, once, if a folder is named."""
    target = normalise_path(dest)
    vms: list[Vm] = []
    folders: list[tuple[str, str]] = []
    domains: list[Domain] | None = None
    for source in sources:
        if not is_folder_ref(source):
            vms.append(host_vm(host, source, listing))
            continue
        domains = domains if domains is not None else listing()
        old, new = check_folder_move(source, target)
        if not tree.folder_exists(old, domains):
            raise NotFound(f"no VM or folder named {source!r}")
        folders.append((old, new))
    moves = [(vm, into(target)) for vm in vms]
    for old, new in folders:
        members = tree.in_folder(old, domains or [], recursive=True)
        moves += [(host.vm_by_key(d.key), rehomed(old, new)) for d in members]
    return moves


def move_all(moves: Sequence[tuple[Vm, Change]]) -> list[MetadataChange]:
    """Every move or none: when one fails (or Ctrl-C), the VMs already moved are moved back,
    each only while it still holds what its move wrote: one another client changed since is
    left as it is, and named in the error."""
    from vmm.ops.transaction import all_or_nothing  # not on the picker's way to its first row

    changes = []
    with all_or_nothing() as rollback:
        for vm, change in moves:
            before, _ = vm.read_metadata()
            done: list[MetadataChange] = []
            rollback.push(partial(_move_back, vm, before, change, done))
            done.append(update_metadata(vm, change, "move"))
            changes += done
            faults.point("organise.moved")
    return changes


def _move_back(
    vm: Vm,
    before: Metadata,
    change: Change,
    done: list[MetadataChange],
) -> None:
    """Undo one move of `move_all`, judged under the VM's lock on what it holds now. `done`
    holds the move's outcome; empty, the move was cut short and may or may not have written."""
    if done:
        before, wrote = done[0].before, done[0].after
    else:
        try:
            wrote = change(before)
        except VmmError:
            return  # the move refused before it wrote anything
    if wrote == before:
        return

    def back(now: Metadata) -> Metadata:
        if now == wrote:
            return before
        if now == before:
            return now  # the move never wrote
        raise InvalidState(
            f"left {vm.name!r} as it is: changed by someone else since the move"
            f" (now {describe(now)}, not {describe(wrote)})"
        )

    update_metadata(vm, back, "move undone")


def relabel_each(
    vms: Sequence[Vm], labels: Sequence[str], *, remove: bool = False
) -> tuple[list[MetadataChange], list[str]]:
    """Add (or remove) `labels` on every VM, whatever happens to the others: the changes, and
    a line per VM that failed, naming it. Removing a label no chosen VM carries is refused
    before anything changes (a typo); the VMs that lack one that others carry are unchanged."""
    wanted = normalise_labels(labels)
    if remove:
        carried = {label for vm in vms for label in vm.read_metadata()[0].labels}
        missing = [label for label in wanted if label not in carried]
        if missing:
            who = f"VM {vms[0].name!r}" if len(vms) == 1 else "none of the VMs chosen"
            raise InvalidInput(f"{who} has no label {missing[0]!r}")
    changes, failures = [], []
    for vm in vms:
        try:
            changes.append((remove_labels if remove else add_labels)(vm, wanted))
        except VmmError as err:
            failures.append(f"{vm.dom.name()}: {err}")
    return changes, failures


def add_labels(vm: Vm, labels: Sequence[str]) -> MetadataChange:
    wanted = normalise_labels(labels)
    return update_metadata(vm, lambda meta: meta.with_labels(wanted), "label add")


def remove_labels(vm: Vm, labels: Sequence[str]) -> MetadataChange:
    unwanted = normalise_labels(labels)
    return update_metadata(vm, lambda meta: meta.without_labels(unwanted), "label rm")
