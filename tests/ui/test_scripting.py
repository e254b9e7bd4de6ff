"""The scripting surface: every --json shape as documented, exit codes, the history's
guarantees, `vmm new`'s checks and each command's example, on the test driver."""

import json
import re
from pathlib import Path

import pytest
from conftest import node_uri, require, run_vmm

from vmm.model.journal import Entry
from vmm.ops.history import History

README = Path(__file__).resolve().parents[2] / "README.md"

VM_KEYS = {
    "name", "ref", "uuid", "host", "path", "place", "labels", "state",
    "persistent", "managed_save", "snapshots", "vcpus", "memory_mib",
}  # fmt: skip
# The README's --json tables, command by command ("info" lists what it adds to a VM's keys).
DOCUMENTED = {
    "ls": VM_KEYS,
    "ls folder": {"name", "path", "vms"},
    "tree": {"path", "vms", "here"},
    "info": {
        "cpu_percent",
        "memory_used_mib",
        "disks",
        "interfaces",
        "snapshot_tree",
        "linked_with",
    },
    "snapshot ls": {"name", "parent", "created", "state", "current", "description", "depth"},
    "clones": {"name", "image"},
    "ip": {"address", "prefix", "interface", "mac", "source"},
    "history": {"host", "uri", "vm", "uuid", "action", "detail", "before", "after", "time"},
    "events": {"time", "host", "event", "name", "uuid", "vm", "why"},  # test_events checks
}
INFO_DISK = {"target", "device", "path", "format", "backing"}
INFO_INTERFACE = {"mac", "source", "model", "addresses"}


