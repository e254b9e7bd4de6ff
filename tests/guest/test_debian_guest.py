"""vmm on a real operating system: a Debian 12 guest (tools/build-guest.sh) booted on the real
hypervisor, driven only through the real `vmm` command.

Three guests in all, each checked many times: the source (`vmm new`), booted once and kept up
across the tests that need it running, then a linked clone running beside it, and a full copy
running beside it. The
tests run in file order; each puts the source into the state it needs (up, or shut off), so any
one of them also runs alone.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator

import libvirt
import pytest
from conftest import require, vmm_exe
from guestlab import BOOT_SECONDS, GuestLab, open_lab, sha256, ssh_options, wait_for
from kvmlab import QEMU_URI
from lxml import etree
from tmux import Terminal

pytestmark = pytest.mark.hypervisor


@pytest.fixture(scope="module")
def lab(qemu_conn: libvirt.virConnect) -> Iterator[GuestLab]:
    yield from open_lab(qemu_conn, require)


def vmm(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [vmm_exe(), "-c", QEMU_URI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}: {result.stderr}{result.stdout}"
    return result.stdout


def guest_ssh(lab: GuestLab, name: str, command: str, timeout: float = 60):
    return vmm("ssh", name, "-u", "root", "--", *ssh_options(lab.key), command, timeout=timeout)


def run_in(lab: GuestLab, name: str, command: str) -> str:
    return ok(guest_ssh(lab, name, command)).strip()


def wait_up(lab: GuestLab, name: str) -> None:
    """Until ssh (through `vmm ssh`) runs a command in the guest."""

    def answers() -> bool:
        return vmm("ip", name).returncode == 0 and guest_ssh(lab, name, "true").returncode == 0

    wait_for(f"{name} answering ssh", answers, BOOT_SECONDS, lab.console_log(name))


def running(lab: GuestLab, name: str) -> None:
    if not lab.conn.lookupByName(name).isActive():
        ok(vmm("start", name))
    wait_up(lab, name)


def shut_off(lab: GuestLab, name: str) -> None:
    if lab.conn.lookupByName(name).isActive():
        ok(vmm("shutdown", "--wait", "--force-after", "90", name, timeout=150))


@pytest.fixture(scope="module")
def source(lab: GuestLab) -> str:
    """The VM `vmm new` defines on the base image, made bootable, started, answering ssh."""
    name = lab.prefix + "src"
    started = time.monotonic()
    ok(vmm("new", name, "--base", f"{lab.pool.name()}/{lab.base_name}", "--memory", "512"))
    lab.make_bootable(name)
    ok(vmm("start", name))
    wait_up(lab, name)
    print(f"guest tier: {name} answers ssh {time.monotonic() - started:.0f} s after vmm new")
    return name


def addresses(name: str, *extra: str) -> list[dict]:
    return json.loads(ok(vmm("ip", name, "--json", *extra)))


def test_new_defines_a_64bit_guest_that_boots(lab: GuestLab, source: str) -> None:
    xml = etree.fromstring(lab.conn.lookupByName(source).XMLDesc(0))
    os_type = xml.find("os/type")
    assert os_type.get("arch") == "x86_64"
    assert os_type.get("machine")  # the host's default machine type, filled in by libvirt
    assert xml.find("devices/disk/target").get("bus") == "virtio"
    assert xml.find("devices/interface/model").get("type") == "virtio"
    assert xml.find("devices/channel/target").get("name") == "org.qemu.guest_agent.0"
    assert run_in(lab, source, "uname -m") == "x86_64"
    assert run_in(lab, source, "getconf LONG_BIT") == "64"
    assert run_in(lab, source, "hostname") == "vmmguest"  # the seed's: cloud-init read it


def test_ip_comes_from_the_dhcp_lease(lab: GuestLab, source: str) -> None:
    running(lab, source)
    found = addresses(source)
    assert found[0]["source"] == "lease"
    mac = etree.fromstring(lab.conn.lookupByName(source).XMLDesc(0)).find("devices/interface/mac")
    assert found[0]["mac"] == mac.get("address")
    assert found[0]["address"].startswith("192.168.122.")
    assert f"inet {found[0]['address']}/" in run_in(lab, source, "ip -4 addr show eth0")


def test_ip_comes_from_the_guest_agent(lab: GuestLab, source: str) -> None:
    running(lab, source)

    def from_agent() -> list[dict]:
        result = vmm("ip", source, "--json", "--source", "agent")
        return json.loads(result.stdout) if result.returncode == 0 else []

    found = wait_for("an address from the guest agent", from_agent, 60, lab.console_log(source))
    assert {a["source"] for a in found} == {"agent"}
    lease = addresses(source, "--source", "lease")[0]
    eth0 = [a for a in found if a["interface"] == "eth0" and ":" not in a["address"]]
    assert [(a["address"], a["mac"]) for a in eth0] == [(lease["address"], lease["mac"])]


def test_ssh_logs_in_with_the_test_key(lab: GuestLab, source: str) -> None:
    running(lab, source)
    assert run_in(lab, source, "id -un") == "root"
    public = lab.key.with_suffix(".pub").read_text().split()[1]
    assert public in run_in(lab, source, "cat /root/.ssh/authorized_keys")
    other = lab.loose / "other_key"
    if not other.exists():
        keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)]
        subprocess.run(keygen, check=True)
    refused = vmm("ssh", source, "-u", "root", "--", *ssh_options(other), "true")
    assert refused.returncode != 0  # another key is not let in: it is the test's key that works


def test_save_then_start_keeps_a_running_process(lab: GuestLab, source: str) -> None:
    running(lab, source)
    pid = run_in(lab, source, "nohup sleep 10000 >/dev/null 2>&1 </dev/null & echo $!")
    boot_id = run_in(lab, source, "cat /proc/sys/kernel/random/boot_id")
    ok(vmm("save", source))
    dom = lab.conn.lookupByName(source)
    assert not dom.isActive() and dom.hasManagedSaveImage(0)
    started = vmm("start", source)
    assert "restored from saved state" in ok(started) + started.stderr
    wait_up(lab, source)
    assert not dom.hasManagedSaveImage(0)
    assert run_in(lab, source, f"tr '\\0' ' ' < /proc/{pid}/cmdline") == "sleep 10000"
    assert run_in(lab, source, "cat /proc/sys/kernel/random/boot_id") == boot_id  # no reboot
    run_in(lab, source, f"kill {pid}")


def test_snapshot_revert_of_the_running_guest(lab: GuestLab, source: str) -> None:
    """A snapshot of the running guest (internal, with its memory: what libvirt takes of a
    running VM on qcow2, under TCG too), reverted while it runs."""
    running(lab, source)
    run_in(lab, source, "echo kept > /root/before-snapshot && rm -f /root/after-snapshot && sync")
    ok(vmm("snapshot", "create", source, "s1"))
    run_in(lab, source, "echo lost > /root/after-snapshot && sync")
    assert run_in(lab, source, "cat /root/after-snapshot") == "lost"
    ok(vmm("snapshot", "revert", "-y", source, "s1"))
    wait_up(lab, source)
    assert run_in(lab, source, "cat /root/before-snapshot") == "kept"
    gone = guest_ssh(lab, source, "test -e /root/after-snapshot")
    assert gone.returncode == 1, gone.stderr
    ok(vmm("snapshot", "rm", "-y", source, "s1"))
    assert lab.conn.lookupByName(source).snapshotNum(0) == 0


def test_console_attaches_to_the_serial_console(lab: GuestLab, source: str) -> None:
    """`vmm console` in a terminal (tmux): Enter at the serial console, getty on ttyS0
    answers with its login prompt; Ctrl-] leaves."""
    running(lab, source)
    term = Terminal([vmm_exe(), "-c", QEMU_URI, "console", source], {"TERM": "xterm"})
    try:
        term.wait_for("Escape character is ^]", 30)
        assert "login:" not in term.screen()
        term.keys("Enter")
        term.wait_for("vmmguest login:", 60)
        term.keys("C-]")
        assert term.exit_status(15) == 0
    finally:
        term.close()
    assert lab.conn.lookupByName(source).isActive()  # leaving the console left the guest be


IGNORE_POWER_KEY = (
    "mkdir -p /run/systemd/logind.conf.d && printf '[Login]\\nHandlePowerKey=ignore\\n'"
    " > /run/systemd/logind.conf.d/ignore-power-key.conf && systemctl kill -s HUP systemd-logind"
)


def test_shutdown_through_the_guest_agent(lab: GuestLab, source: str) -> None:
    """--mode agent: the guest's logind ignores the power button first (a drop-in under /run,
    gone at the next boot), so an ACPI request goes unanswered and only the guest agent can
    power it off."""
    running(lab, source)
    run_in(lab, source, IGNORE_POWER_KEY)
    time.sleep(2)  # logind rereads its configuration
    dom = lab.conn.lookupByName(source)
    unanswered = vmm("shutdown", "--mode", "acpi", "--wait", "--timeout", "20", source)
    assert unanswered.returncode == 1, unanswered.stdout + unanswered.stderr
    assert "still running 20s after the shutdown request" in unanswered.stderr
    assert dom.isActive()
    started = time.monotonic()
    ok(vmm("shutdown", "--mode", "agent", "--wait", source))
    took = time.monotonic() - started
    assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    assert dom.state()[1] == libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN  # the guest's own, not forced
    assert took < 60, f"vmm shutdown --mode agent --wait took {took:.0f} s"
    print(f"guest tier: vmm shutdown --mode agent --wait took {took:.1f} s")


def disk_chain(path: str) -> list[str]:
    out = subprocess.run(
        ["qemu-img", "info", "-U", "--backing-chain", "--output=json", path],
        capture_output=True,
        text=True,
        check=True,
    )
    return [image["filename"] for image in json.loads(out.stdout)]


def disk_of(lab: GuestLab, name: str) -> str:
    xml = etree.fromstring(lab.conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return next(
        d.find("source").get("file")
        for d in xml.iter("disk")
        if d.find("target").get("dev") == "vda"
    )


def mac_of(lab: GuestLab, name: str) -> str:
    xml = etree.fromstring(lab.conn.lookupByName(name).XMLDesc(0))
    return xml.find("devices/interface/mac").get("address")


def test_linked_clone_runs_beside_its_source(lab: GuestLab, source: str) -> None:
    shut_off(lab, source)
    clone = lab.prefix + "clone"
    ok(vmm("clone", source, clone))
    lab.make_bootable(clone)  # only its own console log: the rest is the source's definition
    own_top = {disk_of(lab, source), disk_of(lab, clone)}
    shared = [p for p in disk_chain(disk_of(lab, clone)) if p not in own_top]
    assert str(lab.base) in shared
    assert set(shared) <= set(disk_chain(disk_of(lab, source)))  # what both read
    sums = {path: sha256(path) for path in shared}

    ok(vmm("start", source, clone))
    wait_up(lab, clone)
    wait_up(lab, source)
    assert mac_of(lab, clone) != mac_of(lab, source)
    assert run_in(lab, clone, "cat /sys/class/net/eth0/address") == mac_of(lab, clone)
    ips = {vm: {a["address"] for a in addresses(vm)} for vm in (source, clone)}
    assert ips[source] and ips[clone] and not ips[source] & ips[clone], ips
    run_in(lab, clone, "echo clone > /root/only-in-clone && sync")
    assert run_in(lab, clone, "cat /root/only-in-clone") == "clone"
    absent = guest_ssh(lab, source, "test -e /root/only-in-clone")
    assert absent.returncode == 1, absent.stderr
    assert {path: sha256(path) for path in shared} == sums  # while both run

    ok(vmm("shutdown", "--wait", source, clone))
    assert {path: sha256(path) for path in shared} == sums  # and after


def test_full_clone_is_independent_of_its_source(lab: GuestLab, source: str) -> None:
    shut_off(lab, source)
    copy = lab.prefix + "copy"
    ok(vmm("clone", "--full", "--pool", lab.pool.name(), source, copy, timeout=600))
    lab.make_bootable(copy)
    assert disk_of(lab, copy) != disk_of(lab, source)
    assert disk_of(lab, source) not in disk_chain(disk_of(lab, copy))  # not its backing file

    ok(vmm("start", source, copy))
    wait_up(lab, copy)
    wait_up(lab, source)
    assert mac_of(lab, copy) != mac_of(lab, source)
    run_in(lab, copy, "echo copy > /root/only-in-copy && sync")
    run_in(lab, source, "echo source > /root/only-in-source && sync")
    for vm, other in ((copy, "only-in-source"), (source, "only-in-copy")):
        absent = guest_ssh(lab, vm, f"test -e /root/{other}")
        assert absent.returncode == 1, (vm, absent.stderr)
    assert run_in(lab, copy, "cat /root/only-in-copy") == "copy"
    ok(vmm("shutdown", "--wait", copy))  # the last test has the CPUs to itself


def test_shutdown_wait_returns_once_powered_off(lab: GuestLab, source: str) -> None:
    running(lab, source)  # the full clone test leaves it running
    started = time.monotonic()
    ok(vmm("shutdown", "--wait", source))
    took = time.monotonic() - started
    dom = lab.conn.lookupByName(source)
    assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    # the guest powered itself off (ACPI button -> logind), it was not forced
    assert dom.state()[1] == libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN
    assert took < 60, f"vmm shutdown --wait took {took:.0f} s"
    print(f"guest tier: vmm shutdown --wait took {took:.1f} s")
