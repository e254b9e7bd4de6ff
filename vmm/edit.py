"""Redefining a VM from edited XML: validated by libvirt, and nothing happens without a change."""

from __future__ import annotations

import libvirt
from lxml import etree

from vmm.connection import libvirt_errors
from vmm.errors import InvalidInput


def current_xml(dom: libvirt.virDomain) -> str:
    """The persistent definition, secrets kept, as the user edits it."""
    with libvirt_errors():
        return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)


def redefine(dom: libvirt.virDomain, original: str, edited: str) -> str:
    """Define `edited` if it differs from `original`; libvirt's validation error on failure."""
    if edited.strip() == original.strip():
        return "no change"
    try:
        root = etree.fromstring(edited.encode())
    except etree.XMLSyntaxError as err:
        raise InvalidInput(f"not well-formed XML: {err}") from None
    if root.findtext("uuid") not in (None, dom.UUIDString()):
        raise InvalidInput("the UUID may not change (clone the VM instead)")
    with libvirt_errors():
        dom.connect().defineXMLFlags(edited, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
    return "definition saved" + (" (applies from the next start)" if dom.isActive() else "")
