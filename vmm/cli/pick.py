"""`vmm` with no subcommand: the picker, in a terminal (fzf) or from a launcher (wofi, dmenu)."""

from __future__ import annotations

import sys

from vmm.cli.base import Session
from vmm.errors import InvalidInput


def choose_menu(name: str) -> str:
    """`auto` is fzf on a terminal; without one there is no menu to fall back on yet."""
    if name != "auto":
        return name
    if sys.stdin.isatty() and sys.stdout.isatty():
        return "fzf"
    raise InvalidInput("no terminal: run vmm in a terminal, or name a menu with --menu")


def run_picker(session: Session, menu_name: str) -> None:
    from vmm.menus import MenuError, backend
    from vmm.notify import StatusLine
    from vmm.picker import Picker

    name = choose_menu(menu_name)
    try:
        menu = backend(name)
    except MenuError as err:
        raise InvalidInput(str(err)) from None
    try:
        Picker(session.host(), menu, StatusLine(), terminal=name == "fzf").run()
    except MenuError as err:
        raise InvalidInput(str(err)) from None
    finally:
        close = getattr(menu, "close", None)
        if close is not None:
            close()
