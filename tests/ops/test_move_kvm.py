"""`vmm mv VM HOST:` between two real QEMU hosts on one machine: the system libvirtd, and a
second libvirtd run by the unprivileged user vmmtest (its own qemu:///session, its own pool,
its own host UUID). The disks travel through both hosts' storage APIs; the VM starts on the
target; a kill at each step leaves the source as it was and, after `vmm doctor --clean`, the
target clean. `--live` migrates a running VM between the same two daemons, peer to peer."""

from __future__ import annotations

import hashlib
import os
import pty
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from conftest import require, vmm_exe
from daemons import QemuSessionHost, user_exists
from kvmlab import domain_xml
from lxml import etree

pytestmark = pytest.mark.hypervisor

MAC = "52:54:00:12:34:56"
NS = "http://calebstew.art/xmlns/vmm"


@pytest.fixture
def target() -> Iterator[QemuSessionHost]:
    require(user_exists(), "no user vmmtest (make test makes it)")
    made = QemuSessionHost()
    yield made
    made.close()


@pytest.fixture
def config(tmp_path, target) -> dict[str, str]:
    (tmp_path / "config" / "vmm").mkdir(parents=True)
    (tmp_path / "config" / "vmm" / "config.toml").write_text(
        f'[hosts.here]\nuri = "qemu:///system"\n\n[hosts.there]\nuri = "{target.uri}"\n'
    )
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }


def vmm(env: dict[str, str], *args: str, faults: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [vmm_exe(), "-c", "here", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "VMM_FAULTS": faults},
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def source_vm(kvm, name: str = "mover") -> libvirt.virDomain:
    """A VM with a qcow2 disk holding data (qemu-io), a MAC, a folder and a label."""
    full = kvm.prefix + name
    disk = kvm.volume(f"{full}.qcow2", mib=64)
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "write -P 0xab 1M 3M", "-c", "write -P 0x5c 40M 1M",
         disk.path()],
        check=True, capture_output=True,
    )  # fmt: skip
    xml = etree.fromstring(domain_xml(full, disk.path()))
    xml.set("type", "qemu")  # vmmtest's QEMU may not open /dev/kvm
    nic = etree.SubElement(xml.find("devices"), "interface", type="user")
    etree.SubElement(nic, "mac", address=MAC)
    meta = etree.SubElement(xml, "metadata")
    vmm_el = etree.SubElement(meta, f"{{{NS}}}vmm", nsmap={"vmm": NS})
    etree.SubElement(vmm_el, f"{{{NS}}}path").text = "/lab/moving"
    etree.SubElement(vmm_el, f"{{{NS}}}label").text = "web"
    return kvm.conn.defineXML(etree.tostring(xml, encoding="unicode"))


def test_a_shut_off_vm_moves_with_its_identity_and_bytes(kvm, target, config):
    dom = source_vm(kvm)
    name, uuid = dom.name(), dom.UUIDString()
    disk = f"{kvm.dir}/{name}.qcow2"
    before = sha256(disk)
    result = vmm(config, "mv", name, "there:", "--pool", "moved")
    assert result.returncode == 0, result.stderr
    said = re.fullmatch(
        rf"{name}: moved to there \(1 disk\(s\), each checked; (\d+) MiB of data sent\)\n",
        result.stdout,
    )
    assert said and 4 <= int(said[1]) <= 5, result.stdout  # 4 MiB written, and qcow2's tables
    assert name not in [d.name() for d in kvm.conn.listAllDomains(0)]  # the source is gone
    assert not os.path.exists(disk)
    moved = target.conn.lookupByName(name)
    xml = etree.fromstring(moved.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert moved.UUIDString() == uuid
    assert xml.find("devices/interface/mac").get("address") == MAC
    assert xml.findtext(f"metadata/{{{NS}}}vmm/{{{NS}}}path") == "/lab/moving"
    assert xml.findtext(f"metadata/{{{NS}}}vmm/{{{NS}}}label") == "web"
    new_disk = xml.find("devices/disk/source").get("file")
    assert new_disk == f"{target.dir}/{name}.qcow2"
    assert sha256(new_disk) == before  # every byte, holes and all
    allocated = os.stat(new_disk).st_blocks * 512
    assert allocated < 16 * 2**20  # 4 MiB written of 64: the holes stayed holes
    moved.create()  # it runs on the target
    assert moved.isActive()
    history = vmm(config, "history", "--json")
    assert '"action": "move"' in history.stdout


@pytest.mark.parametrize(
    "point", ["move.volume-made", "move.streamed", "move.defined", "move.verified"]
)
def test_a_move_killed_at_any_step_leaves_the_source_and_a_clean_target(kvm, target, config, point):
    dom = source_vm(kvm, "cut")
    disk = f"{kvm.dir}/{dom.name()}.qcow2"
    before = sha256(disk), dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    killed = vmm(config, "mv", dom.name(), "there:", "--pool", "moved", faults=f"{point}:kill")
    assert killed.returncode == -9, killed.stderr
    assert (sha256(disk), dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)) == before
    told = vmm(config, "ls")
    assert "was cut short" in told.stderr
    cleaned = vmm(config, "doctor", "--clean")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert target.files() == set() and target.names() == []
    assert "nothing was left behind" in vmm(config, "doctor").stdout
    dom.create()  # the source still runs
    assert dom.isActive()


