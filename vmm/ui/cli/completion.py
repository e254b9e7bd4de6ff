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
    from vmm.virt.hosts import Hosts


def _completion_session(ctx: click.Context) -> Session:
    params = ctx.find_root().params
    return Session(
        params.get("uri_option"), bool(params.get("demo")), bool(params.get("all_hosts"))
    )


def _offering(read: Callable[[Hosts, click.Context], Iterable[str]]):
    """A completion callback offering what `read` finds on the host the command line names,
    each value as the asking shell must get it (vmm.ui.shellwords)."""

    def complete(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
        from vmm.ui.shellwords import for_the_shell, shell_of

        shell = shell_of(os.environ.get("_VMM_COMPLETE", ""))
        session = _completion_session(ctx)
        try:
            found = sorted(set(read(session.host(), ctx)))
            words = (for_the_shell(v, shell) for v in found if v.startswith(incomplete))
            return [word for word in words if word is not None]
        except VmmError:
            return []
        finally:
            session.close()

    return complete


def _complete(values: Callable[..., Iterable[str]], *, with_context: bool = False):
    """Offering `values` of the host's VMs (given the command line so far too, `with_context`)."""
    if with_context:
        return _offering(lambda hosts, ctx: values(hosts.domains(), ctx))
    return _offering(lambda hosts, _ctx: values(hosts.domains()))


def _folders(domains: list[Domain]) -> Iterable[str]:
    from vmm.model import tree

    return tree.folder_counts(domains)


complete_vms = _complete(lambda domains: (d.name for d in domains))
complete_folders = _complete(_folders)
complete_labels = _complete(lambda domains: (label for d in domains for label in d.labels))
complete_vms_and_folders = _complete(lambda ds: [*(d.name for d in ds), *_folders(ds)])


def _labels_of_targets(domains: list[Domain], ctx: click.Context) -> Iterable[str]:
    """The labels the VMs named so far carry (`label rm nginx -t <TAB>`): by name, by folder
    (a ref holding '/') or by --label; with none named yet, every label."""
    from vmm.model import tree
    from vmm.model.metadata import normalise_path

    params = _params_so_far(ctx)
    refs, wanted = params.get("vms") or (), params.get("labels") or ()
    chosen = [] if refs else list(domains)
    for ref in refs:
        if "/" in ref:
            try:
                chosen += tree.in_folder(normalise_path(ref), domains, recursive=True)
            except VmmError:
                continue
        else:
            chosen += [d for d in domains if ref in (d.name, d.ref, d.uuid)]
    chosen = tree.with_labels(wanted, chosen)
    return (label for d in chosen for label in d.labels)


complete_labels_of_targets = _complete(_labels_of_targets, with_context=True)


def _params_so_far(ctx: click.Context) -> dict:
    """The command's arguments typed so far. click parses the line up to the word completed,
    and an option still waiting for its value there (`-t <TAB>`) makes it drop them all: the
    line is parsed again without that option (bash, zsh and fish all pass it in COMP_WORDS)."""
    if ctx.params.get("vms") or "COMP_WORDS" not in os.environ:
        return ctx.params
    from click.shell_completion import _resolve_context, split_arg_string

    words = split_arg_string(os.environ["COMP_WORDS"])
    cword = os.environ.get("COMP_CWORD", "")
    if cword.isdigit():  # bash and zsh: the index of the word completed
        args = words[1 : int(cword)]
    else:  # fish: the word completed itself
        args = words[1:]
        if cword and args and args[-1] == cword:
            args.pop()
    while args and args[-1].startswith("-"):
        args.pop()
    try:
        return _resolve_context(ctx.find_root().command, {}, "vmm", args).params
    except (click.ClickException, click.exceptions.Exit):
        return ctx.params


def _snapshots_of_the_vm(hosts: Hosts, ctx: click.Context) -> Iterable[str]:
    from vmm.ops import snapshots

    vm = ctx.params.get("vm")
    return [snap.name for _, snap in snapshots.tree_of(hosts.vm(vm))] if vm else []


def _base_images(hosts: Hosts, _ctx: click.Context) -> Iterable[str]:
    from vmm.ops import create

    return create.base_images(hosts)


def _pools(hosts: Hosts, _ctx: click.Context) -> Iterable[str]:
    from vmm.ops import create

    return create.pool_names(hosts)


complete_snapshots = _offering(_snapshots_of_the_vm)
complete_base_images = _offering(_base_images)
complete_pools = _offering(_pools)
