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
from pathlib import Path


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def forward() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.close()

    sender = asyncio.create_task(forward())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((time.monotonic() + delay, data))
    except OSError:
        pass
    queue.put_nowait((time.monotonic() + delay, b""))
    await sender


async def serve(listen: Path, upstream: Path, delay: float) -> None:
    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(str(upstream))
        await asyncio.gather(_pump(reader, up_writer, delay), _pump(up_reader, writer, delay))

    server = await asyncio.start_unix_server(client, path=str(listen))
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
