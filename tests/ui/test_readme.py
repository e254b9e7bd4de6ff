"""Every `vmm` example in README.md runs as written on the demo host, and does what it says.

Which lines are examples (the rule, so that none escapes the test):
- fenced blocks whose info string is `sh` or `console`; in `sh` every line that starts with `vmm`,
  in `console` every line that starts with `$ vmm` (the rest is the output shown);
- a trailing `# comment` is not part of the command (shlex's comment rule);
- an indented code block holding a `vmm` line is refused outright: the test could not see it.

How each runs: the installed `vmm` with `--demo` put after `vmm`, in its own process, so each
example starts from the pristine demo (the README says so where it introduces the demo), with
private XDG state, cache and config directories, stdout and stderr piped, and a terminal on
stdin that answers "y" to whatever the command asks (the README's "asks first" commands ask a
person at a terminal; without one they refuse). It must exit 0, print no traceback, and change
what it says it changes (no "NAME: unchanged"), unless a rule below says otherwise.

Not run, each by a rule in NOT_RUN, printed by test_the_examples_are_found: the picker (a
terminal UI, driven in tmux by tests/ui/test_picker.py) and the commands that hand the terminal
to another program (virsh console, virt-viewer). `vmm ssh` is run: it must end within ssh's
connect timeout with ssh's own error about the demo's documentation address.
"""

from __future__ import annotations

import os
import pty
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import require, require_tmux_and_fzf, vmm_exe
from tmux import Terminal

from vmm.virt import reach

README = Path(__file__).resolve().parents[2] / "README.md"
RUNNABLE_BLOCKS = ("sh", "console")
FENCE = re.compile(r"^ {0,3}(```+|~~~+)\s*([\w+-]*)")  # in a list item too


@dataclass(frozen=True)
class Example:
    line: int  # 1-based line number in README.md
    text: str  # the command as written, without its comment

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text, comments=True)

    def __str__(self) -> str:
        return f"README.md:{self.line}: {self.text}"


def examples(text: str) -> list[Example]:
    found: list[Example] = []
    fence: str | None = None
    lang = ""
    previous_blank = True
    in_indented = False
    for number, raw in enumerate(text.splitlines(), 1):
        opening = FENCE.match(raw)
        if fence is None and opening:
            fence, lang = opening.group(1), opening.group(2)
            previous_blank = in_indented = False
            continue
        if fence is not None:
            if raw.strip().startswith(fence) and not raw.strip().strip(fence[0]):
                fence = None
                continue
            line = raw.strip()
            if lang == "console":
                line = line[2:] if line.startswith("$ ") else ""
            if lang in RUNNABLE_BLOCKS and (line == "vmm" or line.startswith("vmm ")):
                found.append(Example(number, shlex.join(shlex.split(line, comments=True))))
            continue
        in_indented = raw.startswith("    ") and (previous_blank or in_indented)
        if in_indented and re.match(r"\s*(\$ )?vmm(\s|$)", raw):
            raise AssertionError(
                f"README.md:{number}: an indented example this test cannot see; "
                "put it in a ```sh block"
            )
        previous_blank = raw.strip() == ""
    return found


def not_run(example: Example) -> str | None:
    """Why an example is not run on the demo: the one place such a decision is made."""
    argv = example.argv
    subcommand = next((word for word in argv[1:] if not word.startswith("-")), None)
    if {"--version", "-V"} & set(argv):
        return None  # says what it runs on, and ends
    if subcommand is None or "--menu" in argv:
        return "opens the picker, a terminal UI (tests/ui/test_picker.py drives it in tmux)"
    if subcommand == "console":
        return "hands the terminal to `virsh console`, a program of its own"
    if subcommand == "view":
        return "opens virt-viewer, a graphical program of its own"
    if subcommand == "events":
        return "follows the host until Ctrl-C (tests/ui/test_events.py runs it on a real daemon)"
    return None


