"""Turning what the user typed (names, UUIDs, folders, labels) into the VMs to act on."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vmm.model import tree
from vmm.model.domain import Domain
from vmm.model.errors import InvalidInput, NotFound
from vmm.model.metadata import normalise_labels, normalise_path
from vmm.virt.hosts import Hosts
from vmm.virt.vm import Vm


def select(host: Hosts, refs: Sequence[str], labels: Sequence[str] = ()) -> list[Vm]:
    """Resolve every reference before anything is done, so a typo changes nothing.

    A reference is a VM name or UUID; one holding a '/' (`/lab/web`, or `lab/web` relative to
    /, as `ls` takes it) is a folder, since a VM's name never holds one, and means every VM in
    or below it. `labels` narrows folders, and alone chooses the VMs carrying all of them.
    """
    if not refs and not labels:
        raise InvalidInput("name at least one VM, folder or --label")
    wanted = normalise_labels(labels)
    chosen: dict[str, Vm] = {}
    domains = None
    for ref in refs:
        if not is_folder_ref(ref):
            vm = host_vm(host, ref, host.domains)
            chosen.setdefault(vm.key, vm)
            continue
        domains = domains if domains is not None else host.domains()
        folder = normalise_path(ref)
        members = tree.in_folder(folder, domains, recursive=True)
        if not members:
            raise NotFound(f"no VM or folder named {ref!r}")
        labelled = tree.with_labels(wanted, members)
        if not labelled:
            raise NotFound(f"no VM in {folder} carries the label(s) {', '.join(wanted)}")
        for member in labelled:
            chosen.setdefault(member.key, host.vm_by_key(member.key))
    if wanted and not refs:
        domains = domains if domains is not None else host.domains()
        for member in tree.with_labels(wanted, domains):
            chosen.setdefault(member.key, host.vm_by_key(member.key))
        if not chosen:
            raise NotFound(f"no VM carries the label(s) {', '.join(wanted)}")
    return list(chosen.values())


def is_folder_ref(ref: str) -> bool:
    """A VM's name never holds a '/' (libvirt refuses one): a reference that does is a folder."""
    return "/" in ref


def host_vm(host: Hosts, ref: str, listing: Callable[[], list[Domain]]) -> Vm:
    """The VM `ref` names; when none does but a folder of that name does, the error says how
    to name the folder (`lab` is a VM's name, `lab/` or `/lab` the folder)."""
    try:
        return host.vm(ref)
    except NotFound as err:
        try:
            folder = normalise_path(ref)
        except InvalidInput:
            raise err from None
        if tree.folder_exists(folder, listing()) and folder != "/":
            raise NotFound(f"{err}; for the folder, write {folder}") from None
        raise
