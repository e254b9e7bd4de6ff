"""What a menu shows and what it answers: rows of styled cells, screens, the user's choice.

Pure values: the picker builds them, every menu back-end (fzf, wofi, dmenu) renders them its
own way; none of them knows about VMs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cell:
    """A piece of a row's text; `style` names what it is, the backend decides how it looks."""

    text: str
    style: str = ""  # running, paused, shutoff, saved, folder, label, dim, action, danger


@dataclass(frozen=True)
class Row:
    key: str  # never shown; what the picker gets back (any text: rows go out by index or line)
    cells: tuple[Cell, ...]

    @classmethod
    def plain(cls, key: str, text: str, style: str = "") -> Row:
        return cls(key, (Cell(text, style),))

    @property
    def text(self) -> str:
        return "".join(cell.text for cell in self.cells)


@dataclass(frozen=True)
class Choice:
    key: str  # "enter", or the name of the quick key pressed ("ctrl-s")
    rows: tuple[str, ...]  # keys of the chosen rows (several with multi-select)
    query: str = ""  # what was typed


@dataclass(frozen=True)
class Screen:
    """One menu: a prompt, rows, and what else the backend may offer."""

    prompt: str
    rows: Sequence[Row]
    header: str = ""  # context and key hints (shown where the backend can)
    keys: dict[str, str] = field(default_factory=dict)  # quick key -> what it does
    multi: bool = False
    preview: Callable[[str], str] | None = None  # row key -> text; backends may ignore it
    free_text: bool = False  # typed text may be returned instead of a row
    cursor: int = 0  # the row the cursor starts on (where the last key acted: it stays there)
