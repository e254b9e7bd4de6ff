"""Turning what the user typed (names, UUIDs, folders, labels) into the VMs to act on."""

from __future__ import annotations

from collections.abc import Sequence

from vmm.model import tree
from vmm.model.errors import InvalidInput, NotFound
from vmm.model.metadata import normalise_labels, normalise_path
from vmm.virt.hosts import Hosts
from vmm.virt.vm import Vm


def select(host: Hosts, refs: Sequence[str], labels: Sequence[str] = ()) -> list[Vm]:
    """Resolve every reference before anything is done, so a typo changes nothing.

    A reference is a VM name or UUID; one that names no VM but starts with `/` is a folder and
    means every VM in or below it. `labels` adds the VMs carrying all of them.
    """
    if not refs and not labels:
        raise InvalidInput("name at least one VM, folder or --label")
    wanted = normalise_labels(labels)
    chosen: dict[str, Vm] = {}
    domains = None
    for ref in refs:
        try:
            vm = host.vm(ref)
            chosen.setdefault(vm.key, vm)
            continue
        except NotFound:
            if not ref.startswith("/"):
                raise
        domains = domains if domains is not None else host.domains()
        folder = normalise_path(ref)
        members = tree.in_folder(folder, domains, recursive=True)
        if not members:
            raise NotFound(f"no VM or folder named {ref!r}")
        for member in tree.with_labels(wanted, members):
            chosen.setdefault(member.key, host.vm_by_key(member.key))
    if wanted and not refs:
        domains = domains if domains is not None else host.domains()
        for member in tree.with_labels(wanted, domains):
            chosen.setdefault(member.key, host.vm_by_key(member.key))
        if not chosen:
            raise NotFound(f"no VM carries the label(s) {', '.join(wanted)}")
    return list(chosen.values())
