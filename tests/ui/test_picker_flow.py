"""The picker's flow, fast: Picker and VmScreens driven by a scripted menu on libvirt's test
driver (no tmux, no fzf). Each test checks what libvirt now holds and what the user was shown.
The slow tier, the real vmm in tmux with the real fzf, is test_picker.py."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import libvirt
import pytest
from fakemenu import (
    RecordingNotifier,
    ScriptedMenu,
    esc,
    meanwhile,
    no,
    pick,
    press,
    type_in,
    type_then_enter,
    yes,
)

from vmm.ui.picker import header
from vmm.ui.picker.flow import Picker
from vmm.ui.picker.keys import FOLDER_KEYS, LIST_KEYS
from vmm.virt.host import Host

# what a clone of a guest vmm made no seed for says
COPIED = "; the guest's identity (hostname, SSH host keys) is its source's"


@dataclass
class Drove:
    menu: ScriptedMenu
    notifier: RecordingNotifier
    picker: Picker

    @property
    def status(self) -> str:
        return self.picker.status

    def header(self, prompt: str) -> str:
        return self.menu.last(prompt).header

    def rows(self, prompt: str) -> list[str]:
        return self.menu.texts(prompt)


@pytest.fixture
def drive(host: Host):
    """Run a picker on `host` (basic.xml unless told) through a script; it must end by itself."""

    def run(*steps, on: Host = host, terminal: bool = False) -> Drove:
        menu, notifier = ScriptedMenu(deque(steps)), RecordingNotifier()
        picker = Picker(on, menu, notifier, terminal=terminal)
        picker.run()
        assert not menu.steps, f"steps left over: the flow ended on {menu.prompts[-1]!r}"
        return Drove(menu, notifier, picker)

    return run


def said(shown: str) -> str:
    """The status line a screen's header showed (wrapped over lines there), as one line."""
    text = " ".join(shown.splitlines()[2:])  # after where it is and the keys every screen has
    message = {header.MESSAGE_KEY: "message"}
    for keys in ({"tab": "select", **FOLDER_KEYS}, LIST_KEYS):
        for hint in (header.hints({**keys, **message}), header.hints(keys)):
            if text.startswith(hint):
                return text.removeprefix(hint).strip()
    return text


def dom(host: Host, name: str) -> libvirt.virDomain:
    return host.conn.lookupByName(name)


def state(host: Host, name: str) -> str:
    """What libvirt says of the VM, as vmm names it ("saved": shut off with a saved state)."""
    d = dom(host, name)
    code = d.state()[0]
    if code == libvirt.VIR_DOMAIN_SHUTOFF:
        return "saved" if d.hasManagedSaveImage() else "shutoff"
    return {libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_PAUSED: "paused"}[code]


def placed(host: Host, name: str) -> tuple[str, tuple[str, ...]]:
    view = host.find(name)
    return view.path, view.labels


BOTTOM = ["⋯ All VMs", "⋯ Running", "⋯ Labels", "⋯ New VM"]


# -- browsing --------------------------------------------------------------------------------


def test_folders_open_and_dotdot_goes_up(drive):
    run = drive(
        pick("lab/", on="/"),
        pick("web/", on="/lab"),
        pick("..", on="/lab/web"),
        pick("db/", on="/lab"),
        esc(on="/lab/db"),
    )
    assert run.menu.prompts == ["/", "/lab", "/lab/web", "/lab", "/lab/db", "/lab", "/"]
    assert run.rows("/") == ["▸ lab/  (3)", "○ broken  shutoff", "○ gamma  shutoff", *BOTTOM]
    assert run.rows("/lab/web") == [
        "..",
        "● alpha  running  #web  #prod",
        "○ delta one  shutoff  #web",
        *BOTTOM,
    ]
    assert run.header("/lab/db").splitlines()[0].endswith(" · /lab/db")
    assert "tab select · ^s start · ^x shutdown · ^o off" in run.header("/lab/db")


def test_the_running_view_lists_only_running_vms_by_their_place(drive, host):
    dom(host, "gamma").create()
    run = drive(pick("⋯ Running"))
    assert run.rows("Running") == ["● /gamma  running", "● /lab/web/alpha  running  #web  #prod"]