def test_what_cannot_move_is_refused_and_nothing_is_made(kvm, target, config):
    running = source_vm(kvm, "running")
    running.create()
    result = vmm(config, "mv", running.name(), "there:", "--pool", "moved")
    assert result.returncode == 1
    assert "is running: move it with --live, or --stop to shut it down first" in result.stderr
    linked = source_vm(kvm, "snapped")
    linked.snapshotCreateXML("<domainsnapshot><name>s1</name></domainsnapshot>", 0)
    result = vmm(config, "mv", linked.name(), "there:", "--pool", "moved")
    assert result.returncode == 1 and "has snapshots, which cannot cross hosts" in result.stderr
    linked.snapshotLookupByName("s1").delete(0)
    result = vmm(config, "mv", linked.name(), "there:", "--pool", "nosuch")
    assert (
        result.returncode == 1 and "no active storage pool 'nosuch' on the target" in result.stderr
    )
    result = vmm(config, "mv", linked.name(), "there:/x")
    assert result.returncode == 1 and "takes HOST: alone" in result.stderr
    assert target.files() == set() and target.names() == []


def guest_view(image: str, scratch: Path) -> str:
    """The SHA-256 of what a guest reads from `image` (its chain resolved), by qemu-img."""
    raw = scratch / "view.raw"
    subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", image, str(raw)], check=True)
    digest = sha256(raw)
    raw.unlink()
    return digest


def test_a_linked_clone_moves_flattened_and_its_base_stays(kvm, target, config, tmp_path):
    source = source_vm(kvm, "base")
    clone = kvm.prefix + "linked"
    assert vmm(config, "clone", source.name(), clone).returncode == 0
    seen = guest_view(f"{kvm.dir}/{clone}-vda.qcow2", tmp_path)
    result = vmm(config, "mv", clone, "there:", "--pool", "moved")
    assert result.returncode == 0, result.stderr
    assert "1 overlay(s) flattened" in result.stdout
    moved = target.conn.lookupByName(clone)
    path = etree.fromstring(moved.XMLDesc(0)).find("devices/disk/source").get("file")
    info = kvm.image_info(path)
    assert "backing-filename" not in info and info["format"] == "qcow2"
    assert guest_view(path, tmp_path) == seen  # what the guest sees, byte for byte
    kvm.pool.refresh(0)
    left = set(kvm.pool.listVolumes())
    assert not any("flat" in name for name in left)  # the flat copy went
    assert f"{clone}-vda.qcow2" not in left  # the clone's overlay went with it
    source.create()  # the source (on the shared base) still runs
    moved.create()


