"""Every definition vmm writes, compared with a golden file under tests/golden/.

What is compared: the definition libvirt holds after the real command (a linked clone, a full
clone, `vmm new --base`); the XML vmm's builders hand to defineXMLFlags for a clone and a new
VM (before libvirt fills in its defaults); and the overlay volume XML vmm gives
storageVolCreateXML. Only what is
random in each run is replaced, in both the output and the file, by a placeholder: UUIDs
({UUID}), MAC addresses ({MAC}) and the test's temporary directory ({TMP}).

When a change to vmm's XML is meant, regenerate the files and review their diff:

    VMM_REGEN_GOLDEN=1 .venv/bin/python -m pytest -q tests/ops/test_golden.py
    git diff tests/golden/
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import libvirt
import pytest
from lxml import etree

from vmm.model.definition import Definition
from vmm.model.metadata import Metadata
from vmm.ops import clone, create
from vmm.virt import domains, images, seeds

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
REGENERATE = os.environ.get("VMM_REGEN_GOLDEN") == "1"
_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_MAC = re.compile(r"\b[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}\b")
SOURCE_MAC = "52:54:00:0a:0b:0c"


def normalised(text: str, tmp: Path | None = None) -> str:
    if tmp is not None:
        text = text.replace(str(tmp), "{TMP}")
    return _MAC.sub("{MAC}", _UUID.sub("{UUID}", text))


def assert_golden(name: str, text: str, tmp: Path | None = None) -> None:
    path = GOLDEN / name
    actual = normalised(text, tmp)
    if REGENERATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual)
    assert path.exists(), f"no golden file {path}: run with VMM_REGEN_GOLDEN=1"
    assert actual == normalised(path.read_text(), tmp)


def stored(host, name: str) -> str:
    return host.lookup(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)


@pytest.fixture
def source(shost):
    """lone-vm with a NIC (its MAC must not travel), a shared CD-ROM, a folder and a label."""
    xml = etree.fromstring(stored(shost, "lone-vm"))
    devices = xml.find("devices")
    nic = etree.SubElement(devices, "interface", type="network")
    etree.SubElement(nic, "mac", address=SOURCE_MAC)
    etree.SubElement(nic, "source", network="default")
    etree.SubElement(nic, "model", type="virtio")
    cdrom = etree.SubElement(devices, "disk", type="file", device="cdrom")
    etree.SubElement(cdrom, "source", file="/pool/installer.iso")
    etree.SubElement(cdrom, "target", dev="sda", bus="sata")
    etree.SubElement(cdrom, "readonly")
    shost.conn.defineXML(etree.tostring(xml, encoding="unicode"))
    return "lone-vm"


@pytest.mark.parametrize(
    ("args", "golden"),
    [
        (["--to", "/golden", "--label", "g"], "linked-clone.xml"),
        (["--full", "--to", "/golden", "--label", "g"], "full-clone.xml"),
    ],
)
def test_a_clones_definition(srun, shost, source, args, golden):
    result = srun("clone", *args, source, "lone copy")
    assert result.exit_code == 0, result.output
    written = stored(shost, "lone copy")
    assert SOURCE_MAC not in written and shost.lookup(source).UUIDString() not in written
    assert_golden(golden, written)


NETWORK = """<network><name>default</name><bridge name="virbr9"/><forward/>
<ip address="192.0.2.1" netmask="255.255.255.0"/></network>"""


def test_a_new_vms_definition(srun, shost):
    shost.conn.networkCreateXML(NETWORK)  # `new` checks the network is there and up
    result = srun(
        "new", "fresh", "--base", "pool/template.qcow2", "--memory", "256", "--vcpus", "2",
        "--network", "default", "--to", "/golden",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert_golden("new-vm.xml", stored(shost, "fresh"))


def test_the_clone_xml_vmm_sends(shost, source):
    view = Definition.from_xml(domains.persistent_xml(shost.lookup(source)))
    paths = {"vda": "/pool/lone-copy-vda.qcow2"}
    xml = clone.clone_xml(view, "lone copy", paths, Metadata("/golden", ("g",)))
    assert_golden("clone-sent.xml", xml)


def test_the_new_vm_xml_vmm_sends(shost):
    shape = create.Shape(256, 2, "default")
    kind = create.guest_type(shost.conn)
    xml = create.domain_xml("fresh", "/pool/fresh.qcow2", shape, kind, "default", Metadata("/g"))
    assert_golden("new-vm-sent.xml", xml)


def test_the_new_vm_xml_vmm_sends_with_a_seed(shost):
    """`vmm new --image`: the cloud-init seed as a read-only virtio disk, recorded as vmm's."""
    shape = create.Shape(256, 2, "default")
    kind = create.guest_type(shost.conn)
    meta = Metadata("/g", ("web",))
    xml = create.domain_xml(
        "fresh", "/pool/fresh.qcow2", shape, kind, "default", meta, "/pool/fresh-seed.img"
    )
    assert_golden("new-vm-seed-sent.xml", xml)


def test_the_clone_xml_vmm_sends_for_a_seeded_source(shost):
    shape = create.Shape(256, 2, "default")
    kind = create.guest_type(shost.conn)
    source_xml = create.domain_xml(
        "fresh", "/pool/fresh.qcow2", shape, kind, None, Metadata("/g"), "/pool/fresh-seed.img"
    )
    view = Definition.from_xml(source_xml)
    paths = {"vda": "/pool/twin-vda.qcow2"}
    xml = clone.clone_xml(view, "twin", paths, Metadata("/golden", ("g",)), "/pool/twin-seed.img")
    assert_golden("seeded-clone-sent.xml", xml)


def test_the_seed_volume_xml(shost):
    xml = seeds.raw_volume_xml("fresh-seed.img", 65536)
    made = shost.conn.storagePoolLookupByName("pool").createXML(xml, 0)  # libvirt takes it
    assert made.path() == "/pool/fresh-seed.img"
    assert_golden("seed-volume.xml", xml)


@pytest.mark.parametrize("base", ["/pool/lone.qcow2", "/pool/installer.iso", "loose"])
def test_the_overlay_volume_xml(shost, tmp_path, base):
    """The XML create_overlay gives storageVolCreateXML, for a qcow2 and a raw base in a pool
    and for a base in no pool (a new VM's disk on a local image, its overlay in a pool)."""
    if base == "loose":
        base = str(tmp_path / "loose.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", base, "64M"], check=True)
    image = images.image_at(shost.conn, base, None)
    xml = images.overlay_xml("lone-copy-vda.qcow2", image)
    made = shost.conn.storagePoolLookupByName("pool").createXML(xml, 0)  # libvirt takes it
    assert made.path() == "/pool/lone-copy-vda.qcow2"
    assert_golden(f"overlay-of-{Path(base).stem}.xml", xml, tmp_path)
