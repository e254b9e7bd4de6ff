"""A scratch area on the real hypervisor (qemu:///system): a dir pool in a temporary directory
and tiny VMs (64 MiB, no OS, qcow2 disk), all under one per-run name prefix and removed
afterwards, even when a test fails.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import libvirt
from lxml import etree

QEMU_URI = "qemu:///system"
_counter = itertools.count()


def kvm_usable() -> bool:
    """Whether QEMU, run by libvirtd as libvirt-qemu (group kvm), can open /dev/kvm."""
    import grp

    try:
        mode = os.stat("/dev/kvm")
        kvm_gid = grp.getgrnam("kvm").gr_gid
    except (OSError, KeyError):
        return False
    by_group = mode.st_gid == kvm_gid and mode.st_mode & 0o060 == 0o060
    return by_group or mode.st_mode & 0o006 == 0o006


def domain_xml(name: str, disk: str, *, memory_mib: int = 64, fmt: str = "qcow2") -> str:
    root = etree.Element("domain", type="kvm" if kvm_usable() else "qemu")
    etree.SubElement(root, "name").text = name
    etree.SubElement(root, "memory", unit="MiB").text = str(memory_mib)
    etree.SubElement(root, "vcpu").text = "1"
    os_ = etree.SubElement(root, "os")
    etree.SubElement(os_, "type", arch="x86_64", machine="pc").text = "hvm"
    devices = etree.SubElement(root, "devices")
    disk_el = etree.SubElement(devices, "disk", type="file", device="disk")
    etree.SubElement(disk_el, "driver", name="qemu", type=fmt)
    etree.SubElement(disk_el, "source", file=disk)
    etree.SubElement(disk_el, "target", dev="vda", bus="virtio")
    etree.SubElement(devices, "serial", type="pty")
    etree.SubElement(devices, "graphics", type="vnc", listen="127.0.0.1")
    return etree.tostring(root, encoding="unicode")


class KvmLab:
    def __init__(self, conn: libvirt.virConnect) -> None:
        self.conn = conn
        self.prefix = f"vmmt{os.getpid()}-{next(_counter)}-"
        self.dir = Path(tempfile.mkdtemp(prefix="vmm-kvm-", dir="/var/tmp"))
        self.dir.chmod(0o755)  # qemu runs as another user and must reach the images
        pool_xml = etree.Element("pool", type="dir")
        etree.SubElement(pool_xml, "name").text = self.prefix + "pool"
        etree.SubElement(etree.SubElement(pool_xml, "target"), "path").text = str(self.dir)
        self.pool = conn.storagePoolCreateXML(etree.tostring(pool_xml, encoding="unicode"), 0)
        self.loose = Path(tempfile.mkdtemp(prefix="vmm-kvm-loose-", dir="/var/tmp"))
        self.loose.chmod(0o755)  # images in no pool at all

    def volume(
        self, name: str, *, mib: int = 64, backing: str | None = None, fmt: str = "qcow2"
    ) -> libvirt.virStorageVol:
        vol = etree.Element("volume")
        etree.SubElement(vol, "name").text = name
        etree.SubElement(vol, "capacity", unit="MiB").text = str(mib)
        etree.SubElement(etree.SubElement(vol, "target"), "format", type=fmt)
        if backing:
            store = etree.SubElement(vol, "backingStore")
            etree.SubElement(store, "path").text = backing
            etree.SubElement(store, "format", type="qcow2")
        return self.pool.createXML(etree.tostring(vol, encoding="unicode"), 0)

    def vm(self, name: str, *, disk_mib: int = 64, fmt: str = "qcow2") -> libvirt.virDomain:
        full = self.prefix + name
        disk = self.volume(f"{full}.{fmt}", mib=disk_mib, fmt=fmt)
        return self.conn.defineXML(domain_xml(full, disk.path(), fmt=fmt))

    def give_uefi(self, dom: libvirt.virDomain, nvram: Path) -> None:
        """Boot `dom` from OVMF, its UEFI variables in `nvram`."""
        xml = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        etree.SubElement(etree.SubElement(xml, "features"), "acpi")
        os_ = xml.find("os")
        loader = etree.SubElement(os_, "loader", readonly="yes", type="pflash")
        loader.text = "/usr/share/OVMF/OVMF_CODE.fd"
        etree.SubElement(os_, "nvram").text = str(nvram)
        self.conn.defineXML(etree.tostring(xml, encoding="unicode"))

    def loose_vm(self, name: str, *, disk_mib: int = 64) -> libvirt.virDomain:
        """A VM whose qcow2 disk lies in no storage pool."""
        full = self.prefix + name
        return self.conn.defineXML(domain_xml(full, self.loose_image(full, mib=disk_mib)))

    def loose_image(self, name: str, *, mib: int = 64) -> str:
        path = str(self.loose / f"{name}.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, f"{mib}M"], check=True)
        return path

    def image_info(self, path: str) -> dict:
        import json

        out = subprocess.run(
            ["qemu-img", "info", "-U", "--output=json", path],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout)

    def cleanup(self) -> None:
        for dom in self.conn.listAllDomains(0):
            if not dom.name().startswith(self.prefix):
                continue
            with contextlib.suppress(libvirt.libvirtError):
                if dom.isActive():
                    dom.destroy()
            flags = (
                libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
            )
            try:
                dom.undefineFlags(flags | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
            except libvirt.libvirtError:  # variables that are no file (a test made them so)
                with contextlib.suppress(libvirt.libvirtError):
                    dom.undefineFlags(flags | libvirt.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM)
        with contextlib.suppress(libvirt.libvirtError):
            self.pool.refresh(0)
            for vol in self.pool.listAllVolumes(0):
                with contextlib.suppress(libvirt.libvirtError):
                    vol.delete(0)
        with contextlib.suppress(libvirt.libvirtError):
            self.pool.destroy()
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.loose, ignore_errors=True)
