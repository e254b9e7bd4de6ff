"""The picker as a person uses it: the real vmm in tmux with the real fzf, on libvirtd's shared
test node, checked through the test's own libvirt connection."""

import contextlib
import os
import time

import libvirt
import pytest
from conftest import SHARED_URI, require_tmux_and_fzf, vmm_exe, vmm_meta
from tmux import Terminal

from vmm.model.metadata import NAMESPACE
from vmm.ops.history import History


@pytest.fixture
def picker(shared, tmp_path):
    require_tmux_and_fzf()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {
        "TMPDIR": str(scratch),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "TERM": "xterm-256color",
    }
    terminals = []

    def start(*args, **extra_env):
        terminal = Terminal(
            [vmm_exe(), "-c", SHARED_URI, *args], {**env, **extra_env}, cwd=str(scratch)
        )
        terminals.append(terminal)
        return terminal

    start.scratch = scratch
    start.state = tmp_path / "state"
    start.with_env = lambda **extra: start(**extra)
    yield start
    for terminal in terminals:
        terminal.close()


def path_of(dom):
    try:
        xml = dom.metadata(
            libvirt.VIR_DOMAIN_METADATA_ELEMENT, NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_CONFIG
        )
    except libvirt.libvirtError:
        return "/", []
    from vmm.model.metadata import from_xml

    meta = from_xml(xml)
    return meta.path, list(meta.labels)


def enter_folder(term, prefix):
    term.pick("/", f"{prefix}lab/")


def test_browse_into_a_folder_and_start_a_vm(shared, picker):
    p = shared.prefix
    web = shared("web1", meta=vmm_meta(f"/{p}lab/web"))
    shared("db1", meta=vmm_meta(f"/{p}lab/db"))
    term = picker()
    enter_folder(term, p)
    term.pick(f"/{p}lab", "web/")
    term.pick(f"/{p}lab/web", "web1")
    term.pick(web.name(), "Start")
    screen = term.wait_for(f"{web.name()}: started")
    assert "Shut down" in screen  # the VM screen now offers what fits a running VM
    assert web.isActive()


def test_quick_key_starts_selected_vms_without_opening_them(shared, picker):
    p = shared.prefix
    a = shared("qa", meta=vmm_meta(f"/{p}lab"))
    b = shared("qb", meta=vmm_meta(f"/{p}lab"))
    term = picker()
    enter_folder(term, p)
    term.wait_for_prompt(f"/{p}lab")
    term.search("qa")
    term.keys("Tab")
    term.keys("C-u")
    term.search("qb")
    term.keys("Tab")
    term.keys("C-s")
    term.wait_for(f"{a.name()}: started; {b.name()}: started")
    assert a.isActive() and b.isActive()


def test_after_a_quick_key_the_real_fzfs_cursor_stays_on_that_vm(shared, picker):
    p = shared.prefix
    shared("qc1", meta=vmm_meta(f"/{p}lab"))
    second = shared("qc2", meta=vmm_meta(f"/{p}lab"))
    term = picker()
    enter_folder(term, p)
    term.wait_for_prompt(f"/{p}lab")
    term.keys("Down")  # from ".." (the first row) to qc1,
    term.keys("Down")  # then to qc2, typing nothing
    term.keys("C-s")
    term.wait_for(f"{second.name()}: started")
    cursor = [line for line in term.screen().splitlines() if line.lstrip().startswith(">")]
    assert any(second.name() in line for line in cursor), term.screen()


