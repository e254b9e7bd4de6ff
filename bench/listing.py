"""Listing at scale: `vmm ls -r --json` against `virsh list --all` and a virsh metadata loop,
on the shared test node reached directly or through a delay proxy (a simulated remote host)."""

from __future__ import annotations

import json
import subprocess
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from bench import hosts
from bench.measure import Timing, time_command, time_shell
from bench.proxy import DelayProxy
from vmm.model.metadata import NAMESPACE

SIZES = (100, 1000, 5000)
DELAYS = (0.0, 0.005)
VMM_RUNS = 11
LOOP_MAX = 1000  # the virsh loop at 5000 VMs would take most of the budget on its own


@dataclass(frozen=True)
class ListingRow:
    count: int
    delay: float
    vmm: Timing
    virsh_list: Timing
    virsh_loop: Timing | None


def _uri(socket: Path | None) -> str:
    return hosts.SHARED if socket is None else f"{hosts.SHARED}?socket={socket}"


def _check_vmm_sees_all(vmm: str, uri: str, count: int) -> None:
    out = subprocess.run(
        [vmm, "-c", uri, "ls", "-r", "--json"], capture_output=True, text=True, check=True
    )
    seen = [vm for vm in json.loads(out.stdout) if vm["name"].startswith(hosts.PREFIX)]
    if len(seen) != count or not any(vm["path"] != "/" for vm in seen):
        raise RuntimeError(f"vmm listed {len(seen)} of {count} bench VMs")


def measure(vmm: str, count: int, delay: float) -> ListingRow:
    tmp = Path(tempfile.mkdtemp(prefix="vmm-bench-"))
    socket = tmp / "proxy.sock" if delay else None
    proxy = DelayProxy(socket, hosts.DAEMON_SOCKET, delay) if socket else nullcontext()
    with proxy:
        uri = _uri(socket)
        _check_vmm_sees_all(vmm, uri, count)
        slow = count * delay >= 5
        vmm_t = time_command("vmm ls -r --json", [vmm, "-c", uri, "ls", "-r", "--json"], VMM_RUNS)
        virsh_t = time_command(
            "virsh list --all", ["virsh", "-c", uri, "list", "--all"], 1 if slow else 3
        )
        loop = None
        if count <= LOOP_MAX:
            script = (
                f"for n in $(virsh -c '{uri}' list --all --name); do "
                f"virsh -c '{uri}' metadata \"$n\" --uri {NAMESPACE} >/dev/null 2>&1 || true; done"
            )
            loop = time_shell("virsh list --name + virsh metadata per VM", script, 1)
    return ListingRow(count, delay, vmm_t, virsh_t, loop)


def run(vmm: str) -> list[ListingRow]:
    rows = []
    for count in SIZES:
        with hosts.populated(count):
            for delay in DELAYS:
                rows.append(measure(vmm, count, delay))
                print(
                    f"  listing N={count} delay={delay * 1000:.0f}ms: vmm {rows[-1].vmm.median:.3f}s,"
                    f" virsh list {rows[-1].virsh_list.median:.3f}s",
                    flush=True,
                )
    return rows
