"""Running actions from the registry on VMs: libvirt's errors translated, each change journalled.

The CLI and every menu go through `perform`, so every change lands in the journal.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmm.model.errors import HostError, Interrupted, VmmError, describe_os_error
from vmm.ops import power
from vmm.ops.registry import BY_NAME
from vmm.virt.errors import as_vmm_errors
from vmm.virt.vm import Vm


@dataclass(frozen=True)
class Outcome:
    vm: str
    ok: bool
    message: str


def perform(vm: Vm, action: str, *args: object, **options: object) -> str:
    """Run `action` on `vm`; raises a VmmError with a one-line reason when it cannot."""
    entry = BY_NAME[action]
    try:
        with as_vmm_errors():
            message = entry.run(vm.dom, *args, **{**entry.options, **options})
    except OSError as err:  # a file vmm itself reads or writes (an image, UEFI variables)
        raise HostError(f"{_name_of(vm)}: {action} failed: {describe_os_error(err)}") from None
    except VmmError as err:
        raise naming(vm, err) from None
    vm.record(entry.journal_name, message)
    return message


def _name_of(vm: Vm) -> str:
    return vm.dom.name()  # libvirt keeps it on the handle: no call, even once the VM is gone


def naming(vm: Vm, err: VmmError) -> VmmError:
    """`err` as `VM: why`, unless its message names the VM already ("cannot start 'web': ...");
    with several VMs at once, an error that names none leaves the user guessing."""
    name = _name_of(vm)
    said = str(err)
    if repr(name) in said or said.startswith(f"{name}: "):
        return err
    return type(err)(f"{name}: {said}")


def shutdown_and_wait(
    vms: list[Vm], timeout: float, force_after: float | None = None, **options: object
) -> list[Outcome]:
    """Ask every VM to shut down (`options` are power.shutdown's: its mode), then wait for
    them all at once (not one after another: ten stubborn guests cost one timeout, not ten);
    with `force_after`, force off the rest."""
    requested: list[Outcome] = []
    try:
        for vm in vms:
            requested += perform_each([vm], "shutdown", **options)
    except KeyboardInterrupt:
        asked = ", ".join(repr(o.vm) for o in requested if o.ok) or "none"
        raise Interrupted(
            f"interrupted while asking VMs to shut down: asked (and shutting down): {asked};"
            " nothing is undone"
        ) from None
    asked = [vm.dom for vm, outcome in zip(vms, requested, strict=True) if outcome.ok]
    patience = timeout if force_after is None else force_after
    still, unknown = power.still_running_after(asked, patience)
    # by identity: the same UUID may be on two hosts of a fleet
    running = {id(dom) for dom in still}
    unanswered = {id(dom): why for dom, why in unknown}
    outcomes = []
    for vm, outcome in zip(vms, requested, strict=True):
        if outcome.ok and id(vm.dom) in unanswered:
            why = f"cannot tell whether {outcome.vm!r} shut down: {unanswered[id(vm.dom)]}"
            outcome = Outcome(outcome.vm, False, why)
        elif outcome.ok and id(vm.dom) in running:
            outcome = _still_running(vm, outcome.vm, timeout, force_after)
        elif outcome.ok:
            outcome = Outcome(outcome.vm, True, "shut down")
        outcomes.append(outcome)
    return outcomes


def _still_running(vm: Vm, name: str, timeout: float, force_after: float | None) -> Outcome:
    """A VM that has not shut down once the wait is over: forced off, or a failure."""
    if force_after is None:
        why = f"{name!r} is still running {timeout:g}s after the shutdown request"
        return Outcome(name, False, why)
    (forced,) = perform_each([vm], "off")
    if not forced.ok:
        return forced
    return Outcome(name, True, f"did not shut down within {force_after:g}s: forced off")


def perform_each(vms: list[Vm], action: str, **options: object) -> list[Outcome]:
    """Try `action` on every VM, whatever happens to the others."""
    outcomes = []
    for vm in vms:
        try:
            name = vm.name
            outcomes.append(Outcome(name, True, perform(vm, action, **options)))
        except VmmError as err:
            outcomes.append(Outcome(_name_of(vm), False, str(naming(vm, err))))
    return outcomes
