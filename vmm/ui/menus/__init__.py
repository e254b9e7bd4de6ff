"""Menu backends: each shows rows and returns what was chosen. None of them knows about VMs.

A backend is chosen by name from BACKENDS; the picker talks only to the Menu interface.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class Cancelled(Exception):
    """The user backed out (Esc): go up one level."""


class MenuError(Exception):
    """The menu program itself failed or is missing."""


@dataclass(frozen=True)
class Cell:
    """A piece of a row's text; `style` names what it is, the backend decides how it looks."""

    text: str
    style: str = ""  # running, paused, shutoff, saved, folder, label, dim, action, danger


@dataclass(frozen=True)
class Row:
    key: str  # never shown; what the picker gets back (any text: rows go out by index or line)
    cells: tuple[Cell, ...]

    @classmethod
    def plain(cls, key: str, text: str, style: str = "") -> Row:
        return cls(key, (Cell(text, style),))

    @property
    def text(self) -> str:
        return "".join(cell.text for cell in self.cells)


@dataclass(frozen=True)
class Choice:
    key: str  # "enter", or the name of the quick key pressed ("ctrl-s")
    rows: tuple[str, ...]  # keys of the chosen rows (several with multi-select)
    query: str = ""  # what was typed


@dataclass(frozen=True)
class Screen:
    """One menu: a prompt, rows, and what else the backend may offer."""

    prompt: str
    rows: Sequence[Row]
    header: str = ""  # context and key hints (shown where the backend can)
    keys: dict[str, str] = field(default_factory=dict)  # quick key -> what it does
    multi: bool = False
    preview: Callable[[str], str] | None = None  # row key -> text; backends may ignore it
    free_text: bool = False  # typed text may be returned instead of a row


class Menu(Protocol):
    def choose(self, screen: Screen) -> Choice:
        """Show `screen`; raise Cancelled on Esc and KeyboardInterrupt on Ctrl-C."""
        ...


BACKENDS = {"fzf": "FzfMenu", "wofi": "WofiMenu", "dmenu": "DmenuMenu"}  # module: class


def backend(name: str, **options: object) -> Menu:
    """The named backend; only its own module is imported (the picker's start-up counts)."""
    if name not in BACKENDS:
        raise MenuError(f"unknown menu {name!r} (choose from {', '.join(BACKENDS)})")
    import importlib

    module = importlib.import_module(f"vmm.ui.menus.{name}")
    make: Callable[..., Menu] = getattr(module, BACKENDS[name])
    return make(**options)
