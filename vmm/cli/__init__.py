"""vmm's command line: parses arguments, calls the core, prints the outcome.

One module per family of subcommands; `base` holds the root group and what they share.
"""

from vmm.cli import clone, organise, power, snapshot, vm  # noqa: F401  (registers the subcommands)
from vmm.cli.base import Session, cli

__all__ = ["Session", "cli", "main"]


def main() -> None:
    cli(prog_name="vmm")
