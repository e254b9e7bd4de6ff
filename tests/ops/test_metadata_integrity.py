"""Metadata that must never be lost: racing vmm processes, interrupted undo, diverging live
state and config, snapshots, saved states, what vmm does not understand, hostile stored XML."""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import libvirt
import pytest
from conftest import SHARED_URI, domain_xml, vmm_exe
from lxml import etree

from vmm.model import metadata
from vmm.model.metadata import NAMESPACE, Metadata
from vmm.ops import faults


def stored(dom: libvirt.virDomain, flags: int = libvirt.VIR_DOMAIN_AFFECT_CONFIG) -> Metadata:
    text = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NAMESPACE, flags)
    return metadata.from_xml(text)


def add_labels_one_by_one(vm: str, labels: list[str]) -> int:
    """A shell running `vmm label add -t LABEL VM` for each label in turn; how many failed."""
    script = "".join(
        f'"$VMM" -c {SHARED_URI} label add -t {label} "$VM" || echo failed\n' for label in labels
    )
    env = {**os.environ, "VMM": vmm_exe(), "VM": vm}
    done = subprocess.run(
        ["sh", "-c", script], env=env, capture_output=True, text=True, timeout=240
    )
    return done.stdout.count("failed")


def test_four_racing_label_loops_lose_no_label(shared):
    dom = shared("race")
    loops = [[f"p{p}-l{i}" for i in range(15)] for p in range(4)]
    with ThreadPoolExecutor(len(loops)) as pool:
        failed = list(pool.map(lambda labels: add_labels_one_by_one(dom.name(), labels), loops))
    assert failed == [0] * len(loops)
    missing = {label for labels in loops for label in labels} - set(stored(dom).labels)
    assert missing == set()


def set_live_and_config(dom: libvirt.virDomain, xml: str | None, flags: int = 0) -> None:
    """Another client's write (virsh metadata --set, the original vmm, the Go rewrite)."""
    key = "other" if xml is not None else None
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, key, NAMESPACE, flags)


def test_undoing_an_interrupted_move_leaves_what_another_client_changed_meanwhile(run, host):
    alpha, beta = host.lookup("alpha"), host.lookup("beta")
    moved = []

    def fail_after_the_second_move() -> None:
        moved.append(1)
        if len(moved) == 2:
            both = libvirt.VIR_DOMAIN_AFFECT_CONFIG | libvirt.VIR_DOMAIN_AFFECT_LIVE
            set_live_and_config(alpha, "<vmm><path>/theirs</path></vmm>", both)
            raise faults.InjectedFault("injected at organise.moved")

    faults.HOOKS["organise.moved"] = fail_after_the_second_move
    try:
        result = run("mv", "alpha", "beta", "gamma", "/new")
    finally:
        del faults.HOOKS["organise.moved"]
    assert result.exit_code == 1
    assert "injected at organise.moved" in result.stderr
    assert "left 'alpha' as it is: changed by someone else" in result.stderr
    assert stored(alpha) == stored(alpha, libvirt.VIR_DOMAIN_AFFECT_LIVE) == Metadata("/theirs")
    assert stored(beta) == Metadata("/lab/db", ("db",), ("<colour>blue</colour>",))
    assert host.find("gamma").path == "/"


def deep_path(levels: int) -> str:
    return "/d" * levels


def test_a_stored_path_thousands_of_folders_deep_is_shown_at_root_and_tree_is_fast(run, host):
    meta = f'<vmm:vmm xmlns:vmm="{NAMESPACE}"><vmm:path>{deep_path(5000)}</vmm:path></vmm:vmm>'
    host.conn.defineXML(domain_xml("deep", meta=meta))
    started = time.monotonic()
    drawn = run("tree", "-v")
    assert time.monotonic() - started < 5
    assert drawn.exit_code == 0, drawn.stderr
    assert "VM 'deep': ignoring its vmm metadata: path is 5000 folders deep" in drawn.stderr
    listed = run("ls")
    assert listed.exit_code == 0 and "deep" in listed.stdout
    assert host.find("deep").path == "/"


