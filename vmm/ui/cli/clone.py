"""`vmm clone` and `vmm clones`: VMs made from other VMs."""

from __future__ import annotations

import sys

import click

from vmm.model.errors import InvalidInput
from vmm.ui.cli.base import cli
from vmm.ui.cli.completion import (
    complete_folders,
    complete_labels,
    complete_pools,
    complete_vms,
)
from vmm.ui.cli.output import echo, echo_json, write
from vmm.ui.cli.session import Session, pass_session


def progress_line(target: str):
    """A one-line progress display on stderr, redrawn in place; silent when not a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        write("\r", nl=False, err=True)  # back to the line's start: a control vmm means
        echo(
            f"{target}: {percent:3d}%  {done / 2**30:.1f}/{total / 2**30:.1f} GiB",
            nl=False,
            err=True,
        )
        if done >= total:
            echo("", err=True)

    return show


@cli.command("clone")
@click.argument("source", shell_complete=complete_vms)
@click.argument("name")
@click.option(
    "--linked/--full", default=True, help="Copy-on-write overlays (default) or full copies."
)
@click.option(
    "--to", "folder", metavar="PATH", shell_complete=complete_folders, help="Folder of the clone."
)
@click.option(
    "-l",
    "--label",
    "labels",
    multiple=True,
    shell_complete=complete_labels,
    help="Labels of the clone (repeatable; replaces the source's).",
)
@click.option("--start", is_flag=True, help="Start the clone once it exists.")
@click.option(
    "--pool",
    help="Storage pool for a full clone's disks (default: the host's `pool`, else the source's).",
    shell_complete=complete_pools,
)
@pass_session
def clone_command(
    session: Session,
    source: str,
    name: str,
    linked: bool,
    folder: str | None,
    labels: tuple[str, ...],
    start: bool,
    pool: str | None,
) -> None:
    """Clone SOURCE as NAME. Linked clones take constant time whatever the disk size.

    \b
    Examples:
      vmm clone web1 web2 --to /lab/staging --label staging --start
    """
    from vmm.ops.perform import perform

    vm = session.host().vm(source)
    if pool and linked:
        raise InvalidInput("--pool is for --full clones: a linked clone stays beside its base")
    pool = pool or (None if linked else vm.host.pool)
    options = {"linked": linked, "folder": folder, "labels": labels or None, "pool": pool}
    message = perform(vm, "clone", name, progress=progress_line(name), **options)
    echo(f"{vm.name}: {message}")
    if start:
        echo(f"{name}: {perform(vm.host.vm(name), 'start')}")


@cli.command("clones")
@click.argument("vm", shell_complete=complete_vms)
@click.option("--json", "as_json", is_flag=True, help="Print the VMs as one JSON array.")
@pass_session
def clones_command(session: Session, vm: str, as_json: bool) -> None:
    """The VMs that share VM's disk images (its linked clones, its source, siblings).

    \b
    Examples:
      vmm clones web1 --json
    """
    from vmm.virt import storage
    from vmm.virt.errors import as_vmm_errors

    handle = session.host().vm(vm)
    with as_vmm_errors():
        sharing = storage.sharing(handle)
    if as_json:
        echo_json([{"name": name, "image": image} for name, image in sharing])
        return
    for name, image in sharing:
        echo(f"{name}  (through {image})")
