"""Editing a VM's XML with the user's editor: scripted editors stand in for a person."""

import stat
from pathlib import Path

import pytest
from conftest import SHARED_URI, run_vmm, vmm_exe, vmm_meta

from vmm.model.errors import InvalidInput
from vmm.ops import edit
from vmm.virt.host import Host


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
        (  # with no UUID and a new name, libvirt would define a second VM on the same disks
            "sed -i 's|<uuid>.*</uuid>||; s|<name>beta</name>|<name>beta2</name>|' \"$1\"",
            "UUID may not change or go",
        ),
        ("printf '\\377' >> \"$1\"", "the file is not UTF-8 text"),
        ('rm "$1"', "cannot read the edited file: No such file or directory"),
        ("sed -i 's|<vcpu[^<]*</vcpu>|<vcpu>2</vcpu>|' \"$1\"; exit 3", "exited with status 3"),
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
    assert [d.name for d in host.domains()].count("beta2") == 0


def test_missing_editor(run, monkeypatch):
    monkeypatch.setenv("VISUAL", "no-such-editor --flag")
    result = run("edit", "beta")
    assert result.exit_code == 1 and "editor 'no-such-editor' not found" in result.stderr


def test_editor_argv_is_split_like_a_shell_but_never_run_by_one(monkeypatch):
    monkeypatch.setenv("VISUAL", "code --wait '$(touch x)'")
    assert edit.editor_argv() == ["code", "--wait", "$(touch x)"]
    draft = edit.Draft("x", "y")
    with pytest.raises(InvalidInput):
        draft.edit()
    draft.discard()


def test_an_editor_command_with_unbalanced_quotes_is_one_line(run, monkeypatch):
    monkeypatch.setenv("VISUAL", "vim '-c")
    result = run("edit", "beta")
    assert result.exit_code == 1
    assert (
        result.stderr
        == 'vmm: error: cannot read the editor command "vim \'-c": No closing quotation\n'
    )


def test_a_change_made_while_editing_is_not_undone(shared, tmp_path):
    vm = shared("edited", meta=vmm_meta("/before"))
    move = f"{vmm_exe()} -c {SHARED_URI} mv {vm.name()} /moved"  # someone else, meanwhile
    body = f"{move} >/dev/null\nsed -i 's|<vcpu[^<]*</vcpu>|<vcpu>2</vcpu>|' \"$1\""
    env = {"VISUAL": editor(tmp_path, body), "XDG_STATE_HOME": str(tmp_path)}
    result = run_vmm("-c", SHARED_URI, "edit", vm.name(), env=env)
    assert result.returncode == 1
    assert "was changed by someone else while you edited it" in result.stderr
    kept = Path(result.stderr.rsplit("your version is kept in ", 1)[1].strip())
    assert "<vcpu>2</vcpu>" in kept.read_text()
    assert Host(vm.connect()).view(vm).path == "/moved"
    assert "<vcpu placement='static'>1</vcpu>" in vm.XMLDesc(0)