def test_moving_to_a_too_deep_or_too_long_path_is_a_one_line_error(run, host):
    for dest, why in [
        (deep_path(65), "path is 65 folders deep; at most 64 are allowed"),
        ("/" + "x" * 256, "is 256 characters long; at most 255 are allowed"),
        ("/" + "/".join(["y" * 200] * 6), "characters long; at most 1024 are allowed"),
    ]:
        result = run("mv", "alpha", dest)
        assert result.exit_code == 1 and why in result.stderr
        assert result.stderr.count("\n") == 1 and len(result.stderr) < 200
    assert host.find("alpha").path == "/lab/web"
    assert run("mv", "alpha", deep_path(64)).exit_code == 0


def define_with_entity(host, name: str, metadata_xml: str) -> libvirt.virDomain:
    """libvirt drops the DTD and keeps `&xxe;` unexpanded in what it stores: XMLDesc then
    holds an entity no parser can resolve."""
    xml = domain_xml(name).replace("<domain", "<domain xmlns:o='urn:o'", 1)
    xml = xml.replace("</domain>", f"<metadata>{metadata_xml}</metadata></domain>")
    doctype = '<!DOCTYPE domain [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    dom = host.conn.defineXML(doctype + xml)
    assert "&xxe;" in dom.XMLDesc(0)
    return dom


VMM_AT_LAB = f'<vmm:vmm xmlns:vmm="{NAMESPACE}"><vmm:path>/lab</vmm:path></vmm:vmm>'


def test_a_vm_whose_definition_holds_an_undefined_entity_breaks_no_listing(run, host):
    define_with_entity(host, "entity-elsewhere", f"<o:app>&xxe;</o:app>{VMM_AT_LAB}")
    bad_vmm = f'<vmm:vmm xmlns:vmm="{NAMESPACE}"><vmm:path>&xxe;</vmm:path></vmm:vmm>'
    define_with_entity(host, "entity-in-vmm", bad_vmm)
    listed = run("ls", "-r", "--json")
    assert listed.exit_code == 0, listed.stderr
    places = {vm["name"]: vm["path"] for vm in json.loads(listed.stdout)}
    assert places["entity-elsewhere"] == "/lab" and places["entity-in-vmm"] == "/"
    assert places["alpha"] == "/lab/web"  # the others are listed as ever
    assert "VM 'entity-in-vmm': its definition is no well-formed XML" in listed.stderr
    assert "ignoring its vmm metadata: not XML" in listed.stderr
    for name, path in (("entity-elsewhere", "/lab"), ("entity-in-vmm", "/")):
        info = run("info", name)
        assert info.exit_code == 0, info.stderr
        assert f"path:        {path}\n" in info.stdout
        assert "no well-formed XML" in info.stderr
    assert "entity-in-vmm" in run("tree", "-v").stdout


def test_stray_text_after_an_unknown_element_breaks_no_listing(run, host):
    meta = f'<vmm:vmm xmlns:vmm="{NAMESPACE}"><vmm:path>/s</vmm:path><vmm:x/>stray</vmm:vmm>'
    dom = host.conn.defineXML(domain_xml("stray", meta=meta))
    listed = run("ls", "/s")
    assert listed.exit_code == 0 and "stray" in listed.stdout, listed.stderr
    assert run("info", "stray").exit_code == 0
    assert run("label", "add", "-t", "kept", "stray").exit_code == 0
    assert stored(dom) == Metadata("/s", ("kept",), ("<x/>",))


