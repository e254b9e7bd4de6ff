"""fzf's preview pane, served by the picker's own process.

fzf runs its preview command in a new process for each highlighted row. Rather than open a new
libvirt connection each time (slow, and blind to a demo host's in-memory state), that process
asks the picker over a private unix socket, and the picker answers from what it already has.

Run as `python -m vmm.menus.preview SOCKET INDEX`: prints the preview of row INDEX.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import sys
import tempfile
import threading
from pathlib import Path

TIMEOUT_SECONDS = 10


class PreviewServer:
    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="vmm-preview-"))
        self.socket = self._dir / "sock"
        self._screen = None
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.socket))
        self._listener.listen(8)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def show(self, screen: object) -> None:
        self._screen = screen

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            with conn:
                conn.settimeout(TIMEOUT_SECONDS)
                with contextlib.suppress(OSError):
                    conn.sendall(self._answer(conn.recv(64).decode().strip()).encode())

    def _answer(self, index: str) -> str:
        screen = self._screen
        try:
            row = screen.rows[int(index)]
            return screen.preview(row.key) if screen.preview else ""
        except Exception as err:  # the preview must never take the picker down
            return f"(no preview: {err})"

    def close(self) -> None:
        self._listener.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def main(argv: list[str]) -> int:
    sock_path, index = argv[1], argv[2]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(TIMEOUT_SECONDS)
        conn.connect(sock_path)
        conn.sendall(index.encode() + b"\n")
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    sys.stdout.write(b"".join(chunks).decode(errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
