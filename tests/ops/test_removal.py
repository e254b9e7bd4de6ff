"""Deleting VMs on the test driver, with and without storage, and the linked-clone guard."""

from conftest import domain_xml, node_uri
from lxml import etree


def volumes(host):
    return {v.name() for v in host.conn.storagePoolLookupByName("pool").listAllVolumes()}


def test_rm_refuses_without_yes_off_a_terminal(run, host):
    assert run("rm", "beta").exit_code == 1
    assert host.lookup("beta")


def test_rm_undefines_with_saved_state_and_snapshots(run, host):
    dom = host.lookup("alpha")
    dom.snapshotCreateXML("<domainsnapshot><name>s</name></domainsnapshot>")
    dom.managedSave()
    assert run("rm", "-y", "alpha").stdout == "alpha: deleted\n"
    assert "alpha" not in {d.name for d in host.domains()}


def test_rm_refuses_a_running_vm_unless_forced(run, host):
    result = run("rm", "-y", "alpha")
    assert result.exit_code == 1 and "is running" in result.stderr
    assert host.find("alpha").state == "running"
    assert run("rm", "-y", "--force", "alpha").exit_code == 0
    assert "alpha" not in {d.name for d in host.domains()}


def test_rm_force_of_a_transient_vm(run, host):
    host.conn.createXML(domain_xml("passing"))  # running, with no definition to undefine
    result = run("rm", "-y", "--force", "passing")
    assert (result.exit_code, result.stdout) == (0, "passing: deleted\n"), result.stderr
    assert "passing" not in {d.name for d in host.domains()}


def test_rm_storage_deletes_only_the_vms_writable_volumes(srun, shost):
    result = srun("rm", "-y", "--storage", "lone-vm", "--force")
    assert result.stdout == "lone-vm: deleted with /pool/lone.qcow2\n"
    assert volumes(shost) == {"base.qcow2", "clone.qcow2", "installer.iso", "template.qcow2"}


def test_rm_storage_refuses_a_disk_that_backs_a_clone_and_names_it(srun, shost):
    result = srun("rm", "-y", "--storage", "base-vm")
    assert result.exit_code == 1
    assert "cannot delete 'base-vm' with its storage: its disk backs other images;" in result.stderr
    assert "delete these first: clone-vm" in result.stderr
    assert "base-vm" in {d.name for d in shost.domains()}
    assert "base.qcow2" in volumes(shost)


def test_clone_first_then_base(srun, shost):
    assert srun("rm", "-y", "--storage", "clone-vm").exit_code == 0
    assert srun("rm", "-y", "--storage", "base-vm").exit_code == 0
    assert volumes(shost) == {"installer.iso", "lone.qcow2", "template.qcow2"}  # CD-ROM shared


def test_a_base_left_unused_by_the_deletion_is_named(srun, shost):
    assert srun("rm", "-y", "base-vm").exit_code == 0  # its disk stays: the clone builds on it
    result = srun("rm", "-y", "--storage", "clone-vm")
    assert result.exit_code == 0
    assert result.stdout == (
        "clone-vm: deleted with /pool/clone.qcow2; /pool/base.qcow2 no longer backs any image"
        " or VM: kept (delete it with virsh vol-delete PATH if nothing else needs it)\n"
    )
    assert "base.qcow2" in volumes(shost)


def test_rm_storage_says_which_disks_it_kept_and_why(srun, shost):
    from conftest import domain_xml

    xml = etree.fromstring(domain_xml("keeper"))
    devices = etree.SubElement(xml, "devices")
    for dev, path, extra in [
        ("vda", "/pool/lone.qcow2", None),  # lone-vm's disk too
        ("vdb", "/elsewhere/data.img", None),
        ("vdc", "/pool/template.qcow2", "readonly"),
    ]:
        disk = etree.SubElement(devices, "disk", type="file", device="disk")
        etree.SubElement(disk, "source", file=path)
        etree.SubElement(disk, "target", dev=dev)
        if extra:
            etree.SubElement(disk, extra)
    shost.conn.defineXML(etree.tostring(xml, encoding="unicode"))
    result = srun("rm", "-y", "--storage", "keeper")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "keeper: deleted; kept /pool/lone.qcow2 (also a disk of 'lone-vm'),"
        " /elsewhere/data.img (outside any storage pool), /pool/template.qcow2 (read-only)\n"
    )
    assert {"lone.qcow2", "template.qcow2"} <= volumes(shost)


def test_rm_without_storage_keeps_the_disks(srun, shost):
    assert srun("rm", "-y", "base-vm").exit_code == 0
    assert "base.qcow2" in volumes(shost)


def test_info_shows_the_backing_chain(srun):
    info = srun("info", "clone-vm", "--json")
    import json

    disks = json.loads(info.stdout)["disks"]
    assert disks == [
        {
            "target": "vda",
            "device": "disk",
            "path": "/pool/clone.qcow2",
            "format": "qcow2",
            "backing": ["/pool/base.qcow2"],
        }
    ]


def test_disks_of_reads_devices():
    from vmm.model.definition import disks_of

    xml = etree.parse(node_uri("storage").removeprefix("test://")).getroot()
    disks = disks_of(xml.find("domain"))
    assert [(d.target, d.device, d.writable) for d in disks] == [
        ("vda", "disk", True),
        ("sda", "cdrom", False),
    ]