def test_a_snapshot_revert_keeps_the_current_folder_and_labels(run, host):
    both = (libvirt.VIR_DOMAIN_AFFECT_CONFIG, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    for vm in ("alpha", "beta"):  # running, and shut off
        assert run("snapshot", "create", vm, "before").exit_code == 0
        assert run("mv", vm, "/after").exit_code == 0
        assert run("label", "add", "-t", "since", vm).exit_code == 0
    alpha, beta = host.lookup("alpha"), host.lookup("beta")
    alpha.destroy()  # reverting brings it back running, with the snapshot's live state
    reverted = run("snapshot", "revert", "-y", "alpha", "before")
    assert reverted.stdout == (
        "alpha: reverted to snapshot 'before'; kept its folder and labels"
        " (/after #web #prod #since), not the snapshot's (/lab/web #web #prod)\n"
    )
    assert alpha.isActive()
    assert [stored(alpha, side) for side in both] == [
        Metadata("/after", ("web", "prod", "since"))
    ] * 2
    assert "not the snapshot's (/lab/db #db)" in run("snapshot", "revert", "-y", "beta").stdout
    assert stored(beta) == Metadata("/after", ("db", "since"), ("<colour>blue</colour>",))
    assert run("snapshot", "create", "beta", "later").exit_code == 0
    assert run("snapshot", "revert", "-y", "beta").stdout == "beta: reverted to snapshot 'later'\n"


LIVE_ONLY, CONFIG_ONLY = 0, libvirt.VIR_DOMAIN_AFFECT_CONFIG  # the original vmm, the Go rewrite
SIDES = (libvirt.VIR_DOMAIN_AFFECT_CONFIG, libvirt.VIR_DOMAIN_AFFECT_LIVE)


def listed(run) -> tuple[dict[str, tuple[str, list[str]]], str]:
    result = run("ls", "-r", "--json")
    assert result.exit_code == 0, result.stderr
    return {
        vm["name"]: (vm["path"], vm["labels"]) for vm in json.loads(result.stdout)
    }, result.stderr


def test_a_live_write_by_the_original_vmm_after_ours_is_shown_and_journaled_when_overwritten(
    run, host, history
):
    alpha = host.lookup("alpha")
    assert run("mv", "alpha", "/ours").exit_code == 0
    set_live_and_config(alpha, "<vmm><path>/original</path><label>o</label></vmm>", LIVE_ONLY)
    places, warnings = listed(run)
    assert places["alpha"] == ("/original", ["o"]) and "alpha" not in warnings
    changed = run("label", "add", "-t", "x", "alpha")
    assert changed.stdout == "alpha: o, x\n"
    assert "its config held other folder and labels (/ours #web #prod)" in changed.stderr
    assert [stored(alpha, side) for side in SIDES] == [Metadata("/original", ("o", "x"))] * 2
    (overwritten,) = [e for e in history.entries("alpha") if e.action == "metadata overwritten"]
    assert overwritten.before == {"path": "/ours", "labels": ["web", "prod"]}
    assert "/ours" in overwritten.detail


def test_a_side_written_by_another_tool_on_an_untouched_running_vm_is_shown(run, host):
    for name, flags, path in (("go", CONFIG_ONLY, "/go/"), ("orig", LIVE_ONLY, "/orig")):
        dom = host.conn.defineXML(domain_xml(name))
        dom.create()
        set_live_and_config(dom, f"<vmm><path>{path}</path></vmm>", flags)
    places, warnings = listed(run)
    assert places["go"] == ("/go", []) and places["orig"] == ("/orig", [])
    assert "'go'" not in warnings and "'orig'" not in warnings
    assert run("label", "add", "-t", "x", "orig").exit_code == 0
    assert [stored(host.lookup("orig"), side) for side in SIDES] == [Metadata("/orig", ("x",))] * 2


def test_sides_that_differ_with_no_way_to_tell_warn_and_the_next_change_journals_the_other(
    run, host, history
):
    alpha = host.lookup("alpha")  # both sides as the node file defined them; no journal
    set_live_and_config(alpha, "<vmm><path>/original</path></vmm>", LIVE_ONLY)
    places, warnings = listed(run)
    assert places["alpha"] == ("/lab/web", ["web", "prod"])
    assert (
        "VM 'alpha': its live state (/original) and its config (/lab/web #web #prod) differ"
        " and which is newer cannot be known" in warnings
    )
    assert "cannot be known" in run("info", "alpha").stderr
    changed = run("label", "add", "-t", "x", "alpha")
    assert "its live state held other folder and labels (/original)" in changed.stderr
    expected = Metadata("/lab/web", ("web", "prod", "x"))
    assert [stored(alpha, side) for side in SIDES] == [expected] * 2
    (overwritten,) = [e for e in history.entries("alpha") if e.action == "metadata overwritten"]
    assert overwritten.before == {"path": "/original", "labels": []}
    assert "cannot be known" not in listed(run)[1]


RICH = (
    f'<vmm:vmm xmlns:vmm="{NAMESPACE}" xmlns:o="urn:o" version="2" o:by="them">'
    "<!-- keep me --><vmm:path at='p'>/a</vmm:path><vmm:label colour='red'>x</vmm:label>"
    "<vmm:label>y</vmm:label><vmm:future><o:y/></vmm:future><?note kept?></vmm:vmm>"
)


def vmm_element(dom: libvirt.virDomain) -> etree._Element:
    xml = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return metadata.find_in_domain(xml)


def test_a_rewrite_keeps_attributes_comments_and_unknown_elements(run, host):
    dom = host.conn.defineXML(domain_xml("rich", meta=RICH))
    for args in (
        ("mv", "rich", "/b"),
        ("label", "add", "-t", "z", "rich"),
        ("label", "rm", "-t", "y", "rich"),
    ):
        assert run(*args).exit_code == 0
    element = vmm_element(dom)
    assert (element.get("version"), element.get("{urn:o}by")) == ("2", "them")
    q = f"{{{NAMESPACE}}}"
    path, labels = element.find(f"{q}path"), element.findall(f"{q}label")
    assert (path.text, path.get("at")) == ("/b", "p")
    assert [(label.text, label.get("colour")) for label in labels] == [("x", "red"), ("z", None)]
    assert element.find(f"{q}future/{{urn:o}}y") is not None
    assert [c.text for c in element if isinstance(c, etree._Comment)] == [" keep me "]
    assert [c.target for c in element if isinstance(c, etree._ProcessingInstruction)] == ["note"]
    assert stored(dom) == Metadata("/b", ("x", "z"), ('<future xmlns:o="urn:o"><o:y/></future>',))


def test_replacing_unreadable_metadata_journals_the_original_first(run, host, history):
    dom = host.lookup("broken")
    original = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NAMESPACE, CONFIG_ONLY)
    assert run("mv", "broken", "/fixed").exit_code == 0
    assert stored(dom) == Metadata("/fixed")
    replaced, moved = [e for e in history.entries("broken")]
    assert (replaced.action, moved.action) == ("metadata replaced", "move")
    assert "more than one <path>" in replaced.detail and original in replaced.detail


