"""The fzf backend, through pyfzf.

pyfzf runs `fzf OPTIONS < in > out` with os.system: the options pass through a shell and the exit
status is lost. So every option is quoted with shlex.quote, and the outcome is read from the
output alone: Esc and Ctrl-C are `--expect` keys (fzf then prints their names), `--print-query`
always prints a first line, and an empty output can only mean fzf itself failed.
"""

from __future__ import annotations

import shlex
import sys

from pyfzf.pyfzf import FzfPrompt

from vmm.menus import Cancelled, Cell, Choice, MenuError, Screen
from vmm.menus.preview import PreviewServer

_ANSI = {
    "running": "32",
    "paused": "33",
    "saved": "34",
    "crashed": "31",
    "folder": "1;36",
    "label": "35",
    "dim": "2",
    "action": "1",
    "danger": "31",
    "status": "33",
}
FREE_TEXT_KEY = "alt-enter"
_ALWAYS = ("esc", "ctrl-c", FREE_TEXT_KEY)


def _render(cell: Cell) -> str:
    text = cell.text.replace("\t", " ").replace("\n", " ")
    code = _ANSI.get(cell.style)
    return f"\x1b[{code}m{text}\x1b[0m" if code else text


class FzfMenu:
    def __init__(self, executable: str = "fzf") -> None:
        try:
            self._fzf = FzfPrompt(executable)
        except SystemError:
            raise MenuError("fzf is not installed (apt-get install fzf)") from None
        self._preview: PreviewServer | None = None

    def close(self) -> None:
        if self._preview is not None:
            self._preview.close()
            self._preview = None

    def _options(self, screen: Screen) -> list[str]:
        expect = ",".join([*_ALWAYS, *screen.keys])
        options = [
            "--ansi", "--delimiter=\t", "--with-nth=2..", "--print-query", f"--expect={expect}",
            "--layout=reverse", "--tiebreak=index", "--info=inline", "--no-mouse",
            f"--prompt={screen.prompt}> ",
        ]  # fmt: skip
        if screen.header:
            options.append(f"--header={screen.header}")
        if screen.multi:
            options.append("--multi")
        if screen.preview is not None:
            options += [
                f"--preview={self._preview_command(screen)} {{1}}",
                "--preview-window=right,50%,wrap",
            ]
        return options

    def _preview_command(self, screen: Screen) -> str:
        if self._preview is None:
            self._preview = PreviewServer()
        self._preview.show(screen)
        argv = [sys.executable, "-m", "vmm.menus.preview", str(self._preview.socket)]
        return shlex.join(argv)

    def choose(self, screen: Screen) -> Choice:
        lines = [
            f"{i}\t{''.join(_render(c) for c in row.cells)}" for i, row in enumerate(screen.rows)
        ]
        options = " ".join(shlex.quote(option) for option in self._options(screen))
        output = self._fzf.prompt(lines, options)
        if len(output) < 2:
            raise MenuError("fzf failed to run (is the terminal too small?)")
        query, key, picked = output[0], output[1], output[2:]
        if key == "esc":
            raise Cancelled
        if key == "ctrl-c":
            raise KeyboardInterrupt
        if key == FREE_TEXT_KEY or (screen.free_text and not picked):
            return Choice("enter", (), query)
        rows = tuple(screen.rows[int(line.split("\t", 1)[0])].key for line in picked)
        return Choice(key or "enter", rows, query)
