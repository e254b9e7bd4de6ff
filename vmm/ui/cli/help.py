"""`vmm help [COMMAND]`: the command's manual page on a terminal, its help text elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from importlib import resources

import click
import click.shell_completion

from vmm.model.errors import InvalidInput
from vmm.ui.cli.base import cli
from vmm.ui.cli.output import echo


def _complete_commands(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    root = ctx.find_root().command
    assert isinstance(root, click.Group)
    names = root.list_commands(ctx)
    return [click.shell_completion.CompletionItem(n) for n in names if n.startswith(incomplete)]


@cli.command("help")
@click.argument("command", required=False, shell_complete=_complete_commands)
@click.pass_context
def help_command(ctx: click.Context, command: str | None) -> None:
    """Show the manual page of COMMAND (or of vmm), or its help text when not on a terminal.

    The page says what `vmm COMMAND --help` says, with every example; `man vmm-COMMAND` shows
    the same page where the manual pages are installed.

    \b
    Examples:
      vmm help clone
      vmm help snapshot | less
    """
    root = ctx.find_root().command
    assert isinstance(root, click.Group)
    target = root if command is None else root.get_command(ctx, command)
    if target is None:
        raise InvalidInput(f"no command {command!r} (vmm help lists them all)")
    if sys.stdout.isatty() and shutil.which("man"):
        _show_page(root, command)
        return
    path = ["vmm"] if command is None else ["vmm", command]
    parent = click.Context(root, info_name="vmm") if command is not None else None
    with click.Context(target, info_name=path[-1], parent=parent) as target_ctx:
        echo(target.get_help(target_ctx))


def _show_page(root: click.Group, command: str | None) -> None:
    """Open the installed page in man(1); written afresh when this vmm has no page for it."""
    name = "vmm.1" if command is None else f"vmm-{command}.1"
    installed = resources.files("vmm") / "data" / "man" / name
    if installed.is_file():
        with resources.as_file(installed) as path:
            subprocess.run(["man", "-l", "--", os.fspath(path)], check=False)
        return
    from vmm.ui.cli import manpage

    text = manpage.page_for(root, command) or ""
    with tempfile.NamedTemporaryFile("w", suffix=".1", encoding="utf-8") as page:
        page.write(text)
        page.flush()
        subprocess.run(["man", "-l", "--", page.name], check=False)
