"""A journal of every change vmm makes, one JSON line each, in $XDG_STATE_HOME/vmm/history.jsonl.

Enough to trace a bulk move and revert it by hand: each line names the host, the VM (name and
UUID), the action, and for metadata changes the state before and after.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Entry:
    host: str
    vm: str
    uuid: str
    action: str
    detail: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


def default_path(env: Mapping[str, str] = os.environ) -> Path:
    base = env.get("XDG_STATE_HOME") or str(
        Path(env.get("HOME", "~")).expanduser() / ".local/state"
    )
    return Path(base) / "vmm" / "history.jsonl"


class History:
    """Appends entries; a failure to write is remembered (for a warning), never raised."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.failures: list[str] = []

    def record(self, entry: Entry) -> None:
        line = json.dumps(asdict(entry), ensure_ascii=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as journal:
                journal.write(line)
        except OSError as err:
            self.failures.append(f"cannot write history to {self.path}: {err.strerror}")

    def entries(self, vm: str | None = None) -> list[Entry]:
        """Every readable entry, oldest first; `vm` matches a name or a UUID."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        found = []
        for line in lines:
            try:
                entry = Entry(**json.loads(line))
            except (ValueError, TypeError):
                continue  # a torn or foreign line must not hide the rest
            if vm is None or vm in (entry.vm, entry.uuid):
                found.append(entry)
        return found
