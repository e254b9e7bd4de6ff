"""A minimal thread pool map: libvirt calls release the GIL, so threads overlap round trips.

(concurrent.futures would do, but importing it costs more start-up time than this file.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def parallel_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """`[fn(x) for x in items]`, run on up to `workers` threads; the first exception is raised."""
    todo = list(items)
    results: list[R | None] = [None] * len(todo)
    errors: list[BaseException] = []
    cursor = iter(range(len(todo)))
    lock = threading.Lock()

    def work() -> None:
        while not errors:
            with lock:
                index = next(cursor, None)
            if index is None:
                return
            try:
                results[index] = fn(todo[index])
            except BaseException as err:
                errors.append(err)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(min(workers, len(todo)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]
