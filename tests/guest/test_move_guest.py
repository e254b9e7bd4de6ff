"""`vmm mv --stop VM HOST:` on the real Debian guest: a file written in the running guest is
there after the guest was shut down through vmm, moved to a second QEMU host (vmmtest's
qemu:///session) and booted there, read back through the guest agent."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import libvirt
import pytest
from conftest import require, vmm_exe
from daemons import QemuSessionHost, user_exists
from guestlab import BOOT_SECONDS, GuestLab, open_lab, ssh_options, wait_for
from lxml import etree

pytestmark = pytest.mark.hypervisor


@pytest.fixture(scope="module")
def lab(qemu_conn: libvirt.virConnect) -> Iterator[GuestLab]:
    yield from open_lab(qemu_conn, require)


@pytest.fixture
def target() -> Iterator[QemuSessionHost]:
    require(user_exists(), "no user vmmtest (make test makes it)")
    made = QemuSessionHost()
    yield made
    made.close()


def vmm(env: dict[str, str], host: str, *args: str, timeout: float = 300):
    return subprocess.run(
        [vmm_exe(), "-c", host, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def runnable_there(target: QemuSessionHost, name: str) -> libvirt.virDomain:
    """The moved VM as vmmtest's QEMU can run it: user-mode networking (the session host has
    no libvirt network), no console log in root's directory, emulation."""
    dom = target.conn.lookupByName(name)
    xml = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    xml.set("type", "qemu")
    devices = xml.find("devices")
    for nic in devices.findall("interface"):
        nic.set("type", "user")
        nic.remove(nic.find("source"))
    for log in devices.iter("log"):
        log.getparent().remove(log)
    return target.conn.defineXML(etree.tostring(xml, encoding="unicode"))


def test_a_file_written_before_the_move_is_there_after(lab, target, tmp_path):
    (tmp_path / "vmm").mkdir()
    (tmp_path / "vmm" / "config.toml").write_text(
        f'[hosts.here]\nuri = "qemu:///system"\n\n[hosts.there]\nuri = "{target.uri}"\n'
    )
    env = {"XDG_CONFIG_HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}
    name = lab.prefix + "traveller"
    key = str(lab.key.with_suffix(".pub"))
    image = f"{lab.pool.name()}/{lab.base_name}"
    made = vmm(env, "here", "new", name, "--image", image, "--ssh-key", key, "--user", "root",
               "--memory", "512")  # fmt: skip
    assert made.returncode == 0, made.stderr
    lab.make_bootable(name)
    assert vmm(env, "here", "start", name).returncode == 0
    marker = f"written before the move {time.time()}"
    wrote = vmm(env, "here", "ssh", "--wait", "--timeout", str(BOOT_SECONDS), name, "-u", "root",
                "--", *ssh_options(lab.key), f"echo '{marker}' > /root/marker && sync",
                timeout=BOOT_SECONDS + 60)  # fmt: skip
    assert wrote.returncode == 0, wrote.stderr
    # the VM is plugged into "default": the target must have it (defined is enough here,
    # where vmmtest could not start a bridge; the test plugs it into user networking there)
    target.conn.networkDefineXML("<network><name>default</name></network>")
    moved = vmm(env, "here", "mv", "--stop", name, "there:", "--pool", "moved")
    assert moved.returncode == 0, moved.stderr
    assert "moved to there (2 disk(s), each checked, 1 overlay(s) flattened;" in moved.stdout
    with pytest.raises(libvirt.libvirtError):
        lab.conn.lookupByName(name)
    runnable_there(target, name).create()

    def read_back() -> str:
        shown = vmm(env, "there", "exec", name, "--", "cat", "/root/marker", timeout=60)
        return shown.stdout if shown.returncode == 0 else ""

    assert wait_for("the moved guest's agent", read_back, BOOT_SECONDS) == marker + "\n"
