"""The live picker as a person sees it: the real vmm in tmux with the real fzf, while another
client (this test's own libvirt connection, as virsh would) changes the host under it."""

from __future__ import annotations

import re
import time

import libvirt
import pytest
from conftest import SHARED_URI, domain_xml, require_tmux_and_fzf, vmm_exe, vmm_meta
from tmux import Terminal


@pytest.fixture
def terminal(tmp_path):
    require_tmux_and_fzf()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {
        "TMPDIR": str(scratch),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "TERM": "xterm-256color",
    }
    opened: list[Terminal] = []

    def start(uri: str = SHARED_URI) -> Terminal:
        term = Terminal([vmm_exe(), "-c", uri], env, cwd=str(scratch), width=160, height=40)
        opened.append(term)
        return term

    yield start
    for term in opened:
        term.close()


def cursor_line(term: Terminal) -> str:
    lines = [line for line in term.screen().splitlines() if line.startswith("> ")]
    assert len(lines) == 1, term.screen()
    return lines[0]


def listed_rows(term: Terminal) -> int:
    """The rows fzf holds, from its match counter ("< 2/5": 2 of 5 match the query)."""
    found = re.search(r"< \d+/(\d+)", term.screen().splitlines()[0])
    assert found, term.screen()
    return int(found[1])


def wait_until(condition, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)


def test_a_vm_started_by_another_client_turns_running_without_a_key(shared, terminal):
    p = shared.prefix
    vm = shared("live1", meta=vmm_meta(f"/{p}live"))
    term = terminal()
    term.pick("/", f"{p}live/")
    term.wait_for_prompt(f"/{p}live")
    term.keys("Down")  # onto the VM: its preview shows
    term.wait_for("state:       shutoff")
    vm.create()
    term.wait_for(f"● {vm.name()}  running", timeout=5)
    term.wait_for("state:       running", timeout=5)  # the preview follows too
    vm.destroy()
    term.wait_for(f"○ {vm.name()}  shutoff", timeout=5)


def test_the_cursor_stays_on_its_vm_when_a_vm_appears_above_it(shared, terminal):
    p = shared.prefix
    folder = vmm_meta(f"/{p}live")
    shared("b-vm", meta=folder)
    target = shared("c-vm", meta=folder)
    term = terminal()
    term.pick("/", f"{p}live/")
    term.wait_for_prompt(f"/{p}live")
    term.keys("Down", "Down")  # from "..", past b-vm, onto c-vm
    term.wait_for(f"> ○ {target.name()}")
    shared("a-vm", meta=folder)  # sorts first: every row below it moves down one
    term.wait_for(f"○ {p}a-vm  shutoff", timeout=5)
    assert target.name() in cursor_line(term)
    term.keys("Enter")
    term.wait_for_prompt(target.name())


def test_typing_after_a_redraw_takes_the_cursor_to_the_best_match(shared, terminal):
    """The cursor is tracked through a reload, not afterwards: on web-a's row, whose label
    holds a `b`, typing "web-b" must land on web-b (with fzf's --track it stayed on web-a)."""
    p = shared.prefix
    first = shared("web-a", meta=vmm_meta(f"/{p}live", "lab"))
    wanted = shared("web-b", meta=vmm_meta(f"/{p}live"))
    term = terminal()
    term.pick("/", f"{p}live/")
    term.wait_for_prompt(f"/{p}live")
    term.keys("Down")
    term.wait_for(f"> ○ {first.name()}")
    shared("new-vm", meta=vmm_meta(f"/{p}live"))  # a redraw, the cursor tracked through it
    term.wait_for(f"○ {p}new-vm  shutoff", timeout=5)
    assert first.name() in cursor_line(term)
    term.search("web-b")
    assert wanted.name() in cursor_line(term)
    term.keys("C-u")
    term.search("web-")  # web-a first again (ties go by row order), the cursor on it
    assert first.name() in cursor_line(term)
    rows = listed_rows(term)
    shared("old-vm", meta=vmm_meta(f"/{p}live"))  # a redraw while typing: web-a tracked
    wait_until(lambda: listed_rows(term) == rows + 1)
    term.search("b")  # the query now reads "web-b"
    assert wanted.name() in cursor_line(term)
    term.keys("Enter")
    term.wait_for_prompt(wanted.name())


def test_a_selection_survives_a_redraw_and_the_quick_key_acts_on_it(shared, terminal):
    p = shared.prefix
    folder = vmm_meta(f"/{p}live")
    chosen = shared("b-vm", meta=folder)
    other = shared("c-vm", meta=folder)
    term = terminal()
    term.pick("/", f"{p}live/")
    term.wait_for_prompt(f"/{p}live")
    term.keys("Down", "Tab")  # b-vm selected; the cursor moves on to c-vm
    term.wait_for(f"+○ {chosen.name()}")
    shared("a-vm", meta=folder)
    term.wait_for(f"○ {p}a-vm  shutoff", timeout=5)
    term.wait_for(f"+○ {chosen.name()}")
    term.keys("C-s")
    term.wait_for(f"{chosen.name()}: started")
    assert chosen.isActive() and not other.isActive()


def test_a_daemon_restarted_under_the_picker_is_shown_lost_then_back(private_daemon, terminal):
    """The connection closes with the daemon; the header says so, vmm reconnects, and lists
    the new daemon's host: the VM defined on the old one is gone from the screen."""
    conn = libvirt.open(private_daemon.uri)  # held open: the test node lives while it does
    conn.defineXML(domain_xml("ephemeral"))
    term = terminal(private_daemon.uri)
    term.wait_for("○ ephemeral  shutoff")
    private_daemon.restart()
    term.wait_for("connection lost at", timeout=10)
    term.wait_for("connection back; listed again", timeout=15)
    wait_until(lambda: "ephemeral" not in term.screen())  # the rows follow the header's word
    screen = term.wait_for("● test  running")
    assert "ephemeral" not in screen and "connection lost at" not in screen