# Examples that cannot succeed on the demo, with what they do there instead (exit, stderr) and
# why. Nothing else may fail.
ON_THE_DEMO = {
    "vmm new box2 --base /srv/images/debian-12.qcow2 --pool default": (
        1,
        "vmm: error: disk image /srv/images/debian-12.qcow2 does not exist",
        "a base in no pool is a file on the machine vmm runs on; the demo host has none "
        "(the README says so below the example)",
    ),
    "vmm new web9 --image default/debian-12.qcow2 --disk-size 10": (
        1,
        "vmm: error: this host takes no upload into its pools, so no cloud-init seed:"
        " make the VM with --no-cloud-init (or --base)",
        "the demo is libvirt's test driver, which has no volume upload (the README says so);"
        " tests/ops/test_cloud_init_kvm.py makes seeds on the real hypervisor",
    ),
    "vmm mv --stop nginx lab:": (
        1,
        "vmm: error: 'lab:': no host 'lab' in the config ([hosts.NAME] tables)",
        "the demo runs with an empty config: no second host (the README says so)",
    ),
    "vmm mv --keep-chain api-01 lab:": (
        1,
        "vmm: error: 'lab:': no host 'lab' in the config ([hosts.NAME] tables)",
        "the demo runs with an empty config: no second host; tests/ops/test_move_kvm.py moves"
        " a linked clone onto a base between two real daemons",
    ),
    "vmm mv --live nginx lab:": (
        1,
        "vmm: error: 'lab:': no host 'lab' in the config ([hosts.NAME] tables)",
        "the demo runs with an empty config: no second host; tests/ops/test_move_kvm.py moves"
        " live between two real daemons",
    ),
    "vmm new web8 -p web --label new": (
        1,
        "vmm: error: no profile 'web'; profiles: none in the config",
        "the demo runs with an empty config (the README says so below the example)",
    ),
}

# What an example must print where exit 0 alone would not show it did what its comment says
# (an empty listing exits 0 too).
SHOWS = {
    "vmm start mariadb": "mariadb: restored from saved state",
    "vmm start /desktop/": "Jeux rétro 🎮: started",
    "vmm ip nginx": "192.0.2.3/24",
    "vmm --version -v": "/vmm/data/demo-host.xml: libvirt ",
    "vmm images": "/var/lib/libvirt/images/debian-12.qcow2  qcow2  2.0 GiB",
    "vmm clones api-01": "api-02  (through /var/lib/libvirt/images/debian-12.qcow2)",
    "vmm snapshot ls postgres-main": "pg-15 *",
    "vmm shutdown --force-after 30 /lab/db/replicas": "pg-replica-2: shut down",
}

DEMO_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEiK5q2PAp1SVVpHU5ecGzwvSqAMx1Z8mnxSKbr3i1bF demo"
ALL = examples(README.read_text(encoding="utf-8"))
RUN = [e for e in ALL if not_run(e) is None and e.argv[1] != "ssh"]
SSH = [e for e in ALL if not_run(e) is None and e.argv[1] == "ssh"]


