"""Organising VMs: moving them between folders and changing their labels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from vmm.model import tree
from vmm.model.errors import InvalidInput, InvalidState, VmmError
from vmm.model.metadata import Metadata, normalize_labels, normalize_path
from vmm.ops import faults
from vmm.virt.domains import Dom
from vmm.virt.host import Host, MetadataChange, describe

Change = Callable[[Metadata], Metadata]


def move_vm(host: Host, dom: Dom, dest: str) -> MetadataChange:
    return host.update_metadata(dom, into(dest), "move")


def into(dest: str) -> Change:
    folder = normalize_path(dest)
    return lambda meta: meta.moved_to(folder)


def check_folder_move(old: str, new: str) -> tuple[str, str]:
    """Validate a folder rename before any VM is touched; returns both paths normalised."""
    old, new = normalize_path(old), normalize_path(new)
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


def move_all(host: Host, moves: Sequence[tuple[Dom, Change]]) -> list[MetadataChange]:
    """Every move or none: when one fails (or Ctrl-C), the VMs already moved are moved back,
    each only while it still holds what its move wrote: one another client changed since is
    left as it is, and named in the error."""
    from vmm.ops.transaction import all_or_nothing  # not on the picker's way to its first row

    changes = []
    with all_or_nothing() as rollback:
        for dom, change in moves:
            before, _ = host.read_metadata(dom)
            done: list[MetadataChange] = []
            rollback.push(partial(_move_back, host, dom, before, change, done))
            done.append(host.update_metadata(dom, change, "move"))
            changes += done
            faults.point("organize.moved")
    return changes


def _move_back(
    host: Host,
    dom: Dom,
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
            f"left {dom.name()!r} as it is: changed by someone else since the move"
            f" (now {describe(now)}, not {describe(wrote)})"
        )

    host.update_metadata(dom, back, "move undone")


def add_labels(host: Host, dom: Dom, labels: Sequence[str]) -> MetadataChange:
    wanted = normalize_labels(labels)
    return host.update_metadata(dom, lambda meta: meta.with_labels(wanted), "label add")


def remove_labels(host: Host, dom: Dom, labels: Sequence[str]) -> MetadataChange:
    unwanted = normalize_labels(labels)
    return host.update_metadata(dom, lambda meta: meta.without_labels(unwanted), "label rm")
