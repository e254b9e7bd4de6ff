"""Moving a VM to another host: shut off, its disks streamed through both hosts' storage APIs,
its definition (UUID, MACs, folder, labels) defined there, and only then the source removed;
running (`live`), by libvirt's peer-to-peer migration with its disks copied (vmm.virt.migration).

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

from vmm.model import qcow2
from vmm.model.definition import Definition
from vmm.model.errors import HostError, InvalidInput, InvalidState, NotFound
from vmm.ops import faults, power
from vmm.ops.intents import Intent, Leftover
from vmm.ops.transaction import all_or_nothing, define_new, track_image
from vmm.virt import domains, images, migration, storage, transfer
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
    base: str | None = None  # kept chain: the overlay sent as it is, onto this base on the target


def check_movable(dom: Dom, source: Definition) -> None:
    name = dom.name()
    if dom.isActive():
        raise InvalidState(
            f"{name!r} is running: move it with --live, or --stop to shut it down first"
        )
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


def _onto_base(src_conn: Conn, dst_conn: Conn, disk: DiskMove, where: str) -> DiskMove:
    """`--keep-chain`: an overlay moves onto the target's copy of its base, found by the base's
    volume name in the target's pools and checked byte for byte (both read and hashed)."""
    if not disk.flatten:
        return disk
    chain = storage.backing_chain(src_conn, disk.source.path())
    if len(chain) != 1:
        raise InvalidInput(
            f"--keep-chain moves an overlay onto one base; {disk.source.path()} has a chain of"
            f" {len(chain)}: move it flattened (without --keep-chain)"
        )
    base = storage.volume_at(src_conn, chain[0])
    name = os.path.basename(chain[0])
    copies = [v for v in storage.volumes_named(dst_conn, name) if v.info()[1] == base.info()[1]]
    if not copies:
        raise InvalidInput(
            f"{where} has no image {name!r} of the size of {chain[0]} in its pools: copy the"
            " base there first, or move without --keep-chain (the chain flattened)"
        )
    mine = transfer.checksum(base)
    for copy in copies:
        theirs = transfer.checksum(copy)
        if (theirs.length, theirs.sha256) == (mine.length, mine.sha256):
            return DiskMove(disk.target, disk.source, disk.name, "qcow2", base=copy.path())
    raise InvalidInput(
        f"{where}'s {name!r} is not the same as {chain[0]} (they differ in content): move"
        " without --keep-chain (the chain flattened)"
    )


def check_target(dst_conn: Conn, source: Definition, target: Host) -> None:
    name = source.name
    if domains.by_name(dst_conn, name) or domains.by_uuid(dst_conn, source.uuid):
        raise InvalidInput(f"{target.label} has a VM named {name!r} or with its UUID already")
    check_networks(dst_conn, source, target.label)


def check_live_movable(dom: Dom, src_conn: Conn, dst_conn: Conn, target: Host) -> None:
    name = dom.name()
    if not dom.isActive():
        raise InvalidState(f"{name!r} is shut off: move it without --live")
    if not migration.both_qemu(src_conn, dst_conn):
        raise InvalidInput(
            f"a live move runs QEMU to QEMU, and {target.label} or this host is no QEMU host:"
            " move it shut off (--stop)"
        )
    if dom.snapshotNum(0):
        raise InvalidState(f"{name!r} has snapshots, which cannot cross hosts: delete them first")


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
    live: bool = False,
    keep_chain: bool = False,
    progress: Callable[[str], Progress | None] | None = None,
) -> str:
    """Move the VM `vm` (a handle on its host) to `target`; with `stop`, a running VM is
    shut down first; with `discard_save`, its saved state is dropped (it cannot cross); with
    `live`, a running VM moves as it runs; with `keep_chain`, a linked clone's overlay moves as
    it is, onto a base of the same content already on the target (else it is flattened).
    `progress(what)` gives the progress callback for streaming that disk, or for the whole
    live migration (or None)."""
    if live and (stop or discard_save or keep_chain):
        raise InvalidInput(
            "--live moves a running VM as it runs (its disks flattened): not with --stop,"
            " --discard-save or --keep-chain"
        )
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
        if live:
            return _move_live(vm, target, source, pool, progress)
        check_movable(dom, source)
        check_target(dst_conn, source, target)
        moves, pools = plan(src_conn, source)
        dst_pool = _target_pool(dst_conn, pool or target.pool, pools)
        if keep_chain:
            moves = [_onto_base(src_conn, dst_conn, disk, target.label) for disk in moves]
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
        _remove_source(vm, target, source, moves, new)
    flat, kept = sum(disk.flatten for disk in moves), sum(bool(disk.base) for disk in moves)
    chains = f", {flat} overlay(s) flattened" if flat else ""
    chains += f", {kept} overlay(s) kept on the same base there" if kept else ""
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


