"""Completions as each shell's click script must get them to insert one word, never code. Pure.

What click's scripts (click/shell_completion.py) do with a value:
- bash puts it into COMPREPLY unquoted, after `read` without -r has taken its backslashes and
  after pathname expansion: it must arrive quoted, with no glob character left in it (a VM
  named `y-*` and a file named `'y-'$(touch pwned)''` in the working directory would run).
- PowerShell inserts it as it is: it must arrive single-quoted.
- zsh (`compadd` without -Q) and fish escape what they insert: quoting for them quotes twice.
- Every script reads one value a line, and fish's cuts a value at a comma or a tab: such a
  value would be inserted cut short, perhaps as another VM's name, so it is not offered.
"""

from __future__ import annotations

import re
import shlex

_CUT_BY = {"fish": "\n\t,"}
_GLOB = re.compile(r"[*?[]|[+@!]\(")  # what bash expands to file names (with extglob too)
_PLAIN = re.compile(r"[A-Za-z0-9_./:=%,-]")
_POWERSHELL_QUOTES = re.compile("['\u2018\u2019\u201a\u201b]")


def shell_of(complete_var: str) -> str:
    """The shell in click's completion variable: `bash_complete` -> `bash`."""
    return complete_var.partition("_")[0]


def for_the_shell(value: str, shell: str) -> str | None:
    """`value` as `shell` must get it to insert it whole, as one word; None when it cannot."""
    if any(cut in value for cut in _CUT_BY.get(shell, "\n")):
        return None
    if shell == "bash":
        return _for_bash(value)
    if shell == "powershell":
        return "'" + _POWERSHELL_QUOTES.sub(lambda quote: quote.group() * 2, value) + "'"
    return value


def _for_bash(value: str) -> str:
    word = _ansi_c(value) if _GLOB.search(value) else shlex.quote(value)
    return word.replace("\\", "\\\\") if _bash_read_takes_backslashes() else word


def _ansi_c(value: str) -> str:
    """bash's $'...' with every character but the plainest as \\xHH: no glob character left."""
    return "$'" + "".join(c if _PLAIN.fullmatch(c) else _hex_bytes(c) for c in value) + "'"


def _hex_bytes(character: str) -> str:
    return "".join(f"\\x{byte:02x}" for byte in character.encode("utf-8", "surrogatepass"))


def _bash_read_takes_backslashes() -> bool:
    from click.shell_completion import BashComplete

    return "read -r" not in BashComplete.source_template
