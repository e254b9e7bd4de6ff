"""The picker follows the host: changes made behind its back (another client, a guest shutting
itself down) are drawn again on the open screen, through a scripted menu that records every
redraw, on libvirt's test driver (its events are real: the driver sends them on libvirt's
event loop). The real fzf in tmux, with virsh on a real daemon, is test_picker.py's live tier."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import libvirt
from fakemenu import RecordingNotifier, ScriptedMenu, Step, esc, pick, yes

from vmm.model.metadata import Metadata
from vmm.model.rows import Choice, Screen
from vmm.ui.picker.flow import Picker
from vmm.virt.host import Host


class FollowingMenu(ScriptedMenu):
    follows = True
    picker: Picker | None = None

    def redrawn_until(self, seen: Callable[[Screen], bool], timeout: float = 5) -> Screen:
        """The first redraw since the last step for which `seen` holds, waited for."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for screen in self.redrawn:
                if seen(screen):
                    return screen
            time.sleep(0.01)
        drawn = [[row.text for row in screen.rows] for screen in self.redrawn]
        raise AssertionError(f"no redraw showed it; redrawn: {drawn}")


def behind_its_back(
    menu: FollowingMenu, change: Callable[[], object], seen: Callable[[Screen], bool], then: Step
) -> Step:
    """While the screen is open: `change` made by someone else, and the open screen redrawn
    with what `seen` looks for, before the user answers it with `then`."""

    def answer(screen: Screen) -> Choice:
        assert menu.picker and menu.picker.follower and menu.picker.follower.ready.wait(5)
        menu.redrawn.clear()
        change()
        return then.answer(menu.redrawn_until(seen))  # as the user now sees it

    return Step(then.prompt, answer)


def run(host: Host, *steps: Callable[[FollowingMenu], Step]) -> tuple[FollowingMenu, Picker]:
    menu = FollowingMenu(deque())
    menu.steps.extend(step(menu) for step in steps)
    picker = menu.picker = Picker(host, menu, RecordingNotifier(), terminal=False)
    picker.run()
    assert not menu.steps, f"steps left over: the flow ended on {menu.prompts[-1]!r}"
    return menu, picker


def texts(screen: Screen) -> list[str]:
    return [row.text for row in screen.rows]


def test_a_vm_started_elsewhere_shows_running_on_the_open_folder_screen(host):
    gamma = host.conn.lookupByName("gamma")
    seen: list[Screen] = []

    def shows_running(screen: Screen) -> bool:
        if "● gamma  running" in texts(screen):
            seen.append(screen)
            return True
        return False

    menu, _ = run(host, lambda m: behind_its_back(m, gamma.create, shows_running, esc(on="/")))
    assert "○ gamma  shutoff" in texts(menu.screens[0])
    assert seen[0].prompt == "/" and seen[0].rows[0].text == "▸ lab/  (3)"


def test_the_vm_screen_offers_what_the_vms_new_state_allows(host):
    """Started elsewhere while its screen is open: Start gives way to Shut down, and Enter on
    it acts on the VM as it is now."""
    gamma = host.conn.lookupByName("gamma")

    def offers_shutdown(screen: Screen) -> bool:
        return "Shut down" in texts(screen) and "[running]" in screen.header

    menu, _ = run(
        host,
        lambda m: pick("gamma", on="/"),
        lambda m: behind_its_back(m, gamma.create, offers_shutdown, pick("Force off")),
        lambda m: yes(),
    )
    assert "Start" in texts(menu.screens[1])
    assert gamma.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF  # force off acted on the running VM


def test_a_vm_undefined_elsewhere_leaves_its_screen_saying_so(host):
    gamma = host.conn.lookupByName("gamma")

    def gone(screen: Screen) -> bool:
        return not screen.rows and "this VM is gone" in screen.header

    run(
        host,
        lambda m: pick("gamma", on="/"),
        lambda m: behind_its_back(m, gamma.undefine, gone, esc(on="gamma")),
    )


def test_a_vm_moved_by_another_client_leaves_the_folder_on_screen(host):
    """vmm in another terminal moved alpha out of /lab/web: the metadata event redraws."""
    alpha = host.conn.lookupByName("alpha")

    def move() -> None:  # as `vmm mv` in another terminal writes it
        host.write_metadata(alpha, Metadata("/elsewhere"))

    def without_alpha(screen: Screen) -> bool:
        return not any("alpha" in text for text in texts(screen))

    run(
        host,
        lambda m: pick("lab/", on="/"),
        lambda m: pick("web/", on="/lab"),
        lambda m: behind_its_back(m, move, without_alpha, esc(on="/lab/web")),
    )
    assert host.find("alpha").path == "/elsewhere"


def test_every_host_of_several_is_followed(history):
    """Two hosts with the same VMs: a change on one host redraws only that host's row."""
    from conftest import node_uri

    from vmm.virt.fleet import Fleet

    hosts = [Host(libvirt.open(node_uri()), name) for name in ("a", "b")]
    fleet = Fleet(hosts, [], history)
    gamma_on_b = hosts[1].conn.lookupByName("gamma")

    def b_running(screen: Screen) -> bool:
        return "● b:gamma  @b  running" in texts(screen)

    try:
        menu, _ = run(fleet, lambda m: behind_its_back(m, gamma_on_b.create, b_running, esc()))
    finally:
        fleet.close()
    redrawn = texts(menu.redrawn[-1])
    assert "○ a:gamma  @a  shutoff" in redrawn and "● b:gamma  @b  running" in redrawn


def test_a_menu_that_cannot_redraw_is_not_followed(host):
    """wofi reads its rows once: nothing follows the host behind it, nothing is redrawn."""
    menu = ScriptedMenu(deque([esc(on="/")]))
    picker = Picker(host, menu, RecordingNotifier(), terminal=False)
    picker.run()
    assert picker.follower is None and menu.redrawn == []
