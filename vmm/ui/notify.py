"""Where outcomes go: the picker's status line on a terminal, desktop notifications in wofi mode."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
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


class Desktop:
    """notify-send, as app 'vmm'; errors are critical; progress updates one notification."""

    def __init__(
        self, executable: str = "notify-send", env: Mapping[str, str] | None = None
    ) -> None:
        self.executable = executable
        self.env = env  # None: this process's environment (its D-Bus session)
        self._progress_id: str | None = None

    def _send(self, summary: str, body: str, *extra: str) -> str:
        """Notify; where that cannot be done, the message goes to stderr (a key binding's log,
        at least) rather than nowhere."""
        from vmm.model.printable import printable

        summary, body = printable(summary, colours=False), printable(body, colours=False)
        argv = [self.executable, "--app-name=vmm", *extra, "--", summary, body]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=10, check=False, env=self.env
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            why = "is not installed" if isinstance(err, FileNotFoundError) else "failed"
            print(f"{summary}: {body} ({self.executable} {why})", file=sys.stderr, flush=True)
            return ""
        return done.stdout.strip()

    def info(self, message: str) -> None:
        self._progress_id = None
        self._send("vmm", message)

    def error(self, message: str) -> None:
        self._progress_id = None
        self._send("vmm: error", message, "--urgency=critical")

    def progress(self, message: str, percent: int) -> None:
        replace = ["--replace-id", self._progress_id] if self._progress_id else []
        hint = f"int:value:{max(0, min(percent, 100))}"
        found = self._send(
            "vmm", f"{message}: {percent}%", "--print-id", f"--hint={hint}", *replace
        )
        if found.isdigit():
            self._progress_id = found
