"""Every action on a VM, once: its name, menu label, whether menus ask first, the states it
applies to and the function that does it. The CLI, the fzf picker and the wofi menus all read
this table; adding an action is one entry here and one function.

Importing this module loads no libvirt: an action's module is imported when it first runs, so
`vmm --help` and shell completion stay fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from vmm.model import states

Run = Callable[..., str]


def _later(module: str, function: str) -> Run:
    """`vmm.ops.MODULE.FUNCTION`, imported on the first call."""

    def run(*args: object, **options: object) -> str:
        return getattr(importlib.import_module(f"vmm.ops.{module}"), function)(*args, **options)

    run.__qualname__ = f"{module}.{function}"
    return run


@dataclass(frozen=True)
class Action:
    name: str  # what the journal records and the picker calls it
    label: str  # the menu entry
    run: Run
    applies_to: frozenset[str]  # shown states (vmm.model.states) where menus offer it
    help: str = ""  # the CLI command's help; "" where the CLI has a command of its own
    command: str = ""  # the CLI command that does it (a variant of another: "start --fresh")
    confirm: bool = False  # menus ask first
    style: str = ""  # "action" (the usual next step), "danger" (loses something) or ""
    key: str = ""  # the picker's quick key for it, on any VM row
    options: Mapping[str, object] = field(default_factory=dict)  # fixed keyword arguments

    @property
    def journal_name(self) -> str:
        return self.command or self.name


ACTIONS: tuple[Action, ...] = (
    Action("start", "Start", _later("power", "start"), frozenset({"shutoff", "nostate", "crashed"}),
           style="action", key="ctrl-s"),
    Action("restore", "Restore saved state", _later("power", "start"), frozenset({"saved"}),
           command="start", style="action"),
    Action("fresh", "Start fresh (drop saved state)", _later("power", "start"),
           frozenset({"saved"}), command="start", confirm=True, style="danger",
           options={"fresh": True}),
    Action("discard-save", "Discard saved state", _later("power", "discard_save"),
           frozenset({"saved"}), confirm=True, style="danger"),
    Action("resume", "Resume", _later("power", "resume"), states.SUSPENDED,
           help="Resume paused VMs.", style="action"),
    Action("shutdown", "Shut down", _later("power", "shutdown"), states.RUNNING,
           style="action", key="ctrl-x"),
    Action("off", "Force off", _later("power", "off"), states.ACTIVE,
           help="Force VMs off at once, like pulling the plug.", confirm=True, style="danger",
           key="ctrl-o"),
    Action("reboot", "Reboot", _later("power", "reboot"), states.RUNNING,
           help="Ask VMs to reboot."),
    Action("reset", "Force reset", _later("power", "reset"), states.RUNNING,
           help="Force VMs to reboot at once, like the reset button.", confirm=True,
           style="danger"),
    Action("pause", "Pause", _later("power", "pause"), states.RUNNING,
           help="Pause VMs (they stay in memory)."),
    Action("save", "Save state", _later("power", "save"), states.RUNNING | states.SUSPENDED,
           help="Save VMs' state to disk and stop them (managed save); `vmm start` restores it.",
           key="ctrl-v"),
    Action("snapshot create", "Create snapshot", _later("snapshots", "create"), frozenset()),
    Action("snapshot revert", "Revert to snapshot", _later("snapshots", "revert"), frozenset()),
    Action("snapshot rm", "Delete snapshot", _later("snapshots", "delete"), frozenset()),
    Action("rm", "Delete", _later("removal", "delete"), frozenset(), style="danger"),
    Action("clone", "Clone", _later("clone", "clone"), frozenset()),
)  # fmt: skip
BY_NAME: dict[str, Action] = {action.name: action for action in ACTIONS}
BY_KEY: dict[str, Action] = {action.key: action for action in ACTIONS if action.key}


def offered(state: str) -> list[Action]:
    """The actions a menu offers a VM in shown state `state`, in menu order."""
    return [action for action in ACTIONS if state in action.applies_to]


def simple_commands() -> list[Action]:
    """Actions the CLI offers as `vmm NAME VM...` with nothing but the targets."""
    return [action for action in ACTIONS if action.help]
