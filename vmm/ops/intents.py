"""What a multi-step operation is about to make or remove, on disk before each step.

A clone, a new VM or a deletion registers every image and definition before it makes it (or
every volume before it removes it). When the operation ends, done or undone, its record goes.
A record whose process is gone was cut short (SIGKILL, a power cut, a crash during an undo):
the next vmm run says so, and `vmm doctor` shows what it left and removes it on request.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from vmm.virt.locks import private_dir


@dataclass(frozen=True)
class Leftover:
    """One thing an operation makes (or removes), and what a crash there would leave."""

    kind: str  # "image", "domain", "source" (a VM moved onto an overlay), "volume"
    ref: str  # the image's path, the domain's UUID
    note: str  # what it is, for a person: "overlay of vda for the clone 'web2'"


@dataclass(frozen=True)
class Record:
    operation: str
    host: str
    pid: int
    started: str  # the process's start time, so a reused pid is not taken for it
    time: float
    items: tuple[Leftover, ...] = ()
    path: str = field(default="", compare=False)


def pending_dir(env: Mapping[str, str] = os.environ) -> str:
    home = os.path.expanduser(env.get("HOME", "~"))
    base = env.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state")
    return os.path.join(base, "vmm", "pending")


def _process_start(pid: int) -> str:
    """When `pid` started, in clock ticks since boot ('' when it cannot be told)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return ""


class Intent:
    """The record of one running operation; written (and synced) at each `add`."""

    def __init__(self, operation: str, host: str) -> None:
        self.record = Record(operation, host, os.getpid(), _process_start(os.getpid()), time.time())
        self.path: str | None = None

    def add(self, item: Leftover) -> None:
        self.record = Record(**{**asdict(self.record), "items": (*self.record.items, item)})
        self._write()

    def _write(self) -> None:
        if self.path is None:
            directory = private_dir(_make_parents(pending_dir()))
            self.path = os.path.join(directory, f"{time.time_ns()}-{os.getpid()}.json")
        temporary = f"{self.path}.tmp"
        data = asdict(self.record)
        del data["path"]
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temporary, flags, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(data, file, ensure_ascii=False)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)
        _sync_directory(os.path.dirname(self.path))

    def drop(self, kind: str, ref: str) -> None:
        """An item turned out never to be this operation's (another client's image)."""
        kept = tuple(i for i in self.record.items if (i.kind, i.ref) != (kind, ref))
        if kept != self.record.items:
            self.record = Record(**{**asdict(self.record), "items": kept})
            self._write()

    def done(self) -> None:
        """The operation ended with nothing left behind: its record goes."""
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.path = None


def _make_parents(path: str) -> str:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    return path


def _sync_directory(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load(path: str) -> Record | None:
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
        items = tuple(Leftover(**item) for item in data.pop("items"))
        data.pop("path", None)
        return Record(**data, items=items, path=path)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _alive(record: Record) -> bool:
    return _process_start(record.pid) == record.started and bool(record.started)


def interrupted(env: Mapping[str, str] = os.environ) -> list[Record]:
    """The records of operations whose process is gone, oldest first. One directory listing
    when there are none, so every command can afford to ask."""
    directory = pending_dir(env)
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".json"))
    except OSError:
        return []
    records = (_load(os.path.join(directory, name)) for name in names)
    return [r for r in records if r is not None and not _alive(r)]


def forget(record: Record) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(record.path)
