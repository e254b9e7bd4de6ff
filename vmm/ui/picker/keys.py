"""The picker's quick keys on a list of VMs, and which VMs the selected rows stand for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from vmm.model import tree
from vmm.model.domain import Domain
from vmm.ops.registry import BY_KEY

QUICK_ACTIONS = {key: action.name for key, action in BY_KEY.items()}
CONFIRM_QUICK = {key for key, action in BY_KEY.items() if action.confirm}
# key -> hint: the CLI command it runs, short enough for an 80-column terminal
LIST_KEYS = {key: action.name for key, action in BY_KEY.items()}
FOLDER_KEYS = {**LIST_KEYS, "ctrl-r": "refresh"}  # a view is not re-read


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
