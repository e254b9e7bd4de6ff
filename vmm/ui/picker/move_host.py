"""The VM screen's "Move to host…": the picker's way to `vmm mv [--live|--stop] VM HOST:`."""

from __future__ import annotations

from vmm.model.domain import Domain, on_host
from vmm.ui.menus import Row, Screen
from vmm.ui.picker.protocol import PickerFlow


def move_to_host(p: PickerFlow, domain: Domain) -> None:
    """To another of the hosts shown; a running VM as it runs (`--live`), or shut down first
    (`--stop`), as the user picks."""
    from vmm.ops import move

    others = [host for host in p.host.hosts if host.name != domain.host]
    rows = [Row.plain(f"h:{host.name}", host.label) for host in others]
    hint = f"move {domain.name} there: its disks are copied and checked, then removed here"
    choice = p.choose(Screen(f"move {domain.name} to", rows, p.header(hint, {})))
    if choice is None or not choice.rows:
        return
    target = next(h for h in others if f"h:{h.name}" == choice.rows[0])
    how = _how(p, domain) if domain.active else "stop"
    if how is None:
        return

    def work() -> str:
        vm = p.host.vm_by_key(domain.key)
        told = move.move(vm, target, progress=_progress(p, target.label), **{how: True})
        return f"{domain.name}: {told}"

    if p.attempt(work):
        p.refresh([domain.key])
        p.attempt(lambda: p.add(on_host(target.name, domain.name)))


def _how(p: PickerFlow, domain: Domain) -> str | None:
    rows = [
        Row.plain("live", "Move it as it runs (live migration)"),
        Row.plain("stop", "Shut it down, then move it", "danger"),
    ]
    hint = f"{domain.name} is running"
    choice = p.choose(Screen(f"move {domain.name}", rows, p.header(hint, {})))
    return choice.rows[0] if choice is not None and choice.rows else None


def _progress(p: PickerFlow, where: str):
    """Each disk's (or the live migration's) progress: one notification, updated (wofi)."""
    return lambda what: p.progress_of(f"moving {what} to {where}")
