"""A real vmm process killed (SIGKILL: what a power cut leaves) at each step of a clone, a new
VM and a deletion, on the real hypervisor; then the next run and `vmm doctor`."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import libvirt
import pytest
from conftest import require, vmm_exe
from lxml import etree

pytestmark = pytest.mark.hypervisor

CLONE_POINTS = [
    "clone.source-frozen", "clone.image-reserved", "clone.images-made", "clone.defined",
    "clone.done",
]  # fmt: skip


def vmm(state: Path, *args: str, faults: str = "", prefix: tuple[str, ...] = ()):
    env = {**os.environ, "XDG_STATE_HOME": str(state), "VMM_FAULTS": faults}
    return subprocess.run(
        [*prefix, vmm_exe(), "-c", "qemu:///system", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def writable_disks(kvm) -> set[str]:
    found = set()
    for dom in kvm.conn.listAllDomains(0):
        if dom.name().startswith(kvm.prefix):
            xml = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            found |= {s.get("file") for s in xml.iterfind("devices/disk/source")}
    return found


def backing_files(kvm) -> set[str]:
    images = [str(p) for p in kvm.dir.iterdir() if p.suffix == ".qcow2"]
    return {kvm.image_info(path).get("backing-filename") for path in images} - {None}


def disk(dom) -> str:
    xml = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return xml.find("devices/disk/source").get("file")


def chain(kvm, path: str) -> set[str]:
    found = {path}
    while backing := kvm.image_info(path).get("backing-filename"):
        found.add(backing)
        path = backing
    return found


def assert_told_and_cleaned(state: Path, said: str = "left: ") -> None:
    """The next vmm says an operation was cut short; doctor lists what it `said` (`gone: `
    when the operation was killed before making anything), and cleans it away."""
    told = vmm(state, "ls")
    assert "was cut short" in told.stderr and "see 'vmm doctor'" in told.stderr
    report = vmm(state, "doctor")
    assert report.returncode == 1 and said in report.stdout, report.stdout
    cleaned = vmm(state, "doctor", "--clean")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    after = vmm(state, "doctor")
    assert after.returncode == 0 and "nothing was left behind" in after.stdout
    assert "cut short" not in vmm(state, "ls").stderr


@pytest.mark.parametrize("point", ["clone.image-reserved", "clone.defined", "clone.images-made"])
def test_a_full_clone_killed_at_any_step_is_told_of_and_cleaned(kvm, tmp_path, point):
    """A full clone is defined before its disks are copied: killed between the two, the
    definition and the half-made copy are both on record, and doctor removes both."""
    source = kvm.vm("fullsrc")
    before = {str(p) for p in kvm.dir.iterdir()}
    name = kvm.prefix + "fullcopy"
    killed = vmm(tmp_path, "clone", "--full", source.name(), name, faults=f"{point}:kill")
    assert killed.returncode == -9, killed.stderr
    assert "was cut short" in vmm(tmp_path, "ls").stderr  # (before the copy: nothing to see yet)
    assert vmm(tmp_path, "doctor", "--clean").returncode == 0
    assert "nothing was left behind" in vmm(tmp_path, "doctor").stdout
    with pytest.raises(libvirt.libvirtError):
        kvm.conn.lookupByName(name)
    kvm.pool.refresh(0)
    assert {str(p) for p in kvm.dir.iterdir()} == before  # the copy went, the source stayed
    source.create()
    assert source.isActive()


@pytest.mark.parametrize("point", CLONE_POINTS)
def test_a_clone_killed_at_any_step_never_leaves_a_written_base(kvm, tmp_path, point):
    source = kvm.vm("src")
    name = kvm.prefix + "copy"
    killed = vmm(tmp_path, "clone", source.name(), name, faults=f"{point}:kill")
    assert killed.returncode == -9, killed.stderr
    assert not writable_disks(kvm) & backing_files(kvm)  # nobody writes an image under another
    assert_told_and_cleaned(tmp_path)
    with pytest.raises(libvirt.libvirtError):
        kvm.conn.lookupByName(name)
    kvm.pool.refresh(0)
    images = {str(p) for p in kvm.dir.iterdir()}
    assert images == chain(kvm, disk(source))  # the clone's images went, the source's stayed
    source.create()  # and it still runs
    assert source.isActive()


def test_a_new_vm_killed_after_its_disk_was_made(kvm, tmp_path):
    template = kvm.volume(f"{kvm.prefix}template.qcow2")
    base = f"{kvm.pool.name()}/{template.name()}"
    killed = vmm(tmp_path, "new", kvm.prefix + "n", "--base", base, faults="new.image-made:kill")
    assert killed.returncode == -9
    assert len(list(kvm.dir.iterdir())) == 2
    assert_told_and_cleaned(tmp_path)
    assert [p.name for p in kvm.dir.iterdir()] == [template.name()]


def test_a_deletion_killed_after_the_undefine_leaves_its_disks_on_record(kvm, tmp_path):
    doomed = kvm.vm("doomed")
    image = disk(doomed)
    killed = vmm(tmp_path, "rm", "-y", "--storage", doomed.name(), faults="rm.undefined:kill")
    assert killed.returncode == -9
    assert os.path.exists(image)
    assert_told_and_cleaned(tmp_path)
    assert not os.path.exists(image)


def test_doctor_keeps_an_overlay_the_source_runs_on(kvm, tmp_path):
    source = kvm.vm("runner")
    killed = vmm(tmp_path, "clone", source.name(), kvm.prefix + "c", faults="clone.defined:kill")
    assert killed.returncode == -9
    source.create()  # started on the overlay it was frozen onto
    cleaned = vmm(tmp_path, "doctor", "--clean")
    assert cleaned.returncode == 0 and f"kept (the disk of {source.name()!r})" in cleaned.stdout
    assert os.path.exists(disk(source)) and source.isActive()


def test_uefi_variables_vmm_cannot_read_are_copied_by_libvirtd(kvm, tmp_path):
    require(shutil.which("setpriv") is not None, "setpriv is missing (util-linux)")
    source = kvm.vm("secret-vars")
    nvram = kvm.dir / "secret_VARS.fd"
    nvram.write_bytes(b"\x6e" * 8192)
    qemu_user = pwd.getpwnam("libvirt-qemu")
    os.chown(nvram, qemu_user.pw_uid, qemu_user.pw_gid)
    nvram.chmod(0o600)
    kvm.give_uefi(source, nvram)
    # root without its override of file modes: it cannot read the variables itself
    unprivileged = ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--")
    check = subprocess.run([*unprivileged, "cat", str(nvram)], capture_output=True)
    assert check.returncode != 0
    name = kvm.prefix + "vars-copy"
    result = vmm(tmp_path, "clone", source.name(), name, prefix=unprivileged)
    assert result.returncode == 0, result.stderr
    assert "UEFI variables copied" in result.stdout
    copy = kvm.conn.lookupByName(name)
    copied = etree.fromstring(copy.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).findtext("os/nvram")
    assert Path(copied).read_bytes() == nvram.read_bytes()
    assert os.stat(copied).st_mode & 0o777 == 0o600
    copy.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)


def test_edit_refuses_to_point_a_disk_at_a_clones_base(kvm, tmp_path):
    source = kvm.vm("based")
    vmm(tmp_path, "clone", source.name(), kvm.prefix + "kid")
    base = kvm.image_info(disk(source))["backing-filename"]
    other = kvm.vm("other")
    original = other.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    editor = tmp_path / "editor"
    editor.write_text(f"#!/bin/sh\nsed -i 's|{disk(other)}|{base}|' \"$1\"\n")
    editor.chmod(0o755)
    result = subprocess.run(
        [vmm_exe(), "-c", "qemu:///system", "edit", other.name()],
        capture_output=True,
        text=True,
        env={**os.environ, "VISUAL": str(editor), "XDG_STATE_HOME": str(tmp_path)},
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"{base} is the base of " in result.stderr
    assert other.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == original


def test_two_linked_clones_of_one_source_at_once_leave_no_unused_image(kvm, tmp_path):
    import signal
    import time

    source = kvm.vm("popular")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    argv = [vmm_exe(), "-c", "qemu:///system", "clone", source.name()]
    first = subprocess.Popen(  # stops itself once it has read the source
        [*argv, kvm.prefix + "one"], env={**env, "VMM_FAULTS": "clone.checked:stop"}
    )
    while Path(f"/proc/{first.pid}/stat").read_text().split()[2] != "T":
        time.sleep(0.05)
    second = subprocess.Popen([*argv, kvm.prefix + "two"], env=env)
    time.sleep(1)  # long enough to have frozen the source a second time, were it not locked out
    os.kill(first.pid, signal.SIGCONT)
    assert first.wait(60) == 0 and second.wait(60) == 0
    used = set().union(*(chain(kvm, path) for path in writable_disks(kvm)))
    kvm.pool.refresh(0)
    assert {str(p) for p in kvm.dir.iterdir()} == used


def test_ctrl_c_during_a_full_copy_says_what_it_waits_for_then_that_it_was_removed(kvm, tmp_path):
    import signal
    import time

    source = kvm.vm("bulky", disk_mib=2048, fmt="raw")
    with open(disk(source), "r+b") as image:  # data, not holes: the copy takes seconds
        chunk = b"vmm-data" * (2**20 // 8)
        for _ in range(2048):
            image.write(chunk)
    before = set(os.listdir(kvm.dir))
    name = kvm.prefix + "bulky-copy"
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    vmm_process = subprocess.Popen(
        [vmm_exe(), "-c", "qemu:///system", "clone", "--full", source.name(), name],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 60
    while set(os.listdir(kvm.dir)) == before:  # the copy has begun
        assert time.monotonic() < deadline and vmm_process.poll() is None
        time.sleep(0.02)
    vmm_process.send_signal(signal.SIGINT)
    _, err = vmm_process.communicate(timeout=120)
    assert vmm_process.returncode == 130
    lines = err.splitlines()  # not on a terminal: no blank line where ^C would be echoed
    assert lines == [
        f"vmm: interrupted: waiting for the copy of {disk(source)} (libvirt cannot stop it)"
        " to end, then undoing it (Ctrl-C again leaves at once)",
        f"vmm: interrupted: the full clone {name!r} of {source.name()!r} was undone,"
        " nothing is left of it",
    ]
    kvm.pool.refresh(0)
    assert set(os.listdir(kvm.dir)) == before
    assert "nothing was left behind" in vmm(tmp_path, "doctor").stdout
