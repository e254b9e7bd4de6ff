"""One host or several, behind one protocol: what the CLI, the picker and ops ask of either.

`Host` (one libvirt connection) and `Fleet` (several, as one tree) both provide it; callers
never tell them apart by probing attributes: `several` says which it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from vmm.model.domain import Domain
    from vmm.virt.host import Host, Journal
    from vmm.virt.vm import Vm


class Hosts(Protocol):
    name: str
    history: Journal | None
    warnings: list[str]  # hosts that could not be reached, told once by the caller
    unreachable: list[str]  # names of configured hosts that could not be opened

    @property
    def several(self) -> bool: ...

    @property
    def hosts(self) -> list[Host]: ...

    @property
    def label(self) -> str: ...

    @property
    def uri(self) -> str: ...

    @property
    def home(self) -> Host: ...

    def domains(self) -> list[Domain]: ...

    def find(self, ref: str) -> Domain: ...

    def find_key(self, key: str) -> Domain: ...

    def vm(self, ref: str) -> Vm: ...

    def vm_by_key(self, key: str) -> Vm: ...

    def close(self) -> None: ...
