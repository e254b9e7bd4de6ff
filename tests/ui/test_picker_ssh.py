"""The picker's SSH from a launcher (wofi, dmenu): ssh opens in the user's terminal emulator,
detached, and the launcher is never held; in a terminal (fzf) ssh runs in that terminal.

The terminal here is a real program, a small script that writes down the argv it was given and
then lingers, as a terminal window does while ssh runs in it."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import pytest
from fakemenu import RecordingNotifier, ScriptedMenu, pick

from vmm.ui.picker.flow import Picker
from vmm.virt import reach

OPEN_ALPHA = (pick("lab/"), pick("web/"), pick("alpha"), pick("SSH"))
SSH = ["ssh", "-o", f"ConnectTimeout={reach.SSH_CONNECT_TIMEOUT}", "192.168.122.3"]


def fake_terminal(where: Path, seconds: float = 5) -> tuple[Path, Path]:
    script, argv = where / "term", where / "argv"
    script.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > {argv}.part\nmv {argv}.part {argv}\nsleep {seconds}\n'
    )
    script.chmod(0o755)
    return script, argv


def drive(host, *, terminal: bool = False) -> RecordingNotifier:
    menu, notifier = ScriptedMenu(deque(OPEN_ALPHA)), RecordingNotifier()
    Picker(host, menu, notifier, terminal=terminal).run()
    assert not menu.steps
    return notifier


def written(argv: Path) -> list[str]:
    deadline = time.monotonic() + 10
    while not argv.exists():
        assert time.monotonic() < deadline, "the terminal was never started"
        time.sleep(0.05)
    return argv.read_text().splitlines()


@pytest.fixture
def config_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "config"
    (home / "vmm").mkdir(parents=True)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("TERMINAL", raising=False)
    return home


def test_ssh_from_a_launcher_opens_in_terminal_and_does_not_wait(
    host, tmp_path, config_home, monkeypatch
):
    script, argv = fake_terminal(tmp_path)
    monkeypatch.setenv("TERMINAL", str(script))
    started = time.monotonic()
    notifier = drive(host)
    assert time.monotonic() - started < 3  # the terminal lingers 5 s: the picker did not wait
    assert written(argv) == ["-e", *SSH]
    assert ("info", "alpha: ssh opened in term") in notifier.said


def test_the_config_names_the_terminal_when_terminal_is_unset(host, tmp_path, config_home):
    script, argv = fake_terminal(tmp_path, seconds=0)
    (config_home / "vmm" / "config.toml").write_text(f"terminal = \"{script} --title 'vmm ssh'\"\n")
    drive(host)
    assert written(argv) == ["--title", "vmm ssh", "-e", *SSH]


def test_no_terminal_known_is_said(host, config_home):
    notifier = drive(host)
    config = config_home / "vmm" / "config.toml"
    assert notifier.said[-1] == (
        "error",
        f'ssh needs a terminal: set $TERMINAL, or terminal = "foot" in the config file ({config})',
    )
