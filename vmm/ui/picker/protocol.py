"""The picker as its sub-screens (a VM's screens, New VM) see it: what they may ask of it.

They are handed the Picker itself; naming it through this protocol keeps them from importing
the module that imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from vmm.model.domain import Domain
from vmm.ui.menus import Choice, Screen
from vmm.virt.hosts import Hosts


class PickerFlow(Protocol):
    host: Hosts
    vms: dict[str, Domain]
    terminal: bool

    def report(self, message: str, *, error: bool = False) -> None: ...

    def attempt(self, work: Callable[[], str | None]) -> bool: ...

    def act_on(self, targets: list[Domain], action: str, **options: object) -> None: ...

    def choose(self, screen: Screen | Callable[[], Screen]) -> Choice | None: ...

    def confirm(self, question: str) -> bool: ...

    def ask(
        self, prompt: str, suggestions: Iterable[str], hint: str, *, existing: bool = False
    ) -> str | None: ...

    def header(self, where: str, keys: dict[str, str]) -> str: ...

    def preview(self, key: str) -> str: ...

    def progress_of(self, what: str) -> Callable[[int, int], None]: ...

    def refresh(self, keys: Iterable[str]) -> None: ...

    def add(self, ref: str) -> None: ...

    def move(self, key: str, folder: str) -> str: ...
