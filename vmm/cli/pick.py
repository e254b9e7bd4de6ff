"""`vmm` with no subcommand: the picker, in a terminal (fzf) or from a launcher (wofi, dmenu).

In wofi/dmenu mode nothing may wait on a terminal: outcomes and errors go to notify-send, and
ssh asks for passwords through `wofi --password` (SSH_ASKPASS).
"""

from __future__ import annotations

import os
import shutil
import sys

from vmm.cli.base import Session
from vmm.errors import InvalidInput, VmmError


def on_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def choose_menu(name: str, configured: str | None) -> str:
    """`auto`: the config's choice, else fzf on a terminal, else wofi in a Wayland session."""
    if name != "auto":
        return name
    if configured and (configured != "fzf" or on_terminal()):
        return configured
    if on_terminal():
        return "fzf"
    if os.environ.get("WAYLAND_DISPLAY") and shutil.which("wofi"):
        return "wofi"
    raise InvalidInput("no terminal and no Wayland session: name a menu with --menu")


def use_menu_for_passwords() -> None:
    """ssh (behind qemu+ssh:// URIs) asks through vmm-askpass, i.e. `wofi --password`."""
    askpass = os.path.join(os.path.dirname(sys.executable), "vmm-askpass")
    if os.path.exists(askpass):
        os.environ["SSH_ASKPASS"] = askpass
        os.environ["SSH_ASKPASS_REQUIRE"] = "force"


def run_picker(session: Session, menu_name: str) -> None:
    from vmm.config import config_path, load
    from vmm.menus import MenuError, backend
    from vmm.notify import Desktop, StatusLine

    config = load(config_path())
    name = choose_menu(menu_name, config.menu)
    terminal = name == "fzf"
    notifier = StatusLine() if terminal else Desktop()
    if not terminal:
        use_menu_for_passwords()
    options = {"command": config.menu_command or ""} if name == "dmenu" else {}
    try:
        menu = backend(name, **options)
        try:
            _run(session, menu, notifier, terminal)
        finally:
            close = getattr(menu, "close", None)
            if close is not None:
                close()
    except (MenuError, VmmError) as err:
        if not terminal:
            notifier.error(str(err))
        raise InvalidInput(str(err)) from None


def _run(session: Session, menu, notifier, terminal: bool) -> None:
    import gc

    from vmm.picker import Picker

    picker = Picker(session.host(), menu, notifier, terminal=terminal)
    # The collector is off for one-shot commands (see vmm.entry); the picker lives as long as
    # the user likes, so it is turned back on, once start-up's objects are set aside for good.
    gc.freeze()
    gc.enable()
    picker.run()
