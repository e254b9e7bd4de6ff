"""The picker follows the hosts: a VM started, stopped, defined or moved by anyone shows at once.

The hosts' events (vmm.virt.events) arrive on libvirt's event thread and are queued; one thread
of this module takes them in bursts (whatever came within `SETTLE_SECONDS` of the first), re-reads
the VMs they name, and has the picker draw its open screen again. A host whose connection closed
is named in the header until it is back, and then listed again as a whole.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from vmm.model.errors import VmmError
from vmm.virt.errors import LibvirtError
from vmm.virt.events import Change, Watch

if TYPE_CHECKING:
    from vmm.ui.picker.listing import Listing
    from vmm.virt.hosts import Hosts

SETTLE_SECONDS = 0.02  # a burst (a script starting fifty VMs) is one redraw, not fifty
# and a host that never stops changing is redrawn at most this often: fzf drops what is typed
# while it finds the cursor's row in the new list
REDRAW_INTERVAL = 0.15


class Follower:
    def __init__(
        self,
        host: Hosts,
        listing: Listing,
        redraw: Callable[[], None],
        report: Callable[..., None],
        label: str,
    ) -> None:
        self.host = host
        self.label = label  # how the header names a host that has no name of its own
        self.listing = listing
        self.redraw = redraw
        self.report = report
        self.lost: dict[str, Change] = {}  # host name -> how it was lost
        self._changes: queue.SimpleQueue[Change | None] = queue.SimpleQueue()
        self._watch: Watch | None = None
        self._stopped = False
        self.ready = threading.Event()  # following: every change from now on will be drawn
        threading.Thread(target=self._follow, daemon=True, name="vmm-follow").start()

    def notes(self) -> list[str]:
        """What the header says while a host's connection is gone."""
        return [
            f"host {name or self.label}: connection lost at {_clock(change.at)} ({change.why});"
            " reconnecting…"
            for name, change in self.lost.items()
        ]

    def stop(self) -> None:
        self._stopped = True
        self._changes.put(None)
        if self._watch is not None:
            self._watch.close()

    def _follow(self) -> None:
        try:
            hosts = self.host.hosts  # (waits for a host still being opened)
            self._watch = Watch(hosts, self._changes.put)
        except (VmmError, LibvirtError):
            return  # the picker already says why the host cannot be listed
        if self._stopped:
            self._watch.close()
            return
        self.listing.start()
        if self.listing.wait_fresh():  # what happened before the listing is in it
            self.redraw()  # the last run's listing on screen gives way to the fresh one
        self.ready.set()
        redrawn = 0.0
        while (burst := self._burst(redrawn + REDRAW_INTERVAL)) is not None:
            try:
                self._apply(burst)
                self.redraw()
            except Exception as err:  # on this thread it would end following, unseen
                self.report(f"cannot draw the host's changes: {err}", error=True)
            redrawn = time.monotonic()

    def _burst(self, not_before: float) -> list[Change] | None:
        first = self._changes.get()
        if first is None:
            return None
        burst = [first]
        deadline = max(time.monotonic() + SETTLE_SECONDS, not_before)
        while (left := deadline - time.monotonic()) > 0:
            try:
                change = self._changes.get(timeout=left)
            except queue.Empty:
                break
            if change is None:
                return None
            burst.append(change)
        return burst

    def _apply(self, burst: list[Change]) -> None:
        keys: dict[str, None] = {}
        back: list[str] = []
        for change in burst:
            if change.kind == "lost":
                self.lost[change.host] = change
            elif change.kind == "back":
                self.lost.pop(change.host, None)
                back.append(change.host or self.label)
            else:
                keys[change.key] = None
        try:
            if back:
                self.listing.reload()
            elif keys:
                self.listing.refresh(keys)
        except (VmmError, LibvirtError) as err:
            self.report(f"cannot follow the host: {err}", error=True)
            return
        for host in back:  # said once it is so: the list on screen is the new one
            self.report(f"host {host}: connection back; listed again")


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))
