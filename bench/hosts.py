"""Hosts for the benchmarks: libvirtd's shared test node filled with N domains through the API,
and node files for in-process ("local") runs."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from pathlib import Path

import libvirt
from lxml import etree

from vmm.model import metadata
from vmm.model.metadata import Metadata

SHARED = "test+unix:///default"
DAEMON_SOCKET = Path("/run/libvirt/libvirt-sock")
PREFIX = "bench-"
FOLDERS = [
    "/lab/web",
    "/lab/db",
    "/lab/k8s/control",
    "/lab/k8s/workers",
    "/prod/eu",
    "/prod/us",
    "/desk",
]
LABELS = ["web", "db", "k8s", "prod", "test", "critical"]


def domain_xml(index: int) -> str:
    """Half the domains carry vmm metadata in nested folders with labels; half never met vmm."""
    rng = random.Random(index)
    root = etree.Element("domain", type="test")
    etree.SubElement(root, "name").text = f"{PREFIX}{index:05d}"
    etree.SubElement(root, "memory", unit="MiB").text = "512"
    etree.SubElement(root, "vcpu").text = str(1 + index % 4)
    etree.SubElement(etree.SubElement(root, "os"), "type").text = "hvm"
    if index % 2 == 0:
        meta = Metadata(rng.choice(FOLDERS), tuple(rng.sample(LABELS, 2)))
        etree.SubElement(root, "metadata").append(metadata.to_element(meta, namespaced=True))
    return etree.tostring(root, encoding="unicode")


@contextlib.contextmanager
def populated(count: int) -> Iterator[libvirt.virConnect]:
    """The shared node with `count` bench domains, kept alive by this open connection."""
    conn = libvirt.open(SHARED)
    made = [conn.defineXML(domain_xml(i)) for i in range(count)]
    for dom in made[::3]:
        dom.create()  # a third of them running
    try:
        yield conn
    finally:
        for dom in made:
            with contextlib.suppress(libvirt.libvirtError):
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
        conn.close()


def node_file(count: int, path: Path) -> Path:
    """The same domains as a node file, for a local test:/// host."""
    node = etree.Element("node")
    for i in range(count):
        node.append(etree.fromstring(domain_xml(i)))
    etree.ElementTree(node).write(str(path))
    return path
