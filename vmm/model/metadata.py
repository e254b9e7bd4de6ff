"""The `<vmm:vmm>` element: a VM's folder and labels, kept in the domain's own XML.

Pure: values in, values out, no libvirt and no I/O. The format is shared with the original vmm
tool, so both read what the other writes:

    <vmm:vmm xmlns:vmm="http://calebstew.art/xmlns/vmm">
      <vmm:path>/lab/web</vmm:path>
      <vmm:label>web</vmm:label>
    </vmm:vmm>
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from lxml import etree

from vmm.model.errors import InvalidInput
from vmm.model.tree import ROOT

NAMESPACE = "http://calebstew.art/xmlns/vmm"
KEY = "vmm"

# The one parser for XML that libvirt stored on behalf of anyone: no entity is expanded (libvirt
# keeps another application's `&xxe;` unexpanded), no DTD or network is reached, no huge tree.
PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    remove_blank_text=True,
)
# Bounds of a folder path: a path thousands of folders deep costs every listing dearly.
MAX_DEPTH = 64
MAX_PATH_LENGTH = 1024
MAX_NAME_LENGTH = 255


def parse(text: str | bytes) -> etree._Element:
    """Parse stored XML safely; raises etree.XMLSyntaxError when it is not well-formed."""
    return etree.fromstring(text.encode() if isinstance(text, str) else text, PARSER)


class MalformedMetadata(ValueError):
    """Stored metadata that cannot be read; the VM is then shown with the defaults."""


@dataclass(frozen=True)
class Metadata:
    """What vmm knows of a VM: its folder, its labels, and children it does not understand.

    `extra` holds unknown child elements, serialised without the vmm namespace, so that a
    rewrite by this version keeps what a newer version (or another tool) stored. `source` is
    the element as it was read, when it was: a rewrite edits it in place, so attributes and
    comments survive too. It is no part of the value (two reads of one meaning are equal).
    """

    path: str = ROOT
    labels: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    source: str | None = field(default=None, compare=False, repr=False)

    @property
    def is_default(self) -> bool:
        """True when writing this would say nothing: the element should then be removed."""
        plain = self.path == ROOT and not self.labels and not self.extra
        return plain and (self.source is None or not _holds_more(parse(self.source)))

    def moved_to(self, path: str) -> Metadata:
        return replace(self, path=normalise_path(path))

    def with_labels(self, labels: Iterable[str]) -> Metadata:
        return replace(self, labels=normalise_labels([*self.labels, *labels]))

    def without_labels(self, labels: Iterable[str]) -> Metadata:
        gone = set(normalise_labels(labels))
        return replace(self, labels=tuple(label for label in self.labels if label not in gone))


# Control characters (Unicode category Cc), and what XML 1.0 cannot hold at all: surrogates
# (category Cs), U+FFFE and U+FFFF.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def has_control_chars(text: str) -> bool:
    return _FORBIDDEN.search(text) is not None


def fits_in_xml(text: str) -> bool:
    """Whether free text (a description: lines and tabs allowed) can be stored in XML."""
    return not has_control_chars(text.replace("\n", "").replace("\t", "").replace("\r", ""))


def _shown(text: str, most: int = 60) -> str:
    """`text` quoted for a one-line message, cut short when long."""
    return repr(text) if len(text) <= most else f"{text[:most]!r}..."


def normalise_path(raw: str) -> str:
    """Return the canonical form of a folder path: absolute, no empty, `.` or `..` segments.

    Relative input is taken relative to `/`; `..` may not climb above `/`. At most MAX_DEPTH
    folders deep, MAX_PATH_LENGTH characters long, MAX_NAME_LENGTH per folder name.
    """
    text = raw.strip()
    if not text:
        raise InvalidInput("empty path")
    if has_control_chars(text):
        raise InvalidInput(f"path {_shown(raw)} contains control characters")
    parts: list[str] = []
    for part in text.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise InvalidInput(f"path {_shown(raw)} goes above /")
            parts.pop()
        elif not part.strip():
            raise InvalidInput(f"path {_shown(raw)} has a blank folder name")
        elif len(part) > MAX_NAME_LENGTH:
            raise InvalidInput(
                f"folder name {_shown(part, 20)} is {len(part)} characters long;"
                f" at most {MAX_NAME_LENGTH} are allowed"
            )
        else:
            parts.append(part)
    if len(parts) > MAX_DEPTH:
        raise InvalidInput(f"path is {len(parts)} folders deep; at most {MAX_DEPTH} are allowed")
    path = ROOT + "/".join(parts)
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidInput(
            f"path is {len(path)} characters long; at most {MAX_PATH_LENGTH} are allowed"
        )
    return path


def normalise_label(raw: str) -> str:
    label = raw.strip()
    if not label:
        raise InvalidInput("empty label")
    if has_control_chars(label):
        raise InvalidInput(f"label {raw!r} contains control characters")
    return label


def normalise_labels(raw: Iterable[str]) -> tuple[str, ...]:
    """Trim each label and drop repeats, keeping the first occurrence's position."""
    return tuple(dict.fromkeys(normalise_label(label) for label in raw))


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
    """A copy of `element` (without the text after it) with the vmm namespace removed from it
    and its descendants."""
    stripped = copy.deepcopy(element)
    stripped.tail = None
    for node in stripped.iter(etree.Element):
        if etree.QName(node).namespace == NAMESPACE:
            node.tag = etree.QName(node).localname
    etree.cleanup_namespaces(stripped)
    return stripped


