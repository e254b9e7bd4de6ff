"""The interactive flow: folders, VMs and their actions, one menu screen at a time.

It knows nothing of fzf or wofi: it builds Screens for a Menu and reports outcomes through a
Notifier. It lists the host once and afterwards re-reads only the VMs it acted on, so moving
between folders never waits on libvirt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vmm.model import tree
from vmm.model.domain import Domain
from vmm.model.errors import VmmError
from vmm.ops import organise
from vmm.ui.menus import Cancelled, Choice, Menu, Row, Screen
from vmm.ui.notify import Notifier
from vmm.ui.picker import header
from vmm.ui.picker.keys import CONFIRM_QUICK, FOLDER_KEYS, LIST_KEYS, QUICK_ACTIONS, chosen_vms
from vmm.ui.picker.listing import Listing
from vmm.ui.picker.live import Follower
from vmm.ui.picker.new_vm import new_vm
from vmm.ui.picker.rows import folder_rows, label_rows, vm_row
from vmm.ui.picker.vm_screens import VmScreens
from vmm.virt.errors import as_vmm_errors
from vmm.virt.hosts import Hosts


@dataclass(frozen=True)
class HostLabel:
    """What the picker shows and caches under before the host answers."""

    label: str
    cache_key: str
    several: bool


class Picker:
    def __init__(
        self,
        host: Hosts,
        menu: Menu,
        notifier: Notifier,
        *,
        terminal: bool,
        where: HostLabel | None = None,
    ) -> None:
        """`where` names the host before it has answered (see cli.pick.OpeningHost): the
        first screen is drawn from the cache without waiting for it."""
        self.host = host
        self.menu = menu
        self.notifier = notifier
        self.terminal = terminal
        self.status = ""  # the last outcome
        self._status_seen = False  # shown on a screen already: later screens go without it
        self.where = where or HostLabel(host.label, host.uri, host.several)
        self.several_hosts = self.where.several
        self.vm_screens = VmScreens(self)
        self._last_row: str | None = None  # the row the last choice was made on
        live = getattr(self.menu, "live", False)
        self.listing = Listing(host, self.where.cache_key, self.report, draft=live)
        self.follower: Follower | None = None
        self._following: Callable[[], Screen] | None = None  # builds the open screen anew
        self._follow_lock = threading.Lock()

    # -- state -------------------------------------------------------------------------------

    @property
    def vms(self) -> dict[str, Domain]:
        return self.listing.vms

    def wait_for_listing(self) -> None:
        self.listing.wait()

    def reload(self) -> None:
        self.listing.reload()

    def refresh(self, keys: Iterable[str]) -> None:
        """Re-read only these VMs; one that is gone is dropped."""
        self.listing.refresh(keys)

    def add(self, ref: str) -> None:
        self.listing.add(ref)

    def report(self, message: str, *, error: bool = False) -> None:
        self.status = ("error: " if error else "") + message
        self._status_seen = False
        (self.notifier.error if error else self.notifier.info)(message)

    def attempt(self, work: Callable[[], str | None]) -> bool:
        """Run `work`; its failure, a libvirt error vmm did not translate too, becomes the status
        line, never an exit."""
        try:
            with as_vmm_errors():
                message = work()
        except VmmError as err:
            self.report(str(err), error=True)
            return False
        if message:
            self.report(message)
        return True

    def header(self, where: str, keys: dict[str, str]) -> str:
        first = f"vmm · {self.where.label} · {where}{self.listing.note()}"
        notes = self.follower.notes() if self.follower is not None else []
        status = self.status if not self._status_seen else ""
        return header.compose(first, keys, notes, status)

    def with_message_key(self, keys: dict[str, str]) -> dict[str, str]:
        """`keys`, and the one that shows the whole last outcome while there is one."""
        return {**keys, header.MESSAGE_KEY: "message"} if self.status else keys

    def message_screen(self) -> None:
        """The whole last outcome, however long: the header shows only its first lines."""
        rows = [
            Row.plain(f"line:{i}", line) for i, line in enumerate(header.message_lines(self.status))
        ]
        self.choose(Screen("last outcome", rows, header=self.header("last outcome", {})))

    # -- the flow ----------------------------------------------------------------------------

    def run(self) -> None:
        if self.menu.follows:
            self.follower = Follower(
                self.host, self.listing, self.redraw, self.report, self.where.label
            )
        try:
            self._run_from_root()
        finally:
            if self.follower is not None:
                self.follower.stop()

    def _run_from_root(self) -> None:
        path = tree.ROOT
        while True:
            try:
                path = self.folder_screen(path)
            except Cancelled:
                if path == tree.ROOT:
                    return
                path = tree.parent(path)

    def redraw(self) -> None:
        """The open screen drawn again from what is known now: the hosts changed under it."""
        with self._follow_lock:
            if self._following is not None:
                self.menu.redraw(self._following())

    def folder_screen(self, path: str) -> str:
        """Show one folder; returns the folder to show next."""

        def build() -> Screen:
            rows = folder_rows(path, list(self.vms.values()), with_host=self.several_hosts)
            keys = self.with_message_key(FOLDER_KEYS)
            return Screen(
                prompt=path,
                rows=rows,
                header=self.header(path, {"tab": "select", **keys}),
                keys=keys,
                multi=True,
                preview=self.preview,
                cursor=self._cursor_on(rows),
            )

        choice = self._shown(build)
        self._last_row = choice.rows[0] if choice.rows else None
        self.wait_for_listing()  # only the first screen may be the draft
        if choice.key == "ctrl-r":
            self.attempt(self.reload)
            return path
        if choice.key == header.MESSAGE_KEY:
            self.message_screen()
            return path
        if choice.key in QUICK_ACTIONS:
            self.quick_action(choice)
            return path
        if not choice.rows:
            return path
        return self.open(choice.rows[0], path)

    def _cursor_on(self, rows: list[Row]) -> int:
        """Where the cursor starts: on the row the last key acted on or opened, if it is there."""
        keys = [row.key for row in rows]
        return keys.index(self._last_row) if self._last_row in keys else 0

    def open(self, key: str, path: str) -> str:
        if key == "up":
            self._last_row = f"dir:{path}"  # back up, the cursor is on the folder just left
            return tree.parent(path)
        if key.startswith("dir:"):
            return key.removeprefix("dir:")
        if key.startswith("vm:"):
            self.vm_screens.vm_screen(key.removeprefix("vm:"))
        elif key == "all":
            self.list_screen("All VMs", lambda d: True)
        elif key == "running":
            self.list_screen("Running", lambda d: d.active)
        elif key == "labels":
            self.labels_screen()
        elif key == "new":
            new_vm(self, path)
        return path

    def quick_action(self, choice: Choice) -> None:
        targets = chosen_vms(choice.rows, self.vms)
        action = QUICK_ACTIONS[choice.key]
        if not targets:
            self.report(f"{action}: no VM there; move onto a VM or folder, or select some (tab)")
            return
        names = ", ".join(d.name for d in targets)
        if choice.key in CONFIRM_QUICK and not self.confirm(f"Force off {names}?"):
            return
        self.act_on(targets, action)

    def progress_of(self, what: str) -> Callable[[int, int], None]:
        """A long action's progress, as one notification that updates (wofi mode)."""
        return lambda done, total: self.notifier.progress(what, 100 * done // max(total, 1))

    def act_on(self, targets: list[Domain], action: str, **options: object) -> None:
        from vmm.ops.perform import perform  # the actions' modules load when first needed

        failures, done = [], []
        for target in targets:
            if action == "save":
                options = {**options, "progress": self.progress_of(f"saving {target.name}")}
            try:
                with as_vmm_errors():
                    vm = self.host.vm_by_key(target.key)
                    done.append(f"{target.name}: {perform(vm, action, **options)}")
            except VmmError as err:
                failures.append(str(err))
        self.refresh(d.key for d in targets)
        if failures:  # the errors first, and what did work is not left unsaid
            self.report("; ".join([*failures, *done]), error=True)
        else:
            self.report("; ".join(done))

    def choose(self, screen: Screen | Callable[[], Screen]) -> Choice | None:
        """The menu's answer, or None when the user backed out with Esc."""
        try:
            return self._shown(screen)
        except Cancelled:
            return None

    def _shown(self, screen: Screen | Callable[[], Screen]) -> Choice:
        """The menu's answer; the status line it showed is not shown again on later screens.

        A screen given as the function that builds it is built again, and drawn again in place,
        whenever the hosts change while it is open (menus that can: fzf)."""
        build = screen if callable(screen) else None
        with self._follow_lock:
            first = build() if build is not None else screen
            self._following = build
        try:
            return self.menu.choose(first)
        finally:
            with self._follow_lock:
                self._following = None
            self._status_seen = bool(self.status)

    def confirm(self, question: str) -> bool:
        screen = Screen(
            question, [Row.plain("no", "No"), Row.plain("yes", "Yes", "danger")], header=question
        )
        choice = self.choose(screen)
        return choice is not None and choice.rows == ("yes",)

    def ask(
        self, prompt: str, suggestions: Iterable[str], hint: str, *, existing: bool = False
    ) -> str | None:
        """A new name (a clone's, a snapshot's, a folder, a label): what the user typed wins
        over a suggestion it happens to match ("hp" is not "haproxy-clone"), and a suggestion
        is taken on an empty line or completed into the line with tab. With `existing`, one of
        the suggestions is looked for: typing finds it. None when the user backs out."""
        rows = [Row.plain(f"s:{s}", s) for s in suggestions]
        if existing:
            keys = "type to find one; alt-enter takes the typed text as is"
        else:
            keys = "⏎ takes what you typed (on an empty line: the highlighted one) · tab completes"
        choice = self.choose(Screen(prompt, rows, header=f"{hint}\n{keys}", free_text=True))
        if choice is None:
            return None
        typed = choice.query.strip()
        if typed and not existing:
            return typed
        if choice.rows:
            return choice.rows[0].removeprefix("s:")
        return typed or None

    def list_screen(self, title: str, wanted: Callable[[Domain], bool]) -> None:

        def build() -> Screen:
            vms = sorted(
                (d for d in self.vms.values() if wanted(d)), key=lambda d: d.place.casefold()
            )
            rows = [vm_row(d, place=True, with_host=self.several_hosts) for d in vms]
            keys = self.with_message_key(LIST_KEYS)
            cursor = self._cursor_on(rows)
            return Screen(
                title,
                rows,
                self.header(title, keys),
                keys,
                multi=True,
                preview=self.preview,
                cursor=cursor,
            )

        while True:
            choice = self.choose(build)
            if choice is None:
                return
            self._last_row = choice.rows[0] if choice.rows else None
            if choice.key in QUICK_ACTIONS:
                self.quick_action(choice)
            elif choice.key == header.MESSAGE_KEY:
                self.message_screen()
            elif choice.rows:
                self.vm_screens.vm_screen(choice.rows[0].removeprefix("vm:"))

    def labels_screen(self) -> None:

        def build() -> Screen:
            counts = tree.label_counts(self.vms.values())
            return Screen("Labels", label_rows(counts), self.header("labels", {}))

        while True:
            choice = self.choose(build)
            if choice is None:
                return
            if choice.rows:
                label = choice.rows[0].removeprefix("l:")
                self.list_screen(f"#{label}", lambda d, label=label: label in d.labels)

    # -- previews ----------------------------------------------------------------------------

    def preview(self, key: str) -> str:
        from vmm.ui import render

        self.listing.start()  # fzf asks for its first preview once it is up

        if key.startswith("vm:") and key[3:] in self.vms:
            from vmm.ops import info

            info = info.gather(self.host.vm_by_key(key[3:]), with_links=False)
            return "\n".join(render.details_lines(info))
        if key.startswith("dir:"):
            vms = tree.in_folder(key[4:], self.vms.values(), recursive=True)
            return "\n".join(render.vm_row(d, full_place=True) for d in vms) or "(empty)"
        return ""

    def move(self, key: str, folder: str) -> str:
        change = organise.move_vm(self.host.vm_by_key(key), folder)
        self.refresh([key])
        return f"{change.vm}: moved to {change.after.path}"