def _make_volume(dst_conn: Conn, dst_pool, disk: DiskMove, vm_name: str, rollback):
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


def _copy_disk(
    dst_conn: Conn, dst_pool, disk: DiskMove, vm_name: str, rollback, progress: Progress | None
) -> tuple[str, transfer.Streamed]:
    made = _make_volume(dst_conn, dst_pool, disk, vm_name, rollback)[1]
    faults.point("move.volume-made")
    base = disk.base
    rewrite = (lambda header: qcow2.with_backing(header, base)) if base else None
    streamed = transfer.copy(disk.source, made, progress, rewrite)
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


def _remove_source(vm, target: Host, source: Definition, moves: list[DiskMove], new: Dom) -> None:
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


def _place_nvram(src_conn: Conn, source: Definition, dst_pool, rollback) -> str | None:
    """Where a live-moved VM's UEFI variables go: a file in the target's pool, named here.

    The source's libvirtd fills in a path the target did not name (its own default) when
    left blank, so one is given; the variables themselves travel in QEMU's flash state, and
    the target's QEMU writes them over this copy of the source's file once migrated."""
    if not source.nvram:
        return None
    directory = images.pool_directory(dst_pool)
    stem = images.safe_stem(source.name)
    path = os.path.join(directory, images.free_volume_name(dst_pool, directory, stem, "_VARS.fd"))
    track_image(dst_pool.connect(), path, rollback, f"UEFI variables of {source.name!r}, moving")
    with rollback.making(path):
        transfer.copy_file_between(src_conn, source.nvram, dst_pool.connect(), path)
    return path


def _move_live(
    vm,
    target: Host,
    source: Definition,
    pool: str | None,
    progress: Callable[[str], Progress | None] | None,
) -> str:
    """The running VM moved by a peer-to-peer migration that copies its disks.

    Its images are made on the target first (on record, removed if the migration fails); the
    migration is the last step that can fail, so nothing is undone once the VM runs on the
    target and writes those images. The source, shut off by the migration, goes last."""
    dom, src_conn, dst_conn = vm.dom, vm.dom.connect(), target.conn
    name = dom.name()
    check_live_movable(dom, src_conn, dst_conn, target)
    check_target(dst_conn, source, target)
    moves, pools = plan(src_conn, source)
    dst_pool = _target_pool(dst_conn, pool or target.pool, pools)
    running = Definition.from_xml(migration.migratable_xml(dom))
    faults.point("move.checked")
    with all_or_nothing(f"live move of {name!r} to {target.label}", dst_conn.getURI()) as rollback:
        paths = {disk.target: _make_volume(dst_conn, dst_pool, disk, name, rollback)[0]
                 for disk in moves}  # fmt: skip
        nvram = _place_nvram(src_conn, source, dst_pool, rollback)
        faults.point("move.volumes-made")
        migration.migrate(
            dom,
            target.uri,
            running.with_disk_files(paths).with_nvram(nvram).to_xml(),
            [disk.target for disk in moves],
            persist_xml=source.with_disk_files(paths).with_nvram(nvram).to_xml(),
            progress=progress(f"{name}: live") if progress else None,
        )
    faults.point("move.migrated")
    new = domains.by_uuid(dst_conn, source.uuid)
    if new is None or not new.isActive():
        raise HostError(
            f"libvirt said {name!r} moved, but it does not run on {target.label}: the source and"
            " its disks are kept (see 'vmm doctor')"
        )
    _remove_source(vm, target, source, moves, new)
    flat = sum(disk.flatten for disk in moves)
    chains = f", {flat} overlay(s) flattened" if flat else ""
    return f"moved live to {target.label}, running there ({len(moves)} disk(s) copied{chains})"
