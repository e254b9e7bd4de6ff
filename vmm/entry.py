"""The `vmm` console script. `vmm --version` answers before click and libvirt are imported,
since scripts and shell prompts call it often; everything else goes to the CLI."""

from __future__ import annotations

import gc
import sys

from vmm import __version__


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):
        print(f"vmm, version {__version__}")
        return
    # A subcommand allocates, prints and exits; the cycle collector would spend a tenth of
    # `vmm ls` walking objects (most of them imported modules) that live until exit anyway.
    # The picker, which runs for as long as the user likes, turns it back on.
    gc.disable()
    from vmm.cli import main as cli_main

    cli_main()
