"""A unix-socket proxy in front of libvirtd that adds a fixed delay each way.

It makes a "5 ms link" reproducible on one machine: every chunk is forwarded `delay` seconds
after it arrived, in order, without holding back the chunks behind it (a latency, not a
bandwidth limit), so pipelined calls overlap as they would on a real link.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections import deque
from pathlib import Path


class _Side(asyncio.Protocol):
    """One end of a proxied connection: what it receives is written to its peer `delay` later.

    Plain protocols and one timer per chunk, no streams or tasks: the proxy's own CPU time is
    a cost of the simulation, not of the link, so it is kept small.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.peer: _Side | None = None
        self.transport: asyncio.Transport | None = None
        self.pending: deque[bytes] = deque()
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.pending.append(data)
        self.loop.call_at(self.loop.time() + self.delay, self._forward)

    def eof_received(self) -> None:
        self.pending.append(b"")
        self.loop.call_at(self.loop.time() + self.delay, self._forward)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.pending or self.pending[-1]:
            self.eof_received()

    def _forward(self) -> None:
        # timers fire in time order; taking the oldest chunk keeps the order even on a tie
        data = self.pending.popleft()
        peer = self.peer.transport if self.peer else None
        if peer is None or peer.is_closing():
            return
        if data:
            peer.write(data)
        else:
            peer.close()


async def serve(listen: Path, upstream: Path, delay: float) -> None:
    loop = asyncio.get_running_loop()

    class Client(_Side):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            transport.pause_reading()  # until the upstream end is connected
            self.connecting = loop.create_task(self._connect_upstream())

        async def _connect_upstream(self) -> None:
            try:
                _, up = await loop.create_unix_connection(lambda: _Side(delay), str(upstream))
            except OSError:
                self.transport.close()
                return
            self.peer, up.peer = up, self
            self.transport.resume_reading()

    server = await loop.create_unix_server(lambda: Client(delay), path=str(listen))
    async with server:
        await server.serve_forever()


class DelayProxy:
    """The proxy in a process of its own (a link has no share in anyone's CPU or GIL)."""

    def __init__(self, listen: Path, upstream: Path, delay: float) -> None:
        self.listen, self.upstream, self.delay = listen, upstream, delay
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> DelayProxy:
        argv = [
            sys.executable,
            "-m",
            "bench.proxy",
            str(self.listen),
            str(self.upstream),
            str(self.delay),
        ]
        root = Path(__file__).resolve().parent.parent
        self._process = subprocess.Popen(argv, cwd=root)
        deadline = time.monotonic() + 10
        while not self.listen.exists():
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError("the delay proxy did not start")
            time.sleep(0.02)
        return self

    @property
    def pid(self) -> int:
        """The proxy's process: stopping it (SIGSTOP) makes a link that goes silent."""
        assert self._process is not None, "the proxy is not running"
        return self._process.pid

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
        with contextlib.suppress(FileNotFoundError):
            self.listen.unlink()


if __name__ == "__main__":
    listen_at, upstream_at, seconds = sys.argv[1:4]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(Path(listen_at), Path(upstream_at), float(seconds)))
