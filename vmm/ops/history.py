"""A journal of every change vmm makes, one JSON line each, in $XDG_STATE_HOME/vmm/history.jsonl.

Enough to trace a bulk move and revert it by hand: each line names the host, the VM (name and
UUID), the action, and for metadata changes the state before and after.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Collection, Mapping
from dataclasses import asdict

from vmm.model.errors import HostError
from vmm.model.journal import Entry
from vmm.ops import faults


def default_path(env: Mapping[str, str] = os.environ) -> str:
    home = os.path.expanduser(env.get("HOME", "~"))
    base = env.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state")
    return os.path.join(base, "vmm", "history.jsonl")


# Past this size the journal starts afresh and the old one is kept as history.jsonl.1: what
# `vmm history` shows stays between one and two of these.
ROTATE_BYTES = 1 << 20
LOCK_WAIT_SECONDS = 2.0
_APPEND = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


def open_private(path: str, flags: int) -> int:
    """Open a file of vmm's own, never through a symbolic link, readable by this user alone,
    in a directory only this user can enter (others' names and labels are in it); one an
    older vmm made readable by others is made private."""
    from vmm.virt.locks import private_dir

    if directory := os.path.dirname(path):
        os.makedirs(os.path.dirname(directory) or ".", mode=0o700, exist_ok=True)
        private_dir(directory)
    try:
        fd = os.open(path, flags | os.O_NONBLOCK, 0o600)  # a planted FIFO must not hang vmm
    except OSError as err:
        raise OSError(err.errno, _refusal(path) or err.strerror, path) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, _refusal(path), path)
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.fchmod(fd, 0o600)
    return fd


def _refusal(path: str) -> str:
    """Why vmm will not write its file at `path`, when something else is planted there."""
    try:
        info = os.lstat(path)
    except OSError:
        return ""
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link: not followed"
    return "" if stat.S_ISREG(info.st_mode) else "it is not a regular file"


def _locked(fd: int, wait: float) -> bool:
    """Whether `fd`'s lock could be taken within `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)


def _on_a_fresh_line(fd: int, line: bytes) -> bytes:
    """`line`, after a newline when the journal's last line has none (a write cut short, an
    editor): glued to it, the new entry would be lost with the torn one."""
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        return b"\n" + line
    return line


def _still_at(fd: int, path: str) -> bool:
    """Whether `path` still names the file open as `fd`."""
    try:
        there = os.lstat(path)
    except FileNotFoundError:
        return False
    here = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


class History:
    """Appends entries; a failure to write is remembered (for a warning), never raised."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.failures: list[str] = []
        self.skipped: list[str] = []  # the lines the last `entries` could not read, and where

    @property
    def older(self) -> str:
        return f"{self.path}.1"

    def record(self, entry: Entry) -> None:
        import json

        from vmm.model.errors import VmmError

        line = json.dumps(asdict(entry), ensure_ascii=False) + "\n"
        try:
            self._append(line.encode())
        except OSError as err:
            self.failures.append(f"cannot write history to {self.path}: {err.strerror}")
        except VmmError as err:
            self.failures.append(f"cannot write history: {err}")

    def _append(self, line: bytes) -> None:
        """Append under the journal's lock, first rotating it if `line` would take it past
        ROTATE_BYTES: two vmm processes rotating at once would put the newer file over the
        older one's place, and the older one would be lost. Appending needs no lock: when
        another vmm holds it too long (stopped, say), the line goes in without a rotation."""
        while True:
            fd = open_private(self.path, _APPEND)
            try:
                if _locked(fd, LOCK_WAIT_SECONDS):
                    if not _still_at(fd, self.path):
                        continue  # rotated by another vmm while this one waited
                    size = os.fstat(fd).st_size
                    if size and size + len(line) > ROTATE_BYTES:
                        faults.point("history.rotating")
                        os.replace(self.path, self.older)
                        continue
                os.write(fd, _on_a_fresh_line(fd, line))
                return
            finally:
                os.close(fd)  # releases the lock

    def entries(self, vm: str | None = None, uris: Collection[str] | None = None) -> list[Entry]:
        """Every readable entry, oldest first; `vm` matches a name or a UUID, `uris` (when
        given) the hosts the entries are of. A line that is no entry is skipped, and said in
        `skipped` (file and line number): a torn or foreign line must not hide the rest."""
        import json

        found = []
        self.skipped = []
        for path in (self.older, self.path):
            for number, line in enumerate(self._lines(path), 1):
                if not line.strip():
                    continue
                try:
                    entry = Entry.from_json(json.loads(line))
                except ValueError:
                    self.skipped.append(f"{path}:{number}")
                    continue
                if vm is not None and vm not in (entry.vm, entry.uuid):
                    continue
                if uris is None or entry.host in uris:
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
