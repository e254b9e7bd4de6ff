"""A unix-socket proxy in front of libvirtd that adds a fixed delay each way.

It makes a "5 ms link" reproducible on one machine: every chunk is forwarded `delay` seconds
after it arrived, in order, without holding back the chunks behind it (a latency, not a
bandwidth limit), so pipelined calls overlap as they would on a real link.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
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


class DelayProxy:
    """Listens on `listen`, forwards to `upstream`; run it in a background thread."""

    def __init__(self, listen: Path, upstream: Path, delay: float) -> None:
        self.listen, self.upstream, self.delay = listen, upstream, delay
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(str(self.upstream))
        await asyncio.gather(
            _pump(reader, up_writer, self.delay), _pump(up_reader, writer, self.delay)
        )

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_unix_server(self._client, path=str(self.listen))
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        with contextlib.suppress(FileNotFoundError):
            self.listen.unlink()
