"""Getting into a real Debian guest from anywhere, through the real `vmm` command: `vmm ssh
--wait` on a guest that has just been started, `vmm exec` through the guest agent, and ssh
through a second host reached over qemu+ssh (a private sshd on this machine, tests/sshlab.py).

One guest for the whole module, booted once: under TCG each boot costs a minute of both CPUs.
The tests run in file order and each leaves the guest running.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import libvirt
import pytest
import sshlab
from conftest import require, vmm_exe
from guestlab import BOOT_SECONDS, GuestLab, open_lab, ssh_options, wait_for
from kvmlab import QEMU_URI
from sshlab import JumpHost

pytestmark = pytest.mark.hypervisor

HOSTNAME = "vmmguest"  # the test seed's (guestlab)
timings: dict[str, float] = {}


@pytest.fixture(scope="module")
def lab(qemu_conn: libvirt.virConnect) -> Iterator[GuestLab]:
    yield from open_lab(qemu_conn, require)


def vmm(*args: str, uri: str = QEMU_URI, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [vmm_exe(), "-c", uri, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"{result.args}: {result.stderr}{result.stdout}"
    return result.stdout


@pytest.fixture(scope="module")
def guest(lab: GuestLab) -> str:
    """The VM `vmm new` defines, made bootable and started, NOT waited for: the first test
    is the wait."""
    name = lab.prefix + "in"
    ok(vmm("new", name, "--base", f"{lab.pool.name()}/{lab.base_name}", "--memory", "512"))
    lab.make_bootable(name)
    ok(vmm("start", name))
    timings["started"] = time.monotonic()
    return name


@pytest.fixture(scope="module")
def jump(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JumpHost]:
    require(not sshlab.missing(), sshlab.missing())
    host = JumpHost(tmp_path_factory.mktemp("jump"))
    yield host
    host.stop()


def test_ssh_wait_gets_into_a_guest_just_started(lab: GuestLab, guest: str) -> None:
    """`vmm start g && vmm ssh --wait g -- hostname`, as a script would: no polling of its own."""
    assert vmm("ip", guest).returncode == 1  # just started: no address yet
    result = vmm(
        "ssh", "--wait", "--timeout", str(BOOT_SECONDS), guest, "-u", "root", "--",
        *ssh_options(lab.key), "hostname",
        timeout=BOOT_SECONDS + 60,
    )  # fmt: skip
    took = time.monotonic() - timings["started"]
    print(f"guest tier: vmm ssh --wait returned {took:.0f} s after vmm start")
    assert result.returncode == 0, f"{result.stderr}\n{lab.console_log(guest).read_text()[-2000:]}"
    assert result.stdout.strip() == HOSTNAME


def test_exec_runs_a_command_through_the_guest_agent(lab: GuestLab, guest: str) -> None:
    # the agent connects some seconds into the boot, not always before sshd answers
    wait_for("the guest agent", lambda: vmm("exec", guest, "--", "true").returncode == 0, 60)
    started = time.monotonic()
    result = vmm("exec", guest, "--", "cat", "/etc/hostname")
    print(f"guest tier: vmm exec cat /etc/hostname took {time.monotonic() - started:.2f} s")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"{HOSTNAME}\n", "")
    shown = vmm("exec", guest, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (shown.returncode, shown.stdout, shown.stderr) == (3, "out\n", "err\n")
    binary = vmm("exec", guest, "--", "head", "-c", "4", "/bin/sh")
    assert binary.returncode == 0 and binary.stdout == "\x7fELF"
    killed = vmm("exec", guest, "--", "sh", "-c", "kill -TERM $$")
    assert killed.returncode == 128 + 15


def test_exec_of_a_command_the_guest_does_not_have(guest: str) -> None:
    result = vmm("exec", guest, "--", "/usr/bin/no-such-command", "x")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"vmm: error: {guest!r}: the guest agent says: ")
    assert "no-such-command" in line and "No such file or directory" in line


def test_exec_that_outlasts_its_timeout(guest: str) -> None:
    started = time.monotonic()
    result = vmm("exec", "--timeout", "2", guest, "--", "sleep", "30")
    assert result.returncode == 1 and time.monotonic() - started < 10
    [line] = result.stderr.splitlines()
    assert line.startswith(f"vmm: error: {guest!r}: 'sleep 30' still runs in the guest after 2 s")


def test_ssh_through_a_host_reached_over_qemu_ssh(lab: GuestLab, guest: str, jump: JumpHost):
    """The same libvirtd reached as a remote host (qemu+ssh://root@127.0.0.1:PORT/system): the
    address is on that host's network, so vmm's ssh goes through it (-J root@127.0.0.1:PORT);
    the jump host's sshd logs the forwarding to the guest's port 22."""
    uri = jump.uri()
    config = str(jump.client_config(lab.key))
    listed = ok(vmm("ip", guest, uri=uri)).splitlines()[0]
    address = listed.split("/")[0]
    assert listed.endswith(f"from the DHCP lease  through {jump.spec}")
    planned = ok(vmm("ssh", guest, "-u", "root", "--", "-F", config, "-G", uri=uri))
    assert f"proxyjump root@[127.0.0.1]:{jump.port}" in planned.splitlines()
    before = jump.log.read_text().count(f"target {address} port 22")
    shown = vmm("ssh", guest, "-u", "root", "--", "-F", config, "hostname", uri=uri, timeout=60)
    assert (shown.returncode, shown.stdout.strip()) == (0, HOSTNAME), shown.stderr
    log = jump.log.read_text()
    assert log.count(f"target {address} port 22") > before, log[-3000:]
    # --wait probes through the same host, then logs in the same way
    waited = vmm("ssh", "--wait", guest, "-u", "root", "--", "-F", config, "id", "-un", uri=uri)
    assert (waited.returncode, waited.stdout.strip()) == (0, "root"), waited.stderr
