"""What only a real hypervisor proves: QEMU/KVM (TCG where KVM is missing) under libvirtd."""

import json
import subprocess
from pathlib import Path

import kvmlab
import libvirt
import pytest

pytestmark = pytest.mark.hypervisor


def reason(dom):
    return dom.state()


def test_start_then_force_off(kvm, kvm_run):
    dom = kvm.vm("a")
    result = kvm_run("start", dom.name())
    assert result.stdout == f"{dom.name()}: started\n"
    assert dom.state() == [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED]
    assert kvm_run("off", dom.name()).stdout == f"{dom.name()}: forced off\n"
    assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF


def test_managed_save_then_start_restores_instead_of_booting(kvm, kvm_run):
    dom = kvm.vm("saved")
    dom.create()
    assert kvm_run("save", dom.name()).stdout == f"{dom.name()}: state saved\n"
    assert dom.hasManagedSaveImage() and dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    assert kvm_run("info", dom.name(), "--json").exit_code == 0
    result = kvm_run("start", dom.name())
    assert result.stdout == f"{dom.name()}: restored from saved state\n"
    # the domain was restored, not cold-booted, and the save image was consumed
    assert dom.state() == [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_RESTORED]
    assert not dom.hasManagedSaveImage()


def test_discard_save_then_start_cold_boots(kvm, kvm_run):
    dom = kvm.vm("discard")
    dom.create()
    dom.managedSave()
    assert kvm_run("discard-save", "-y", dom.name()).exit_code == 0
    assert not dom.hasManagedSaveImage()
    assert kvm_run("start", dom.name()).stdout == f"{dom.name()}: started\n"
    assert dom.state() == [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED]


def internal_snapshots(kvm, dom):
    disk = kvm.image_info(_disk_path(dom))
    return sorted(snap["name"] for snap in disk.get("snapshots", []))


def _disk_path(dom):
    from lxml import etree

    return etree.fromstring(dom.XMLDesc(0)).find("devices/disk/source").get("file")


def test_snapshot_a_running_vm_and_revert(kvm, kvm_run):
    dom = kvm.vm("snap")
    dom.create()
    assert kvm_run("snapshot", "create", dom.name(), "live-1").exit_code == 0
    assert internal_snapshots(kvm, dom) == ["live-1"]  # in the qcow2 image itself
    kvm_run("off", dom.name())
    assert (
        kvm_run("snapshot", "revert", "-y", dom.name()).stdout
        == f"{dom.name()}: reverted to snapshot 'live-1'\n"
    )
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING  # memory state came back with it


def test_snapshot_tree_two_levels_and_delete(kvm, kvm_run):
    dom = kvm.vm("tree")
    for name in ("root", "child", "grandchild"):
        assert kvm_run("snapshot", "create", dom.name(), name).exit_code == 0
    tree = json.loads(kvm_run("snapshot", "ls", dom.name(), "--json").stdout)
    assert [(s["depth"], s["name"], s["parent"]) for s in tree] == [
        (0, "root", None),
        (1, "child", "root"),
        (2, "grandchild", "child"),
    ]
    assert tree[2]["current"]
    assert kvm_run("snapshot", "rm", "-y", dom.name(), "child", "--children").exit_code == 0
    assert internal_snapshots(kvm, dom) == ["root"]


def test_snapshot_names_libvirt_refuses_are_refused_first(kvm, kvm_run):
    dom = kvm.vm("badsnap")
    result = kvm_run("snapshot", "create", dom.name(), "a/b")
    assert result.exit_code == 1 and "no '/' allowed" in result.stderr


def test_shutdown_without_a_guest_os_waits_then_escalates(kvm, kvm_run):
    dom = kvm.vm("acpi")
    dom.create()
    waited = kvm_run("shutdown", "--wait", "--timeout", "1", dom.name())
    assert waited.exit_code == 1 and "still running 1s after the shutdown request" in waited.stderr
    forced = kvm_run("shutdown", "--force-after", "1", dom.name())
    assert forced.stdout == f"{dom.name()}: did not shut down within 1s: forced off\n"
    assert not dom.isActive()


