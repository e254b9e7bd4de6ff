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


class History:
    """Appends entries; a failure to write is remembered (for a warning), never raised."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.failures: list[str] = []

    def record(self, entry: Entry) -> None:
        import json

        line = json.dumps(asdict(entry), ensure_ascii=False) + "\n"
        try:
            if directory := os.path.dirname(self.path):
                os.makedirs(directory, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as journal:
                journal.write(line)
        except OSError as err:
            self.failures.append(f"cannot write history to {self.path}: {err.strerror}")

    def entries(self, vm: str | None = None) -> list[Entry]:
        """Every readable entry, oldest first; `vm` matches a name or a UUID."""
        import json

        try:
            # a stray byte spoils its own line's text, not the whole journal
            with open(self.path, encoding="utf-8", errors="replace") as journal:
                lines = journal.read().splitlines()
        except FileNotFoundError:
            return []
        except OSError as err:
            raise HostError(f"cannot read the history {self.path}: {err.strerror}") from None
        found = []
        for line in lines:
            try:
                entry = Entry(**json.loads(line))
            except (ValueError, TypeError):
                continue  # a torn or foreign line must not hide the rest
            if vm is None or vm in (entry.vm, entry.uuid):
                found.append(entry)
        return found
