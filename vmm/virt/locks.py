"""Serialising vmm's own changes to one VM across the vmm processes of this machine.

libvirt offers no compare-and-set: two processes that each read a VM's metadata, change it and
write it back lose one of the changes. Every read-modify-write (and every clone, which freezes
its source) holds the VM's lock, a file under $XDG_RUNTIME_DIR/vmm/locks locked with flock.
A writer on another machine, or `virsh metadata --set`, can still race: the README says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Iterator, Mapping

from vmm.model.errors import InvalidState

WAIT_SECONDS = 60.0
_POLL_SECONDS = 0.02


def private_dir(path: str) -> str:
    """`path` as a directory only this user can enter, created if need be; refused when it is
    a link or someone else's (another user could then read or plant files in it)."""
    with contextlib.suppress(FileExistsError):
        os.makedirs(path, mode=0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise InvalidState(f"{path} is not a directory of this user's: vmm will not use it")
    if info.st_mode & stat.S_ISVTX:  # /tmp, say, even root's: closing it locks others out
        raise InvalidState(f"{path} is a shared directory: vmm keeps its files in one of its own")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def runtime_dir(env: Mapping[str, str] = os.environ) -> str:
    """$XDG_RUNTIME_DIR/vmm, else /tmp/vmm-UID: where this machine's vmm processes meet."""
    base = env.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base):
        return private_dir(os.path.join(base, "vmm"))
    return private_dir(os.path.join("/tmp", f"vmm-{os.getuid()}"))


def lock_path(uuid: str) -> str:
    locks = private_dir(os.path.join(runtime_dir(), "locks"))
    return os.path.join(locks, f"{uuid.lower()}.lock")


@contextlib.contextmanager
def vm_lock(uuid: str, name: str, wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold VM `uuid`'s lock for the block; waits up to `wait` seconds for another vmm
    process to finish with it (Ctrl-C ends the wait), then fails naming the VM."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(lock_path(uuid), flags, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise InvalidState(
                        f"another vmm process has been changing {name!r} for {wait:g}s;"
                        " try again once it is done"
                    ) from None
                time.sleep(_POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # releases the lock
