"""Clones on real qcow2 images under the real hypervisor; qemu-img and qemu-io are the witnesses."""

import contextlib
import hashlib
import os
import subprocess
from pathlib import Path

import kvmlab
import libvirt
import pytest
from lxml import etree

from vmm.ops import clone

pytestmark = pytest.mark.hypervisor
MiB = 2**20


def qemu_io(image, command):
    """Run one qemu-io command on an image, its backing chain included; returns success."""
    result = subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", command, image], capture_output=True, text=True
    )
    return result.returncode == 0 and "Pattern verification failed" not in result.stdout


def write(image, pattern, offset=0, length="64k"):
    assert qemu_io(image, f"write -P {pattern} {offset} {length}")


def reads(image, pattern, offset=0, length="64k"):
    return qemu_io(image, f"read -P {pattern} {offset} {length}")


def disk(dom):
    xml = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return xml.find("devices/disk/source").get("file")


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_linked_clone_never_lets_writes_cross_and_never_touches_the_base(kvm, kvm_run):
    source = kvm.vm("src")
    base = disk(source)
    write(base, "0xaa")  # data the source had before it was cloned
    name = kvm.prefix + "clone"
    assert "linked clone" in kvm_run("clone", source.name(), name).stdout
    copy = kvm.conn.lookupByName(name)
    clone_disk, source_disk = disk(copy), disk(source)
    assert base not in (clone_disk, source_disk)
    for image in (clone_disk, source_disk):
        info = kvm.image_info(image)
        assert info["backing-filename"] == base and info["backing-filename-format"] == "qcow2"
    frozen = sha256(base)
    write(source_disk, "0xbb")  # the source writes after the clone was made
    assert reads(clone_disk, "0xaa") and not reads(clone_disk, "0xbb")
    write(clone_disk, "0xcc", offset="1M")
    assert reads(source_disk, "0xbb") and reads(source_disk, "0", offset="1M")
    assert sha256(base) == frozen
    # both run at once: QEMU's image locking would refuse two writers of one image
    source.create()
    copy.create()
    assert source.isActive() and copy.isActive()
    source.destroy()
    copy.destroy()
    assert sha256(base) == frozen


def test_linked_clone_is_tiny_whatever_the_disk_size(kvm, kvm_run):
    source = kvm.vm("big", disk_mib=4096)
    write(disk(source), "0x11", length="8M")
    kvm_run("clone", source.name(), kvm.prefix + "small")
    clone_disk = disk(kvm.conn.lookupByName(kvm.prefix + "small"))
    assert kvm.image_info(clone_disk)["virtual-size"] == 4096 * MiB
    assert os.path.getsize(clone_disk) < 2 * MiB  # an overlay, not a copy
    assert reads(clone_disk, "0x11", length="8M")


def test_full_clone_is_independent(kvm, kvm_run):
    source = kvm.vm("fullsrc")
    write(disk(source), "0x5a", length="1M")
    seen = []
    copy = clone.clone(
        source, kvm.prefix + "full", linked=False, progress=lambda d, t: seen.append((d, t))
    )
    assert "full clone" in copy
    copy_disk = disk(kvm.conn.lookupByName(kvm.prefix + "full"))
    assert "backing-filename" not in kvm.image_info(copy_disk)
    assert disk(source) != copy_disk
    assert reads(copy_disk, "0x5a", length="1M")
    write(copy_disk, "0x00", length="1M")
    assert reads(disk(source), "0x5a", length="1M")
    assert seen and seen[-1][0] == seen[-1][1] == 64 * MiB


def test_new_vm_from_a_base_image_boots(kvm, kvm_run):
    template = kvm.volume(f"{kvm.prefix}template.qcow2")
    write(template.path(), "0x42")
    name = kvm.prefix + "fromtemplate"
    pool = kvm.pool.name()
    result = kvm_run(
        "new", name, "--base", f"{pool}/{template.name()}", "--memory", "64", "--to", "/boxes"
    )
    assert result.exit_code == 0, result.stderr
    dom = kvm.conn.lookupByName(name)
    assert kvm.image_info(disk(dom))["backing-filename"] == template.path()
    assert reads(disk(dom), "0x42")
    dom.create()
    assert dom.isActive()
    xml = etree.fromstring(dom.XMLDesc(0))
    # a 64-bit guest (vmm once took the first guest in the capabilities: i686, qemu32)
    assert xml.find("os/type").get("arch") == "x86_64"
    assert xml.find("devices/channel/target").get("name") == "org.qemu.guest_agent.0"


