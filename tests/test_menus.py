"""Menu backends' encoding, without a screen: what reaches fzf, wofi and dmenu launchers."""

import pytest

from vmm.menus import Cell, MenuError, Row, Screen, backend
from vmm.menus.dmenu import plain_lines
from vmm.menus.fzf import _render
from vmm.menus.wofi import WofiMenu, markup


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
