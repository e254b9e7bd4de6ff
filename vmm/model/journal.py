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

    @classmethod
    def from_json(cls, data: object) -> Entry:
        """The entry a journal line holds; ValueError for anything else (a torn line, another
        program's, a field of the wrong type), which the journal skips and names."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        try:
            entry = cls(**data)
        except TypeError as err:
            raise ValueError(str(err)) from None
        texts = (entry.host, entry.vm, entry.uuid, entry.action, entry.detail, entry.time)
        if not all(isinstance(text, str) for text in texts):
            raise ValueError("a field that should be text is not")
        for meta in (entry.before, entry.after):
            if meta is not None and not _is_meta(meta):
                raise ValueError("'before' or 'after' is no folder and labels")
        return entry


def _is_meta(meta: object) -> bool:
    if not isinstance(meta, dict):
        return False
    labels = meta.get("labels", [])
    return isinstance(meta.get("path", ROOT), str) and (
        isinstance(labels, list) and all(isinstance(label, str) for label in labels)
    )


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
