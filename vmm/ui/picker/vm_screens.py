"""The picker's screens for one VM: actions, snapshots, folder, labels, clones, XML, deletion.

Every call into vmm.ops or libvirt runs through `Picker.attempt` or `act_on`, or under
`as_vmm_errors()`: whatever fails shows on the status line and the picker goes on."""

from __future__ import annotations

import os
import subprocess

from vmm.model import tree
from vmm.model.domain import Domain, on_host
from vmm.model.errors import HostError, InvalidInput, InvalidState, VmmError
from vmm.model.states import RUNNING
from vmm.ops import organise, registry
from vmm.ui.menus import Cell, Row, Screen
from vmm.ui.picker.protocol import PickerFlow
from vmm.virt.errors import as_vmm_errors

# the VM screen's entries beyond the registry's actions: (label, style)
_SCREENS = {
    "ssh": ("SSH", ""),
    "ip": ("IP addresses", ""),
    "console": ("Console", ""),
    "viewer": ("Viewer", ""),
    "snapshots": ("Snapshots…", ""),
    "move": ("Move to…", ""),
    "move_host": ("Move to host…", ""),
    "labels": ("Labels…", ""),
    "clone": ("Clone…", ""),
    "edit": ("Edit XML", ""),
    "delete": ("Delete…", "danger"),
}


def entries_for(domain: Domain, several_hosts: bool = False) -> list[Row]:
    """Only what makes sense in the VM's current state: the registry's actions for it, a way
    in while it runs (ssh and its addresses, console, viewer), then the screens every VM has
    (and, over several hosts, a move to another)."""
    actions = [Row.plain(a.name, a.label, a.style) for a in registry.offered(domain.shown.name)]
    screens = ["ssh", "ip"] if domain.shown.name in RUNNING else []
    screens += ["console", "viewer"] if domain.active else []
    screens += ["snapshots", "move", *(["move_host"] if several_hosts else []), "labels"]
    screens += ["clone", "edit", "delete"]
    return [*actions, *(Row.plain(name, *_SCREENS[name]) for name in screens)]


