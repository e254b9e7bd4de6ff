"""The picker's quick keys on a list of VMs, and which VMs the selected rows stand for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from vmm.model import tree
from vmm.model.domain import Domain

FOLDER_KEYS = {
    "ctrl-s": "start",
    "ctrl-x": "shut down",
    "ctrl-o": "force off",
    "ctrl-v": "save state",
    "ctrl-r": "refresh",
}
LIST_KEYS = {k: v for k, v in FOLDER_KEYS.items() if k != "ctrl-r"}  # a view is not re-read
QUICK_ACTIONS = {"ctrl-s": "start", "ctrl-x": "shutdown", "ctrl-o": "off", "ctrl-v": "save"}
CONFIRM_QUICK = {"ctrl-o"}


def chosen_vms(keys: Iterable[str], vms: Mapping[str, Domain]) -> list[Domain]:
    """The VMs behind chosen rows, once each, in the order chosen; a folder row stands for
    every VM in and below it."""
    chosen: dict[str, Domain] = {}
    for key in keys:
        if key.startswith("vm:") and key[3:] in vms:
            chosen[key[3:]] = vms[key[3:]]
        elif key.startswith("dir:"):
            for d in tree.in_folder(key[4:], vms.values(), recursive=True):
                chosen[d.key] = d
    return list(chosen.values())
