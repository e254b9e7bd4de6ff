"""The domain view: what vmm shows of a VM, as a frozen value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vmm.model import states
from vmm.model.metadata import Metadata
from vmm.model.states import ACTIVE, State
from vmm.model.tree import join


def state_name(code: int) -> str:
    return states.name_of(code)


def on_host(host: str, ident: str) -> str:
    """HOST:IDENT, or IDENT alone where the host has no name: how a VM (by name or UUID) is
    told apart from its namesakes on other hosts."""
    return f"{host}:{ident}" if host else ident


@dataclass(frozen=True)
class Domain:
    name: str
    uuid: str
    state: str
    persistent: bool
    meta: Metadata
    managed_save: bool
    snapshots: int
    vcpus: int
    memory_kib: int
    host: str = ""
    warning: str | None = None  # why stored metadata was ignored, when it was
    qualified: str = ""  # HOST:NAME when several hosts have a VM of this name

    @property
    def key(self) -> str:
        """Unique across hosts (a UUID need not be: copied definitions keep theirs)."""
        return on_host(self.host, self.uuid)

    @property
    def ref(self) -> str:
        """The name to show and to type: NAME, or HOST:NAME where NAME alone is ambiguous."""
        return self.qualified or self.name

    @property
    def path(self) -> str:
        return self.meta.path

    @property
    def labels(self) -> tuple[str, ...]:
        return self.meta.labels

    @property
    def place(self) -> str:
        """The VM's own place in the tree: its folder joined with its name."""
        return join(self.path, self.ref)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def shown(self) -> State:
        """The state as lists show it: "saved" for a shut-off VM with a saved state."""
        return states.shown(self.state, self.managed_save)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ref": self.ref,
            "uuid": self.uuid,
            "host": self.host,
            "path": self.path,
            "place": self.place,
            "labels": list(self.labels),
            "state": self.state,
            "persistent": self.persistent,
            "managed_save": self.managed_save,
            "snapshots": self.snapshots,
            "vcpus": self.vcpus,
            "memory_mib": self.memory_kib // 1024,
        }