class VmScreens:
    def __init__(self, picker: PickerFlow) -> None:
        self.p = picker

    def vm_screen(self, key: str) -> None:
        name = self.p.vms[key].name if key in self.p.vms else ""

        def build() -> Screen:
            domain = self.p.vms.get(key)
            if domain is None:  # undefined by someone else while its screen is open
                header = self.p.header(f"{name}: this VM is gone (esc: back)", {})
                return Screen(name, [], header)
            labels = " ".join(f"#{label}" for label in domain.labels)
            state = domain.shown.name
            header = self.p.header(f"{domain.place}  [{state}]  {labels}".rstrip(), {})
            rows = entries_for(domain, self.p.host.several)
            return Screen(domain.name, rows, header, preview=self.preview(key))

        while key in self.p.vms:
            choice = self.p.choose(build)
            if choice is None:
                return
            domain = self.p.vms.get(key)  # as it is now: it may have changed meanwhile
            if choice.rows and domain is not None:
                self.run_action(domain, choice.rows[0])

    def preview(self, key: str):
        return lambda _row: self.p.preview(f"vm:{key}")

    def run_action(self, domain: Domain, name: str) -> None:
        action = None if name in _SCREENS else registry.BY_NAME.get(name)
        if action is None:
            getattr(self, name)(domain)
        elif not action.confirm or self.p.confirm(f"{action.label}: {domain.name}?"):
            self.p.act_on([domain], action.name)

    # -- sub-screens -------------------------------------------------------------------------

    def snapshots(self, domain: Domain) -> None:
        from vmm.ops import snapshots

        while True:
            try:
                with as_vmm_errors():
                    ordered = snapshots.tree_of(self.p.host.vm_by_key(domain.key))
            except VmmError as err:
                self.p.report(str(err), error=True)
                return
            rows = [Row.plain("create", "+ Create snapshot…", "action")]
            for depth, snap in ordered:
                current = (Cell("  *current*", "running"),) if snap.current else ()
                rows.append(
                    Row(
                        f"s:{snap.name}",
                        (Cell("  " * depth + snap.name), *current, Cell(f"  {snap.state}", "dim")),
                    )
                )
            choice = self.p.choose(
                Screen(f"{domain.name} snapshots", rows, self.p.header(domain.place, {}))
            )
            if choice is None:
                return
            if choice.rows == ("create",):
                self._create_snapshot(domain)
            elif choice.rows:
                self._snapshot_actions(domain, choice.rows[0].removeprefix("s:"))

    def _create_snapshot(self, domain: Domain) -> None:
        from vmm.ops.snapshots import default_name

        name = self.p.ask("snapshot name", [default_name()], f"new snapshot of {domain.name}")
        if name is not None:
            self.p.act_on([domain], "snapshot create", name=name)

    def _snapshot_actions(self, domain: Domain, name: str) -> None:
        rows = [
            Row.plain("revert", "Revert to this snapshot", "action"),
            Row.plain("rm", "Delete this snapshot"),
            Row.plain("rm-all", "Delete it and its children", "danger"),
        ]
        choice = self.p.choose(Screen(f"snapshot {name}", rows, self.p.header(domain.place, {})))
        if choice is None:
            return
        picked = choice.rows[0] if choice.rows else ""
        if picked == "revert" and self.p.confirm(f"Revert {domain.name} to {name}?"):
            self.p.act_on([domain], "snapshot revert", name=name)
        elif picked in ("rm", "rm-all") and self.p.confirm(f"Delete snapshot {name}?"):
            self.p.act_on([domain], "snapshot rm", name=name, children=picked == "rm-all")

    def move(self, domain: Domain) -> None:
        folders = sorted(tree.folder_counts(self.p.vms.values()), key=str.casefold)
        dest = self.p.ask("move to", folders, f"move {domain.name} from {domain.path} to:")
        if dest is not None:
            self.p.attempt(lambda: self.p.move(domain.key, dest))

    def labels(self, domain: Domain) -> None:
        while domain.key in self.p.vms:
            domain = self.p.vms[domain.key]
            rows = [Row.plain("add", "+ Add label…", "action")]
            rows += [
                Row(f"l:{label}", (Cell(f"#{label}", "label"), Cell("  (enter removes)", "dim")))
                for label in domain.labels
            ]
            choice = self.p.choose(
                Screen(f"{domain.name} labels", rows, self.p.header(domain.place, {}))
            )
            if choice is None:
                return
            if choice.rows == ("add",):
                known = tree.label_counts(self.p.vms.values())
                label = self.p.ask(
                    "label",
                    [x for x in known if x not in domain.labels],
                    f"add a label to {domain.name}",
                )
                if label is not None:
                    self._relabel(domain, organise.add_labels, label)
            elif choice.rows:
                self._relabel(domain, organise.remove_labels, choice.rows[0].removeprefix("l:"))

    def _relabel(self, domain: Domain, change, label: str) -> None:
        def work() -> str:
            result = change(self.p.host.vm_by_key(domain.key), [label])
            self.p.refresh([domain.key])
            return (
                f"{domain.name}: labels {' '.join('#' + x for x in result.after.labels) or 'none'}"
            )

        self.p.attempt(work)

    def move_host(self, domain: Domain) -> None:
        from vmm.ui.picker.move_host import move_to_host

        move_to_host(self.p, domain)

    def clone(self, domain: Domain) -> None:
        from vmm.ops.perform import perform

        rows = [
            Row.plain("linked", "Linked clone (instant, copy-on-write)", "action"),
            Row.plain("full", "Full clone (copies the disks)"),
        ]
        choice = self.p.choose(
            Screen(f"clone {domain.name}", rows, self.p.header(domain.place, {}))
        )
        if choice is None:
            return
        if not choice.rows:
            return
        name = self.p.ask(
            "clone name", [f"{domain.name}-clone"], f"name of the clone of {domain.name}"
        )
        if name is None:
            return

        progress = self.p.progress_of(f"cloning {domain.name} as {name}")
        linked = choice.rows[0] == "linked"

        def work() -> str:
            vm = self.p.host.vm_by_key(domain.key)
            pool = None if linked else vm.host.pool  # as `vmm clone` does
            options = {"linked": linked, "progress": progress, "pool": pool}
            return perform(vm, "clone", name, **options)

        if self.p.attempt(work):
            self.p.refresh([domain.key])
            self.p.attempt(lambda: self.p.add(on_host(domain.host, name)))

    def ip(self, domain: Domain) -> None:
        from vmm.virt import reach

        def addresses() -> str:
            vm = self.p.host.vm_by_key(domain.key)
            found = reach.addresses(vm)
            if not found:
                raise InvalidState(f"{domain.name}: no known IP address (is DHCP done yet?)")
            shown = ", ".join(f"{a.address}/{a.prefix} ({a.source})" for a in found)
            jump = reach.jump_for(vm.host.uri)
            return f"{domain.name}: {shown}" + (f" through {jump.spec}" if jump else "")

        self.p.attempt(addresses)

    def ssh(self, domain: Domain) -> None:
        """In a terminal (fzf) ssh runs in it; from a launcher (wofi) in a terminal window of
        its own ($TERMINAL, or `terminal` in the config), never waited for."""
        from vmm.virt import reach

        try:
            with as_vmm_errors():
                vm = self.p.host.vm_by_key(domain.key)
                argv = reach.ssh_argv(reach.first_address(vm), (), jump=reach.jump_for(vm.host.uri))
        except VmmError as err:
            self.p.report(str(err), error=True)
            return
        if self.p.terminal:
            self._hand_terminal_to(argv)
            return

        def launch() -> str:
            from vmm.ui.config import terminal_argv

            terminal = terminal_argv()
            detach([*terminal, "-e", *argv])
            return f"{domain.name}: ssh opened in {os.path.basename(terminal[0])}"

        self.p.attempt(launch)

    def console(self, domain: Domain) -> None:
        from vmm.virt import reach

        try:
            with as_vmm_errors():
                uri = self._uri(domain)
        except VmmError as err:  # gone since it was listed
            self.p.report(str(err), error=True)
            return
        self._hand_terminal_to(reach.console_argv(uri, domain.uuid))

    def viewer(self, domain: Domain) -> None:
        from vmm.virt import reach

        def launch() -> str:
            detach(reach.viewer_argv(self._uri(domain), domain.uuid))
            return f"{domain.name}: viewer opened"

        self.p.attempt(launch)

    def _uri(self, domain: Domain) -> str:
        return self.p.host.vm_by_key(domain.key).host.uri

    def _hand_terminal_to(self, argv: list[str]) -> None:
        if not self.p.terminal:
            self.p.report(f"{argv[0]} needs a terminal: run vmm in one", error=True)
            return
        try:
            subprocess.run(argv, check=False)
        except OSError as err:
            self.p.report(f"cannot run {argv[0]}: {err.strerror}", error=True)

    def edit(self, domain: Domain) -> None:
        from vmm.ops import edit

        if not self.p.terminal:
            self.p.report("editing XML needs a terminal: run vmm in one", error=True)
            return

        declined: list[str] = []

        def again(error: str) -> bool:
            if self._edit_again(error):
                return True
            declined.append(error)
            return False

        def work() -> str:
            vm = self.p.host.vm_by_key(domain.key)
            try:
                message = edit.edit_vm(vm, again)
            except InvalidInput:
                if declined:
                    return f"{domain.name}: edit discarded"
                raise
            if message != "no change":
                self.p.refresh([domain.key])
            return f"{domain.name}: {message}"

        self.p.attempt(work)

    def _edit_again(self, error: str) -> bool:
        rows = [
            Row.plain("again", "Edit again", "action"),
            Row.plain("discard", "Discard my changes", "danger"),
        ]
        choice = self.p.choose(Screen("invalid XML", rows, error))
        return choice is not None and choice.rows == ("again",)

    def delete(self, domain: Domain) -> None:
        rows = [
            Row.plain("keep", "Delete the VM, keep its disks", "danger"),
            Row.plain("storage", "Delete the VM and its disks", "danger"),
        ]
        question = (
            f"Delete {domain.name}"
            + (" (it is running: it will be forced off)" if domain.active else "")
            + "?"
        )
        choice = self.p.choose(Screen(f"delete {domain.name}", rows, question))
        if choice is None:
            return
        if choice.rows and self.p.confirm(f"Really delete {domain.name}? This cannot be undone."):
            self.p.act_on([domain], "rm", with_storage=choice.rows[0] == "storage", force=True)


def detach(argv: list[str]) -> None:
    """Start a graphical program that outlives the picker and never touches its terminal."""
    try:
        subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as err:
        raise HostError(f"cannot run {argv[0]}: {err.strerror}") from None
