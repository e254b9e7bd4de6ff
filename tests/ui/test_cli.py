"""Every subcommand through click's CliRunner on a test-driver host, and a few as real processes."""

import importlib
import json
import os
import shlex
import subprocess
import sys

import pytest
from conftest import complete, node_uri, run_vmm, vmm_exe

from vmm.ui.cli import cli
from vmm.ui.cli.base import SUBCOMMANDS
from vmm.ui.cli.pick import use_menu_for_passwords
from vmm.ui.config import demo_uri


def ok(result):
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout


def test_ls_root_shows_folders_and_vms(run):
    lines = ok(run("ls")).splitlines()
    assert lines[0].startswith("lab/")  # broken's unreadable path is not a folder
    assert any("gamma" in line for line in lines)
    assert not any("alpha" in line for line in lines)


def test_ls_json_recursive_with_filters(run):
    vms = json.loads(ok(run("ls", "-r", "/lab", "--json")))
    assert {vm["name"] for vm in vms} == {"alpha", "beta", "delta one"}
    assert set(vms[0]) == {
        "name", "ref", "uuid", "host", "path", "place", "labels", "state",
        "persistent", "managed_save", "snapshots", "vcpus", "memory_mib",
    }  # fmt: skip
    web = json.loads(ok(run("ls", "-r", "--label", "web", "--label", "prod", "--json")))
    assert [vm["name"] for vm in web] == ["alpha"]
    off = json.loads(ok(run("ls", "-r", "--state", "shutoff", "--json")))
    assert "alpha" not in {vm["name"] for vm in off} and "gamma" in {vm["name"] for vm in off}


def test_ls_warns_about_malformed_metadata_on_stderr(run):
    result = run("ls")
    assert "vmm: warning: VM 'broken'" in result.stderr
    assert "warning" not in result.stdout


def test_tree_counts(run):
    out = ok(run("tree"))
    assert "lab  (3)" in out and "web  (2)" in out and "db  (1)" in out
    folders = {f["path"]: f for f in json.loads(ok(run("tree", "--json")))}
    assert folders["/"]["vms"] == 5 and folders["/lab/web"]["here"] == 2


def test_mv_vms_into_a_folder(run, host):
    out = ok(run("mv", "alpha", "gamma", "new/place/"))
    assert "alpha: /lab/web -> /new/place" in out and "gamma: / -> /new/place" in out
    assert host.find("alpha").path == host.find("gamma").path == "/new/place"


def test_mv_a_folder_rehomes_everything_below_it(run, host):
    ok(run("mv", "/lab", "/archive/2026"))
    assert host.find("alpha").path == "/archive/2026/web"
    assert host.find("beta").path == "/archive/2026/db"
    assert host.find("delta one").path == "/archive/2026/web"
    assert host.find("gamma").path == "/"


def test_a_move_that_fails_half_way_moves_nothing(run, host, monkeypatch):
    """A mock forces the failure: a metadata write cannot be made to fail on cue for real."""
    from vmm.model.errors import HostError
    from vmm.virt.host import Host

    before = {d.name: d.path for d in host.domains()}
    real, writes = Host.write_metadata, []

    def second_write_fails(self, dom, meta):
        writes.append(dom.name())
        if len(writes) == 2:
            raise HostError("injected failure")
        real(self, dom, meta)

    monkeypatch.setattr(Host, "write_metadata", second_write_fails)
    result = run("mv", "/lab", "/archive")
    assert result.exit_code == 1 and "injected failure" in result.stderr
    assert {d.name: d.path for d in host.domains()} == before
    assert len(writes) == 3  # two moves tried, the first moved back


def test_mv_by_uuid(run, host):
    uuid = host.find("beta").uuid
    ok(run("mv", uuid, "/x"))
    assert host.find("beta").path == "/x"


def test_mv_back_to_root_leaves_the_vm_looking_untouched(run, host):
    ok(run("mv", "delta one", "/"))
    ok(run("label", "rm", "-t", "web", "delta one"))
    assert "calebstew" not in host.lookup("delta one").XMLDesc(0)


def test_label_add_and_rm(run, host):
    assert "alpha: web, prod, new" in ok(run("label", "add", "-t", " new ", "-t", "web", "alpha"))
    ok(run("label", "rm", "-t", "web", "alpha"))
    assert host.find("alpha").labels == ("prod", "new")


