"""Listing subcommands: ls, tree, labels. They read; nothing here changes a VM."""

from __future__ import annotations

import click

from vmm.model.errors import NotFound
from vmm.model.states import NAMES as STATE_NAMES
from vmm.ui.cli.base import cli
from vmm.ui.cli.completion import complete_folders
from vmm.ui.cli.output import echo, echo_json
from vmm.ui.cli.session import Session, pass_session


@cli.command("ls")
@click.argument("path", default="/", shell_complete=complete_folders)
@click.option("-r", "--recursive", is_flag=True, help="Include VMs in every folder below PATH.")
@click.option(
    "-l",
    "--label",
    "labels",
    multiple=True,
    metavar="LABEL",
    help="Only VMs with this label (repeatable: all of them).",
)
@click.option(
    "--state",
    type=click.Choice(STATE_NAMES),
    help="Only VMs in this state (running, shutoff, paused, saved, ...).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print what the text shows (folders, then VMs) as one JSON array.",
)
@pass_session
def ls_command(
    session: Session,
    path: str,
    recursive: bool,
    labels: tuple[str, ...],
    state: str | None,
    as_json: bool,
) -> None:
    """List the folders and VMs at PATH (default /).

    With --json, a folder is an object with `vms` (and no `uuid`), listed before the VMs
    exactly when the text shows folders: not with -r, --label or --state.

    \b
    Examples:
      vmm ls /lab -r --label web --state running
      vmm ls -r --json | jq -r '.[].name'
    """
    from vmm.model import tree
    from vmm.model.metadata import normalise_labels, normalise_path
    from vmm.ui import render

    folder, wanted = normalise_path(path), normalise_labels(labels)
    domains = session.domains()
    if not tree.folder_exists(folder, domains):
        raise NotFound(f"no folder {folder}")
    vms = tree.with_labels(wanted, tree.in_folder(folder, domains, recursive=recursive))
    if state:
        vms = [d for d in vms if state in (d.state, render.state_text(d))]
    subs = tree.subfolders(folder, domains) if not recursive and not wanted and not state else []
    if as_json:
        folders = [{"name": sub.name, "path": sub.path, "vms": sub.vms} for sub in subs]
        echo_json([*folders, *(d.as_json() for d in vms)])
        return
    for sub in subs:
        echo(render.folder_row(sub))
    for domain in vms:
        echo(render.vm_row(domain, full_place=recursive, with_host=session.several_hosts))


@cli.command("tree")
@click.option("-v", "--vms", "with_vms", is_flag=True, help="Show the VMs in each folder too.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print every folder with its VM count as JSON."
)
@pass_session
def tree_command(session: Session, with_vms: bool = False, as_json: bool = False) -> None:
    """Show the folder tree with the number of VMs in each folder.

    \b
    Examples:
      vmm tree -v
    """
    from vmm.model import tree
    from vmm.ui import render

    domains = session.domains()
    if as_json:
        counts, here = tree.folder_counts(domains), tree.vms_here(domains)
        echo_json([{"path": p, "vms": counts[p], "here": here[p]} for p in sorted(counts)])
        return
    for line in render.tree_lines(domains, with_vms=with_vms):
        echo(line)


@cli.command("labels")
@click.option("--json", "as_json", is_flag=True, help="Print {label: count} as JSON.")
@pass_session
def labels_command(session: Session, as_json: bool) -> None:
    """Every label in use, with the number of VMs carrying it.

    \b
    Examples:
      vmm labels --json
    """
    from vmm.model import tree
    from vmm.ui import render

    counts = tree.label_counts(session.domains())
    if as_json:
        echo_json(counts)
    else:
        for line in render.label_lines(counts):
            echo(line)