def test_all_vms_lists_every_vm_by_its_place(drive):
    run = drive(pick("⋯ All VMs"))
    assert run.rows("All VMs") == [
        "○ /broken  shutoff",
        "○ /gamma  shutoff",
        "○ /lab/db/beta  shutoff  #db",
        "● /lab/web/alpha  running  #web  #prod",
        "○ /lab/web/delta one  shutoff  #web",
    ]


def test_a_label_lists_the_vms_carrying_it(drive):
    run = drive(pick("⋯ Labels"), pick("#web"))
    assert run.rows("Labels") == ["#db  (1)", "#prod  (1)", "#web  (2)"]
    assert run.rows("#web") == [
        "● /lab/web/alpha  running  #web  #prod",
        "○ /lab/web/delta one  shutoff  #web",
    ]


def test_a_vm_opens_from_a_list_view(drive, host):
    run = drive(pick("⋯ All VMs"), pick("/gamma"), pick("Start", on="gamma"))
    assert state(host, "gamma") == "running"
    assert run.status == "gamma: started"


# -- a VM's screen, in each state ------------------------------------------------------------

AFTER = ["Snapshots…", "Move to…", "Labels…", "Clone…", "Edit XML", "Delete…"]


def pause(host):
    dom(host, "alpha").suspend()


def save(host):
    dom(host, "alpha").managedSave(0)


def shut(host):
    dom(host, "alpha").destroy()


RUNNING = ["Shut down", "Force off", "Reboot", "Force reset", "Pause", "Save state"]
SAVED = ["Restore saved state", "Start fresh (drop saved state)", "Discard saved state"]


@pytest.mark.parametrize(
    ("prepare", "shown", "offered"),
    [
        (None, "running", [*RUNNING, "SSH", "IP addresses", "Console", "Viewer"]),
        (pause, "paused", ["Resume", "Force off", "Save state", "Console", "Viewer"]),
        (shut, "shutoff", ["Start"]),
        (save, "saved", SAVED),
    ],
    ids=["running", "paused", "shut off", "saved"],
)
def test_a_vm_screen_offers_what_fits_its_state(drive, host, prepare, shown, offered):
    if prepare:
        prepare(host)
    run = drive(pick("lab/"), pick("web/"), pick("alpha"))
    assert run.rows("alpha") == [*offered, *AFTER]
    assert run.header("alpha").splitlines()[0].endswith(f"/lab/web/alpha  [{shown}]  #web #prod")


def open_alpha(*steps):
    return (pick("lab/"), pick("web/"), pick("alpha"), *steps)


@pytest.mark.parametrize(
    ("prepare", "steps", "after", "status"),
    [
        (shut, [pick("Start")], "running", "alpha: started"),
        (None, [pick("Shut down")], "shutoff", "alpha: shutdown requested"),
        (None, [pick("Force off"), no("Force off: alpha?")], "running", ""),
        (None, [pick("Force off"), yes("Force off: alpha?")], "shutoff", "alpha: forced off"),
        (None, [pick("Reboot")], "running", "alpha: reboot requested"),
        (None, [pick("Force reset"), yes("Force reset: alpha?")], "running", "alpha: reset"),
        (None, [pick("Pause")], "paused", "alpha: paused"),
        (pause, [pick("Resume")], "running", "alpha: resumed"),
        (None, [pick("Save state")], "saved", "alpha: state saved"),
        (pause, [pick("Save state")], "saved", "alpha: state saved"),
        (save, [pick("Restore saved state")], "running", "alpha: restored from saved state"),
        (
            save,
            [pick("Start fresh (drop saved state)"), yes("Start fresh (drop saved state): alpha?")],
            "running",
            "alpha: started fresh (saved state dropped)",
        ),
        (
            save,
            [pick("Discard saved state"), yes("Discard saved state: alpha?")],
            "shutoff",
            "alpha: saved state discarded",
        ),
        (save, [pick("Discard saved state"), esc()], "saved", ""),
    ],
)
def test_each_power_action_of_a_vm_screen(drive, host, prepare, steps, after, status):
    if prepare:
        prepare(host)
    run = drive(*open_alpha(*steps))
    assert state(host, "alpha") == after
    assert run.status == status
    if status:  # the VM's screen, drawn again, says what happened and offers what fits now
        assert said(run.header("alpha")) == status
        assert f"[{after}]" in run.header("alpha")  # "saved", as its row and preview say


