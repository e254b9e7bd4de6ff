"""The `<vmm:vmm>` element: a VM's folder and labels, kept in the domain's own XML.

Pure: values in, values out, no libvirt and no I/O. The format is shared with the original vmm
tool, so both read what the other writes:

    <vmm:vmm xmlns:vmm="http://calebstew.art/xmlns/vmm">
      <vmm:path>/lab/web</vmm:path>
      <vmm:label>web</vmm:label>
    </vmm:vmm>
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from lxml import etree

from vmm.errors import InvalidInput
from vmm.tree import ROOT

NAMESPACE = "http://calebstew.art/xmlns/vmm"
KEY = "vmm"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


class MalformedMetadata(ValueError):
    """Stored metadata that cannot be read; the VM is then shown with the defaults."""


@dataclass(frozen=True)
class Metadata:
    """What vmm knows of a VM: its folder, its labels, and children it does not understand.

    `extra` holds unknown child elements, serialised without the vmm namespace, so that a
    rewrite by this version keeps what a newer version (or another tool) stored.
    """

    path: str = ROOT
    labels: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()

    @property
    def is_default(self) -> bool:
        """True when writing this would say nothing: the element should then be removed."""
        return self.path == ROOT and not self.labels and not self.extra

    def moved_to(self, path: str) -> Metadata:
        return replace(self, path=normalize_path(path))

    def with_labels(self, labels: Iterable[str]) -> Metadata:
        return replace(self, labels=normalize_labels([*self.labels, *labels]))

    def without_labels(self, labels: Iterable[str]) -> Metadata:
        gone = set(normalize_labels(labels))
        return replace(self, labels=tuple(label for label in self.labels if label not in gone))


# Control characters (Unicode category Cc), and what XML 1.0 cannot hold at all: surrogates
# (category Cs), U+FFFE and U+FFFF.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def has_control_chars(text: str) -> bool:
    return _FORBIDDEN.search(text) is not None


def fits_in_xml(text: str) -> bool:
    """Whether free text (a description: lines and tabs allowed) can be stored in XML."""
    return not has_control_chars(text.replace("\n", "").replace("\t", "").replace("\r", ""))


def normalize_path(raw: str) -> str:
    """Return the canonical form of a folder path: absolute, no empty, `.` or `..` segments.

    Relative input is taken relative to `/`; `..` may not climb above `/`.
    """
    text = raw.strip()
    if not text:
        raise InvalidInput("empty path")
    if has_control_chars(text):
        raise InvalidInput(f"path {raw!r} contains control characters")
    parts: list[str] = []
    for part in text.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise InvalidInput(f"path {raw!r} goes above /")
            parts.pop()
        elif not part.strip():
            raise InvalidInput(f"path {raw!r} has a blank folder name")
        else:
            parts.append(part)
    return ROOT + "/".join(parts)


def normalize_label(raw: str) -> str:
    label = raw.strip()
    if not label:
        raise InvalidInput("empty label")
    if has_control_chars(label):
        raise InvalidInput(f"label {raw!r} contains control characters")
    return label


def normalize_labels(raw: Iterable[str]) -> tuple[str, ...]:
    """Trim each label and drop repeats, keeping the first occurrence's position."""
    return tuple(dict.fromkeys(normalize_label(label) for label in raw))


def _local_name(element: etree._Element) -> str:
    return etree.QName(element).localname


def _our_name(element: etree._Element) -> str | None:
    """The local name of an element in the vmm namespace, or in none (libvirt's getMetadata
    hands the element back without its namespace; XMLDesc keeps it); None for others'."""
    tag = element.tag
    if not tag.startswith("{"):
        return tag
    namespace, _, local = tag[1:].partition("}")
    return local if namespace == NAMESPACE else None


def _strip_namespace(element: etree._Element) -> etree._Element:
    """A copy of `element` with the vmm namespace removed from it and its descendants."""
    copy = etree.fromstring(etree.tostring(element), _PARSER)
    for node in copy.iter(etree.Element):
        if etree.QName(node).namespace == NAMESPACE:
            node.tag = etree.QName(node).localname
    etree.cleanup_namespaces(copy)
    return copy


def _text_only(element: etree._Element) -> str:
    if len(element):
        raise MalformedMetadata(f"<{_local_name(element)}> holds elements, not text")
    return element.text or ""


def from_element(element: etree._Element) -> Metadata:
    """Read a `<vmm>` element, with or without the vmm namespace.

    Raises MalformedMetadata when the element is not vmm's or its contents are unusable.
    """
    if _our_name(element) != "vmm":
        raise MalformedMetadata(f"unexpected element <{element.tag}>")
    paths: list[str] = []
    labels: list[str] = []
    extra: list[str] = []
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions
        name = _our_name(child)
        if name == "path":
            paths.append(_text_only(child))
        elif name == "label":
            labels.append(_text_only(child))
        else:
            extra.append(etree.tostring(_strip_namespace(child), encoding="unicode"))
    if len(paths) > 1:
        raise MalformedMetadata("more than one <path>")
    try:
        path = normalize_path(paths[0]) if paths else ROOT
        return Metadata(path, normalize_labels(labels), tuple(extra))
    except InvalidInput as err:
        raise MalformedMetadata(str(err)) from None


def from_xml(text: str) -> Metadata:
    """Read metadata from XML text (as `virsh metadata` or getMetadata return it)."""
    try:
        element = etree.fromstring(text.encode(), _PARSER)
    except etree.XMLSyntaxError as err:
        raise MalformedMetadata(f"not XML: {err}") from None
    return from_element(element)


def find_in_domain(domain_xml: etree._Element) -> etree._Element | None:
    """The vmm element inside a parsed domain definition, matched by namespace, not prefix."""
    return domain_xml.find(f"metadata/{{{NAMESPACE}}}vmm")


def to_element(meta: Metadata, *, namespaced: bool = False) -> etree._Element:
    """Build the element; without namespace by default, which is what setMetadata expects."""

    def tag(name: str) -> str:
        return f"{{{NAMESPACE}}}{name}" if namespaced else name

    root = etree.Element(tag("vmm"), nsmap={KEY: NAMESPACE} if namespaced else None)
    if meta.path != ROOT:
        etree.SubElement(root, tag("path")).text = meta.path
    for label in meta.labels:
        etree.SubElement(root, tag("label")).text = label
    for raw in meta.extra:
        child = etree.fromstring(raw, _PARSER)
        if namespaced:
            for node in child.iter(etree.Element):
                if etree.QName(node).namespace is None:
                    node.tag = tag(node.tag)
        root.append(child)
    return root


def to_xml(meta: Metadata, *, namespaced: bool = False) -> str:
    return etree.tostring(to_element(meta, namespaced=namespaced), encoding="unicode")
