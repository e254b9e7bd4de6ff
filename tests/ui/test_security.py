"""What vmm writes to disk is the user's alone, never written through a planted link, and
stays small; what it prints cannot steer a terminal; completion cannot run a name."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import node_uri, run_vmm

from vmm.model.journal import Entry
from vmm.ops import history
from vmm.ops.history import History
from vmm.ui import cache


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


def test_a_history_an_older_vmm_left_readable_is_made_private(tmp_path):
    state = tmp_path / "state"
    (state / "vmm").mkdir(parents=True)
    (state / "vmm" / "history.jsonl").write_text("")
    (state / "vmm" / "history.jsonl").chmod(0o644)
    moved = run_vmm("-c", node_uri(), "mv", "alpha", "/x", env={"XDG_STATE_HOME": str(state)})
    assert moved.returncode == 0, moved.stderr
    assert mode(state / "vmm" / "history.jsonl") == 0o600


def test_a_fifo_planted_at_the_history_is_a_warning_not_a_hang(tmp_path):
    state = tmp_path / "state" / "vmm"
    state.mkdir(parents=True)
    os.mkfifo(state / "history.jsonl")
    moved = run_vmm(
        "-c", node_uri(), "mv", "alpha", "/x", env={"XDG_STATE_HOME": str(tmp_path / "state")}
    )
    assert moved.returncode == 0 and moved.stdout == "alpha: /lab/web -> /x\n"
    assert "cannot write history to" in moved.stderr and "not a regular file" in moved.stderr


def stopped(pid: int, timeout: float = 30) -> bool:
    """Whether process `pid` reached a SIGSTOP within `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T":
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("second_waits", [True, False], ids=["lock-freed", "lock-held-on"])
def test_two_vmm_processes_at_the_rotation_lose_no_history(tmp_path, second_waits):
    """The first vmm stops holding the journal's lock, the journal past its limit; the second
    writes meanwhile (waiting for the lock, or past it once the wait is over), then the first
    goes on. Two rotations at once would leave only the newest lines."""
    import json
    import signal
    import subprocess

    from conftest import vmm_exe

    state = tmp_path / "state"
    (state / "vmm").mkdir(parents=True)
    old = [Entry("h", f"old{n}", f"u{n}", "start", "x" * 200) for n in range(5000)]
    (state / "vmm" / "history.jsonl").write_text(
        "".join(json.dumps(history.asdict(entry)) + "\n" for entry in old)
    )
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    argv = [vmm_exe(), "-c", node_uri(), "mv"]
    first = subprocess.Popen(
        [*argv, "alpha", "/x"], env={**env, "VMM_FAULTS": "history.rotating:stop"}
    )
    try:
        assert stopped(first.pid)
        second = subprocess.Popen([*argv, "beta", "/y"], env=env)
        if second_waits:
            assert not stopped(second.pid, 0.5)  # let it reach the lock
            first.send_signal(signal.SIGCONT)
        assert second.wait(timeout=30) == 0
        first.send_signal(signal.SIGCONT)
        assert first.wait(timeout=30) == 0
    finally:
        first.kill()
    shown = json.loads(run_vmm("history", "--json", env={"XDG_STATE_HOME": str(state)}).stdout)
    assert [e["vm"] for e in shown[:5000]] == [entry.vm for entry in old]
    assert sorted(e["vm"] for e in shown[5000:]) == ["alpha", "beta"]


def a_listing():
    import libvirt

    from vmm.virt.host import Host

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


RLO, CSI = "\u202e", "\x9b"


def hostile_node(tmp_path: Path) -> str:
    """A host holding VMs named with a bidi override and a C1 CSI, as libvirt allows, one with
    such a label and a snapshot so named, one in a folder so named."""
    from lxml import etree

    test = "http://libvirt.org/schemas/domain/test/1.0"
    vmm_ns = "http://calebstew.art/xmlns/vmm"
    node = etree.Element("node")
    for name, path, label in (
        (f"invoice{RLO}fdp.exe", None, f"ur{RLO}gent"),
        (f"x{CSI}2Jy", None, None),
        ("plain", f"/f{RLO}older", None),
    ):
        domain = etree.SubElement(node, "domain", type="test", nsmap={"test": test})
        etree.SubElement(domain, "name").text = name
        etree.SubElement(domain, "memory", unit="MiB").text = "64"
        etree.SubElement(etree.SubElement(domain, "os"), "type").text = "hvm"
        meta = etree.SubElement(etree.SubElement(domain, "metadata"), f"{{{vmm_ns}}}vmm")
        if path:
            etree.SubElement(meta, f"{{{vmm_ns}}}path").text = path
        if label:
            etree.SubElement(meta, f"{{{vmm_ns}}}label").text = label
            snapshot = etree.SubElement(domain, f"{{{test}}}domainsnapshot")
            for field, value in (("name", f"before{RLO}update"), ("state", "shutoff")):
                etree.SubElement(snapshot, field).text = value
            etree.SubElement(snapshot, "creationTime").text = "1700000000"
            etree.SubElement(snapshot, "active").text = "1"
            snapshot.append(etree.fromstring(etree.tostring(domain)))
            snapshot[-1].remove(snapshot[-1].find(f"{{{test}}}domainsnapshot"))
    path = tmp_path / "hostile.xml"
    path.write_bytes(etree.tostring(node, encoding="utf-8"))
    return f"test://{path}"


def test_names_that_could_steer_a_terminal_are_printed_escaped(tmp_path):
    uri = hostile_node(tmp_path)
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    outputs = [
        run_vmm("-c", uri, "ls", env=env),
        run_vmm("-c", uri, "ls", "-r", env=env),
        run_vmm("-c", uri, "tree", "-v", env=env),
        run_vmm("-c", uri, "info", f"invoice{RLO}fdp.exe", env=env),
        run_vmm("-c", uri, "mv", f"x{CSI}2Jy", "/lab", env=env),
        run_vmm("-c", uri, "info", f"no{RLO}such", env=env),  # an error naming it
        run_vmm("-c", uri, "labels", env=env),
        run_vmm("-c", uri, "snapshot", "ls", f"invoice{RLO}fdp.exe", env=env),
    ]
    for result in outputs:
        text = result.stdout + result.stderr
        assert RLO not in text and CSI not in text, text
    assert "invoice\\u202efdp.exe" in outputs[0].stdout
    assert "x\\x9b2Jy: / -> /lab" in outputs[4].stdout
    assert "f\\u202eolder" in outputs[2].stdout and "ur\\u202egent" in outputs[6].stdout
    assert "before\\u202eupdate" in outputs[7].stdout
    assert all(result.returncode == 0 for result in outputs[:5] + outputs[6:]), outputs
    listed = run_vmm("-c", uri, "ls", "-r", "--json", env=env)
    assert f"invoice{RLO}fdp.exe" in listed.stdout  # JSON keeps the name as it is


def test_printable_keeps_text_and_vmms_colours_and_escapes_the_rest():
    from vmm.model.printable import printable

    assert printable("/lab/web  nginx ünïcode 名前") == "/lab/web  nginx ünïcode 名前"
    assert printable("\x1b[32m●\x1b[0m \x1b[36m\x1b[1mx\x1b[0m") == (
        "\x1b[32m●\x1b[0m \x1b[36m\x1b[1mx\x1b[0m"
    )
    assert printable("a\x1b[8mhidden \x1b[30;40mb") == "a\\x1b[8mhidden \\x1b[30;40mb"
    assert printable("\x1b[32mx", colours=False) == "\\x1b[32mx"
    assert printable("a\x1b]0;title\x07b") == "a\\x1b]0;title\\x07b"
    assert printable(f"{RLO}{CSI}\u200b\U000e0041") == "\\u202e\\x9b\\u200b\\U000e0041"


def test_printable_escapes_every_control_format_and_surrogate_character():
    import sys
    import unicodedata

    from vmm.model.printable import printable

    steering = [
        chr(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in ("Cc", "Cf", "Cs", "Zl", "Zp")
        and chr(code) not in "\n\t"
    ]
    for colours in (True, False):
        shown = printable("".join(steering), colours=colours)
        assert shown.isascii() and "\x1b" not in shown and len(steering) > 300


def test_menu_rows_prompts_and_notifications_show_such_names_escaped(tmp_path):
    from vmm.ui.menus import Cancelled, Row, Screen
    from vmm.ui.menus.dmenu import DmenuMenu, plain_lines
    from vmm.ui.menus.fzf import Ids, lines_for
    from vmm.ui.menus.wofi import WofiMenu, markup
    from vmm.ui.notify import Desktop

    name = f"invoice{RLO}fdp.exe{CSI}"
    row = Row.plain("vm:1", name, "running")
    screen = Screen(prompt=name, rows=[row])
    shown = [*lines_for([row], Ids()), markup(row.cells[0]), *plain_lines(screen)]
    shown += WofiMenu().argv(screen)
    said = tmp_path / "said"
    record = f'printf "%s\\n" "$@" > {said}'  # a real program that records its arguments
    with pytest.raises(Cancelled):
        DmenuMenu(["sh", "-c", f"{record}; exit 1", "dmenu", "{prompt}"]).choose(screen)
    shown.append(said.read_text())
    fake_notify = tmp_path / "notify-send"
    fake_notify.write_text(f"#!/bin/sh\n{record}\n")
    fake_notify.chmod(0o755)
    Desktop(str(fake_notify)).error(f"cannot start {name}")
    shown.append(said.read_text())
    for text in shown:
        assert RLO not in text and CSI not in text
    assert all("invoice\\u202efdp.exe\\x9b" in text for text in shown if "invoice" in text)
    assert len([text for text in shown if "invoice" in text]) == 6


def test_the_fzf_preview_shows_such_names_escaped_with_vmms_colours(tmp_path):
    import subprocess

    from vmm.ui.menus.fzf import FzfMenu

    menu = FzfMenu()
    try:
        command = menu._ask_picker("'0'")  # as fzf runs it for the first row
        menu._server.handler = lambda _row: f"\x1b[32m●\x1b[0m invoice{RLO}fdp.exe{CSI}"
        shown = subprocess.run(["sh", "-c", command], capture_output=True, text=True).stdout
    finally:
        menu.close()
    assert shown == "\x1b[32m●\x1b[0m invoice\\u202efdp.exe\\x9b"


def on_a_terminal(argv: list[str], env: dict[str, str], question: bytes, answer: bytes) -> str:
    """Everything `argv` writes to a real terminal (a pty), answering `question` once."""
    import select
    import subprocess
    import time

    main, tty = os.openpty()
    done = subprocess.Popen(argv, stdin=tty, stdout=tty, stderr=tty, env={**os.environ, **env})
    os.close(tty)
    written, answered, deadline = b"", False, time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            if select.select([main], [], [], 0.1)[0]:
                try:
                    chunk = os.read(main, 4096)
                except OSError:  # the program ended: the terminal is gone
                    break
                written += chunk
                if question in written and not answered:
                    os.write(main, answer)
                    answered = True
            elif done.poll() is not None:
                break
    finally:
        done.kill()
        done.wait()
        os.close(main)
    return written.decode()


def test_the_edit_prompt_shows_a_refusal_naming_such_text_escaped(tmp_path):
    from conftest import vmm_exe

    editor = tmp_path / "editor.sh"  # the user types a bidi override into the memory size
    change = "s|<memory unit=.KiB.>[0-9]*</memory>|<memory>1\u202e0</memory>|"
    editor.write_text(f"#!/bin/sh\nsed -i '{change}' \"$1\"\n")
    editor.chmod(0o755)
    env = {"VISUAL": str(editor), "XDG_STATE_HOME": str(tmp_path / "state")}
    argv = [vmm_exe(), "-c", hostile_node(tmp_path), "edit", f"x{CSI}2Jy"]
    shown = on_a_terminal(argv, env, b"Edit again?", b"n\n")
    assert "Edit again?" in shown and "vmm: error: libvirt refused it" in shown
    assert RLO not in shown and shown.count("1\\u202e0") == 2


# Each VM, what is typed before Tab, and what each shell must then show on its command line.
COMPLETED = [
    ("x-$(touch pwned)", "x-", {"bash": "'x-$(touch pwned)'", "zsh": r"x-\$\(touch\ pwned\)"}),
    ("x two words", "x\\ t", {"bash": "'x two words'", "zsh": r"x\ two\ words"}),
    ("y-*", "y", {"bash": r"$'y-\x2a'", "zsh": r"y-\*"}),
    ("z\\a'b", "z", {"bash": "'z\\a'\"'\"'b'", "zsh": r"z\\a\'b"}),
]  # fish escapes as zsh does


def completion_node(tmp_path: Path) -> str:
    from lxml import etree

    node = etree.Element("node")
    for name in [name for name, _, _ in COMPLETED] + ["c,d"]:
        domain = etree.SubElement(node, "domain", type="test")
        etree.SubElement(domain, "name").text = name
        etree.SubElement(domain, "memory", unit="MiB").text = "64"
        etree.SubElement(etree.SubElement(domain, "os"), "type").text = "hvm"
        etree.SubElement(domain, "{http://libvirt.org/schemas/domain/test/1.0}runstate").text = "5"
    path = tmp_path / "completion.xml"
    path.write_bytes(etree.tostring(node))
    return f"test://{path}"


def a_shell(shell: str, tmp_path: Path):
    """A real interactive `shell` in tmux, in a directory holding a file whose name a glob
    made of a VM's name (`y-*`, quoted) would insert as code, with vmm's completion loaded."""
    import shutil
    import sys

    from conftest import require
    from tmux import Terminal

    require(shutil.which("tmux") is not None, "tmux is not installed (make test installs it)")
    require(shutil.which(shell) is not None, f"{shell} is not installed (make test installs it)")
    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".config" / "fish").mkdir(parents=True)
    work.mkdir()
    (work / "'y-'$(touch pwned)''").touch()
    (home / ".zshrc").write_text("PS1='shell> '\nautoload -Uz compinit && compinit -u\n")
    (home / ".config" / "fish" / "config.fish").write_text(
        "function fish_prompt; echo -n 'shell> '; end\nset -g fish_greeting\n"
    )
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(home),
        "ZDOTDIR": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "PS1": "shell> ",
        "LIBVIRT_DEFAULT_URI": completion_node(tmp_path),  # bash cuts `-c URI` at ':'
        "TERM": "xterm-256color",
    }
    argv = {"bash": ["bash", "--norc", "--noprofile", "-i"], "zsh": ["zsh", "-i"]}
    term = Terminal(argv.get(shell, [shell, "-i"]), env, cwd=str(work))
    term.wait_for("shell>")
    loads = {"fish": "_VMM_COMPLETE=fish_source vmm | source"}
    term.type(loads.get(shell, f'eval "$(_VMM_COMPLETE={shell}_source vmm)"') + "; echo loaded\n")
    term.wait_for("loaded")
    return term, work


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_inserts_hostile_names_as_one_word_each(tmp_path, shell):
    term, work = a_shell(shell, tmp_path)
    try:
        for name, typed, shown in COMPLETED:
            term.type(f"vmm info {typed}")
            term.keys("Tab")
            term.wait_for(f"vmm info {shown.get(shell, shown['zsh'])}")
            term.keys("Enter")
            term.wait_for(f"name:        {name}\n")
    finally:
        term.close()
    assert not (work / "pwned").exists()


def completions(shell: str, uri: str, words: str, cword: str) -> list[str]:
    """What vmm answers click's script for `shell`, through click's completion variables."""
    env = {"_VMM_COMPLETE": f"{shell}_complete", "COMP_WORDS": words, "COMP_CWORD": cword}
    answered = run_vmm(env={**env, "LIBVIRT_DEFAULT_URI": uri}).stdout
    return [line for line in answered.splitlines() if line]


def test_powershell_gets_names_single_quoted_and_fish_no_name_it_would_cut(tmp_path):
    uri = completion_node(tmp_path)
    assert completions("powershell", uri, "vmm info z", "2") == ["plain", "'z\\a''b'", "_"]
    assert completions("powershell", uri, "vmm info x-", "2")[1] == "'x-$(touch pwned)'"
    assert completions("fish", uri, "vmm info c", "c") == []  # fish would insert `c`
    assert completions("fish", uri, "vmm info x", "x") == [
        "plain,x two words",
        "plain,x-$(touch pwned)",
    ]


def test_no_shell_is_offered_a_value_its_script_would_split():
    from vmm.ui.shellwords import for_the_shell

    for shell in ("bash", "zsh", "fish", "powershell"):
        assert for_the_shell("a\nplain,$(touch pwned)#", shell) is None
    assert for_the_shell("\u2018it\u2019s", "powershell") == "'\u2018\u2018it\u2019\u2019s'"


def test_a_fifo_planted_at_the_cache_is_no_cache_and_no_hang(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    path = Path(cache.cache_path("k", env))
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    load = [sys.executable, "-c", "from vmm.ui import cache; print(cache.load('k'))"]
    loaded = subprocess.run(load, env=env, capture_output=True, text=True, timeout=20)
    assert loaded.stdout == "None\n", loaded.stderr