def test_a_move_killed_after_flattening_leaves_no_flat_copy_after_doctor(kvm, target, config):
    source = source_vm(kvm, "fbase")
    clone = kvm.prefix + "flinked"
    assert vmm(config, "clone", source.name(), clone).returncode == 0
    kvm.pool.refresh(0)
    before = set(kvm.pool.listVolumes())
    killed = vmm(config, "mv", clone, "there:", "--pool", "moved", faults="move.flattened:kill")
    assert killed.returncode == -9, killed.stderr
    kvm.pool.refresh(0)
    assert any("flat" in name for name in kvm.pool.listVolumes())  # made, then the kill
    cleaned = vmm(config, "doctor", "--clean")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    kvm.pool.refresh(0)
    assert set(kvm.pool.listVolumes()) == before
    assert target.files() == set() and target.names() == []
    assert kvm.conn.lookupByName(clone).info()  # the clone is still here, whole


def test_uefi_variables_go_along(kvm, target, config, tmp_path):
    dom = source_vm(kvm, "uefi")
    nvram = kvm.loose / f"{dom.name()}_VARS.fd"
    nvram.write_bytes(os.urandom(128 * 1024))  # the variables: what the VM set, byte for byte
    kvm.give_uefi(dom, nvram)
    before = sha256(nvram)
    result = vmm(config, "mv", dom.name(), "there:", "--pool", "moved")
    assert result.returncode == 0, result.stderr
    moved = target.conn.lookupByName(dom.name())
    path = etree.fromstring(moved.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).findtext("os/nvram")
    assert path and path != str(nvram)
    assert sha256(path) == before


def test_a_saved_state_is_refused_unless_discarded(kvm, target, config):
    dom = source_vm(kvm, "saved")
    dom.create()
    dom.managedSave(0)
    result = vmm(config, "mv", dom.name(), "there:", "--pool", "moved")
    assert result.returncode == 1 and "or move it with --discard-save" in result.stderr
    assert target.names() == []
    result = vmm(config, "mv", dom.name(), "there:", "--pool", "moved", "--discard-save")
    assert result.returncode == 0, result.stderr
    assert target.names() == [dom.name()]
    assert not target.conn.lookupByName(dom.name()).hasManagedSaveImage()


def test_a_network_the_target_lacks_is_refused_before_a_byte_moves(kvm, target, config):
    dom = source_vm(kvm, "netted")
    xml = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    nic = etree.SubElement(xml.find("devices"), "interface", type="network")
    etree.SubElement(nic, "source", network="default")
    kvm.conn.defineXML(etree.tostring(xml, encoding="unicode"))
    result = vmm(config, "mv", dom.name(), "there:", "--pool", "moved")
    assert result.returncode == 1
    assert "there has no network 'default', which" in result.stderr
    assert target.files() == set() and target.names() == []


def test_a_terminal_is_shown_each_disks_progress(kvm, target, config):
    dom = source_vm(kvm, "shown")
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [vmm_exe(), "-c", "here", "mv", dom.name(), "there:", "--pool", "moved"],
            stdout=subprocess.PIPE, stderr=terminal, text=True, timeout=120,
            env={**os.environ, **config}, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        os.set_blocking(controller, False)
        shown = os.read(controller, 65536).decode(errors="replace")
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 0, shown
    assert f"\r{dom.name()}: vda: 100%" in shown


def test_a_move_killed_while_the_source_goes_is_finished_by_doctor(kvm, target, config):
    """Past the check the VM is whole on the target: a kill while the source is removed
    leaves its disks on record, and doctor removes them; the moved VM is untouched."""
    dom = source_vm(kvm, "half")
    name, disk = dom.name(), f"{kvm.dir}/{dom.name()}.qcow2"
    killed = vmm(
        config, "mv", name, "there:", "--pool", "moved", faults="move.source-undefined:kill"
    )
    assert killed.returncode == -9, killed.stderr
    assert os.path.exists(disk) and name not in [d.name() for d in kvm.conn.listAllDomains(0)]
    assert "was cut short" in vmm(config, "ls").stderr
    cleaned = vmm(config, "doctor", "--clean")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert not os.path.exists(disk)
    assert target.names() == [name] and target.files() == {f"{name}.qcow2"}
    target.conn.lookupByName(name).create()