def test_saving_reports_its_progress(drive):
    run = drive(*open_alpha(pick("Save state")))
    assert ("progress", "saving alpha: 100%") in run.notifier.said
    assert run.notifier.said[-1] == ("info", "alpha: state saved")


# -- quick keys ------------------------------------------------------------------------------


def test_a_quick_key_acts_on_one_vm_without_opening_it(drive, host):
    run = drive(press("ctrl-s", "gamma", on="/"))
    assert state(host, "gamma") == "running"
    assert run.menu.prompts == ["/", "/"]
    assert "● gamma  running" in run.rows("/")
    assert said(run.header("/")) == "gamma: started"


def test_a_quick_key_acts_on_every_selected_vm(drive, host):
    run = drive(press("ctrl-s", "gamma", "broken", on="/"))
    assert state(host, "gamma") == state(host, "broken") == "running"
    assert run.status == "gamma: started; broken: started"  # in the order chosen


def test_a_selected_folder_stands_for_every_vm_under_it(drive, host):
    run = drive(press("ctrl-v", "lab/", on="/"))
    assert state(host, "alpha") == "saved"
    assert state(host, "beta") == state(host, "delta one") == "shutoff"
    assert run.status.startswith("error: ")  # the shut-off ones have no state to save
    assert "beta" in run.status and "delta one" in run.status


def test_quick_shut_down_from_the_running_view(drive, host):
    run = drive(pick("⋯ Running"), press("ctrl-x", "/lab/web/alpha", on="Running"))
    assert state(host, "alpha") == "shutoff"
    assert run.rows("Running") == []  # drawn again: nothing runs any more
    assert run.status == "alpha: shutdown requested"


@pytest.mark.parametrize(("answer", "after"), [(no, "running"), (yes, "shutoff")])
def test_quick_force_off_asks_first(drive, host, answer, after):
    dom(host, "gamma").create()
    run = drive(press("ctrl-o", "gamma", on="/"), answer("Force off gamma?"))
    assert state(host, "gamma") == after
    assert run.menu.last("Force off gamma?").rows[1].text == "Yes"


def test_refresh_shows_what_changed_behind_the_pickers_back(drive, host):
    run = drive(meanwhile(lambda: dom(host, "gamma").create(), press("ctrl-r", on="/")))
    assert "● gamma  running" in run.menu.texts("/")


def test_a_quick_key_with_nothing_selected_acts_on_nothing_and_says_so(drive, host):
    run = drive(press("ctrl-s", on="/"))
    assert state(host, "gamma") == "shutoff"
    assert run.status == "start: no VM there; move onto a VM or folder, or select some (tab)"


def test_a_quick_key_on_several_vms_reports_what_failed_and_what_worked(drive, host):
    run = drive(pick("lab/", on="/"), pick("web/"), press("ctrl-s", "alpha", "delta one"))
    assert state(host, "delta one") == "running"  # alpha was running already
    assert run.status.startswith("error: ") and "delta one: started" in run.status
    assert "alpha" in run.status.split(";")[0]


