"""Terminal text for the CLI: rows, trees and detail lines. Returns strings; never prints."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import click

from vmm.model import tree
from vmm.model.domain import Domain

if TYPE_CHECKING:
    from vmm.model.journal import Entry
    from vmm.ops.info import Details, DiskInfo
    from vmm.ops.snapshots import Snapshot

# a state's menu style as a terminal colour
_COLOURS = {"running": "green", "paused": "yellow", "saved": "blue", "crashed": "red"}


def state_mark(domain: Domain) -> str:
    state = domain.shown
    colour = _COLOURS.get(state.style)
    return click.style(state.mark, fg=colour) if colour else state.mark


def state_text(domain: Domain) -> str:
    return domain.shown.name


def vm_row(domain: Domain, *, full_place: bool = False, with_host: bool = False) -> str:
    name = domain.place if full_place else domain.ref
    host = f"  @{domain.host}" if with_host and domain.host else ""
    labels = " ".join(f"#{label}" for label in domain.labels)
    state = click.style(state_text(domain), dim=True)
    return f"{state_mark(domain)} {name}{host}  {state}  {labels}".rstrip()


def folder_row(folder: tree.Folder) -> str:
    noun = "VM" if folder.vms == 1 else "VMs"
    return f"{click.style(folder.name + '/', fg='cyan', bold=True)}  ({folder.vms} {noun})"


def tree_lines(domains: Sequence[Domain], *, with_vms: bool = False) -> list[str]:
    """The folder tree, drawn depth first; linear in the VMs and folders, and with no
    recursion however deep a folder is."""
    lines = [f"{click.style('/', fg='cyan', bold=True)}  ({len(domains)})"]
    children = tree.layout(domains)
    here = tree.by_folder(domains) if with_vms else {}

    def entries(path: str, prefix: str) -> list[tuple[str, tuple[str, str] | None]]:
        """Each line inside `path`, with the folder to draw below it, if any."""
        inside: list[tree.Folder | Domain] = [*children.get(path, []), *here.get(path, [])]
        drawn: list[tuple[str, tuple[str, str] | None]] = []
        for i, entry in enumerate(inside):
            branch, extend = ("└── ", "    ") if i == len(inside) - 1 else ("├── ", "│   ")
            if isinstance(entry, tree.Folder):
                name = click.style(entry.name, fg="cyan", bold=True)
                drawn.append(
                    (f"{prefix}{branch}{name}  ({entry.vms})", (entry.path, prefix + extend))
                )
            else:
                drawn.append((f"{prefix}{branch}{vm_row(entry)}", None))
        return drawn

    stack = [iter(entries(tree.ROOT, ""))]
    while stack:
        nxt = next(stack[-1], None)
        if nxt is None:
            stack.pop()
            continue
        line, below = nxt
        lines.append(line)
        if below is not None:
            stack.append(iter(entries(*below)))
    return lines


def _mib(kib: int) -> str:
    return f"{kib // 1024} MiB"


def info_lines(domain: Domain) -> list[str]:
    fields = [
        ("name", domain.name),
        ("uuid", domain.uuid),
        ("host", domain.host),
        ("path", domain.path),
        ("labels", ", ".join(domain.labels) or "-"),
        ("state", state_text(domain)),
        ("persistent", "yes" if domain.persistent else "no (transient)"),
        ("saved state", "yes" if domain.managed_save else "no"),
        ("snapshots", str(domain.snapshots)),
        ("vcpus", str(domain.vcpus)),
        ("memory", _mib(domain.memory_kib)),
    ]
    return [f"{key + ':':<12} {value}" for key, value in fields if value != ""]


def label_lines(counts: dict[str, int]) -> list[str]:
    width = max((len(label) for label in counts), default=0)
    return [f"{label:<{width}}  {count}" for label, count in counts.items()]


def snapshot_lines(ordered: Sequence[tuple[int, Snapshot]]) -> list[str]:
    lines = []
    for depth, snap in ordered:
        when = datetime.fromtimestamp(snap.created).strftime("%Y-%m-%d %H:%M")
        mark = click.style(" *", fg="green", bold=True) if snap.current else ""
        about = f"  {snap.description}" if snap.description else ""
        lines.append(f"{'  ' * depth}{snap.name}{mark}  {when}  {snap.state}{about}")
    return lines


def _disk_line(disk: DiskInfo) -> str:
    chain = "".join(f" <- {image}" for image in disk.chain)
    kind = f"{disk.device}, {disk.format}" if disk.format else disk.device
    return f"{disk.target} ({kind}): {disk.path or '-'}{chain}"


def details_lines(info: Details) -> list[str]:
    lines = info_lines(info.domain)
    if info.cpu_percent is not None:
        lines.append(f"{'cpu:':<12} {info.cpu_percent:.1f}%")
    if info.memory_used_kib is not None:
        lines.append(f"{'memory used:':<12} {_mib(info.memory_used_kib)}")
    lines += [f"{'disk:':<12} {_disk_line(disk)}" for disk in info.disks]
    for iface in info.interfaces:
        addresses = ", ".join(iface.addresses) or "no address known"
        model = f" ({iface.model})" if iface.model else ""
        lines.append(f"{'interface:':<12} {iface.mac} on {iface.source or '-'}{model}: {addresses}")
    if info.linked_with:
        lines.append(f"{'linked with:':<12} {', '.join(info.linked_with)} (shared backing image)")
    if info.snapshots:
        lines.append("snapshot tree:")
        lines += [f"  {line}" for line in snapshot_lines(info.snapshots)]
    return lines


def history_line(entry: Entry, host: str = "") -> str:
    """One entry; the host by `host`, its name in the config, when it has one, else its URI."""
    change = entry.detail
    if entry.before is not None and entry.after is not None:
        change = f"{_place(entry.before)} -> {_place(entry.after)}"
    return f"{entry.time}  {entry.vm}  {entry.action}: {change}  ({host or entry.host})"


def _place(meta: dict) -> str:
    labels = "".join(f" #{label}" for label in meta.get("labels", []))
    return f"{meta.get('path', '/')}{labels}"