def test_labels_lists_counts(run):
    assert json.loads(ok(run("labels", "--json"))) == {"db": 1, "prod": 1, "web": 2}
    assert ok(run("labels")).splitlines()[-1].split() == ["web", "2"]


def test_info(run):
    info = json.loads(ok(run("info", "alpha", "--json")))
    assert info["path"] == "/lab/web" and info["state"] == "running" and info["vcpus"] == 2
    text = ok(run("info", "beta"))
    assert "path:        /lab/db" in text and "state:       shutoff" in text


def all_xml(host):
    return {d.name(): d.XMLDesc(0) for d in host.conn.listAllDomains()}


BAD_INPUT = [
    (["info", "nope"], "no VM named 'nope'"),
    (["ls", "/no/such"], "no folder /no/such"),
    (["ls", "/.."], "goes above /"),
    (["mv", "alpha", "nope", "/x"], "no VM named 'nope'"),
    (["mv", "alpha", "/../x"], "goes above /"),
    (["mv", "alpha", "/a\tb"], "control characters"),
    (["mv", "/nope", "/x"], "no VM or folder named '/nope'"),
    (["mv", "/lab", "/lab/inner"], "into itself"),
    (["mv", "alpha"], "Missing argument"),
    (["label", "add", "-t", "", "alpha"], "empty label"),
    (["label", "add", "-t", "x", "nope"], "no VM named 'nope'"),
    (["label", "rm", "-t", "absent", "alpha"], "absent"),
    (["label", "frob"], "No such command"),
    (["ls", "--bogus"], "No such option"),
    (["frobnicate"], "No such command"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT)
def test_bad_input_is_one_line_and_changes_nothing(run, host, args, message):
    before = all_xml(host)
    result = run(*args)
    assert result.exit_code != 0
    errors = [line for line in result.stderr.splitlines() if not line.startswith("vmm: warning:")]
    assert len(errors) == 1 and errors[0].startswith("vmm: error: ") and message in errors[0]
    assert "Traceback" not in result.output + result.stderr
    assert all_xml(host) == before


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("http://example.com/", "not a libvirt URI"),
        ("test:///no/such/node.xml", "cannot connect to test:///no/such/node.xml"),
        ("qemu+unix:///system?socket=/nonexistent/sock", "cannot connect"),
    ],
)
def test_unreachable_uris_fail_in_one_line_in_a_real_process(uri, message):
    result = run_vmm("-c", uri, "ls")
    assert result.returncode == 1
    assert result.stderr.startswith("vmm: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_real_process_lists_and_moves_on_a_node_file(tmp_path):
    result = run_vmm("-c", node_uri(), "ls", "-r", "--json")
    assert result.returncode == 0, result.stderr
    assert {vm["name"] for vm in json.loads(result.stdout)} >= {"alpha", "gamma"}
    moved = run_vmm("-c", node_uri(), "mv", "alpha", "/x", env={"XDG_STATE_HOME": str(tmp_path)})
    assert moved.returncode == 0 and "alpha: /lab/web -> /x" in moved.stdout
    # the process leaves without the interpreter's teardown: the journal is written before
    (journal,) = (json.loads(line) for line in (tmp_path / "vmm" / "history.jsonl").open())
    assert (journal["vm"], journal["after"]["path"]) == ("alpha", "/x")


def test_uri_comes_from_environment_then_config(tmp_path):
    env = {"LIBVIRT_DEFAULT_URI": node_uri(), "XDG_CONFIG_HOME": str(tmp_path)}
    assert "alpha" in run_vmm("ls", "-r", env=env).stdout
    (tmp_path / "vmm").mkdir()
    (tmp_path / "vmm" / "config.toml").write_text(f'uri = "{node_uri()}"\n')
    env["LIBVIRT_DEFAULT_URI"] = ""
    assert "alpha" in run_vmm("ls", "-r", env=env).stdout
    (tmp_path / "vmm" / "config.toml").write_text("uri = [\n")
    broken = run_vmm("ls", env=env)
    assert broken.returncode == 1 and broken.stderr.startswith("vmm: error: cannot read")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("timeout = inf", "'timeout' must be a number of seconds"),
        ("timeout = nan", "'timeout' must be a number of seconds"),
        ("timeout = -1", "'timeout' must be a number of seconds"),
        ("timeout = true", "'timeout' must be a number of seconds"),
        ('uri = ""', "'uri' is empty"),
        ('[hosts."lab:east"]\nuri = "test:///default"', "host name 'lab:east' cannot be used"),
        ('menu_command = "fuzzel \'"\nmenu = "dmenu"', "cannot read menu_command"),
    ],
)
def test_bad_config_values_are_one_line(tmp_path, config, message):
    (tmp_path / "vmm").mkdir()
    (tmp_path / "vmm" / "config.toml").write_text(config + "\n")
    env = {"XDG_CONFIG_HOME": str(tmp_path), "LIBVIRT_DEFAULT_URI": node_uri()}
    args = ("--menu", "dmenu") if "menu" in config else ("ls",)
    result = run_vmm(*args, env=env)
    assert result.returncode != 0 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("vmm: error: ") and message in result.stderr


