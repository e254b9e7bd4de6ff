"""What vmm writes to disk is the user's alone, never written through a planted link, and
stays small; what it prints cannot steer a terminal; completion cannot run a name."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from conftest import node_uri, run_vmm

from vmm import cache, history
from vmm.history import Entry, History


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_history_is_private_in_a_private_directory(tmp_path):
    state = tmp_path / "state"
    (state / "vmm").mkdir(parents=True, mode=0o755)
    (state / "vmm").chmod(0o755)  # as an older vmm left it
    moved = run_vmm("-c", node_uri(), "mv", "alpha", "/x", env={"XDG_STATE_HOME": str(state)})
    assert moved.returncode == 0, moved.stderr
    assert mode(state / "vmm") == 0o700 and mode(state / "vmm" / "history.jsonl") == 0o600


def test_a_link_planted_at_the_history_is_not_followed(tmp_path):
    state = tmp_path / "state" / "vmm"
    state.mkdir(parents=True)
    target = tmp_path / "victim"
    target.write_text("precious\n")
    (state / "history.jsonl").symlink_to(target)
    moved = run_vmm(
        "-c", node_uri(), "mv", "alpha", "/x", env={"XDG_STATE_HOME": str(tmp_path / "state")}
    )
    assert moved.returncode == 0 and moved.stdout == "alpha: /lab/web -> /x\n"
    assert "vmm: warning: cannot write history to" in moved.stderr
    assert "it is a symbolic link: not followed" in moved.stderr
    assert target.read_text() == "precious\n"


def test_the_history_rotates_and_keeps_the_recent_entries(tmp_path, monkeypatch):
    monkeypatch.setattr(history, "ROTATE_BYTES", 4096)
    journal = History(tmp_path / "vmm" / "history.jsonl")
    for n in range(200):
        journal.record(Entry("h", f"vm{n}", f"u{n}", "start"))
    assert not journal.failures
    assert os.path.getsize(journal.path) <= 4096 and os.path.getsize(journal.older) <= 4096
    shown = [entry.vm for entry in journal.entries()]
    assert shown[-1] == "vm199" and shown == [f"vm{n}" for n in range(200 - len(shown), 200)]
    assert len(shown) > 20 and mode(Path(journal.older)) == 0o600


def a_listing():
    import libvirt

    from vmm.host import Host

    host = Host(libvirt.open(node_uri()))
    try:
        return host.domains()
    finally:
        host.close()


def test_the_cache_is_private_and_never_written_through_a_link(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = Path(cache.cache_path("k"))
    path.parent.mkdir(parents=True)
    target = tmp_path / "victim"
    target.write_text("precious\n")
    path.symlink_to(target)
    assert cache.load("k") is None  # a link is no cache
    Path(f"{path}.tmp").symlink_to(target)
    cache.save("k", a_listing())
    assert target.read_text() == "precious\n"
    assert not os.path.lexists(f"{path}.tmp")  # the planted link went, not its target
    cache.save("k", a_listing())
    assert target.read_text() == "precious\n" and not path.is_symlink()
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert [d.name for d in cache.load("k")] == [d.name for d in a_listing()]
