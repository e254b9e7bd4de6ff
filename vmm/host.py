"""One libvirt host: listing its VMs as domain views, finding them, reading and writing metadata."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import libvirt
from lxml import etree

from vmm import metadata
from vmm.connection import libvirt_errors, open_connection
from vmm.domain import Domain, state_name
from vmm.errors import NotFound
from vmm.metadata import MalformedMetadata, Metadata
from vmm.parallel import parallel_map, pipelined_map, timed, waited

if TYPE_CHECKING:
    from vmm.history import History

# Calls in flight at once while listing a host whose calls wait (a daemon, a link). Each waits
# a round trip, so answers come at calls-in-flight per round trip, until this process's CPU is
# the limit (a few thousand definitions a second); past that a thread only costs its start.
LIST_WORKERS = 64
# What the listing reads of a definition: picked out in one pass over its top-level children.
_LISTED = ("vcpu", "currentMemory", "memory", "metadata")
_VMM_TAG = f"{{{metadata.NAMESPACE}}}vmm"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Listed:
    """What the host-wide calls said of one VM."""

    dom: libvirt.virDomain
    state: str
    persistent: bool
    managed_save: bool
    has_snapshots: bool


Answer = tuple[str, int]  # a VM's definition and its number of snapshots


def _ask(vm: Listed) -> Answer:
    """The per-VM calls of a listing: all that runs on the listing's threads."""
    xml = vm.dom.XMLDesc(_xml_flags(vm.persistent))
    return xml, vm.dom.snapshotNum() if vm.has_snapshots else 0


def _ask_unless_gone(vm: Listed) -> Answer | None:
    try:
        return _ask(vm)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None  # undefined while we were listing
        raise


@dataclass(frozen=True)
class MetadataChange:
    vm: str
    uuid: str
    before: Metadata
    after: Metadata


def _metadata_flags(dom: libvirt.virDomain) -> int:
    """Where a write must go: the config of a persistent VM, and the live state of a running one."""
    flags = 0
    if dom.isPersistent():
        flags |= libvirt.VIR_DOMAIN_AFFECT_CONFIG
    if dom.isActive():
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    return flags


def _xml_flags(persistent: bool) -> int:
    """The definition vmm trusts: the persistent config, or the live one of a transient VM."""
    return libvirt.VIR_DOMAIN_XML_INACTIVE if persistent else 0


def _read_xml(dom: libvirt.virDomain, persistent: bool) -> etree._Element:
    return etree.fromstring(dom.XMLDesc(_xml_flags(persistent)).encode())


def _meta_from_domain_xml(xml: etree._Element) -> tuple[Metadata, str | None]:
    return _meta_from_element(metadata.find_in_domain(xml))


def _meta_from_element(element: etree._Element | None) -> tuple[Metadata, str | None]:
    if element is None:
        return Metadata(), None
    try:
        return metadata.from_element(element), None
    except MalformedMetadata as err:
        return Metadata(), str(err)


def _number(element: etree._Element | None) -> int:
    text = element.text if element is not None else None
    return int(text) if text and text.strip().isdigit() else 0


