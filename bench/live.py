"""The live picker: how soon a change made with virsh shows in the open picker (N=1000), and
whether typing keeps up while the open list is reloaded again and again (N=5000).

Both watch the real vmm and fzf in tmux on libvirtd's shared test node, as bench/picker.py does.
"""

from __future__ import annotations

import shlex
import statistics
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from bench import hosts
from bench.measure import Timing
from bench.picker import _screen, _until

RUNS = 10
LATENCY_COUNT = 1000
TYPING_COUNT = 5000
TARGET = "aaa-live"  # sorts first among the VMs at /, so it is on screen
QUERY = "aaa-live-typed"  # what is typed while the list reloads


@dataclass(frozen=True)
class LiveTimes:
    change_shown: Timing  # from virsh's exit to the row's new state on screen
    virsh_itself: Timing  # the virsh command alone
    keys_typed: int
    keys_shown: int
    reloads_while_typing: int
    typing_count: int


def _target_xml() -> str:
    root = etree.Element("domain", type="test")
    etree.SubElement(root, "name").text = TARGET
    etree.SubElement(root, "memory", unit="MiB").text = "512"
    etree.SubElement(etree.SubElement(root, "os"), "type").text = "hvm"
    return etree.tostring(root, encoding="unicode")


def _picker(vmm: str, scratch: Path) -> str:
    session = f"vmm-bench-live-{uuid.uuid4().hex[:8]}"
    command = f"XDG_CACHE_HOME={shlex.quote(str(scratch))} {shlex.join([vmm, '-c', hosts.SHARED])}"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40", command], check=True
    )
    _until(session, lambda s: f"○ {TARGET}" in s)
    time.sleep(1.0)  # the fresh listing in, the follower registered
    return session


def _virsh(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run(["virsh", "-q", "-c", hosts.SHARED, *args], check=True, capture_output=True)
    return time.perf_counter() - start


def _latency(vmm: str, scratch: Path) -> tuple[list[float], list[float]]:
    shown, virsh = [], []
    with hosts.populated(LATENCY_COUNT) as conn:
        dom = conn.defineXML(_target_xml())
        session = _picker(vmm, scratch)
        try:
            for run in range(RUNS):
                starting = run % 2 == 0
                virsh.append(_virsh("start" if starting else "destroy", TARGET))
                done = time.perf_counter()
                mark = "●" if starting else "○"
                shown.append(_until(session, lambda s, m=mark: f"{m} {TARGET}" in s) - done)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
            if dom.isActive():
                dom.destroy()
            dom.undefine()
    return shown, virsh


def _typing(vmm: str, scratch: Path) -> tuple[int, int]:
    """Type QUERY one key every 50 ms while the target VM is started and stopped every 100 ms
    (each change reloads all of / into fzf); returns how many keys fzf shows, and reloads."""
    with hosts.populated(TYPING_COUNT) as conn:
        dom = conn.defineXML(_target_xml())
        session = _picker(vmm, scratch)
        reloads = 0
        try:
            for key in QUERY:
                if reloads % 2 == 0:
                    dom.create()
                else:
                    dom.destroy()
                reloads += 1
                subprocess.run(["tmux", "send-keys", "-t", session, "-l", key], check=True)
                time.sleep(0.05)
            time.sleep(1.0)
            prompt = _screen(session).splitlines()[0]
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
            if dom.isActive():
                dom.destroy()
            dom.undefine()
    typed = prompt.removeprefix("/> ").split("  ")[0].strip()
    shown = sum(1 for a, b in zip(typed, QUERY, strict=False) if a == b) if typed else 0
    return shown, reloads


def run(vmm: str) -> LiveTimes:
    scratch = Path(tempfile.mkdtemp(prefix="vmm-bench-live-"))
    keeper = f"vmm-bench-keeper-{uuid.uuid4().hex[:8]}"
    subprocess.run(["tmux", "new-session", "-d", "-s", keeper, "sleep", "3600"], check=True)
    try:
        shown, virsh = _latency(vmm, scratch)
        keys, reloads = _typing(vmm, scratch)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", keeper], capture_output=True)
    print(
        f"  live: change shown {statistics.median(shown) * 1000:.0f} ms after virsh;"
        f" typing {keys}/{len(QUERY)} keys shown over {reloads} reloads"
    )
    return LiveTimes(
        Timing("virsh start/destroy to the row's new state", f"virsh start {TARGET}", tuple(shown)),
        Timing("virsh start/destroy itself", f"virsh -c {hosts.SHARED} start", tuple(virsh)),
        len(QUERY),
        keys,
        reloads,
        TYPING_COUNT,
    )
