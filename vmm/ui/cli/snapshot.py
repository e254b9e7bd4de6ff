"""`vmm snapshot ...`: list, create, revert and delete a VM's snapshots."""

from __future__ import annotations

import click

from vmm.ui.cli.base import CONTEXT, act_on_one, cli, confirm
from vmm.ui.cli.completion import complete_snapshots, complete_vms
from vmm.ui.cli.output import echo, echo_json
from vmm.ui.cli.session import Session, pass_session


@cli.group("snapshot", context_settings=CONTEXT)
def snapshot_group() -> None:
    """A VM's snapshots.

    \b
    Examples:
      vmm snapshot create postgres-main before-upgrade -d "pg 15 -> 16"
    """


@snapshot_group.command("ls")
@click.argument("vm", shell_complete=complete_vms)
@click.option("--json", "as_json", is_flag=True, help="Print the snapshots as a JSON array.")
@pass_session
def snapshot_ls_command(session: Session, vm: str, as_json: bool) -> None:
    """Show VM's snapshots as a tree; * marks the current one.

    \b
    Examples:
      vmm snapshot ls postgres-main --json
    """
    from vmm.ops import snapshots
    from vmm.ui import render

    ordered = snapshots.tree_of(session.host().vm(vm))
    if as_json:
        echo_json([{**snap.as_json(), "depth": depth} for depth, snap in ordered])
        return
    for line in render.snapshot_lines(ordered):
        echo(line)


@snapshot_group.command("create")
@click.argument("vm", shell_complete=complete_vms)
@click.argument("name", required=False)
@click.option("-d", "--description", default="", help="What this snapshot is for.")
@pass_session
def snapshot_create_command(session: Session, vm: str, name: str | None, description: str) -> None:
    """Snapshot VM (running or not); NAME defaults to snap-DATE-TIME.

    \b
    Examples:
      vmm snapshot create postgres-main before-upgrade -d "pg 15 -> 16"
    """
    act_on_one(session, vm, "snapshot create", name=name, description=description)


@snapshot_group.command("revert")
@click.argument("vm", shell_complete=complete_vms)
@click.argument("name", required=False, shell_complete=complete_snapshots)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_session
def snapshot_revert_command(session: Session, vm: str, name: str | None, yes: bool) -> None:
    """Return VM to snapshot NAME (default: the current snapshot); what changed since is lost.

    \b
    Examples:
      vmm snapshot revert -y postgres-main before-upgrade
    """
    confirm(f"Revert {vm} to {repr(name) if name else 'its current snapshot'}?", yes)
    act_on_one(session, vm, "snapshot revert", name=name)


@snapshot_group.command("rm")
@click.argument("vm", shell_complete=complete_vms)
@click.argument("name", shell_complete=complete_snapshots)
@click.option("--children", is_flag=True, help="Delete the snapshots below it too.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_session
def snapshot_rm_command(session: Session, vm: str, name: str, children: bool, yes: bool) -> None:
    """Delete snapshot NAME of VM (its children move up unless --children).

    \b
    Examples:
      vmm snapshot rm -y postgres-main before-upgrade
    """
    confirm(f"Delete snapshot {name!r} of {vm}{' and those below it' if children else ''}?", yes)
    act_on_one(session, vm, "snapshot rm", name=name, children=children)
