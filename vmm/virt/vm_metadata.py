"""Reading and writing the vmm element on each side of a libvirt domain, and in its saved state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import libvirt
from lxml import etree

from vmm.model import metadata
from vmm.model.metadata import Metadata
from vmm.model.sides import Reading, Stored, choose, stored_from_text
from vmm.virt.errors import is_metadata_missing, is_unsupported, one_line


@dataclass(frozen=True)
class Said:
    """What libvirt answered when asked for one side's vmm element: its text, or why not."""

    text: str | None = None
    error: str | None = None


def stored_from_said(said: Said) -> Stored:
    if said.error is not None:
        return Stored(present=True, problem=f"cannot read it: {said.error}")
    return stored_from_text(said.text)


def element_text(dom: libvirt.virDomain, flags: int) -> str | None:
    """The vmm element of one side (VIR_DOMAIN_AFFECT_CONFIG or _LIVE), None when absent."""
    try:
        return dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, metadata.NAMESPACE, flags)
    except libvirt.libvirtError as err:
        if is_metadata_missing(err):
            return None
        raise


def read_stored(
    dom: libvirt.virDomain, last_written: Callable[[], Metadata | None] = lambda: None
) -> Reading:
    """A VM's metadata fresh from libvirt: the config of a persistent VM, the live state of a
    running one, and of both the newer where they differ (see `choose`)."""
    config = live = None
    if dom.isPersistent():
        config = stored_from_text(element_text(dom, libvirt.VIR_DOMAIN_AFFECT_CONFIG))
    if dom.isActive():
        live = stored_from_text(element_text(dom, libvirt.VIR_DOMAIN_AFFECT_LIVE))
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
        if is_unsupported(err):
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