def ok(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def lines_of_an_array(text):
    """An array as vmm prints it: `[`, one element a line, `]`."""
    lines = text.splitlines()
    assert lines[0] == "[" and lines[-1] == "]", text
    return [json.loads(line.rstrip(",")) for line in lines[1:-1]]


# -- 1. the --json shapes ------------------------------------------------------------------------


def test_every_documented_key_of_ls_tree_labels_info_and_snapshots(run):
    vms = ok(run("ls", "-r", "--json"))
    assert vms and all(set(vm) == DOCUMENTED["ls"] for vm in vms)
    assert all(set(f) == DOCUMENTED["tree"] for f in ok(run("tree", "--json")))
    labels = ok(run("labels", "--json"))
    assert labels and all(isinstance(n, int) for n in labels.values())
    info = ok(run("info", "alpha", "--json"))
    assert set(info) == VM_KEYS | DOCUMENTED["info"]
    assert info["interfaces"] and all(set(i) == INFO_INTERFACE for i in info["interfaces"])
    assert run("snapshot", "create", "alpha", "s1", "--description", "d").exit_code == 0
    snaps = ok(run("snapshot", "ls", "alpha", "--json"))
    assert snaps and all(set(s) == DOCUMENTED["snapshot ls"] for s in snaps)
    tree = ok(run("info", "alpha", "--json"))["snapshot_tree"]
    assert all(set(s) == DOCUMENTED["snapshot ls"] for s in tree)


def test_every_documented_key_of_clones_info_disks_and_ip(srun, run):
    clones = ok(srun("clones", "base-vm", "--json"))
    assert clones == [{"name": "clone-vm", "image": "/pool/base.qcow2"}]
    assert set(clones[0]) == DOCUMENTED["clones"]
    assert ok(srun("clones", "lone-vm", "--json")) == []
    disks = ok(srun("info", "clone-vm", "--json"))["disks"]
    assert disks and all(set(d) == INFO_DISK for d in disks)
    addresses = ok(run("ip", "alpha", "--json"))  # the test driver: one address when running
    assert addresses and all(set(a) == DOCUMENTED["ip"] for a in addresses)


def test_ls_json_lists_the_folders_the_text_lists(run):
    text = run("ls").stdout.splitlines()  # "lab/  (3 VMs)", then "○ gamma  shutoff", ...
    shown = ok(run("ls", "--json"))
    assert shown[0] == {"name": "lab", "path": "/lab", "vms": 3}  # folders first, as the text
    assert [e["name"] for e in shown] == [
        line.split("  ")[0].rstrip("/").split(" ", 1)[-1] for line in text
    ]
    assert set(ok(run("ls", "/lab", "--json"))[0]) == DOCUMENTED["ls folder"]
    for flags in (["-r"], ["--label", "web"], ["--state", "shutoff"]):  # text: no folders
        assert all("uuid" in e for e in ok(run("ls", *flags, "--json")))


def test_every_list_is_one_array_one_element_a_line(run, srun):
    for result in (
        run("ls", "--json"),
        run("tree", "--json"),
        srun("clones", "base-vm", "--json"),
        run("ip", "alpha", "--json"),
    ):
        assert lines_of_an_array(result.stdout) == json.loads(result.stdout)
    run("snapshot", "create", "alpha", "one")
    assert lines_of_an_array(run("snapshot", "ls", "alpha", "--json").stdout)


@pytest.fixture
def lab_env(tmp_path):
    """A config naming the basic test host `lab`, and a private journal."""
    (tmp_path / "config" / "vmm").mkdir(parents=True)
    (tmp_path / "config" / "vmm" / "config.toml").write_text(f'[hosts.lab]\nuri = "{node_uri()}"\n')
    return {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state")}


def test_host_is_the_same_kind_of_value_in_ls_and_history(lab_env):
    moved = run_vmm("-c", "lab", "mv", "alpha", "/x", env=lab_env)
    assert moved.returncode == 0, moved.stderr
    listed = json.loads(run_vmm("-c", "lab", "ls", "-r", "--json", env=lab_env).stdout)
    assert {vm["host"] for vm in listed} == {"lab"}
    history = run_vmm("history", "--json", env=lab_env)
    (entry,) = json.loads(history.stdout)
    assert set(entry) == DOCUMENTED["history"]
    assert (entry["host"], entry["uri"], entry["vm"]) == ("lab", node_uri(), "alpha")
    assert "(lab)" in run_vmm("history", env=lab_env).stdout


def test_the_readme_documents_these_keys():
    """The README's tables (written from /tmp/vmm-readme-json.md) say what DOCUMENTED says."""
    text = README.read_text()
    require("### JSON output" in text, "the README has no --json tables yet")
    section = text.split("### JSON output", 1)[1].split("\n## ", 1)[0]
    tables: dict[str, set[str]] = {}
    current = None
    for line in section.splitlines():
        heading = re.match(r"`vmm ([a-z ]+?)(?: VM)? --json`", line)
        if line.startswith("A folder in `vmm ls --json`"):
            current = "ls folder"
        elif heading:
            current = heading.group(1)
        elif current and (key := re.match(r"\| `(\w+)` ", line)):
            tables.setdefault(current, set()).add(key.group(1))
    assert tables == DOCUMENTED


# -- 2. console of a stopped VM --------------------------------------------------------------


def test_console_of_a_stopped_vm_says_so_in_vmms_words():
    # a real process: were the check missing, virsh would replace it, not the test run
    result = run_vmm("-c", node_uri(), "console", "gamma")
    assert result.returncode == 1
    assert result.stderr == "vmm: error: gamma: is shut off; start it first\n"


# -- 3. ip's exit code -----------------------------------------------------------------------


def test_ip_with_no_address_fails_the_same_with_json(run):
    plain, as_json = run("ip", "gamma"), run("ip", "gamma", "--json")
    assert plain.exit_code == as_json.exit_code == 1
    assert as_json.stdout == "" and as_json.stderr == plain.stderr
    assert as_json.stderr.startswith("vmm: error: no known IP address for 'gamma'")


# -- 4. the history --------------------------------------------------------------------------


def test_a_line_without_its_newline_does_not_swallow_the_next_entry(tmp_path):
    path = tmp_path / "vmm" / "history.jsonl"
    history = History(path)
    history.record(Entry("h", "a", "u1", "start"))
    with path.open("a") as journal:
        journal.write('{"host": "h", "vm": "torn"')  # a write cut short: no newline
    history.record(Entry("h", "b", "u2", "off"))
    assert [e.vm for e in history.entries()] == ["a", "b"]
    assert history.skipped == [f"{path}:2"]
    assert path.read_text().endswith('"torn"\n' + path.read_text().splitlines()[-1] + "\n")


def test_corrupt_lines_are_skipped_with_a_warning_naming_file_and_line(tmp_path):
    path = tmp_path / "vmm" / "history.jsonl"
    history = History(path)
    history.record(Entry("h", "a", "u1", "start"))
    with path.open("a") as journal:
        journal.write("not json\n")
        journal.write('{"host": "h", "vm": "b", "uuid": "u", "action": "x", "before": 5}\n')
        journal.write("[1, 2]\n")
    history.record(Entry("h", "c", "u3", "start"))
    shown = run_vmm("history", env={"XDG_STATE_HOME": str(tmp_path)})
    assert shown.returncode == 0
    assert [line.split("  ")[1] for line in shown.stdout.splitlines()] == ["a", "c"]
    assert shown.stderr.splitlines() == [
        f"vmm: warning: {path}:{n}: not a history entry, skipped" for n in (2, 3, 4)
    ]


def test_history_of_one_host_with_c_and_every_host_with_all_hosts(lab_env, tmp_path):
    path = tmp_path / "state" / "vmm" / "history.jsonl"
    history = History(path)
    history.record(Entry(node_uri(), "alpha", "u1", "start"))
    history.record(Entry("test:///default", "test", "u2", "start"))
    history.record(Entry(node_uri(), "beta", "u3", "off"))

    def vms(*args):
        result = run_vmm(*args, "history", "--json", env=lab_env)
        assert result.returncode == 0, result.stderr
        return [e["vm"] for e in json.loads(result.stdout)]

    assert vms("-c", "lab") == vms("-c", node_uri()) == ["alpha", "beta"]
    assert vms("-c", "test:///default") == ["test"]
    assert vms("--all-hosts") == vms() == ["alpha", "test", "beta"]
    assert vms("-c", "test:///nothing-here") == []


# -- 5. vmm new ------------------------------------------------------------------------------


def _state(host):
    conn = host.conn
    vols = {v.name() for p in conn.listAllStoragePools() for v in p.listAllVolumes()}
    return {d.name() for d in conn.listAllDomains()}, vols


def test_new_refuses_a_network_the_host_does_not_have(srun, shost):
    before = _state(shost)
    result = srun("new", "x", "--base", "pool/template.qcow2", "--network", "nosuch")
    assert result.exit_code == 1
    assert result.stderr == "vmm: error: no network 'nosuch' on this host (networks: none)\n"
    assert _state(shost) == before


def test_new_refuses_a_network_that_is_down_for_good_and_says_which(srun, shost):
    shost.conn.networkDefineXML("<network><name>idle</name></network>")
    later = shost.conn.networkDefineXML("<network><name>later</name></network>")
    later.setAutostart(1)
    before = _state(shost)
    idle = srun("new", "x", "--base", "pool/template.qcow2", "--network", "idle")
    assert idle.exit_code == 1 and _state(shost) == before
    assert "network 'idle' is not active and does not start with the host" in idle.stderr
    made = srun("new", "x", "--base", "pool/template.qcow2", "--network", "later")
    assert made.exit_code == 0, made.output
    assert "on network 'later' (not active now; it starts with the host, or now with" in made.stdout


def test_new_on_a_base_in_no_pool_advises_only_what_new_has(srun, shost, tmp_path):
    import subprocess

    base = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "64M"], check=True)
    refused = srun("new", "x", "--base", str(base))
    assert refused.exit_code == 1 and "vmm new --pool POOL" in refused.stderr
    assert "--full" not in refused.stderr
    options = {p.opts[-1] for p in shost_new_params()}
    assert set(re.findall(r"--[a-z-]+", refused.stderr)) <= options
    nosuch = srun("new", "x", "--base", str(base), "--pool", "nosuch")
    assert (
        nosuch.stderr == "vmm: error: no storage pool 'nosuch' on this host (pools: other, pool)\n"
    )


def shost_new_params():
    from vmm.ui.cli.base import cli

    return cli.get_command(None, "new").params


# -- 6. an example in every --help -----------------------------------------------------------

MINE = [
    ["ls"], ["tree"], ["labels"], ["info"], ["rm"], ["ip"], ["ssh"], ["console"], ["view"],
    ["history"], ["edit"], ["clone"], ["clones"], ["new"], ["snapshot"], ["snapshot", "ls"],
    ["snapshot", "create"], ["snapshot", "revert"], ["snapshot", "rm"], ["doctor"],
]  # fmt: skip


@pytest.mark.parametrize("command", MINE, ids=" ".join)
def test_help_shows_an_example(run, command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    example = result.stdout.split("Examples:\n", 1)[1].splitlines()[0]
    assert re.match(rf"\s+(\w+=\S+ )?vmm (-c \w+ )?{' '.join(command)}\b", example), example
