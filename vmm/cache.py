"""The last listing of a host, kept in $XDG_CACHE_HOME/vmm so the picker can draw at once.

Only ever a first draft: the picker lists the host afresh straight away and swaps the fresh
rows in, and every action asks libvirt about the VM's real state first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from vmm.domain import Domain
from vmm.metadata import Metadata

VERSION = 1


def cache_path(key: str, env: Mapping[str, str] = os.environ) -> Path:
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".cache")
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(base) / "vmm" / f"listing-{digest}.json"


def save(key: str, domains: list[Domain]) -> None:
    """Best effort: a cache that cannot be written only costs the next start its head start."""
    path = cache_path(key)
    records = [dataclasses.asdict(d) for d in domains]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"version": VERSION, "key": key, "domains": records}))
        temporary.replace(path)
    except OSError:
        pass


def load(key: str) -> list[Domain] | None:
    try:
        data = json.loads(cache_path(key).read_text())
        if data.get("version") != VERSION or data.get("key") != key:
            return None
        return [_domain(record) for record in data["domains"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _domain(record: dict) -> Domain:
    meta = record.pop("meta")
    return Domain(
        **record,
        meta=Metadata(meta["path"], tuple(meta["labels"]), tuple(meta["extra"])),
    )
