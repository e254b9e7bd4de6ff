"""The picker at N=1000 on a local host (libvirtd on this machine, no delay): launch to first
drawn row, and entering a folder, timed by watching the real fzf in tmux."""

from __future__ import annotations

import shlex
import statistics
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench import hosts
from bench.measure import Timing

RUNS = 7
COUNT = 1000


@dataclass(frozen=True)
class PickerTimes:
    first_row: Timing  # with the last run's listing cached, as every start after the first
    first_row_cold: Timing  # no cache: the host is listed before anything is drawn
    enter_folder: Timing


def _screen(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
    ).stdout


def _until(session: str, done, timeout: float = 30) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if done(_screen(session)):
            return time.perf_counter()
        time.sleep(0.002)
    raise RuntimeError(f"picker benchmark timed out:\n{_screen(session)}")


def _one_run(vmm: str, uri: str, n: int, cache: Path) -> tuple[float, float]:
    session = f"vmm-bench-{n}-{uuid.uuid4().hex[:8]}"
    command = f"XDG_CACHE_HOME={shlex.quote(str(cache))} {shlex.join([vmm, '-c', uri])}"
    start = time.perf_counter()
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40", command], check=True
    )
    try:
        drawn = _until(session, lambda s: "▸ lab/" in s)
        time.sleep(0.3)
        subprocess.run(["tmux", "send-keys", "-t", session, "-l", "lab/"], check=True)
        _until(session, lambda s: s.splitlines()[0].startswith("/> lab/"))
        entered_at = time.perf_counter()
        subprocess.run(["tmux", "send-keys", "-t", session, "Enter"], check=True)
        entered = _until(session, lambda s: s.splitlines()[0].startswith("/lab> "))
        return drawn - start, entered - entered_at
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        time.sleep(1)  # let libvirtd finish what the killed picker had asked, before the next


def run(vmm: str) -> PickerTimes:
    scratch = Path(tempfile.mkdtemp(prefix="vmm-bench-picker-"))
    # a session that outlives the timed ones, so that tmux's server never exits between runs
    keeper = f"vmm-bench-keeper-{uuid.uuid4().hex[:8]}"
    subprocess.run(["tmux", "new-session", "-d", "-s", keeper, "sleep", "3600"], check=True)
    try:
        return _measure(vmm, scratch)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", keeper], capture_output=True)


def _measure(vmm: str, scratch: Path) -> PickerTimes:
    with hosts.populated(COUNT):
        cold = [_one_run(vmm, hosts.SHARED, n, scratch / f"cold{n}") for n in range(RUNS)]
        warm = [_one_run(vmm, hosts.SHARED, n, scratch / "warm") for n in range(RUNS + 1)][1:]
    first = tuple(r[0] for r in warm)
    enter = tuple(r[1] for r in warm)
    cold_first = tuple(r[0] for r in cold)
    print(
        f"  picker: first row {statistics.median(first):.3f}s (no cache {statistics.median(cold_first):.3f}s)"
    )
    command = f"vmm -c {hosts.SHARED}  ({COUNT} VMs)"
    return PickerTimes(
        Timing("vmm (picker): launch to first row", command, first),
        Timing("vmm (picker): launch to first row, no cache", command, cold_first),
        Timing("vmm (picker): enter a folder", "type lab/ then Enter", enter),
    )
