"""Opening libvirt connections: URIs checked, a deadline for hosts that never answer, keepalive."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import TypeVar

import libvirt

from vmm.model.errors import ConnectionFailed
from vmm.virt.errors import is_auth_failure, one_line

T = TypeVar("T")

# URI schemes of libvirt's drivers; anything else is a typo, not a host.
# fmt: off
_DRIVERS = frozenset({
    "qemu", "test", "lxc", "xen", "libxl", "vbox", "vmwareplayer", "vmwarews", "vmwarefusion",
    "esx", "gsx", "vpx", "hyperv", "openvz", "bhyve", "ch", "vz", "parallels", "virtuozzo",
    "remote", "network", "nodedev", "nwfilter", "secret", "storage", "interface",
})
# fmt: on


def check_uri(uri: str) -> None:
    """Refuse what libvirt would misread: a foreign scheme, a test node file that is not there."""
    scheme = uri.split(":", 1)[0] if ":" in uri else ""
    if scheme.split("+", 1)[0].lower() not in _DRIVERS:
        raise ConnectionFailed(
            f"{uri!r} is not a libvirt URI (examples: qemu:///system, qemu+ssh://host/system)"
        )
    # libxml2 would print its own warning about a missing node file before failing
    node = uri.removeprefix("test://").split("?", 1)[0]
    if scheme == "test" and node not in ("/default", "") and not os.path.isfile(node):
        raise ConnectionFailed(f"cannot connect to {uri}: no test node file {node}")


def in_process(uri: str | None) -> bool:
    """A driver that runs inside vmm (test:///...): its calls can never wait on a host."""
    return bool(uri) and uri.split(":", 1)[0] == "test" and uri.startswith("test:///")


# A password typed for ssh must not be cut short by the deadline meant for silent hosts.
_SSH_OPEN_SECONDS = 120.0


def open_connection(
    uri: str | None,
    *,
    readonly: bool = False,
    timeout: float | None = None,
    keepalive: bool = True,
) -> libvirt.virConnect:
    """Open `uri` (None: libvirt's own default), or fail with a message that says which URI.

    With `timeout`, a host that does not answer fails the open after that many seconds, and
    once open, libvirt's keepalive closes the connection when the host stops answering for
    about as long: a call waiting on it then fails instead of waiting for ever.

    Without `keepalive`, no event loop runs for it: the caller guards each wait itself (a
    listing: vmm.virt.parallel's `stall`). Keepalive needs libvirt's event loop, which wakes
    some eight times per call and takes the GIL each time: a tenth of a listing's time."""
    if uri:
        check_uri(uri)
    if in_process(uri):  # nothing to keep alive; vmm.virt.events starts the loop if it is asked
        return _open(uri, readonly)
    if keepalive:
        start_event_loop()
    if timeout is None:
        return _open(uri, readonly)
    transport = (uri or "").split(":", 1)[0].partition("+")[2]
    deadline = max(timeout, _SSH_OPEN_SECONDS) if "ssh" in transport else timeout
    conn = _within(deadline, lambda: _open(uri, readonly), uri)
    if keepalive:
        with contextlib.suppress(libvirt.libvirtError):  # a driver without keepalive
            conn.setKeepAlive(max(1, round(timeout / 3)), 2)
    return conn


def _within(seconds: float, work: Callable[[], T], uri: str | None) -> T:
    """`work()` on a thread of its own, given up after `seconds` (the thread is left behind:
    a call that never returns cannot be stopped, only abandoned)."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as err:
            outcome.append((False, err))

    thread = threading.Thread(target=run, daemon=True, name="vmm-open")
    thread.start()
    thread.join(seconds)
    if not outcome:
        shown = uri or "libvirt's default URI"
        raise ConnectionFailed(f"cannot connect to {shown}: no answer within {seconds:g}s")
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


_event_loop = threading.Lock()
_event_loop_running = False


def start_event_loop() -> None:
    """libvirt's default event loop on a thread of its own: keepalive and domain events (see
    vmm.virt.events) need one, registered before a connection opens."""
    global _event_loop_running
    with _event_loop:
        if _event_loop_running:
            return
        libvirt.virEventRegisterDefaultImpl()
        threading.Thread(target=_run_events, daemon=True, name="vmm-events").start()
        _event_loop_running = True


def _run_events() -> None:
    while True:
        libvirt.virEventRunDefaultImpl()


def _open(uri: str | None, readonly: bool) -> libvirt.virConnect:
    try:
        if readonly:
            return libvirt.openReadOnly(uri)
        return libvirt.open(uri)
    except libvirt.libvirtError as err:
        shown = uri or "libvirt's default URI"
        hint = ""
        if is_auth_failure(err):
            hint = " (is your user in the 'libvirt' group?)"
        message = one_line(err.get_error_message() or str(err))
        raise ConnectionFailed(f"cannot connect to {shown}: {message}{hint}") from None
