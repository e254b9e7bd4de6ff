import json

from conftest import node_uri, run_vmm

from vmm.model.journal import Entry
from vmm.ops.history import History


def test_entries_round_trip_and_filter(tmp_path):
    history = History(tmp_path / "deep" / "history.jsonl")
    history.record(Entry("test:///x", "a", "u-1", "start", "started"))
    history.record(
        Entry("test:///x", "b", "u-2", "move", before={"path": "/"}, after={"path": "/x"})
    )
    assert [e.vm for e in history.entries()] == ["a", "b"]
    assert [e.action for e in history.entries("u-2")] == ["move"]


def test_a_journal_named_without_a_directory_lands_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    history = History("history.jsonl")
    history.record(Entry("h", "a", "u", "start"))
    assert not history.failures and (tmp_path / "history.jsonl").exists()


def test_a_torn_line_does_not_hide_the_rest(tmp_path):
    path = tmp_path / "history.jsonl"
    history = History(path)
    history.record(Entry("h", "a", "u", "start"))
    with path.open("a") as journal:
        journal.write('{"half": \n')
    history.record(Entry("h", "b", "u2", "off"))
    assert [e.vm for e in history.entries()] == ["a", "b"]


def test_a_stray_byte_spoils_only_its_own_line(tmp_path):
    history = History(tmp_path / "vmm" / "history.jsonl")
    history.record(Entry("h", "a", "u", "start"))
    with open(history.path, "ab") as journal:
        journal.write(b'{"host": "h", "vm": "b\xff", "uuid": "u2", "action": "off"}\n')
    history.record(Entry("h", "c", "u3", "start"))
    assert [e.vm for e in history.entries()] == ["a", "b\ufffd", "c"]
    shown = run_vmm("history", env={"XDG_STATE_HOME": str(tmp_path)})
    assert shown.returncode == 0 and shown.stdout.count("\n") == 3, shown.stderr


def test_an_unreadable_history_is_one_line(tmp_path):
    (tmp_path / "vmm" / "history.jsonl").mkdir(parents=True)
    shown = run_vmm("history", env={"XDG_STATE_HOME": str(tmp_path)})
    assert shown.returncode == 1
    assert (
        shown.stderr
        == f"vmm: error: cannot read the history {tmp_path}/vmm/history.jsonl: Is a directory\n"
    )


def test_unwritable_history_is_a_warning_not_a_failure(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    history = History(blocker / "history.jsonl")
    history.record(Entry("h", "a", "u", "start"))
    assert history.failures and "cannot write history" in history.failures[0]


def test_history_command_in_real_processes(tmp_path):
    env = {"XDG_STATE_HOME": str(tmp_path)}
    moved = run_vmm("-c", node_uri(), "mv", "/lab", "/old-lab", env=env)
    assert moved.returncode == 0
    entries = json.loads(run_vmm("history", "--json", env=env).stdout)
    assert {(e["vm"], e["before"]["path"], e["after"]["path"]) for e in entries} == {
        ("alpha", "/lab/web", "/old-lab/web"),
        ("beta", "/lab/db", "/old-lab/db"),
        ("delta one", "/lab/web", "/old-lab/web"),
    }
    text = run_vmm("history", "beta", env=env).stdout
    assert "beta  move: /lab/db #db -> /old-lab/db #db" in text


def test_a_journal_placed_in_a_shared_directory_leaves_that_directory_open(tmp_path):
    """A journal path straight in /tmp once made /tmp private (0700) to every other user."""
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    history = History(shared / "history.jsonl")
    history.record(Entry("h", "a", "u", "start"))
    assert oct(shared.stat().st_mode & 0o7777) == "0o1777"
    why = "is a shared directory: vmm keeps its files in one of its own"
    assert history.failures == [f"cannot write history: {shared} {why}"]
