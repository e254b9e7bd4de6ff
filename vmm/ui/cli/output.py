"""How the CLI writes: every line escaped for the terminal, errors and warnings on stderr."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import click

from vmm.model.errors import VmmError, describe_os_error

if TYPE_CHECKING:
    from vmm.model.sides import MetadataChange
    from vmm.ops.perform import Outcome


class OutputLost(VmmError):
    """The standard output is closed or cannot be written (a full disk): what the command
    says would be lost, and exit 0 would tell a script it got it."""


def write(text: str, *, err: bool = False, **options: Any) -> None:
    """click.echo, but output that cannot be written is an error (not lost at exit 0, nor an
    'internal error'); stderr that cannot be written has no one to tell."""
    if not err and sys.stdout is None:
        raise OutputLost("the standard output is closed: nothing can be written")
    try:
        click.echo(text, err=err, **options)
    except BrokenPipeError:
        raise  # the reader left (`vmm ls | head -1`): the exit point says 141 without a word
    except (OSError, ValueError) as failure:  # ValueError: written after the stream was closed
        if err:
            return
        why = describe_os_error(failure) if isinstance(failure, OSError) else "it is closed"
        raise OutputLost(f"cannot write the output: {why}") from None


def echo(text: str = "", **options: Any) -> None:
    """click.echo for everything but JSON: names are shown, never obeyed (vmm.model.printable)."""
    from vmm.model.printable import printable

    write(printable(text), **options)


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
        write(f"[\n{rows}\n]")
    else:
        write(json.dumps(data, indent=2, ensure_ascii=False))


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
