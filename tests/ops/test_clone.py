"""Clones and new VMs on the test driver: the XML they define and that failure leaves nothing."""

import json

import libvirt
import pytest
from lxml import etree

from vmm.model.definition import Definition
from vmm.model.errors import VmmError
from vmm.model.metadata import Metadata
from vmm.ops import clone, create, transaction
from vmm.virt import images

# what a clone of a guest vmm made no seed for says
COPIED = "; the guest's identity (hostname, SSH host keys) is its source's"


def snapshot_of(host):
    """Everything a failed clone must leave exactly as it was."""
    conn = host.conn
    doms = {d.name(): d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) for d in conn.listAllDomains()}
    vols = {v.name() for p in conn.listAllStoragePools() for v in p.listAllVolumes()}
    return doms, vols


def volume_xml(host, path):
    return etree.fromstring(host.conn.storageVolLookupByPath(path).XMLDesc())


def disk_path(host, name):
    xml = etree.fromstring(host.lookup(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return xml.find("devices/disk/source").get("file")


def test_linked_clone_gets_an_overlay_and_the_source_moves_onto_its_own(srun, shost):
    result = srun("clone", "lone-vm", "lone copy")
    assert result.stdout == f"lone-vm: linked clone 'lone copy' created (1 disk(s)){COPIED}\n"
    clone_disk, source_disk = disk_path(shost, "lone copy"), disk_path(shost, "lone-vm")
    assert clone_disk == "/pool/lone-copy-vda.qcow2"
    assert source_disk == "/pool/lone-vm-vda.qcow2"
    for path in (clone_disk, source_disk):
        backing = volume_xml(shost, path).find("backingStore")
        assert backing.findtext("path") == "/pool/lone.qcow2"
        assert backing.find("format").get("type") == "qcow2"
    info = json.loads(srun("info", "lone copy", "--json").stdout)
    assert info["disks"][0]["backing"] == ["/pool/lone.qcow2"]
    assert info["linked_with"] == ["lone-vm"]
    assert "linked with: lone copy" in srun("info", "lone-vm").stdout


def test_the_pickers_preview_shows_the_chain_without_reading_every_vm(srun, shost):
    from vmm.ops import info

    srun("clone", "lone-vm", "lone copy")
    calls = []
    shost.conn.listAllDomains = lambda *a: calls.append(a) or []  # counts the host-wide scan
    preview = info.gather(shost.vm("lone copy"), with_links=False)
    assert preview.disks[0].chain == ("/pool/lone.qcow2",) and preview.linked_with == ()
    assert calls == []


def test_clone_xml_renames_drops_identity_and_keeps_shared_disks(shost):
    source = etree.fromstring(shost.lookup("base-vm").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    etree.SubElement(
        etree.SubElement(source.find("devices"), "interface", type="network"),
        "mac",
        address="52:54:00:01:02:03",
    )
    view = Definition.of(source)
    xml = etree.fromstring(
        clone.clone_xml(view, "new", {"vda": "/pool/new.qcow2"}, Metadata("/x", ("a",)))
    )
    assert xml.findtext("name") == "new" and xml.find("uuid") is None
    assert xml.find("devices/interface/mac") is None
    disks = xml.findall("devices/disk")
    assert disks[0].find("source").get("file") == "/pool/new.qcow2"
    assert disks[1].find("source").get("file") == "/pool/installer.iso"  # the CD-ROM is shared
    vmm = xml.find("metadata/{http://calebstew.art/xmlns/vmm}vmm")
    assert vmm.findtext("{http://calebstew.art/xmlns/vmm}path") == "/x"


def test_full_clone_copies_and_keeps_the_source(srun, shost):
    before = disk_path(shost, "lone-vm")
    assert "full clone 'copy' created" in srun("clone", "--full", "lone-vm", "copy").stdout
    assert disk_path(shost, "lone-vm") == before
    assert volume_xml(shost, disk_path(shost, "copy")).find("backingStore") is None


def test_a_pool_is_only_for_full_clones(srun):
    # (cross-pool copies need the real storage driver: see ops/test_clone_kvm.py)
    refused = srun("clone", "--pool", "other", "lone-vm", "linked")
    assert refused.exit_code == 1 and "--pool is for --full clones" in refused.stderr


def test_clone_copies_folder_and_labels_unless_told(run, host):
    host.lookup("alpha").destroy()
    run("clone", "alpha", "a1")
    run("clone", "alpha", "a2", "--to", "/elsewhere", "--label", "x", "--label", "y")
    a1, a2 = host.find("a1"), host.find("a2")
    assert (a1.path, a1.labels) == ("/lab/web", ("web", "prod"))
    assert (a2.path, a2.labels) == ("/elsewhere", ("x", "y"))
    assert a1.uuid != host.find("alpha").uuid and not a1.managed_save and a1.snapshots == 0


def test_clone_and_start(run, host):
    result = run("clone", "gamma", "g2", "--start")
    assert "g2: started" in result.stdout and host.find("g2").state == "running"


@pytest.mark.parametrize(
    ("prepare", "args", "message"),
    [
        (None, ["clone", "alpha", "x"], "while it runs"),
        ("save", ["clone", "alpha", "x"], "its saved state refers to the disks"),
        ("snapshot", ["clone", "beta", "x"], "its snapshots live in the images"),
        (None, ["clone", "beta", "gamma"], "a VM named 'gamma' already exists"),
        (None, ["clone", "beta", "a/b"], "bad VM name"),
        (None, ["clone", "beta", "new\x1b[2Jname"], "bad VM name"),
        ("network disk", ["clone", "beta", "x"], "its disk vdb is a network disk"),
        ("device disk", ["clone", "beta", "x"], "/dev/null is no file and lies in no storage pool"),
        (None, ["clone", "nope", "x"], "no VM named 'nope'"),
    ],
)
def test_refusals_change_nothing(run, host, prepare, args, message):
    if prepare == "save":
        host.lookup("alpha").managedSave()
    if prepare == "snapshot":
        host.lookup("beta").snapshotCreateXML("<domainsnapshot><name>s</name></domainsnapshot>")
    if prepare == "network disk":  # a clone would share it, both VMs writing
        xml = etree.fromstring(host.lookup("beta").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        disk = etree.SubElement(xml.find("devices"), "disk", type="network", device="disk")
        source = etree.SubElement(disk, "source", protocol="nbd", name="export")
        etree.SubElement(source, "host", name="storage.example", port="10809")
        etree.SubElement(disk, "target", dev="vdb", bus="virtio")
        host.conn.defineXML(etree.tostring(xml, encoding="unicode"))
    if prepare == "device disk":  # in no pool: an image 'beside' it would land in /dev
        xml = etree.fromstring(host.lookup("beta").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        disk = etree.SubElement(xml.find("devices"), "disk", type="block", device="disk")
        etree.SubElement(disk, "source", dev="/dev/null")
        etree.SubElement(disk, "target", dev="vdb", bus="virtio")
        host.conn.defineXML(etree.tostring(xml, encoding="unicode"))
    before = snapshot_of(host)
    result = run(*args)
    assert result.exit_code == 1 and message in result.stderr
    assert snapshot_of(host) == before


class Boom(Exception):
    pass


def fail_on_call(monkeypatch, owner, name, n, error=Boom):
    """Make the n-th call of owner.name fail (a mock: injected failures cannot happen for real)."""
    real = getattr(owner, name)
    calls = {"count": 0}

    def wrapper(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] == n:
            raise error("injected failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)


@pytest.mark.parametrize(
    ("owner", "name", "n"),
    [
        (images, "create_overlay", 1),  # the clone's overlay
        (images, "create_overlay", 2),  # the source's new overlay
        (clone, "define_new", 1),  # defining the clone
        (clone, "copy_nvram", 1),
        (clone, "freeze_source", 1),
    ],
)
@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
def test_a_failure_at_any_step_leaves_nothing_behind(monkeypatch, shost, owner, name, n, error):
    before = snapshot_of(shost)
    fail_on_call(monkeypatch, owner, name, n, error)
    with pytest.raises(error):
        clone.clone(shost.lookup("lone-vm"), "doomed")
    assert snapshot_of(shost) == before


@pytest.fixture
def fault_at():
    """Run a hook at a named step of an operation (vmm.ops.faults): the failures a real host
    cannot be made to produce on cue."""
    from vmm.ops import faults

    def install(point, hook):
        faults.HOOKS[point] = hook

    yield install
    faults.HOOKS.clear()


CLONE_POINTS = [
    "clone.source-frozen", "clone.image-reserved", "clone.images-made", "clone.defined",
    "clone.done",
]  # fmt: skip


@pytest.mark.parametrize(
    ("point", "linked"),
    [(point, True) for point in CLONE_POINTS]
    + [(point, False) for point in CLONE_POINTS if point != "clone.source-frozen"],
)
@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
def test_a_failure_at_each_step_puts_everything_back(fault_at, shost, point, error, linked):
    before = snapshot_of(shost)

    def fail():
        raise error("injected")

    fault_at(point, fail)
    with pytest.raises(error):
        clone.clone(shost.lookup("lone-vm"), "doomed", linked=linked)
    assert snapshot_of(shost) == before


def test_the_source_is_frozen_before_anything_builds_on_its_image(fault_at, shost):
    """Seen at the first step where the clone's image exists: the source already sits on an
    overlay of its own, so its old image, the clone's base, is written by nobody."""
    seen = {}

    def look():
        seen["source disk"] = disk_path(shost, "lone-vm")
        seen["volumes"] = {
            v.path() for v in shost.conn.storagePoolLookupByName("pool").listAllVolumes()
        }

    fault_at("clone.image-reserved", look)
    clone.clone(shost.lookup("lone-vm"), "copy")
    assert seen["source disk"] != "/pool/lone.qcow2"
    assert not any("copy" in path for path in seen["volumes"])  # the clone's image comes after


def test_a_source_started_between_the_checks_and_the_freeze_stops_the_clone(fault_at, shost):
    before = snapshot_of(shost)
    source = shost.lookup("lone-vm")
    fault_at("clone.source-frozen", lambda: _start_from_old_definition(shost, source))
    with pytest.raises(VmmError, match="was started while it was being cloned"):
        clone.clone(source, "copy")
    source.destroy()
    assert snapshot_of(shost) == before


def _start_from_old_definition(host, source):
    """Another tool started the source just before vmm moved it: it runs on its old image."""
    frozen = source.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    xml = etree.fromstring(frozen)
    xml.find("devices/disk/source").set("file", "/pool/lone.qcow2")
    host.conn.defineXML(etree.tostring(xml, encoding="unicode"))
    source.create()
    host.conn.defineXML(frozen)


def test_a_source_started_on_its_overlay_after_the_freeze_is_left_there(fault_at, shost):
    source = shost.lookup("lone-vm")

    def start_then_fail():
        source.create()
        raise Boom("injected")

    fault_at("clone.defined", start_then_fail)
    with pytest.raises(Boom):
        clone.clone(source, "copy")
    frozen = disk_path(shost, "lone-vm")
    assert frozen != "/pool/lone.qcow2" and source.isActive()
    assert shost.conn.storageVolLookupByPath(frozen)  # not deleted under the running VM
    with pytest.raises(VmmError):
        shost.lookup("copy")


def test_a_linked_clone_of_a_disk_another_vm_writes_is_refused(srun, shost):
    from conftest import domain_xml

    xml = etree.fromstring(domain_xml("sharer"))
    disk = etree.SubElement(etree.SubElement(xml, "devices"), "disk", type="file", device="disk")
    etree.SubElement(disk, "source", file="/pool/lone.qcow2")
    etree.SubElement(disk, "target", dev="vdb")
    shost.conn.defineXML(etree.tostring(xml, encoding="unicode"))
    before = snapshot_of(shost)
    refused = srun("clone", "lone-vm", "copy")
    assert refused.exit_code == 1
    assert "its disk /pool/lone.qcow2 is written by 'sharer' too" in refused.output
    assert snapshot_of(shost) == before


def test_full_clone_failure_removes_the_copy(monkeypatch, shost):
    before = snapshot_of(shost)
    fail_on_call(monkeypatch, clone, "define_new", 1)
    with pytest.raises(Boom):
        clone.clone(shost.lookup("lone-vm"), "doomed", linked=False)
    assert snapshot_of(shost) == before


def test_a_full_clone_libvirt_refuses_to_define_copies_nothing(fault_at, srun, shost):
    """libvirt stores a CD-ROM at a relative path when asked without validation (another tool
    did so); the clone, which shares that CD-ROM, fails VALIDATE: that must cost no copy."""
    xml = etree.fromstring(shost.lookup("lone-vm").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    cdrom = etree.SubElement(xml.find("devices"), "disk", type="file", device="cdrom")
    etree.SubElement(cdrom, "source", file="relative.iso")
    etree.SubElement(cdrom, "target", dev="sda", bus="sata")
    etree.SubElement(cdrom, "readonly")
    shost.conn.defineXML(etree.tostring(xml, encoding="unicode"))
    before = snapshot_of(shost)
    seen = []  # the volumes at every step the clone reaches

    def look():
        seen.append(snapshot_of(shost)[1])

    for point in ["clone.checked", *CLONE_POINTS]:
        fault_at(point, look)
    refused = srun("clone", "--full", "lone-vm", "doomed")
    assert refused.exit_code == 1 and "failed to validate against schema" in refused.stderr
    assert seen and all(volumes == before[1] for volumes in seen)  # no copy was ever made
    assert snapshot_of(shost) == before


def test_clones_lists_vms_sharing_images(srun):
    assert srun("clones", "base-vm").stdout == "clone-vm  (through /pool/base.qcow2)\n"
    assert srun("clones", "lone-vm").stdout == ""


def test_new_vm_from_a_pool_volume(srun, shost):
    result = srun(
        "new",
        "fresh one",
        "--base",
        "pool/template.qcow2",
        "--memory",
        "256",
        "--vcpus",
        "2",
        "--to",
        "/new",
    )
    assert (
        result.stdout
        == "fresh one: created on an overlay of /pool/template.qcow2, with no network\n"
    )
    view = shost.find("fresh one")
    assert (view.path, view.vcpus, view.memory_kib) == ("/new", 2, 256 * 1024)
    assert (
        volume_xml(shost, disk_path(shost, "fresh one")).findtext("backingStore/path")
        == "/pool/template.qcow2"
    )


@pytest.mark.parametrize(
    ("base", "message"),
    [
        ("pool/nope.qcow2", "no base image"),
        ("nope", "no image 'nope' in any storage pool: give a path or POOL/VOLUME"),
        ("/nope/x.img", "does not exist"),
        ("pool/lone.qcow2", "is the disk of 'lone-vm', which still writes it"),
        ("/dev/null", "/dev/null is no regular file: a base image must be a disk image"),
        ("/etc/hostname", "/etc/hostname does not look like a disk image (raw,"),
        ("/etc/passwd", "/etc/passwd does not look like a disk image (raw,"),
    ],
)
def test_new_vm_bad_base(srun, shost, base, message):
    before = snapshot_of(shost)
    result = srun("new", "x", "--base", base)
    assert result.exit_code == 1 and message in result.stderr
    assert snapshot_of(shost) == before


def test_new_vm_writes_nothing_beside_a_base_in_no_pool_unless_told_where(srun, shost, tmp_path):
    import os
    import subprocess

    loose = tmp_path / "loose"
    loose.mkdir()
    base = loose / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "64M"], check=True)
    refused = srun("new", "x", "--base", str(base))
    assert refused.exit_code == 1
    assert "is in no storage pool, and vmm writes no image beside it" in refused.stderr
    assert os.listdir(loose) == ["base.qcow2"]
    made = srun("new", "x", "--base", str(base), "--pool", "other")
    assert made.exit_code == 0, made.output
    assert disk_path(shost, "x") == "/other/x.qcow2" and os.listdir(loose) == ["base.qcow2"]


def test_new_vm_failure_removes_the_overlay(monkeypatch, shost):
    before = snapshot_of(shost)
    fail_on_call(monkeypatch, create, "define_new", 1)
    with pytest.raises(Boom):
        create.new_vm(shost.conn, "x", "pool/template.qcow2")
    assert snapshot_of(shost) == before


@pytest.mark.parametrize(
    ("uri", "local"),
    [
        ("qemu:///system", True),
        ("qemu+unix:///system", True),
        ("test:///default", True),
        ("qemu+ssh://root@host/system", False),
        ("qemu+tls://host/system", False),
        ("qemu://host/system", False),
    ],
)
def test_which_uris_are_local(uri, local):
    assert images.is_local_uri(uri) is local


def test_safe_stem():
    assert images.safe_stem("a b/$(x)") == "a-b-x"
    assert images.safe_stem("ünï") == "n" and images.safe_stem("üï") == "vm"


def test_an_os_error_mid_way_is_undone_and_told_in_one_line(tmp_path):
    made = tmp_path / "made"
    with pytest.raises(VmmError) as raised, transaction.all_or_nothing() as rollback:
        made.write_text("step one")
        rollback.push(made.unlink)
        (tmp_path / "missing" / "step-two").write_text("")  # a real FileNotFoundError
    assert str(raised.value) == f"No such file or directory: {tmp_path / 'missing' / 'step-two'}"
    assert not made.exists()


@pytest.mark.parametrize("n", [1, 2])  # the clone's definition, the source's redefinition
def test_an_interrupt_as_a_definition_returns_leaves_nothing(monkeypatch, shost, n):
    """A mock: Ctrl-C cannot be timed to land between libvirt's return and the next line."""
    before = snapshot_of(shost)
    real = libvirt.virConnect.defineXMLFlags
    calls = []

    def define_then_interrupt(self, xml, flags=0):
        result = real(self, xml, flags)
        calls.append(xml)
        if len(calls) == n:
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(libvirt.virConnect, "defineXMLFlags", define_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        clone.clone(shost.lookup("lone-vm"), "doomed")
    assert snapshot_of(shost) == before


def test_the_undo_of_a_definition_never_takes_a_vm_defined_under_its_name(host):
    from conftest import domain_xml

    alpha = host.lookup("alpha").UUIDString()
    taken = pytest.raises(libvirt.libvirtError, match="already exists")
    with taken, transaction.all_or_nothing() as rollback:  # 'alpha' was taken after the check
        transaction.define_new(host.conn, domain_xml("alpha"), rollback)
    assert host.lookup("alpha").UUIDString() == alpha and host.lookup("alpha").isPersistent()


@pytest.mark.parametrize("signame", ["SIGINT", "SIGHUP"])
def test_an_interrupt_during_the_undo_waits_for_its_end(signame):
    import os
    import signal
    import threading
    import time

    from vmm.ui.cli.base import _interrupt

    previous = signal.signal(signal.SIGHUP, _interrupt)  # as vmm's entry point sets it
    threading.Thread(target=time.sleep, args=(1,), daemon=True).start()  # as the picker's are
    done = []

    def interrupted_step():
        os.kill(os.getpid(), getattr(signal, signame))
        time.sleep(0.1)  # the interrupt would land here
        done.append("first")

    rollback = transaction.Rollback()
    rollback.push(lambda: done.append("second"))
    rollback.push(interrupted_step)
    try:
        with pytest.raises(KeyboardInterrupt):
            rollback.run()
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert done == ["first", "second"]


def test_an_interrupt_during_an_undo_that_failed_does_not_hide_the_failure(tmp_path):
    import os
    import signal

    rollback = transaction.Rollback()
    rollback.push(lambda: (tmp_path / "gone" / "x").unlink())  # fails: nothing to remove
    rollback.push(lambda: os.kill(os.getpid(), signal.SIGINT))
    failures = rollback.run()  # no KeyboardInterrupt: the failure must reach the user
    assert len(failures) == 1 and "No such file or directory" in failures[0]


def test_a_pool_whose_directory_the_user_cannot_list_still_takes_clones(tmp_path):
    """Debian's /var/lib/libvirt/images is 0711: a user in group libvirt may not list it."""
    import os
    import pwd
    import re
    import shutil
    import subprocess

    from conftest import HOSTS, require, vmm_exe

    require(shutil.which("setpriv") is not None, "setpriv is missing (util-linux)")
    images = tmp_path / "images"
    images.mkdir()
    os.chown(images, pwd.getpwnam("vmmtest").pw_uid, -1)
    images.chmod(0o711)
    node = tmp_path / "node.xml"
    node.write_text(re.sub(r"(?<=['>])/pool", str(images), (HOSTS / "storage.xml").read_text()))
    # root without its override of file modes: the directory's modes apply as to a user
    unprivileged = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    result = subprocess.run(
        [*unprivileged, vmm_exe(), "-c", f"test://{node}", "clone", "lone-vm", "copy"],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"lone-vm: linked clone 'copy' created (1 disk(s)){COPIED}\n"


def test_a_held_interrupt_is_not_lost_behind_an_ignored_hang_up():
    import os
    import signal

    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    rollback = transaction.Rollback()
    rollback.push(
        lambda: (os.kill(os.getpid(), signal.SIGHUP), os.kill(os.getpid(), signal.SIGINT))
    )
    try:
        with pytest.raises(KeyboardInterrupt):
            rollback.run()
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_vm_with_odd_xml_beside_them_stops_no_clone_and_no_check(srun, shost):
    """libvirt keeps another application's undefined entity as it is: every check that reads
    all definitions (who writes this disk, what shares it) still reads this one's disks."""
    xml = etree.fromstring(shost.lookup("lone-vm").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    for element in xml.findall("uuid"):
        xml.remove(element)
    xml.find("name").text = "odd"
    text = etree.tostring(xml, encoding="unicode").replace(
        "</domain>", "<metadata><o:app xmlns:o='urn:o'>&xxe;</o:app></metadata></domain>"
    )
    doctype = '<!DOCTYPE domain [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    shost.conn.defineXML(doctype + text)  # 'odd' writes lone-vm's disk too
    refused = srun("clone", "lone-vm", "copy")
    assert refused.exit_code == 1, refused.output
    assert "is written by 'odd' too" in refused.output and "passwd" not in refused.output
    assert srun("info", "clone-vm").exit_code == 0
    assert srun("clones", "base-vm").stdout == "clone-vm  (through /pool/base.qcow2)\n"
