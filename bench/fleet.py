"""Several hosts: three separate libvirt daemons, 300 VMs each, each behind a 5 ms link.
Listing all of them at once should take no longer than the slowest one alone, plus 20%."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import libvirt

from bench import hosts
from bench.measure import Command, Timing, time_interleaved
from bench.proxy import DelayProxy
from vmm.virt.fleet import MIN_WORKERS
from vmm.virt.listing import LIST_WORKERS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

COUNT = 300
DELAY = 0.005
RUNS = 11
NAMES = ("a", "b", "c")
# the floor's calls in flight per host: as many as one host alone, and the Fleet's share
FLOOR_DEPTHS = (LIST_WORKERS, max(MIN_WORKERS, LIST_WORKERS // len(NAMES)))


@dataclass(frozen=True)
class FleetTimes:
    singles: tuple[Timing, ...]
    together: Timing
    apart: Timing  # three `vmm -c NAME` at once, a process per host: the machine's own limit
    bare_single: Timing  # the floor (bench/bare.py) on host a alone
    bare_together: tuple[Timing, ...]  # the floor on all three, at two depths of calls

    @property
    def ratio(self) -> float:
        return self.together.median / max(t.median for t in self.singles)

    @property
    def apart_ratio(self) -> float:
        """Three processes sharing nothing but the machine, against the slowest host alone."""
        return self.apart.median / max(t.median for t in self.singles)

    @property
    def bare_ratio(self) -> float:
        """The floor's three hosts against its one, at its best depth for three."""
        return min(t.median for t in self.bare_together) / self.bare_single.median


def run(vmm: str) -> FleetTimes:
    from daemons import PrivateDaemon

    tmp = Path(tempfile.mkdtemp(prefix="vmm-bench-fleet-"))
    with contextlib.ExitStack() as stack:
        uris = {}
        for name in NAMES:
            daemon = PrivateDaemon()
            stack.callback(daemon.stop)
            conn = libvirt.open(daemon.uri)  # keeps the node alive
            stack.callback(conn.close)
            for i in range(COUNT):
                conn.defineXML(hosts.domain_xml(i))
            socket = tmp / f"{name}.sock"
            stack.enter_context(DelayProxy(socket, daemon.socket, DELAY))
            uris[name] = f"test+unix:///default?socket={socket}"
        config = tmp / "vmm"
        config.mkdir()
        (config / "config.toml").write_text(
            "".join(f'[hosts.{n}]\nuri = "{u}"\n' for n, u in uris.items())
        )
        env = {"XDG_CONFIG_HOME": str(tmp)}
        python = sys.executable
        bare = [python, "-m", "bench.bare"]
        every = list(uris.values())
        alone = {n: [vmm, "-c", n, "ls", "-r", "--json"] for n in NAMES}
        timings = time_interleaved(
            [
                *(Command(f"host {n} alone", alone[n]) for n in NAMES),
                Command("all three hosts", [vmm, "--all-hosts", "ls", "-r", "--json"]),
                Command(
                    "each host alone, the three started together (three processes)",
                    alone[NAMES[0]],
                    " & ".join(" ".join(alone[n]) for n in NAMES),
                    tuple(alone[n] for n in NAMES[1:]),
                ),
                Command(
                    f"floor: host a alone, {LIST_WORKERS} calls in flight",
                    [*bare, str(LIST_WORKERS), uris["a"]],
                ),
                *(
                    Command(
                        f"floor: all three, {calls} calls in flight each",
                        [*bare, str(calls), *every],
                    )
                    for calls in FLOOR_DEPTHS
                ),
            ],
            RUNS,
            **env,
        )
        singles, (together, apart, bare_single, *bare_together) = (
            tuple(timings[: len(NAMES)]),
            timings[len(NAMES) :],
        )
    times = FleetTimes(singles, together, apart, bare_single, tuple(bare_together))
    print(
        f"  fleet: vmm {times.ratio:.2f}x, three processes {times.apart_ratio:.2f}x,"
        f" floor {times.bare_ratio:.2f}x",
        flush=True,
    )
    return times
