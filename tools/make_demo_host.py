"""Regenerate vmm/data/demo-host.xml, the node file behind `vmm --demo` (libvirt's test driver).

Run: python tools/make_demo_host.py > vmm/data/demo-host.xml
"""

from __future__ import annotations

import sys
import uuid

from lxml import etree

TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"
VMM_NS = "http://calebstew.art/xmlns/vmm"
POOL_PATH = "/var/lib/libvirt/images"
RUNNING, PAUSED, SHUTOFF = 1, 3, 5

# name, folder (None: no vmm metadata), labels, state, extra
VMS: list[tuple[str, str | None, list[str], int, dict]] = [
    ("nginx", "/lab/web", ["web", "frontend"], RUNNING, {}),
    ("apache 2", "/lab/web", ["web"], SHUTOFF, {}),
    ("haproxy", "/lab/web", ["web", "lb"], RUNNING, {}),
    ("nginx-staging", "/lab/web/staging", ["web", "staging"], SHUTOFF, {}),
    (
        "postgres-main",
        "/lab/db",
        ["db", "critical"],
        RUNNING,
        {"snapshots": ["before-upgrade", "after-upgrade"]},
    ),
    ("mariadb", "/lab/db", ["db"], SHUTOFF, {"saved": True}),
    ("pg-replica-1", "/lab/db/replicas", ["db", "replica"], RUNNING, {}),
    ("pg-replica-2", "/lab/db/replicas", ["db", "replica"], RUNNING, {}),
    ("ci-runner", "/lab", ["ci"], RUNNING, {}),
    ("k8s-cp-1", "/lab/k8s/control", ["k8s"], RUNNING, {}),
    ("k8s-cp-2", "/lab/k8s/control", ["k8s"], RUNNING, {}),
    ("k8s-cp-3", "/lab/k8s/control", ["k8s"], RUNNING, {}),
    ("k8s-worker-1", "/lab/k8s/workers", ["k8s"], RUNNING, {}),
    ("k8s-worker-2", "/lab/k8s/workers", ["k8s"], PAUSED, {}),
    ("k8s-worker-3", "/lab/k8s/workers", ["k8s"], SHUTOFF, {}),
    ("Windows 11", "/desktop", ["windows", "gaming"], SHUTOFF, {"snapshots": ["clean install"]}),
    ("Fedora Workstation", "/desktop", ["linux"], RUNNING, {}),
    ("Jeux rétro 🎮", "/desktop/retro", ["gaming"], SHUTOFF, {}),
    ("debian-12-base", "/templates", ["template"], SHUTOFF, {}),
    ("ubuntu-24.04-base", "/templates", ["template"], SHUTOFF, {}),
    ("api-01", "/prod/eu-west", ["api", "prod"], RUNNING, {}),
    ("api-02", "/prod/eu-west", ["api", "prod"], RUNNING, {}),
    ("scratch", None, [], SHUTOFF, {}),
    ("test vm", None, [], RUNNING, {}),
    ("büro-pc", None, [], SHUTOFF, {}),
]


def volume_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in name) + ".qcow2"


def domain_body(parent: etree._Element, name: str, index: int, vcpus: int) -> None:
    etree.SubElement(parent, "name").text = name
    etree.SubElement(parent, "uuid").text = str(uuid.uuid5(uuid.NAMESPACE_URL, f"vmm-demo/{name}"))
    etree.SubElement(parent, "memory", unit="MiB").text = str(512 * (1 + index % 4))
    etree.SubElement(parent, "vcpu").text = str(vcpus)
    os_ = etree.SubElement(parent, "os")
    etree.SubElement(os_, "type").text = "hvm"
    devices = etree.SubElement(parent, "devices")
    disk = etree.SubElement(devices, "disk", type="file", device="disk")
    etree.SubElement(disk, "driver", name="qemu", type="qcow2")
    etree.SubElement(disk, "source", file=f"{POOL_PATH}/{volume_name(name)}")
    etree.SubElement(disk, "target", dev="vda", bus="virtio")
    iface = etree.SubElement(devices, "interface", type="network")
    etree.SubElement(iface, "mac", address=f"52:54:00:00:00:{index:02x}")
    etree.SubElement(iface, "source", network="default")
    etree.SubElement(iface, "target", dev=f"vnet{index}")


def add_metadata(domain: etree._Element, folder: str, labels: list[str]) -> None:
    meta = etree.SubElement(domain, "metadata")
    vmm = etree.SubElement(meta, f"{{{VMM_NS}}}vmm", nsmap={"vmm": VMM_NS})
    if folder != "/":
        etree.SubElement(vmm, f"{{{VMM_NS}}}path").text = folder
    for label in labels:
        etree.SubElement(vmm, f"{{{VMM_NS}}}label").text = label


def add_snapshots(domain: etree._Element, name: str, index: int, snapshots: list[str]) -> None:
    for position, snap in enumerate(snapshots):
        element = etree.SubElement(domain, f"{{{TEST_NS}}}domainsnapshot")
        etree.SubElement(element, "name").text = snap
        etree.SubElement(element, "state").text = "shutoff"
        etree.SubElement(element, "creationTime").text = str(1_760_000_000 + 86_400 * position)
        etree.SubElement(element, "active").text = "1" if position == len(snapshots) - 1 else "0"
        if position:
            etree.SubElement(etree.SubElement(element, "parent"), "name").text = snapshots[
                position - 1
            ]
        domain_body(etree.SubElement(element, "domain", type="test"), name, index, 1)


def build() -> etree._Element:
    node = etree.Element("node")
    for index, (name, folder, labels, state, extra) in enumerate(VMS):
        domain = etree.SubElement(node, "domain", type="test", nsmap={"test": TEST_NS})
        domain_body(domain, name, index, 1 + index % 4)
        if folder is not None:
            add_metadata(domain, folder, labels)
        etree.SubElement(domain, f"{{{TEST_NS}}}runstate").text = str(state)
        if extra.get("saved"):
            etree.SubElement(domain, f"{{{TEST_NS}}}hasmanagedsave").text = "1"
        add_snapshots(domain, name, index, extra.get("snapshots", []))
    network = etree.SubElement(node, "network")
    etree.SubElement(network, "name").text = "default"
    etree.SubElement(network, "bridge", name="virbr0")
    etree.SubElement(network, "forward")
    ip = etree.SubElement(network, "ip", address="192.168.122.1", netmask="255.255.255.0")
    etree.SubElement(
        etree.SubElement(ip, "dhcp"), "range", start="192.168.122.2", end="192.168.122.254"
    )
    pool = etree.SubElement(node, "pool", type="dir")
    etree.SubElement(pool, "name").text = "default-pool"
    etree.SubElement(etree.SubElement(pool, "target"), "path").text = POOL_PATH
    for name, *_ in VMS:
        volume = etree.SubElement(pool, "volume", type="file")
        etree.SubElement(volume, "name").text = volume_name(name)
        etree.SubElement(volume, "capacity", unit="GiB").text = "20"
        etree.SubElement(volume, "allocation", unit="GiB").text = "2"
        etree.SubElement(etree.SubElement(volume, "target"), "format", type="qcow2")
    return node


if __name__ == "__main__":
    sys.stdout.write(etree.tostring(build(), pretty_print=True, encoding="unicode"))