def test_a_long_outcome_is_cut_in_the_header_and_shown_whole_one_key_away(drive, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")  # fzf's list is 56 wide: four lines hold little
    run = drive(
        press("ctrl-v", "lab/", "broken", "gamma", on="/"),
        press(header.MESSAGE_KEY, on="/"),
        esc(on="last outcome"),
    )
    cut = run.menu.screens[1].header.splitlines()
    assert cut[-1].endswith("… (^l all of it)") and len(cut[-1]) <= 56
    whole = run.menu.texts("last outcome")
    parts = run.status.split("; ")
    assert len(parts) == 5  # the four shut-off VMs refuse; alpha is saved
    for part in parts:
        assert " ".join(part.split()) in " ".join(whole)
    assert all(len(line) <= 56 for line in whole)
    assert header.MESSAGE_KEY not in run.menu.screens[0].keys  # no outcome yet: no key


# -- snapshots -------------------------------------------------------------------------------


def open_gamma(*steps):
    return (pick("gamma", on="/"), *steps)


def test_create_a_snapshot_offers_a_dated_name_and_takes_a_typed_one(drive, host):
    run = drive(
        *open_gamma(
            pick("Snapshots…"),
            pick("+ Create snapshot…"),
            type_in("first", on="snapshot name"),
            pick("+ Create snapshot…"),
            pick("snap-", on="snapshot name"),  # the offered name
        )
    )
    names = dom(host, "gamma").snapshotListNames()
    assert "first" in names and len(names) == 2
    offered = run.rows("snapshot name")
    assert len(offered) == 1 and offered[0].startswith("snap-")
    assert run.rows("gamma snapshots")[:2] == ["+ Create snapshot…", "first  shutoff"]
    assert run.rows("gamma snapshots")[2].startswith("  snap-")  # a child of "first"
    assert "*current*" in run.rows("gamma snapshots")[2]


def snapshots_of_gamma(host, *names):
    for name in names:
        dom(host, "gamma").snapshotCreateXML(
            f"<domainsnapshot><name>{name}</name></domainsnapshot>"
        )


def test_revert_to_a_snapshot_asks_first(drive, host):
    dom(host, "gamma").create()
    snapshots_of_gamma(host, "when-running")
    dom(host, "gamma").destroy()
    run = drive(
        *open_gamma(
            pick("Snapshots…"),
            pick("when-running"),
            pick("Revert to this snapshot", on="snapshot when-running"),
            yes("Revert gamma to when-running?"),
        )
    )
    assert state(host, "gamma") == "running"
    assert run.status == "gamma: reverted to snapshot 'when-running'"


@pytest.mark.parametrize(
    ("row", "left", "said"),
    [
        ("Delete this snapshot", ["b"], "gamma: snapshot 'a' deleted"),
        ("Delete it and its children", [], "gamma: snapshot 'a' deleted with its children"),
    ],
)
def test_delete_a_snapshot_alone_or_with_its_children(drive, host, row, left, said):
    snapshots_of_gamma(host, "a", "b")
    run = drive(*open_gamma(pick("Snapshots…"), pick("a"), pick(row), yes("Delete snapshot a?")))
    assert dom(host, "gamma").snapshotListNames() == left
    assert run.status == said


def test_declining_a_snapshot_deletion_keeps_it(drive, host):
    snapshots_of_gamma(host, "a")
    drive(*open_gamma(pick("Snapshots…"), pick("a"), pick("Delete this snapshot"), no()))
    assert dom(host, "gamma").snapshotListNames() == ["a"]


# -- organising ------------------------------------------------------------------------------


def test_move_to_an_offered_folder(drive, host):
    run = drive(*open_gamma(pick("Move to…"), pick("/lab/db", on="move to")))
    assert placed(host, "gamma") == ("/lab/db", ())
    assert run.status == "gamma: moved to /lab/db"
    assert run.rows("move to") == ["/", "/lab", "/lab/db", "/lab/web"]
    assert run.header("gamma").splitlines()[0].endswith("/lab/db/gamma  [shutoff]")


def test_move_to_a_typed_new_folder(drive, host):
    run = drive(*open_gamma(pick("Move to…"), type_in("/brand/new place")))
    assert placed(host, "gamma") == ("/brand/new place", ())
    assert "▸ brand/  (1)" in run.rows("/")


def test_a_bad_folder_is_an_error_on_the_status_line(drive, host):
    run = drive(*open_gamma(pick("Move to…"), type_in("/..")))
    assert placed(host, "gamma") == ("/", ())
    assert run.status == "error: path '/..' goes above /"


def test_add_an_offered_label_and_a_typed_one_then_remove_one(drive, host):
    run = drive(
        *open_gamma(
            pick("Labels…"),
            pick("+ Add label…", on="gamma labels"),
            pick("db", on="label"),
            pick("+ Add label…"),
            type_in("fresh"),
            pick("#db", on="gamma labels"),
        )
    )
    assert placed(host, "gamma") == ("/", ("fresh",))
    offered = [[row.text for row in s.rows] for s in run.menu.screens if s.prompt == "label"]
    assert offered == [["db", "prod", "web"], ["prod", "web"]]  # what it has is not offered
    assert run.rows("gamma labels") == ["+ Add label…", "#fresh  (enter removes)"]
    assert run.status == "gamma: labels #fresh"


# -- clones, new VMs, deletion (the storage host: a pool, base images) -----------------------


@pytest.fixture
def sdrive(drive, shost):
    return lambda *steps, **kw: drive(*steps, on=shost, **kw)


def backing_of(host: Host, name: str) -> str | None:
    from lxml import etree

    disk = etree.fromstring(dom(host, name).XMLDesc(0)).find("devices/disk/source").get("file")
    vol = etree.fromstring(host.conn.storageVolLookupByPath(disk).XMLDesc(0))
    return vol.findtext("backingStore/path")


def test_a_linked_clone(sdrive, shost):
    run = sdrive(
        pick("lone-vm"),
        pick("Clone…"),
        pick("Linked clone (instant, copy-on-write)"),
        pick("lone-vm-clone", on="clone name"),
    )
    assert backing_of(shost, "lone-vm-clone") is not None
    assert run.status == f"linked clone 'lone-vm-clone' created (1 disk(s)){COPIED}"
    assert "○ lone-vm-clone  shutoff" in run.rows("/")


def test_a_typed_new_name_wins_over_a_suggestion_it_matches(sdrive, shost):
    """ "lvc" fuzzily matches the suggestion "lone-vm-clone": Enter still means "lvc"."""
    run = sdrive(
        pick("lone-vm"),
        pick("Clone…"),
        pick("Linked clone (instant, copy-on-write)"),
        type_then_enter("lvc", on="clone name"),
    )
    assert shost.conn.lookupByName("lvc") and "lone-vm-clone" not in shost.conn.listDefinedDomains()
    assert run.status == f"linked clone 'lvc' created (1 disk(s)){COPIED}"


def test_an_existing_base_image_is_found_by_typing(sdrive, shost):
    sdrive(pick("⋯ New VM"), type_in("fresh"), type_then_enter("templ", on="profile or base image"))
    assert backing_of(shost, "fresh") == "/pool/template.qcow2"


def test_a_full_clone(sdrive, shost):
    run = sdrive(
        pick("lone-vm"), pick("Clone…"), pick("Full clone (copies the disks)"), type_in("copy")
    )
    assert backing_of(shost, "copy") is None
    assert run.status == f"full clone 'copy' created (1 disk(s)){COPIED}"


def test_a_clone_the_host_refuses_shows_why(drive, host):
    snapshots_of_gamma(host, "s")
    run = drive(
        *open_gamma(pick("Clone…"), pick("Linked clone (instant, copy-on-write)"), type_in("g2"))
    )
    assert "g2" not in host.conn.listDefinedDomains()
    assert run.status.startswith("error: cannot make a linked clone of 'gamma': its snapshots")
    assert said(run.header("gamma")) == run.status  # whole, though longer than a line:
    status_lines = run.header("gamma").splitlines()[2:]
    assert len(status_lines) > 1 and all(len(line) <= 76 for line in status_lines)


@pytest.mark.parametrize(
    ("row", "volumes_left"),
    [("Delete the VM, keep its disks", True), ("Delete the VM and its disks", False)],
)
def test_delete_a_vm_with_or_without_its_disks(sdrive, shost, row, volumes_left):
    run = sdrive(
        pick("lone-vm"),
        pick("Delete…"),
        pick(row),
        yes("Really delete lone-vm? This cannot be undone."),
    )
    assert "lone-vm" not in shost.conn.listDefinedDomains()
    pool = shost.conn.storagePoolLookupByName("pool")
    assert ("lone.qcow2" in pool.listVolumes()) is volumes_left
    assert run.status.startswith("lone-vm: ")
    assert run.rows("/") == ["○ base-vm  shutoff", "○ clone-vm  shutoff", *BOTTOM]


def test_declining_a_deletion_keeps_the_vm(drive, host):
    run = drive(*open_alpha(pick("Delete…"), pick("Delete the VM, keep its disks"), no()))
    assert state(host, "alpha") == "running"
    assert run.header("delete alpha") == "Delete alpha (it is running: it will be forced off)?"


def test_new_vm_from_a_base_image(sdrive, shost):
    run = sdrive(
        pick("⋯ New VM", on="/"),
        type_in("fresh", on="new VM name"),
        pick("/pool/template.qcow2", on="profile or base image"),
    )
    assert backing_of(shost, "fresh") == "/pool/template.qcow2"
    assert placed(shost, "fresh") == ("/", ())
    assert run.status == "fresh: created on an overlay of /pool/template.qcow2, with no network"
    # base-vm writes base.qcow2: `new` would refuse it, so it is not offered
    assert "/pool/template.qcow2" in run.rows("profile or base image")
    assert "/pool/base.qcow2" not in run.rows("profile or base image")
    assert "○ fresh  shutoff" in run.rows("/")


PROFILES = """
[profiles.small]
image = "/pool/template.qcow2"
memory = 256
labels = ["lab"]
cloud_init = false  # libvirt's test driver takes no upload, so no seed here (see ops tests)

[profiles.web]
base = "small"
vcpus = 2
labels = ["web"]
"""


def test_new_vm_from_a_profile_offered_before_the_images(sdrive, shost, tmp_path, monkeypatch):
    (tmp_path / "vmm").mkdir()
    (tmp_path / "vmm" / "config.toml").write_text(PROFILES)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    run = sdrive(
        pick("⋯ New VM", on="/"),
        type_in("fresh", on="new VM name"),
        pick("profile: web", on="profile or base image"),
    )
    offered = run.rows("profile or base image")
    assert offered[:2] == ["profile: small", "profile: web"] and "/pool/template.qcow2" in offered
    assert backing_of(shost, "fresh") == "/pool/template.qcow2"
    fresh = dom(shost, "fresh")
    assert fresh.maxMemory() == 256 * 1024 and fresh.vcpusFlags(libvirt.VIR_DOMAIN_VCPU_CONFIG) == 2
    assert placed(shost, "fresh") == ("/", ("lab", "web"))
    assert run.status.startswith("fresh: created on an overlay of /pool/template.qcow2")


def test_a_new_vm_from_the_picker_is_journalled_as_vmm_new_does(sdrive, shost, history):
    sdrive(pick("⋯ New VM"), type_in("fresh"), pick("/pool/template.qcow2"))
    entries = history.entries("fresh")
    assert [(e.action, e.detail) for e in entries] == [
        ("new", "created on an overlay of /pool/template.qcow2, with no network")
    ]
    assert entries[0].uuid == dom(shost, "fresh").UUIDString()


# -- edit XML, console, viewer ---------------------------------------------------------------


def editor(tmp_path, *seds: str) -> str:
    """An $EDITOR that applies one sed script per run (the last one again after that)."""
    count = tmp_path / "count"
    script = tmp_path / "editor.sh"
    lines = ["#!/bin/sh", f"echo x >> {count}", f"n=$(wc -l < {count})"]
    for i, sed in enumerate(seds, 1):
        test = f"[ $n -ge {i} ]" if i == len(seds) else f"[ $n -eq {i} ]"
        lines.append(f"if {test}; then sed -i '{sed}' \"$1\"; exit 0; fi")
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o755)
    return str(script)


