"""Listing at scale: `vmm ls -r --json` against `virsh list --all`, `kcli list vm`, a virsh
metadata loop and the floor (bench/floor.py), on the shared test node reached directly or
through a delay proxy (a simulated remote host)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from bench import hosts
from bench.measure import Command, Timing, time_command, time_interleaved, time_shell
from bench.proxy import DelayProxy
from vmm.model.metadata import NAMESPACE
from vmm.virt.listing import LIST_WORKERS

SIZES = (100, 1000, 5000)
DELAYS = (0.0, 0.005)
VMM_RUNS = 11  # and the floor's, and virsh list's where one run is under 5 s
KCLI_RUNS = 3
LOOP_MAX = 1000  # the virsh loop at 5000 VMs would take most of the budget on its own
FLOOR_CALLS = LIST_WORKERS  # calls in flight in the floor, as in vmm's listing


@dataclass(frozen=True)
class ListingRow:
    count: int
    delay: float
    vmm: Timing
    virsh_list: Timing
    virsh_loop: Timing | None
    kcli: Timing
    floor: Timing


def _uri(socket: Path | None) -> str:
    return hosts.SHARED if socket is None else f"{hosts.SHARED}?socket={socket}"


def _check_vmm_sees_all(vmm: str, uri: str, count: int) -> None:
    out = subprocess.run(
        [vmm, "-c", uri, "ls", "-r", "--json"], capture_output=True, text=True, check=True
    )
    seen = [vm for vm in json.loads(out.stdout) if vm["name"].startswith(hosts.PREFIX)]
    if len(seen) != count or not any(vm["path"] != "/" for vm in seen):
        raise RuntimeError(f"vmm listed {len(seen)} of {count} bench VMs")


def kcli_executable() -> str:
    return str(Path(sys.executable).with_name("kcli"))


def kcli_home(tmp: Path, uri: str) -> Path:
    """A private HOME whose ~/.kcli/config.yml makes `uri` kcli's default client (kcli's kvm
    provider passes `url` to libvirt as it is); the user's own ~/.kcli is never read."""
    home = tmp / "kcli-home"
    (home / ".kcli").mkdir(parents=True, exist_ok=True)
    (home / ".kcli" / "config.yml").write_text(
        f"default:\n  client: bench\nbench:\n  type: kvm\n  url: {json.dumps(uri)}\n"
    )
    return home


def _check_kcli_sees_all(home: Path, count: int) -> None:
    out = subprocess.run(
        [kcli_executable(), "list", "vm"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HOME": str(home)},
    )
    # a table whose cells are padded to the widest name on the host
    names = (line.split("|")[1].strip() for line in out.stdout.splitlines() if line.count("|") > 2)
    seen = sum(1 for name in names if name.startswith(hosts.PREFIX))
    if seen != count:
        raise RuntimeError(f"kcli listed {seen} of {count} bench VMs")


def measure(vmm: str, count: int, delay: float) -> ListingRow:
    tmp = Path(tempfile.mkdtemp(prefix="vmm-bench-"))
    socket = tmp / "proxy.sock" if delay else None
    proxy = DelayProxy(socket, hosts.DAEMON_SOCKET, delay) if socket else nullcontext()
    with proxy:
        uri = _uri(socket)
        _check_vmm_sees_all(vmm, uri, count)
        home = kcli_home(tmp, uri)
        _check_kcli_sees_all(home, count)
        slow = count * delay >= 5
        # vmm, the floor and (where it is quick) virsh in turn, so a slow spell of the
        # machine falls on all of them alike
        fast = [
            Command("vmm ls -r --json", [vmm, "-c", uri, "ls", "-r", "--json"]),
            Command(
                "floor",
                [sys.executable, str(Path(__file__).with_name("floor.py")), str(FLOOR_CALLS), uri],
                shown=f"python bench/floor.py {FLOOR_CALLS} URI",
            ),
        ]
        virsh_list = Command("virsh list --all", ["virsh", "-c", uri, "list", "--all"])
        if not slow:
            fast.append(virsh_list)
        vmm_t, floor_t, *virsh_t = time_interleaved(fast, VMM_RUNS)
        if slow:
            virsh_t = [time_command(virsh_list.label, virsh_list.argv, 1)]
        kcli_t = time_command(
            "kcli list vm", [kcli_executable(), "list", "vm"], KCLI_RUNS, HOME=str(home)
        )
        loop = None
        if count <= LOOP_MAX:
            script = (
                f"for n in $(virsh -c '{uri}' list --all --name); do "
                f"virsh -c '{uri}' metadata \"$n\" --uri {NAMESPACE} >/dev/null 2>&1 || true; done"
            )
            loop = time_shell("virsh list --name + virsh metadata per VM", script, 1)
    return ListingRow(count, delay, vmm_t, virsh_t[0], loop, kcli_t, floor_t)


def run(vmm: str) -> list[ListingRow]:
    rows = []
    for count in SIZES:
        with hosts.populated(count):
            for delay in DELAYS:
                rows.append(measure(vmm, count, delay))
                print(
                    f"  listing N={count} delay={delay * 1000:.0f}ms: vmm {rows[-1].vmm.median:.3f}s,"
                    f" virsh list {rows[-1].virsh_list.median:.3f}s,"
                    f" kcli {rows[-1].kcli.median:.3f}s, floor {rows[-1].floor.median:.3f}s",
                    flush=True,
                )
    return rows
