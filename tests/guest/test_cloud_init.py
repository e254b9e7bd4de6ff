"""`vmm new --image` on the real Debian guest: cloud-init reads the seed vmm wrote (through
libvirt's storage API) and lets the user in; a linked clone boots beside it with its own
hostname and SSH host keys; the seeds go with the VMs.

The test image has no boot loader: the lab turns each VM into a direct kernel boot, keeping
the disks (and the seed) vmm defined. The tests run in file order.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import libvirt
import pytest
from conftest import require, vmm_exe
from guestlab import BOOT_SECONDS, GuestLab, open_lab, ssh_options
from kvmlab import QEMU_URI

pytestmark = pytest.mark.hypervisor

USER = "tester"  # not root: cloud-init makes this user, with the key and sudo


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


def ssh(lab: GuestLab, name: str, *command: str, wait: bool = False) -> str:
    waiting = ["--wait", "--timeout", str(BOOT_SECONDS)] if wait else []
    result = vmm(
        "ssh", *waiting, name, "-u", USER, "--", *ssh_options(lab.key), *command,
        timeout=BOOT_SECONDS + 60,
    )  # fmt: skip
    console = lab.console_log(name)
    tail = console.read_text(errors="replace")[-3000:] if console.exists() else ""
    assert result.returncode == 0, f"{result.stderr}\n--- console ---\n{tail}"
    return result.stdout.strip()


def pool_volumes(lab: GuestLab) -> set[str]:
    lab.pool.refresh(0)
    return set(lab.pool.listVolumes())


@pytest.fixture(scope="module")
def pair(lab: GuestLab) -> tuple[str, str]:
    """`vmm new SOURCE --image ...`, then `vmm clone SOURCE CLONE`, both made bootable and
    started together."""
    source, clone = lab.prefix + "ci", lab.prefix + "ci-clone"
    image = f"{lab.pool.name()}/{lab.base_name}"
    key = str(lab.key.with_suffix(".pub"))
    made = ok(vmm("new", source, "--image", image, "--ssh-key", key, "--user", USER,
                  "--memory", "512"))  # fmt: skip
    assert f"cloud-init lets {USER} in with 1 SSH key" in made
    cloned = ok(vmm("clone", source, clone))
    assert "its own cloud-init seed" in cloned
    for name in (source, clone):
        lab.make_bootable(name)
        ok(vmm("start", name))
    return source, clone


def test_a_new_vm_from_an_image_lets_its_user_in_under_its_own_name(lab, pair):
    source, _ = pair
    assert ssh(lab, source, "hostname", wait=True) == source
    assert ssh(lab, source, "id", "-un") == USER
    assert ok(vmm("exec", source, "--", "cat", "/etc/hostname")).strip() == source


def test_a_linked_clone_boots_with_its_own_hostname_and_host_keys(lab, pair):
    source, clone = pair
    assert ssh(lab, clone, "hostname", wait=True) == clone
    keys = "cat /etc/ssh/ssh_host_ed25519_key.pub"
    source_key, clone_key = ssh(lab, source, keys), ssh(lab, clone, keys)
    assert source_key.startswith("ssh-ed25519 ") and clone_key.startswith("ssh-ed25519 ")
    assert source_key.split()[1] != clone_key.split()[1]
    ids = "cat /var/lib/cloud/data/instance-id"
    assert ssh(lab, source, ids) != ssh(lab, clone, ids)


def test_sshd_answers_from_its_first_start_on_and_takes_no_password(lab, pair):
    """cloud-init restarted sshd ~6 s after it first answered (vmm's `ssh_pwauth`), and an ssh
    then was refused; the setting now goes in a drop-in written before sshd starts."""
    _, clone = pair
    ssh(lab, clone, "true", wait=True)
    waited = vmm(
        "exec", clone, "--timeout", str(BOOT_SECONDS), "--", "cloud-init", "status", "--wait"
    )
    assert "status: " in waited.stdout, waited  # done, or error: the image's locale module fails
    journal = ok(vmm("exec", clone, "--", "journalctl", "-u", "ssh", "-o", "cat", "--no-pager"))
    assert journal.count("Server listening on 0.0.0.0") == 1, journal
    settings = ok(vmm("exec", clone, "--", "sshd", "-T"))
    assert "passwordauthentication no" in settings.splitlines()


def test_the_seeds_go_with_their_vms(lab, pair):
    source, clone = pair
    seeds = {f"{source}-seed.img", f"{clone}-seed.img"}
    assert seeds <= pool_volumes(lab)
    ok(vmm("rm", "--force", "-y", clone))
    assert f"{clone}-seed.img" not in pool_volumes(lab)
    ok(vmm("rm", "--force", "--storage", "-y", source))
    assert not seeds & pool_volumes(lab)
