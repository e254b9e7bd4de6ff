"""A journal of every change vmm makes, one JSON line each, in $XDG_STATE_HOME/vmm/history.jsonl.

Enough to trace a bulk move and revert it by hand: each line names the host, the VM (name and
UUID), the action, and for metadata changes the state before and after.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from vmm.errors import HostError


def _now() -> str:
    from datetime import UTC, datetime  # only when something is recorded: start-up time counts

    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Entry:
    host: str
    vm: str
    uuid: str
    action: str
    detail: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    time: str = field(default_factory=_now)


def default_path(env: Mapping[str, str] = os.environ) -> str:
    home = os.path.expanduser(env.get("HOME", "~"))
    base = env.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state")
    return os.path.join(base, "vmm", "history.jsonl")


# Past this size the journal starts afresh and the old one is kept as history.jsonl.1: what
# `vmm history` shows stays between one and two of these.
ROTATE_BYTES = 1 << 20
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


def open_private(path: str, flags: int) -> int:
    """Open a file of vmm's own, never through a symbolic link, readable by this user alone,
    in a directory only this user can enter (others' names and labels are in it)."""
    from vmm.locks import private_dir

    if directory := os.path.dirname(path):
        os.makedirs(os.path.dirname(directory) or ".", mode=0o700, exist_ok=True)
        private_dir(directory)
    try:
        return os.open(path, flags, 0o600)
    except OSError as err:
        if os.path.islink(path):
            raise OSError(err.errno, "it is a symbolic link: not followed", path) from None
        raise


class History:
    """Appends entries; a failure to write is remembered (for a warning), never raised."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.failures: list[str] = []

    @property
    def older(self) -> str:
        return f"{self.path}.1"

    def record(self, entry: Entry) -> None:
        import json

        from vmm.errors import VmmError

        line = json.dumps(asdict(entry), ensure_ascii=False) + "\n"
        try:
            journal = os.fdopen(open_private(self.path, _APPEND), "a", encoding="utf-8")
            if journal.tell() + len(line) > ROTATE_BYTES:
                journal.close()
                os.replace(self.path, self.older)
                journal = os.fdopen(open_private(self.path, _APPEND), "a", encoding="utf-8")
            with journal:
                journal.write(line)
        except OSError as err:
            self.failures.append(f"cannot write history to {self.path}: {err.strerror}")
        except VmmError as err:
            self.failures.append(f"cannot write history: {err}")

    def entries(self, vm: str | None = None) -> list[Entry]:
        """Every readable entry, oldest first; `vm` matches a name or a UUID."""
        import json

        lines = [*self._lines(self.older), *self._lines(self.path)]
        found = []
        for line in lines:
            try:
                entry = Entry(**json.loads(line))
            except (ValueError, TypeError):
                continue  # a torn or foreign line must not hide the rest
            if vm is None or vm in (entry.vm, entry.uuid):
                found.append(entry)
        return found

    @staticmethod
    def _lines(path: str) -> list[str]:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            # a stray byte spoils its own line's text, not the whole journal
            with os.fdopen(fd, encoding="utf-8", errors="replace") as journal:
                return journal.read().splitlines()
        except FileNotFoundError:
            return []
        except OSError as err:
            raise HostError(f"cannot read the history {path}: {err.strerror}") from None
