"""All-or-nothing multi-step work: each step that makes something registers how to undo it."""

from __future__ import annotations

import contextlib
import signal
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
        # Ctrl-C or SIGTERM during the undo would leave half of it done: hold them back.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        failures = []
        try:
            for undo in reversed(self._steps):
                try:
                    undo()
                except (libvirt.libvirtError, OSError) as err:
                    failures.append(str(err))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        return failures


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
    dom = conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
    has_nvram = etree.fromstring(xml.encode()).find("os/nvram") is not None
    rollback.push(
        lambda: (
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM) if has_nvram else dom.undefine()
        )
    )
    return dom


def track_image(conn: libvirt.virConnect, path: str, rollback: Rollback) -> str:
    rollback.push(lambda: volumes.delete_image(conn, path))
    return path
