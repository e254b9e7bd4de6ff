"""One libvirt host: listing its VMs as domain views, finding them, reading and writing metadata."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libvirt
from lxml import etree

from vmm.model import metadata
from vmm.model.domain import Domain, state_name
from vmm.model.errors import NotFound, VmmError
from vmm.model.metadata import MalformedMetadata, Metadata
from vmm.model.states import ACTIVE
from vmm.model.tree import ROOT
from vmm.virt.connection import open_connection
from vmm.virt.errors import libvirt_errors, one_line
from vmm.virt.locks import vm_lock
from vmm.virt.parallel import parallel_map, pipelined_map, timed, waited

if TYPE_CHECKING:
    from vmm.ops.history import Entry, History

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

    @property
    def has_two_sides(self) -> bool:
        """A running persistent VM has a config and a live state, each with its own metadata."""
        return self.persistent and self.state in ACTIVE


@dataclass(frozen=True)
class Said:
    """What libvirt answered when asked for one side's vmm element: its text, or why not."""

    text: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Answer:
    """The per-VM calls' answers: the definition, the number of snapshots, and for a running
    persistent VM its live state's vmm element."""

    xml: str
    snapshots: int = 0
    live: Said | None = None


def _ask(vm: Listed) -> Answer:
    """The per-VM calls of a listing: all that runs on the listing's threads."""
    xml = vm.dom.XMLDesc(_xml_flags(vm.persistent))
    snapshots = vm.dom.snapshotNum() if vm.has_snapshots else 0
    return Answer(xml, snapshots, _ask_live(vm.dom) if vm.has_two_sides else None)


def _ask_live(dom: libvirt.virDomain) -> Said | None:
    try:
        return Said(_element_text(dom, libvirt.VIR_DOMAIN_AFFECT_LIVE))
    except libvirt.libvirtError as err:
        code = err.get_error_code()
        if code == libvirt.VIR_ERR_NO_DOMAIN:
            raise  # undefined while we were listing
        if code == libvirt.VIR_ERR_OPERATION_INVALID:
            return None  # shut down while we were listing: no live state any more
        return Said(error=one_line(err.get_error_message() or str(err)))


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
    notes: tuple[str, ...] = ()  # what the user should know: a side overwritten, a saved state


# -- one VM's stored metadata: its config's and its live state's ---------------------------------


@dataclass(frozen=True)
class Stored:
    """One side's vmm element as read: its meaning, its text, and why it is unreadable if so."""

    meta: Metadata = field(default_factory=Metadata)
    present: bool = False
    raw: str = ""
    problem: str | None = None

    @property
    def meaning(self) -> tuple[bool, Metadata, str | None]:
        return self.present, self.meta, self.problem


def stored_from_text(text: str | None) -> Stored:
    if text is None:
        return Stored()
    try:
        return Stored(metadata.from_xml(text), True, text)
    except MalformedMetadata as err:
        return Stored(Metadata(), True, text, str(err))


def _stored_from_element(element: etree._Element | None) -> Stored:
    """The listing's reading of an element from a definition (its text is not kept)."""
    if element is None:
        return Stored()
    try:
        return Stored(metadata.from_element(element, keep_source=False), True)
    except MalformedMetadata as err:
        return Stored(Metadata(), True, etree.tostring(element, encoding="unicode"), str(err))


def _stored_from_said(said: Said) -> Stored:
    if said.error is not None:
        return Stored(present=True, problem=f"cannot read it: {said.error}")
    return stored_from_text(said.text)


def _element_text(dom: libvirt.virDomain, flags: int) -> str | None:
    """The vmm element of one side (VIR_DOMAIN_AFFECT_CONFIG or _LIVE), None when absent."""
    try:
        return dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, metadata.NAMESPACE, flags)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            return None
        raise


CONFIG, LIVE = "config", "live state"


@dataclass(frozen=True)
class Reading:
    """What vmm takes as a VM's metadata. When the config and the live state differ, `other`
    is the side not taken, which the next write overwrites (and journals)."""

    chosen: Stored
    other: Stored | None = None
    other_side: str = ""
    warning: str | None = None

    @property
    def meta(self) -> Metadata:
        return self.chosen.meta


def describe(meta: Metadata) -> str:
    """A folder and its labels on one line: `/lab/web #web #prod`."""
    return meta.path + "".join(f" #{label}" for label in meta.labels)


def _holds(side: Stored, written: Metadata) -> bool:
    return side.problem is None and (side.meta.path, side.meta.labels) == (
        written.path,
        written.labels,
    )


def _newer_side(config: Stored, live: Stored, last: Metadata | None) -> str | None:
    """Which side another tool wrote since vmm did, where that can be known: vmm writes both
    sides at once, so the side still holding vmm's last write is the older one, and a side
    with no element at all was written by nobody since."""
    if last is not None and _holds(config, last) != _holds(live, last):
        return LIVE if _holds(config, last) else CONFIG
    if config.present != live.present:
        return CONFIG if config.present else LIVE
    return None


