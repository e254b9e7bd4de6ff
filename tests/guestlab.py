"""A real Debian guest on the real hypervisor, for the guest tier (tests/guest).

The image comes from tools/build-guest.sh (cached). It has no boot loader, so the test turns the
VM `vmm new` defined into a direct kernel boot (kernel, initrd, command line), attaches a
cloud-init NoCloud seed (an ISO labelled cidata, read-only virtio disk) carrying the test's ssh
key, and logs the serial console to a file. KVM or TCG is decided by booting the kernel under
KVM once (see `probe_kvm`), never guessed. Everything lives under a KvmLab's per-run prefix and
scratch pool and is removed afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import libvirt
from kvmlab import KvmLab, kvm_usable
from lxml import etree

REPO = Path(__file__).resolve().parent.parent
CMDLINE = "root=/dev/vda console=ttyS0 net.ifnames=0"
# A kernel message with its timestamp: the kernel proper runs (past the decompressor, which is
# where nested KVM on these machines hangs).
KERNEL_RUNS = re.compile(rb"\[\s*\d+\.\d{6}\] ")
PROBE_SECONDS = 20  # a kernel under working KVM prints its first messages within ~2 s
BOOT_SECONDS = 240  # TCG here: a DHCP lease at ~30 s, ssh at ~70 s; two guests at once: slower


def build_image() -> Path:
    """The cache directory with guest.qcow2, vmlinuz and initrd.img (built on first use)."""
    out = subprocess.run(
        [str(REPO / "tools" / "build-guest.sh")],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return Path(out.stdout.strip().splitlines()[-1])


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def wait_for(what: str, check: Callable[[], object], seconds: float, log: Path | None = None):
    """Poll `check` until it returns something true; fail with the console's tail if not."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            tail = log.read_bytes()[-3000:].decode(errors="replace") if log and log.exists() else ""
            raise AssertionError(f"{what}: not within {seconds} s\n--- serial console ---\n{tail}")
        time.sleep(1)


