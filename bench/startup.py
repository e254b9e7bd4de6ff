"""Start-up: `vmm --version`, `--help` and `ls` on the demo host against virsh and a bare floor."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

from bench.measure import Command, Timing, time_interleaved
from vmm.ui.config import demo_uri

RUNS = 21
FLOOR = (
    "import libvirt, click, lxml.etree\n"
    "c = libvirt.open({uri!r})\n"
    "print([d.name() for d in c.listAllDomains()])\n"
)


@dataclass(frozen=True)
class Startup:
    version: Timing
    help: Timing
    ls: Timing
    virsh: Timing
    floor: Timing
    imports: list[tuple[int, str]]  # the slowest imports of `vmm ls`: (cumulative µs, module)


def import_profile(python: str) -> list[tuple[int, str]]:
    """The slowest top-level imports of `vmm --demo ls`, from `python -X importtime`."""
    done = subprocess.run(
        [python, "-X", "importtime", "-m", "vmm", "--demo", "ls"], capture_output=True, text=True
    )
    found = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        if len(name) - len(name.lstrip()) == 1:  # top level: one space of indent
            found.append((int(parts[1]), name.strip()))
    return sorted(found, reverse=True)[:12]


def run(vmm: str) -> Startup:
    uri = demo_uri()
    python = sys.executable
    version, help_, ls, virsh, floor = time_interleaved(
        [
            Command("vmm --version", [vmm, "--version"]),
            Command("vmm --help", [vmm, "--help"]),
            Command("vmm --demo ls", [vmm, "--demo", "ls"]),
            Command("virsh list --all", ["virsh", "-c", uri, "list", "--all"]),
            Command(
                "floor: python imports libvirt, click, lxml and lists",
                [python, "-c", FLOOR.format(uri=uri)],
                shown="python -c 'import libvirt, click, lxml.etree; ...listAllDomains()'",
            ),
        ],
        RUNS,
    )
    return Startup(version, help_, ls, virsh, floor, import_profile(python))
