"""Where a VM's definition records the cloud-init seed vmm made for it.

vmm's metadata says `<vmm:seed>PATH</vmm:seed>`, beside the folder and labels (an element the
original vmm tool keeps as it is, as it keeps any it does not know): removal deletes that image
with the VM, and a clone knows to make a seed of its own (vmm.model.cloudinit).
"""

from __future__ import annotations

from lxml import etree

from vmm.model.metadata import KEY, NAMESPACE

SEED_TAG = "seed"


def seed_element(path: str) -> str:
    """vmm's metadata child naming the seed (without namespace, as Metadata.extra holds it)."""
    element = etree.Element(SEED_TAG)
    element.text = path
    return etree.tostring(element, encoding="unicode")


def seed_of(domain: etree._Element) -> str | None:
    """The seed vmm made for a VM, from its parsed definition; None when it has none."""
    found = domain.findtext(f"metadata/{{{NAMESPACE}}}vmm/{{{NAMESPACE}}}{SEED_TAG}")
    return found.strip() if found and found.strip() else None


def point_seed(domain: etree._Element, old: str, new: str) -> None:
    """Point a parsed definition (edited in place) from the seed `old` to `new`: its disk and
    its record (made when it has none)."""
    for source in domain.iterfind("devices/disk/source"):
        if source.get("file") == old:
            source.set("file", new)
    ours = domain.find(f"metadata/{{{NAMESPACE}}}vmm")
    if ours is None:
        container = domain.find("metadata")
        if container is None:
            container = etree.SubElement(domain, "metadata")
        ours = etree.SubElement(container, f"{{{NAMESPACE}}}vmm", nsmap={KEY: NAMESPACE})
    record = ours.find(f"{{{NAMESPACE}}}{SEED_TAG}")
    if record is None:
        record = etree.SubElement(ours, f"{{{NAMESPACE}}}{SEED_TAG}")
    record.text = new
