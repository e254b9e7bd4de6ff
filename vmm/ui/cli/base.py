"""The root of the command line: global options, lazy subcommands, one exit point, shared options.

libvirt and lxml are imported inside the commands that need them, so that `vmm --version`,
`vmm --help` and shell completion of options start fast.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from vmm import __version__
from vmm.model.errors import Interrupted, InvalidInput, VmmError
from vmm.ops.registry import simple_commands
from vmm.ui.cli.completion import complete_labels, complete_vms_and_folders
from vmm.ui.cli.output import echo, fail, report
from vmm.ui.cli.session import Session

if TYPE_CHECKING:
    pass

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _interrupt(_signum: int, _frame: object) -> None:
    from vmm.virt import interrupts

    interrupts.taken()
    raise KeyboardInterrupt


# Where each subcommand is defined: a module is imported only when one of its commands runs
# (or --help lists them all), so `vmm ls` does not pay for the definitions of thirty others.
SUBCOMMANDS = {
    "vmm.ui.cli.listing": ("ls", "tree", "labels"),
    "vmm.ui.cli.organise": ("mv", "label"),
    "vmm.ui.cli.power": (
        "start", "shutdown", "discard-save", *(action.name for action in simple_commands()),
    ),
    "vmm.ui.cli.snapshot": ("snapshot",),
    "vmm.ui.cli.clone": ("clone", "clones"),
    "vmm.ui.cli.new": ("new", "images"),
    "vmm.ui.cli.vm": ("info", "rm", "ip", "ssh", "exec", "console", "view", "history", "edit"),
    "vmm.ui.cli.doctor": ("doctor",),
    "vmm.ui.cli.events": ("events",),
    "vmm.ui.cli.help": ("help",),
}  # fmt: skip
_MODULE_OF = {name: module for module, names in SUBCOMMANDS.items() for name in names}


class _CtrlC(Exception):
    """Ctrl-C (its KeyboardInterrupt is the cause) on its way to the exit point."""


class VmmGroup(click.Group):
    """Reports every error as one `vmm: error: ...` line: no usage dump, no traceback.

    Subcommands are loaded on first use (see SUBCOMMANDS).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *_MODULE_OF})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _MODULE_OF:
            import importlib

            importlib.import_module(_MODULE_OF[cmd_name])  # its decorators register it
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as err:  # click would print a blank line and say "Aborted!"
            raise _CtrlC() from err

    def main(self, args: Sequence[str] | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.pop("standalone_mode", None)
        for signum in (signal.SIGTERM, signal.SIGHUP):  # roll back like Ctrl-C, then exit
            if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup's choice stands
                signal.signal(signum, _interrupt)
        try:
            result = super().main(args, standalone_mode=False, **kwargs)
        except click.UsageError as err:
            hint = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
            fail(f"{err.format_message()}{hint}", err.exit_code)
        except click.ClickException as err:
            fail(err.format_message(), err.exit_code)
        except VmmError as err:
            fail(str(err))
        except (click.Abort, KeyboardInterrupt, _CtrlC) as err:
            cause = err.__cause__ if isinstance(err, click.Abort | _CtrlC) else err
            said = str(cause) if isinstance(cause, Interrupted) and str(cause) else "interrupted"
            # on a terminal the line starts below the ^C it echoed; elsewhere no blank line
            below = "\n" if sys.stderr is not None and sys.stderr.isatty() else ""
            echo(f"{below}vmm: {said}", err=True)
            sys.exit(130)
        except BrokenPipeError:
            sys.exit(141)
        except Exception as err:  # a bug: still one line, unless VMM_DEBUG asks for the traceback
            if os.environ.get("VMM_DEBUG"):
                raise
            fail(f"internal error: {err!r} (VMM_DEBUG=1 shows where; please report it)", 70)
        sys.exit(result if isinstance(result, int) else 0)


def targets(command: Callable) -> Callable:
    """The arguments every VM action takes: VMs, UUIDs or folders, and --label."""
    command = click.option(
        "-l", "--label", "labels", multiple=True, metavar="LABEL",
        help="Act on the VMs with this label (repeatable: all of them); narrows folders.",
        shell_complete=complete_labels,
    )(command)  # fmt: skip
    return click.argument("vms", nargs=-1, shell_complete=complete_vms_and_folders)(command)


def act(
    session: Session,
    vms: Sequence[str],
    labels: Sequence[str],
    action: str,
    *,
    ask: str = "",
    yes: bool = False,
    **options: Any,
) -> None:
    """Run `action` on every selected VM, one line each; exit 1 if any failed. With `ask`,
    the user confirms first, once the VMs it names are known."""
    from vmm.ops.perform import perform_each
    from vmm.ops.selection import select

    chosen = select(session.host(), vms, labels)
    if ask:
        confirm(f"{ask}: {', '.join(vm.name for vm in chosen)}?", yes)
    report(perform_each(chosen, action, **options))


def act_on_one(session: Session, vm: str, action: str, **options: Any) -> None:
    """Run `action` on the one VM named (never a folder: a snapshot is one VM's)."""
    from vmm.ops.perform import perform

    handle = session.host().vm(vm)
    echo(f"{handle.name}: {perform(handle, action, **options)}")


def confirm(question: str, yes: bool) -> None:
    """Ask before something that cannot be undone; without a terminal, --yes is required."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise InvalidInput(f"{question} Refusing without --yes when not run from a terminal")
    from vmm.model.printable import printable

    if not click.confirm(printable(question), default=False):
        raise InvalidInput("cancelled; nothing was changed")


# -- commands ----------------------------------------------------------------------------------


@click.group(cls=VmmGroup, context_settings=CONTEXT, invoke_without_command=True)
@click.option(
    "-c",
    "--connect",
    "uri_option",
    metavar="NAME|URI",
    help="A configured host or a libvirt URI (default: $LIBVIRT_DEFAULT_URI, the config file).",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Use the bundled demo host (libvirt's test driver; changes last one run).",
)
@click.option(
    "--menu",
    type=click.Choice(["auto", "fzf", "wofi", "dmenu"]),
    default="auto",
    show_default=True,
    help="The picker's menu: fzf in a terminal, wofi (or a dmenu-like launcher) without one.",
)
@click.option("--all-hosts", is_flag=True, help="Every host in the config file, as one tree.")
@click.version_option(__version__, "-V", "--version", prog_name="vmm")
@click.pass_context
def cli(ctx: click.Context, uri_option: str | None, demo: bool, menu: str, all_hosts: bool) -> None:
    """Organise and drive libvirt VMs from the keyboard.

    VMs live in folders (`/lab/web`) and carry labels, both stored in each VM's own XML.
    With no command, the picker opens.

    \b
    Examples:
      vmm --demo ls -r
    """
    from vmm.ui.config import conflict

    clash = conflict(uri_option, demo=demo, all_hosts=all_hosts)
    if clash:
        raise click.UsageError(clash, ctx)
    if ctx.obj is None:
        ctx.obj = Session(uri_option, demo, all_hosts)
    ctx.call_on_close(ctx.obj.close)
    if ctx.invoked_subcommand is None:
        from vmm.ui.cli.pick import run_picker

        run_picker(ctx.obj, menu)