def test_at_80_columns_the_key_hints_and_the_preview_stay_readable(shared, tmp_path):
    from tmux import Terminal

    p = shared.prefix
    vm = shared("narrow", meta=vmm_meta(f"/{p}lab"))
    env = {"XDG_STATE_HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path), "TERM": "xterm"}
    term = Terminal([vmm_exe(), "-c", SHARED_URI], env, width=80, height=30)
    try:
        enter_folder(term, p)
        term.wait_for_prompt(f"/{p}lab")
        term.keys("Down")  # onto the VM, below ".."
        term.wait_for(f"name:        {vm.name()}")  # its preview, below the list
        screen = term.screen()
        hints = [line for line in screen.splitlines() if "^s start" in line]
        assert hints and hints[0].rstrip().endswith("^r refresh"), screen  # not cut off
        assert all(len(line) <= 80 for line in screen.splitlines())
    finally:
        term.close()


def test_move_a_vm_to_a_new_folder_by_typing_it(shared, picker):
    p = shared.prefix
    vm = shared("mover", meta=vmm_meta(f"/{p}lab"))
    term = picker()
    enter_folder(term, p)
    term.pick(f"/{p}lab", "mover")
    term.pick(vm.name(), "Move to")
    term.pick("move to", f"/{p}brand/new place")
    term.wait_for(f"moved to /{p}brand/new place")
    assert path_of(vm) == (f"/{p}brand/new place", [])


def test_add_a_label(shared, picker):
    p = shared.prefix
    vm = shared("labelled", meta=vmm_meta(f"/{p}lab", "old"))
    term = picker()
    enter_folder(term, p)
    term.pick(f"/{p}lab", "labelled")
    term.pick(vm.name(), "Labels")
    term.pick(f"{vm.name()} labels", "Add label")
    term.pick("label", "fresh-label", key="M-Enter")
    term.wait_for("labels #old #fresh-label")
    assert path_of(vm) == (f"/{p}lab", ["old", "fresh-label"])


def on_a_snapshot(picker, prefix, vm, short_name, query):
    """A picker opened on /PREFIXlab, then VM's snapshot that `query` finds."""
    term = picker()
    enter_folder(term, prefix)
    term.pick(f"/{prefix}lab", short_name)
    term.pick(vm.name(), "Snapshots")
    term.pick(f"{vm.name()} snapshots", query)
    return term


def test_a_tab_in_a_snapshots_name_does_not_make_it_another(shared, picker):
    p = shared.prefix
    vm = shared("tabbed", meta=vmm_meta(f"/{p}lab"))
    for name in ("a", "a&#9;b"):  # libvirt takes a tab in a name
        vm.snapshotCreateXML(f"<domainsnapshot><name>{name}</name></domainsnapshot>")
    term = on_a_snapshot(picker, p, vm, "tabbed", "a b")
    term.pick("snapshot a b", "Delete this snapshot")
    term.pick("Delete snapshot a b?", "Yes")
    term.wait_for("deleted")
    assert vm.snapshotListNames() == ["a"]


def test_revert_a_snapshot(shared, picker):
    p = shared.prefix
    vm = shared("snappy", meta=vmm_meta(f"/{p}lab"), running=True)
    vm.snapshotCreateXML("<domainsnapshot><name>when-running</name></domainsnapshot>")
    vm.destroy()
    term = on_a_snapshot(picker, p, vm, "snappy", "when-running")
    term.pick("snapshot when-running", "Revert")
    term.pick(f"Revert {vm.name()} to when-running?", "Yes")
    term.wait_for("reverted to snapshot 'when-running'")
    assert vm.isActive()


def test_make_a_linked_clone(shared, picker, daemon):
    p = shared.prefix
    pool = daemon.storagePoolLookupByName("default-pool")
    vol = pool.createXML(
        f"<volume><name>{p}src.qcow2</name><capacity>1048576</capacity>"
        "<target><format type='qcow2'/></target></volume>"
    )
    vm = shared("src", meta=vmm_meta(f"/{p}lab"))
    xml = vm.XMLDesc(0).replace(
        "<devices>",
        f"<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        f"<source file='{vol.path()}'/><target dev='vda' bus='virtio'/></disk>",
    )
    daemon.defineXML(xml)
    term = picker()
    try:
        enter_folder(term, p)
        term.pick(f"/{p}lab", "src")
        term.pick(vm.name(), "Clone")
        term.pick(f"clone {vm.name()}", "Linked")
        # "{p}sc" fuzzily matches the suggested "{p}src-clone": the real fzf's Enter still
        # gives what was typed
        term.pick("clone name", f"{p}sc")
        term.wait_for(f"linked clone '{p}sc' created")
        twin = daemon.lookupByName(f"{p}sc")
        disk = twin.XMLDesc(0).split("<source file='")[1].split("'")[0]
        backing = daemon.storageVolLookupByPath(disk).XMLDesc(0)
        assert f"<path>{vol.path()}</path>" in backing
        assert path_of(twin) == (f"/{p}lab", [])
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            daemon.lookupByName(f"{p}sc").undefine()
        for v in pool.listAllVolumes():
            if v.name().startswith(p):
                v.delete()


def test_escape_backs_out_of_every_level_and_quits_at_the_root(shared, picker):
    p = shared.prefix
    vm = shared("esc", meta=vmm_meta(f"/{p}lab/deep"))
    term = picker()
    enter_folder(term, p)
    term.pick(f"/{p}lab", "deep/")
    term.pick(f"/{p}lab/deep", "esc")
    term.pick(vm.name(), "Snapshots")
    term.pick(f"{vm.name()} snapshots", "", key="Escape")
    term.pick(vm.name(), "", key="Escape")
    term.pick(f"/{p}lab/deep", "", key="Escape")
    term.pick(f"/{p}lab", "", key="Escape")
    term.pick("/", "", key="Escape")
    assert term.exit_status() == 0


def test_ctrl_c_quits_with_130_and_leaves_no_temp_files(shared, picker):
    p = shared.prefix
    shared("cc", meta=vmm_meta(f"/{p}lab"))
    term = picker()
    enter_folder(term, p)
    term.wait_for_prompt(f"/{p}lab")
    term.keys("C-c")
    assert term.exit_status() == 130
    assert os.listdir(picker.scratch) == []


def test_closing_the_terminal_leaves_no_temp_files(shared, picker):
    p = shared.prefix
    shared("hup", meta=vmm_meta(f"/{p}lab"))
    term = picker()
    enter_folder(term, p)
    term.wait_for(f"{p}hup")  # the preview asked for: its server is up
    term.close()  # tmux kills the session: a hang-up for every process in it
    deadline = time.monotonic() + 10
    while os.listdir(picker.scratch) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert os.listdir(picker.scratch) == []


HOSTILE = ["$(touch pwned)", "`touch pwned`", "a'b\"c", "--help", "-x", "ünï cödé 🎮", "x y  z"]


def test_hostile_names_display_literally_and_act_on_the_right_vm(shared, picker, tmp_path):
    p = shared.prefix
    folder = f"/{p}$(touch pwned)"
    doms = {name: shared(name, meta=vmm_meta(folder, "'; touch pwned")) for name in HOSTILE}
    term = picker()
    term.pick("/", f"{p}$(touch")
    screen = term.wait_for_prompt(folder)
    for dom in doms.values():
        assert dom.name() in screen
    assert "#'; touch pwned" in screen
    target = doms["--help"]
    term.search(target.name())
    term.keys("Enter")
    term.pick(target.name(), "Start")
    term.wait_for(f"{target.name()}: started")
    assert target.isActive()
    assert [d.name() for d in doms.values() if d.isActive()] == [target.name()]
    assert not (picker.scratch / "pwned").exists() and not (tmp_path / "pwned").exists()


def test_edit_xml_offers_to_edit_again_after_an_error(shared, picker, tmp_path):
    p = shared.prefix
    vm = shared("editme", meta=vmm_meta(f"/{p}lab"))
    count = tmp_path / "count"
    script = tmp_path / "editor.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"echo x >> {count}\n"
        f"if [ $(wc -l < {count}) -eq 1 ]; then sed -i 's|</domain>|<bogus/>|' \"$1\"; exit 0; fi\n"
        "sed -i 's|<bogus/>|</domain>|;"
        ' s|<vcpu placement=.static.>1</vcpu>|<vcpu>3</vcpu>|\' "$1"\n'
    )
    script.chmod(0o755)
    term = picker.with_env(VISUAL=str(script))
    enter_folder(term, p)
    term.pick(f"/{p}lab", "editme")
    term.pick(vm.name(), "Edit XML")
    term.pick("invalid XML", "Edit again")
    term.wait_for(f"{vm.name()}: definition saved")
    assert "<vcpu placement='static'>3</vcpu>" in vm.XMLDesc(0)
    journal = History(picker.state / "vmm" / "history.jsonl").entries(vm.name())
    assert [entry.action for entry in journal] == ["edit"]


