"""Shell completion: what each argument offers, read from the host the command line names.

Each value goes to the shell as that shell must get it to insert one word (vmm.ui.shellwords).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import click

from vmm.model.errors import VmmError
from vmm.ui.cli.session import Session

if TYPE_CHECKING:
    from vmm.model.domain import Domain


def _completion_session(ctx: click.Context) -> Session:
    params = ctx.find_root().params
    return Session(
        params.get("uri_option"), bool(params.get("demo")), bool(params.get("all_hosts"))
    )


def _complete(values: Callable[[list[Domain]], Iterable[str]]):
    """A completion callback offering `values` of the host's VMs, each as the asking shell
    must get it (vmm.ui.shellwords)."""

    def complete(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
        from vmm.ui.shellwords import for_the_shell, shell_of

        shell = shell_of(os.environ.get("_VMM_COMPLETE", ""))
        session = _completion_session(ctx)
        try:
            found = sorted(set(values(session.host().domains())))
            words = (for_the_shell(v, shell) for v in found if v.startswith(incomplete))
            return [word for word in words if word is not None]
        except VmmError:
            return []
        finally:
            session.close()

    return complete


def _folders(domains: list[Domain]) -> Iterable[str]:
    from vmm.model import tree

    return tree.folder_counts(domains)


complete_vms = _complete(lambda domains: (d.name for d in domains))
complete_folders = _complete(_folders)
complete_labels = _complete(lambda domains: (label for d in domains for label in d.labels))
complete_vms_and_folders = _complete(lambda ds: [*(d.name for d in ds), *_folders(ds)])
