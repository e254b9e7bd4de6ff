"""Following hosts as they change: libvirt's domain events, and connections lost and regained.

One thread, libvirt's default event loop (started by vmm.virt.connection before any connection
opens), runs every callback; they only build a `Change` and hand it on, so whatever acts on it
(re-reading a VM, redrawing a screen) runs elsewhere and never holds up the loop.

A host whose connection closes (its daemon restarted, keepalive gave up on it) is reopened on a
thread of its own every `retry_seconds`; once back, its events are registered again and a
`back` change says that everything on it must be listed again (what changed meanwhile was
never told).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libvirt

from vmm.model.domain import on_host
from vmm.model.errors import VmmError
from vmm.virt.connection import open_connection, start_event_loop

if TYPE_CHECKING:
    from vmm.virt.host import Host

_LIFECYCLE = {
    libvirt.VIR_DOMAIN_EVENT_DEFINED: "defined",
    libvirt.VIR_DOMAIN_EVENT_UNDEFINED: "undefined",
    libvirt.VIR_DOMAIN_EVENT_STARTED: "started",
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: "suspended",
    libvirt.VIR_DOMAIN_EVENT_RESUMED: "resumed",
    libvirt.VIR_DOMAIN_EVENT_STOPPED: "stopped",
    libvirt.VIR_DOMAIN_EVENT_SHUTDOWN: "shutdown",
    libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: "pmsuspended",
    libvirt.VIR_DOMAIN_EVENT_CRASHED: "crashed",
}
_AGENT = {
    libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED: "agent-connected",
    libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_DISCONNECTED: "agent-disconnected",
}
_CLOSED = {
    libvirt.VIR_CONNECT_CLOSE_REASON_ERROR: "an error",
    libvirt.VIR_CONNECT_CLOSE_REASON_EOF: "the daemon closed it",
    libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE: "the host stopped answering",
    libvirt.VIR_CONNECT_CLOSE_REASON_CLIENT: "vmm closed it",
}
HOST_EVENTS = ("lost", "back")  # a Change of one of these kinds is about a host, not a VM


@dataclass(frozen=True)
class Change:
    host: str  # the host's name ("" for a single unnamed host)
    kind: str  # a lifecycle word ("started", "undefined"...), "metadata", "agent-…", lost, back
    uuid: str = ""  # "" for a host's own changes
    name: str = ""  # the VM's name as the event gave it
    why: str = ""  # for `lost`: why the connection closed
    at: float = field(default_factory=time.time)

    @property
    def key(self) -> str:
        """The changed VM as a listing's `Domain.key` names it."""
        return on_host(self.host, self.uuid)


Receiver = Callable[[Change], None]


class _Followed:
    """One host's registrations, and its reconnection when the connection closes."""

    def __init__(self, host: Host, receive: Receiver, watch: Watch) -> None:
        self.host = host
        self.receive = receive
        self.watch = watch
        self.uri = host.uri  # asked now: once the connection is gone, it cannot be
        self.callbacks: list[int] = []
        self.lost = False
        self.register()

    def register(self) -> None:
        conn = self.host.conn
        events = (
            (libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._lifecycle),
            (libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE, self._metadata),
            (libvirt.VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE, self._agent),
        )
        self.callbacks = []
        for event, callback in events:
            with contextlib.suppress(libvirt.libvirtError):  # a driver without that event
                self.callbacks.append(conn.domainEventRegisterAny(None, event, callback, None))
        with contextlib.suppress(libvirt.libvirtError):  # in-process drivers never close
            conn.registerCloseCallback(self._closed, None)

    def unregister(self) -> None:
        conn = self.host.conn
        for callback in self.callbacks:
            with contextlib.suppress(libvirt.libvirtError):
                conn.domainEventDeregisterAny(callback)
        self.callbacks = []
        with contextlib.suppress(libvirt.libvirtError):
            conn.unregisterCloseCallback()

    def _vm(self, dom: libvirt.virDomain, kind: str) -> None:
        with contextlib.suppress(libvirt.libvirtError):
            self.receive(Change(self.host.name, kind, dom.UUIDString(), dom.name()))

    def _lifecycle(self, _conn, dom, event: int, _detail: int, _opaque) -> None:
        self._vm(dom, _LIFECYCLE.get(event, "changed"))

    def _metadata(self, _conn, dom, _type: int, _nsuri, _opaque) -> None:
        self._vm(dom, "metadata")

    def _agent(self, _conn, dom, state: int, _reason: int, _opaque) -> None:
        self._vm(dom, _AGENT.get(state, "agent"))

    def _closed(self, _conn, reason: int, _opaque) -> None:
        if self.lost or self.watch.closed:
            return
        self.lost = True
        self.receive(Change(self.host.name, "lost", why=_CLOSED.get(reason, "it closed")))
        threading.Thread(target=self._reconnect, daemon=True, name="vmm-reconnect").start()

    def _reconnect(self) -> None:
        while not self.watch.closed:
            time.sleep(self.watch.retry_seconds)
            try:
                conn = open_connection(self.uri, timeout=self.watch.timeout)
            except (VmmError, libvirt.libvirtError):
                continue
            if self.watch.closed:
                conn.close()
                return
            old, self.host.conn = self.host.conn, conn
            with contextlib.suppress(libvirt.libvirtError):
                old.close()
            self.lost = False
            self.register()
            self.receive(Change(self.host.name, "back"))
            return


class Watch:
    """The events of every host given, handed to `receive` as they come (on libvirt's event
    thread: it must return quickly), until `close()`."""

    def __init__(
        self,
        hosts: list[Host],
        receive: Receiver,
        *,
        retry_seconds: float = 2.0,
        timeout: float = 5.0,
    ) -> None:
        start_event_loop()  # (opening a connection started it: this is for in-process hosts)
        self.closed = False
        self.retry_seconds = retry_seconds
        self.timeout = timeout
        self._followed = [_Followed(host, receive, self) for host in hosts]

    def lost(self) -> list[str]:
        """The hosts whose connection is gone (and being reopened)."""
        return [f.host.name for f in self._followed if f.lost]

    def close(self) -> None:
        self.closed = True
        for followed in self._followed:
            if not followed.lost:
                followed.unregister()
