"""Several libvirt hosts as one: a merged listing, names resolved to the right host.

Hosts are opened and listed concurrently, each with a time limit, so a dead or slow host costs
a warning, never the others. A Fleet answers the same calls as a Host and hands each one to
the host the VM lives on.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

import libvirt

from vmm.model.domain import Domain
from vmm.model.errors import ConnectionFailed, InvalidInput, NotFound, VmmError
from vmm.virt.host import LIST_WORKERS, Host
from vmm.virt.vm import Vm

if TYPE_CHECKING:
    from vmm.virt.host import Journal

T = TypeVar("T")
DEFAULT_TIMEOUT = 5.0
MIN_WORKERS = 16


@dataclass(frozen=True)
class HostSpec:
    name: str
    uri: str
    pool: str | None = None


DEADLINE_GRACE = 0.5


def _with_deadline(
    work: dict[str, Callable[[], T]], timeout: float
) -> tuple[dict[str, T], dict[str, str]]:
    """Run each job on its own thread; returns results and, per failed job, why."""
    results: dict[str, T] = {}
    failures: dict[str, str] = {}

    def run(key: str, job: Callable[[], T]) -> None:
        try:
            results[key] = job()
        except VmmError as err:
            failures[key] = str(err)
        except libvirt.libvirtError as err:
            failures[key] = " ".join((err.get_error_message() or str(err)).split())

    threads = {
        key: threading.Thread(target=run, args=(key, job), daemon=True) for key, job in work.items()
    }
    for thread in threads.values():
        thread.start()
    for key, thread in threads.items():
        # all threads started together, so this bounds the whole wait; the grace lets a job's
        # own deadline (which names what it waited for) answer first
        thread.join(timeout + DEADLINE_GRACE)
        if thread.is_alive():
            failures[key] = f"no answer within {timeout:g}s"
    return results, failures


class Fleet:
    def __init__(self, hosts: list[Host], warnings: list[str], history: Journal | None) -> None:
        self.hosts = hosts
        self.warnings = warnings
        self.history = history
        self.timeout = DEFAULT_TIMEOUT
        self.name = ""
        self.unreachable: list[str] = []  # configured hosts that could not be opened

    @classmethod
    def open(
        cls,
        specs: list[HostSpec],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        history: Journal | None = None,
        keepalive: bool = True,
    ) -> Fleet:
        def opening(spec: HostSpec) -> Callable[[], Host]:
            return lambda: Host.open(spec.uri, spec.name, history, timeout, keepalive=keepalive)

        jobs = {spec.name: opening(spec) for spec in specs}
        opened, failed = _with_deadline(jobs, timeout)
        if not opened:
            reasons = "; ".join(f"{name}: {why}" for name, why in failed.items())
            raise ConnectionFailed(f"no host could be reached ({reasons})")
        hosts = [opened[spec.name] for spec in specs if spec.name in opened]
        for spec in specs:
            if spec.name in opened:
                opened[spec.name].pool = spec.pool
        fleet = cls(hosts, [f"host {name}: {why}" for name, why in failed.items()], history)
        fleet.timeout = timeout
        fleet.unreachable = [spec.name for spec in specs if spec.name not in opened]
        return fleet

    # -- what the picker and the CLI ask of a host -------------------------------------------

    several = True

    @property
    def label(self) -> str:
        return f"{len(self.hosts)} hosts ({', '.join(h.name for h in self.hosts)})"

    @property
    def uri(self) -> str:
        return ", ".join(h.uri for h in self.hosts)

    @property
    def home(self) -> Host:
        """The first host: where `vmm new` defines a VM."""
        return self.hosts[0]

    def host_named(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise NotFound(f"no host named {name!r} (hosts: {', '.join(h.name for h in self.hosts)})")

    def owner(self, dom: libvirt.virDomain) -> Host:
        conn = dom.connect()
        for host in self.hosts:
            if host.conn is conn:
                return host
        raise NotFound(f"VM {dom.name()!r} belongs to none of the open hosts")

    def domains(self) -> list[Domain]:
        """Every VM of every host that answers in time; a VM whose name is on several hosts is
        shown as HOST:NAME."""
        # One budget of calls in flight for all hosts: vmm's own CPU caps how fast answers can be
        # read, and past that each thread only costs its creation (some 0.1 ms).
        workers = max(MIN_WORKERS, LIST_WORKERS // len(self.hosts))
        jobs = {h.name: (lambda h=h: h.domains(workers)) for h in self.hosts}
        listed, failed = _with_deadline(jobs, self.timeout)
        self.warnings += [f"host {name}: {why}" for name, why in failed.items()]
        merged = [d for host in self.hosts for d in listed.get(host.name, [])]
        clashing = {name for name, n in Counter(d.name for d in merged).items() if n > 1}
        return [
            replace(d, qualified=f"{d.host}:{d.name}") if d.name in clashing else d for d in merged
        ]

    def lookup(self, ref: str) -> libvirt.virDomain:
        """A VM by HOST:NAME, NAME or UUID; a bare one only when every host has said whether
        it holds it, and only one does (acting on `web1` of the host that answered would be
        wrong when the silent one has a `web1` too)."""
        if ref.startswith("/"):
            raise NotFound(f"no VM named {ref!r}")  # a folder: libvirt names hold no '/'
        host_name, _, name = ref.partition(":")
        if name and host_name in {h.name for h in self.hosts}:
            try:
                return self.host_named(host_name).lookup(name)
            except NotFound:
                pass  # a VM whose own name holds a ':'
        found, silent = self._everywhere(ref)
        if len(found) > 1:
            names = ", ".join(f"{host.name}:{ref}" for host, _ in found)
            raise InvalidInput(f"{ref!r} is on several hosts; name one: {names}")
        if silent:
            raise InvalidInput(
                f"host {', '.join(silent)} could not be asked and may hold {ref!r} too:"
                " name the VM as HOST:NAME"
            )
        if found:
            return found[0][1]
        raise NotFound(f"no VM named {ref!r} on any host")

    def _everywhere(self, ref: str) -> tuple[list[tuple[Host, libvirt.virDomain]], list[str]]:
        """The hosts that hold `ref`, and those that did not answer."""

        def on(host: Host) -> Callable[[], libvirt.virDomain | None]:
            def look() -> libvirt.virDomain | None:
                try:
                    return host.lookup(ref)
                except NotFound:
                    return None

            return look

        found, failed = _with_deadline({h.name: on(h) for h in self.hosts}, self.timeout)
        self.warnings += [f"host {name}: {why}" for name, why in failed.items()]
        held = [(h, found[h.name]) for h in self.hosts if found.get(h.name) is not None]
        return held, [*self.unreachable, *failed]

    def by_key(self, key: str) -> libvirt.virDomain:
        """The VM a listing's `Domain.key` (HOST:UUID) stands for."""
        host_name, _, _ = key.rpartition(":")
        return self.host_named(host_name).by_key(key)

    def find(self, ref: str) -> Domain:
        return self.vm(ref).view()

    def vm(self, ref: str) -> Vm:
        dom = self.lookup(ref)
        return Vm(dom, self.owner(dom))

    def vm_by_key(self, key: str) -> Vm:
        host_name, _, _ = key.rpartition(":")
        return self.host_named(host_name).vm_by_key(key)

    def find_key(self, key: str) -> Domain:
        return self.vm_by_key(key).view()

    def close(self) -> None:
        """Closing is a round trip per host: taken at once, and never longer than the timeout
        (a host that stopped answering must not hold up the exit)."""
        _with_deadline({h.name: h.close for h in self.hosts}, self.timeout)
