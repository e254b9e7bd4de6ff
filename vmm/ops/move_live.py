"""A running VM moved to another host as it runs: libvirt's peer-to-peer migration with its
disks copied (vmm.virt.migration), onto images vmm makes on the target first. The checks, the
target's pool and the source's removal are the offline move's (vmm.ops.move)."""

from __future__ import annotations

import os
from collections.abc import Callable

from vmm.model.definition import Definition
from vmm.model.errors import HostError, InvalidInput, InvalidState
from vmm.ops import faults
from vmm.ops.move_steps import check_target, make_volume, plan, remove_source, target_pool
from vmm.ops.transaction import all_or_nothing, track_image
from vmm.virt import domains, images, migration, transfer
from vmm.virt.domains import Conn, Dom
from vmm.virt.host import Host
from vmm.virt.images import Progress


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


def move_live(
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
    dst_pool = target_pool(dst_conn, pool or target.pool, pools)
    running = Definition.from_xml(migration.migratable_xml(dom))
    faults.point("move.checked")
    with all_or_nothing(f"live move of {name!r} to {target.label}", dst_conn.getURI()) as rollback:
        paths = {disk.target: make_volume(dst_conn, dst_pool, disk, name, rollback)[0]
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
            polled=lambda: faults.point("move.migrating"),
        )
    faults.point("move.migrated")
    new = domains.by_uuid(dst_conn, source.uuid)
    if new is None or not new.isActive():
        raise HostError(
            f"libvirt said {name!r} moved, but it does not run on {target.label}: the source and"
            " its disks are kept (see 'vmm doctor')"
        )
    remove_source(vm, target, source, moves, new)
    flat = sum(disk.flatten for disk in moves)
    chains = f", {flat} overlay(s) flattened" if flat else ""
    return f"moved live to {target.label}, running there ({len(moves)} disk(s) copied{chains})"
