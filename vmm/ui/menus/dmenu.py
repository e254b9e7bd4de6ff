"""Any dmenu-style launcher (rofi -dmenu, fuzzel --dmenu, bemenu, tofi): rows on stdin, the
chosen row's text on stdout, non-zero exit for Esc. The command comes from `menu_command` in
the config; `{prompt}` in it is replaced by the screen's prompt."""

from __future__ import annotations

import shlex
import subprocess

from vmm.model.printable import printable
from vmm.ui.menus import Cancelled, Choice, MenuError, Screen


def plain_lines(screen: Screen) -> list[str]:
    """Row texts, made unique (the launcher answers with text, not with a row number)."""
    seen: dict[str, int] = {}
    lines = []
    for row in screen.rows:
        text = printable(row.text.replace("\n", " "), colours=False)
        seen[text] = seen.get(text, 0) + 1
        lines.append(text if seen[text] == 1 else f"{text} ({seen[text]})")
    return lines


class DmenuMenu:
    follows = False  # dmenu reads its rows once: an open menu cannot be changed from outside

    def redraw(self, screen: Screen) -> None:
        pass  # the next menu shown is drawn from what is known then

    def __init__(self, command: str | list[str] = "") -> None:
        try:
            argv = shlex.split(command) if isinstance(command, str) else list(command)
        except ValueError as err:
            raise MenuError(f"cannot read menu_command {command!r}: {err}") from None
        if not argv:
            raise MenuError(
                '--menu dmenu needs menu_command in the config (e.g. "rofi -dmenu -p {prompt}")'
            )
        self.argv = argv

    def choose(self, screen: Screen) -> Choice:
        lines = plain_lines(screen)
        prompt = printable(screen.prompt, colours=False)
        argv = [part.replace("{prompt}", prompt) for part in self.argv]
        try:
            done = subprocess.run(
                argv, input="\n".join(lines) + "\n", capture_output=True, text=True
            )
        except FileNotFoundError:
            raise MenuError(f"menu command {argv[0]!r} not found") from None
        if done.returncode != 0:
            raise Cancelled
        answer = done.stdout.rstrip("\n")
        if answer in lines:
            return Choice("enter", (screen.rows[lines.index(answer)].key,))
        return Choice("enter", (), answer)