def test_edit_xml_saves_a_valid_definition_and_journals_it(
    drive, host, history, tmp_path, monkeypatch
):
    monkeypatch.setenv(
        "VISUAL", editor(tmp_path, "s|<vcpu placement=.static.>1</vcpu>|<vcpu>3</vcpu>|")
    )
    run = drive(*open_gamma(pick("Edit XML")), terminal=True)
    assert "<vcpu placement='static'>3</vcpu>" in dom(host, "gamma").XMLDesc(0)
    assert run.status == "gamma: definition saved"
    assert [e.action for e in history.entries("gamma")] == ["edit"]


def test_edit_xml_offers_to_edit_again_or_discard(drive, host, tmp_path, monkeypatch):
    monkeypatch.setenv("VISUAL", editor(tmp_path, "s|</domain>|<bogus/>|"))
    run = drive(
        *open_gamma(
            pick("Edit XML"), pick("Edit again", on="invalid XML"), pick("Discard my changes")
        ),
        terminal=True,
    )
    assert run.status == "gamma: edit discarded"
    assert "not well-formed XML" in run.header("invalid XML")
    assert "bogus" not in dom(host, "gamma").XMLDesc(0)


def test_edit_xml_and_console_need_a_terminal(drive):
    run = drive(*open_gamma(pick("Edit XML")))
    assert run.status == "error: editing XML needs a terminal: run vmm in one"
    run = drive(*open_alpha(pick("Console")))
    assert run.status == "error: virsh needs a terminal: run vmm in one"


