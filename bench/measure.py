"""Timing commands: wall time of whole processes over repeated runs, median and spread."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    label: str
    command: str  # as a person would type it, for BENCHMARKS.md
    runs: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.runs), max(self.runs)


def time_command(
    label: str, argv: list[str], runs: int, shown: str | None = None, **env: str
) -> Timing:
    """Run `argv` `runs` times (after one warm-up); it must succeed every time."""
    environment = {**os.environ, **env}
    subprocess.run(argv, capture_output=True, env=environment, check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment, check=True
        )
        times.append(time.perf_counter() - start)
    return Timing(label, shown or " ".join(argv), tuple(times))


@dataclass(frozen=True)
class Command:
    label: str
    argv: list[str]
    shown: str | None = None  # how BENCHMARKS.md writes it, when not the argv itself
    # processes started at the same moment as argv; the run lasts until all of them are done
    alongside: tuple[list[str], ...] = ()

    def run(self, env: dict[str, str], stdout: int | None = subprocess.DEVNULL) -> None:
        """Run the command (and those alongside it) to the end; each must succeed."""
        processes = [
            (argv, subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, env=env))
            for argv in (self.argv, *self.alongside)
        ]
        for argv, process in processes:
            _, err = process.communicate()
            if process.returncode:
                raise subprocess.CalledProcessError(process.returncode, argv, stderr=err)


def time_interleaved(commands: list[Command], runs: int, **env: str) -> list[Timing]:
    """Run the commands in turn, `runs` rounds (after one warm-up round), so that a slow spell
    of the machine falls on all of them alike: their ratios are what the targets compare."""
    environment = {**os.environ, **env}
    for command in commands:
        command.run(environment, stdout=subprocess.PIPE)
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for command, spent in zip(commands, times, strict=True):
            start = time.perf_counter()
            command.run(environment)
            spent.append(time.perf_counter() - start)
    return [
        Timing(c.label, c.shown or " ".join(c.argv), tuple(spent))
        for c, spent in zip(commands, times, strict=True)
    ]


def time_shell(label: str, script: str, runs: int) -> Timing:
    return time_command(label, ["bash", "-c", script], runs, shown=script)


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"