def choose(
    config: Stored | None,
    live: Stored | None,
    last_written: Callable[[], Metadata | None] = lambda: None,
) -> Reading:
    """The side to show of a VM with a config and a live state (either may be missing: a
    transient VM, a shut-off one). `last_written` is what vmm last wrote, if it is known."""
    if config is None or live is None:
        return Reading(config or live or Stored())
    if config.meaning == live.meaning:
        return Reading(config)
    newer = _newer_side(config, live, last_written())
    if newer == LIVE:
        return Reading(live, config, CONFIG)
    if newer == CONFIG:
        return Reading(config, live, LIVE)
    warning = (
        f"its live state ({summary(live)}) and its config ({summary(config)}) differ and"
        " which is newer cannot be known: the config's is shown, and the next change keeps it"
        " (the history keeps the live state's)"
    )
    return Reading(config, live, LIVE, warning)


def summary(side: Stored) -> str:
    """One side's vmm element on one line."""
    if side.problem is not None:
        return "unreadable"
    return describe(side.meta) if side.present else "no vmm metadata"


def read_stored(
    dom: libvirt.virDomain, last_written: Callable[[], Metadata | None] = lambda: None
) -> Reading:
    """A VM's metadata fresh from libvirt: the config of a persistent VM, the live state of a
    running one, and of both the newer where they differ (see `choose`)."""
    config = live = None
    if dom.isPersistent():
        config = stored_from_text(_element_text(dom, libvirt.VIR_DOMAIN_AFFECT_CONFIG))
    if dom.isActive():
        live = stored_from_text(_element_text(dom, libvirt.VIR_DOMAIN_AFFECT_LIVE))
    return choose(config, live, last_written)


def _metadata_flags(dom: libvirt.virDomain) -> int:
    """Where a write must go: the config of a persistent VM, and the live state of a running one."""
    flags = 0
    if dom.isPersistent():
        flags |= libvirt.VIR_DOMAIN_AFFECT_CONFIG
    if dom.isActive():
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    return flags


def set_element(dom: libvirt.virDomain, xml: str | None) -> None:
    """Store a vmm element (without namespace) on every side of `dom`; None removes it."""
    key = None if xml is None else metadata.KEY
    kind = libvirt.VIR_DOMAIN_METADATA_ELEMENT
    dom.setMetadata(kind, xml, key, metadata.NAMESPACE, _metadata_flags(dom))


def set_metadata(dom: libvirt.virDomain, meta: Metadata) -> None:
    """Store `meta` on the config and the live state; default metadata removes the element."""
    set_element(dom, None if meta.is_default else metadata.to_xml(meta))


def update_saved_state(dom: libvirt.virDomain, meta: Metadata) -> list[str]:
    """Put `meta` into the definition kept with a managed-save image, which the VM is restored
    with; returns why it could not be, when it could not (the write itself stands)."""
    try:
        if not dom.hasManagedSaveImage(0):
            return []
        saved = metadata.parse(dom.managedSaveGetXMLDesc(libvirt.VIR_DOMAIN_SAVE_IMAGE_XML_SECURE))
        metadata.replace_in_domain(saved, meta)
        dom.managedSaveDefineXML(etree.tostring(saved, encoding="unicode"), 0)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
            why = "this host cannot change a saved definition"
        else:
            why = one_line(err.get_error_message() or str(err))
        return [f"{dom.name()!r}: its saved state still holds the old folder and labels ({why})"]
    except etree.XMLSyntaxError as err:
        return [f"{dom.name()!r}: its saved state still holds the old folder and labels ({err})"]
    return []


def store_metadata(dom: libvirt.virDomain, meta: Metadata) -> list[str]:
    """`set_metadata`, then the saved state's definition; returns notes for the user."""
    set_metadata(dom, meta)
    return update_saved_state(dom, meta)


def _xml_flags(persistent: bool) -> int:
    """The definition vmm trusts: the persistent config, or the live one of a transient VM."""
    return libvirt.VIR_DOMAIN_XML_INACTIVE if persistent else 0


def _top_children(xml: str) -> dict[str, etree._Element]:
    """What the listing reads of a definition, picked out in one pass over its children."""
    top: dict[str, etree._Element] = {}
    for child in metadata.parse(xml).iterchildren(*_LISTED):
        top.setdefault(child.tag, child)
    return top


def _vmm_element(top: dict[str, etree._Element]) -> etree._Element | None:
    own = top.get("metadata")
    return None if own is None else next(own.iterchildren(_VMM_TAG), None)


def _number(element: etree._Element | None) -> int:
    text = element.text if element is not None else None
    return int(text) if text and text.strip().isdigit() else 0


