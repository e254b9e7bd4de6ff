"""Organising VMs: moving them between folders and changing their labels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import libvirt

from vmm import tree
from vmm.errors import InvalidInput
from vmm.host import Host, MetadataChange
from vmm.metadata import Metadata, normalize_labels, normalize_path

Change = Callable[[Metadata], Metadata]


def move_vm(host: Host, dom: libvirt.virDomain, dest: str) -> MetadataChange:
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


def move_all(host: Host, moves: Sequence[tuple[libvirt.virDomain, Change]]) -> list[MetadataChange]:
    """Every move or none: when one fails (or Ctrl-C), the VMs already moved are moved back."""
    from vmm.transaction import all_or_nothing  # not on the picker's way to its first row

    changes = []
    with all_or_nothing() as rollback:
        for dom, change in moves:
            before, _ = host.read_metadata(dom)
            rollback.push(partial(host.update_metadata, dom, lambda _, b=before: b, "move undone"))
            changes.append(host.update_metadata(dom, change, "move"))
    return changes


def add_labels(host: Host, dom: libvirt.virDomain, labels: Sequence[str]) -> MetadataChange:
    wanted = normalize_labels(labels)
    return host.update_metadata(dom, lambda meta: meta.with_labels(wanted), "label add")


def remove_labels(host: Host, dom: libvirt.virDomain, labels: Sequence[str]) -> MetadataChange:
    unwanted = normalize_labels(labels)
    return host.update_metadata(dom, lambda meta: meta.without_labels(unwanted), "label rm")