def test_shutting_down_several_waits_for_them_together(kvm, kvm_run, history):
    doms = [kvm.vm("stubborn1"), kvm.vm("stubborn2")]  # no guest OS: ACPI goes unanswered
    for dom in doms:
        dom.create()
    names = [dom.name() for dom in doms]
    forced = kvm_run("shutdown", "--force-after", "1", *names)
    assert forced.exit_code == 0, forced.output
    assert not any(dom.isActive() for dom in doms)
    journal = [(e.vm, e.action) for e in history.entries() if e.vm in names]
    # both were asked before either was forced: one wait for the two, not one each
    asked, forced_off = [(n, "shutdown") for n in names], [(n, "off") for n in names]
    assert journal == [*asked, *forced_off]


def test_delete_with_storage_removes_the_disk_file(kvm, kvm_run):
    dom = kvm.vm("gone")
    disk = Path(_disk_path(dom))
    dom.create()
    dom.snapshotCreateXML("<domainsnapshot><name>s</name></domainsnapshot>")
    assert disk.exists()
    assert kvm_run("rm", "-y", "--force", "--storage", dom.name()).exit_code == 0
    assert not disk.exists()
    with pytest.raises(libvirt.libvirtError):
        kvm.conn.lookupByName(dom.name())


def test_delete_refuses_a_disk_that_backs_an_overlay(kvm, kvm_run):
    base = kvm.vm("base")
    overlay = kvm.volume(f"{kvm.prefix}overlay.qcow2", backing=_disk_path(base))
    clone = kvm.conn.defineXML(kvmlab.domain_xml(kvm.prefix + "clone", overlay.path()))
    result = kvm_run("rm", "-y", "--storage", base.name())
    assert result.exit_code == 1 and f"delete these first: {clone.name()}" in result.stderr
    assert Path(_disk_path(base)).exists() and base.isPersistent()


def test_bulk_start_of_a_folder(kvm, kvm_run):
    doms = [kvm.vm(name) for name in ("one", "two")]
    folder = f"/{kvm.prefix}lab"
    assert kvm_run("mv", *(d.name() for d in doms), folder).exit_code == 0
    result = kvm_run("start", folder + "/")
    assert result.exit_code == 0
    assert sorted(result.stdout.splitlines()) == sorted(f"{d.name()}: started" for d in doms)
    assert all(d.state()[0] == libvirt.VIR_DOMAIN_RUNNING for d in doms)


def test_info_shows_use_and_disks_of_a_running_vm(kvm, kvm_run):
    dom = kvm.vm("info")
    dom.create()
    info = json.loads(kvm_run("info", dom.name(), "--json").stdout)
    assert info["state"] == "running" and info["cpu_percent"] is not None
    assert info["memory_used_mib"] and info["memory_used_mib"] > 0
    assert info["disks"][0]["path"] == _disk_path(dom) and info["disks"][0]["format"] == "qcow2"


def test_real_process_acts_on_the_hypervisor(kvm, tmp_path):
    from conftest import run_vmm

    dom = kvm.vm("proc")
    env = {"XDG_STATE_HOME": str(tmp_path)}
    started = run_vmm("-c", "qemu:///system", "start", dom.name(), env=env)
    assert started.returncode == 0 and dom.isActive()
    history = run_vmm("history", dom.name(), "--json", env=env)
    assert [e["action"] for e in json.loads(history.stdout)] == ["start"]
    subprocess.run(
        ["virsh", "-c", "qemu:///system", "destroy", dom.UUIDString()],
        check=True,
        capture_output=True,
    )


def test_managed_save_reports_progress_to_the_end(kvm):
    from vmm.ops import power

    dom = kvm.vm("progress")
    dom.create()
    heard = []
    assert (
        power.save(dom, progress=lambda done, total: heard.append((done, total))) == "state saved"
    )
    assert dom.hasManagedSaveImage()
    assert heard and heard[-1][0] == heard[-1][1]
    assert all(0 <= done <= total for done, total in heard)