def test_new_refuses_an_architecture_the_host_cannot_run(kvm, kvm_run):
    template = kvm.volume(f"{kvm.prefix}template-arch.qcow2")
    name = kvm.prefix + "sparc"
    refused = kvm_run("new", name, "--base", template.path(), "--arch", "sparc64")
    assert refused.exit_code == 1
    assert "this host cannot run sparc64 guests (it runs: " in refused.stderr
    assert "x86_64" in refused.stderr
    assert name not in kvm.conn.listDefinedDomains()


def test_new_refuses_a_base_that_a_vm_writes(kvm, kvm_run):
    source = kvm.vm("writer")
    refused = kvm_run("new", kvm.prefix + "reader", "--base", disk(source), "--memory", "64")
    assert refused.exit_code == 1 and f"is the disk of {source.name()!r}" in refused.output
    assert set(os.listdir(kvm.dir)) == {Path(disk(source)).name}


def test_rm_refuses_a_disk_that_another_vm_builds_on(kvm, kvm_run):
    template = kvm.volume(f"{kvm.prefix}template-vm.qcow2")
    child = kvm.prefix + "child"
    assert kvm_run("new", child, "--base", template.path(), "--memory", "64").exit_code == 0
    # then someone boots the template itself: its disk now backs the child's
    source = kvm.conn.defineXML(kvmlab.domain_xml(kvm.prefix + "template-vm", template.path()))
    refused = kvm_run("rm", "-y", "--storage", source.name())
    assert refused.exit_code == 1 and f"delete these first: {child}" in refused.stderr
    assert os.path.exists(disk(source))
    assert kvm_run("rm", "-y", "--storage", child).exit_code == 0
    assert kvm_run("rm", "-y", "--storage", source.name()).exit_code == 0


def test_deleting_the_source_of_a_linked_clone_keeps_the_clone_working(kvm, kvm_run):
    source = kvm.vm("going")
    base = disk(source)
    write(base, "0x77")
    kvm_run("clone", source.name(), kvm.prefix + "staying")
    assert kvm_run("rm", "-y", "--storage", source.name()).exit_code == 0
    staying = kvm.conn.lookupByName(kvm.prefix + "staying")
    assert os.path.exists(base) and reads(disk(staying), "0x77")


