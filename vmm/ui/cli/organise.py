"""Organising subcommands: mv (VMs and folders), label add and label rm."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from vmm.model.errors import InvalidInput
from vmm.ui.cli.base import CONTEXT, cli
from vmm.ui.cli.completion import (
    complete_folders,
    complete_labels,
    complete_vms,
    complete_vms_and_folders,
)
from vmm.ui.cli.output import echo_changes, warn
from vmm.ui.cli.session import Session, pass_session

if TYPE_CHECKING:
    from collections.abc import Sequence

    from vmm.model.sides import MetadataChange


def _report(changes: Sequence[MetadataChange]) -> None:
    """A line per VM, then what the user should know of each change (on stderr)."""
    echo_changes(changes)
    for change in changes:
        for note in change.notes:
            warn(note)


@cli.command("mv")
@click.argument("sources", nargs=-1, required=True, shell_complete=complete_vms_and_folders)
@click.argument("dest", shell_complete=complete_folders)
@pass_session
def mv_command(session: Session, sources: tuple[str, ...], dest: str) -> None:
    """Move VMs into folder DEST, or rename a folder: `vmm mv /old /new`.

    A SOURCE is a VM name or UUID; a SOURCE that names no VM but an existing folder moves
    every VM under that folder, keeping their sub-folders.
    """
    from vmm.ops import organise

    moves = organise.plan_moves(session.host(), sources, dest, listing=session.domains)
    _report(organise.move_all(moves))


@cli.group("label", context_settings=CONTEXT)
def label_group() -> None:
    """Add or remove labels on a VM."""


@label_group.command("add")
@click.argument("vm", shell_complete=complete_vms)
@click.argument("labels", nargs=-1, required=True, shell_complete=complete_labels)
@pass_session
def label_add_command(session: Session, vm: str, labels: tuple[str, ...]) -> None:
    """Add LABELS to VM."""
    from vmm.model.metadata import normalise_labels
    from vmm.ops import organise

    normalise_labels(labels)
    _report([organise.add_labels(session.host().vm(vm), labels)])


@label_group.command("rm")
@click.argument("vm", shell_complete=complete_vms)
@click.argument("labels", nargs=-1, required=True, shell_complete=complete_labels)
@pass_session
def label_rm_command(session: Session, vm: str, labels: tuple[str, ...]) -> None:
    """Remove LABELS from VM."""
    from vmm.model.metadata import normalise_labels
    from vmm.ops import organise

    handle = session.host().vm(vm)
    current, _ = handle.read_metadata()
    missing = [label for label in normalise_labels(labels) if label not in current.labels]
    if missing:
        raise InvalidInput(f"VM {vm!r} has no label {missing[0]!r}")
    _report([organise.remove_labels(handle, labels)])