def test_a_saved_state_that_cannot_be_redefined_is_said_in_the_change(run, host):
    alpha = host.lookup("alpha")
    alpha.managedSave()  # the test driver keeps no saved definition vmm could change
    moved = run("mv", "alpha", "/x")
    assert moved.exit_code == 0 and moved.stdout == "alpha: /lab/web -> /x\n"
    assert (
        "'alpha': its saved state still holds the old folder and labels"
        " (this host cannot change a saved definition)" in moved.stderr
    )
    assert stored(alpha) == Metadata("/x", ("web", "prod"))


@pytest.mark.hypervisor
def test_moving_a_vm_with_a_saved_state_moves_the_restored_vm_too(kvm, kvm_run):
    """Only QEMU keeps a definition with a managed-save image (the test driver has none)."""
    dom = kvm.vm("saved-move")
    dom.create()
    dom.managedSave()
    moved = kvm_run("mv", dom.name(), "/moved")
    assert moved.exit_code == 0 and "saved state" not in moved.stderr, moved.stderr
    saved = metadata.find_in_domain(etree.fromstring(dom.managedSaveGetXMLDesc(0)))
    assert metadata.from_element(saved) == Metadata("/moved")
    dom.create()  # restored from the saved state
    assert dom.state()[1] == libvirt.VIR_DOMAIN_RUNNING_RESTORED
    assert [stored(dom, side) for side in SIDES] == [Metadata("/moved")] * 2