def test_a_missing_viewer_is_an_error_on_the_status_line(drive, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no virt-viewer on it, whatever is installed
    run = drive(*open_alpha(pick("Viewer")))
    assert run.status == "error: virt-viewer is not installed (apt-get install virt-viewer)"


# -- the status line -------------------------------------------------------------------------


def test_the_status_line_shows_the_last_outcome_and_errors_as_such(drive, host):
    run = drive(
        *open_gamma(
            pick("Start"),
            pick("Force off"),
            yes(),
            pick("Move to…"),
            type_in("/.."),
            pick("Start"),
        )
    )
    lines = [said(s.header) for s in run.menu.screens if s.prompt == "gamma"]
    error = lines[3]
    assert lines[1:3] == ["gamma: started", "gamma: forced off"]
    assert error.startswith("error: ") and "goes above /" in error
    assert lines[4] == "gamma: started"  # the next outcome replaces the error
    assert ("error", error.removeprefix("error: ")) in run.notifier.said
    assert state(host, "gamma") == "running"


def test_a_vm_undefined_behind_the_pickers_back_is_an_error_not_an_exit(drive, host):
    run = drive(
        *open_gamma(meanwhile(lambda: dom(host, "gamma").undefine(), pick("Start"))),
        esc(on="/"),
    )
    assert run.status.startswith("error: the VM ") and run.status.endswith(" is gone")
    assert "gamma" not in " ".join(run.rows("/"))


def test_a_libvirt_error_shows_on_the_status_line_and_the_picker_goes_on(
    drive, host, tmp_path, monkeypatch
):
    """isActive, asked after an edit is defined, is not translated into a vmm error. The test
    driver never refuses it, so a mock makes it answer with a real libvirt error: the one a
    lookup of a VM that is not there raises."""
    monkeypatch.setenv(
        "VISUAL", editor(tmp_path, "s|<vcpu placement=.static.>1</vcpu>|<vcpu>2</vcpu>|")
    )
    real, calls = libvirt.virDomain.isActive, []

    def is_active_failing_once(self):
        calls.append(self)
        return self.connect().lookupByName("no such vm") if len(calls) == 1 else real(self)

    monkeypatch.setattr(libvirt.virDomain, "isActive", is_active_failing_once)
    run = drive(*open_gamma(pick("Edit XML"), pick("Move to…"), type_in("/after")), terminal=True)
    assert run.menu.screens[2].prompt == "gamma"  # the picker went on, on the VM's screen
    shown = said(run.menu.screens[2].header)
    assert shown.startswith("error: it is gone: another client removed it")  # vmm's words
    assert placed(host, "gamma") == ("/after", ())  # and acts on the next choice


def test_a_host_that_cannot_be_listed_leaves_the_draft_on_screen_with_why(drive, host):
    """The first screen is drawn from the cache while the host is listed afresh; when that
    listing fails (here a connection closed for real) the picker says so and goes on."""
    drive(on=host)  # a first run leaves its listing in the cache

    @dataclass
    class LiveMenu(ScriptedMenu):
        live = True  # draws the cached first draft, as fzf does

    closed = Host.open(host.uri)
    assert closed.uri == host.uri  # asked while it answers: the cache is keyed by it
    closed.conn.close()
    menu = LiveMenu(deque([pick("lab/", on="/"), esc(on="/lab")]))
    picker = Picker(closed, menu, RecordingNotifier(), terminal=False)
    picker.run()
    assert "▸ lab/  (3)" in menu.texts("/")  # the draft, from the last run
    assert picker.status.startswith("error: cannot list the host: lost the connection")
    assert "(as last seen; the host could not be listed" in menu.last("/lab").header


def test_a_running_vms_addresses_are_one_key_away(drive, host):
    run = drive(*open_alpha(pick("IP addresses")))
    addresses = [
        a["addr"] for i in dom(host, "alpha").interfaceAddresses(0).values() for a in i["addrs"]
    ]
    assert addresses and run.status == f"alpha: {addresses[0]}/24 (lease)"


def test_after_a_quick_key_the_cursor_stays_on_the_row_it_acted_on(drive, host):
    run = drive(press("ctrl-s", "gamma", on="/"))
    first, again = [s for s in run.menu.screens if s.prompt == "/"][:2]
    assert first.cursor == 0
    assert again.rows[again.cursor].text.startswith("● gamma")  # and it is running now


def test_back_up_a_folder_the_cursor_is_on_the_folder_just_left(drive):
    run = drive(pick("lab/", on="/"), pick("..", on="/lab"))
    back = [s for s in run.menu.screens if s.prompt == "/"][1]
    assert back.rows[back.cursor].key == "dir:/lab"


def test_an_outcome_is_shown_on_the_next_screen_only_and_whole(drive, host):
    run = drive(press("ctrl-s", on="/"), pick("lab/", on="/"))
    again, lab = [s for s in run.menu.screens if s.prompt == "/"][1], run.menu.last("/lab")
    assert said(again.header) == run.status
    assert run.status not in lab.header and said(lab.header) == ""  # it does not outlive it


# -- several hosts ----------------------------------------------------------------------------


@pytest.fixture
def two_hosts(history):
    from conftest import node_uri

    from vmm.virt.fleet import Fleet

    hosts = [Host(libvirt.open(node_uri("storage")), "a"), Host(libvirt.open(node_uri()), "b")]
    yield Fleet(hosts, [], history)
    for host in hosts:
        host.close()


def test_move_to_host_is_offered_over_several_hosts_only(drive, two_hosts, shost):
    run = drive(pick("lone-vm", on="/"), pick("Labels…"), on=two_hosts)
    assert "Move to host…" in run.rows("lone-vm")
    run = drive(pick("lone-vm", on="/"), pick("Labels…"), on=shost)
    assert "Move to host…" not in run.rows("lone-vm")


def test_a_move_the_target_cannot_take_is_reported_and_moves_nothing(drive, two_hosts):
    """Host b has no storage pool for the disk: the picker says so, and the VM stays whole
    where it was (the real move between two QEMU hosts: tests/ops/test_move_kvm.py)."""
    a, b = two_hosts.hosts
    before = a.conn.lookupByName("lone-vm").XMLDesc(0)
    run = drive(pick("lone-vm", on="/"), pick("Move to host…"), pick("b"), on=two_hosts)
    assert run.status == (
        "error: the target has no pool named as the source's (pool): name one with --pool"
        " (the target's: none)"
    )
    assert a.conn.lookupByName("lone-vm").XMLDesc(0) == before
    assert "lone-vm" not in [dom.name() for dom in b.conn.listAllDomains(0)]


def test_a_running_vm_is_moved_live_or_shut_down_first_as_picked(drive, two_hosts):
    """Live, on hosts that are no QEMU hosts: the picker says what blocks it and nothing moves
    (the live move itself: tests/ops/test_move_kvm.py)."""
    a, b = two_hosts.hosts
    dom = a.conn.lookupByName("lone-vm")
    dom.create()
    run = drive(pick("lone-vm", on="/"), pick("Move to host…"), pick("b"),
                pick("Move it as it runs (live migration)"), on=two_hosts)  # fmt: skip
    assert run.status.startswith("error: a live move runs QEMU to QEMU, and b or this host is")
    assert dom.isActive() and "lone-vm" not in [d.name() for d in b.conn.listAllDomains(0)]
    run = drive(pick("lone-vm", on="/"), pick("Move to host…"), pick("b"), on=two_hosts)
    assert "Shut it down, then move it" in run.rows("move lone-vm")
