"""The fzf backend, through pyfzf.

pyfzf runs `fzf OPTIONS < in > out` with os.system: the options pass through a shell and the exit
status is lost. So every option is quoted with shlex.quote, and the outcome is read from the
output alone: Esc and Ctrl-C are `--expect` keys (fzf then prints their names), `--print-query`
always prints a first line, and an empty output can only mean fzf itself failed.

Each line is `N<TAB>text`, N the row's index, with only the text shown (`--with-nth 2..`): the
chosen line's N says which row it was, whatever the row's key holds (a snapshot's name may hold
a tab), and the preview command gets N as fzf's quoted `{1}`.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
from collections.abc import Sequence

from pyfzf.pyfzf import FzfPrompt

from vmm.model.printable import printable
from vmm.ui.menus import Cancelled, Cell, Choice, MenuError, Row, Screen
from vmm.ui.menus.preview import PreviewServer

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
# beside the list, or below it where beside would leave either too narrow (an 80-column
# terminal: the key hints and the preview each need about 80 and 50 columns)
_PREVIEW_WINDOW = "--preview-window=right,50%,wrap,<50(down,45%,wrap)"
_ALWAYS = ("esc", "ctrl-c", FREE_TEXT_KEY)


def _one_line(text: str) -> str:
    return printable(text.replace("\t", " ").replace("\n", " "), colours=False)


def _render(cell: Cell) -> str:
    text = _one_line(cell.text)
    code = _ANSI.get(cell.style)
    return f"\x1b[{code}m{text}\x1b[0m" if code else text


def lines_for(rows: Sequence[Row]) -> list[str]:
    return [f"{i}\t{''.join(_render(c) for c in row.cells)}" for i, row in enumerate(rows)]


def row_of(screen: Screen, line: str) -> Row | None:
    """The row a line of fzf's output (or the preview's `{1}`) stands for."""
    index = line.split("\t", 1)[0]
    return screen.rows[int(index)] if index.isdigit() and int(index) < len(screen.rows) else None


class FzfMenu:
    live = True  # draws at once: worth showing the last run's listing while the host is listed

    def __init__(self, executable: str = "fzf") -> None:
        try:
            self._fzf = FzfPrompt(executable)
        except SystemError:
            raise MenuError("fzf is not installed (apt-get install fzf)") from None
        self._server: PreviewServer | None = None
        self._scratch: str | None = None

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def _prompt(self, lines: list[str], options: str) -> list[str]:
        """pyfzf's prompt, its two temporary files (the rows, fzf's answer) kept in a directory
        of our own: pyfzf leaves them behind when an interrupt or a hang-up ends it early."""
        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix="vmm-fzf-")
        default, tempfile.tempdir = tempfile.tempdir, self._scratch
        try:
            return self._fzf.prompt(lines, options)
        finally:
            tempfile.tempdir = default

    def _ask_picker(self, request: str) -> str:
        if self._server is None:
            self._server = PreviewServer()
        # -P: not the working directory's `vmm` (a checkout, say) but the installed one
        argv = [sys.executable, "-P", "-m", "vmm.ui.menus.preview", str(self._server.socket)]
        return f"{shlex.join(argv)} {request}"

    def _options(self, screen: Screen) -> list[str]:
        expect = ",".join([*_ALWAYS, *screen.keys])
        options = [
            "--ansi", "--delimiter=\t", "--with-nth=2..", "--print-query", f"--expect={expect}",
            "--layout=reverse", "--tiebreak=index", "--info=inline", "--no-mouse",
            f"--prompt={_one_line(screen.prompt)}> ",
        ]  # fmt: skip
        if screen.header:
            options.append(f"--header={printable(screen.header, colours=False)}")
        if screen.multi:
            options.append("--multi")
        if screen.free_text:
            options.append("--bind=tab:replace-query")  # a suggestion completes the typed text
        if screen.cursor:
            options.append(f"--bind=load:pos({screen.cursor + 1})")
        if screen.preview is not None:
            options += [f"--preview={self._ask_picker('{1}')}", _PREVIEW_WINDOW]
        return options

    def _serve(self, screen: Screen) -> None:
        def handle(request: str) -> str:
            row = row_of(screen, request)
            return screen.preview(row.key) if screen.preview and row else ""

        if self._server is not None:
            self._server.handler = handle

    def choose(self, screen: Screen) -> Choice:
        options = " ".join(shlex.quote(option) for option in self._options(screen))
        self._serve(screen)
        output = self._prompt(lines_for(screen.rows), options)
        if len(output) < 2:
            raise MenuError("fzf failed to run (is the terminal too small?)")
        query, key, picked = output[0], output[1], output[2:]
        if key == "esc":
            raise Cancelled
        if key == "ctrl-c":
            raise KeyboardInterrupt
        if key == FREE_TEXT_KEY or (screen.free_text and not picked):
            return Choice("enter", (), query)
        rows = [row_of(screen, line) for line in picked]
        return Choice(key or "enter", tuple(row.key for row in rows if row is not None), query)
