"""One-VM subcommands: info, rm, ip, ssh, exec, console, view, and the history of changes."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from vmm.model.errors import HostError, InvalidInput, InvalidState
from vmm.ui.cli.base import act, cli, targets
from vmm.ui.cli.completion import complete_vms
from vmm.ui.cli.output import echo, echo_json, warn
from vmm.ui.cli.power import Seconds
from vmm.ui.cli.session import Session, pass_session

if TYPE_CHECKING:
    from vmm.model.journal import Entry


@cli.command("info")
@click.argument("vm", shell_complete=complete_vms)
@click.option("--json", "as_json", is_flag=True, help="Print the VM as a JSON object.")
@pass_session
def info_command(session: Session, vm: str, as_json: bool) -> None:
    """Show one VM (by name or UUID): state, use, disks, addresses, snapshots.

    \b
    Examples:
      vmm info nginx --json | jq .disks
    """
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
    """Delete VMs, with their saved state and snapshots (--storage: and their disks).

    \b
    Examples:
      vmm rm --storage -y scratch
    """
    ask = "Delete, with their disks" if storage else "Delete"
    act(session, vms, labels, "rm", ask=ask, yes=yes, with_storage=storage, force=force)


@cli.command("ip")
@click.argument("vm", shell_complete=complete_vms)
@click.option("--json", "as_json", is_flag=True, help="Print the addresses as a JSON array.")
@click.option(
    "--source",
    type=click.Choice(["lease", "agent", "arp"]),
    help="Ask only this source (default: the first of them that knows an address).",
)
@pass_session
def ip_command(session: Session, vm: str, as_json: bool, source: str | None) -> None:
    """VM's IP addresses (from the DHCP lease, the guest agent, or ARP).

    Each line says where the address came from; on a remote host (qemu+ssh://...) it is on
    that host's network, and the line says the host ssh goes through (`vmm ssh` does).
    Exits 1 when no address is known, with --json too (and prints nothing on stdout):
    a script can wait with `until vmm ip VM; do sleep 1; done`.

    \b
    Examples:
      vmm ip nginx --json | jq -r '.[0].address'
      vmm ip nginx --source agent
    """
    from vmm.virt import reach
    from vmm.virt.errors import as_vmm_errors

    handle = session.host().vm(vm)
    with as_vmm_errors():
        found = reach.addresses(handle, source)
    if not found:
        if source:
            raise HostError(f"no IP address for {vm!r} from the {source} (yet?)")
        raise HostError(f"no known IP address for {vm!r} (is it running, with DHCP?)")
    if as_json:
        echo_json([asdict(address) for address in found])
        return
    jump = reach.jump_for(handle.host.uri)
    through = f"  through {jump.spec}" if jump else ""  # on the remote host's own network
    for address in found:
        where = f"{address.interface}  {address.mac}  from {_FROM[address.source]}{through}"
        echo(f"{address.address}/{address.prefix}  {where}")


_FROM = {"lease": "the DHCP lease", "agent": "the guest agent", "arp": "the ARP table"}


def _exec(argv: list[str]) -> None:
    """Replace vmm with `argv`: the terminal belongs to that program from here on."""
    try:
        os.execvp(argv[0], argv)
    except OSError as err:
        raise HostError(f"cannot run {argv[0]}: {err.strerror}") from None


@cli.command("ssh", context_settings={"ignore_unknown_options": True})
@click.argument("vm", shell_complete=complete_vms)
@click.option("-u", "--user", help="Log in as USER.")
@click.option("--wait", is_flag=True, help="Wait until VM has an address and ssh answers.")
@click.option("--timeout", type=Seconds(), metavar="S", help="Seconds --wait waits  [default: 120]")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_session
def ssh_command(
    session: Session,
    vm: str,
    user: str | None,
    wait: bool,
    timeout: float | None,
    args: tuple[str, ...],
) -> None:
    """ssh into VM at its first address; ARGS (after --) go to ssh.

    On a remote host (qemu+ssh://user@host:port/...) ssh goes through that host (-J
    user@host:port): the VM's address is on its network. With --wait, a VM still booting is
    waited for until it has an address and its port 22 answers (through that host too).

    \b
    Examples:
      vmm ssh nginx -u root -- uptime
      vmm start web && vmm ssh --wait --timeout 300 web -- hostname
    """
    from vmm.virt import reach
    from vmm.virt.errors import as_vmm_errors

    if timeout is not None and not wait:
        raise InvalidInput("--timeout is how long --wait waits")
    handle = session.host().vm(vm)
    jump = reach.jump_for(handle.host.uri)
    with as_vmm_errors():
        if wait:
            patience = 120 if timeout is None else timeout
            address = reach.wait_for_ssh(handle, patience, jump, reach.config_file(args))
        else:
            address = reach.first_address(handle)
    session.close()
    _exec(reach.ssh_argv(address, args, user, jump))


@cli.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("vm", shell_complete=complete_vms)
@click.option(
    "--timeout", type=Seconds(), default=60, show_default=True, metavar="S",
    help="Seconds to wait for the command to end.",
)  # fmt: skip
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_session
def exec_command(session: Session, vm: str, timeout: float, command: tuple[str, ...]) -> None:
    """Run COMMAND (after --) in VM through its QEMU guest agent: no network needed.

    Its output is passed through once it has ended, and vmm exits with its exit status
    (128+N when signal N ended it). No shell runs it: write `sh -c '...'` for one.

    \b
    Examples:
      vmm exec web -- cat /etc/hostname
      vmm exec --timeout 600 web -- apt-get -y upgrade
    """
    from vmm.virt import agent

    finished = agent.run(session.host().vm(vm), list(command), timeout)
    session.close()
    for stream, data in ((sys.stdout, finished.stdout), (sys.stderr, finished.stderr)):
        if data and stream is not None:
            stream.flush()
            stream.buffer.write(data)
            stream.flush()
    if finished.truncated:
        warn("the guest agent cut the output short (it keeps at most 16 MiB of each stream)")
    sys.exit(finished.status)


def _exec_on(session: Session, vm: str, argv_for, *, running: bool = False) -> None:
    """Hand the terminal to a program that reaches VM by its host's URI and its UUID; with
    `running`, only once the VM is known to run (else that program's own words would say so)."""
    from vmm.virt.errors import as_vmm_errors

    handle = session.host().vm(vm)
    if running:
        with as_vmm_errors():
            view = handle.view()
        if not view.active:
            raise InvalidState(f"{view.name}: is {view.shown.described}; start it first")
    argv = argv_for(handle.host.uri, handle.uuid)
    session.close()
    _exec(argv)


@cli.command("console")
@click.argument("vm", shell_complete=complete_vms)
@pass_session
def console_command(session: Session, vm: str) -> None:
    """Attach to VM's serial console (virsh console; leave with Ctrl-]).

    \b
    Examples:
      vmm console nginx
    """
    from vmm.virt import reach

    _exec_on(session, vm, reach.console_argv, running=True)


@cli.command("view")
@click.argument("vm", shell_complete=complete_vms)
@pass_session
def view_command(session: Session, vm: str) -> None:
    """Open VM's graphical display in virt-viewer (it waits for a VM that is not running).

    \b
    Examples:
      vmm view nginx
    """
    from vmm.virt import reach

    _exec_on(session, vm, reach.viewer_argv)


@cli.command("history")
@click.argument("vm", required=False, shell_complete=complete_vms)
@click.option("--json", "as_json", is_flag=True, help="Print the entries as one JSON array.")
@pass_session
def history_command(session: Session, vm: str | None, as_json: bool) -> None:
    """Every change vmm made (to VM, by name or UUID), oldest first.

    Every host's changes; with -c (or --demo) only that host's, --all-hosts every host's.
    Lines of the journal that are no entry are skipped, each with a warning.

    \b
    Examples:
      vmm -c lab history nginx --json
    """
    from vmm.ops.history import History, default_path
    from vmm.ui import render

    journal = History(default_path())
    entries = journal.entries(vm, _history_uris(session))
    for where in journal.skipped:
        warn(f"{where}: not a history entry, skipped")
    names = _host_names()
    if as_json:
        echo_json([_entry_json(entry, names.get(entry.host, "")) for entry in entries])
        return
    for entry in entries:
        echo(render.history_line(entry, names.get(entry.host, "")))


def _history_uris(session: Session) -> set[str] | None:
    """The hosts whose history `vmm history` shows: the one -c or --demo names (without
    connecting to it), else every one (None)."""
    from vmm.ui.config import resolve

    if session.all_hosts or not session.configured:
        return None
    if session.uri_option is None and not session.demo:
        return None
    target = resolve(session.uri_option, demo=session.demo)
    return {h.uri for h in target.hosts} or {target.uri or ""}


def _host_names() -> dict[str, str]:
    """What each URI is called where vmm shows a host: its name in the config, 'demo'."""
    from vmm.ui.config import config_path, demo_uri, load

    names = {demo_uri(): "demo"}
    for host in reversed(load(config_path()).hosts):  # the first of two names wins
        names[host.uri] = host.name
    return names


def _entry_json(entry: Entry, host: str) -> dict[str, object]:
    """An entry as --json shows it: `host` is a name, as in `vmm ls`; `uri` says which."""
    shown = asdict(entry)
    return {"host": host, "uri": shown.pop("host"), **shown}


def _edit_again(error: str) -> bool:
    """Whether the user, told why libvirt refused the definition, wants to fix it."""
    from vmm.model.printable import printable

    return sys.stdin.isatty() and click.confirm(printable(f"{error}\nEdit again?"), True)


@cli.command("edit")
@click.argument("vm", shell_complete=complete_vms)
@pass_session
def edit_command(session: Session, vm: str) -> None:
    """Edit VM's XML in $VISUAL/$EDITOR; it is validated and defined when saved.

    \b
    Examples:
      EDITOR=vim vmm edit nginx
    """
    from vmm.ops import edit

    handle = session.host().vm(vm)
    message = edit.edit_vm(handle, _edit_again)
    echo(f"{handle.name}: {message}")
