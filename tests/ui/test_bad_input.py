"""What a new user types wrong (issue 16, "Inputs"): each answered in one line, in words a user
knows, with the exit code that says what went wrong (2 usage, 1 failure, 130 interrupted)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from conftest import complete, domain_xml, node_uri, run_vmm, vmm_exe

from vmm.ops.registry import simple_commands


def ok(result):
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout


def one_error(result, code: int = 1) -> str:
    """The one `vmm: error: ...` line of a failed command (warnings aside)."""
    assert result.exit_code == code, result.output + result.stderr
    errors = [line for line in result.stderr.splitlines() if not line.startswith("vmm: warning:")]
    assert len(errors) == 1 and errors[0].startswith("vmm: error: "), result.stderr
    assert "Traceback" not in result.output + result.stderr
    return errors[0]


# -- 1. label takes several VMs, folders and --label; the labels come with -t ------------------


def test_label_add_takes_several_vms_and_labels_given_with_t(run, host):
    out = ok(run("label", "add", "-t", "new", "--tag", "web", "alpha", "gamma"))
    assert "alpha: web, prod, new" in out and "gamma: new, web" in out
    assert host.find("gamma").labels == ("new", "web")


def test_label_add_and_rm_take_folders_and_label_selections(run, host):
    ok(run("label", "add", "-t", "x", "/lab/web"))
    assert "x" in host.find("alpha").labels and "x" in host.find("delta one").labels
    assert "x" not in host.find("beta").labels
    ok(run("label", "rm", "-t", "x", "--label", "prod"))
    assert "x" not in host.find("alpha").labels and "x" in host.find("delta one").labels


def test_label_rm_of_a_label_some_chosen_vms_lack_leaves_those_unchanged(run, host):
    out = ok(run("label", "rm", "-t", "prod", "alpha", "gamma"))
    assert "alpha: web" in out and "gamma: unchanged" in out


def test_label_rm_of_a_label_no_chosen_vm_carries_is_refused(run, host):
    assert "has no label 'absent'" in one_error(run("label", "rm", "-t", "absent", "alpha"))
    assert "none of the VMs" in one_error(run("label", "rm", "-t", "absent", "alpha", "beta"))


def test_the_old_ambiguous_label_form_is_refused_showing_the_new_one(run, host):
    before = {d.name: d.labels for d in host.domains()}
    line = one_error(run("label", "add", "alpha", "gamma", "web2"), code=2)
    assert "vmm label add -t LABEL" in line
    assert {d.name: d.labels for d in host.domains()} == before


def test_label_rm_completion_offers_that_vms_labels_only():
    assert complete("vmm", "-c", node_uri(), "label", "rm", "alpha", "-t", "") == ["prod", "web"]
    assert complete("vmm", "-c", node_uri(), "label", "rm", "beta", "-t", "") == ["db"]
    every = complete("vmm", "-c", node_uri(), "label", "add", "gamma", "-t", "")
    assert every == ["db", "prod", "web"]


# -- 2. a relative folder path is a folder everywhere, as in `ls` ------------------------------


def test_relative_folder_paths_work_in_mv_and_actions_as_in_ls(run, host):
    assert "delta one" in ok(run("ls", "lab/web"))
    ok(run("mv", "lab/web", "/moved"))
    assert host.find("alpha").path == host.find("delta one").path == "/moved"
    paused = run("pause", "moved/")
    assert "alpha: paused" in paused.stdout and "'delta one': it is shut off" in paused.stderr
    assert host.find("alpha").state == "paused"
    assert "no VM named 'moved'; for the folder, write /moved" in one_error(
        run("label", "add", "-t", "x", "moved")
    )


def test_a_folder_named_without_a_slash_is_a_vm_name_and_the_error_says_how(run, host):
    line = one_error(run("start", "lab"))
    assert "no VM named 'lab'" in line and "for the folder, write /lab" in line
    assert "for the folder" in one_error(run("mv", "lab", "/x"))
    assert host.find("alpha").path == "/lab/web"


# -- 6. a selection that matches nothing is an error ---------------------------------------------


def test_a_folder_narrowed_to_nothing_by_label_says_so(run, host):
    line = one_error(run("start", "/lab/web", "--label", "nosuch"))
    assert "no VM in /lab/web carries the label(s) nosuch" in line


# -- 3. a name that is another VM's UUID -----------------------------------------------------


def test_a_name_that_is_another_vms_uuid_is_refused_in_any_case(run, host):
    uuid = host.find("beta").uuid.lower()
    host.conn.defineXML(domain_xml(uuid))  # a VM named like beta's UUID
    for spelling in (uuid, uuid.upper()):
        line = one_error(run("info", spelling))
        assert f"is the UUID of VM 'beta', and VM '{uuid}' is named so" in line
    assert "path:" in ok(run("info", "beta"))


# -- 4. a wait that would never end --------------------------------------------------------------


@pytest.mark.parametrize(
    "option", [["--wait", "--timeout"], ["--force-after"], ["--wait", "--force-after"]]
)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "-1", "soon"])
def test_shutdown_waits_that_would_never_end_are_refused(run, host, option, value):
    line = one_error(run("shutdown", *option, value, "alpha"), code=2)
    assert "is not a number of seconds" in line
    assert host.find("alpha").state == "running"


# -- 5. host choices that contradict each other ------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--all-hosts", "-c", node_uri()], "-c picks one host and --all-hosts every"),
        (["-c", "lab", "--all-hosts"], "-c picks one host and --all-hosts every"),
        (["--demo", "-c", "X"], "--demo is a host of its own: it cannot go with -c"),
        (["--demo", "--all-hosts"], "--demo is a host of its own: it cannot go with --all-hosts"),
    ],
)
def test_host_options_that_contradict_each_other_are_a_usage_error(args, message):
    result = run_vmm(*args, "ls")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"vmm: error: {message}")
    assert len(result.stderr.splitlines()) == 1


# -- 7. a config key with a typo ---------------------------------------------------------------


def test_unknown_config_keys_are_warned_of_with_file_and_line(tmp_path):
    config = tmp_path / "vmm" / "config.toml"
    config.parent.mkdir()
    config.write_text(
        'menu = "fzf"\ntimout = 3\n\n[hosts.lab]\nuri = "test:///default"\npol = "p"\n'
        '[hosts.far]\nuri = "test:///default"\nextra = { a = 1 }\n'
    )
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    result = run_vmm("-c", node_uri(), "ls", env=env)
    assert result.returncode == 0 and "gamma" in result.stdout
    assert [line for line in result.stderr.splitlines() if "config" in line] == [
        f"vmm: warning: {config}:2: unknown key 'timout' is ignored (did you mean 'timeout'?)",
        f"vmm: warning: {config}:6: unknown key 'hosts.lab.pol' is ignored (did you mean 'pool'?)",
        f"vmm: warning: {config}:9: unknown key 'hosts.far.extra' is ignored (known: uri, pool)",
    ]


# -- 8. output that cannot be written ----------------------------------------------------------


def _ls_writing_to(stdout, preexec_fn=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [vmm_exe(), "-c", node_uri(), "ls", "-r"],
        stdout=stdout,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=60,
        preexec_fn=preexec_fn,
    )


def test_a_full_disk_under_the_output_is_one_line_not_an_internal_error():
    with open("/dev/full", "w") as full:
        result = _ls_writing_to(full)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "warning" not in line]
    assert errors == ["vmm: error: cannot write the output: No space left on device"]


def test_a_closed_standard_output_is_an_error_not_output_lost_at_exit_0():
    result = _ls_writing_to(None, preexec_fn=lambda: os.close(1))  # as `vmm ls >&-`
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "warning" not in line]
    assert errors == ["vmm: error: the standard output is closed: nothing can be written"]


# -- 9. the fzf menu without a terminal --------------------------------------------------------


def test_the_fzf_menu_without_a_terminal_says_it_needs_one():
    result = run_vmm("-c", node_uri(), "--menu", "fzf")  # stdin is /dev/null, stdout a pipe
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("vmm: error: the fzf menu needs a terminal")
    assert len(result.stderr.splitlines()) == 1 and "too small" not in result.stderr


# -- 10. libvirt's words never reach the user; every error names its VM ------------------------


def transient(host, name: str = "tvm"):
    """A running transient VM: it ends when it shuts down."""
    return host.conn.createXML(domain_xml(name), 0)


def test_a_snapshot_name_taken_is_said_in_vmms_words(run, host):
    ok(run("snapshot", "create", "alpha", "s1"))
    line = one_error(run("snapshot", "create", "alpha", "s1"))
    assert line == "vmm: error: alpha: a snapshot named 's1' already exists"


def test_libvirts_refusals_are_said_in_vmms_words_naming_the_vm(run, host):
    transient(host)
    result = run("save", "tvm", "alpha")
    assert result.exit_code == 1 and "alpha: state saved" in result.stdout
    assert result.stderr == (
        "vmm: error: tvm: a transient VM's state cannot be saved (only a defined VM's)\n"
    )


def test_a_transient_vm_shut_down_says_it_is_gone(run, host):
    transient(host)
    assert "tvm: shutdown requested (it is transient: it is gone once shut down)" in ok(
        run("shutdown", "tvm")
    )
    assert "tvm" not in {d.name for d in host.domains()}


def test_a_vm_gone_between_choosing_and_acting_says_so_not_no_domain(host):
    from vmm.ops.perform import perform_each
    from vmm.ops.selection import select

    dom = transient(host)
    chosen = select(host, ["tvm"])
    dom.destroy()  # another client: the transient VM is gone
    (outcome,) = perform_each(chosen, "pause")
    assert not outcome.ok and outcome.message.startswith("tvm: it is gone:")
    assert "transient" in outcome.message and "domain" not in outcome.message.lower()


@pytest.mark.parametrize(
    ("code", "said", "meant"),
    [
        ("VIR_ERR_OPERATION_INVALID", "Requested operation is not valid", "current state"),
        (
            "VIR_ERR_OPERATION_FAILED",
            "operation failed: domain moment x already exists",
            "snapshot",
        ),
        ("VIR_ERR_INTERNAL_ERROR", "internal error: Domain 'a' is already running", "already"),
    ],
)
def test_libvirt_wording_is_translated(code, said, meant):
    """libvirt's errors are built by hand here: no call of the test driver raises these exact
    words on cue (the ones above do, and are tested for real)."""
    import libvirt

    from vmm.virt.errors import translate

    err = libvirt.libvirtError(said)
    err.err = (getattr(libvirt, code), libvirt.VIR_FROM_DOMAIN, said, 2, None, None, None, 0, 0)
    words = str(translate(err))
    assert meant in words and "domain" not in words.lower() and "not valid" not in words


# -- 11. Ctrl-C says what it interrupted and what was undone -----------------------------------


def test_ctrl_c_during_shutdown_wait_says_what_it_interrupted(run, host, monkeypatch):
    """A guest that ignores the shutdown request cannot be had on the test driver (it shuts
    down at once): shutdown() is made a no-op. The Ctrl-C is a real SIGINT, sent once vmm
    waits."""
    import signal
    import threading

    asked = threading.Event()
    monkeypatch.setattr(type(host.lookup("alpha")), "shutdown", lambda self, *a: asked.set())

    def ctrl_c() -> None:
        asked.wait(30)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=ctrl_c, daemon=True).start()
    result = run("shutdown", "--wait", "--timeout", "30", "alpha")
    assert result.exit_code == 130
    assert result.stderr == (
        "vmm: interrupted while waiting for 'alpha' to shut down: the shutdown was asked and"
        " goes on in the guest; nothing was forced off, nothing is undone\n"
    )


# -- 12. the demo leaves no trace in the user's history ----------------------------------------


def test_demo_runs_are_not_written_to_the_users_history(tmp_path):
    env = {"XDG_STATE_HOME": str(tmp_path)}
    moved = run_vmm("--demo", "mv", "nginx", "/elsewhere", env=env)
    assert moved.returncode == 0 and "nginx: /lab/web -> /elsewhere" in moved.stdout
    assert run_vmm("--demo", "pause", "nginx", env=env).returncode == 0
    assert not (tmp_path / "vmm" / "history.jsonl").exists()
    real = run_vmm("-c", node_uri(), "mv", "alpha", "/x", env=env)  # a real host still is
    assert real.returncode == 0 and (tmp_path / "vmm" / "history.jsonl").exists()


# -- --help shows an example -------------------------------------------------------------------

OWN_COMMANDS = [
    [],
    ["mv"],
    ["label"],
    ["label", "add"],
    ["label", "rm"],
    ["start"],
    ["shutdown"],
    ["discard-save"],
    *([action.name] for action in simple_commands()),
]


@pytest.mark.parametrize("command", OWN_COMMANDS, ids=lambda words: " ".join(words) or "vmm")
def test_help_shows_an_example(run, command):
    text = ok(run(*command, "--help"))
    examples = text.split("Examples:\n", 1)[1].split("\n\n", 1)[0]
    assert examples.splitlines()[0].strip().startswith(" ".join(["vmm", *command]))
