"""Where outcomes go: the picker's status line on a terminal, desktop notifications in wofi mode."""

from __future__ import annotations

from typing import Protocol


class Notifier(Protocol):
    def info(self, message: str) -> None: ...

    def error(self, message: str) -> None: ...

    def progress(self, message: str, percent: int) -> None: ...


class StatusLine:
    """On a terminal the picker's own status line shows outcomes: nothing else to do."""

    def info(self, message: str) -> None:
        pass

    def error(self, message: str) -> None:
        pass

    def progress(self, message: str, percent: int) -> None:
        pass
