"""One typed view of a domain's definition, parsed once, and the edits clones and new VMs make.

Pure: lxml only, no libvirt and no I/O. A `Definition` is read from the XML libvirt gave (with a
parser that expands no entity and fetches nothing) and is never changed in place: each edit
returns a new one, so the source a clone starts from stays as it was for the undo.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from lxml import etree

from vmm.model import metadata
from vmm.model.metadata import Metadata
from vmm.model.seed import point_seed, seed_element, seed_of

# For a definition that is not well-formed (libvirt keeps another application's undefined
# entities as they are): its devices are still read, so that no disk goes unseen by a check.
_RECOVERING = etree.XMLParser(
    recover=True, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


def parse_definition(text: str) -> etree._Element:
    """A domain's (or volume's, pool's) XML as libvirt gave it, parsed safely: no entity is
    expanded, nothing fetched; one VM's odd XML never stops a check over every VM."""
    try:
        return metadata.parse(text)
    except etree.XMLSyntaxError:
        return etree.fromstring(text.encode(), _RECOVERING)


@dataclass(frozen=True)
class Disk:
    target: str
    device: str  # disk, cdrom, floppy, lun
    path: str | None
    format: str | None
    readonly: bool
    shareable: bool
    kind: str = "file"  # the disk's type: file, block, volume, network, ...
    has_source: bool = True

    @property
    def exclusive(self) -> bool:
        """Written by this VM alone: the kind a clone needs its own copy or overlay of."""
        return self.device == "disk" and not self.readonly and not self.shareable

    @property
    def writable(self) -> bool:
        """An exclusive disk on a file or device vmm can reach."""
        return self.exclusive and bool(self.path)

    @property
    def out_of_reach(self) -> bool:
        """An exclusive disk that is no file or device (a network disk, a volume by name):
        vmm can neither copy it nor lay an overlay on it."""
        return self.exclusive and self.has_source and not self.path


@dataclass(frozen=True)
class Interface:
    kind: str  # the interface's type: network, bridge, user, direct, ...
    mac: str | None
    network: str | None
    bridge: str | None
    model: str | None
    device: str | None = None  # the host device of a direct (macvtap) interface

    @property
    def source(self) -> str:
        """What it is plugged into: a network, a bridge or a host device."""
        return self.network or self.bridge or self.device or ""


def _attr(element: etree._Element, path: str, name: str) -> str | None:
    found = element.find(path)
    return found.get(name) if found is not None else None


def _disk(disk: etree._Element) -> Disk:
    source = disk.find("source")
    kind = disk.get("type", "file")
    path = None
    if source is not None:
        path = source.get("file") or source.get("dev") or source.get("volume")
    return Disk(
        target=_attr(disk, "target", "dev") or "",
        device=disk.get("device", "disk"),
        path=path if kind in ("file", "block") else None,
        format=_attr(disk, "driver", "type"),
        readonly=disk.find("readonly") is not None,
        shareable=disk.find("shareable") is not None,
        kind=kind,
        has_source=source is not None,
    )


def _interface(iface: etree._Element) -> Interface:
    return Interface(
        kind=iface.get("type", ""),
        mac=_attr(iface, "mac", "address"),
        network=_attr(iface, "source", "network"),
        bridge=_attr(iface, "source", "bridge"),
        model=_attr(iface, "model", "type"),
        device=_attr(iface, "source", "dev"),
    )


def disks_of(domain_xml: etree._Element) -> list[Disk]:
    return [_disk(disk) for disk in domain_xml.iterfind("devices/disk")]


