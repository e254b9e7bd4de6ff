"""The steps the offline move (vmm.ops.move) and the live one (vmm.ops.move_live) share: which
disks go and where, the checks on the target, its images, and the source's removal last."""

from __future__ import annotations

import os
from dataclasses import dataclass

from vmm.model.definition import Definition
from vmm.model.errors import InvalidInput, NotFound
from vmm.ops import faults
from vmm.ops.intents import Intent, Leftover
from vmm.ops.transaction import track_image
from vmm.virt import domains, images, storage, transfer
from vmm.virt.domains import Conn, Dom
from vmm.virt.host import Host


@dataclass(frozen=True)
class DiskMove:
    target: str  # the disk's device name: vda
    source: object  # its volume on the source host
    name: str  # the volume's name on the target
    fmt: str
    flatten: bool = False  # an overlay: its chain is copied into one qcow2 first, and that sent
    base: str | None = None  # kept chain: the overlay sent as it is, onto this base on the target


def check_networks(conn: Conn, source: Definition, where: str) -> None:
    """The VM's libvirt networks must be on the target, or it would not start there."""
    have = set(conn.listNetworks()) | set(conn.listDefinedNetworks())
    missing = sorted({i.network for i in source.interfaces if i.network and i.network not in have})
    if missing:
        raise InvalidInput(
            f"{where} has no network {', '.join(map(repr, missing))}, which {source.name!r} is"
            f" plugged into: define it there, or change the VM's interface (vmm edit)"
        )


def target_pool(conn: Conn, wanted: str | None, source_pools: set[str]):
    names = sorted(pool.name() for pool in conn.listAllStoragePools(0) if pool.isActive())
    for name in [wanted] if wanted else sorted(source_pools):
        if name in names:
            return conn.storagePoolLookupByName(name)
    if wanted:
        raise NotFound(f"no active storage pool {wanted!r} on the target (pools: {names})")
    raise InvalidInput(
        f"the target has no pool named as the source's ({', '.join(sorted(source_pools))}):"
        f" name one with --pool (the target's: {', '.join(names) or 'none'})"
    )


def plan(src_conn: Conn, source: Definition) -> tuple[list[DiskMove], set[str]]:
    """Each disk that moves (every file disk; CD-ROMs stay behind), with the source's pools."""
    moves, pools = [], set()
    for disk in source.disks:
        if disk.device in ("cdrom", "floppy") or not disk.path:
            continue
        volume = storage.volume_at(src_conn, disk.path)
        if volume is None:
            raise InvalidInput(
                f"cannot move {source.name!r}: its disk {disk.path} is in no storage pool, so"
                " it cannot be streamed; define a pool for its directory"
            )
        chained = bool(storage.backing_chain(src_conn, disk.path))
        pools.add(volume.storagePoolLookupByVolume().name())
        fmt = "qcow2" if chained else transfer.volume_format(volume)
        moves.append(DiskMove(disk.target, volume, os.path.basename(disk.path), fmt, chained))
    return moves, pools


def check_target(dst_conn: Conn, source: Definition, target: Host) -> None:
    name = source.name
    if domains.by_name(dst_conn, name) or domains.by_uuid(dst_conn, source.uuid):
        raise InvalidInput(f"{target.label} has a VM named {name!r} or with its UUID already")
    check_networks(dst_conn, source, target.label)


def make_volume(dst_conn: Conn, dst_pool, disk: DiskMove, vm_name: str, rollback):
    """An empty volume on the target for `disk` (its size, its format or qcow2 for a chain):
    its path and the volume."""
    directory = images.pool_directory(dst_pool)
    stem, suffix = os.path.splitext(disk.name)
    free = images.free_volume_name(dst_pool, directory, stem, suffix)
    path = os.path.join(directory, free)
    track_image(dst_conn, path, rollback, f"disk {disk.target} of {vm_name!r}, moving here")
    capacity = disk.source.info()[1]
    with rollback.making(path), storage.claiming(path):
        made = dst_pool.createXML(transfer.new_volume_xml(free, capacity, disk.fmt), 0)
    return path, made


def remove_source(vm, target: Host, source: Definition, moves: list[DiskMove], new: Dom) -> None:
    """Everything is on the target and checked: the source goes, on record until it is gone
    (a crash now leaves the VM on both hosts, never on neither: doctor removes the source's)."""
    dom, src_conn, name = vm.dom, vm.dom.connect(), source.name
    vm.record("move", f"to {target.label}")
    removal = Intent(f"removal of {name!r} after its move to {target.label}", src_conn.getURI())
    why = f"moved to {target.label}, where it is whole"
    removal.add(Leftover("domain", source.uuid, f"{name!r} {why}"))
    for disk in moves:
        removal.add(Leftover("volume", disk.source.path(), f"a disk of {name!r}, {why}"))
    domains.undefine(dom, nvram=source.has_nvram, everything=True)
    faults.point("move.source-undefined")
    for disk in moves:
        disk.source.delete(0)
    removal.done()
    target.record(new, "move", f"from {vm.host.label}")
