"""`vmm events`: the changes the live picker follows, one line (or JSON object) per change."""

from __future__ import annotations

import queue
import time
from datetime import datetime
from typing import Any

import click

from vmm.model.domain import Domain
from vmm.model.errors import VmmError
from vmm.ui.cli.base import cli
from vmm.ui.cli.output import echo, write
from vmm.ui.cli.session import Session, pass_session
from vmm.virt.events import HOST_EVENTS, Change
from vmm.virt.hosts import Hosts


@cli.command("events")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, per change.")
@pass_session
def events_command(session: Session, as_json: bool) -> None:
    """Print every change to the host's VMs as it happens, until Ctrl-C.

    A change is a VM defined, started, stopped, paused, saved, undefined, moved or relabelled
    (by vmm or anyone else), its guest agent coming or going, or the host's connection lost
    (vmm reconnects) and back. With --json each line is an object: `time`, `host`, `event`,
    `name`, `uuid`, and `vm` (the VM as `vmm ls --json` shows it, after the change; null once
    undefined), or `why` for a lost connection.

    \b
    Examples:
      vmm events
      vmm events --json | jq -r 'select(.event == "stopped") | .name'
    """
    from vmm.virt.events import Watch

    host = session.host()
    changes: queue.SimpleQueue[Change] = queue.SimpleQueue()
    watch = Watch(host.hosts, changes.put)
    try:
        while True:
            try:
                change = changes.get(timeout=0.5)  # (wakes up for Ctrl-C)
            except queue.Empty:
                continue
            view = _after(host, change)
            if as_json:
                write(_json_line(change, view))
            else:
                echo(_text_line(change, view, change.host or host.label))
    finally:
        watch.close()


def _after(host: Hosts, change: Change) -> Domain | None:
    """The VM as it is once changed; None when it is gone (or the change is a host's)."""
    if change.kind in HOST_EVENTS or change.kind == "undefined":
        return None
    try:
        return host.find_key(change.key)
    except VmmError:
        return None  # undefined since


def _clock(change: Change) -> str:
    return time.strftime("%H:%M:%S", time.localtime(change.at))


def _text_line(change: Change, view: Domain | None, host: str) -> str:
    if change.kind == "lost":
        return f"{_clock(change)}  host {host}: connection lost ({change.why}); reconnecting"
    if change.kind == "back":
        return f"{_clock(change)}  host {host}: connection back"
    if view is None:
        return f"{_clock(change)}  {change.kind:<11} {change.name}"
    return f"{_clock(change)}  {change.kind:<11} {view.place}  ({view.shown.name})"


def _json_line(change: Change, view: Domain | None) -> str:
    import json

    record: dict[str, Any] = {
        "time": datetime.fromtimestamp(change.at).astimezone().isoformat(timespec="milliseconds"),
        "host": change.host,
        "event": change.kind,
    }
    if change.kind == "lost":
        record["why"] = change.why
    elif change.kind not in HOST_EVENTS:
        record |= {"name": change.name, "uuid": change.uuid}
        record["vm"] = view.as_json() if view is not None else None
    return json.dumps(record, ensure_ascii=False)
