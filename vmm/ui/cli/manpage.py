"""Manual pages written from the click commands themselves: vmm(1) and one vmm-COMMAND(1) each.

The pages in vmm/data/man are generated (`make man`) and a test checks they match the
commands, so `--help`, `vmm help COMMAND` and `man vmm-ls` never tell different stories.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click

from vmm import __version__

MANUAL = "vmm manual"

FILES = (
    ("~/.config/vmm/config.toml", "hosts, the default host, terminal, profiles for new VMs"),
    ("~/.local/state/vmm/history.jsonl", "a journal of every change vmm made (vmm history)"),
    ("~/.local/state/vmm/pending/", "operations under way; what a killed one left (vmm doctor)"),
    ("~/.cache/vmm/", "the last listing of each host, so the picker draws at once"),
)
ENVIRONMENT = (
    ("LIBVIRT_DEFAULT_URI", "the host when neither -c nor the config file names one"),
    ("XDG_CONFIG_HOME, XDG_STATE_HOME, XDG_CACHE_HOME", "move the files above"),
    ("VISUAL, EDITOR", "the editor of vmm edit"),
    ("TERMINAL", "the terminal wofi mode opens for a console or ssh"),
    ("VMM_DEBUG", "set to 1: an internal error shows its traceback"),
)
EXIT_STATUS = (
    ("0", "done"),
    ("1", "an error, or a command acting on several VMs failed on one of them"),
    ("2", "bad usage: an unknown option, a missing argument"),
    ("130", "interrupted (Ctrl-C, SIGTERM); what the operation had made is rolled back"),
)


def pages(root: click.Group) -> dict[str, str]:
    """Every page by file name: vmm.1 and vmm-COMMAND.1 for each command of `root`."""
    ctx = _context(root, "vmm")
    written = {"vmm.1": _root_page(root, ctx)}
    for name, command in _commands(root, ctx):
        written[f"vmm-{name}.1"] = _command_page(name, command, _context(command, name, ctx))
    return written


def page_for(root: click.Group, name: str | None) -> str | None:
    """The page of one command (None: vmm(1)); None when there is no such command."""
    if name is None:
        return pages(root)["vmm.1"]
    ctx = _context(root, "vmm")
    command = root.get_command(ctx, name)
    if command is None:
        return None
    return _command_page(name, command, _context(command, name, ctx))


def write(root: click.Group, folder: Path) -> list[Path]:
    """Write every page into `folder`, removing pages of commands that no longer exist."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = pages(root)
    for old in folder.glob("*.1"):
        if old.name not in wanted:
            old.unlink()
    written = []
    for name, text in wanted.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _context(
    command: click.Command, name: str, parent: click.Context | None = None
) -> click.Context:
    """The context a run of `command` would have (its -h, its settings), with no arguments."""
    return click.Context(command, info_name=name, parent=parent, **command.context_settings)


def _commands(group: click.Group, ctx: click.Context) -> Iterator[tuple[str, click.Command]]:
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and not command.hidden:
            yield name, command


# -- pages -------------------------------------------------------------------------------------


def _root_page(root: click.Group, ctx: click.Context) -> str:
    description, examples = _split_help(root.help or "")
    lines = _title("VMM", "a keyboard-driven virtual machine manager for libvirt")
    lines += [".SH SYNOPSIS", ".B vmm", _escape("[OPTIONS] [COMMAND [ARGS]...]")]
    lines += [".SH DESCRIPTION", *_paragraphs(description)]
    lines += [
        ".PP",
        _escape("Each command has its own page, vmm-COMMAND(1), also shown by vmm help COMMAND."),
    ]
    lines += [".SH OPTIONS", *_options(root, ctx)]
    lines += [".SH COMMANDS"]
    for name, command in _commands(root, ctx):
        lines += [".TP", f"\\fB{_escape(name)}\\fR", _inline(command.get_short_help_str(300))]
    lines += _examples(examples)
    lines += [".SH FILES", *_table(FILES, bold=False)]
    lines += [".SH ENVIRONMENT", *_table(ENVIRONMENT, bold=True)]
    lines += [".SH EXIT STATUS", *_table(EXIT_STATUS, bold=False)]
    see = [f"vmm-{name} (1)" for name, _ in _commands(root, ctx)]
    lines += [".SH SEE ALSO", _escape(", ".join([*see, "virsh (1)", "fzf (1)", "wofi (1)"]))]
    return "\n".join(lines) + "\n"