def test_options_that_would_do_nothing_are_refused(run, host):
    bogus = run("ls", "--state", "bogus")
    assert bogus.exit_code == 2 and "'bogus' is not one of" in bogus.stderr
    lonely = run("shutdown", "--timeout", "5", "alpha")
    assert lonely.exit_code == 1 and "--timeout is how long --wait waits" in lonely.stderr
    assert host.find("alpha").state == "running"


def test_a_confirmation_names_the_vms_it_is_about(run, host):
    nothing = run("rm")
    assert nothing.exit_code == 1 and "name at least one VM, folder or --label" in nothing.stderr
    asked = run("rm", "/lab/db")
    assert "Delete: beta? Refusing without --yes" in asked.stderr
    assert host.find("beta")


def test_a_hang_up_under_nohup_is_ignored_as_nohup_asked(tmp_path):
    import signal
    import time

    editor, opened = tmp_path / "slow-editor", tmp_path / "opened"
    change = "sed -i 's|<vcpu[^<]*</vcpu>|<vcpu>2</vcpu>|' \"$1\""
    editor.write_text(f"#!/bin/sh\ntouch {opened}\nsleep 1\n{change}\n")
    editor.chmod(0o755)
    env = {**os.environ, "VISUAL": str(editor), "XDG_STATE_HOME": str(tmp_path)}
    process = subprocess.Popen(
        [vmm_exe(), "-c", node_uri(), "edit", "beta"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),  # what nohup does
    )
    deadline = time.monotonic() + 30
    while not opened.exists() and time.monotonic() < deadline:  # vmm has set its handlers
        time.sleep(0.05)
    process.send_signal(signal.SIGHUP)
    out, err = process.communicate(timeout=30)
    assert (process.returncode, out) == (0, "beta: definition saved\n"), err


def test_an_empty_c_is_refused_not_the_default_host():
    result = run_vmm("-c", "", "ls", env={"LIBVIRT_DEFAULT_URI": node_uri()})
    assert (result.returncode, result.stderr) == (1, "vmm: error: -c needs a host name or a URI\n")


def test_python_dash_m_and_version():

    result = subprocess.run(
        [sys.executable, "-m", "vmm", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "0.1.0" in result.stdout


def test_demo_host_has_what_the_demo_promises():
    vms = json.loads(run_vmm("--demo", "ls", "-r", "--json").stdout)
    states = {vm["state"] for vm in vms}
    assert 20 <= len(vms) <= 30 and {"running", "shutoff", "paused"} <= states
    assert any(vm["managed_save"] for vm in vms)
    assert sum(vm["snapshots"] > 0 for vm in vms) >= 2
    assert sum(vm["path"] == "/" and not vm["labels"] for vm in vms) >= 3
    assert any(" " in vm["name"] for vm in vms) and any(not vm["name"].isascii() for vm in vms)
    assert max(vm["path"].count("/") for vm in vms) >= 3
    assert demo_uri().startswith("test:///")


def test_shell_completion_of_snapshots_base_images_and_pools():
    assert complete("vmm", "--demo", "snapshot", "rm", "postgres-main", "") == [
        "fresh-install",
        "pg-15",
    ]
    assert complete("vmm", "--demo", "new", "x", "--base", "/var") == [
        "/var/lib/libvirt/images/debian-12.qcow2"  # the one image no VM writes
    ]
    assert complete("vmm", "--demo", "new", "x", "--pool", "") == ["default"]


def test_shell_completion_of_vms_folders_and_labels():
    assert complete("vmm", "--demo", "info", "ngi") == ["nginx", "nginx-staging"]
    assert complete("vmm", "--demo", "ls", "/lab/k") == [
        "/lab/k8s",
        "/lab/k8s/control",
        "/lab/k8s/workers",
    ]
    assert complete("vmm", "--demo", "label", "add", "nginx", "-t", "cri") == ["critical"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["tree"], "lab  (3)"),
        (["tree", "-v"], "alpha"),
        (["labels"], "web"),
        (["info", "delta one"], "/lab/web"),
        (["ls", "/lab/web"], "delta one"),
        (["label", "add", "-t", "x", "gamma"], "gamma: x"),
        (["label", "rm", "-t", "web", "alpha"], "alpha: prod"),
        (["mv", "/lab/db", "/db"], "beta: /lab/db -> /db"),
    ],
)
def test_every_subcommand_in_a_real_process(args, expected):
    result = run_vmm("-c", node_uri(), *args)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


