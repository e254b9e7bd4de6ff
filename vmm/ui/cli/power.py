"""Power and saved-state subcommands; each acts on several VMs, folders or labels at once."""

from __future__ import annotations

import math

import click

from vmm.model.errors import InvalidInput
from vmm.ops.registry import simple_commands
from vmm.ui.cli.base import act, cli, targets
from vmm.ui.cli.output import report
from vmm.ui.cli.session import Session, pass_session


class Seconds(click.ParamType):
    """A finite number of seconds, 0 or more: `nan` would never end a wait, nor `inf`."""

    name = "seconds"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None):
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            seconds = math.nan
        if not math.isfinite(seconds) or seconds < 0:
            self.fail(f"{value!r} is not a number of seconds (0 or more)", param, ctx)
        return seconds


@cli.command("start")
@targets
@click.option("--fresh", is_flag=True, help="Boot afresh, dropping a saved state.")
@pass_session
def start_command(
    session: Session, vms: tuple[str, ...], labels: tuple[str, ...], fresh: bool
) -> None:
    """Start VMs; a saved state is restored (and said so) unless --fresh.

    \b
    Examples:
      vmm start nginx /lab/db --label critical
    """
    act(session, vms, labels, "start", fresh=fresh)


@cli.command("shutdown")
@targets
@click.option("--wait", is_flag=True, help="Wait until the VMs are shut off.")
@click.option(
    "--timeout",
    type=Seconds(),
    metavar="S",
    help="Seconds --wait waits  [default: 60]",
)
@click.option(
    "--force-after",
    type=Seconds(),
    metavar="S",
    help="Force off what is still running after S seconds.",
)
@click.option(
    "--mode",
    type=click.Choice(["acpi", "agent"]),
    default="acpi",
    show_default=True,
    help="Press the ACPI power button, or ask the QEMU guest agent in the guest.",
)
@pass_session
def shutdown_command(
    session: Session,
    vms: tuple[str, ...],
    labels: tuple[str, ...],
    wait: bool,
    timeout: float | None,
    force_after: float | None,
    mode: str,
) -> None:
    """Ask VMs to shut down (ACPI, or --mode agent); the guest decides.

    \b
    Examples:
      vmm shutdown --wait --force-after 60 /lab/k8s
      vmm shutdown --mode agent --wait web
    """
    if timeout is not None and (not wait or force_after is not None):
        raise InvalidInput("--timeout is how long --wait waits (--force-after has its own)")
    if not wait and force_after is None:
        act(session, vms, labels, "shutdown", mode=mode)
        return
    from vmm.ops.perform import shutdown_and_wait
    from vmm.ops.selection import select

    chosen = select(session.host(), vms, labels)
    patience = 60 if timeout is None else timeout
    report(shutdown_and_wait(chosen, patience, force_after, mode=mode))


def _simple_command(action: str, help_text: str) -> None:
    example = f"\n\n\b\nExamples:\n  vmm {action} nginx haproxy\n  vmm {action} --label web"

    @cli.command(action, help=help_text + example)
    @targets
    @pass_session
    def command(session: Session, vms: tuple[str, ...], labels: tuple[str, ...]) -> None:
        act(session, vms, labels, action)


for _action in simple_commands():
    _simple_command(_action.name, _action.help)


@cli.command("discard-save")
@targets
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_session
def discard_save_command(
    session: Session, vms: tuple[str, ...], labels: tuple[str, ...], yes: bool
) -> None:
    """Throw away VMs' saved state; their next start is a cold boot.

    \b
    Examples:
      vmm discard-save -y mariadb
    """
    ask = "Discard the saved state (the running session is lost) of"
    act(session, vms, labels, "discard-save", ask=ask, yes=yes)
