"""vmm's command line: parses arguments, calls the core, prints the outcome.

One module per family of subcommands, loaded when one of its commands runs; `base` holds the
root group, the table of which module defines which command, and what the commands share.
"""

from vmm.ui.cli.base import cli
from vmm.ui.cli.session import Session

__all__ = ["Session", "cli", "main"]


def main() -> None:
    cli(prog_name="vmm")
