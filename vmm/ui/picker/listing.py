"""The picker's VMs: the last run's listing at once, the fresh one from a thread, reloads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import replace

from vmm.model.domain import Domain
from vmm.model.errors import VmmError
from vmm.ui import cache
from vmm.virt.errors import LibvirtError, translate
from vmm.virt.hosts import Hosts

Report = Callable[..., None]  # (message, error=...) -> None: the picker's status line


class Listing:
    """Draws the last run's listing at once (`draft`: fzf), and lists the host meanwhile.

    Whatever is chosen on the draft waits for the fresh listing, and the next screen is drawn
    from it. The listing starts with the first preview, when fzf is up, so that its threads do
    not slow the first draw. A menu that follows the hosts (fzf) then draws the fresh listing
    in place of the draft, the cursor and the selection kept on their rows (vmm.ui.picker.live);
    other menus show it from the next screen on.
    """

    def __init__(self, host: Hosts, cache_key: str, report: Report, *, draft: bool) -> None:
        self.host = host
        self.cache_key = cache_key
        self.report = report
        self.vms: dict[str, Domain] = {}
        self._fresh = threading.Event()
        self._error: Exception | None = None
        self._stale = False  # what is shown is the cached draft: the fresh listing failed
        self._lock = threading.Lock()
        self._started = False
        cached = cache.load(cache_key) if draft else None
        if cached is None:
            self.reload()
            self._fresh.set()
        else:
            self.vms = {d.key: d for d in cached}

    def note(self) -> str:
        """What the header adds while the screen shows the draft."""
        if not self._fresh.is_set():
            return "  (as last seen; listing the host…)"
        if self._stale:
            return "  (as last seen; the host could not be listed: ^r tries again)"
        return ""

    def start(self) -> None:
        with self._lock:
            if self._started or self._fresh.is_set():
                return
            self._started = True
        threading.Thread(target=self._list_in_background, daemon=True).start()

    def _list_in_background(self) -> None:
        try:
            fresh = {d.key: d for d in self.host.domains()}
        except Exception as err:  # handed to the main thread, which reports it
            self._error = err
        else:
            self.vms = fresh
            cache.save(self.cache_key, list(fresh.values()))
        self._fresh.set()

    def wait_fresh(self) -> bool:
        """Until the fresh listing is in: whether it is (not when listing failed)."""
        self.start()
        self._fresh.wait()
        return self._error is None and not self._stale

    def wait(self) -> None:
        """Before acting on anything: the fresh listing, not the cached draft. A host that
        cannot be listed leaves the draft on screen, with why on the status line (^r tries
        again); an action chosen on it fails on its own, and says so."""
        self.start()
        self._fresh.wait()
        if self._error is not None:
            error, self._error = self._error, None
            if isinstance(error, LibvirtError):
                error = translate(error)
            if not isinstance(error, VmmError):
                raise error
            self._stale = True
            self.report(f"cannot list the host: {error}", error=True)
        self._report_host_warnings()

    def reload(self) -> None:
        fresh = {d.key: d for d in self.host.domains()}
        with self._lock:
            self.vms = fresh
            self._stale = False
        cache.save(self.cache_key, list(fresh.values()))
        self._report_host_warnings()

    # `vms` is replaced, never changed in place: the picker's thread reads it while the thread
    # that follows the hosts' events (vmm.ui.picker.live) changes it

    def refresh(self, keys: Iterable[str]) -> None:
        """Re-read only these VMs; one that is gone is dropped."""
        fresh: dict[str, Domain | None] = {}
        for key in keys:
            try:
                fresh[key] = self.host.find_key(key)
            except VmmError:
                fresh[key] = None
        with self._lock:
            vms = dict(self.vms)
            for key, view in fresh.items():
                old = vms.pop(key, None)
                if view is not None:
                    vms[key] = replace(view, qualified=old.qualified) if old else view
            self.vms = vms

    def add(self, ref: str) -> None:
        """Show a VM just made; a name it now shares with another host's VM becomes HOST:NAME
        on both, as a fresh listing would show them."""
        view = self.host.find(ref)
        with self._lock:
            vms = {**self.vms, view.key: view}
            twins = [key for key, vm in vms.items() if vm.name == view.name]
            if len(twins) > 1:
                for key in twins:
                    vms[key] = replace(vms[key], qualified=f"{vms[key].host}:{view.name}")
            self.vms = vms

    def _report_host_warnings(self) -> None:
        warnings = self.host.warnings
        if warnings:
            self.report("; ".join(warnings), error=True)
            warnings.clear()
