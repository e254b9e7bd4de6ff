"""All-or-nothing multi-step work: each step that makes something registers how to undo it."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

import libvirt
from lxml import etree

from vmm import volumes
from vmm.errors import HostError, InvalidInput, VmmError, describe_os_error
from vmm.metadata import has_control_chars


class Rollback:
    """Undo steps, run newest first when the operation as a whole fails."""

    def __init__(self) -> None:
        self._steps: list[Callable[[], None]] = []

    def push(self, undo: Callable[[], None]) -> None:
        self._steps.append(undo)

    def run(self) -> list[str]:
        """Undo everything that can be; returns why any step could not be undone."""
        failures = []
        with signals_held():
            for undo in reversed(self._steps):
                try:
                    undo()
                except (libvirt.libvirtError, OSError, VmmError) as err:
                    failures.append(str(err))
        return failures


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C or SIGTERM during the block would leave it half done: they take effect after it.

    Python runs signal handlers in the main thread whichever thread the signal reached, so
    blocking them in one thread (pthread_sigmask) is not enough: the handlers are swapped."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers, and only it is interrupted
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, lambda n, _: caught.append(n)) for signum in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if caught:
            signal.raise_signal(caught[0])


@contextlib.contextmanager
def all_or_nothing() -> Iterator[Rollback]:
    """Run the block; if anything in it fails (Ctrl-C too), undo what it registered."""
    rollback = Rollback()
    try:
        yield rollback
    except VmmError as err:
        failures = rollback.run()
        if failures:
            raise HostError(f"{err}; and could not undo: {'; '.join(failures)}") from None
        raise
    except OSError as err:
        failures = rollback.run()
        undo = f"; and could not undo: {'; '.join(failures)}" if failures else ""
        raise HostError(f"{describe_os_error(err)}{undo}") from None
    except BaseException as err:
        failures = rollback.run()
        if failures and isinstance(err, libvirt.libvirtError):
            raise HostError(f"{err}; and could not undo: {'; '.join(failures)}") from None
        raise


def check_name_free(conn: libvirt.virConnect, name: str) -> None:
    if not name.strip() or "/" in name or has_control_chars(name):
        raise InvalidInput(f"bad VM name {name!r}")
    try:
        conn.lookupByName(name)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return
        raise
    raise InvalidInput(f"a VM named {name!r} already exists")


def define_new(conn: libvirt.virConnect, xml: str, rollback: Rollback) -> libvirt.virDomain:
    """Define a VM whose name was free; its undo is registered first, so that an interrupt as
    the definition returns cannot leave it behind."""
    root = etree.fromstring(xml.encode())
    name, has_nvram = root.findtext("name") or "", root.find("os/nvram") is not None
    rollback.push(lambda: _undefine_named(conn, name, has_nvram))
    return conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)


def _undefine_named(conn: libvirt.virConnect, name: str, has_nvram: bool) -> None:
    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return  # the define never happened
        raise
    if has_nvram:
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    else:
        dom.undefine()


def track_image(conn: libvirt.virConnect, path: str, rollback: Rollback) -> str:
    rollback.push(lambda: volumes.delete_image(conn, path))
    return path
