"""The wofi backend (dmenu mode), for a Sway key binding with no terminal.

Rows go in with Pango markup (every name escaped); wofi prints the chosen row's line, or the
typed text when it matches no row; Esc exits with 1. Only a screen where two rows read the
same asks for the row's number instead (`dmenu-print_line_num`).
wofi 1.3 (Debian 12) has no custom keys and no multi-select, so quick keys are fzf's alone:
here every action is on the VM's own menu. wofi searches the raw markup, so a name holding
`<`, `>` or `&` is found by its other characters.
"""

from __future__ import annotations

import html
import subprocess

from vmm.model.printable import printable
from vmm.ui.menus import Cancelled, Cell, Choice, MenuError, Screen

_COLOURS = {
    "running": "#3fb950",
    "paused": "#d29922",
    "saved": "#58a6ff",
    "crashed": "#f85149",
    "folder": "#39c5cf",
    "label": "#bc8cff",
    "dim": "#8b949e",
    "danger": "#f85149",
}


def markup(cell: Cell) -> str:
    text = html.escape(printable(cell.text, colours=False), quote=False)
    colour = _COLOURS.get(cell.style)
    if cell.style in ("folder", "action"):
        text = f"<b>{text}</b>"
    return f'<span foreground="{colour}">{text}</span>' if colour else text


def _no_display(stderr: str) -> bool:
    """wofi exits 1 for Esc and for a display it cannot open alike; only its stderr differs."""
    return "cannot open display" in stderr or "Failed to connect" in stderr


class WofiMenu:
    follows = False  # wofi reads its rows once: an open menu cannot be changed from outside

    def redraw(self, screen: Screen) -> None:
        pass  # the next menu shown is drawn from what is known then

    def __init__(self, executable: str = "wofi") -> None:
        self.executable = executable

    def argv(self, screen: Screen, *, numbered: bool = False, password: bool = False) -> list[str]:
        argv = [
            self.executable, "--dmenu", f"--prompt={printable(screen.prompt, colours=False)}",
            "--insensitive", "--cache-file=/dev/null", "--allow-markup",
        ]  # fmt: skip
        if numbered:
            argv += ["-D", "dmenu-print_line_num=true"]
        if password:
            argv.append("--password")
        return argv

    def run(self, argv: list[str], rows: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(argv, input=rows, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise MenuError(f"{self.executable} is not installed (apt-get install wofi)") from None

    def choose(self, screen: Screen) -> Choice:
        lines = ["".join(markup(c) for c in row.cells) for row in screen.rows]
        # A row is known by its own line, so that typed digits stay typed text (a "1" on a
        # Yes/No screen is no "Yes"); by its number only where two rows read the same.
        numbered = len(set(lines)) < len(lines) and not screen.free_text
        done = self.run(self.argv(screen, numbered=numbered), "".join(f"{x}\n" for x in lines))
        if done.returncode == 1 and _no_display(done.stderr):
            raise MenuError(
                "wofi cannot open a display (no Wayland session here: run it from Sway,"
                " or use --menu fzf in a terminal)"
            )
        if done.returncode == 1:
            raise Cancelled
        if done.returncode != 0:
            raise MenuError(f"wofi failed: {' '.join(done.stderr.split()) or done.returncode}")
        answer = done.stdout.rstrip("\n")
        if numbered:
            chosen = int(answer) if answer.isdigit() and int(answer) < len(lines) else None
        else:
            chosen = lines.index(answer) if answer in lines else None
        if chosen is not None:
            return Choice("enter", (screen.rows[chosen].key,))
        return Choice("enter", (), answer)

    def password(self, prompt: str) -> str:
        done = self.run(self.argv(Screen(prompt, []), password=True), "")
        if done.returncode != 0:
            raise Cancelled
        return done.stdout.rstrip("\n")