@dataclass(frozen=True)
class Definition:
    """A domain's definition: the fields vmm reads, and the tree they were read from."""

    name: str
    uuid: str | None
    disks: tuple[Disk, ...]
    interfaces: tuple[Interface, ...]
    nvram: str | None
    metadata_element: etree._Element | None = field(compare=False, repr=False)
    root: etree._Element = field(compare=False, repr=False)

    @classmethod
    def from_xml(cls, text: str) -> Definition:
        return cls.of(parse_definition(text))

    @classmethod
    def of(cls, root: etree._Element) -> Definition:
        """The view of a parsed tree, which it takes over (it must not be edited after)."""
        return cls(
            name=root.findtext("name") or "",
            uuid=root.findtext("uuid"),
            disks=tuple(disks_of(root)),
            interfaces=tuple(_interface(i) for i in root.iterfind("devices/interface")),
            nvram=root.findtext("os/nvram"),
            metadata_element=metadata.find_in_domain(root),
            root=root,
        )

    def to_xml(self) -> str:
        return etree.tostring(self.root, encoding="unicode")

    @property
    def has_nvram(self) -> bool:
        """UEFI variables of its own (a template's <nvram/> with no path, too)."""
        return self.root.find("os/nvram") is not None

    @property
    def meta(self) -> Metadata:
        """vmm's folder and labels; the defaults when there are none or they are unreadable."""
        if self.metadata_element is None:
            return Metadata()
        try:
            return metadata.from_element(self.metadata_element)
        except metadata.MalformedMetadata:
            return Metadata()

    def _edited(self, change: Callable[[etree._Element], None]) -> Definition:
        root = etree.fromstring(etree.tostring(self.root))
        change(root)
        return Definition.of(root)

    def renamed(self, name: str) -> Definition:
        def rename(root: etree._Element) -> None:
            found = root.find("name")
            (found if found is not None else etree.SubElement(root, "name")).text = name

        return self._edited(rename)

    def with_uuid(self, uuid: str) -> Definition:
        def set_uuid(root: etree._Element) -> None:
            found = root.find("uuid")
            (found if found is not None else etree.SubElement(root, "uuid")).text = uuid

        return self._edited(set_uuid)

    def without_identity(self) -> Definition:
        """No UUID and no MAC addresses: libvirt (or the caller) makes new ones."""

        def strip(root: etree._Element) -> None:
            for element in (*root.findall("uuid"), *root.iterfind("devices/interface/mac")):
                element.getparent().remove(element)

        return self._edited(strip)

    def with_disk_at(self, target: str, path: str) -> Definition:
        """The disk `target` on the qcow2 file at `path`, with no backing chain of its own
        (libvirt reads the new image's chain from the image)."""

        def point(root: etree._Element) -> None:
            for disk in root.iterfind("devices/disk"):
                if _attr(disk, "target", "dev") == target:
                    _point_disk_at(disk, path)

        return self._edited(point)

    def with_disks_at(self, paths: dict[str, str]) -> Definition:
        view = self
        for target, path in paths.items():
            view = view.with_disk_at(target, path)
        return view

    def with_disk_files(self, paths: dict[str, str]) -> Definition:
        """Each disk `target` of `paths` on the file there, its format and all else kept."""

        def point(root: etree._Element) -> None:
            for disk in root.iterfind("devices/disk"):
                path = paths.get(_attr(disk, "target", "dev") or "")
                source = disk.find("source")
                if path is not None and source is not None:
                    source.attrib.clear()
                    source.set("file", path)
                    disk.set("type", "file")

        return self._edited(point)

    def with_nvram(self, path: str | None) -> Definition:
        """UEFI variables at `path`; None leaves the file for libvirt to name (from the
        template) when the definition has variables at all."""

        def set_nvram(root: etree._Element) -> None:
            nvram = root.find("os/nvram")
            if nvram is not None:
                nvram.text = path
            elif path is not None:
                os_ = root.find("os")
                os_ = os_ if os_ is not None else etree.SubElement(root, "os")
                etree.SubElement(os_, "nvram").text = path

        return self._edited(set_nvram)

    @property
    def seed(self) -> str | None:
        """The cloud-init seed image vmm made for this VM, if it made one."""
        return seed_of(self.root)

    def with_seed_at(self, old: str, new: str) -> Definition:
        """The seed disk on the image `old` moved to `new`, and recorded as vmm's seed."""
        return self._edited(lambda root: point_seed(root, old, new))

    def with_metadata(self, meta: Metadata) -> Definition:
        """`meta` in place of vmm's element; other applications' metadata stays."""
        return self._edited(lambda root: metadata.replace_in_domain(root, meta))


def _point_disk_at(disk: etree._Element, path: str) -> None:
    disk.set("type", "file")
    for old in disk.findall("source") + disk.findall("backingStore"):
        disk.remove(old)
    driver = disk.find("driver")
    if driver is not None:
        driver.set("type", "qcow2")
    source = etree.Element("source", file=path)
    (driver if driver is not None else disk.find("target")).addprevious(source)


def new_domain(
    name: str,
    *,
    kind: tuple[str, str],
    memory_mib: int,
    vcpus: int,
    disk: str,
    network: str | None,
    meta: Metadata,
    seed: str | None = None,
) -> Definition:
    """A new VM's definition: one virtio qcow2 disk at `disk`, a virtio NIC on `network`
    when given, a serial console, the guest agent's channel and VNC on localhost; `kind` is
    (domain type, arch). No machine type: the host's default for the architecture.

    `seed`: a cloud-init seed image, attached read-only as a virtio disk (Debian's cloud
    kernel sees no SATA cdrom) and recorded in vmm's metadata (see vmm.model.cloudinit)."""
    dom_type, arch = kind
    root = etree.Element("domain", type=dom_type)
    etree.SubElement(root, "name").text = name
    if seed is not None:
        meta = replace(meta, extra=(*meta.extra, seed_element(seed)))
    if not meta.is_default:
        etree.SubElement(root, "metadata").append(metadata.to_element(meta, namespaced=True))
    etree.SubElement(root, "memory", unit="MiB").text = str(memory_mib)
    etree.SubElement(root, "vcpu").text = str(vcpus)
    etree.SubElement(etree.SubElement(root, "os"), "type", arch=arch).text = "hvm"
    features = etree.SubElement(root, "features")
    etree.SubElement(features, "acpi")
    etree.SubElement(features, "apic")
    devices = etree.SubElement(root, "devices")
    disk_el = etree.SubElement(devices, "disk", type="file", device="disk")
    etree.SubElement(disk_el, "driver", name="qemu", type="qcow2")
    etree.SubElement(disk_el, "source", file=disk)
    etree.SubElement(disk_el, "target", dev="vda", bus="virtio")
    if seed is not None:
        seed_el = etree.SubElement(devices, "disk", type="file", device="disk")
        etree.SubElement(seed_el, "driver", name="qemu", type="raw")
        etree.SubElement(seed_el, "source", file=seed)
        etree.SubElement(seed_el, "target", dev="vdb", bus="virtio")
        etree.SubElement(seed_el, "readonly")
    if network:
        iface = etree.SubElement(devices, "interface", type="network")
        etree.SubElement(iface, "source", network=network)
        etree.SubElement(iface, "model", type="virtio")
    etree.SubElement(devices, "serial", type="pty")
    etree.SubElement(devices, "console", type="pty")
    agent = etree.SubElement(devices, "channel", type="unix")  # for qemu-guest-agent
    etree.SubElement(agent, "target", type="virtio", name="org.qemu.guest_agent.0")
    etree.SubElement(devices, "graphics", type="vnc", listen="127.0.0.1")
    return Definition.of(root)
