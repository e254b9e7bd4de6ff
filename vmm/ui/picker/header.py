"""The picker's header: where it is, the keys, hosts whose connection is gone, the last outcome.

fzf cuts a header line longer than the list is wide, so every part is wrapped to the list's
width; the last outcome takes at most STATUS_LINES there, and its whole text is one key away
(MESSAGE_KEY opens it as a screen of its own).
"""

from __future__ import annotations

import shutil
import textwrap

STATUS_LINES = 4
MESSAGE_KEY = "ctrl-l"


def list_width() -> int:
    """How wide fzf draws the list: the whole terminal where the preview goes below it (under
    100 columns, see menus.fzf), else the half beside the preview."""
    columns = shutil.get_terminal_size((160, 40)).columns
    return max(40, columns - 4 if columns < 100 else columns // 2 - 4)


def hints(keys: dict[str, str]) -> str:
    return " · ".join(f"{key.replace('ctrl-', '^')} {what}" for key, what in keys.items())


def compose(first: str, keys: dict[str, str], notes: list[str], status: str) -> str:
    width = list_width()
    lines = [first, "⏎ open · esc back · alt-⏎ typed text"]
    for part in (hints(keys), *notes):
        lines += textwrap.wrap(part, width)
    if status:
        shown = textwrap.wrap(status, width)
        if len(shown) > STATUS_LINES:
            more = f" … ({hints({MESSAGE_KEY: 'all of it'})})"
            shown = textwrap.wrap(status, width, max_lines=STATUS_LINES, placeholder=more)
        lines += shown
    return "\n".join(lines)


def message_lines(status: str) -> list[str]:
    """The whole last outcome, one line per part (`;` separates the VMs' outcomes), wrapped."""
    width = list_width()
    parts = [part.strip() for part in status.split("; ")]
    return [line for part in parts for line in textwrap.wrap(part, width)]