def _last_write(entries: list[Entry], uri: str) -> dict[str, Metadata]:
    """What vmm last wrote to each VM of host `uri`, by UUID, from its journal."""
    written: dict[str, Metadata] = {}
    for entry in entries:
        if entry.host == uri and entry.after is not None:
            after = entry.after
            written[entry.uuid] = Metadata(after.get("path", ROOT), tuple(after.get("labels", ())))
    return written


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
        self._written: dict[str, Metadata] | None = None  # vmm's last writes, for one listing

    @classmethod
    def open(
        cls,
        uri: str | None,
        name: str = "",
        history: History | None = None,
        timeout: float | None = None,
    ) -> Host:
        """Open `uri`, given up after `timeout`; how long opening took tells whether calls to
        this host wait."""
        conn, wall, cpu = timed(lambda: open_connection(uri, timeout=timeout))
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
        from vmm.ops.history import Entry

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
        self._written = None
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
        """One VM's row, from its own answers alone: whatever they hold, a VM that cannot be
        read is shown at / with a warning, never failing the listing of the others."""
        name, uuid = vm.dom.name(), vm.dom.UUIDString()
        problems = []
        try:
            top = _top_children(answer.xml)
            config = _stored_from_element(_vmm_element(top))
        except etree.XMLSyntaxError as err:
            top = {}
            problems.append(f"its definition is no well-formed XML ({one_line(str(err))})")
            config = self._stored_alone(vm)
        live = None if answer.live is None else _stored_from_said(answer.live)
        if not vm.persistent:
            reading = Reading(config)  # a transient VM's definition is its live state
        else:
            reading = choose(config, live, lambda: self._journal_listed().get(uuid))
        if reading.chosen.problem is not None:
            problems.append(f"ignoring its vmm metadata: {reading.chosen.problem}")
        if reading.warning is not None:
            problems.append(reading.warning)
        return Domain(
            name=name,
            uuid=uuid,
            state=vm.state,
            persistent=vm.persistent,
            meta=reading.meta,
            managed_save=vm.managed_save,
            snapshots=answer.snapshots,
            vcpus=_number(top.get("vcpu")),
            memory_kib=_number(top.get("currentMemory")) or _number(top.get("memory")),
            host=self.name,
            warning=f"VM {name!r}: {'; '.join(problems)}" if problems else None,
        )

    def _stored_alone(self, vm: Listed) -> Stored:
        """The vmm element of a VM whose definition is unreadable as a whole, asked alone."""
        side = libvirt.VIR_DOMAIN_AFFECT_CONFIG if vm.persistent else libvirt.VIR_DOMAIN_AFFECT_LIVE
        try:
            return stored_from_text(_element_text(vm.dom, side))
        except libvirt.libvirtError as err:
            return Stored(present=True, problem=one_line(err.get_error_message() or str(err)))

    def _journal_listed(self) -> dict[str, Metadata]:
        """vmm's last writes, read once per listing and only if some VM's sides differ."""
        if self._written is None:
            self._written = self._journal()
        return self._written

    def _journal(self) -> dict[str, Metadata]:
        if self.history is None:
            return {}
        try:
            return _last_write(self.history.entries(), self.uri)
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
            self._written = None
            return self._view_of(vm, _ask(vm))

    def find(self, ref: str) -> Domain:
        return self.view(self.lookup(ref))

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
        with libvirt_errors():
            return read_stored(dom, lambda: self._journal().get(uuid))

    def write_metadata(self, dom: libvirt.virDomain, meta: Metadata) -> None:
        """Store `meta` on the config and the live state; default metadata removes the element."""
        with libvirt_errors():
            set_metadata(dom, meta)

    def update_metadata(
        self,
        dom: libvirt.virDomain,
        change: Callable[[Metadata], Metadata],
        action: str = "metadata",
    ) -> MetadataChange:
        """Re-read, apply `change`, and write only if something changed.

        The VM's lock is held from the read to the write, so vmm processes on this machine
        never lose each other's changes. Unreadable stored metadata is replaced, since the
        user has now asked to change this VM; what a write overwrites that vmm cannot show
        (an unreadable element, a side that differs) goes into the history first.
        """
        name, uuid = dom.name(), dom.UUIDString()
        with vm_lock(uuid, name):
            reading = self.reading(dom)
            before = reading.meta
            after = change(before)
            notes: list[str] = []
            if after != before or reading.chosen.problem is not None:
                notes += self._journal_overwritten(dom, reading, after)
                self.write_metadata(dom, after)
                self.record(dom, action, before=before, after=after)
                with libvirt_errors():
                    notes += update_saved_state(dom, after)
        return MetadataChange(name, uuid, before, after, tuple(notes))

    def _journal_overwritten(
        self, dom: libvirt.virDomain, reading: Reading, after: Metadata
    ) -> list[str]:
        """Journal what writing `after` loses: an unreadable element, the side not shown."""
        chosen, other = reading.chosen, reading.other
        if chosen.problem is not None:
            detail = f"unreadable vmm metadata replaced ({chosen.problem}): {chosen.raw}"
            self.record(dom, "metadata replaced", detail)
        if other is None:
            return []
        detail = f"the {reading.other_side} held: {other.raw or 'no vmm metadata'}"
        self.record(dom, "metadata overwritten", detail, before=other.meta, after=after)
        return [
            f"{dom.name()!r}: its {reading.other_side} held other folder and labels"
            f" ({summary(other)}), now overwritten; 'vmm history' keeps them"
        ]


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
