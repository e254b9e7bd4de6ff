"""Who a new VM lets in: the user name, the SSH public keys (the user's own by default) and the
user's extra cloud-config, read and checked before anything is made."""

from __future__ import annotations

import getpass
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from vmm.model.cloudinit import Identity, check_user, parse_user_data, public_keys
from vmm.model.errors import InvalidInput

AGENT_SECONDS = 5


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{what} {path}: no such file") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} {path} is not UTF-8 text") from None
    except OSError as err:
        raise InvalidInput(f"{what} {path}: {err.strerror}") from None


def agent_keys() -> list[str]:
    """The public keys the running ssh-agent holds (none when there is no agent)."""
    if not os.environ.get("SSH_AUTH_SOCK"):
        return []
    try:
        done = subprocess.run(
            ["ssh-add", "-L"], capture_output=True, text=True, timeout=AGENT_SECONDS
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if done.returncode != 0:
        return []  # 1: the agent holds no key; 2: no agent answers
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def own_keys(home: Path | None = None) -> list[str]:
    """~/.ssh/*.pub and the ssh-agent's keys, each once, in that order."""
    folder = (home or Path.home()) / ".ssh"
    found: list[str] = []
    for path in sorted(folder.glob("*.pub")):
        try:
            found += public_keys(path.read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError, InvalidInput):
            continue  # a stray .pub that is no key: not the user's to fix here
    return list(dict.fromkeys([*found, *agent_keys()]))


def identity(
    user: str | None = None,
    key_files: Sequence[str] = (),
    user_data_file: str | None = None,
) -> Identity:
    """The identity for a new VM's seed; a clear error for a missing or unreadable file."""
    name = check_user(user or getpass.getuser())
    if key_files:
        keys = [key for path in key_files for key in public_keys(_read(path, "key file"), path)]
    else:
        keys = own_keys()
    if not keys:
        raise InvalidInput(
            "no SSH public key to let you in: none in ~/.ssh/*.pub or the ssh-agent;"
            " give one with --ssh-key FILE (or make the VM with --no-cloud-init)"
        )
    extra = None
    if user_data_file:
        extra = parse_user_data(_read(user_data_file, "user-data file"), user_data_file)
    return Identity(name, tuple(dict.fromkeys(keys)), extra)
