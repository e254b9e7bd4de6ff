"""vmm installed the way the README's Install section says: pipx, a clean HOME, nothing else.

Debian's pipx (apt install pipx) builds a venv with Debian's python3, fetches the dependencies
from the package index and compiles libvirt-python against libvirt-dev; the `vmm` it puts on
PATH must then work with no checkout, no .venv and none of the test tiers' settings around.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import require

ROOT = Path(__file__).parents[2]
PASSED_ON = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "no_proxy")


def _tracked_tree(into: Path) -> Path:
    """The project as a checkout of it holds it: the files git tracks (or would), nothing built."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    return into


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory):
    require(shutil.which("pipx") is not None, "pipx is not installed (make test installs it)")
    require(shutil.which("git") is not None, "git is not installed")
    base = tmp_path_factory.mktemp("install")
    home = base / "home"
    home.mkdir()
    source = _tracked_tree(base / "vmm")
    env = {
        "HOME": str(home),
        "PATH": f"{home}/.local/bin:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        **{key: os.environ[key] for key in PASSED_ON if key in os.environ},
    }
    done = subprocess.run(
        ["pipx", "install", str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=base,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    def vmm(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["vmm", *args],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=base,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    vmm.home = home  # type: ignore[attr-defined]
    return vmm


def test_the_installed_command_is_on_path_and_says_its_version(installed):
    found = shutil.which("vmm", path=f"{installed.home}/.local/bin")
    assert found is not None and not found.startswith(str(ROOT))
    result = installed("--version")
    assert result.returncode == 0 and result.stdout == "vmm, version 0.1.0\n", result.stderr


def test_the_installed_command_lists_the_demo_host(installed):
    result = installed("--demo", "ls", "-r", "--json")
    assert result.returncode == 0, result.stderr
    names = {vm["name"] for vm in json.loads(result.stdout)}
    assert {"nginx", "büro-pc"} <= names and len(names) == 25


def test_the_installed_command_finds_its_libvirt_and_its_fzf(installed):
    result = installed("--version", "-v", "--demo")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("Python 3.11") and str(installed.home) in lines[1]
    assert lines[2].startswith("libvirt ") and "libvirt-python" in lines[2]
    assert lines[3].startswith("fzf 0.74") and str(installed.home) in lines[3]
    assert lines[4].startswith("host test://") and lines[4].endswith("TEST 0.0.2")


def test_the_installed_package_has_its_manual_pages_and_help(installed):
    venv = installed.home / ".local" / "pipx" / "venvs" / "vmm-libvirt"
    pages = {path.name for path in (venv / "share" / "man" / "man1").glob("*.1")}
    assert {"vmm.1", "vmm-ls.1", "vmm-clone.1"} <= pages
    result = installed("help", "clone")
    assert result.returncode == 0 and result.stdout.startswith("Usage: vmm clone"), result.stderr


def test_the_installed_command_writes_its_completion_script(installed):
    result = installed(_VMM_COMPLETE="bash_source")
    assert result.returncode == 0 and "complete -o nosort -F _vmm_completion vmm" in result.stdout
