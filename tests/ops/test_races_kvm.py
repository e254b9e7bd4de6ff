"""Two vmm processes racing for one name, on the real libvirtd (its pools say "exists" the way
the test driver does not): the one that loses fails with one line, and nothing of the winner's
is lost to the loser's undo.

Each race is forced, not hoped for: the first process stops itself (VMM_FAULTS ...:stop) just
after choosing an image name, the second runs to the end, then the first goes on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import libvirt
import pytest
from conftest import vmm_exe
from test_cloud_init_kvm import KEY, pool_files

pytestmark = pytest.mark.hypervisor


def _vmm_env(state: Path, faults: str = "") -> dict[str, str]:
    return {**os.environ, "XDG_STATE_HOME": str(state), "VMM_FAULTS": faults}


def _stopped_at(argv: list[str], state: Path, point: str) -> subprocess.Popen[str]:
    """Start vmm with `argv`, and return once it has stopped itself at `point`."""
    started = subprocess.Popen(
        argv,
        env=_vmm_env(state, f"{point}:stop"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 60
    while Path(f"/proc/{started.pid}/stat").read_text().split()[2] != "T":
        assert started.poll() is None, started.communicate()
        assert time.monotonic() < deadline, "vmm never reached " + point
        time.sleep(0.05)
    return started


def _go_on(stopped: subprocess.Popen[str]) -> tuple[int, str]:
    os.kill(stopped.pid, signal.SIGCONT)
    _out, err = stopped.communicate(timeout=120)
    return stopped.returncode, err


def _run(argv: list[str], state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=_vmm_env(state), capture_output=True, text=True, timeout=120, check=False
    )


def _doctor_has_nothing(state: Path) -> None:
    report = _run([vmm_exe(), "doctor"], state)
    assert report.returncode == 0 and "nothing was left behind" in report.stdout, report.stdout


def _disks(dom: libvirt.virDomain) -> list[str]:
    from lxml import etree

    xml = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return [source.get("file") for source in xml.iterfind("devices/disk/source")]


def test_two_new_vms_of_one_name_at_once_the_loser_takes_nothing(kvm, tmp_path):
    image = kvm.volume(f"{kvm.prefix}race.qcow2")
    key = tmp_path / "id.pub"
    key.write_text(KEY + "\n")
    name = kvm.prefix + "twin"
    argv = [vmm_exe(), "-c", "qemu:///system", "new", name, "--image",
            f"{kvm.pool.name()}/{image.name()}", "--ssh-key", str(key)]  # fmt: skip
    first = _stopped_at(argv, tmp_path, "new.name-chosen")  # it chose the name twin.qcow2
    second = _run(argv, tmp_path)
    assert second.returncode == 0, second.stderr
    code, err = _go_on(first)
    assert code == 1, err
    assert err.count("\n") == 1 and "appeared while vmm was about to create it" in err, err
    winner = kvm.conn.lookupByName(name)
    disks = _disks(winner)
    assert len(disks) == 2 and all(os.path.exists(path) for path in disks), disks
    assert {os.path.basename(path) for path in disks} <= pool_files(kvm)
    assert winner.create() == 0  # the winner's disk and seed are whole: it starts
    _doctor_has_nothing(tmp_path)


def test_two_clones_of_one_name_at_once_the_loser_takes_nothing(kvm, tmp_path):
    """The clone is defined before its images are made: the loser fails at the definition,
    with the winner's images at the very names it had chosen, and leaves them be."""
    one, two = kvm.vm("one"), kvm.vm("two")
    one_before = _disks(one)
    name = kvm.prefix + "clone"
    clone = [vmm_exe(), "-c", "qemu:///system", "clone"]
    first = _stopped_at([*clone, one.name(), name], tmp_path, "clone.image-reserved")
    second = _run([*clone, two.name(), name], tmp_path)
    assert second.returncode == 0, second.stderr
    code, err = _go_on(first)
    assert code == 1 and err.count("\n") == 1 and "already exists" in err, err
    winner = kvm.conn.lookupByName(name)
    (overlay,) = _disks(winner)
    assert os.path.exists(overlay)
    (two_now,) = _disks(two)  # the winner's source and clone: two overlays of its old image
    backing = kvm.image_info(overlay)["backing-filename"]
    assert backing == kvm.image_info(two_now)["backing-filename"] and os.path.exists(backing)
    assert winner.create() == 0
    assert _disks(one) == one_before  # the loser's source is back on its own image
    _doctor_has_nothing(tmp_path)