class Host:
    """A connection to one libvirt host. Connections are opened at the edge and passed in."""

    def __init__(
        self,
        conn: libvirt.virConnect,
        name: str = "",
        history: History | None = None,
        *,
        calls_wait: bool | None = None,
    ) -> None:
        self.conn = conn
        self.name = name
        self.history = history
        # whether calls wait on a daemon or a link (worth many threads); None: not known yet
        self.calls_wait = calls_wait
        self.pool: str | None = None  # where full clones go, from the config
        self._uri: str | None = None

    @classmethod
    def open(cls, uri: str | None, name: str = "", history: History | None = None) -> Host:
        """Open `uri`; how long opening took tells whether calls to this host wait."""
        conn, wall, cpu = timed(lambda: open_connection(uri))
        return cls(conn, name, history, calls_wait=True if waited(wall, cpu) else None)

    @property
    def uri(self) -> str:
        if self._uri is None:
            with libvirt_errors():
                self._uri = self.conn.getURI()
        return self._uri

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
        from vmm.history import Entry

        entry = Entry(
            self.uri,
            dom.name(),
            dom.UUIDString(),
            action,
            detail,
            _meta_json(before),
            _meta_json(after),
        )
        self.history.record(entry)

    def close(self) -> None:
        with contextlib.suppress(libvirt.libvirtError):  # already gone: nothing to release
            self.conn.close()

    # -- listing -------------------------------------------------------------------------------

    def domains(self, workers: int = LIST_WORKERS) -> list[Domain]:
        """Every VM on the host, sorted by folder and name: one round trip for the whole host,
        then one per VM (two for a VM with snapshots), up to `workers` at a time.

        Only the calls run on the threads; each definition is read on this thread as it
        arrives, so the threads hand the GIL straight back and reading overlaps waiting.
        """
        with libvirt_errors():
            stats, transient, saved, with_snapshots = parallel_map(
                lambda ask: ask(),
                [
                    lambda: self.conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE),
                    lambda: self._uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT),
                    lambda: self._uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE),
                    lambda: self._uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT),
                ],
                4,  # one round trip instead of four
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
        # a host known to wait goes wide at once; otherwise the first call tells
        spread = parallel_map if self.calls_wait else pipelined_map
        with libvirt_errors():
            views = spread(_ask_unless_gone, listed, workers, self._view_unless_gone)
        return sorted(
            (view for view in views if view is not None),
            key=lambda d: (d.path.casefold(), d.name.casefold()),
        )

    def _uuids(self, flags: int) -> set[str]:
        return {dom.UUIDString() for dom in self.conn.listAllDomains(flags)}

    def _view_unless_gone(self, vm: Listed, answer: Answer | None) -> Domain | None:
        return None if answer is None else self._view_of(vm, answer)

    def _view_of(self, vm: Listed, answer: Answer) -> Domain:
        xml, snapshots = answer
        top: dict[str, etree._Element] = {}
        for child in etree.fromstring(xml.encode()).iterchildren(*_LISTED):
            top.setdefault(child.tag, child)
        own = top.get("metadata")
        meta, warning = _meta_from_element(
            None if own is None else next(own.iterchildren(_VMM_TAG), None)
        )
        name = vm.dom.name()
        return Domain(
            name=name,
            uuid=vm.dom.UUIDString(),
            state=vm.state,
            persistent=vm.persistent,
            meta=meta,
            managed_save=vm.managed_save,
            snapshots=snapshots,
            vcpus=_number(top.get("vcpu")),
            memory_kib=_number(top.get("currentMemory")) or _number(top.get("memory")),
            host=self.name,
            warning=f"VM {name!r}: ignoring its vmm metadata: {warning}" if warning else None,
        )

    # -- single VMs ----------------------------------------------------------------------------

    def lookup(self, ref: str) -> libvirt.virDomain:
        """The VM named `ref`, or whose UUID is `ref` (either may be prefixed with `HOST:`)."""
        if self.name and ref.startswith(f"{self.name}:") and ref != self.name + ":":
            try:
                return self.lookup(ref[len(self.name) + 1 :])
            except NotFound:
                pass  # a VM whose own name starts with "HOST:"
        with libvirt_errors():
            dom = _unless_missing(self.conn.lookupByName, ref)
            if dom is None and _UUID.match(ref):
                dom = _unless_missing(self.conn.lookupByUUIDString, ref)
        if dom is None:
            raise NotFound(f"no VM named {ref!r}")
        return dom

    def by_key(self, key: str) -> libvirt.virDomain:
        """The VM a listing's `Domain.key` stands for: by UUID alone, never taken for a name (a
        VM may be named like another's UUID)."""
        uuid = key.removeprefix(f"{self.name}:") if self.name else key
        with libvirt_errors():
            dom = _unless_missing(self.conn.lookupByUUIDString, uuid) if _UUID.match(uuid) else None
        if dom is None:
            raise NotFound(f"the VM {uuid} is gone")
        return dom

    def view(self, dom: libvirt.virDomain) -> Domain:
        with libvirt_errors():
            vm = Listed(
                dom,
                state_name(dom.state()[0]),
                persistent=bool(dom.isPersistent()),
                managed_save=bool(dom.hasManagedSaveImage()),
                has_snapshots=True,
            )
            return self._view_of(vm, _ask(vm))

    def find(self, ref: str) -> Domain:
        return self.view(self.lookup(ref))

    def find_key(self, key: str) -> Domain:
        return self.view(self.by_key(key))

    # -- metadata ------------------------------------------------------------------------------

    def read_metadata(self, dom: libvirt.virDomain) -> tuple[Metadata, str | None]:
        """Fresh from libvirt: the stored metadata and, if it was unreadable, why."""
        with libvirt_errors():
            return _meta_from_domain_xml(_read_xml(dom, bool(dom.isPersistent())))

    def write_metadata(self, dom: libvirt.virDomain, meta: Metadata) -> None:
        """Store `meta` on the config and the live state; default metadata removes the element."""
        with libvirt_errors():
            flags = _metadata_flags(dom)
            kind = libvirt.VIR_DOMAIN_METADATA_ELEMENT
            if meta.is_default:
                dom.setMetadata(kind, None, None, metadata.NAMESPACE, flags)
            else:
                dom.setMetadata(
                    kind, metadata.to_xml(meta), metadata.KEY, metadata.NAMESPACE, flags
                )

    def update_metadata(
        self,
        dom: libvirt.virDomain,
        change: Callable[[Metadata], Metadata],
        action: str = "metadata",
    ) -> MetadataChange:
        """Re-read, apply `change`, and write only if something changed.

        Reading just before writing keeps a change made meanwhile by another client. Unreadable
        stored metadata is replaced, since the user has now asked to change this VM.
        """
        before, unreadable = self.read_metadata(dom)
        after = change(before)
        name, uuid = dom.name(), dom.UUIDString()
        if after != before or unreadable:
            self.write_metadata(dom, after)
            self.record(dom, action, before=before, after=after)
        return MetadataChange(name, uuid, before, after)


def _meta_json(meta: Metadata | None) -> dict | None:
    if meta is None:
        return None
    return {"path": meta.path, "labels": list(meta.labels)}


def _unless_missing(
    lookup: Callable[[str], libvirt.virDomain], ref: str
) -> libvirt.virDomain | None:
    try:
        return lookup(ref)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise
