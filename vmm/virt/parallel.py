"""A minimal thread pool map: libvirt calls release the GIL, so threads overlap round trips.

(concurrent.futures would do, but importing it costs more start-up time than this file.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")

# A call that waited twice as long as it computed went to another process: a call to a local
# libvirtd waits some 4 times its CPU time, one over a link tens of times; a call that only
# computes is stretched this far only on a machine loaded well beyond its cores.
_WAITING = 2.0


def _result(_item: Any, result: Any) -> Any:
    return result


class Silent(TimeoutError):
    """No call of a `parallel_map` answered for `stall` seconds."""

    def __init__(self, stall: float) -> None:
        super().__init__(f"no answer within {stall:g}s")
        self.stall = stall


def parallel_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int,
    then: Callable[[T, R], S] = _result,
    *,
    stall: float | None = None,
) -> list[S]:
    """`[then(x, fn(x)) for x in items]`: `fn` on up to `workers` threads, `then` on this thread
    as each result arrives. The first exception is raised.

    Keeping `then` (parsing, say) off the threads leaves them nothing to do but wait on their
    calls, so it overlaps the waiting instead of contending for the GIL.

    With `stall`, `Silent` is raised once no call has answered for that many seconds (the
    threads still waiting are abandoned: a call that never returns cannot be stopped), so
    every call runs on a thread, even a single one.
    """
    todo = list(items)
    if stall is None and (workers <= 1 or len(todo) <= 1):
        return [then(item, fn(item)) for item in todo]
    results: list[Any] = [None] * len(todo)
    arrived: SimpleQueue[tuple[int, Any, BaseException | None]] = SimpleQueue()
    cursor = iter(range(len(todo)))
    lock = threading.Lock()
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            with lock:
                index = next(cursor, None)
            if index is None:
                return
            try:
                arrived.put((index, fn(todo[index]), None))
            except BaseException as err:
                arrived.put((index, None, err))
                return

    try:
        for _ in range(max(1, min(workers, len(todo)))):
            threading.Thread(target=work, daemon=True).start()
        for _ in todo:
            try:
                index, result, error = arrived.get(timeout=stall)
            except Empty:
                raise Silent(stall or 0) from None
            if error is not None:
                raise error
            results[index] = then(todo[index], result)
    finally:
        stop.set()  # after an error, the other threads take no new work
    return results


def waited(wall: float, cpu: float) -> bool:
    """Whether a call spent its time waiting on another process (a daemon, a link) rather
    than computing in this one (an in-process driver such as test:///)."""
    return wall > _WAITING * cpu


def workers_for(wall: float, cpu: float, most: int) -> int:
    """One thread for calls that only compute, where a thread adds its own cost and saves
    nothing; `most` for calls that wait, since threads that only wait cost little and a round
    trip is hidden only by many."""
    return most if waited(wall, cpu) else 1


def timed(fn: Callable[[], R]) -> tuple[R, float, float]:
    """`fn()`, with the wall and CPU time it took on this thread."""
    started, started_cpu = time.perf_counter(), time.thread_time()
    result = fn()
    return result, time.perf_counter() - started, time.thread_time() - started_cpu


def pipelined_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    most: int,
    then: Callable[[T, R], S] = _result,
) -> list[S]:
    """`parallel_map` with up to `most` calls in flight when calls wait, and none when they
    do not: the first call runs on this thread, timed, to tell which."""
    todo = list(items)
    if not todo:
        return []
    first, wall, cpu = timed(lambda: fn(todo[0]))
    rest = parallel_map(fn, todo[1:], workers_for(wall, cpu, most), then)
    return [then(todo[0], first), *rest]
