"""Acting on one VM: power, saved state. Each action checks that it makes sense first.

Every function takes a libvirt domain and returns a short outcome for the user ("started").
Wrong states raise InvalidState with a one-line reason; nothing has changed then.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import libvirt

from vmm.model.domain import state_name
from vmm.model.errors import InvalidState

POLL_SECONDS = 0.25
Progress = Callable[[int, int], None]  # (bytes done, bytes total)


def _state(dom: libvirt.virDomain) -> str:
    return state_name(dom.state()[0])


def _require(dom: libvirt.virDomain, allowed: set[str], doing: str) -> str:
    state = _state(dom)
    if state not in allowed:
        raise InvalidState(f"cannot {doing} {dom.name()!r}: it is {_describe(dom, state)}")
    return state


def _describe(dom: libvirt.virDomain, state: str) -> str:
    if state == "shutoff" and dom.hasManagedSaveImage():
        return "shut off with a saved state"
    return {"shutoff": "shut off", "shutdown": "shutting down"}.get(state, state)


RUNNING = {"running", "blocked"}
ACTIVE = RUNNING | {"paused", "shutdown", "pmsuspended", "crashed"}
INACTIVE = {"shutoff", "nostate", "crashed"}


def start(dom: libvirt.virDomain, *, fresh: bool = False) -> str:
    """Start a VM; a saved state is restored unless `fresh` drops it."""
    _require(dom, INACTIVE, "start")
    if dom.isActive():
        raise InvalidState(f"cannot start {dom.name()!r}: it is already running")
    if dom.hasManagedSaveImage():
        if fresh:
            _force_boot(dom)
            return "started fresh (saved state dropped)"
        dom.create()
        return "restored from saved state"
    dom.create()
    return "started"


def _force_boot(dom: libvirt.virDomain) -> None:
    """Boot, discarding the saved state; drivers without FORCE_BOOT get the two-step way."""
    try:
        dom.createWithFlags(libvirt.VIR_DOMAIN_START_FORCE_BOOT)
    except libvirt.libvirtError as err:
        if err.get_error_code() not in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT):
            raise
        dom.managedSaveRemove(0)
        dom.create()


def still_running_after(
    doms: list[libvirt.virDomain], timeout: float
) -> tuple[list[libvirt.virDomain], list[tuple[libvirt.virDomain, str]]]:
    """Wait until all of `doms` are shut off, or `timeout` seconds: those still running, and
    those that could not be asked (each with why: one VM's error ends no one else's wait)."""
    deadline = time.monotonic() + timeout
    running, unknown = list(doms), []
    while True:
        still = []
        for dom in running:
            try:
                if _still_active(dom):
                    still.append(dom)
            except libvirt.libvirtError as err:
                unknown.append((dom, " ".join((err.get_error_message() or str(err)).split())))
        running = still
        if not running or time.monotonic() >= deadline:
            return running, unknown
        time.sleep(POLL_SECONDS)


def _still_active(dom: libvirt.virDomain) -> bool:
    """A transient VM is gone, not just off, once it has shut down."""
    try:
        return bool(dom.isActive())
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return False
        raise


def shutdown(dom: libvirt.virDomain) -> str:
    """Ask the guest to shut down (see actions.shutdown_and_wait to wait for it)."""
    _require(dom, ACTIVE, "shut down")
    dom.shutdown()
    return "shutdown requested"


def off(dom: libvirt.virDomain) -> str:
    _require(dom, ACTIVE, "force off")
    dom.destroy()
    return "forced off"


def reboot(dom: libvirt.virDomain) -> str:
    _require(dom, RUNNING, "reboot")
    dom.reboot(0)
    return "reboot requested"


def reset(dom: libvirt.virDomain) -> str:
    _require(dom, ACTIVE, "reset")
    dom.reset(0)
    return "reset"


def pause(dom: libvirt.virDomain) -> str:
    _require(dom, RUNNING, "pause")
    dom.suspend()
    return "paused"


def resume(dom: libvirt.virDomain) -> str:
    _require(dom, {"paused", "pmsuspended"}, "resume")
    dom.resume()
    return "resumed"


def save(dom: libvirt.virDomain, *, progress: Progress | None = None) -> str:
    """Managed save; `progress(done, total)` hears how much memory has been written so far."""
    _require(dom, RUNNING | {"paused"}, "save the state of")
    if progress is None:
        dom.managedSave(0)
    else:
        _with_job_progress(dom, lambda: dom.managedSave(0), progress)
    return "state saved"


def _with_job_progress(
    dom: libvirt.virDomain, work: Callable[[], object], progress: Progress
) -> None:
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
        with contextlib.suppress(libvirt.libvirtError):
            stats = dom.jobStats(0)
            total = stats.get("memory_total") or stats.get("data_total") or 0
            done = stats.get("memory_processed") or stats.get("data_processed") or 0
            if total:
                progress(min(done, total), total)
    if failure:
        raise failure[0]
    progress(1, 1)


def discard_save(dom: libvirt.virDomain) -> str:
    if not dom.hasManagedSaveImage():
        raise InvalidState(f"{dom.name()!r} has no saved state")
    dom.managedSaveRemove(0)
    return "saved state discarded"
