"""`vmm` with no subcommand: the picker, in a terminal (fzf) or from a launcher (wofi, dmenu).

In wofi/dmenu mode nothing may wait on a terminal: outcomes and errors go to notify-send, and
ssh asks for passwords through `wofi --password` (SSH_ASKPASS).
"""

from __future__ import annotations

import os
import shutil
import sys
import threading

from vmm.model.errors import InvalidInput, VmmError
from vmm.ui.cli.session import Session


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
    from vmm.ui.config import config_path, load
    from vmm.ui.menus import MenuError, backend
    from vmm.ui.notify import Desktop, StatusLine

    config = load(config_path())
    name = choose_menu(menu_name, config.menu)
    terminal = name == "fzf"
    if terminal and not on_terminal():
        raise InvalidInput(
            "the fzf menu needs a terminal (stdin and stdout are not one): run vmm in a"
            " terminal, or pick another menu with --menu wofi or --menu dmenu"
        )
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


class OpeningHost:
    """A host being opened on a thread of its own, so that the picker draws the last listing
    at once even when the host is slow, or silent (until the timeout says so). Whatever is
    asked of it waits for the connection."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._opened = threading.Event()
        self._error: BaseException | None = None
        threading.Thread(target=self._open, daemon=True, name="vmm-open-host").start()

    def _open(self) -> None:
        try:
            self._session.host()
        except BaseException as err:  # handed to whoever asks the host for something
            self._error = err
        self._opened.set()

    def __getattr__(self, name: str):
        self._opened.wait()
        if self._error is not None:
            raise self._error
        return getattr(self._session.host(), name)


def _where(session: Session):
    from vmm.ui.config import resolve
    from vmm.ui.picker.flow import HostLabel

    if not session.configured:
        host = session.host()
        return host, HostLabel(host.label, host.uri, hasattr(host, "hosts"))
    target = resolve(session.uri_option, demo=session.demo, all_hosts=session.all_hosts)
    if target.hosts:
        names = ", ".join(h.name for h in target.hosts)
        key = ", ".join(h.uri for h in target.hosts)
        where = HostLabel(f"{len(target.hosts)} hosts ({names})", key, True)
    else:
        shown = target.name or target.uri or "libvirt's default host"
        where = HostLabel(shown, target.uri or "", False)
    return OpeningHost(session), where


def _run(session: Session, menu, notifier, terminal: bool) -> None:
    import gc

    from vmm.ui.picker.flow import Picker

    host, where = _where(session)
    picker = Picker(host, menu, notifier, terminal=terminal, where=where)
    # The collector is off for one-shot commands (see vmm.ui.entry); the picker lives as long as
    # the user likes, so it is turned back on, once start-up's objects are set aside for good.
    gc.freeze()
    gc.enable()
    picker.run()