def _holds_more(element: etree._Element) -> bool:
    """Whether a vmm element says more than its path, labels and unknown children: attributes,
    comments, processing instructions, text."""
    if element.attrib or (element.text or "").strip():
        return True
    return any(not isinstance(child.tag, str) or (child.tail or "").strip() for child in element)


def _text_only(element: etree._Element) -> str:
    if len(element):
        raise MalformedMetadata(f"<{_local_name(element)}> holds elements, not text")
    return element.text or ""


def from_element(element: etree._Element, *, keep_source: bool = True) -> Metadata:
    """Read a `<vmm>` element, with or without the vmm namespace; with `keep_source`, the
    element itself is kept too, for a rewrite to edit (a listing goes without).

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
        path = normalise_path(paths[0]) if paths else ROOT
        found = Metadata(path, normalise_labels(labels), tuple(extra))
    except InvalidInput as err:
        raise MalformedMetadata(str(err)) from None
    if not keep_source:
        return found
    return replace(found, source=etree.tostring(_strip_namespace(element), encoding="unicode"))


def from_xml(text: str) -> Metadata:
    """Read metadata from XML text (as `virsh metadata` or getMetadata return it)."""
    try:
        element = parse(text)
    except etree.XMLSyntaxError as err:
        raise MalformedMetadata(f"not XML: {err}") from None
    return from_element(element)


def find_in_domain(domain_xml: etree._Element) -> etree._Element | None:
    """The vmm element inside a parsed domain definition, matched by namespace, not prefix."""
    return domain_xml.find(f"metadata/{{{NAMESPACE}}}vmm")


def replace_in_domain(domain_xml: etree._Element, meta: Metadata) -> None:
    """Put `meta` in a parsed domain definition in place of its vmm element, if any."""
    container = domain_xml.find("metadata")
    if container is None:
        container = etree.SubElement(domain_xml, "metadata")
    old = find_in_domain(domain_xml)
    if old is not None:
        container.remove(old)
    if not meta.is_default:
        container.append(to_element(meta, namespaced=True))


def to_element(meta: Metadata, *, namespaced: bool = False) -> etree._Element:
    """Build the element; without namespace by default, which is what setMetadata expects.

    Metadata read from an element is written as that element edited in place: what vmm does
    not understand in it (attributes, comments, unknown children) stays as it was."""
    root = _edited(meta, parse(meta.source)) if meta.source is not None else _built(meta)
    return _with_namespace(root) if namespaced else root


def _new(tag: str, text: str) -> etree._Element:
    element = etree.Element(tag)
    element.text = text
    return element


def _built(meta: Metadata) -> etree._Element:
    root = etree.Element("vmm")
    if meta.path != ROOT:
        root.append(_new("path", meta.path))
    for label in meta.labels:
        root.append(_new("label", label))
    for raw in meta.extra:
        root.append(parse(raw))
    return root


def _edited(meta: Metadata, source: etree._Element) -> etree._Element:
    """`source` holding `meta`'s path and labels: one <path> (the first kept, with its
    attributes), the labels in order where the first one was (each kept one with its own)."""
    root = _strip_namespace(source)
    paths = [child for child in root if child.tag == "path"]
    for extra_path in paths[1:]:
        root.remove(extra_path)
    path = paths[0] if paths else None
    if meta.path == ROOT and path is not None:
        root.remove(path)
        path = None
    elif meta.path != ROOT and path is None:
        path = _new("path", meta.path)
        root.insert(0, path)
    elif path is not None:
        path.text = meta.path
    old = [child for child in root if child.tag == "label"]
    where = root.index(old[0]) if old else _after(root, path)
    kept: dict[str, etree._Element] = {}
    for label in old:
        kept.setdefault((label.text or "").strip(), label)
        root.remove(label)
    for offset, text in enumerate(meta.labels):
        label = kept.get(text, _new("label", text))
        label.text = text
        root.insert(where + offset, label)
    return root


def _after(root: etree._Element, child: etree._Element | None) -> int:
    """The index just after `child` in `root`, or the end when there is no such child."""
    return root.index(child) + 1 if child is not None else len(root)


def _with_namespace(root: etree._Element) -> etree._Element:
    """A copy of an element without namespace, in the vmm namespace under the `vmm` prefix."""
    named = etree.Element(f"{{{NAMESPACE}}}vmm", dict(root.attrib), nsmap={KEY: NAMESPACE})
    named.text = root.text
    named.extend(list(root))
    for node in named.iter(etree.Element):
        if etree.QName(node).namespace is None:
            node.tag = f"{{{NAMESPACE}}}{node.tag}"
    return named


def to_xml(meta: Metadata, *, namespaced: bool = False) -> str:
    return etree.tostring(to_element(meta, namespaced=namespaced), encoding="unicode")
