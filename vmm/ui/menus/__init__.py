"""Menu backends: each shows rows and returns what was chosen. None of them knows about VMs.

A backend is chosen by name from BACKENDS; the picker talks only to the Menu interface.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from vmm.model.rows import Cell, Choice, Row, Screen

__all__ = [
    "BACKENDS",
    "Cancelled",
    "Cell",
    "Choice",
    "Menu",
    "MenuError",
    "Row",
    "Screen",
    "backend",
]


class Cancelled(Exception):
    """The user backed out (Esc): go up one level."""


class MenuError(Exception):
    """The menu program itself failed or is missing."""


class Menu(Protocol):
    follows: bool  # whether an open screen can be drawn again in place (see `redraw`)

    def choose(self, screen: Screen) -> Choice:
        """Show `screen`; raise Cancelled on Esc and KeyboardInterrupt on Ctrl-C."""
        ...

    def redraw(self, screen: Screen) -> None:
        """Replace the screen being shown (called from another thread while `choose` waits),
        keeping the cursor and the selection on the same rows; nothing when none is shown."""
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
