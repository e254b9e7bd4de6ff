"""A private channel from fzf's preview command back to the picker's own process.

fzf runs its preview command in a new process for each highlighted row. Rather than open a new
libvirt connection each time (slow, and blind to a demo host's in-memory state), they ask the
picker over a unix socket in a private directory, and the picker answers from what it has.

Run as `python -m vmm.ui.menus.preview SOCKET REQUEST`: prints the picker's answer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Callable

TIMEOUT_SECONDS = 60


class PreviewServer:
    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="vmm-preview-")
        self.socket = os.path.join(self._dir, "sock")
        self.handler: Callable[[str], str] = lambda _request: ""
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.socket)
        self._listener.listen(8)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._reply, args=(conn,), daemon=True).start()

    def _reply(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(TIMEOUT_SECONDS)
            request = b""
            while not request.endswith(b"\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                request += chunk
            conn.sendall(self._answer(request.decode(errors="replace").rstrip("\n")).encode())

    def _answer(self, request: str) -> str:
        from vmm.model.printable import printable

        try:
            return printable(self.handler(request))
        except Exception as err:  # a preview must never take the picker down
            return printable(f"(no preview: {err})")

    def close(self) -> None:
        self._listener.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def main(argv: list[str]) -> int:
    sock_path, request = argv[1], argv[2]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(TIMEOUT_SECONDS)
        conn.connect(sock_path)
        conn.sendall(request.encode() + b"\n")
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    sys.stdout.write(b"".join(chunks).decode(errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
