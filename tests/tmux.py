"""Driving a real terminal program through tmux: type with send-keys, read with capture-pane."""

from __future__ import annotations

import shlex
import subprocess
import time
import uuid


def start_session(argv: list[str], attempts: int = 5) -> None:
    """tmux new-session, again if it met a server that was just exiting (its last session
    killed a moment before): tmux then fails at once, and a second try starts a new server."""
    for attempt in range(attempts):
        if subprocess.run(argv, capture_output=True).returncode == 0:
            return
        time.sleep(0.2 * (attempt + 1))
    subprocess.run(argv, check=True)


class Terminal:
    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        *,
        cwd: str = ".",
        width: int = 160,
        height: int = 40,
    ) -> None:
        self.name = f"vmmt-{uuid.uuid4().hex[:8]}"
        self.done_marker = f"__EXIT_{self.name}__"
        exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
        script = f"env {exports} {shlex.join(argv)}; echo {self.done_marker}=$?; sleep 600"
        size = ["-x", str(width), "-y", str(height)]
        session = ["tmux", "new-session", "-d", "-s", self.name, "-c", cwd, *size]
        start_session([*session, "bash", "-c", script])

    def screen(self) -> str:
        out = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        )
        return out.stdout

    def wait_for(self, text: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{self.screen()}")

    def wait_for_prompt(self, prompt: str, timeout: float = 15) -> str:
        """Wait until fzf shows `prompt` on its first line: keys sent before that are lost."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.screen().splitlines()
            if lines and lines[0].startswith(f"{prompt}> "):
                time.sleep(0.1)  # fzf reads the keyboard once its first screen is drawn
                return "\n".join(lines)
            time.sleep(0.05)
        raise AssertionError(f"prompt {prompt!r} never appeared; the screen was:\n{self.screen()}")

    def type(self, text: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", text], check=True)

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def search(self, query: str, timeout: float = 15) -> None:
        """Type `query` into fzf and wait until it has filtered the list for it."""
        self.type(query)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            first = self.screen().splitlines()[0] if self.screen() else ""
            if query in first and first == last:
                return  # the query is shown and the match counter has settled
            last = first
            time.sleep(0.1)
        raise AssertionError(f"fzf never showed the query {query!r}:\n{self.screen()}")

    def pick(self, prompt: str, query: str, key: str = "Enter") -> None:
        """At the screen whose prompt is `prompt`, type `query` and press `key`."""
        self.wait_for_prompt(prompt)
        if query:
            self.search(query)
        self.keys(key)

    def exit_status(self, timeout: float = 15) -> int:
        screen = self.wait_for(f"{self.done_marker}=", timeout)
        return int(screen.split(f"{self.done_marker}=")[1].split()[0])

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)
