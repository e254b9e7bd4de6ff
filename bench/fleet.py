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
from bench.measure import Timing, time_command
from bench.proxy import DelayProxy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

COUNT = 300
DELAY = 0.005
NAMES = ("a", "b", "c")


@dataclass(frozen=True)
class FleetTimes:
    singles: tuple[Timing, ...]
    together: Timing


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
        singles = tuple(
            time_command(f"host {n} alone", [vmm, "-c", n, "ls", "-r", "--json"], 5, **env)
            for n in NAMES
        )
        together = time_command(
            "all three hosts", [vmm, "--all-hosts", "ls", "-r", "--json"], 5, **env
        )
    slowest = max(t.median for t in singles)
    print(f"  fleet: slowest single {slowest:.3f}s, all three {together.median:.3f}s", flush=True)
    return FleetTimes(singles, together)