def test_two_moves_of_one_vm_at_once_move_it_once(kvm, target, config):
    """Two vmm processes move the same VM at the same moment: the VM lock lets one through;
    the other finds it gone (or already there) and says so; it is on the target once."""
    dom = source_vm(kvm, "twice")
    argv = [vmm_exe(), "-c", "here", "mv", dom.name(), "there:", "--pool", "moved"]
    env = {**os.environ, **config}
    both = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    results = [(p.wait(timeout=180), *p.communicate()) for p in both]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    [(_, _, refused)] = [r for r in results if r[0] == 1]
    assert refused.startswith("vmm: error: ") and len(refused.splitlines()) == 1, refused
    assert target.names() == [dom.name()] and target.files() == {f"{dom.name()}.qcow2"}
    assert dom.name() not in [d.name() for d in kvm.conn.listAllDomains(0)]


# -- live ------------------------------------------------------------------------------------


def guest_copy(image: str, scratch: Path, name: str) -> Path:
    """A raw copy of what a guest reads from `image`, to compare another image with."""
    raw = scratch / f"{name}.raw"
    subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", image, str(raw)], check=True)
    return raw


def same_content(image: str, raw: Path) -> bool:
    compared = subprocess.run(
        ["qemu-img", "compare", "-U", "-f", "raw", str(raw), image], capture_output=True
    )
    return compared.returncode == 0


def disk_of(dom: libvirt.virDomain, flags: int = 0) -> str:
    return etree.fromstring(dom.XMLDesc(flags)).find("devices/disk/source").get("file")


