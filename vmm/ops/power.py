"""Acting on one VM: power, saved state. Each action checks that it makes sense first.

Every function takes a libvirt domain and returns a short outcome for the user ("started").
Wrong states raise InvalidState with a one-line reason; nothing has changed then.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from vmm.model.errors import Interrupted, InvalidInput, InvalidState
from vmm.model.states import RUNNING, STARTABLE, STOPPABLE, SUSPENDED, name_of, shown
from vmm.virt import domains
from vmm.virt.domains import Dom, boot_dropping_saved_state, is_active_unless_gone, job_progress
from vmm.virt.errors import LibvirtError, message

POLL_SECONDS = 0.25
Progress = Callable[[int, int], None]  # (bytes done, bytes total)


def _state(dom: Dom) -> str:
    return name_of(dom.state()[0])


def _require(dom: Dom, allowed: frozenset[str], doing: str) -> str:
    state = _state(dom)
    if state not in allowed:
        raise InvalidState(f"cannot {doing} {dom.name()!r}: it is {_describe(dom, state)}")
    return state


def _describe(dom: Dom, state: str) -> str:
    return shown(state, state == "shutoff" and bool(dom.hasManagedSaveImage())).described


INACTIVE = STARTABLE - {"saved"}  # libvirt's own states: a saved VM is "shutoff" to it


def start(dom: Dom, *, fresh: bool = False) -> str:
    """Start a VM; a saved state is restored unless `fresh` drops it."""
    _require(dom, INACTIVE, "start")
    if dom.isActive():
        raise InvalidState(f"cannot start {dom.name()!r}: it is already running")
    if dom.hasManagedSaveImage():
        if fresh:
            boot_dropping_saved_state(dom)
            return "started fresh (saved state dropped)"
        dom.create()
        return "restored from saved state"
    dom.create()
    return "started"


def still_running_after(doms: list[Dom], timeout: float) -> tuple[list[Dom], list[tuple[Dom, str]]]:
    """Wait until all of `doms` are shut off, or `timeout` seconds: those still running, and
    those that could not be asked (each with why: one VM's error ends no one else's wait)."""
    deadline = time.monotonic() + timeout
    running, unknown = list(doms), []
    try:
        while True:
            still = []
            for dom in running:
                try:
                    if is_active_unless_gone(dom):
                        still.append(dom)
                except LibvirtError as err:
                    unknown.append((dom, message(err)))
            running = still
            if not running or time.monotonic() >= deadline:
                return running, unknown
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        names = ", ".join(repr(dom.name()) for dom in running)
        raise Interrupted(
            f"interrupted while waiting for {names} to shut down: the shutdown was asked"
            " and goes on in the guest; nothing was forced off, nothing is undone"
        ) from None


def shutdown(dom: Dom, *, mode: str = "acpi") -> str:
    """Ask the guest to shut down, by its ACPI power button or (`mode="agent"`) through its
    guest agent (see perform.shutdown_and_wait to wait for it); a transient VM ends with it,
    and the user is told so."""
    if mode not in domains.SHUTDOWN_MODES:
        known = ", ".join(domains.SHUTDOWN_MODES)
        raise InvalidInput(f"unknown shutdown mode {mode!r} (one of: {known})")
    _require(dom, STOPPABLE, "shut down")
    transient = not dom.isPersistent()
    domains.shutdown(dom, mode)
    if transient:
        return "shutdown requested (it is transient: it is gone once shut down)"
    return "shutdown requested"


def off(dom: Dom) -> str:
    _require(dom, STOPPABLE, "force off")
    dom.destroy()
    return "forced off"


def reboot(dom: Dom) -> str:
    _require(dom, RUNNING, "reboot")
    dom.reboot(0)
    return "reboot requested"


def reset(dom: Dom) -> str:
    _require(dom, STOPPABLE, "reset")
    dom.reset(0)
    return "reset"


def pause(dom: Dom) -> str:
    _require(dom, RUNNING, "pause")
    dom.suspend()
    return "paused"


def resume(dom: Dom) -> str:
    _require(dom, SUSPENDED, "resume")
    dom.resume()
    return "resumed"


def save(dom: Dom, *, progress: Progress | None = None) -> str:
    """Managed save; `progress(done, total)` hears how much memory has been written so far."""
    _require(dom, RUNNING | {"paused"}, "save the state of")
    if progress is None:
        dom.managedSave(0)
    else:
        _with_job_progress(dom, lambda: dom.managedSave(0), progress)
    return "state saved"


def _with_job_progress(dom: Dom, work: Callable[[], object], progress: Progress) -> None:
    """Run `work` on a thread and report the domain job's progress until it is done."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as err:
            failure.append(err)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(POLL_SECONDS)
        known = job_progress(dom)
        if known is not None:
            progress(*known)
    if failure:
        raise failure[0]
    progress(1, 1)


def discard_save(dom: Dom) -> str:
    if not dom.hasManagedSaveImage():
        raise InvalidState(f"{dom.name()!r} has no saved state")
    dom.managedSaveRemove(0)
    return "saved state discarded"
