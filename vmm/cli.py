"""vmm's command line: parses arguments, calls the core, prints the outcome.

libvirt and lxml are imported inside the commands that need them, so that `vmm --version`,
`vmm --help` and shell completion of options start fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from vmm import __version__
from vmm.errors import InvalidInput, NotFound, VmmError

if TYPE_CHECKING:
    import libvirt

    from vmm.domain import Domain
    from vmm.host import Host, MetadataChange

CONTEXT = {"help_option_names": ["-h", "--help"]}


def fail(message: str, code: int = 1) -> None:
    click.echo(f"vmm: error: {message}", err=True)
    sys.exit(code)


def warn(message: str) -> None:
    click.echo(f"vmm: warning: {message}", err=True)


class VmmGroup(click.Group):
    """Reports every error as one `vmm: error: ...` line: no usage dump, no traceback."""

    def main(self, args: Sequence[str] | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.pop("standalone_mode", None)
        try:
            result = super().main(args, standalone_mode=False, **kwargs)
        except click.UsageError as err:
            hint = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
            fail(f"{err.format_message()}{hint}", err.exit_code)
        except click.ClickException as err:
            fail(err.format_message(), err.exit_code)
        except VmmError as err:
            fail(str(err))
        except (click.Abort, KeyboardInterrupt):
            click.echo("", err=True)
            sys.exit(130)
        except BrokenPipeError:
            sys.exit(141)
        sys.exit(result if isinstance(result, int) else 0)


@dataclass
class Session:
    """What the global options chose; the host is opened on first use and closed at exit."""

    uri_option: str | None = None
    demo: bool = False
    _host: Host | None = field(default=None, repr=False)
    _owns_host: bool = True

    @classmethod
    def borrowing(cls, host: Host) -> Session:
        """A session over a connection someone else opened (and will close): tests, the picker."""
        return cls(_host=host, _owns_host=False)

    def host(self) -> Host:
        if self._host is None:
            from vmm.config import resolve_uri
            from vmm.host import Host

            self._host = Host.open(resolve_uri(self.uri_option, demo=self.demo))
        return self._host

    def domains(self) -> list[Domain]:
        domains = self.host().domains()
        for domain in domains:
            if domain.warning:
                warn(domain.warning)
        return domains

    def close(self) -> None:
        if self._host is not None and self._owns_host:
            self._host.close()
            self._host = None


pass_session = click.make_pass_decorator(Session)


# -- shell completion ------------------------------------------------------------------------


def _completion_session(ctx: click.Context) -> Session:
    params = ctx.find_root().params
    return Session(params.get("uri_option"), bool(params.get("demo")))


def _complete(values: Callable[[list[Domain]], Iterable[str]]):
    def complete(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
        session = _completion_session(ctx)
        try:
            return sorted(
                v for v in set(values(session.host().domains())) if v.startswith(incomplete)
            )
        except VmmError:
            return []
        finally:
            session.close()

    return complete


def _folders(domains: list[Domain]) -> Iterable[str]:
    from vmm import tree

    return tree.folder_counts(domains)


complete_vms = _complete(lambda domains: (d.name for d in domains))
complete_folders = _complete(_folders)
complete_labels = _complete(lambda domains: (label for d in domains for label in d.labels))
complete_vms_and_folders = _complete(lambda ds: [*(d.name for d in ds), *_folders(ds)])


# -- output helpers ----------------------------------------------------------------------------


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def echo_changes(changes: Iterable[MetadataChange]) -> None:
    for change in changes:
        if change.before == change.after:
            click.echo(f"{change.vm}: unchanged")
        elif change.before.path != change.after.path:
            click.echo(f"{change.vm}: {change.before.path} -> {change.after.path}")
        else:
            labels = ", ".join(change.after.labels) or "no labels"
            click.echo(f"{change.vm}: {labels}")


def lookup_all(host: Host, refs: Sequence[str]) -> list[libvirt.virDomain]:
    """Resolve every VM before changing any, so one bad name changes nothing."""
    return [host.lookup(ref) for ref in refs]


# -- commands ----------------------------------------------------------------------------------


@click.group(cls=VmmGroup, context_settings=CONTEXT, invoke_without_command=True)
@click.option(
    "-c",
    "--connect",
    "uri_option",
    metavar="URI",
    help="libvirt URI (default: $LIBVIRT_DEFAULT_URI, the config file, then libvirt's own).",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Use the bundled demo host (libvirt's test driver; changes last one run).",
)
@click.version_option(__version__, "-V", "--version", prog_name="vmm")
@click.pass_context
def cli(ctx: click.Context, uri_option: str | None, demo: bool) -> None:
    """Organise and drive libvirt VMs from the keyboard.

    VMs live in folders (`/lab/web`) and carry labels, both stored in each VM's own XML.
    """
    if ctx.obj is None:
        ctx.obj = Session(uri_option, demo)
    ctx.call_on_close(ctx.obj.close)
    if ctx.invoked_subcommand is None:
        ctx.invoke(tree_command, with_vms=True)


@cli.command("ls")
@click.argument("path", default="/", shell_complete=complete_folders)
@click.option("-r", "--recursive", is_flag=True, help="Include VMs in every folder below PATH.")
@click.option(
    "-l",
    "--label",
    "labels",
    multiple=True,
    metavar="LABEL",
    help="Only VMs with this label (repeatable: all of them).",
)
@click.option("--state", help="Only VMs in this state (running, shutoff, paused, saved, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print the VMs as one JSON array.")
@pass_session
def ls_command(
    session: Session,
    path: str,
    recursive: bool,
    labels: tuple[str, ...],
    state: str | None,
    as_json: bool,
) -> None:
    """List the folders and VMs at PATH (default /)."""
    from vmm import render, tree
    from vmm.metadata import normalize_labels, normalize_path

    folder, wanted = normalize_path(path), normalize_labels(labels)
    domains = session.domains()
    if not tree.folder_exists(folder, domains):
        raise NotFound(f"no folder {folder}")
    vms = tree.with_labels(wanted, tree.in_folder(folder, domains, recursive=recursive))
    if state:
        vms = [d for d in vms if state in (d.state, render.state_text(d))]
    if as_json:
        echo_json([d.as_json() for d in vms])
        return
    if not recursive and not wanted and not state:
        for sub in tree.subfolders(folder, domains):
            click.echo(render.folder_row(sub))
    for domain in vms:
        click.echo(render.vm_row(domain, full_place=recursive))


@cli.command("tree")
@click.option("-v", "--vms", "with_vms", is_flag=True, help="Show the VMs in each folder too.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print every folder with its VM count as JSON."
)
@pass_session
def tree_command(session: Session, with_vms: bool = False, as_json: bool = False) -> None:
    """Show the folder tree with the number of VMs in each folder."""
    from vmm import render, tree

    domains = session.domains()
    if as_json:
        counts = tree.folder_counts(domains)
        here = {path: len(tree.in_folder(path, domains)) for path in counts}
        echo_json([{"path": p, "vms": counts[p], "here": here[p]} for p in sorted(counts)])
        return
    for line in render.tree_lines(domains, with_vms=with_vms):
        click.echo(line)


@cli.command("mv")
@click.argument("sources", nargs=-1, required=True, shell_complete=complete_vms_and_folders)
@click.argument("dest", shell_complete=complete_folders)
@pass_session
def mv_command(session: Session, sources: tuple[str, ...], dest: str) -> None:
    """Move VMs into folder DEST, or rename a folder: `vmm mv /old /new`.

    A SOURCE is a VM name or UUID; a SOURCE that names no VM but an existing folder moves
    every VM under that folder, keeping their sub-folders.
    """
    from vmm import organize, tree
    from vmm.metadata import normalize_path

    host = session.host()
    target = normalize_path(dest)
    vms: list[libvirt.virDomain] = []
    folders: list[tuple[str, str]] = []
    domains: list[Domain] | None = None
    for source in sources:
        try:
            vms.append(host.lookup(source))
            continue
        except NotFound:
            if not source.startswith("/"):
                raise
        domains = domains if domains is not None else session.domains()
        old, new = organize.check_folder_move(source, target)
        if not tree.folder_exists(old, domains):
            raise NotFound(f"no VM or folder named {source!r}")
        folders.append((old, new))
    changes = [organize.move_vm(host, dom, target) for dom in vms]
    for old, new in folders:
        members = tree.in_folder(old, domains or [], recursive=True)
        changes += [
            organize.move_within_folder(host, host.lookup(d.uuid), old, new) for d in members
        ]
    echo_changes(changes)


@cli.group("label", context_settings=CONTEXT)
def label_group() -> None:
    """Add or remove labels on a VM."""


@label_group.command("add")
@click.argument("vm", shell_complete=complete_vms)
@click.argument("labels", nargs=-1, required=True, shell_complete=complete_labels)
@pass_session
def label_add_command(session: Session, vm: str, labels: tuple[str, ...]) -> None:
    """Add LABELS to VM."""
    from vmm import organize
    from vmm.metadata import normalize_labels

    normalize_labels(labels)
    host = session.host()
    echo_changes([organize.add_labels(host, host.lookup(vm), labels)])


@label_group.command("rm")
@click.argument("vm", shell_complete=complete_vms)
@click.argument("labels", nargs=-1, required=True, shell_complete=complete_labels)
@pass_session
def label_rm_command(session: Session, vm: str, labels: tuple[str, ...]) -> None:
    """Remove LABELS from VM."""
    from vmm import organize
    from vmm.metadata import normalize_labels

    host = session.host()
    dom = host.lookup(vm)
    current, _ = host.read_metadata(dom)
    missing = [label for label in normalize_labels(labels) if label not in current.labels]
    if missing:
        raise InvalidInput(f"VM {vm!r} has no label {missing[0]!r}")
    echo_changes([organize.remove_labels(host, dom, labels)])


@cli.command("labels")
@click.option("--json", "as_json", is_flag=True, help="Print {label: count} as JSON.")
@pass_session
def labels_command(session: Session, as_json: bool) -> None:
    """Every label in use, with the number of VMs carrying it."""
    from vmm import render, tree

    counts = tree.label_counts(session.domains())
    if as_json:
        echo_json(counts)
    else:
        for line in render.label_lines(counts):
            click.echo(line)


@cli.command("info")
@click.argument("vm", shell_complete=complete_vms)
@click.option("--json", "as_json", is_flag=True, help="Print the VM as a JSON object.")
@pass_session
def info_command(session: Session, vm: str, as_json: bool) -> None:
    """Show one VM (by name or UUID)."""
    from vmm import render

    domain = session.host().find(vm)
    if domain.warning:
        warn(domain.warning)
    if as_json:
        echo_json(domain.as_json())
    else:
        for line in render.info_lines(domain):
            click.echo(line)


def main() -> None:
    cli(prog_name="vmm")
