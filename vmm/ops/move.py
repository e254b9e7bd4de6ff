"""Moving a shut-off VM to another host: its disks streamed through both hosts' storage APIs,
its definition (UUID, MACs, folder, labels) defined there, and only then the source removed.

The order is what makes it safe: every image is made on the target and its bytes checked
against what was streamed (length and SHA-256, read back through the target host), the UEFI
variables copied, the definition made, and the source VM and its disks are removed last. A
failure or Ctrl-C before that removes what the move made on the target (it is on record until
then, for `vmm doctor` after a crash) and leaves the source as it was; a crash after it leaves
the VM on both hosts, never on neither.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from vmm.model.definition import Definition
from vmm.model.errors import HostError, InvalidInput, InvalidState, NotFound
from vmm.ops import faults, power
from vmm.ops.intents import Intent, Leftover
from vmm.ops.transaction import all_or_nothing, define_new, track_image
from vmm.virt import domains, images, storage, transfer
from vmm.virt.domains import Conn, Dom
from vmm.virt.errors import as_vmm_errors
from vmm.virt.host import Host
from vmm.virt.images import Progress
from vmm.virt.locks import vm_lock


@dataclass(frozen=True)
class DiskMove:
    target: str  # the disk's device name: vda
    source: object  # its volume on the source host
    name: str  # the volume's name on the target
    fmt: str
    flatten: bool = False  # an overlay: its chain is copied into one qcow2 first, and that sent


def check_movable(dom: Dom, source: Definition) -> None:
    name = dom.name()
    if dom.isActive():
        raise InvalidState(f"{name!r} is running: shut it down first, or move it with --stop")
    if dom.hasManagedSaveImage():
        raise InvalidState(
            f"{name!r} has a saved state, which cannot cross hosts: start it and shut it down,"
            " or move it with --discard-save"
        )
    if dom.snapshotNum(0):
        raise InvalidState(f"{name!r} has snapshots, which cannot cross hosts: delete them first")
    for disk in source.disks:
        if disk.device in ("cdrom", "floppy") or not disk.has_source:
            continue
        if not disk.path:
            raise InvalidInput(f"cannot move {name!r}: its disk {disk.target} is no file")


def check_networks(conn: Conn, source: Definition, where: str) -> None:
    """The VM's libvirt networks must be on the target, or it would not start there."""
    have = set(conn.listNetworks()) | set(conn.listDefinedNetworks())
    missing = sorted({i.network for i in source.interfaces if i.network and i.network not in have})
    if missing:
        raise InvalidInput(
            f"{where} has no network {', '.join(map(repr, missing))}, which {source.name!r} is"
            f" plugged into: define it there, or change the VM's interface (vmm edit)"
        )


def _target_pool(conn: Conn, wanted: str | None, source_pools: set[str]):
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


STOP_SECONDS = 120


def stop_first(dom: Dom, timeout: float = STOP_SECONDS) -> None:
    """`--stop`: ask a running VM to shut down and wait for it (never forced off)."""
    if not dom.isActive():
        return
    power.shutdown(dom)
    still, _ = power.still_running_after([dom], timeout)
    if still:
        raise InvalidState(
            f"{dom.name()!r} did not shut down within {timeout:.0f} s: nothing was moved"
            f" (vmm off {dom.name()} forces it, then move it)"
        )


