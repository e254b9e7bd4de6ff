"""Moving a VM to another host: shut off, its disks streamed through both hosts' storage APIs,
its definition (UUID, MACs, folder, labels) defined there, and only then the source removed;
running (`live`), by libvirt's peer-to-peer migration with its disks copied (vmm.ops.move_live).

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

from vmm.model import qcow2
from vmm.model.definition import Definition
from vmm.model.errors import HostError, InvalidInput, InvalidState
from vmm.ops import faults, power
from vmm.ops.move_live import move_live
from vmm.ops.move_steps import (
    DiskMove,
    check_target,
    make_volume,
    plan,
    remove_source,
    target_pool,
)
from vmm.ops.transaction import all_or_nothing, define_new, track_image
from vmm.virt import domains, images, storage, transfer
from vmm.virt.domains import Conn, Dom
from vmm.virt.errors import as_vmm_errors
from vmm.virt.host import Host
from vmm.virt.images import Progress
from vmm.virt.locks import vm_lock


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
            return move_live(vm, target, source, pool, progress)
        check_movable(dom, source)
        check_target(dst_conn, source, target)
        moves, pools = plan(src_conn, source)
        dst_pool = target_pool(dst_conn, pool or target.pool, pools)
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
        remove_source(vm, target, source, moves, new)
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


def _copy_disk(
    dst_conn: Conn, dst_pool, disk: DiskMove, vm_name: str, rollback, progress: Progress | None
) -> tuple[str, transfer.Streamed]:
    made = make_volume(dst_conn, dst_pool, disk, vm_name, rollback)[1]
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
