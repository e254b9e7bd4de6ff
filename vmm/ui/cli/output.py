"""How the CLI writes: every line escaped for the terminal, errors and warnings on stderr."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from vmm.model.sides import MetadataChange
    from vmm.ops.perform import Outcome


def echo(text: str = "", **options: Any) -> None:
    """click.echo for everything but JSON: names are shown, never obeyed (vmm.model.printable)."""
    from vmm.model.printable import printable

    click.echo(printable(text), **options)


def fail(message: str, code: int = 1) -> None:
    echo(f"vmm: error: {message}", err=True)
    sys.exit(code)


def warn(message: str) -> None:
    echo(f"vmm: warning: {message}", err=True)


def echo_json(data: Any) -> None:
    """A list prints one element per line: still easy to read and to grep, and written by
    json's C encoder (any `indent` falls back to pure Python, 20x slower at 1,000 VMs)."""
    import json  # only for --json: start-up time counts

    if isinstance(data, list) and data:
        rows = ",\n".join(json.dumps(item, ensure_ascii=False) for item in data)
        click.echo(f"[\n{rows}\n]")
    else:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def echo_changes(changes: Iterable[MetadataChange]) -> None:
    for change in changes:
        if change.before == change.after:
            echo(f"{change.vm}: unchanged")
        elif change.before.path != change.after.path:
            echo(f"{change.vm}: {change.before.path} -> {change.after.path}")
        else:
            labels = ", ".join(change.after.labels) or "no labels"
            echo(f"{change.vm}: {labels}")


def report(outcomes: Sequence[Outcome]) -> None:
    """A line per VM, errors on stderr; exit 1 if any failed."""
    for outcome in outcomes:
        if outcome.ok:
            echo(f"{outcome.vm}: {outcome.message}")
        else:
            echo(f"vmm: error: {outcome.message}", err=True)
    if not all(outcome.ok for outcome in outcomes):
        sys.exit(1)
