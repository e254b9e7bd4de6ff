"""The last listing of a host, kept in $XDG_CACHE_HOME/vmm so the picker can draw at once.

Only ever a first draft: the picker lists the host afresh straight away and swaps the fresh
rows in, and every action asks libvirt about the VM's real state first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import stat
import zlib
from collections.abc import Mapping

from vmm.model.domain import Domain
from vmm.model.metadata import Metadata

VERSION = 2  # 2: Domain.label became Domain.qualified


def cache_path(key: str, env: Mapping[str, str] = os.environ) -> str:
    """One file per host. The key is stored inside and checked on load, so two hosts whose
    names share a checksum only cost each other the head start (hashlib would cost 5 ms)."""
    home = os.path.expanduser(env.get("HOME", "~"))
    base = env.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return os.path.join(base, "vmm", f"listing-{zlib.crc32(key.encode()):08x}.json")


def save(key: str, domains: list[Domain]) -> None:
    """Best effort: a cache that cannot be written only costs the next start its head start."""
    path = cache_path(key)
    records = [dataclasses.asdict(d) for d in domains]
    temporary = f"{path}.tmp"  # one name: a write cut short is overwritten by the next one
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        from vmm.model.errors import VmmError
        from vmm.ops.history import open_private

        try:
            fd = open_private(temporary, flags)
        except VmmError:
            return
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(json.dumps({"version": VERSION, "key": key, "domains": records}))
        os.replace(temporary, path)  # a link planted at `path` is replaced, never followed
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def load(key: str) -> list[Domain] | None:
    """The cached listing, or None when there is none this vmm can trust (absent, torn, from
    another version, edited by hand): the picker then simply lists the host first."""
    try:
        data = json.loads(_read_file(cache_path(key)))
        if data.get("version") != VERSION or data.get("key") != key:
            return None
        if not isinstance(data["domains"], list):
            return None
        return [_domain(record) for record in data["domains"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _read_file(path: str) -> str:
    """The text of the regular file at `path`: never through a link, never waiting on a FIFO."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    with os.fdopen(os.open(path, flags), encoding="utf-8") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise OSError(f"{path} is not a regular file")
        return file.read()


# What each cached field must be, checked on load: a wrong type would fail only later, deep in
# the picker's drawing.
RECORD: dict[str, tuple[type, ...]] = {
    "name": (str,), "uuid": (str,), "state": (str,), "persistent": (bool,),
    "managed_save": (bool,), "snapshots": (int,), "vcpus": (int,), "memory_kib": (int,),
    "host": (str,), "warning": (str, type(None)), "qualified": (str,),
}  # fmt: skip


def _domain(record: dict) -> Domain:
    meta = record.pop("meta")
    if record.keys() != RECORD.keys():
        raise KeyError("cached fields differ")
    for name, value in record.items():
        if type(value) not in RECORD[name]:
            raise TypeError(f"cached {name} is {value!r}")
    strings = [meta["path"], *meta["labels"], *meta["extra"]]
    if not all(isinstance(s, str) for s in strings):
        raise TypeError("cached metadata holds a non-string")
    return Domain(
        **record, meta=Metadata(meta["path"], tuple(meta["labels"]), tuple(meta["extra"]))
    )
