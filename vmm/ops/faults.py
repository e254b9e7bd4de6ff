"""Named points inside multi-step operations, where tests inject a crash or a failure.

Inert in normal use. A test registers a hook for a point (in-process), or sets VMM_FAULTS for a
real vmm process: `VMM_FAULTS=clone.source-frozen:kill` SIGKILLs the process at that point (what
a power cut would leave), `...:fail` raises there, `...:stop` SIGSTOPs it until the test goes on.
Several are separated by commas.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

HOOKS: dict[str, Callable[[], None]] = {}


class InjectedFault(OSError):
    """The failure a test asked for at a fault point."""


def _from_environment() -> dict[str, str]:
    specs = os.environ.get("VMM_FAULTS", "")
    return dict(spec.partition(":")[::2] for spec in specs.split(",") if spec)


_ENVIRONMENT = _from_environment()


def point(name: str) -> None:
    """Mark a step boundary; only a test's hook or VMM_FAULTS gives it an effect."""
    hook = HOOKS.get(name)
    if hook is not None:
        hook()
    what = _ENVIRONMENT.get(name)
    if what == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif what == "stop":
        os.kill(os.getpid(), signal.SIGSTOP)
    elif what == "fail":
        raise InjectedFault(f"fault injected at {name}")
