"""One libvirt host: listing its VMs as domain views, finding them, reading and writing metadata."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

import libvirt

from vmm.model.domain import Domain, state_name
from vmm.model.errors import ConnectionFailed, InvalidInput, NotFound, VmmError
from vmm.model.journal import Entry, last_writes, meta_json
from vmm.model.metadata import Metadata
from vmm.model.sides import Reading
from vmm.virt.connection import in_process, open_connection
from vmm.virt.errors import as_vmm_errors, is_domain_missing
from vmm.virt.listing import (
    LIST_WORKERS,
    UUID_PATTERN,
    Answer,
    Listed,
    ask,
    ask_unless_gone,
    view_of,
)
from vmm.virt.parallel import Silent, parallel_map, pipelined_map, timed, waited
from vmm.virt.vm import Vm
from vmm.virt.vm_metadata import read_stored, set_metadata


class Journal(Protocol):
    """Where a host's changes are journalled (vmm.ops.history.History is one)."""

    failures: list[str]

    def record(self, entry: Entry) -> None: ...

    def entries(self) -> list[Entry]: ...


class Host:
    """A connection to one libvirt host. Connections are opened at the edge and passed in."""

    def __init__(
        self,
        conn: libvirt.virConnect,
        name: str = "",
        history: Journal | None = None,
        *,
        calls_wait: bool | None = None,
    ) -> None:
        self.conn = conn
        self.name = name
        self.history = history
        # whether calls wait on a daemon or a link (worth many threads); None: not known yet
        self.calls_wait = calls_wait
        self.pool: str | None = None  # where full clones go, from the config
        self.warnings: list[str] = []  # (a Fleet's unreachable hosts; one host has none)
        self.unreachable: list[str] = []
        # without keepalive, how long a listing waits for an answer before the host counts as
        # silent (None: keepalive, or no deadline, guards the calls)
        self.stall: float | None = None
        self._uri: str | None = None
        self._written: dict[str, Metadata] | None = None  # vmm's last writes, for one listing

    @classmethod
    def open(
        cls,
        uri: str | None,
        name: str = "",
        history: Journal | None = None,
        timeout: float | None = None,
        *,
        keepalive: bool = True,
    ) -> Host:
        """Open `uri`, given up after `timeout`; how long opening took tells whether calls to
        this host wait.

        Without `keepalive` (vmm.virt.connection), only listing and closing are guarded, each
        by `timeout`: for commands that list, print and exit."""
        conn, wall, cpu = timed(lambda: open_connection(uri, timeout=timeout, keepalive=keepalive))
        host = cls(conn, name, history, calls_wait=True if waited(wall, cpu) else None)
        if not keepalive and timeout is not None and not in_process(uri):
            host.stall = timeout
        return host

    @property
    def uri(self) -> str:
        if self._uri is None:
            with as_vmm_errors():
                self._uri = self.conn.getURI()
        return self._uri

    several = False

    @property
    def hosts(self) -> list[Host]:
        return [self]

    @property
    def label(self) -> str:
        """How the picker names where it is."""
        return self.name or self.uri

    def owner(self, dom: libvirt.virDomain) -> Host:
        """The host a domain lives on (always this one; a Fleet has several)."""
        return self

    @property
    def home(self) -> Host:
        """Where a new VM is defined (this host; a Fleet's first)."""
        return self

    def record(
        self,
        dom: libvirt.virDomain,
        action: str,
        detail: str = "",
        before: Metadata | None = None,
        after: Metadata | None = None,
    ) -> None:
        """Journal a change, when this host keeps a history."""
        if self.history is None:
            return
        entry = Entry(
            self.uri,
            dom.name(),
            dom.UUIDString(),
            action,
            detail,
            meta_json(before),
            meta_json(after),
        )
        self.history.record(entry)

    def close(self) -> None:
        """Closing is a round trip: with no keepalive, one that waits past `stall` is left
        behind (the process exits all the same)."""
        if self.stall is None:
            self._close()
            return
        closing = threading.Thread(target=self._close, daemon=True, name="vmm-close")
        closing.start()
        closing.join(self.stall)

    def _close(self) -> None:
        with contextlib.suppress(libvirt.libvirtError):  # already gone: nothing to release
            self.conn.close()

    # -- listing -------------------------------------------------------------------------------

    def domains(self, workers: int = LIST_WORKERS) -> list[Domain]:
        """Every VM on the host, sorted by folder and name: one round trip for the whole host,
        then one per VM (two for a VM with snapshots), up to `workers` at a time.

        Only the calls run on the threads; each definition is read on this thread as it
        arrives, so the threads hand the GIL straight back and reading overlaps waiting.
        """
        with self._guarded():
            stats, transient, saved, with_snapshots = parallel_map(
                lambda ask: ask(),
                [
                    lambda: self.conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE),
                    lambda: self._uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT),
                    lambda: self._uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE),
                    lambda: self._uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT),
                ],
                4,  # one round trip instead of four
                stall=self.stall,
            )

        listed = [
            Listed(
                dom,
                state_name(stat.get("state.state", 0)),
                persistent=(uuid := dom.UUIDString()) not in transient,
                managed_save=uuid in saved,
                has_snapshots=uuid in with_snapshots,
            )
            for dom, stat in stats
        ]
        self._written = None
        with self._guarded():
            # a host known to wait goes wide at once; otherwise the first call tells
            if self.calls_wait or self.stall is not None:
                views = parallel_map(
                    ask_unless_gone, listed, workers, self._view_unless_gone, stall=self.stall
                )
            else:
                views = pipelined_map(ask_unless_gone, listed, workers, self._view_unless_gone)
        return sorted(
            (view for view in views if view is not None),
            key=lambda d: (d.path.casefold(), d.name.casefold()),
        )

    @contextlib.contextmanager
    def _guarded(self) -> Iterator[None]:
        """libvirt's errors as vmm's, and a listing that heard nothing for `stall` seconds
        as a lost connection."""
        try:
            with as_vmm_errors():
                yield
        except Silent as silent:
            raise ConnectionFailed(f"lost the connection to libvirt: {silent}") from None

    def _uuids(self, flags: int) -> set[str]:
        return {dom.UUIDString() for dom in self.conn.listAllDomains(flags)}

    def _view_unless_gone(self, vm: Listed, answer: Answer | None) -> Domain | None:
        return None if answer is None else self._view_of(vm, answer)

    def _view_of(self, vm: Listed, answer: Answer) -> Domain:
        return view_of(vm, answer, self.name, lambda uuid: self._journal_listed().get(uuid))

    def _journal_listed(self) -> dict[str, Metadata]:
        """vmm's last writes, read once per listing and only if some VM's sides differ."""
        if self._written is None:
            self._written = self._journal()
        return self._written

    def _journal(self) -> dict[str, Metadata]:
        if self.history is None:
            return {}
        try:
            return last_writes(self.history.entries(), self.uri)
        except VmmError:
            return {}  # an unreadable journal only costs knowing which side is newer

    # -- single VMs ----------------------------------------------------------------------------

    def lookup(self, ref: str) -> libvirt.virDomain:
        """The VM named `ref`, or whose UUID is `ref` (either may be prefixed with `HOST:`)."""
        if self.name and ref.startswith(f"{self.name}:") and ref != self.name + ":":
            try:
                return self.lookup(ref[len(self.name) + 1 :])
            except NotFound:
                pass  # a VM whose own name starts with "HOST:"
        with as_vmm_errors():
            dom = _unless_missing(self.conn.lookupByName, ref)
            if UUID_PATTERN.match(ref):
                dom = self._name_or_uuid(ref, dom)
        if dom is None:
            raise NotFound(f"no VM named {ref!r}")
        return dom

    def _name_or_uuid(self, ref: str, named: libvirt.virDomain | None) -> libvirt.virDomain | None:
        """`ref` looks like a UUID: the VM it names, or whose UUID it is, but never one for
        some spelling and another for the next. A name is matched in its case, a UUID in any,
        so a VM named like another's UUID would be picked in lower case and the other in
        upper case: when the two differ, the error names both."""
        by_uuid = _unless_missing(self.conn.lookupByUUIDString, ref)
        if by_uuid is None:
            return named
        for spelling in (ref, ref.lower(), ref.upper()):
            other = named if spelling == ref else _unless_missing(self.conn.lookupByName, spelling)
            if other is not None and other.UUIDString() != by_uuid.UUIDString():
                raise InvalidInput(
                    f"{ref!r} is the UUID of VM {by_uuid.name()!r}, and VM {other.name()!r} is"
                    f" named so: name {by_uuid.name()!r} by its name, or rename the other"
                )
        return by_uuid

    def by_key(self, key: str) -> libvirt.virDomain:
        """The VM a listing's `Domain.key` stands for: by UUID alone, never taken for a name (a
        VM may be named like another's UUID)."""
        uuid = key.removeprefix(f"{self.name}:") if self.name else key
        with as_vmm_errors():
            dom = (
                _unless_missing(self.conn.lookupByUUIDString, uuid)
                if UUID_PATTERN.match(uuid)
                else None
            )
        if dom is None:
            raise NotFound(f"the VM {uuid} is gone")
        return dom

    def view(self, dom: libvirt.virDomain) -> Domain:
        with as_vmm_errors():
            vm = Listed(
                dom,
                state_name(dom.state()[0]),
                persistent=bool(dom.isPersistent()),
                managed_save=bool(dom.hasManagedSaveImage()),
                has_snapshots=True,
            )
            self._written = None
            return self._view_of(vm, ask(vm))

    def find(self, ref: str) -> Domain:
        return self.view(self.lookup(ref))

    def vm(self, ref: str) -> Vm:
        """The handle of the VM named `ref` (name or UUID, maybe HOST:-prefixed)."""
        return Vm(self.lookup(ref), self)

    def vm_by_key(self, key: str) -> Vm:
        """The handle of the VM a listing's `Domain.key` stands for."""
        return Vm(self.by_key(key), self)

    def find_key(self, key: str) -> Domain:
        return self.view(self.by_key(key))

    # -- metadata ------------------------------------------------------------------------------

    def read_metadata(self, dom: libvirt.virDomain) -> tuple[Metadata, str | None]:
        """Fresh from libvirt: the stored metadata and, if it was unreadable, why."""
        reading = self.reading(dom)
        return reading.meta, reading.chosen.problem

    def reading(self, dom: libvirt.virDomain) -> Reading:
        """Fresh from libvirt, both sides of a running persistent VM included (see `choose`)."""
        uuid = dom.UUIDString()
        with as_vmm_errors():
            return read_stored(dom, lambda: self._journal().get(uuid))

    def write_metadata(self, dom: libvirt.virDomain, meta: Metadata) -> None:
        """Store `meta` on the config and the live state; default metadata removes the element."""
        with as_vmm_errors():
            set_metadata(dom, meta)


def _unless_missing(
    lookup: Callable[[str], libvirt.virDomain], ref: str
) -> libvirt.virDomain | None:
    try:
        return lookup(ref)
    except libvirt.libvirtError as err:
        if is_domain_missing(err):
            return None
        raise
