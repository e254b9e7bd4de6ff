"""What the two README commands install: `make demo` only what the demo needs."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[2]
BUILD_LIBVIRT_PYTHON = ["libvirt-dev", "pkg-config", "gcc", "python3-dev", "python3-venv"]


def _packages(*args: str) -> list[str]:
    listed = subprocess.run(
        ["bash", str(ROOT / "tools" / "setup-system.sh"), "--print", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()


def _planned(target: str) -> str:
    """What `make TARGET` would run from scratch (make -n -B: printed, nothing run)."""
    return subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def test_the_demo_installs_only_what_builds_libvirt_python():
    assert _packages("--demo") == BUILD_LIBVIRT_PYTHON


def test_the_tests_install_every_tier():
    everything = _packages()
    assert set(BUILD_LIBVIRT_PYTHON) <= set(everything)
    assert {"libvirt-daemon-system", "qemu-system-x86", "tmux", "sway", "wofi", "pipx"} <= set(
        everything
    )


def test_make_demo_asks_for_the_demo_set_and_no_test_extras():
    plan = _planned("demo")
    assert "tools/setup-system.sh --demo" in plan
    assert "[test]" not in plan and "useradd" not in plan
    assert "vmm --demo" in plan.splitlines()[-1]
    assert "tools/setup-system.sh\n" in _planned("venv") and "[test]" in _planned("venv")