def run_on_demo(argv: list[str], tmp_path: Path, timeout: float = 60):
    """Run `vmm --demo ARGS...` with a terminal on stdin that answers "y" to any question."""
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    env.pop("LIBVIRT_DEFAULT_URI", None)
    env.pop("SSH_AUTH_SOCK", None)
    home = tmp_path / "home"  # the keys `vmm new --image` lets in: one, the same everywhere
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    (home / ".ssh" / "id_ed25519.pub").write_text(DEMO_KEY + "\n")
    env["HOME"] = str(home)
    controller, terminal = pty.openpty()
    try:
        os.write(controller, b"y\n")
        started = time.monotonic()
        result = subprocess.run(
            [vmm_exe(), "--demo", *argv[1:]],
            stdin=terminal,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        return result, time.monotonic() - started
    finally:
        os.close(terminal)
        os.close(controller)


def test_the_examples_are_found():
    """The rule finds the README's examples, and says which it leaves out and why."""
    for example in ALL:
        reason = not_run(example) or ("runs ssh: see the ssh test" if example in SSH else None)
        print(f"{example}  ->  {'not run: ' + reason if reason else 'run on the demo'}")
    assert len(RUN) >= 40, [str(e) for e in RUN]
    commands = {e.text for e in ALL}
    assert {"vmm ls", "vmm ssh nginx", "vmm console nginx", "vmm history"} <= commands
    assert set(ON_THE_DEMO) | set(SHOWS) <= commands, "a rule for an example no longer there"
    left_out = ["vmm events", "vmm events --json", "vmm console nginx", "vmm view nginx"]
    assert [e.text for e in ALL if not_run(e)] == left_out


def test_an_indented_example_is_refused():
    with pytest.raises(AssertionError, match=r"README\.md:3: an indented example"):
        examples("Try:\n\n    vmm ls\n")
    assert [e.text for e in examples("```sh\nvmm ls -r  # all\n```\n    vmm x\n")] == ["vmm ls -r"]


@pytest.mark.parametrize("example", RUN, ids=lambda e: e.text)
def test_readme_example_runs_on_the_demo(example, tmp_path):
    result, _ = run_on_demo(example.argv, tmp_path)
    said = f"{example}\nexit {result.returncode}\n{result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr, said
    if example.text in ON_THE_DEMO:
        code, error, _why = ON_THE_DEMO[example.text]
        assert result.returncode == code and error in result.stderr.splitlines(), said
        return
    assert result.returncode == 0, said
    assert "vmm: error" not in result.stderr, said
    unchanged = [line for line in result.stdout.splitlines() if line.endswith(": unchanged")]
    assert not unchanged, said
    if example.text in SHOWS:
        assert SHOWS[example.text] in result.stdout, said


def test_ssh_is_given_a_connect_timeout():
    """What the README says `vmm ssh` hands to ssh."""
    text = README.read_text(encoding="utf-8")
    seconds = reach.SSH_CONNECT_TIMEOUT
    assert f"-o ConnectTimeout={seconds}" in text and 0 < seconds <= 30
    assert reach.ssh_argv("192.0.2.3", ("uptime",), "root") == [
        "ssh",
        "-o",
        f"ConnectTimeout={seconds}",
        "-l",
        "root",
        "192.0.2.3",
        "uptime",
    ]


@pytest.mark.parametrize("example", SSH, ids=lambda e: e.text)
def test_readme_ssh_example_gives_up_on_the_demo_address(example, tmp_path):
    """The demo's addresses are documentation ones (192.0.2.0/24), where nothing answers: the
    real ssh is run, and gives up within its connect timeout ("Connection timed out", or at
    once "Network is unreachable" where no route leads there), with ssh's exit 255."""
    require(shutil.which("ssh") is not None, "ssh is not installed")
    limit = reach.SSH_CONNECT_TIMEOUT + 10
    result, took = run_on_demo(example.argv, tmp_path, timeout=limit)
    said = f"{example}\nexit {result.returncode}\n{result.stdout}{result.stderr}"
    assert result.returncode == 255 and took < limit, said
    assert "ssh: connect to host 192.0.2.3 port 22" in result.stderr, said


def readme_screenshot() -> list[str]:
    """The picker's screen as the README shows it: the first ```text block under "## The picker"."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The picker\n") :]
    start = section.index("```text\n") + len("```text\n")
    return section[start : section.index("```\n", start)].rstrip("\n").splitlines()


def test_the_picker_screenshot_is_what_the_picker_prints(tmp_path):
    """The README's picture is the real vmm --demo in a 150x18 terminal, drawn by the real fzf,
    in /lab/web with nginx highlighted (as the README says above it), preview and all."""
    require_tmux_and_fzf()
    env = {
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "TMPDIR": str(tmp_path),
        "TERM": "xterm-256color",
    }
    term = Terminal([vmm_exe(), "--demo"], env, cwd=str(tmp_path), width=150, height=18)
    try:
        term.pick("/", "lab/")
        term.pick("/lab", "web/")
        term.wait_for_prompt("/lab/web")
        for _ in range(4):  # .., staging/, apache 2, haproxy, nginx
            term.keys("Down")
        term.wait_for("> ● nginx")
        term.wait_for("192.0.2.3/24")  # the preview is drawn once the cursor rests
        time.sleep(0.3)
        screen = [line.rstrip() for line in term.screen().rstrip("\n").splitlines()]
    finally:
        term.close()
    assert readme_screenshot() == screen, "\n".join(screen)