class GuestLab(KvmLab):
    def __init__(self, conn: libvirt.virConnect, cache: Path) -> None:
        super().__init__(conn)
        for name in ("vmlinuz", "initrd.img"):
            shutil.copy(cache / name, self.loose / name)
        # the base image, in the pool as `vmm new --base POOL/VOLUME` takes it
        self.base_name = self.prefix + "base.qcow2"
        self.base = self.dir / self.base_name
        shutil.copy(cache / "guest.qcow2", self.base)
        self.pool.refresh(0)
        self.key = self.loose / "id_ed25519"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vmm-test", "-f", str(self.key)],
            check=True,
        )
        self.seed = self._seed_iso()
        self.domain_type = "kvm"
        self.why = ""

    def _seed_iso(self) -> Path:
        src = self.loose / "seed"
        src.mkdir()
        public = self.key.with_suffix(".pub").read_text().strip()
        (src / "meta-data").write_text("instance-id: vmm-guest-test\nlocal-hostname: vmmguest\n")
        (src / "user-data").write_text(
            f"#cloud-config\ndisable_root: false\nssh_authorized_keys:\n  - {public}\n"
        )
        iso = self.loose / "seed.iso"
        subprocess.run(
            ["genisoimage", "-quiet", "-output", str(iso), "-volid", "cidata", "-joliet",
             "-rock", str(src / "user-data"), str(src / "meta-data")],
            check=True,
        )  # fmt: skip
        return iso

    def console_log(self, name: str) -> Path:
        return self.loose / f"{name}.console.log"

    # -- KVM or TCG -------------------------------------------------------------------------

    def probe_kvm(self) -> tuple[str, str]:
        """('kvm' or 'qemu', why): boot the guest's kernel (no disk) under KVM and watch the
        serial console for a message of the kernel proper within PROBE_SECONDS."""
        if not kvm_usable():
            return "qemu", "/dev/kvm is not usable by QEMU"
        name = self.prefix + "kvm-probe"
        log = self.console_log(name)
        root = etree.Element("domain", type="kvm")
        etree.SubElement(root, "name").text = name
        etree.SubElement(root, "memory", unit="MiB").text = "256"
        os_ = etree.SubElement(root, "os")
        etree.SubElement(os_, "type", arch="x86_64").text = "hvm"
        etree.SubElement(os_, "kernel").text = str(self.loose / "vmlinuz")
        etree.SubElement(os_, "initrd").text = str(self.loose / "initrd.img")
        etree.SubElement(os_, "cmdline").text = "console=ttyS0 panic=-1"
        serial = etree.SubElement(etree.SubElement(root, "devices"), "serial", type="pty")
        etree.SubElement(serial, "log", file=str(log), append="off")
        try:
            dom = self.conn.createXML(etree.tostring(root, encoding="unicode"), 0)
        except libvirt.libvirtError as err:
            return "qemu", f"a KVM guest does not start: {err.get_error_message()}"
        started = time.monotonic()
        try:
            while time.monotonic() - started < PROBE_SECONDS:
                if log.exists() and KERNEL_RUNS.search(log.read_bytes()):
                    took = time.monotonic() - started
                    return "kvm", f"the kernel runs under KVM ({took:.1f} s to its first message)"
                time.sleep(0.5)
        finally:
            with contextlib.suppress(libvirt.libvirtError):
                dom.destroy()
        last = log.read_bytes().strip().splitlines()[-1:] if log.exists() else []
        seen = f", its console stopped at {last[0].decode(errors='replace')!r}" if last else ""
        return "qemu", f"under KVM no kernel message within {PROBE_SECONDS} s{seen}"

    # -- the VM vmm defined, made bootable -----------------------------------------------------

    def make_bootable(self, name: str) -> libvirt.virDomain:
        """Direct kernel boot, the seed, a logged serial console, the probed domain type."""
        dom = self.conn.lookupByName(name)
        xml = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        xml.set("type", self.domain_type)
        os_ = xml.find("os")
        for tag, text in (
            ("kernel", self.loose / "vmlinuz"),
            ("initrd", self.loose / "initrd.img"),
            ("cmdline", CMDLINE),
        ):
            etree.SubElement(os_, tag).text = str(text)
        devices = xml.find("devices")
        serial = devices.find("serial")
        for old in serial.findall("log"):
            serial.remove(old)
        etree.SubElement(serial, "log", file=str(self.console_log(name)), append="off")
        if not any(d.get("dev") == "vdb" for d in devices.iter("target")):
            disk = etree.Element("disk", type="file", device="disk")
            etree.SubElement(disk, "driver", name="qemu", type="raw")
            etree.SubElement(disk, "source", file=str(self.seed))
            etree.SubElement(disk, "target", dev="vdb", bus="virtio")
            etree.SubElement(disk, "readonly")
            devices.find("disk").addnext(disk)
        return self.conn.defineXML(etree.tostring(xml, encoding="unicode"))

    def ensure_network(self) -> None:
        net = self.conn.networkLookupByName("default")
        if not net.isActive():
            net.create()


def ssh_options(key: Path) -> list[str]:
    """What the test hands `vmm ssh` after `--`: its key, and no host key bookkeeping in the
    real user's known_hosts (each clone has the source's host keys anyway)."""
    return [
        "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR",
    ]  # fmt: skip


_verdict: tuple[str, str] | None = None  # KVM or TCG, probed once per run


def open_lab(conn: libvirt.virConnect, require: Callable[[bool, str], None]) -> Iterator[GuestLab]:
    """A guest tier module's lab (its `lab` fixture yields from this): the image, a scratch
    pool, the default network up, KVM or TCG as probed once per run; all removed after."""
    global _verdict
    for tool in ("mmdebstrap", "genisoimage", "ssh", "ssh-keygen", "qemu-img"):
        require(shutil.which(tool) is not None, f"{tool} is missing (make test installs it)")
    lab = GuestLab(conn, build_image())
    try:
        lab.ensure_network()
        if _verdict is None:
            _verdict = lab.probe_kvm()
        lab.domain_type, lab.why = _verdict
        print(f"guest tier: domain type {lab.domain_type}: {lab.why}")
        yield lab
    finally:
        lab.cleanup()
