"""The one way to act on a VM: run an action, translate libvirt's errors, record it in history.

The CLI and the picker both go through `perform`, so every change lands in the journal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import libvirt

from vmm import clone, lifecycle, removal, snapshots
from vmm.connection import libvirt_errors
from vmm.errors import HostError, VmmError, describe_os_error
from vmm.host import Host

Action = Callable[..., str]

ACTIONS: dict[str, Action] = {
    "start": lifecycle.start,
    "shutdown": lifecycle.shutdown,
    "off": lifecycle.off,
    "reboot": lifecycle.reboot,
    "reset": lifecycle.reset,
    "pause": lifecycle.pause,
    "resume": lifecycle.resume,
    "save": lifecycle.save,
    "discard-save": lifecycle.discard_save,
    "snapshot create": snapshots.create,
    "snapshot revert": snapshots.revert,
    "snapshot rm": snapshots.delete,
    "rm": removal.delete,
    "clone": clone.clone,
}


@dataclass(frozen=True)
class Outcome:
    vm: str
    ok: bool
    message: str


def perform(
    host: Host, dom: libvirt.virDomain, action: str, *args: object, **options: object
) -> str:
    """Run `action` on `dom`; raises a VmmError with a one-line reason when it cannot."""
    try:
        with libvirt_errors():
            message = ACTIONS[action](dom, *args, **options)
    except OSError as err:  # a file vmm itself reads or writes (an image, UEFI variables)
        raise HostError(f"{action} failed: {describe_os_error(err)}") from None
    host.record(dom, action, message)
    return message


def perform_each(
    host: Host, doms: list[libvirt.virDomain], action: str, **options: object
) -> list[Outcome]:
    """Try `action` on every VM, whatever happens to the others."""
    outcomes = []
    for dom in doms:
        run = partial(perform, host, dom, action, **options)
        try:
            outcomes.append(Outcome(dom.name(), True, run()))
        except VmmError as err:
            outcomes.append(Outcome(dom.name(), False, str(err)))
    return outcomes
