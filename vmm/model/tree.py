"""Folders and labels computed from where VMs sit. Pure: no libvirt, no I/O.

Folders are not stored anywhere: a folder exists because some VM sits in it or under it.
Every function takes any objects with `path`, `name` and `labels` attributes (the domain view).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

ROOT = "/"


class Placed(Protocol):
    @property
    def path(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def labels(self) -> tuple[str, ...]: ...


P = TypeVar("P", bound=Placed)


@dataclass(frozen=True)
class Folder:
    path: str
    vms: int  # VMs in this folder and every folder below it

    @property
    def name(self) -> str:
        return basename(self.path)


def join(folder: str, name: str) -> str:
    return folder.rstrip("/") + "/" + name


def basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] or ROOT


def parent(path: str) -> str:
    head = path.rstrip("/").rsplit("/", 1)[0]
    return head or ROOT


def ancestors(path: str) -> list[str]:
    """`/a/b` -> [`/`, `/a`, `/a/b`]."""
    result = [ROOT]
    above = ""
    for part in path.split("/"):
        if part:
            above = f"{above}/{part}"
            result.append(above)
    return result


def is_within(path: str, folder: str) -> bool:
    """True when `path` is `folder` itself or lies anywhere below it."""
    return folder == ROOT or path == folder or path.startswith(folder + "/")


def folder_counts(vms: Iterable[Placed]) -> Counter[str]:
    """Every folder that exists, with the number of VMs in it and below it."""
    counts: Counter[str] = Counter()
    for vm in vms:
        counts.update(ancestors(vm.path))
    return counts


def vms_here(vms: Iterable[Placed]) -> Counter[str]:
    """The number of VMs directly in each folder that holds any."""
    return Counter(vm.path for vm in vms)


def subfolders(path: str, vms: Iterable[Placed]) -> list[Folder]:
    """The folders directly inside `path`, sorted by name."""
    counts = folder_counts(vms)
    children = [f for f in counts if f != path and f != ROOT and parent(f) == path]
    return [Folder(f, counts[f]) for f in sorted(children, key=str.casefold)]


def layout(vms: Iterable[Placed]) -> dict[str, list[Folder]]:
    """Every folder's direct subfolders, sorted by name, computed in one pass: walking the
    whole tree with `subfolders` at each folder would cost folders times VMs."""
    counts = folder_counts(vms)
    children: dict[str, list[Folder]] = {}
    for folder in sorted(counts, key=str.casefold):
        if folder != ROOT:
            children.setdefault(parent(folder), []).append(Folder(folder, counts[folder]))
    return children


def by_folder(vms: Iterable[P]) -> dict[str, list[P]]:
    """The VMs of each folder (directly in it), sorted by name."""
    found: dict[str, list[P]] = {}
    for vm in sorted(vms, key=lambda vm: vm.name.casefold()):
        found.setdefault(vm.path, []).append(vm)
    return found


def in_folder(path: str, vms: Iterable[P], *, recursive: bool = False) -> list[P]:
    """The VMs sitting at `path` (or anywhere below it), sorted by place."""
    chosen = [vm for vm in vms if (is_within(vm.path, path) if recursive else vm.path == path)]
    return sorted(chosen, key=lambda vm: (vm.path.casefold(), vm.name.casefold()))


def folder_exists(path: str, vms: Iterable[Placed]) -> bool:
    return path == ROOT or any(is_within(vm.path, path) for vm in vms)


def label_counts(vms: Iterable[Placed]) -> dict[str, int]:
    counts: Counter[str] = Counter(label for vm in vms for label in vm.labels)
    return dict(sorted(counts.items(), key=lambda item: item[0].casefold()))


def with_labels(labels: Sequence[str], vms: Iterable[P]) -> list[P]:
    """The VMs carrying every one of `labels`."""
    wanted = set(labels)
    return [vm for vm in vms if wanted.issubset(vm.labels)]


def rehome(path: str, old_folder: str, new_folder: str) -> str:
    """Where a VM at `path` lands when `old_folder` is renamed to `new_folder`."""
    if not is_within(path, old_folder):
        raise ValueError(f"{path} is not within {old_folder}")
    rest = path[len(old_folder) :].lstrip("/") if old_folder != ROOT else path.lstrip("/")
    return join(new_folder, rest) if rest else new_folder
