"""The manual pages: written from the commands, current, valid roff; `vmm help` shows them."""

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import click
import pytest
from conftest import complete, require, run_vmm, vmm_exe

from vmm.ui.cli import cli, manpage

PAGES = Path(__file__).parents[2] / "vmm" / "data" / "man"


def _command_names() -> list[str]:
    ctx = click.Context(cli, info_name="vmm")
    return cli.list_commands(ctx)


def _render(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["man", "--warnings", "-l", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat", "LC_ALL": "C.UTF-8"},
        check=False,
    )


def test_the_committed_pages_are_what_the_commands_say():
    written = manpage.pages(cli)
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in PAGES.glob("*.1")}
    assert set(on_disk) == set(written), "run `make man`: pages and commands differ"
    stale = [name for name, text in written.items() if on_disk[name] != text]
    assert not stale, f"run `make man`: {stale} no longer match their commands"


def test_there_is_a_page_for_vmm_and_for_every_command():
    assert {path.name for path in PAGES.glob("*.1")} == {
        "vmm.1",
        *(f"vmm-{name}.1" for name in _command_names()),
    }


def test_every_page_renders_without_a_warning():
    require(shutil.which("man") is not None, "man is not installed (make test installs man-db)")
    for path in sorted(PAGES.glob("*.1")):
        shown = _render(path)
        assert shown.returncode == 0, (path.name, shown.stderr)
        assert shown.stderr == "", (path.name, shown.stderr)
        title = path.stem.upper()
        assert shown.stdout.startswith(f"{title}(1)"), path.name


def test_a_command_page_has_its_options_and_examples():
    shown = _render(PAGES / "vmm-clone.1").stdout
    assert "vmm clone [OPTIONS] SOURCE NAME" in shown
    assert "--linked" in shown and "EXAMPLES" in shown
    snapshot = _render(PAGES / "vmm-snapshot.1").stdout
    assert "vmm snapshot revert [OPTIONS] VM [NAME]" in snapshot  # a group's subcommands
    assert snapshot.count("vmm snapshot create postgres-main before-upgrade") == 1


def test_the_root_page_lists_every_command_files_and_exit_status():
    shown = _render(PAGES / "vmm.1").stdout
    for name in _command_names():
        assert f"\n       {name}" in shown, name
    assert "~/.config/vmm/config.toml" in shown and "EXIT STATUS" in shown


def test_help_in_a_pipe_prints_the_commands_help_with_examples():
    result = run_vmm("help", "ls")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: vmm ls [OPTIONS] [PATH]")
    assert "vmm ls -r --json | jq -r '.[].name'" in result.stdout
    root = run_vmm("help")
    assert root.returncode == 0 and root.stdout.startswith("Usage: vmm [OPTIONS] [COMMAND]")


def test_help_on_an_unknown_command_is_one_line_and_exit_1():
    result = run_vmm("help", "--nope-$(id)")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    result = run_vmm("help", "frobnicate")
    assert result.returncode == 1
    assert result.stderr == "vmm: error: no command 'frobnicate' (vmm help lists them all)\n"


@pytest.mark.parametrize("command", ["ls", "snapshot", None])
def test_help_on_a_terminal_opens_the_manual_page(command):
    require(shutil.which("man") is not None, "man is not installed (make test installs man-db)")
    require(shutil.which("script") is not None, "script (util-linux) is not installed")
    words = [vmm_exe(), "help", *([command] if command else [])]
    shown = subprocess.run(  # script(1) gives vmm a terminal; MANPAGER=cat prints the page
        ["script", "-qec", shlex.join(words), "/dev/null"],
        capture_output=True,
        text=True,
        env={**os.environ, "MANPAGER": "cat", "MANWIDTH": "80", "LC_ALL": "C.UTF-8"},
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    title = "VMM" if command is None else f"VMM-{command.upper()}"
    assert shown.stdout.lstrip().startswith(f"{title}(1)"), shown.stdout[:200]


def test_help_completes_command_names():
    assert complete("vmm", "help", "sn") == ["snapshot"]
    assert {"ls", "labels"} <= set(complete("vmm", "help", "l"))
