"""Organising VMs: moving them between folders and changing their labels."""

from __future__ import annotations

from collections.abc import Sequence

import libvirt

from vmm import tree
from vmm.errors import InvalidInput
from vmm.host import Host, MetadataChange
from vmm.metadata import Metadata, normalize_labels, normalize_path


def move_vm(host: Host, dom: libvirt.virDomain, dest: str) -> MetadataChange:
    folder = normalize_path(dest)
    return host.update_metadata(dom, lambda meta: meta.moved_to(folder), "move")


def check_folder_move(old: str, new: str) -> tuple[str, str]:
    """Validate a folder rename before any VM is touched; returns both paths normalised."""
    old, new = normalize_path(old), normalize_path(new)
    if tree.is_within(new, old):
        raise InvalidInput(f"cannot move folder {old} into itself ({new})")
    return old, new


def move_within_folder(host: Host, dom: libvirt.virDomain, old: str, new: str) -> MetadataChange:
    """Re-home one VM of folder `old` under `new`, judged on its freshly read path."""

    def rehome(meta: Metadata) -> Metadata:
        if not tree.is_within(meta.path, old):
            return meta  # moved elsewhere by someone else since we listed it
        return meta.moved_to(tree.rehome(meta.path, old, new))

    return host.update_metadata(dom, rehome, "move")


def add_labels(host: Host, dom: libvirt.virDomain, labels: Sequence[str]) -> MetadataChange:
    wanted = normalize_labels(labels)
    return host.update_metadata(dom, lambda meta: meta.with_labels(wanted), "label add")


def remove_labels(host: Host, dom: libvirt.virDomain, labels: Sequence[str]) -> MetadataChange:
    unwanted = normalize_labels(labels)
    return host.update_metadata(dom, lambda meta: meta.without_labels(unwanted), "label rm")