def move(
    vm,
    target: Host,
    pool: str | None = None,
    *,
    stop: bool = False,
    discard_save: bool = False,
    progress: Callable[[str], Progress | None] | None = None,
) -> str:
    """Move the VM `vm` (a handle on its host) to `target`; with `stop`, a running VM is
    shut down first; with `discard_save`, its saved state is dropped (it cannot cross).
    `progress(disk)` gives the progress callback for streaming that disk (or None)."""
    dom, src_conn, dst_conn = vm.dom, vm.dom.connect(), target.conn
    name = dom.name()
    with as_vmm_errors(), vm_lock(dom.UUIDString(), name):
        if src_conn.getURI() == dst_conn.getURI() and vm.host.name == target.name:
            raise InvalidInput(f"{name!r} is on {target.label} already")
        source = Definition.from_xml(domains.persistent_xml(dom))
        if stop:
            stop_first(dom)
        if discard_save and dom.hasManagedSaveImage():
            dom.managedSaveRemove(0)
        check_movable(dom, source)
        if domains.by_name(dst_conn, name) or domains.by_uuid(dst_conn, source.uuid):
            raise InvalidInput(f"{target.label} has a VM named {name!r} or with its UUID already")
        check_networks(dst_conn, source, target.label)
        moves, pools = plan(src_conn, source)
        dst_pool = _target_pool(dst_conn, pool or target.pool, pools)
        faults.point("move.checked")
        sent = data = 0
        operation = f"move of {name!r} to {target.label}"
        with (
            all_or_nothing(operation, dst_conn.getURI()) as rollback,
            all_or_nothing(f"flattening for the {operation}", src_conn.getURI()) as scratch,
        ):
            paths = {}
            for disk in moves:
                sending = _flattened(src_conn, disk, name, scratch) if disk.flatten else disk
                told = progress(f"{name}: {disk.target}") if progress else None
                path, streamed = _copy_disk(dst_conn, dst_pool, sending, name, rollback, told)
                if sending is not disk:
                    sending.source.delete(0)
                paths[disk.target] = path
                sent += 1
                data += streamed.data
            new_xml = source.with_disk_files(paths).with_nvram(None).to_xml()
            new = define_new(dst_conn, new_xml, rollback, f"the moved {name!r}")
            faults.point("move.defined")
            _copy_nvram(src_conn, source, new, rollback)
            faults.point("move.verified")
        # everything is on the target and checked: from here the source goes, on record until
        # it is gone (a crash now leaves the VM on both hosts: doctor removes the source's)
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
    flat = sum(disk.flatten for disk in moves)
    chains = f", {flat} overlay(s) flattened" if flat else ""
    amount = f"{data / 2**30:.2f} GiB" if data >= 2**30 else f"{data / 2**20:.0f} MiB"
    return f"moved to {target.label} ({sent} disk(s), each checked{chains}; {amount} of data sent)"


def _flattened(src_conn: Conn, disk: DiskMove, vm_name: str, scratch) -> DiskMove:
    """A linked clone's disk as one qcow2: a full copy of its chain beside it on the source
    host (by libvirtd: qemu-img convert), on record until it is sent and deleted."""
    image = images.image_at(src_conn, disk.source.path(), None)
    stem = os.path.splitext(disk.name)[0]
    where = images.destination(image, f"{stem}-flat", disk.source.storagePoolLookupByVolume())
    note = f"a flat copy of {disk.target} of {vm_name!r}, made for its move"
    track_image(src_conn, where.path, scratch, note)
    with scratch.making(where.path):
        flat = images.copy_image(image, where)
    faults.point("move.flattened")
    return DiskMove(disk.target, storage.volume_at(src_conn, flat), disk.name, "qcow2")


def _copy_disk(
    dst_conn: Conn, dst_pool, disk: DiskMove, vm_name: str, rollback, progress: Progress | None
) -> tuple[str, transfer.Streamed]:
    directory = images.pool_directory(dst_pool)
    stem, suffix = os.path.splitext(disk.name)
    free = images.free_volume_name(dst_pool, directory, stem, suffix)
    path = os.path.join(directory, free)
    track_image(dst_conn, path, rollback, f"disk {disk.target} of {vm_name!r}, moving here")
    capacity = disk.source.info()[1]
    with rollback.making(path), storage.claiming(path):
        made = dst_pool.createXML(transfer.new_volume_xml(free, capacity, disk.fmt), 0)
    faults.point("move.volume-made")
    streamed = transfer.copy(disk.source, made, progress)
    faults.point("move.streamed")
    landed = transfer.checksum(made)
    if (landed.length, landed.sha256) != (streamed.length, streamed.sha256):
        raise HostError(
            f"the copy of {disk.target} on the target differs from what was sent"
            f" ({landed.length} bytes, sha256 {landed.sha256[:12]}..., sent {streamed.length},"
            f" {streamed.sha256[:12]}...): nothing was moved"
        )
    return made.path(), streamed


def _copy_nvram(src_conn: Conn, source: Definition, new: Dom, rollback) -> None:
    """The VM's UEFI variables into the file the target named for them."""
    if not source.nvram:
        return
    target_path = Definition.from_xml(domains.persistent_xml(new)).nvram
    if not target_path:
        return
    dst_conn = new.connect()
    track_image(dst_conn, target_path, rollback, f"UEFI variables of the moved {new.name()!r}")
    with rollback.making(target_path):
        transfer.copy_file_between(src_conn, source.nvram, dst_conn, target_path)
