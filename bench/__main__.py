"""`make bench`: every benchmark, then BENCHMARKS.md and its plots.

Run: python -m bench [listing] [startup] [picker] [live] [clones] [move] [fleet]   (default: all of them)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bench import clones, fleet, listing, live, move, picker, report, startup
from bench.measure import fmt
from bench.missed import missed_section

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("listing", "startup", "picker", "live", "clones", "move", "fleet")


def vmm_executable() -> str:
    return str(Path(sys.executable).with_name("vmm"))


def listing_section(rows) -> list[str]:
    lines = [
        "## Listing at scale",
        "",
        "libvirtd's shared `test+unix:///default` node holds N domains (half with vmm metadata in",
        "nested folders, with labels; a third running), filled through the API and kept alive by",
        "an open connection. The 5 ms rows go through `bench/proxy.py`, a unix-socket proxy that",
        "delays every chunk 5 ms each way: a simulated remote host. kcli is configured for the same",
        "URI (its kvm provider's `url`, in a private `~/.kcli/config.yml`). The floor is",
        "`bench/floor.py`: bare libvirt-python making every call vmm makes (one handshake, the",
        f"host-wide calls at once, then each VM's calls {listing.FLOOR_CALLS} in flight) and nothing else.",
        "",
        "| N | link | vmm ls -r --json | floor | virsh list --all | kcli list vm | virsh metadata loop | vmm vs virsh list | vmm vs kcli |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        loop = fmt(r.virsh_loop.median) if r.virsh_loop else "not run"
        ratio = r.vmm.median / r.virsh_list.median
        lines.append(
            f"| {r.count} | {r.delay * 1000:.0f} ms | {fmt(r.vmm.median)} ({fmt(r.vmm.spread[0])}–{fmt(r.vmm.spread[1])})"
            f" | {fmt(r.floor.median)} | {fmt(r.virsh_list.median)} | {fmt(r.kcli.median)} | {loop}"
            f" | {ratio:.3f}x the time | {r.kcli.median / r.vmm.median:.1f}x faster |"
        )
    lines += [
        "",
        "![listing time against N](bench-listing.png)",
        "",
        "Commands (URI is `test+unix:///default`, with `?socket=PROXY` for the 5 ms rows):",
        f"`vmm -c URI ls -r --json`; `python bench/floor.py {listing.FLOOR_CALLS} URI`; `virsh -c URI list --all`;",
        "`kcli list vm` (HOME a private directory whose `.kcli/config.yml` says `url: URI`);",
        '`for n in $(virsh -c URI list --all --name); do virsh -c URI metadata "$n" --uri http://calebstew.art/xmlns/vmm; done`.',
        f"vmm, the floor and virsh list ran {listing.VMM_RUNS} times per cell, taking turns (virsh list once where a run",
        f"takes over 5 s), kcli {listing.KCLI_RUNS} times, the loop once;",
        "the loop is not run at N=5000, where it would take most of the time budget alone.",
        "",
    ]
    return lines


def startup_section(s) -> list[str]:
    lines = [
        "## Start-up",
        "",
        "On the bundled demo host (25 VMs, libvirt's test driver), with vmm installed as a user",
        "installs it (`pip install .`, not editable).",
        "",
        "| command | median | spread | runs |",
        "|---|---|---|---|",
    ]
    lines += [report.timing_row(t) for t in (s.version, s.help, s.ls, s.virsh, s.floor)]
    lines += [
        "",
        f"`vmm --demo ls` takes {s.ls.median / s.floor.median:.2f}x the floor (a bare `python -c` that"
        " imports libvirt, click and lxml and lists the same host).",
        "",
        "Slowest top-level imports of `vmm --demo ls` (`python -X importtime`, cumulative):",
        "",
    ]
    lines += [f"- {name}: {us / 1000:.1f} ms" for us, name in s.imports]
    return [*lines, ""]


def picker_section(p) -> list[str]:
    return [
        "## Picker",
        "",
        "The real vmm and fzf in tmux on a local host of 1,000 VMs (libvirtd's test node, no delay),",
        "timed from launch until the first row is on screen, and from Enter on a folder until the",
        "folder's screen is drawn (screen polled every 2 ms). Every start but the very first draws",
        "the last run's listing (`$XDG_CACHE_HOME/vmm`) at once, marked as such, while the host is",
        "listed; whatever is chosen there waits for the fresh listing, and the next screen is drawn",
        "from it (so the first folder entered pays for the listing once). The row without a cache",
        "shows the cost of listing 1,000 VMs before the first draw.",
        "",
        "| what | median | spread | runs |",
        "|---|---|---|---|",
        report.timing_row(p.first_row),
        report.timing_row(p.first_row_cold),
        report.timing_row(p.enter_folder),
        "",
    ]


def live_section(v) -> list[str]:
    return [
        "## Live picker",
        "",
        f"The real vmm and fzf in tmux on libvirtd's shared test node. Latency: {live.LATENCY_COUNT:,}",
        "VMs; a VM at / is started and destroyed with virsh, in turn, and the screen is polled every",
        "2 ms from virsh's exit until the VM's row shows its new state (vmm hears libvirt's lifecycle",
        "event, lists the host again and reloads fzf through its socket). Typing: "
        f"{live.TYPING_COUNT:,} VMs;",
        f"`{live.QUERY}` is typed one key every 50 ms while that VM is started or stopped before",
        "each key (every change reloads the whole of / into fzf); the prompt is read a second after",
        "the last key.",
        "",
        "| what | median | spread | runs |",
        "|---|---|---|---|",
        report.timing_row(v.change_shown),
        report.timing_row(v.virsh_itself),
        "",
        f"Typing during reloads at N={v.typing_count:,}: {v.keys_shown} of {v.keys_typed} keys"
        f" on the prompt after {v.reloads_while_typing} state changes.",
        "",
    ]


def clones_section(rows) -> list[str]:
    lines = [
        "## Clones",
        "",
        "On the real hypervisor (`qemu:///system`), a VM whose qcow2 disk is 1, 4 or 16 GiB with a",
        "quarter of it written (qemu-io). Bytes written: `actual-size` of the images the clone made",
        "(for a linked clone, the clone's overlay and the source's new one).",
        "",
        "| disk | data | method | time | written |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.size_gib} GiB | {r.data_gib:.2f} GiB | {r.method} | {fmt(r.seconds)} | {r.bytes_written / 2**20:.1f} MiB |"
        for r in rows
    ]
    return [*lines, "", "![clone time and bytes written](bench-clones.png)", ""]


def move_section(rows) -> list[str]:
    lines = [
        "## Moving a VM between hosts",
        "",
        "Two real QEMU hosts on this machine: the system libvirtd and a second one run by the",
        "user vmmtest (its qemu:///session, its own pool), as the tests use them. A shut-off VM",
        "whose qcow2 disk of 1, 4 or 16 GiB has a quarter written (qemu-io) is moved with",
        f"`vmm mv VM there:` ({move.RUNS} moves, there and back in turn; each streams the disk sparse",
        "(read from the file where the source is this machine, else downloaded through its",
        "libvirtd) into the target's libvirtd, reads it back (from the file: the target is this",
        "machine) to compare its checksum, and removes the source), against the same bytes moved",
        "by hand: `virsh vol-download --sparse` to a local file, then `vol-create-as` and",
        "`vol-upload --sparse` on the other host (once before each move from the source host,",
        "so that the two take turns). Medians. Landed: the space the moved disk takes on the",
        "target's file system.",
        "",
        "| disk | data | vmm mv | virsh by hand | vmm vs virsh | landed |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.size_gib} GiB | {r.data_gib:.2f} GiB | {fmt(r.vmm_seconds)} | {fmt(r.virsh_seconds)}"
        f" | {r.vmm_seconds / r.virsh_seconds:.2f}x | {r.landed / 2**30:.2f} GiB |"
        for r in rows
    ]
    return [*lines, ""]


def fleet_section(f) -> list[str]:
    return [
        "## Several hosts",
        "",
        "Three separate libvirt daemons (one per host), 300 VMs each, each behind its own 5 ms",
        "delay proxy; `vmm --all-hosts ls -r --json` against each host alone (`vmm -c NAME`),",
        "run in turn. Two rows show what this machine allows: the three single-host listings",
        "started together as three processes (sharing nothing but the machine), and the floor,",
        "`bench/bare.py`: plain libvirt-python that opens the hosts at once and reads every VM's",
        f"XML with {fleet.FLOOR_DEPTHS[0]} (or {fleet.FLOOR_DEPTHS[1]}) calls in flight per host,",
        "and nothing else.",
        "",
        "| what | median | spread | runs |",
        "|---|---|---|---|",
        *(
            report.timing_row(t)
            for t in (*f.singles, f.together, f.apart, f.bare_single, *f.bare_together)
        ),
        "",
        f"All three take {f.ratio:.2f}x the slowest host alone; the three processes started"
        f" together, {f.apart_ratio:.2f}x; the floor, {f.bare_ratio:.2f}x.",
        "",
    ]


def _target(name: str, measured: str, met: bool, why: str = "") -> str:
    return f"| {name} | {measured} | {report.verdict(met)}{why} |"


def targets_section(results) -> list[str]:
    lines = ["## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
    rows = results.get("listing")
    if rows:
        far = next(r for r in rows if r.count == 1000 and r.delay > 0)
        ratio = far.vmm.median / far.virsh_list.median
        speedup = far.virsh_loop.median / far.vmm.median
        near = next(r for r in rows if r.count == 1000 and r.delay == 0)
        local = near.vmm.median / near.virsh_list.median
        behind = [r for r in rows if r.vmm.median >= r.kcli.median]
        closest = min(rows, key=lambda r: r.kcli.median / r.vmm.median)
        lines += [
            _target(
                "N=1000 at 5 ms: vmm ls -r --json in at most 0.35 s",
                f"{fmt(far.vmm.median)} (floor {fmt(far.floor.median)})",
                far.vmm.median <= 0.35,
            ),
            _target(
                "N=1000 locally: vmm no slower than virsh list --all",
                f"{fmt(near.vmm.median)} vs {fmt(near.virsh_list.median)} ({local:.2f}x)",
                local <= 1,
            ),
            _target(
                "every listing row: vmm ahead of kcli list vm",
                f"{len(rows) - len(behind)} of {len(rows)} rows; closest"
                f" {closest.kcli.median / closest.vmm.median:.1f}x"
                f" (N={closest.count}, {closest.delay * 1000:.0f} ms)",
                not behind,
            ),
            _target("N=1000 at 5 ms: vmm ≤ 0.05x virsh list --all", f"{ratio:.3f}x", ratio <= 0.05),
            _target(
                "N=1000 at 5 ms: vmm ≥ 100x faster than the metadata loop",
                f"{speedup:.0f}x",
                speedup >= 100,
            ),
        ]
    s = results.get("startup")
    if s:
        ratio = s.ls.median / s.floor.median
        lines += [
            _target("vmm --version under 80 ms", fmt(s.version.median), s.version.median < 0.08),
            _target("vmm ls (demo) within 1.3x of the floor", f"{ratio:.2f}x", ratio <= 1.3),
        ]
    p = results.get("picker")
    if p:
        first = p.first_row.median
        lines.append(_target("picker first row within 300 ms at N=1000", fmt(first), first <= 0.3))
    v = results.get("live")
    if v:
        shown = v.change_shown.median
        lines += [
            _target(
                "a change made with virsh shows in the open picker within 300 ms at N=1000",
                f"{fmt(shown)} (median of {len(v.change_shown.runs)})",
                shown <= 0.3,
            ),
            _target(
                f"typing stays responsive during reloads at N={v.typing_count}",
                f"{v.keys_shown} of {v.keys_typed} keys shown",
                v.keys_shown == v.keys_typed,
            ),
        ]
    c = results.get("clones")
    if c:
        linked = {r.size_gib: r.seconds for r in c if r.method == "vmm clone (linked)"}
        flat = linked[max(linked)] / linked[min(linked)]
        slowest = max(linked.values())
        lines += [
            _target("linked clone: 16 GiB within 1.5x of 1 GiB", f"{flat:.2f}x", flat <= 1.5),
            _target("linked clone under 1 s", f"{fmt(slowest)} (slowest)", slowest < 1),
        ]
    m = results.get("move")
    if m:
        worst = max(m, key=lambda r: r.vmm_seconds / r.virsh_seconds)
        ratio = worst.vmm_seconds / worst.virsh_seconds
        fattest = max(m, key=lambda r: r.landed / (r.data_gib * 2**30))
        lines += [
            _target(
                "moving a disk: within 1.2x of virsh vol-download + vol-upload",
                f"{ratio:.2f}x (worst: {worst.size_gib} GiB)",
                ratio <= 1.2,
            ),
            _target(
                "moving a disk: what lands close to the data written",
                f"{fattest.landed / 2**30:.2f} GiB for {fattest.data_gib:.2f} GiB written",
                fattest.landed <= 1.1 * fattest.data_gib * 2**30,
            ),
        ]
    f = results.get("fleet")
    if f:
        floor = (
            f" (three processes: {f.apart_ratio:.2f}x; the floor: {f.bare_ratio:.2f}x)"
            if f.ratio > 1.2
            else ""
        )
        lines.append(
            _target(
                "three hosts at 5 ms: all within 1.2x of the slowest alone",
                f"{f.ratio:.2f}x",
                f.ratio <= 1.2,
                floor,
            )
        )
    return [*lines, ""]


def main(argv: list[str]) -> None:
    wanted = [a for a in argv if a in SECTIONS] or list(SECTIONS)
    vmm = vmm_executable()
    started = time.perf_counter()
    runners = {
        "listing": listing.run,
        "startup": startup.run,
        "picker": picker.run,
        "live": live.run,
        "clones": clones.run,
        "move": move.run,
        "fleet": fleet.run,
    }
    results = {}
    for name in wanted:
        print(f"bench: {name}", flush=True)
        results[name] = runners[name](vmm)
    if "listing" in results:
        report.plot_listing(results["listing"], ROOT / "bench-listing.png")
    if "clones" in results:
        report.plot_clones(results["clones"], ROOT / "bench-clones.png")
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (reproduce: `make bench`; one part: `.venv-bench/bin/python -m bench listing`).",
        "",
    ]
    lines += [
        "Machine:",
        "",
        *report.machine(),
        "",
        f"Total run time: {fmt(time.perf_counter() - started)}.",
        "",
    ]
    targets = targets_section(results)
    lines += targets + missed_section(targets, results)
    sections = {
        "listing": listing_section,
        "startup": startup_section,
        "picker": picker_section,
        "live": live_section,
        "clones": clones_section,
        "move": move_section,
        "fleet": fleet_section,
    }
    for name in wanted:
        lines += sections[name](results[name])
    (ROOT / "BENCHMARKS.md").write_text("\n".join(lines))
    print("bench: wrote BENCHMARKS.md", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