def test_the_table_of_lazily_loaded_subcommands_matches_their_modules():

    for module in SUBCOMMANDS:
        importlib.import_module(module)
    defined = {name: command.callback.__module__ for name, command in cli.commands.items()}
    listed = {name: module for module, names in SUBCOMMANDS.items() for name in names}
    assert defined == listed


def test_ls_loads_only_the_module_that_defines_it_and_the_shared_ones():
    probe = (
        "import sys; from vmm.ui.cli import main; sys.argv = ['vmm', '--demo', 'ls']\n"
        "try: main()\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('vmm.ui.cli.')), file=sys.stderr)"
    )

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    shared = ["vmm.ui.cli.base", "vmm.ui.cli.completion", "vmm.ui.cli.output", "vmm.ui.cli.session"]
    assert done.stderr.strip() == str(sorted([*shared, "vmm.ui.cli.listing"]))


def test_json_lists_print_one_element_per_line(run):
    lines = ok(run("ls", "-r", "--json")).splitlines()
    assert lines[0] == "[" and lines[-1] == "]"
    assert [json.loads(line.rstrip(","))["name"] for line in lines[1:-1]] == [
        vm["name"] for vm in json.loads("\n".join(lines))
    ]


def test_menus_without_a_terminal_ask_ssh_passwords_through_vmm_askpass(monkeypatch):

    monkeypatch.delenv("SSH_ASKPASS", raising=False)  # both restored after the test
    monkeypatch.delenv("SSH_ASKPASS_REQUIRE", raising=False)
    use_menu_for_passwords()
    askpass = os.environ["SSH_ASKPASS"]
    assert os.path.basename(askpass) == "vmm-askpass" and os.access(askpass, os.X_OK)
    assert os.environ["SSH_ASKPASS_REQUIRE"] == "force"


def test_closed_output_streams_do_not_turn_into_a_traceback():
    def run_with_closed(fd):
        return subprocess.run(
            [vmm_exe(), "--demo", "ls"],
            capture_output=True,
            text=True,
            preexec_fn=lambda: os.close(fd),  # as `vmm ls >&-` in a shell
        )

    closed_stdout = run_with_closed(1)  # output lost: a failure, said in one line
    assert closed_stdout.returncode == 1 and closed_stdout.stderr.count("\n") == 1
    closed_stderr = run_with_closed(2)
    assert closed_stderr.returncode == 0 and "büro-pc" in closed_stderr.stdout


def test_version_verbose_says_what_vmm_runs_on():
    import libvirt

    from vmm import __version__
    from vmm.ui.menus import fzf_binary

    result = run_vmm("--demo", "--version", "-v")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"vmm, version {__version__}"
    major, minor = libvirt.getVersion() // 1_000_000, libvirt.getVersion() // 1000 % 1000
    assert lines[2].startswith(f"libvirt {major}.{minor}.")
    path, fzf_version = fzf_binary.find()
    assert lines[3] == f"fzf {'.'.join(map(str, fzf_version))} ({path})"
    assert lines[4].startswith("host test://") and "TEST" in lines[4]


def test_version_verbose_says_which_host_did_not_answer(tmp_path):
    missing = f"test+unix:///default?socket={tmp_path}/none"
    result = run_vmm("-c", missing, "-V", "-v")
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1].startswith(f"host {missing}: cannot connect to")
    assert run_vmm("-V", "-v", "--frob").stderr == (
        "vmm: error: --version -v takes only -c HOST and --demo, not '--frob'\n"
    )


def test_version_verbose_into_a_reader_that_leaves_says_nothing_more():
    done = subprocess.run(
        ["sh", "-c", f"{shlex.quote(vmm_exe())} --demo -V -v | head -1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.startswith("vmm, version ") and done.stderr == ""
