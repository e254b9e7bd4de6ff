import json
from datetime import datetime

from vmm.ops import snapshots


def names(host, vm):
    return {s.name: s for s in snapshots.list_snapshots(host.lookup(vm))}


def test_create_with_default_name_and_description(run, host):
    result = run("snapshot", "create", "alpha", "--description", "before the upgrade")
    assert result.exit_code == 0 and "snapshot 'snap-" in result.stdout
    (snap,) = names(host, "alpha").values()
    assert snap.description == "before the upgrade" and snap.current and snap.state == "running"


def test_a_description_holds_lines_but_no_control_characters(run, host):
    refused = run("snapshot", "create", "alpha", "s1", "--description", "ring \x07 bell")
    assert refused.exit_code == 1
    assert "description contains control characters" in refused.stderr
    assert names(host, "alpha") == {}
    assert run("snapshot", "create", "alpha", "s2", "-d", "one\n\ttwo").exit_code == 0
    assert names(host, "alpha")["s2"].description == "one\n\ttwo"


def test_revert_and_rm_ask_first_and_refuse_off_a_terminal_without_yes(run, host):
    assert run("snapshot", "create", "beta", "kept").exit_code == 0
    host.lookup("beta").create()  # a change since the snapshot
    for args in (("revert", "beta"), ("revert", "beta", "kept"), ("rm", "beta", "kept")):
        refused = run("snapshot", *args)
        assert refused.exit_code == 1 and "Refusing without --yes" in refused.stderr
    assert host.find("beta").state == "running" and set(names(host, "beta")) == {"kept"}


def test_a_snapshot_is_one_vms_never_a_folders(run, host):
    result = run("snapshot", "create", "/lab", "x")
    assert result.exit_code == 1 and "no VM named '/lab'" in result.stderr
    assert all(names(host, vm) == {} for vm in ("alpha", "beta", "delta one"))


def test_tree_with_two_levels_marks_the_current_one(run, host):
    for name in ("base", "mid", "top"):
        assert run("snapshot", "create", "beta", name).exit_code == 0
    run("snapshot", "revert", "-y", "beta", "base")
    run("snapshot", "create", "beta", "branch")
    tree = json.loads(run("snapshot", "ls", "beta", "--json").stdout)
    shape = [(s["depth"], s["name"], s["current"]) for s in tree]
    assert shape[0] == (0, "base", False)
    assert {(1, "mid", False), (2, "top", False), (1, "branch", True)} <= set(shape)
    text = run("snapshot", "ls", "beta").stdout.splitlines()
    assert text[0].startswith("base") and any(line.startswith("  branch *") for line in text)


def test_revert_defaults_to_the_current_snapshot_and_restores_state(run, host):
    run("snapshot", "create", "alpha", "running-point")
    run("off", "alpha")
    assert (
        run("snapshot", "revert", "-y", "alpha").stdout
        == "alpha: reverted to snapshot 'running-point'\n"
    )
    assert host.find("alpha").state == "running"


def test_rm_with_and_without_children(run, host):
    for name in ("a", "b", "c"):
        run("snapshot", "create", "beta", name)
    assert run("snapshot", "rm", "-y", "beta", "b").exit_code == 0
    assert set(names(host, "beta")) == {"a", "c"} and names(host, "beta")["c"].parent == "a"
    assert run("snapshot", "rm", "-y", "beta", "a", "--children").exit_code == 0
    assert names(host, "beta") == {}


def test_bad_snapshot_requests(run, host):
    assert "has no current snapshot" in run("snapshot", "revert", "-y", "gamma").stderr
    assert "'gamma' has no snapshot 'x'" in run("snapshot", "revert", "-y", "gamma", "x").stderr
    assert "'gamma' has no snapshot 'x'" in run("snapshot", "rm", "-y", "gamma", "x").stderr
    assert "bad snapshot name" in run("snapshot", "create", "gamma", "a/b").stderr
    assert "bad snapshot name" in run("snapshot", "create", "gamma", " ").stderr
    assert names(host, "gamma") == {}


def test_hostile_snapshot_names_are_kept_literally(run, host):
    name = "$(touch pwned) -x a'b\"c <x> ünï"
    assert run("snapshot", "create", "gamma", name).exit_code == 0
    assert set(names(host, "gamma")) == {name}


def test_default_name_is_sortable_time():
    assert snapshots.default_name(datetime(2026, 1, 2, 3, 4, 5)) == "snap-20260102-030405"
