"""Everything `vmm info` and the picker's preview show about one VM, gathered in one place."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from lxml import etree

from vmm.model import metadata
from vmm.model.definition import Definition, disks_of
from vmm.model.domain import Domain
from vmm.ops import snapshots
from vmm.virt import reach, storage
from vmm.virt.domains import Conn, Dom, cpu_and_balloon_stats
from vmm.virt.errors import as_vmm_errors
from vmm.virt.vm import Vm

CPU_SAMPLE_SECONDS = 0.2


@dataclass(frozen=True)
class DiskInfo:
    target: str
    device: str
    path: str | None
    format: str | None
    chain: tuple[str, ...]  # backing images, nearest first


@dataclass(frozen=True)
class InterfaceInfo:
    mac: str
    source: str
    model: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Details:
    domain: Domain
    cpu_percent: float | None = None
    memory_used_kib: int | None = None
    disks: tuple[DiskInfo, ...] = ()
    interfaces: tuple[InterfaceInfo, ...] = ()
    snapshots: tuple[tuple[int, snapshots.Snapshot], ...] = field(default=())
    linked_with: tuple[str, ...] = ()  # VMs sharing a backing image: a clone's source, siblings

    def as_json(self) -> dict[str, object]:
        return {
            **self.domain.as_json(),
            "cpu_percent": self.cpu_percent,
            "memory_used_mib": None
            if self.memory_used_kib is None
            else self.memory_used_kib // 1024,
            "disks": [
                {
                    "target": d.target,
                    "device": d.device,
                    "path": d.path,
                    "format": d.format,
                    "backing": list(d.chain),
                }
                for d in self.disks
            ],
            "interfaces": [
                {"mac": i.mac, "source": i.source, "model": i.model, "addresses": list(i.addresses)}
                for i in self.interfaces
            ],
            "snapshot_tree": [{**s.as_json(), "depth": depth} for depth, s in self.snapshots],
            "linked_with": list(self.linked_with),
        }


def usage(conn: Conn, dom: Dom, vcpus: int) -> tuple[float | None, int | None]:
    """CPU use in percent of the VM's vCPUs (two samples apart), and memory in use in KiB."""
    if not dom.isActive():
        return None, None
    first, t0 = cpu_and_balloon_stats(conn, dom), time.monotonic()
    time.sleep(CPU_SAMPLE_SECONDS)
    second, t1 = cpu_and_balloon_stats(conn, dom), time.monotonic()
    cpu = None
    if "cpu.time" in first and "cpu.time" in second:
        busy_ns = second["cpu.time"] - first["cpu.time"]
        cpu = round(100 * busy_ns / ((t1 - t0) * 1e9 * max(vcpus, 1)), 1)
    memory = None
    if "balloon.current" in second:
        unused = second.get("balloon.unused")
        memory = second.get("balloon.rss") or second["balloon.current"] - (unused or 0)
    return cpu, memory


def _interfaces(xml: etree._Element, vm: Vm) -> tuple[InterfaceInfo, ...]:
    by_mac: dict[str, list[str]] = {}
    for address in reach.addresses(vm):
        by_mac.setdefault(address.mac.lower(), []).append(f"{address.address}/{address.prefix}")
    found = []
    for iface in Definition.of(xml).interfaces:
        mac = (iface.mac or "").lower()
        addresses = tuple(by_mac.get(mac, []))
        found.append(InterfaceInfo(mac, iface.source, iface.model or "", addresses))
    return tuple(found)


def _definition(dom: Dom) -> etree._Element:
    """The live definition, parsed safely; one that is no well-formed XML (an undefined entity
    in another application's metadata) shows no disks or interfaces: the view warns of it."""
    try:
        return metadata.parse(dom.XMLDesc(0))
    except etree.XMLSyntaxError:
        return etree.Element("domain")


def gather(vm: Vm, *, with_links: bool = True) -> Details:
    """Everything `vmm info` shows. `with_links` (the VMs sharing an image) reads every VM's
    definition on the host: the picker's preview, asked at each keystroke, goes without."""
    dom = vm.dom
    with as_vmm_errors():
        conn = dom.connect()
        view = vm.view()
        xml = _definition(dom)
        disks = tuple(
            DiskInfo(
                d.target,
                d.device,
                d.path,
                d.format,
                tuple(storage.backing_chain(conn, d.path)) if d.path else (),
            )
            for d in disks_of(xml)
        )
        cpu, memory = usage(conn, dom, view.vcpus)
        layered = any(disk.chain for disk in disks)
        links = layered and with_links
        linked = tuple(name for name, _ in storage.sharing(vm)) if links else ()
        return Details(
            domain=view,
            cpu_percent=cpu,
            memory_used_kib=memory,
            disks=disks,
            interfaces=_interfaces(xml, vm),
            snapshots=tuple(snapshots.as_tree(snapshots.list_snapshots(dom))),
            linked_with=linked,
        )
