"""Running actions from the registry on VMs: libvirt's errors translated, each change journalled.

The CLI and every menu go through `perform`, so every change lands in the journal.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from vmm.model.errors import HostError, VmmError, describe_os_error
from vmm.ops import power
from vmm.ops.registry import BY_NAME
from vmm.virt.domains import Dom
from vmm.virt.errors import as_vmm_errors
from vmm.virt.host import Host


@dataclass(frozen=True)
class Outcome:
    vm: str
    ok: bool
    message: str


def perform(host: Host, dom: Dom, action: str, *args: object, **options: object) -> str:
    """Run `action` on `dom`; raises a VmmError with a one-line reason when it cannot."""
    entry = BY_NAME[action]
    try:
        with as_vmm_errors():
            message = entry.run(dom, *args, **{**entry.options, **options})
    except OSError as err:  # a file vmm itself reads or writes (an image, UEFI variables)
        raise HostError(f"{action} failed: {describe_os_error(err)}") from None
    host.record(dom, entry.journal_name, message)
    return message


def shutdown_and_wait(
    host: Host, doms: list[Dom], timeout: float, force_after: float | None = None
) -> list[Outcome]:
    """Ask every VM to shut down, then wait for them all at once (not one after another:
    ten stubborn guests cost one timeout, not ten); with `force_after`, force off the rest."""
    requested = perform_each(host, doms, "shutdown")
    asked = [dom for dom, outcome in zip(doms, requested, strict=True) if outcome.ok]
    patience = timeout if force_after is None else force_after
    still, unknown = power.still_running_after(asked, patience)
    # by identity: the same UUID may be on two hosts of a fleet
    running = {id(dom) for dom in still}
    unanswered = {id(dom): why for dom, why in unknown}
    outcomes = []
    for dom, outcome in zip(doms, requested, strict=True):
        if outcome.ok and id(dom) in unanswered:
            why = f"cannot tell whether {outcome.vm!r} shut down: {unanswered[id(dom)]}"
            outcome = Outcome(outcome.vm, False, why)
        elif outcome.ok and id(dom) in running:
            outcome = _still_running(host, dom, outcome.vm, timeout, force_after)
        elif outcome.ok:
            outcome = Outcome(outcome.vm, True, "shut down")
        outcomes.append(outcome)
    return outcomes


def _still_running(
    host: Host, dom: Dom, name: str, timeout: float, force_after: float | None
) -> Outcome:
    """A VM that has not shut down once the wait is over: forced off, or a failure."""
    if force_after is None:
        why = f"{name!r} is still running {timeout:g}s after the shutdown request"
        return Outcome(name, False, why)
    (forced,) = perform_each(host, [dom], "off")
    if not forced.ok:
        return forced
    return Outcome(name, True, f"did not shut down within {force_after:g}s: forced off")


def perform_each(host: Host, doms: list[Dom], action: str, **options: object) -> list[Outcome]:
    """Try `action` on every VM, whatever happens to the others."""
    outcomes = []
    for dom in doms:
        run = partial(perform, host, dom, action, **options)
        try:
            outcomes.append(Outcome(dom.name(), True, run()))
        except VmmError as err:
            outcomes.append(Outcome(dom.name(), False, str(err)))
    return outcomes
