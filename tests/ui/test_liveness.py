"""A host that never answers: vmm gives up within its timeout, and Ctrl-C ends it at once,
even while its main thread is held inside a libvirt call (real processes, real sockets)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import vmm_exe

# Bounds far above what each step takes: they only tell a hang from an answer.
HANG = 20


@pytest.fixture
def silent_endpoint(tmp_path: Path) -> Iterator[str]:
    """A socket that accepts every connection and never says a word."""
    path = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(16)
    accepted = []

    def serve() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    yield f"test+unix:///default?socket={path}"
    server.close()


def configured(tmp_path: Path, timeout: float) -> dict[str, str]:
    config = tmp_path / "config" / "vmm"
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(f"timeout = {timeout}\n")
    return {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}


def start(uri: str, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [vmm_exe(), "-c", uri, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def stopped(process: subprocess.Popen) -> bool:
    return Path(f"/proc/{process.pid}/stat").read_text().rpartition(")")[2].split()[0] == "T"


def test_a_host_that_never_answers_fails_within_the_timeout(silent_endpoint, tmp_path):
    vmm = start(silent_endpoint, "ls", env=configured(tmp_path, 1))
    out, err = vmm.communicate(timeout=HANG)
    assert vmm.returncode == 1 and out == ""
    assert err == f"vmm: error: cannot connect to {silent_endpoint}: no answer within 1s\n"


def test_ctrl_c_ends_the_wait_for_a_silent_host(silent_endpoint, tmp_path):
    vmm = start(silent_endpoint, "ls", env=configured(tmp_path, 600))
    time.sleep(1)
    vmm.send_signal(signal.SIGINT)
    _, err = vmm.communicate(timeout=HANG)
    assert vmm.returncode == 130 and "Traceback" not in err


@pytest.fixture
def daemon_behind(private_daemon):
    return private_daemon


def held_in_a_call(daemon, tmp_path: Path, timeout: float, *args: str) -> subprocess.Popen:
    """vmm connected to the daemon, which then stops answering; vmm goes on and waits in
    libvirt's C code for an answer that never comes."""
    env = {**configured(tmp_path, timeout), "VMM_FAULTS": "session.opened:stop"}
    vmm = start(daemon.uri, *(args or ("ls",)), env=env)
    deadline = time.monotonic() + HANG
    while not stopped(vmm):
        assert time.monotonic() < deadline and vmm.poll() is None
        time.sleep(0.02)
    os.killpg(daemon.process.pid, signal.SIGSTOP)
    os.kill(vmm.pid, signal.SIGCONT)
    return vmm


@pytest.mark.parametrize(
    ("command", "why"),
    [
        (("info", "test"), "keepalive"),  # libvirt's keepalive closed the connection
        (("ls",), "no answer within 2s"),  # the listing's own guard: no event loop for `ls`
    ],
)
def test_a_host_that_stops_answering_mid_call_is_given_up(daemon_behind, tmp_path, command, why):
    vmm = held_in_a_call(daemon_behind, tmp_path, 2, *command)
    try:
        _, err = vmm.communicate(timeout=HANG)
    finally:
        os.killpg(daemon_behind.process.pid, signal.SIGCONT)
    assert vmm.returncode == 1
    assert err.startswith("vmm: error: lost the connection to libvirt:") and why in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (
            ("info", "test"),
            "vmm: interrupted while waiting on libvirt (what it was asked may go on there)",
        ),  # on the main thread
        (("ls",), "vmm: interrupted"),  # on the listing's threads: the main thread only waits
    ],
)
def test_ctrl_c_ends_vmm_while_a_call_never_returns(daemon_behind, tmp_path, command, said):
    vmm = held_in_a_call(daemon_behind, tmp_path, 600, *command)
    try:
        time.sleep(1)  # well inside the call by now
        vmm.send_signal(signal.SIGINT)
        _, err = vmm.communicate(timeout=HANG)
    finally:
        os.killpg(daemon_behind.process.pid, signal.SIGCONT)
    assert vmm.returncode == 130
    assert err.strip() == said


def test_the_picker_draws_the_last_listing_while_the_host_is_silent(
    silent_endpoint, tmp_path, monkeypatch
):
    import libvirt
    from conftest import node_uri, require_tmux_and_fzf
    from tmux import Terminal

    from vmm.ui import cache
    from vmm.virt.host import Host

    require_tmux_and_fzf()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    seen = Host(libvirt.open(node_uri()))
    cache.save(silent_endpoint, seen.domains())  # what the last run listed on that host
    seen.close()
    env = {**configured(tmp_path, 600), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env["TERM"] = "xterm-256color"
    term = Terminal([vmm_exe(), "-c", silent_endpoint], env, cwd=str(tmp_path))
    try:
        screen = term.wait_for("○ gamma  shutoff")  # the cached rows, the host still silent
        assert "▸ lab/  (3)" in screen and "vmm · test+unix:///default?socket=" in screen
        term.keys("C-c")
        assert term.exit_status() == 130
    finally:
        term.close()
