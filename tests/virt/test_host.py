"""The libvirt core against the test driver: listing, lookup and the metadata contract."""

import libvirt
import pytest
from conftest import SHARED_URI, node_uri
from lxml import etree

from vmm.model.errors import ConnectionFailed, NotFound
from vmm.model.metadata import NAMESPACE, Metadata
from vmm.ops.organise import update_metadata
from vmm.virt.host import Host


def by_name(host):
    return {d.name: d for d in host.domains()}


def test_listing_reads_every_vm(host):
    vms = by_name(host)
    assert set(vms) == {"alpha", "beta", "gamma", "delta one", "broken"}
    alpha = vms["alpha"]
    assert (alpha.path, alpha.labels, alpha.state) == ("/lab/web", ("web", "prod"), "running")
    assert (alpha.vcpus, alpha.memory_kib, alpha.persistent) == (2, 512 * 1024, True)
    assert vms["gamma"].meta == Metadata() and vms["gamma"].state == "shutoff"


class UndefinesMidListing:
    """A real connection that undefines one VM right after answering getAllDomainStats: the
    race of a VM removed while vmm lists, made to happen every time (no failure is faked)."""

    def __init__(self, conn, victim):
        self._conn, self._victim = conn, victim

    def getAllDomainStats(self, *args):
        stats = self._conn.getAllDomainStats(*args)
        self._conn.lookupByName(self._victim).undefine()
        return stats

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_a_vm_undefined_while_listing_is_left_out(host):
    racing = Host(UndefinesMidListing(host.conn, "gamma"))
    assert {d.name for d in racing.domains()} == {"alpha", "beta", "delta one", "broken"}


def test_a_vm_undefined_while_a_daemon_is_listed_on_threads_is_left_out(daemon, shared):
    names = [shared(f"vm{i}").name() for i in range(24)]
    racing = Host(UndefinesMidListing(daemon, names[5]))
    listed = {d.name for d in racing.domains(8)}
    assert set(names) - listed == {names[5]} and len(listed & set(names)) == 23


def test_other_prefix_and_trailing_slash_are_read(host):
    assert by_name(host)["delta one"].path == "/lab/web"


def test_malformed_metadata_reads_as_defaults_with_a_warning(host):
    broken = by_name(host)["broken"]
    assert broken.meta == Metadata()
    assert "broken" in broken.warning and "more than one <path>" in broken.warning


def test_listing_sees_managed_save_and_snapshots(host):
    beta = host.lookup("beta")
    host.conn.lookupByName("alpha").managedSave()
    beta.snapshotCreateXML("<domainsnapshot><name>s1</name></domainsnapshot>")
    vms = by_name(host)
    assert vms["alpha"].managed_save and vms["alpha"].state == "shutoff"
    assert vms["beta"].snapshots == 1 and vms["gamma"].snapshots == 0


def test_lookup_by_name_and_uuid(host):
    alpha = host.lookup("alpha")
    assert host.lookup(alpha.UUIDString()).name() == "alpha"
    with pytest.raises(NotFound, match="no VM named 'nope'"):
        host.lookup("nope")
    with pytest.raises(NotFound):
        host.lookup("00000000-0000-0000-0000-000000000000")


def test_untouched_vm_stays_untouched_by_reading(host):
    before = host.conn.lookupByName("gamma").XMLDesc(0)
    host.domains()
    host.find("gamma")
    assert host.conn.lookupByName("gamma").XMLDesc(0) == before


def config_metadata(dom: libvirt.virDomain, flags: int = libvirt.VIR_DOMAIN_AFFECT_CONFIG) -> str:
    return dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NAMESPACE, flags)


def test_write_goes_to_config_and_live_of_a_running_vm(host):
    dom = host.lookup("alpha")
    host.write_metadata(dom, Metadata("/moved", ("x",)))
    for flags in (libvirt.VIR_DOMAIN_AFFECT_CONFIG, libvirt.VIR_DOMAIN_AFFECT_LIVE):
        element = etree.fromstring(config_metadata(dom, flags))
        assert element.findtext("path") == "/moved"


def test_running_vm_keeps_its_path_after_destroy_and_create(host):
    dom = host.lookup("alpha")
    update_metadata(host.vm(dom.name()), lambda meta: meta.moved_to("/kept"), "move")
    dom.destroy()
    dom.create()
    assert host.find("alpha").path == "/kept"


def test_transient_vm_gets_live_metadata_only(host):
    xml = host.conn.lookupByName("gamma").XMLDesc(0).replace("gamma", "ephemeral")
    xml = etree.tostring(_without_uuid(xml), encoding="unicode")
    dom = host.conn.createXML(xml)
    update_metadata(host.vm(dom.name()), lambda meta: meta.moved_to("/tmp"), "move")
    view = host.find("ephemeral")
    assert not view.persistent and view.path == "/tmp"


def _without_uuid(xml: str) -> etree._Element:
    root = etree.fromstring(xml)
    root.remove(root.find("uuid"))
    return root


def test_back_to_root_without_labels_removes_the_element(host):
    dom = host.lookup("alpha")
    update_metadata(host.vm(dom.name()), lambda meta: Metadata(), "move")
    with pytest.raises(libvirt.libvirtError) as err:
        config_metadata(dom)
    assert err.value.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA
    assert f"{{{NAMESPACE}}}" not in dom.XMLDesc(0) and NAMESPACE not in dom.XMLDesc(0)


def test_update_rereads_before_writing(host):
    dom = host.lookup("alpha")
    stale = host.find("alpha")
    # another client adds a label after we listed
    host.write_metadata(dom, stale.meta.with_labels(["added-elsewhere"]))
    update_metadata(host.vm(dom.name()), lambda meta: meta.moved_to("/new"), "move")
    fresh = host.find("alpha")
    assert fresh.path == "/new" and "added-elsewhere" in fresh.labels


def test_other_metadata_description_and_unknown_children_survive(host):
    dom = host.lookup("beta")
    update_metadata(
        host.vm(dom.name()), lambda meta: meta.moved_to("/elsewhere").with_labels(["new"]), "move"
    )
    xml = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert xml.findtext("description") == "the database box"
    assert xml.findtext("metadata/{urn:example:other}app/{urn:example:other}owner") == "ops"
    vmm = xml.find(f"metadata/{{{NAMESPACE}}}vmm")
    assert vmm.findtext(f"{{{NAMESPACE}}}colour") == "blue"
    assert vmm.findtext(f"{{{NAMESPACE}}}path") == "/elsewhere"


def test_malformed_metadata_is_not_overwritten_by_reading_but_replaced_on_change(host):
    dom = host.lookup("broken")
    original = config_metadata(dom)
    host.domains()
    assert config_metadata(dom) == original
    update_metadata(host.vm(dom.name()), lambda meta: meta.moved_to("/fixed"), "move")
    assert host.find("broken").path == "/fixed" and host.find("broken").warning is None


def test_open_reports_unreachable_and_foreign_uris():
    with pytest.raises(ConnectionFailed, match="not a libvirt URI"):
        Host.open("http://example.com/")
    with pytest.raises(ConnectionFailed, match=r"cannot connect to test:///nonexistent\.xml"):
        Host.open("test:///nonexistent.xml")


def test_opening_tells_whether_calls_wait(daemon):
    remote_like = Host.open(SHARED_URI)
    in_process = Host.open(node_uri())
    try:
        assert remote_like.calls_wait is True  # a daemon: listed on many threads at once
        assert in_process.calls_wait is None  # computing here: the first call decides
        assert {d.name for d in in_process.domains()} >= {"alpha", "gamma"}
    finally:
        remote_like.close()
        in_process.close()
