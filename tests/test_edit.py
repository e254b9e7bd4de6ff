"""Editing a VM's XML with the user's editor: scripted editors stand in for a person."""

import stat

import pytest

from vmm import edit
from vmm.errors import InvalidInput


def editor(tmp_path, body: str) -> str:
    script = tmp_path / "editor.sh"
    script.write_text(f"#!/bin/sh\nset -e\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def memory_kib(host, name):
    return host.find(name).memory_kib


def test_edit_defines_the_change(run, host, tmp_path, monkeypatch):
    change = (
        's|<memory unit=.KiB.>[0-9]*</memory>|<memory unit="KiB">262144</memory>|;'
        " s|<currentMemory[^>]*>[0-9]*</currentMemory>||"
    )
    monkeypatch.setenv("VISUAL", editor(tmp_path, f"sed -i '{change}' \"$1\""))
    result = run("edit", "beta")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "beta: definition saved\n"
    assert memory_kib(host, "beta") == 262144


def test_unchanged_means_no_define(run, host, tmp_path, monkeypatch, history):
    monkeypatch.setenv("VISUAL", editor(tmp_path, "true"))
    assert run("edit", "beta").stdout == "beta: no change\n"
    assert history.entries("beta") == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("echo '<domain' > \"$1\"", "not well-formed XML"),
        (
            "sed -i 's|<memory unit=.KiB.>[0-9]*</memory>|<memory>lots</memory>|' \"$1\"",
            "libvirt refused it",
        ),
        (
            "sed -i 's|<uuid>.*</uuid>|<uuid>00000000-0000-0000-0000-000000000001</uuid>|' \"$1\"",
            "UUID may not change",
        ),
    ],
)
def test_invalid_xml_is_refused_and_nothing_changes(
    run, host, tmp_path, monkeypatch, body, message
):
    before = host.lookup("beta").XMLDesc(0)
    monkeypatch.setenv("VISUAL", editor(tmp_path, body))
    result = run("edit", "beta")
    assert result.exit_code == 1 and message in result.stderr
    assert host.lookup("beta").XMLDesc(0) == before


def test_missing_editor(run, monkeypatch):
    monkeypatch.setenv("VISUAL", "no-such-editor --flag")
    result = run("edit", "beta")
    assert result.exit_code == 1 and "editor 'no-such-editor' not found" in result.stderr


def test_editor_argv_is_split_like_a_shell_but_never_run_by_one(monkeypatch):
    monkeypatch.setenv("VISUAL", "code --wait '$(touch x)'")
    assert edit.editor_argv() == ["code", "--wait", "$(touch x)"]
    with pytest.raises(InvalidInput):
        edit.edit_text("x", "y")
