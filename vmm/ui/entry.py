"""The `vmm` console script. `vmm --version` answers before click and libvirt are imported,
since scripts and shell prompts call it often; everything else goes to the CLI."""

from __future__ import annotations

import gc
import os
import sys

from vmm import __version__

VERSION = ("--version", "-V")
VERBOSE = ("-v", "--verbose")


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):
        print(f"vmm, version {__version__}")
        return
    words = sys.argv[1:]
    if any(w in VERSION for w in words) and any(w in VERBOSE for w in words):
        from vmm.ui.cli.version import verbose_version

        try:
            code = verbose_version([w for w in words if w not in VERSION + VERBOSE])
        except BrokenPipeError:  # `vmm -V -v | head -1`: the reader left, as for any command
            code = 141
        _exit_now(code)
    # A subcommand allocates, prints and exits; the cycle collector would spend a tenth of
    # `vmm ls` walking objects (most of them imported modules) that live until exit anyway.
    # The picker, which runs for as long as the user likes, turns it back on.
    gc.disable()
    try:
        from vmm.virt import interrupts

        interrupts.install()  # the process's own: not when the CLI runs inside a test
        from vmm.ui.cli import main as cli_main

        cli_main()
    except SystemExit as done:
        _exit_now(done.code)
    except KeyboardInterrupt:  # while importing, before the CLI's own handling is in place
        _exit_now(130)
    _exit_now(0)


def _exit_now(code: int | str | None) -> None:
    """Leave without the interpreter's teardown, once everything is written.

    Teardown frees every object one by one (some 30 ms after listing 1,000 VMs) just before
    the kernel frees them all at once. By now every connection is closed and every file
    written (the commands clean up in `finally` blocks and context managers).
    """
    if isinstance(code, str):
        if sys.stderr is not None:
            print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # closed when vmm started (`>&-`)
            continue
        try:
            stream.flush()
        except BrokenPipeError:
            code = code or 1  # as click reports a closed pipe
        except (OSError, ValueError):
            code = code or 1
    os._exit(code or 0)
