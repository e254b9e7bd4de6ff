"""One host or several, behind one protocol: what the CLI, the picker and ops ask of either.

`Host` (one libvirt connection) and `Fleet` (several, as one tree) both provide it; callers
never tell them apart by probing attributes: `several` says which it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from vmm.model.domain import Domain
    from vmm.model.metadata import Metadata
    from vmm.model.sides import Reading
    from vmm.virt.domains import Dom
    from vmm.virt.host import Host, Journal


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

    def owner(self, dom: Dom) -> Host: ...

    def domains(self) -> list[Domain]: ...

    def lookup(self, ref: str) -> Dom: ...

    def by_key(self, key: str) -> Dom: ...

    def view(self, dom: Dom) -> Domain: ...

    def find(self, ref: str) -> Domain: ...

    def find_key(self, key: str) -> Domain: ...

    def reading(self, dom: Dom) -> Reading: ...

    def read_metadata(self, dom: Dom) -> tuple[Metadata, str | None]: ...

    def write_metadata(self, dom: Dom, meta: Metadata) -> None: ...

    def record(
        self, dom: Dom, action: str, detail: str = "", **metadata: Metadata | None
    ) -> None: ...

    def close(self) -> None: ...