def test_clone_keeps_its_own_uefi_variables(kvm):
    source = kvm.vm("uefi")
    nvram = kvm.dir / "uefi_VARS.fd"
    nvram.write_bytes(b"\x5a" * 4096)
    xml = etree.fromstring(source.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    etree.SubElement(
        xml.find("features")
        if xml.find("features") is not None
        else etree.SubElement(xml, "features"),
        "acpi",
    )
    os_ = xml.find("os")
    etree.SubElement(
        os_, "loader", readonly="yes", type="pflash"
    ).text = "/usr/share/OVMF/OVMF_CODE.fd"
    etree.SubElement(os_, "nvram").text = str(nvram)
    kvm.conn.defineXML(etree.tostring(xml, encoding="unicode"))
    note = clone.clone(source, kvm.prefix + "uefi2")
    assert "UEFI variables copied" in note
    copy = kvm.conn.lookupByName(kvm.prefix + "uefi2")
    copy_nvram = etree.fromstring(copy.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).findtext(
        "os/nvram"
    )
    assert copy_nvram != str(nvram)
    assert Path(copy_nvram).read_bytes() == nvram.read_bytes()
    assert os.stat(copy_nvram).st_mode & 0o777 == 0o600
    copy.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    assert not os.path.exists(copy_nvram)


def test_interrupted_clone_leaves_no_file_and_the_source_as_it_was(kvm, monkeypatch):
    source = kvm.vm("interrupted")
    before_xml = source.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    before_files = set(os.listdir(kvm.dir))
    real = clone.freeze_source

    def freeze_then_interrupt(*args):
        real(*args)
        raise KeyboardInterrupt  # Ctrl-C after the last step (a mock: timing can't be forced)

    monkeypatch.setattr(clone, "freeze_source", freeze_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        clone.clone(source, kvm.prefix + "never")
    assert set(os.listdir(kvm.dir)) == before_files
    assert source.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == before_xml
    with pytest.raises(libvirt.libvirtError):
        kvm.conn.lookupByName(kvm.prefix + "never")


def test_full_clone_into_another_pool(kvm, kvm_run, tmp_path):
    import tempfile

    other_dir = Path(tempfile.mkdtemp(prefix="vmm-kvm-other-", dir="/var/tmp"))
    other_dir.chmod(0o755)
    target = f"<target><path>{other_dir}</path></target>"
    pool_xml = f"<pool type='dir'><name>{kvm.prefix}other</name>{target}</pool>"
    other = kvm.conn.storagePoolCreateXML(pool_xml, 0)
    try:
        source = kvm.vm("pooled")
        write(disk(source), "0x3c")
        name = kvm.prefix + "inother"
        result = kvm_run("clone", "--full", "--pool", other.name(), source.name(), name)
        assert result.exit_code == 0, result.stderr
        copy_disk = disk(kvm.conn.lookupByName(name))
        assert Path(copy_disk).parent == other_dir and reads(copy_disk, "0x3c")
    finally:
        for vol in other.listAllVolumes():
            vol.delete(0)
        other.destroy()
        other_dir.rmdir()


def test_a_full_copy_cut_short_leaves_no_part_of_it(kvm, tmp_path):
    import resource

    from conftest import vmm_exe

    source = kvm.loose_vm("cut")
    write(disk(source), "0x6b", length="32M")
    before = set(os.listdir(kvm.loose))

    def small_files():  # qemu-img's writes fail once the copy passes 8 MiB
        resource.setrlimit(resource.RLIMIT_FSIZE, (8 * MiB, 8 * MiB))

    result = subprocess.run(
        [vmm_exe(), "-c", "qemu:///system", "clone", "--full", source.name(), kvm.prefix + "cut2"],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path)},
        preexec_fn=small_files,
        timeout=60,
    )
    assert result.returncode == 1
    assert "qemu-img convert failed:" in result.stderr and "File too large" in result.stderr
    assert set(os.listdir(kvm.loose)) == before
    with pytest.raises(libvirt.libvirtError):
        kvm.conn.lookupByName(kvm.prefix + "cut2")


