"""Organising subcommands: mv (VMs and folders), label add and label rm."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from vmm.model.errors import InvalidInput
from vmm.ui.cli.base import CONTEXT, cli, targets
from vmm.ui.cli.completion import (
    complete_folders,
    complete_labels,
    complete_labels_of_targets,
    complete_vms_and_folders,
)
from vmm.ui.cli.output import echo, echo_changes, warn
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
@click.option("--pool", help="With DEST HOST:, the target's storage pool for the disks.")
@click.option("--stop", is_flag=True, help="With DEST HOST:, shut running VMs down first.")
@click.option(
    "--live", is_flag=True, help="With DEST HOST:, move running VMs as they run (QEMU to QEMU)."
)
@click.option(
    "--discard-save", is_flag=True, help="With DEST HOST:, drop a saved state (it cannot cross)."
)
@click.option(
    "--keep-chain",
    is_flag=True,
    help="With DEST HOST:, move a linked clone onto the same base there (else it is flattened).",
)
@pass_session
def mv_command(
    session: Session,
    sources: tuple[str, ...],
    dest: str,
    pool: str | None,
    stop: bool,
    live: bool,
    discard_save: bool,
    keep_chain: bool,
) -> None:
    """Move VMs into folder DEST, or rename a folder: `vmm mv /old /new`; or to another host:
    `vmm mv VM HOST:`.

    A SOURCE is a VM name or UUID; a SOURCE holding a '/' (`/lab/web`, `lab/web`) is a folder
    and moves every VM under it, keeping their sub-folders. A DEST `HOST:` (a host of the
    config's [hosts.NAME] tables, and the colon) moves shut-off VMs there: their disks are
    streamed through both hosts' storage APIs and checked, and the VM keeps its UUID, MACs,
    folder and labels; the source goes only once all of it is on the target. With --live, a
    running VM moves as it runs (libvirt's peer-to-peer migration, its disks copied): the
    source host's libvirtd must reach the target's URI itself. A linked clone is flattened
    into one image on the way, or with --keep-chain moved as it is onto a copy of its base
    already on the target (found by name, checked byte for byte).

    \b
    Examples:
      vmm mv nginx haproxy /lab/web
      vmm mv -c lab1 nginx lab2:
      vmm mv -c lab1 --live nginx lab2:
    """
    from vmm.ops import organise

    host_name, colon, rest = dest.partition(":")
    target = session.other_host(host_name) if colon and "/" not in host_name else None
    if target is None and colon and not rest and "/" not in host_name:
        raise InvalidInput(f"{dest!r}: no host {host_name!r} in the config ([hosts.NAME] tables)")
    if target is not None:
        if rest:
            raise InvalidInput(f"{dest!r}: a move to another host takes HOST: alone")
        how = {"stop": stop, "discard_save": discard_save, "live": live, "keep_chain": keep_chain}
        _move_to_host(session, sources, target, pool, **how)
        return
    if pool or stop or discard_save or live or keep_chain:
        raise InvalidInput(
            "--pool, --stop, --live, --discard-save and --keep-chain go with a move to a host"
            " (HOST:)"
        )
    moves = organise.plan_moves(session.host(), sources, dest, listing=session.domains)
    _report(organise.move_all(moves))


def _move_to_host(
    session: Session, sources: tuple[str, ...], target, pool: str | None, **how: bool
) -> None:
    from vmm.ops import move
    from vmm.ui.cli.clone import progress_line

    for ref in sources:
        vm = session.host().vm(ref)
        echo(f"{vm.dom.name()}: {move.move(vm, target, pool, progress=progress_line, **how)}")


@cli.group("label", context_settings=CONTEXT)
def label_group() -> None:
    """Add or remove labels on VMs.

    \b
    Examples:
      vmm label add -t web nginx haproxy
    """


def _label_option(complete: Callable) -> Callable:
    return click.option(
        "-t", "--tag", "tags", multiple=True, metavar="LABEL", shell_complete=complete,
        help="The label to add or remove (repeatable).",
    )  # fmt: skip


def _relabel(
    session: Session,
    vms: tuple[str, ...],
    labels: tuple[str, ...],
    tags: tuple[str, ...],
    verb: str,
) -> None:
    """Add or remove the labels `tags` on the VMs chosen; a line per VM, exit 1 if any failed."""
    from vmm.model.metadata import normalise_labels
    from vmm.ops import organise
    from vmm.ops.selection import select

    if not tags:  # `label add nginx haproxy`: is haproxy a VM or a label? Never guessed.
        raise click.UsageError(
            f"name the labels with -t: vmm label {verb} -t LABEL [-t LABEL]... VM|FOLDER..."
        )
    normalise_labels(tags)
    chosen = select(session.host(), vms, labels)
    changes, failures = organise.relabel_each(chosen, tags, remove=verb == "rm")
    _report(changes)
    for failure in failures:
        echo(f"vmm: error: {failure}", err=True)
    if failures:
        sys.exit(1)


@label_group.command("add")
@_label_option(complete_labels)
@targets
@pass_session
def label_add_command(
    session: Session, vms: tuple[str, ...], labels: tuple[str, ...], tags: tuple[str, ...]
) -> None:
    """Add the labels given with -t to VMs, folders or the VMs with a --label.

    \b
    Examples:
      vmm label add -t web -t prod nginx haproxy
    """
    _relabel(session, vms, labels, tags, "add")


@label_group.command("rm")
@_label_option(complete_labels_of_targets)
@targets
@pass_session
def label_rm_command(
    session: Session, vms: tuple[str, ...], labels: tuple[str, ...], tags: tuple[str, ...]
) -> None:
    """Remove the labels given with -t from VMs, folders or the VMs with a --label.

    \b
    Examples:
      vmm label rm -t staging /lab/web
    """
    _relabel(session, vms, labels, tags, "rm")
