"""`vmm doctor`: what interrupted operations left behind, and cleaning it up."""

from __future__ import annotations

import sys
import time

import click

from vmm.ui.cli.base import cli
from vmm.ui.cli.output import echo


@cli.command("doctor")
@click.option("--clean", is_flag=True, help="Remove what they left (nothing that is in use).")
@click.option("--forget", is_flag=True, help="Keep what they left; stop reporting it.")
def doctor_command(clean: bool, forget: bool) -> None:
    """Report what operations cut short (killed, a power cut) left behind.

    Exits 1 while something is left to report.

    \b
    Examples:
      vmm doctor --clean
    """
    from vmm.ops import doctor, intents

    records = intents.interrupted()
    if not records:
        echo("nothing was left behind by an interrupted vmm")
        return
    left = False
    for record in records:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.time))
        echo(f"{record.operation} on {record.host}, cut short ({when}, pid {record.pid}):")
        if forget:
            intents.forget(record)
            echo("  forgotten")
            continue
        if clean:
            kept, problems = doctor.clean(record)
            for line in kept + problems:
                echo(f"  {line}")
            if not problems:
                echo("  cleaned")
            left = left or bool(problems)
            continue
        for found in doctor.examine(record):
            state = {True: "left", False: "gone", None: "unknown"}[found.present]
            why = f" ({found.keep})" if found.keep else ""
            echo(f"  {state}: {found.item.kind} {found.item.ref}: {found.item.note}{why}")
        left = True
    if left and not clean:
        echo("remove it with 'vmm doctor --clean', or keep it with 'vmm doctor --forget'")
    sys.exit(1 if left else 0)