def test_a_cached_first_screen_is_replaced_by_the_fresh_listing(shared, picker):
    p = shared.prefix
    vm = shared("cached", meta=vmm_meta(f"/{p}lab"))
    first = picker()
    enter_folder(first, p)
    first.wait_for(f"○ {vm.name()}")
    first.keys("C-c")
    assert first.exit_status() == 130
    vm.create()  # changed behind vmm's back: the cache now says it is shut off
    second = picker()
    second.wait_for_prompt("/")  # the draft (a silent host keeps it: see test_liveness)
    deadline = time.monotonic() + 10
    while "(as last seen" in second.screen() and time.monotonic() < deadline:
        time.sleep(0.05)  # replaced without a key once the host is listed
    assert "(as last seen" not in second.screen()
    enter_folder(second, p)
    screen = second.wait_for(f"● {vm.name()}")
    assert "running" in screen


def test_new_vm_from_the_picker(shared, picker, daemon):
    p = shared.prefix
    shared("anchor", meta=vmm_meta(f"/{p}lab"))
    pool = daemon.storagePoolLookupByName("default-pool")
    base = pool.createXML(
        f"<volume><name>{p}base.qcow2</name><capacity>1048576</capacity>"
        "<target><format type='qcow2'/></target></volume>"
    )
    name = f"{p}fresh"
    term = picker()
    try:
        enter_folder(term, p)
        term.pick(f"/{p}lab", "New VM")
        term.pick("new VM name", name, key="M-Enter")
        term.pick("profile or base image", base.path())
        term.wait_for(f"{name}: created on an overlay of")  # the header cuts the rest
        new = daemon.lookupByName(name)
        disk = new.XMLDesc(0).split("<source file='")[1].split("'")[0]
        assert f"<path>{base.path()}</path>" in daemon.storageVolLookupByPath(disk).XMLDesc(0)
        assert path_of(new) == (f"/{p}lab", [])
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            daemon.lookupByName(name).undefine()
        for vol in pool.listAllVolumes():
            if vol.name().startswith(p):
                vol.delete()
