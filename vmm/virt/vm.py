"""A VM handle: a libvirt domain together with the host it lives on.

What ops take and the CLI and the picker hold; they pass it on, never look inside it, and never
have to ask which host of several a domain belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmm.model.domain import on_host
from vmm.virt.errors import as_vmm_errors

if TYPE_CHECKING:
    from vmm.model.domain import Domain
    from vmm.model.metadata import Metadata
    from vmm.virt.domains import Dom
    from vmm.virt.host import Host


@dataclass(frozen=True, eq=False)
class Vm:
    dom: Dom
    host: Host  # the one host it lives on (one of a Fleet's)

    @property
    def name(self) -> str:
        with as_vmm_errors():
            return self.dom.name()

    @property
    def uuid(self) -> str:
        with as_vmm_errors():
            return self.dom.UUIDString()

    @property
    def key(self) -> str:
        """As a listing's `Domain.key` names it: unique across hosts."""
        return on_host(self.host.name, self.uuid)

    def read_metadata(self) -> tuple[Metadata, str | None]:
        """Fresh from libvirt: the stored folder and labels and, if unreadable, why."""
        return self.host.read_metadata(self.dom)

    def view(self) -> Domain:
        return self.host.view(self.dom)

    def record(self, action: str, detail: str = "", **metadata: Metadata | None) -> None:
        """Journal a change made to this VM."""
        self.host.record(self.dom, action, detail, **metadata)
