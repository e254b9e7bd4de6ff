"""What operations cut short (SIGKILL, a power cut) left behind, and removing it on request.

Each record (see vmm.ops.intents) lists what its operation was about to make; here each is looked
up on its host, and cleaning removes what is there and nothing that is in use: a VM's disk, an
image others build on, a VM that runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from vmm.model.errors import VmmError
from vmm.ops.intents import Leftover, Record, forget
from vmm.virt import images, storage
from vmm.virt.connection import open_connection
from vmm.virt.domains import Conn, by_uuid, undefine
from vmm.virt.errors import LibvirtError, translate

# Removed in this order: a definition before the images it uses.
_ORDER = {"domain": 0, "image": 1, "volume": 1, "source": 2}


@dataclass(frozen=True)
class Found:
    item: Leftover
    present: bool | None  # None: it could not be told (the host did not answer)
    keep: str = ""  # why cleaning leaves it, when it does


@contextlib.contextmanager
def _connection(uri: str) -> Iterator[Conn | None]:
    try:
        conn = open_connection(uri)
    except VmmError:
        yield None
        return
    try:
        yield conn
    finally:
        with contextlib.suppress(LibvirtError):
            conn.close()


def examine(record: Record) -> list[Found]:
    with _connection(record.host) as conn:
        items = sorted(record.items, key=lambda item: _ORDER.get(item.kind, 9))
        return [_examine(conn, item) for item in items]


def _examine(conn: Conn | None, item: Leftover) -> Found:
    if item.kind == "source":
        return Found(item, True, "safe to keep")
    if conn is None:
        return Found(item, None)
    try:
        if item.kind == "domain":
            dom = by_uuid(conn, item.ref)
            if dom is None:
                return Found(item, False)
            return Found(item, True, "it runs" if dom.isActive() else "")
        if not images.file_exists(conn, item.ref):
            return Found(item, False)
        return Found(item, True, _why_keep_image(conn, item.ref))
    except LibvirtError as err:
        return Found(item, None, str(translate(err)))


def _why_keep_image(conn: Conn, path: str) -> str:
    user = storage.owners(conn, [path]).get(path)
    if user is not None:
        return f"the disk of {user!r}"
    if storage.dependants(conn, [path]):
        return "other images build on it"
    return ""


def clean(record: Record) -> tuple[list[str], list[str]]:
    """Remove what the record's operation left and nothing uses; what something uses is no
    leftover and stays. The record goes once nothing is left to tell. Returns what was kept
    (and why) and what could not be removed (and why)."""
    kept: list[str] = []
    problems: list[str] = []
    with _connection(record.host) as conn:
        if conn is None:
            return [], [f"cannot reach {record.host}: nothing removed"]
        for item in sorted(record.items, key=lambda item: _ORDER.get(item.kind, 9)):
            found = _examine(conn, item)
            if found.present is None:
                problems.append(f"{item.ref}: cannot tell whether it is there ({found.keep})")
            elif found.present and found.keep:
                kept.append(f"{item.ref}: kept ({found.keep})")
            elif found.present:
                try:
                    _remove(conn, item)
                except LibvirtError as err:
                    problems.append(f"{item.ref}: {translate(err)}")
    if not problems:
        forget(record)
    return kept, problems


def _remove(conn: Conn, item: Leftover) -> None:
    if item.kind == "domain":
        dom = by_uuid(conn, item.ref)
        if dom is not None:
            undefine(dom, nvram=True, everything=True)
    else:
        images.delete_image(conn, item.ref)