def test_a_running_vm_moves_live_and_runs_on_there(kvm, target, config, tmp_path):
    dom = source_vm(kvm, "live")
    name, uuid, disk = dom.name(), dom.UUIDString(), f"{kvm.dir}/{kvm.prefix}live.qcow2"
    seen = guest_copy(disk, tmp_path, "before")
    dom.create()
    result = vmm(config, "mv", "--live", name, "there:", "--pool", "moved")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{name}: moved live to there, running there (1 disk(s) copied)\n"
    moved = target.conn.lookupByName(name)
    assert moved.isActive() and moved.UUIDString() == uuid  # it never stopped running
    assert name not in [d.name() for d in kvm.conn.listAllDomains(0)]
    assert not os.path.exists(disk)  # the source and its disk are gone
    xml = etree.fromstring(moved.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))  # defined there too
    assert xml.find("devices/interface/mac").get("address") == MAC
    assert xml.findtext(f"metadata/{{{NS}}}vmm/{{{NS}}}path") == "/lab/moving"
    new_disk = disk_of(moved, libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert new_disk == f"{target.dir}/{name}.qcow2" == disk_of(moved)
    moved.destroy()
    assert same_content(new_disk, seen)  # every byte the guest had, copied as it ran
    moved.create()  # and it starts again there from its own definition
    history = vmm(config, "history", "--json", name)
    assert '"action": "move"' in history.stdout


def test_a_running_linked_clone_moves_live_flattened(kvm, target, config, tmp_path):
    source = source_vm(kvm, "livebase")
    clone = kvm.prefix + "livelinked"
    assert vmm(config, "clone", source.name(), clone).returncode == 0
    seen = guest_copy(f"{kvm.dir}/{clone}-vda.qcow2", tmp_path, "clone")
    kvm.conn.lookupByName(clone).create()
    result = vmm(config, "mv", "--live", clone, "there:", "--pool", "moved")
    assert result.returncode == 0, result.stderr
    assert "1 overlay(s) flattened" in result.stdout
    moved = target.conn.lookupByName(clone)
    path = disk_of(moved)
    moved.destroy()
    info = kvm.image_info(path)
    assert "backing-filename" not in info and info["format"] == "qcow2"
    assert same_content(path, seen)
    kvm.pool.refresh(0)
    assert f"{clone}-vda.qcow2" not in kvm.pool.listVolumes()  # the overlay went, not its base
    source.create()


def test_what_cannot_move_live_is_refused_and_nothing_is_made(kvm, target, config):
    dom = source_vm(kvm, "notlive")
    result = vmm(config, "mv", "--live", dom.name(), "there:", "--pool", "moved")
    assert result.returncode == 1 and "is shut off: move it without --live" in result.stderr
    dom.create()
    result = vmm(config, "mv", "--live", "--stop", dom.name(), "there:", "--pool", "moved")
    assert (
        result.returncode == 1
        and "not with --stop, --discard-save or --keep-chain" in result.stderr
    )
    result = vmm(config, "mv", "--live", dom.name(), "/somewhere")
    assert result.returncode == 1 and "go with a move to a host (HOST:)" in result.stderr
    assert target.files() == set() and target.names() == []
    assert dom.isActive()


@pytest.mark.parametrize("how", ["fail", "kill"])
def test_a_live_move_cut_short_before_migrating_leaves_it_running_here(kvm, target, config, how):
    dom = source_vm(kvm, f"cut{how}")
    dom.create()
    result = vmm(config, "mv", "--live", dom.name(), "there:", "--pool", "moved",
                 faults=f"move.volumes-made:{how}")  # fmt: skip
    if how == "fail":
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    else:
        assert result.returncode == -9, result.stderr
        assert target.files() != set()  # the volumes made there, on record
        cleaned = vmm(config, "doctor", "--clean")
        assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert target.files() == set() and target.names() == []
    assert dom.isActive() and os.path.exists(disk_of(dom))


def test_a_live_move_the_target_refuses_leaves_it_running_here(kvm, target, config):
    """A migration libvirt itself fails, after the disks' volumes were made on the target: its
    QEMU (vmmtest's) cannot open the VM's serial log, in a directory only root writes."""
    dom = source_vm(kvm, "refused")
    xml = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    serial = etree.SubElement(xml.find("devices"), "serial", type="file")
    etree.SubElement(serial, "source", path=f"{kvm.loose}/{dom.name()}-serial.log")
    kvm.conn.defineXML(etree.tostring(xml, encoding="unicode"))
    dom.create()
    result = vmm(config, "mv", "--live", dom.name(), "there:", "--pool", "moved")
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "the live migration failed: " in result.stderr
    assert target.files() == set() and target.names() == []
    assert dom.isActive() and os.path.exists(disk_of(dom))
    assert "nothing was left behind" in vmm(config, "doctor").stdout


def test_a_live_move_takes_the_uefi_variables_along(kvm, target, config, tmp_path):
    """The variables file is there on the target, as the source had it, once migrated (vmm
    copies it first; the target's QEMU writes its flash state over it). The VM is paused (it
    moves paused, and stays so): no variable changes underway; vmm stops itself once
    migrated, before the source (and its file) goes."""
    import signal
    import time

    dom = source_vm(kvm, "liveuefi")
    nvram = kvm.loose / f"{dom.name()}_VARS.fd"
    shutil.copy("/usr/share/OVMF/OVMF_VARS.fd", nvram)
    kvm.give_uefi(dom, nvram)
    dom.create()
    time.sleep(2)  # the firmware at work
    dom.suspend()
    moving = subprocess.Popen(
        [vmm_exe(), "-c", "here", "mv", "--live", dom.name(), "there:", "--pool", "moved"],
        env={**os.environ, **config, "VMM_FAULTS": "move.migrated:stop"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while Path(f"/proc/{moving.pid}/stat").read_text().split()[2] != "T":
        assert moving.poll() is None and time.monotonic() < deadline, moving.communicate()
        time.sleep(0.1)
    moved = target.conn.lookupByName(dom.name())
    path = etree.fromstring(moved.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).findtext("os/nvram")
    assert path and path != str(nvram)
    assert sha256(path) == sha256(nvram)  # what the firmware had, the source's last word
    os.kill(moving.pid, signal.SIGCONT)
    _out, err = moving.communicate(timeout=60)
    assert moving.returncode == 0, err
    assert moved.state()[0] == libvirt.VIR_DOMAIN_PAUSED
    assert not nvram.exists()  # the source's variables went with the source


def test_the_picker_moves_a_vm_with_its_progress_in_one_notification(kvm, target, tmp_path):
    """Through the fake menu (tests/fakemenu.py), as wofi mode reports it."""
    from collections import deque

    from fakemenu import RecordingNotifier, ScriptedMenu, pick

    from vmm.ops.history import History
    from vmm.ui.picker.flow import Picker
    from vmm.virt.fleet import Fleet
    from vmm.virt.host import Host

    dom = source_vm(kvm, "picked")
    history = History(tmp_path / "history.jsonl")
    here = Host(libvirt.open("qemu:///system"), "here", history)
    there = Host(libvirt.open(target.uri), "there", history)
    there.pool = "moved"
    steps = [pick("lab/", on="/"), pick("moving/"), pick(dom.name()), pick("Move to host…"),
             pick("there")]  # fmt: skip
    menu, notifier = ScriptedMenu(deque(steps)), RecordingNotifier()
    try:
        Picker(Fleet([here, there], [], history), menu, notifier, terminal=False).run()
    finally:
        here.close()
        there.close()
    assert not menu.steps
    assert dom.name() in target.names()
    progress = [message for kind, message in notifier.said if kind == "progress"]
    assert progress[-1] == f"moving {dom.name()}: vda to there: 100%", notifier.said
    assert notifier.said[-1][0] == "info" and "moved to there" in notifier.said[-1][1]


# -- a linked clone onto the base the target has -----------------------------------------------


def base_on_target(kvm, target, source_disk: str, *, change: bool = False) -> Path:
    """A copy of `source_disk` in the target's pool, under its name (changed: one byte off)."""
    import pwd

    copy = target.dir / os.path.basename(source_disk)
    shutil.copy(source_disk, copy)
    if change:
        with open(copy, "r+b") as image:
            image.seek(os.path.getsize(copy) - 1)
            image.write(b"\x01")
    entry = pwd.getpwnam(target.daemon.user)
    os.chown(copy, entry.pw_uid, entry.pw_gid)
    target.pool.refresh(0)
    return copy


def test_a_linked_clone_moves_onto_the_same_base_there(kvm, target, config, tmp_path):
    source = source_vm(kvm, "kbase")
    base_disk = disk_of(source, libvirt.VIR_DOMAIN_XML_INACTIVE)
    clone = kvm.prefix + "kept"
    assert vmm(config, "clone", source.name(), clone).returncode == 0
    overlay = f"{kvm.dir}/{clone}-vda.qcow2"
    seen = guest_view(overlay, tmp_path)
    original_base = kvm.image_info(overlay)["backing-filename"]
    there_base = base_on_target(kvm, target, original_base)
    result = vmm(config, "mv", "--keep-chain", clone, "there:", "--pool", "moved")
    assert result.returncode == 0, result.stderr
    assert "1 overlay(s) kept on the same base there; 0 MiB of data sent" in result.stdout
    moved = target.conn.lookupByName(clone)
    path = disk_of(moved, libvirt.VIR_DOMAIN_XML_INACTIVE)
    info = kvm.image_info(path)
    assert info["backing-filename"] == str(there_base)  # the header rewritten on the way
    assert info["backing-filename-format"] == "qcow2"
    assert guest_view(path, tmp_path) == seen  # what the guest sees, byte for byte
    assert not os.path.exists(overlay) and os.path.exists(original_base)  # the base stays
    source_now = disk_of(source, libvirt.VIR_DOMAIN_XML_INACTIVE)  # its own overlay of the base
    assert kvm.image_info(source_now)["backing-filename"] == original_base == base_disk
    moved.create()


def test_keep_chain_without_the_same_base_there_is_refused(kvm, target, config):
    source = source_vm(kvm, "nobase")
    clone = kvm.prefix + "nokept"
    assert vmm(config, "clone", source.name(), clone).returncode == 0
    original_base = kvm.image_info(f"{kvm.dir}/{clone}-vda.qcow2")["backing-filename"]
    name = os.path.basename(original_base)
    result = vmm(config, "mv", "--keep-chain", clone, "there:", "--pool", "moved")
    assert result.returncode == 1 and f"there has no image '{name}'" in result.stderr
    assert target.files() == set() and target.names() == []
    base_on_target(kvm, target, original_base, change=True)
    result = vmm(config, "mv", "--keep-chain", clone, "there:", "--pool", "moved")
    assert result.returncode == 1 and "(they differ in content)" in result.stderr
    assert target.files() == {name} and target.names() == []
    assert kvm.conn.lookupByName(clone).info()


# -- interrupted: Ctrl-C, the target daemon killed ----------------------------------------------


def _stopped_move(config, name: str, point: str, *how: str) -> subprocess.Popen[str]:
    """`vmm mv [HOW...] NAME there:`, returned once it has stopped itself at `point`."""
    import time

    moving = subprocess.Popen(
        [vmm_exe(), "-c", "here", "mv", *how, name, "there:", "--pool", "moved"],
        env={**os.environ, **config, "VMM_FAULTS": f"{point}:stop"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while Path(f"/proc/{moving.pid}/stat").read_text().split()[2] != "T":
        assert moving.poll() is None and time.monotonic() < deadline, moving.communicate()
        time.sleep(0.05)
    return moving


@pytest.mark.parametrize("point", ["move.volume-made", "move.streamed", "move.defined"])
def test_ctrl_c_at_any_step_of_a_move_undoes_it_on_the_target(kvm, target, config, point):
    import signal

    dom = source_vm(kvm, "ctrlc")
    disk = f"{kvm.dir}/{dom.name()}.qcow2"
    before = sha256(disk), dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    moving = _stopped_move(config, dom.name(), point)
    os.kill(moving.pid, signal.SIGINT)  # taken as soon as it goes on
    os.kill(moving.pid, signal.SIGCONT)
    _out, err = moving.communicate(timeout=60)
    assert moving.returncode == 130, err
    assert "nothing is left of it" in err and err.count("\n") == 1, err
    assert target.files() == set() and target.names() == []
    assert (sha256(disk), dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)) == before
    assert "nothing was left behind" in vmm(config, "doctor").stdout


def test_the_target_daemon_killed_mid_move_leaves_the_source_and_a_record(kvm, target, config):
    import signal

    dom = source_vm(kvm, "orphan")
    disk = f"{kvm.dir}/{dom.name()}.qcow2"
    before = sha256(disk), dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    moving = _stopped_move(config, dom.name(), "move.volume-made")  # its volume is there
    target.daemon.kill()
    os.kill(moving.pid, signal.SIGCONT)
    _out, err = moving.communicate(timeout=60)
    assert moving.returncode == 1 and err.count("\n") == 1, err
    assert "see 'vmm doctor'" in err  # the target could not be cleaned: it is on record
    assert (sha256(disk), dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)) == before
    target.restart()
    assert target.files() != set()  # the half-made volume, after the crash
    cleaned = vmm(config, "doctor", "--clean")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert target.files() == set() and target.names() == []
    dom.create()  # the source runs as ever


def test_ctrl_c_during_a_live_migration_aborts_it_and_it_runs_on_here(kvm, target, config):
    import signal

    dom = source_vm(kvm, "abort")
    dom.create()
    dom.migrateSetMaxSpeed(1, 0)  # 1 MiB/s: the migration is still under way when Ctrl-C comes
    moving = _stopped_move(config, dom.name(), "move.migrating", "--live")
    os.kill(moving.pid, signal.SIGINT)
    os.kill(moving.pid, signal.SIGCONT)
    _out, err = moving.communicate(timeout=120)
    assert moving.returncode == 130 and "nothing is left of it" in err, err
    assert dom.isActive() and os.path.exists(disk_of(dom))
    assert target.files() == set() and target.names() == []


def test_ctrl_c_once_the_live_migration_ended_lets_the_move_finish(kvm, target, config):
    """Too late to undo: the VM runs on the target's images, so the move goes on to the end."""
    import signal
    import time

    dom = source_vm(kvm, "toolate")
    dom.create()
    name = dom.name()
    moving = _stopped_move(
        config, name, "move.migrating", "--live"
    )  # libvirtd migrates on while vmm is stopped
    deadline = time.monotonic() + 60
    while dom.isActive():  # the source stops once the VM runs on the target
        assert time.monotonic() < deadline, "the migration never ended"
        time.sleep(0.1)
    assert target.conn.lookupByName(name).state()[0] == libvirt.VIR_DOMAIN_RUNNING
    os.kill(moving.pid, signal.SIGINT)
    os.kill(moving.pid, signal.SIGCONT)
    out, err = moving.communicate(timeout=120)
    assert moving.returncode == 0, err
    assert "moved live to there" in out
    moved = target.conn.lookupByName(name)
    assert moved.isActive() and os.path.exists(disk_of(moved))
    assert name not in [d.name() for d in kvm.conn.listAllDomains(0)]
