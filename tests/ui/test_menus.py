"""Menu backends' encoding, without a screen: what reaches fzf, wofi and dmenu launchers."""

import shlex
import time

import pytest
from conftest import require_tmux_and_fzf
from tmux import Terminal

from vmm.ui.menus import Cell, MenuError, Row, Screen, backend, fzf_binary
from vmm.ui.menus.dmenu import plain_lines
from vmm.ui.menus.fzf import FzfMenu, Ids, Shown, _render, _state, needs_tracking
from vmm.ui.menus.wofi import WofiMenu, markup


def test_wofi_markup_escapes_names_and_colours_states():
    assert markup(Cell("<b>x</b> & co")) == "&lt;b&gt;x&lt;/b&gt; &amp; co"
    assert markup(Cell("●", "running")) == '<span foreground="#3fb950">●</span>'
    assert markup(Cell("a'b\"c")) == "a'b\"c"


def test_wofi_argv_is_a_list_with_the_prompt_as_one_argument():
    argv = WofiMenu().argv(Screen("/$(touch x) a'b", []))
    assert "--prompt=/$(touch x) a'b" in argv and "--cache-file=/dev/null" in argv


def test_fzf_rows_never_carry_tabs_or_newlines_from_names():
    assert _render(Cell("a\tb\nc")) == "a b c"
    assert _render(Cell("x", "running")) == "\x1b[32mx\x1b[0m"


def test_dmenu_lines_are_unique_so_a_choice_maps_back():
    screen = Screen("p", [Row.plain("1", "web"), Row.plain("2", "web"), Row.plain("3", "db")])
    assert plain_lines(screen) == ["web", "web (2)", "db"]


def test_backends_are_found_by_name_and_an_unknown_one_is_a_clear_error():
    assert type(backend("fzf")).__name__ == "FzfMenu"
    assert type(backend("wofi")).__name__ == "WofiMenu"
    assert type(backend("dmenu", command="fuzzel --dmenu")).__name__ == "DmenuMenu"
    with pytest.raises(MenuError, match="unknown menu 'rofi'"):
        backend("rofi")


def test_the_preview_command_never_runs_a_vmm_from_the_working_directory(tmp_path):
    import subprocess

    planted = tmp_path / "vmm" / "menus"
    planted.mkdir(parents=True)
    for package in (tmp_path / "vmm", planted):
        (package / "__init__.py").write_text("")
    (planted / "preview.py").write_text("print('planted code ran')")
    menu = FzfMenu()
    try:
        command = menu._ask_picker("'0'")  # as fzf runs it for the first row
        menu._server.handler = lambda request: f"preview of row {request}"
        shown = subprocess.run(["sh", "-c", command], cwd=tmp_path, capture_output=True, text=True)
    finally:
        menu.close()
    assert shown.stdout == "preview of row 0"


def test_fzf_rows_go_out_by_a_number_whatever_their_keys_hold():
    screen = Screen("p", [Row.plain("s:a\tb", "a b"), Row.plain("s:a", "a")])
    shown = Shown(screen, "unused.sock")
    lines = shown.show(screen, Ids())
    assert [line.split("\t", 1)[0] for line in lines] == ["0", "1"]
    assert [shown.row_of(line).key for line in lines] == ["s:a\tb", "s:a"]
    assert shown.row_of("7\tx") is None and shown.row_of("s:a\tb") is None


def test_a_row_keeps_its_number_when_the_list_is_drawn_again_in_another_order():
    """What lets fzf (--id-nth) keep the cursor and the selection on it across a reload."""
    ids = Ids()
    first = Screen("p", [Row.plain("vm:a", "a"), Row.plain("vm:b", "b")])
    again = Screen(
        "p", [Row.plain("vm:new", "new"), Row.plain("vm:b", "b ◐"), Row.plain("vm:a", "a")]
    )
    shown = Shown(first, "unused.sock")
    before = dict(line.split("\t") for line in shown.show(first, ids))
    after = dict(line.split("\t") for line in shown.show(again, ids))
    assert after["0"] == "a" and after["1"] == "b ◐" and before["1"] == "b"
    assert shown.row_of("2\tnew").key == "vm:new" and shown.row_of("1\tb").key == "vm:b"


def test_wofi_without_a_display_is_an_error_not_a_silent_exit_0():
    """The real wofi, with no Wayland session to open: vmm --menu wofi says so, exit 1."""
    import shutil

    from conftest import require, run_vmm

    require(shutil.which("wofi") is not None, "wofi is not installed (make test installs it)")
    env = {"WAYLAND_DISPLAY": "", "DISPLAY": "", "XDG_RUNTIME_DIR": "/nonexistent"}
    result = run_vmm("--demo", "--menu", "wofi", env=env)
    assert result.returncode == 1
    assert "wofi cannot open a display" in result.stderr


@pytest.mark.parametrize(
    ("reordered", "state", "tracked"),
    [
        (True, {"query": "", "position": 0}, True),  # rows moved: the cursor's row may have
        (False, {"query": "", "position": 3}, False),  # same order, no query: same place, row
        (False, {"query": "web", "position": 0}, False),  # on the best match: stays on it
        (True, {"query": "web", "position": 0}, False),  # also when the rows moved
        (False, {"query": "web", "position": 2}, True),  # moved off it: scores may reorder
        (False, None, True),  # fzf could not say
    ],
)
def test_a_reload_tracks_the_cursor_only_where_it_could_land_elsewhere(reordered, state, tracked):
    """fzf drops the keys typed while it tracks a row through a reload."""
    assert needs_tracking(reordered, state) is tracked


def test_the_query_and_cursor_are_read_from_the_open_fzf(tmp_path):
    """What needs_tracking is given: the real fzf's answer on its --listen socket."""
    require_tmux_and_fzf()
    sock = tmp_path / "fzf.sock"
    (tmp_path / "rows").write_text("web-a\nweb-b\ndb\n")
    options = ["--layout=reverse", "--info=inline", "--prompt=q> ", "--pointer=>"]
    fzf = shlex.join([fzf_binary.find()[0], f"--listen={sock}", *options])
    term = Terminal(["sh", "-c", f"exec {fzf} < rows"], {}, cwd=str(tmp_path))
    try:
        term.wait_for_prompt("q")
        assert (_state(str(sock))["query"], _state(str(sock))["position"]) == ("", 0)
        term.keys("Down", "Down")
        term.wait_for("> db")
        assert (_state(str(sock))["query"], _state(str(sock))["position"]) == ("", 2)
        term.search("web")
        state = _state(str(sock))
        # fzf's own way, which the picker's change:first undoes: the cursor keeps its place
        assert (state["query"], state["position"], state["current"]["text"]) == ("web", 1, "web-b")
    finally:
        term.close()
    deadline = time.monotonic() + 10  # the terminal is closed; fzf ends a moment later
    while _state(str(sock)) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _state(str(sock)) is None  # fzf gone: the reload is tracked, to be safe
