"""One-VM subcommands: info, rm, ip, ssh, console, view, and the history of changes."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict

import click

from vmm.model.errors import HostError
from vmm.ui.cli.base import act, cli, targets
from vmm.ui.cli.completion import complete_vms
from vmm.ui.cli.output import echo, echo_json, warn
from vmm.ui.cli.session import Session, pass_session


@cli.command("info")
@click.argument("vm", shell_complete=complete_vms)
@click.option("--json", "as_json", is_flag=True, help="Print the VM as a JSON object.")
@pass_session
def info_command(session: Session, vm: str, as_json: bool) -> None:
    """Show one VM (by name or UUID): state, use, disks, addresses, snapshots."""
    from vmm.ops import info
    from vmm.ui import render

    info = info.gather(session.host().vm(vm))
    if info.domain.warning:
        warn(info.domain.warning)
    if as_json:
        echo_json(info.as_json())
    else:
        for line in render.details_lines(info):
            echo(line)


@cli.command("rm")
@targets
@click.option("--storage", is_flag=True, help="Delete the VMs' disk volumes too.")
@click.option("--force", is_flag=True, help="Force running VMs off first.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_session
def rm_command(
    session: Session,
    vms: tuple[str, ...],
    labels: tuple[str, ...],
    storage: bool,
    force: bool,
    yes: bool,
) -> None:
    """Delete VMs, with their saved state and snapshots (--storage: and their disks)."""
    ask = "Delete, with their disks" if storage else "Delete"
    act(session, vms, labels, "rm", ask=ask, yes=yes, with_storage=storage, force=force)


@cli.command("ip")
@click.argument("vm", shell_complete=complete_vms)
@click.option("--json", "as_json", is_flag=True, help="Print the addresses as JSON.")
@pass_session
def ip_command(session: Session, vm: str, as_json: bool) -> None:
    """VM's IP addresses (from the DHCP lease, the guest agent, or ARP)."""
    from vmm.virt import reach
    from vmm.virt.errors import as_vmm_errors

    with as_vmm_errors():
        found = reach.addresses(session.host().vm(vm))
    if as_json:
        echo_json([asdict(address) for address in found])
        return
    if not found:
        raise HostError(f"no known IP address for {vm!r} (is it running, with DHCP?)")
    for address in found:
        where = f"{address.interface}  {address.mac}  ({address.source})"
        echo(f"{address.address}/{address.prefix}  {where}")


def _exec(argv: list[str]) -> None:
    """Replace vmm with `argv`: the terminal belongs to that program from here on."""
    try:
        os.execvp(argv[0], argv)
    except OSError as err:
        raise HostError(f"cannot run {argv[0]}: {err.strerror}") from None


@cli.command("ssh", context_settings={"ignore_unknown_options": True})
@click.argument("vm", shell_complete=complete_vms)
@click.option("-u", "--user", help="Log in as USER.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_session
def ssh_command(session: Session, vm: str, user: str | None, args: tuple[str, ...]) -> None:
    """ssh into VM at its first address; ARGS (after --) go to ssh."""
    from vmm.virt import reach
    from vmm.virt.errors import as_vmm_errors

    with as_vmm_errors():
        address = reach.first_address(session.host().vm(vm))
    session.close()
    _exec(reach.ssh_argv(address, args, user))


def _exec_on(session: Session, vm: str, argv_for) -> None:
    """Hand the terminal to a program that reaches VM by its host's URI and its UUID."""
    handle = session.host().vm(vm)
    argv = argv_for(handle.host.uri, handle.uuid)
    session.close()
    _exec(argv)


@cli.command("console")
@click.argument("vm", shell_complete=complete_vms)
@pass_session
def console_command(session: Session, vm: str) -> None:
    """Attach to VM's serial console (virsh console; leave with Ctrl-])."""
    from vmm.virt import reach

    _exec_on(session, vm, reach.console_argv)


@cli.command("view")
@click.argument("vm", shell_complete=complete_vms)
@pass_session
def view_command(session: Session, vm: str) -> None:
    """Open VM's graphical display in virt-viewer."""
    from vmm.virt import reach

    _exec_on(session, vm, reach.viewer_argv)


@cli.command("history")
@click.argument("vm", required=False, shell_complete=complete_vms)
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
def history_command(vm: str | None, as_json: bool) -> None:
    """Every change vmm made (to VM, by name or UUID), oldest first."""
    from vmm.ops.history import History, default_path
    from vmm.ui import render

    entries = History(default_path()).entries(vm)
    if as_json:
        echo_json([asdict(entry) for entry in entries])
        return
    for entry in entries:
        echo(render.history_line(entry))


def _edit_again(error: str) -> bool:
    """Whether the user, told why libvirt refused the definition, wants to fix it."""
    from vmm.model.printable import printable

    return sys.stdin.isatty() and click.confirm(printable(f"{error}\nEdit again?"), True)


@cli.command("edit")
@click.argument("vm", shell_complete=complete_vms)
@pass_session
def edit_command(session: Session, vm: str) -> None:
    """Edit VM's XML in $VISUAL/$EDITOR; it is validated and defined when saved."""
    from vmm.ops import edit

    handle = session.host().vm(vm)
    message = edit.edit_vm(handle, _edit_again)
    echo(f"{handle.name}: {message}")
