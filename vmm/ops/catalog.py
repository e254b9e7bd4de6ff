"""`vmm images`: the images new VMs can be made from, on one host, and which VMs build on each."""

from __future__ import annotations

from dataclasses import dataclass

from vmm.model.definition import disks_of, parse_definition
from vmm.model.seed import seed_of
from vmm.ops.create import volume_paths
from vmm.virt import storage
from vmm.virt.domains import Conn
from vmm.virt.errors import as_vmm_errors


@dataclass(frozen=True)
class BaseImage:
    path: str
    pool: str
    format: str
    capacity: int  # bytes the guest sees
    allocation: int  # bytes on the host's disk
    vms: tuple[str, ...]  # the VMs that read it (through their own overlays)

    def as_json(self) -> dict:
        return {
            "path": self.path,
            "pool": self.pool,
            "format": self.format,
            "capacity": self.capacity,
            "allocation": self.allocation,
            "vms": list(self.vms),
        }


def _readers(conn: Conn) -> tuple[dict[str, set[str]], set[str]]:
    """For each image, the VMs that read it; and every seed image vmm made."""
    readers: dict[str, set[str]] = {}
    seeds: set[str] = set()
    for dom in conn.listAllDomains(0):
        xml = storage.stored_definition(dom)
        if (seed := seed_of(xml)) is not None:
            seeds.add(seed)
        for disk in disks_of(xml):
            if disk.writable and disk.path:
                for image in storage.backing_chain(conn, disk.path):
                    readers.setdefault(image, set()).add(dom.name())
    return readers, seeds


def base_images(conn: Conn) -> list[BaseImage]:
    """Every disk image of the host's active pools that no VM writes, vmm's seeds left out."""
    with as_vmm_errors():
        readers, seeds = _readers(conn)
        found = []
        for path in volume_paths(conn):
            if path in seeds:
                continue
            volume = storage.volume_at(conn, path)
            if volume is None:
                continue
            _, capacity, allocation = volume.info()
            kind = parse_definition(volume.XMLDesc(0)).find("target/format")
            found.append(
                BaseImage(
                    path=path,
                    pool=volume.storagePoolLookupByVolume().name(),
                    format=kind.get("type", "?") if kind is not None else "?",
                    capacity=capacity,
                    allocation=allocation,
                    vms=tuple(sorted(readers.get(path, ()))),
                )
            )
        return found
