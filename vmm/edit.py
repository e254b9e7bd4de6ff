"""Redefining a VM from edited XML: validated by libvirt, and nothing happens without a change."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

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
    try:
        dom.connect().defineXMLFlags(edited, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
    except libvirt.libvirtError as err:
        raise InvalidInput(f"libvirt refused it: {err.get_error_message()}") from None
    return "definition saved" + (" (applies from the next start)" if dom.isActive() else "")


def editor_argv() -> list[str]:
    """$VISUAL, else $EDITOR, else vi; split like a shell would, run without one."""
    return shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")


def edit_text(text: str, name: str) -> str:
    """Let the user edit `text` in their editor; returns what they saved."""
    argv = editor_argv()
    if not argv or shutil.which(argv[0]) is None:
        raise InvalidInput(f"editor {argv[0] if argv else ''!r} not found: set $VISUAL or $EDITOR")
    with tempfile.TemporaryDirectory(prefix="vmm-edit-") as tmp:
        path = Path(tmp) / f"{name}.xml"
        path.write_text(text, encoding="utf-8")
        subprocess.run([*argv, str(path)], check=False)
        return path.read_text(encoding="utf-8")
