"""`vmm --version -v`: vmm's version, the libvirt it runs on and the host's, the fzf in use."""

from __future__ import annotations

import platform
import sys

from vmm import __version__
from vmm.model.errors import VmmError


def _host_option(words: list[str]) -> tuple[str | None, bool]:
    """-c NAME|URI and --demo, the only other words `vmm --version -v` takes."""
    option, demo, rest = None, False, list(words)
    while rest:
        word = rest.pop(0)
        if word == "--demo":
            demo = True
        elif word in ("-c", "--connect") and rest:
            option = rest.pop(0)
        elif word.startswith("--connect="):
            option = word.partition("=")[2]
        else:
            raise VmmError(f"--version -v takes only -c HOST and --demo, not {word!r}")
    return option, demo


def verbose_version(words: list[str]) -> int:
    from vmm.ui.cli.output import echo, fail
    from vmm.ui.config import resolve
    from vmm.ui.menus import fzf_binary
    from vmm.virt import versions

    try:
        option, demo = _host_option(words)
        target = resolve(option, demo=demo)
    except VmmError as err:
        fail(str(err))
    echo(f"vmm, version {__version__}")
    echo(f"Python {platform.python_version()} ({sys.executable})")
    echo(versions.library())
    found = fzf_binary.find()
    if found:
        path, fzf_version = found
        echo(f"fzf {'.'.join(map(str, fzf_version))} ({path})")
    else:
        echo("fzf: none new enough (the picker needs 0.74 or newer)")
    uris = [host.uri for host in target.hosts] if target.hosts else [target.uri]
    status = 0
    for uri in uris:
        try:
            host = versions.daemon(uri, target.timeout)
        except VmmError as err:
            echo(f"host {uri or 'libvirt default'}: {err}")
            status = 1
            continue
        echo(f"host {host.uri}: libvirt {host.libvirt}, {host.hypervisor}")
    return status
