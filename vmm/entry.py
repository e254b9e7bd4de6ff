"""The `vmm` console script. `vmm --version` answers before click and libvirt are imported,
since scripts and shell prompts call it often; everything else goes to the CLI."""

from __future__ import annotations

import sys

from vmm import __version__


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):
        print(f"vmm, version {__version__}")
        return
    from vmm.cli import main as cli_main

    cli_main()
