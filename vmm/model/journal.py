"""One change vmm made, as the journal keeps it (vmm.ops.history writes and reads the file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vmm.model.metadata import Metadata
from vmm.model.tree import ROOT


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


def meta_json(meta: Metadata | None) -> dict | None:
    if meta is None:
        return None
    return {"path": meta.path, "labels": list(meta.labels)}


def last_writes(entries: list[Entry], uri: str) -> dict[str, Metadata]:
    """What vmm last wrote to each VM of host `uri`, by UUID."""
    written: dict[str, Metadata] = {}
    for entry in entries:
        if entry.host == uri and entry.after is not None:
            after = entry.after
            written[entry.uuid] = Metadata(after.get("path", ROOT), tuple(after.get("labels", ())))
    return written
