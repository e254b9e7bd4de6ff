"""The per-VM calls of a host's listing, and reading what they answered.

Only the calls run on the listing's threads; each definition is read on the main thread.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import libvirt
from lxml import etree

from vmm.model import metadata
from vmm.model.domain import Domain
from vmm.model.metadata import Metadata
from vmm.model.sides import Reading, Stored, choose, stored_from_element, stored_from_text
from vmm.model.states import ACTIVE
from vmm.virt.errors import is_domain_missing, is_wrong_state, one_line
from vmm.virt.vm_metadata import Said, element_text, stored_from_said

# Calls in flight at once while listing a host whose calls wait (a daemon, a link). Each waits
# a round trip, so answers come at calls-in-flight per round trip, until this process's CPU is
# the limit (a few thousand definitions a second); past that a thread only costs its start.
LIST_WORKERS = 128
# What the listing reads of a definition: picked out in one pass over its top-level children.
_LISTED = ("vcpu", "currentMemory", "memory", "metadata")
_VMM_TAG = f"{{{metadata.NAMESPACE}}}vmm"
UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")


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
class Answer:
    """The per-VM calls' answers: the definition, the number of snapshots, and for a running
    persistent VM its live state's vmm element."""

    xml: str
    snapshots: int = 0
    live: Said | None = None


def ask(vm: Listed) -> Answer:
    """The per-VM calls of a listing: all that runs on the listing's threads."""
    xml = vm.dom.XMLDesc(xml_flags(vm.persistent))
    snapshots = vm.dom.snapshotNum() if vm.has_snapshots else 0
    return Answer(xml, snapshots, _ask_live(vm.dom) if vm.has_two_sides else None)


def _ask_live(dom: libvirt.virDomain) -> Said | None:
    try:
        return Said(element_text(dom, libvirt.VIR_DOMAIN_AFFECT_LIVE))
    except libvirt.libvirtError as err:
        if is_domain_missing(err):
            raise  # undefined while we were listing
        if is_wrong_state(err):
            return None  # shut down while we were listing: no live state any more
        return Said(error=one_line(err.get_error_message() or str(err)))


def ask_unless_gone(vm: Listed) -> Answer | None:
    try:
        return ask(vm)
    except libvirt.libvirtError as err:
        if is_domain_missing(err):
            return None  # undefined while we were listing
        raise


def xml_flags(persistent: bool) -> int:
    """The definition vmm trusts: the persistent config, or the live one of a transient VM."""
    return libvirt.VIR_DOMAIN_XML_INACTIVE if persistent else 0


def top_children(xml: str) -> dict[str, etree._Element]:
    """What the listing reads of a definition, picked out in one pass over its children."""
    top: dict[str, etree._Element] = {}
    for child in metadata.parse(xml).iterchildren(*_LISTED):
        top.setdefault(child.tag, child)
    return top


def vmm_element(top: dict[str, etree._Element]) -> etree._Element | None:
    own = top.get("metadata")
    return None if own is None else next(own.iterchildren(_VMM_TAG), None)


def number(element: etree._Element | None) -> int:
    text = element.text if element is not None else None
    return int(text) if text and text.strip().isdigit() else 0


def view_of(
    vm: Listed, answer: Answer, host: str, written: Callable[[str], Metadata | None]
) -> Domain:
    """One VM's row, from its own answers alone: whatever they hold, a VM that cannot be
    read is shown at / with a warning, never failing the listing of the others. `written`
    gives vmm's last write of a VM's metadata (by UUID), asked only where its sides differ."""
    name, uuid = vm.dom.name(), vm.dom.UUIDString()
    problems = []
    try:
        top = top_children(answer.xml)
        config = stored_from_element(vmm_element(top))
    except etree.XMLSyntaxError as err:
        top = {}
        problems.append(f"its definition is no well-formed XML ({one_line(str(err))})")
        config = _stored_alone(vm)
    live = None if answer.live is None else stored_from_said(answer.live)
    # a transient VM's definition is its live state
    reading = choose(config, live, lambda: written(uuid)) if vm.persistent else Reading(config)
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
        vcpus=number(top.get("vcpu")),
        memory_kib=number(top.get("currentMemory")) or number(top.get("memory")),
        host=host,
        warning=f"VM {name!r}: {'; '.join(problems)}" if problems else None,
    )


def _stored_alone(vm: Listed) -> Stored:
    """The vmm element of a VM whose definition is unreadable as a whole, asked alone."""
    side = libvirt.VIR_DOMAIN_AFFECT_CONFIG if vm.persistent else libvirt.VIR_DOMAIN_AFFECT_LIVE
    try:
        return stored_from_text(element_text(vm.dom, side))
    except libvirt.libvirtError as err:
        return Stored(present=True, problem=one_line(err.get_error_message() or str(err)))
