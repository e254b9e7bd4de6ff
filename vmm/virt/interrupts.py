"""Ctrl-C (and SIGTERM, a hang-up) end vmm at once, even while the main thread is held inside
a libvirt call that does not return.

Python runs signal handlers in the main thread, between bytecodes. A libvirt call waiting on a
host that never answers holds the main thread in C (libvirt retries its wait on EINTR), so the
handler would run only once the call returns. A watcher thread hears of every signal through
the wakeup fd. When the main thread has not taken a signal within GRACE seconds, the watcher
ends the process with one line, unless the main thread is in a step that must not be cut short
(a copy libvirt cannot stop, a multi-step operation and its undo): then it says what vmm waits
for, and a second signal leaves at once, what was left on record for `vmm doctor`.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Iterator

GRACE = 0.5
EXIT_INTERRUPTED = 130
WATCHED = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}

_state = {"heard": 0, "taken": 0, "warned_at": -1}
_steady: list[str] = []
_installed = False


def taken() -> None:
    """Called by every handler of a watched signal: the main thread has it in hand."""
    _state["taken"] = _state["heard"]


@contextlib.contextmanager
def steady(what: str) -> Iterator[None]:
    """A step not to be cut short by a signal: the signal waits for its end (`what` is told
    to the user: "the copy of /pool/web.qcow2")."""
    _steady.append(what)
    try:
        yield
    finally:
        _steady.pop()


def _sigint(_signum: int, _frame: object) -> None:
    taken()
    raise KeyboardInterrupt


def install() -> None:
    """Start watching (main thread only; once)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    read_end, write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _sigint)
    threading.Thread(target=_watch, args=(read_end,), daemon=True, name="vmm-signals").start()
    _installed = True


def _watch(read_end: int) -> None:
    since = None
    while True:
        ready, _, _ = select.select([read_end], [], [], 0.1)
        if ready:
            heard = [n for n in os.read(read_end, 64) if n in WATCHED]
            _state["heard"] += len(heard)
            if heard and since is None:
                since = time.monotonic()
        if _state["taken"] >= _state["heard"]:
            since, _state["warned_at"] = None, -1
            continue
        if since is not None and time.monotonic() - since >= GRACE:
            _act_on_untaken_signal()
            since = None


def _act_on_untaken_signal() -> None:
    if not _steady:
        _leave("vmm: interrupted while waiting on libvirt (what it was asked may go on there)")
    if _state["warned_at"] >= 0 and _state["heard"] > _state["warned_at"]:
        _leave(f"vmm: interrupted during {_steady[-1]}: see 'vmm doctor' for what it left")
    if _state["warned_at"] < 0:
        _state["warned_at"] = _state["heard"]
        _say(
            f"vmm: interrupted: waiting for {_steady[-1]} to end, then undoing it"
            " (Ctrl-C again leaves at once)"
        )


def _say(line: str) -> None:
    from vmm.model.printable import printable

    line = printable(line)
    with contextlib.suppress(OSError, ValueError):
        if sys.stderr is not None:
            # on a terminal the line starts below the ^C the terminal echoed
            start = "\n" if sys.stderr.isatty() else ""
            sys.stderr.write(f"{start}{line}\n")
            sys.stderr.flush()


def _leave(line: str) -> None:
    _say(line)
    with contextlib.suppress(OSError, ValueError):
        if sys.stdout is not None:
            sys.stdout.flush()
    os._exit(EXIT_INTERRUPTED)