def test_a_full_clone_of_a_raw_disk_is_qcow2_as_its_definition_says(kvm):
    source = kvm.vm("raw", fmt="raw")
    assert subprocess.run(["qemu-io", "-f", "raw", "-c", "write -P 0x2e 0 1M", disk(source)])
    clone.clone(source, kvm.prefix + "fromraw", linked=False)
    copy = kvm.conn.lookupByName(kvm.prefix + "fromraw")
    xml = etree.fromstring(copy.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert xml.find("devices/disk/driver").get("type") == "qcow2"
    assert kvm.image_info(disk(copy))["format"] == "qcow2"
    assert reads(disk(copy), "0x2e", length="1M")
    copy.create()  # QEMU opens it as the definition says
    assert copy.isActive()


def test_full_clone_into_a_pool_of_a_disk_in_no_pool(kvm, kvm_run):
    source = kvm.loose_vm("loose")
    write(disk(source), "0x4d")
    before = set(os.listdir(kvm.loose))
    name = kvm.prefix + "pooled"
    result = kvm_run("clone", "--full", "--pool", kvm.pool.name(), source.name(), name)
    assert result.exit_code == 0, result.output
    copy_disk = disk(kvm.conn.lookupByName(name))
    assert Path(copy_disk).parent == kvm.dir and set(os.listdir(kvm.loose)) == before
    assert kvm.pool.storageVolLookupByName(Path(copy_disk).name).path() == copy_disk
    assert reads(copy_disk, "0x4d")


def test_new_vm_on_a_qcow2_base_in_no_pool(kvm, kvm_run):
    base = kvm.loose_image(kvm.prefix + "loosebase", mib=128)
    write(base, "0x39", offset="100M")
    name = kvm.prefix + "onloose"
    loose_files = set(os.listdir(kvm.loose))
    pool = kvm.pool.name()
    result = kvm_run("new", name, "--base", base, "--memory", "64", "--pool", pool)
    assert result.exit_code == 0, result.output
    overlay = disk(kvm.conn.lookupByName(name))
    assert Path(overlay).parent == kvm.dir and set(os.listdir(kvm.loose)) == loose_files
    info = kvm.image_info(overlay)
    assert info["backing-filename-format"] == "qcow2" and info["virtual-size"] == 128 * MiB
    assert reads(overlay, "0x39", offset="100M")


def test_a_clone_whose_uefi_variables_cannot_be_copied_leaves_nothing(kvm, kvm_run):
    source = kvm.vm("badvars")
    nvram = kvm.dir / "not-a-file"
    nvram.mkdir()
    kvm.give_uefi(source, nvram)
    before_xml = source.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    before_files = set(os.listdir(kvm.dir))
    result = kvm_run("clone", source.name(), kvm.prefix + "badvars2")
    assert result.exit_code == 1
    assert f"cannot copy the UEFI variables {nvram}: {nvram} is no regular file" in result.output
    assert set(os.listdir(kvm.dir)) == before_files
    assert source.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == before_xml
    with pytest.raises(libvirt.libvirtError):
        kvm.conn.lookupByName(kvm.prefix + "badvars2")


def test_rm_without_storage_does_not_look_into_other_pools(kvm, kvm_run):
    import shutil
    import tempfile

    gone = Path(tempfile.mkdtemp(prefix="vmm-kvm-gone-", dir="/var/tmp"))
    pool_xml = (
        f"<pool type='dir'><name>{kvm.prefix}gone</name><target><path>{gone}</path></target></pool>"
    )
    broken = kvm.conn.storagePoolCreateXML(pool_xml, 0)
    shutil.rmtree(gone)  # a pool that can no longer be refreshed
    try:
        vm = kvm.vm("plainrm")
        result = kvm_run("rm", "-y", vm.name())
        assert result.exit_code == 0, result.output
        with pytest.raises(libvirt.libvirtError):
            kvm.conn.lookupByName(vm.name())
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            broken.destroy()


def test_a_full_clone_from_the_picker_goes_to_the_hosts_pool(kvm, tmp_path):
    import shutil
    import tempfile

    from conftest import require_tmux_and_fzf, vmm_exe
    from tmux import Terminal

    require_tmux_and_fzf()
    other_dir = Path(tempfile.mkdtemp(prefix="vmm-kvm-picked-", dir="/var/tmp"))
    other_dir.chmod(0o755)
    pool = etree.Element("pool", type="dir")
    etree.SubElement(pool, "name").text = kvm.prefix + "picked"
    etree.SubElement(etree.SubElement(pool, "target"), "path").text = str(other_dir)
    other = kvm.conn.storagePoolCreateXML(etree.tostring(pool, encoding="unicode"), 0)
    config = tmp_path / "vmm" / "config.toml"
    config.parent.mkdir()
    config.write_text(f'[hosts.kvm]\nuri = "qemu:///system"\npool = "{other.name()}"\n')
    source = kvm.vm("picked")
    write(disk(source), "0x5e")
    env = {
        "XDG_CONFIG_HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "TERM": "xterm-256color",
    }
    term = Terminal([vmm_exe(), "-c", "kvm"], env)
    try:
        term.pick("/", source.name())
        term.pick(source.name(), "Clone")
        term.pick(f"clone {source.name()}", "Full clone")
        term.pick("clone name", "")  # the suggested name
        term.wait_for("full clone", timeout=60)
        copy_disk = disk(kvm.conn.lookupByName(source.name() + "-clone"))
        assert Path(copy_disk).parent == other_dir and reads(copy_disk, "0x5e")
    finally:
        term.close()
        for vol in other.listAllVolumes():
            vol.delete(0)
        other.destroy()
        shutil.rmtree(other_dir, ignore_errors=True)
