"""VM states in one place: libvirt's codes and names, which are active, and how each is shown.

"saved" is vmm's own: a shut-off VM with a managed-save image, which `start` restores.
A state's `style` is a menu style name (every menu back-end and the terminal map it to a
colour of its own); its `mark` is the one character every list shows before a VM's name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class State:
    name: str
    mark: str
    style: str  # "running", "paused", "saved", "crashed" or "" (no colour)
    described: str  # as a sentence says it: "cannot start 'web': it is {described}"


_BY_CODE = (
    State("nostate", "?", "", "in no state"),
    State("running", "●", "running", "running"),
    State("blocked", "●", "running", "blocked"),
    State("paused", "‖", "paused", "paused"),
    State("shutdown", "◐", "paused", "shutting down"),
    State("shutoff", "○", "", "shut off"),
    State("crashed", "✗", "crashed", "crashed"),
    State("pmsuspended", "‖", "paused", "suspended by the guest"),
)
SAVED = State("saved", "◉", "saved", "shut off with a saved state")

STATES: dict[str, State] = {state.name: state for state in (*_BY_CODE, SAVED)}
# every state `vmm ls --state` accepts, the usual ones first
NAMES = (
    "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended", "nostate",
    "saved",
)  # fmt: skip

RUNNING = frozenset({"running", "blocked"})
SUSPENDED = frozenset({"paused", "pmsuspended"})
ACTIVE = RUNNING | SUSPENDED | {"shutdown"}  # a process runs for it on the host
STOPPABLE = ACTIVE | {"crashed"}  # force off, shut down
STARTABLE = frozenset({"shutoff", "nostate", "crashed", "saved"})


def name_of(code: int) -> str:
    """libvirt's state code (virDomainState) as vmm names it."""
    return _BY_CODE[code].name if 0 <= code < len(_BY_CODE) else "nostate"


def shown(state: str, managed_save: bool) -> State:
    """What a list shows for a VM in libvirt state `state`."""
    if state == "shutoff" and managed_save:
        return SAVED
    return STATES.get(state, STATES["nostate"])
