"""The VM screen's "Move to host…": the picker's way to `vmm mv --stop VM HOST:`."""

from __future__ import annotations

from vmm.model.domain import Domain, on_host
from vmm.ui.menus import Row, Screen
from vmm.ui.picker.protocol import PickerFlow


def move_to_host(p: PickerFlow, domain: Domain) -> None:
    """To another of the hosts shown: a running VM is shut down first, as `vmm mv --stop`."""
    from vmm.ops import move

    others = [host for host in p.host.hosts if host.name != domain.host]
    rows = [Row.plain(f"h:{host.name}", host.label) for host in others]
    hint = f"move {domain.name} there: its disks are copied and checked, then removed here"
    choice = p.choose(Screen(f"move {domain.name} to", rows, p.header(hint, {})))
    if choice is None or not choice.rows:
        return
    target = next(h for h in others if f"h:{h.name}" == choice.rows[0])
    if domain.active and not p.confirm(f"Shut {domain.name} down and move it?"):
        return

    def work() -> str:
        vm = p.host.vm_by_key(domain.key)
        return f"{domain.name}: {move.move(vm, target, stop=True)}"

    if p.attempt(work):
        p.refresh([domain.key])
        p.attempt(lambda: p.add(on_host(target.name, domain.name)))