def _command_page(name: str, command: click.Command, ctx: click.Context) -> str:
    description, examples = _split_help(command.help or "")
    lines = _title(f"VMM-{name.upper()}", command.get_short_help_str(200).rstrip("."))
    lines += [".SH SYNOPSIS", *_synopsis(command, ctx)]
    lines += [".SH DESCRIPTION", *_paragraphs(description)]
    options = _options(command, ctx)
    if options:
        lines += [".SH OPTIONS", *options]
    if isinstance(command, click.Group):
        lines += [".SH COMMANDS"]
        for sub_name, sub in _commands(command, ctx):
            sub_ctx = _context(sub, sub_name, ctx)
            sub_description, sub_examples = _split_help(sub.help or "")
            examples += sub_examples
            lines += [".SS " + _quoted(f"{ctx.command_path} {sub_name}"), *_synopsis(sub, sub_ctx)]
            lines += _paragraphs(sub_description)
            lines += _options(sub, sub_ctx)
    lines += _examples(examples)
    lines += [".SH SEE ALSO", "vmm (1)"]
    return "\n".join(lines) + "\n"


def _title(name: str, what: str) -> list[str]:
    return [
        f'.TH {name} 1 "" "vmm {__version__}" "{MANUAL}"',
        ".SH NAME",
        f"{_escape(name.lower())} \\- {_escape(what)}",
    ]


def _synopsis(command: click.Command, ctx: click.Context) -> list[str]:
    pieces = " ".join(command.collect_usage_pieces(ctx))
    return [f".B {_escape(ctx.command_path)}", _escape(pieces)]


def _options(command: click.Command, ctx: click.Context) -> list[str]:
    lines = []
    for param in command.get_params(ctx):
        if not isinstance(param, click.Option) or (param.name == "help" and ctx.parent):
            continue  # arguments are in the synopsis; -h is said once, in vmm(1)
        record = param.get_help_record(ctx)
        if record is None:
            continue
        flags, text = record
        lines += [".TP", f"\\fB{_escape(flags)}\\fR", _inline(text)]
    return lines


def _examples(examples: list[str]) -> list[str]:
    if not examples:
        return []
    lines = [".SH EXAMPLES"]
    for example in dict.fromkeys(examples):
        lines += [".PP", ".nf", ".RS 4", _escape(example), ".RE", ".fi"]
    return lines


def _table(rows: tuple[tuple[str, str], ...], *, bold: bool) -> list[str]:
    lines = []
    for term, text in rows:
        shown = f"\\fB{_escape(term)}\\fR" if bold else f"\\fI{_escape(term)}\\fR"
        lines += [".TP", shown, _escape(text)]
    return lines


# -- the text of a docstring -------------------------------------------------------------------


def _split_help(text: str) -> tuple[list[list[str]], list[str]]:
    """A docstring's paragraphs (each a list of lines; a \\b one kept as written) and the
    example command lines of its `Examples:` block."""
    paragraphs: list[list[str]] = []
    examples: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if lines and lines[0].strip() == "\b":
            lines = lines[1:]
            if lines and lines[0].strip() == "Examples:":
                examples += [line.strip() for line in lines[1:] if line.strip()]
                continue
            paragraphs.append(["\b", *lines])
        else:
            paragraphs.append([" ".join(line.strip() for line in lines)])
    return paragraphs, examples


def _paragraphs(paragraphs: list[list[str]]) -> list[str]:
    lines = []
    for paragraph in paragraphs:
        if paragraph[0] == "\b":
            lines += [".PP", ".nf", *(_inline(line) for line in paragraph[1:]), ".fi"]
        else:
            lines += [".PP", _inline(paragraph[0])]
    return lines


def _inline(text: str) -> str:
    """Escaped text where `code` is shown in bold."""
    parts = re.split(r"`([^`]+)`", text)
    return "".join(
        f"\\fB{_escape(part)}\\fR" if odd else _escape(part) for odd, part in _alternate(parts)
    )


def _alternate(parts: list[str]) -> Iterator[tuple[bool, str]]:
    for index, part in enumerate(parts):
        yield index % 2 == 1, part


def _escape(text: str) -> str:
    """Text roff shows as written: backslashes and dashes escaped, no line read as a request."""
    escaped = text.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"^([.'])", r"\\&\1", escaped, flags=re.MULTILINE)


def _quoted(text: str) -> str:
    return '"' + _escape(text).replace('"', "\\(dq") + '"'
