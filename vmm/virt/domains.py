"""Calls on one libvirt domain that need libvirt's flags: definitions, undefining, booting, stats.

The types above this package use for libvirt's objects are named here too, so that no module
outside vmm.virt imports libvirt (ruff enforces it).
"""

from __future__ import annotations

import libvirt

from vmm.model.errors import InvalidState
from vmm.virt.errors import is_domain_missing, is_snapshot_missing, is_unknown_flag, is_unsupported

Conn = libvirt.virConnect
Dom = libvirt.virDomain
Pool = libvirt.virStoragePool
Volume = libvirt.virStorageVol
Snapshot = libvirt.virDomainSnapshot


def persistent_xml(dom: Dom) -> str:
    """The persistent definition, secrets kept: what a clone or an edit starts from."""
    return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)


def stored_xml(dom: Dom) -> str:
    """The definition libvirt keeps: the persistent one, or the live one of a transient VM."""
    return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE if dom.isPersistent() else 0)


def define(conn: Conn, xml: str) -> Dom:
    """Define (or redefine) a VM, validated against libvirt's schema first."""
    return conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)


def by_uuid(conn: Conn, uuid: str) -> Dom | None:
    try:
        return conn.lookupByUUIDString(uuid)
    except libvirt.libvirtError as err:
        if is_domain_missing(err):
            return None
        raise


def by_name(conn: Conn, name: str) -> Dom | None:
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError as err:
        if is_domain_missing(err):
            return None
        raise


def undefine(dom: Dom, *, nvram: bool = False, everything: bool = False) -> None:
    """Undefine `dom`; with `everything`, its saved state and snapshot and checkpoint
    metadata go too, and its UEFI variables when `nvram` (flags only for what it has: the
    test driver refuses some it does not know)."""
    flags = libvirt.VIR_DOMAIN_UNDEFINE_NVRAM if nvram else 0
    if everything:
        flags |= libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
        flags |= libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        if has_checkpoints(dom):
            flags |= libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
    if flags:
        dom.undefineFlags(flags)
    else:
        dom.undefine()


def has_checkpoints(dom: Dom) -> bool:
    try:
        return bool(dom.listAllCheckpoints(0))
    except libvirt.libvirtError as err:
        if is_unsupported(err):
            return False
        raise


def boot_dropping_saved_state(dom: Dom) -> None:
    """Boot, discarding the saved state; drivers without FORCE_BOOT get the two-step way."""
    try:
        dom.createWithFlags(libvirt.VIR_DOMAIN_START_FORCE_BOOT)
    except libvirt.libvirtError as err:
        if not is_unknown_flag(err):
            raise
        dom.managedSaveRemove(0)
        dom.create()


SHUTDOWN_MODES = {
    "acpi": libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN,
    "agent": libvirt.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT,
}


def shutdown(dom: Dom, mode: str = "acpi") -> None:
    """Ask the guest to shut down: "acpi" presses the power button, "agent" asks the QEMU
    guest agent in it. A driver that knows no such flag (the test driver) gets its one plain
    shutdown for "acpi"; "agent" is refused there, nothing asked."""
    try:
        dom.shutdownFlags(SHUTDOWN_MODES[mode])
    except libvirt.libvirtError as err:
        if not is_unknown_flag(err):
            raise
        if mode != "acpi":
            raise InvalidState(
                f"cannot shut down {dom.name()!r} through the guest agent: this host's driver"
                " has no such shutdown"
            ) from None
        dom.shutdown()


def is_active_unless_gone(dom: Dom) -> bool:
    """Whether `dom` runs; a transient VM that has shut down is gone, and so not running."""
    try:
        return bool(dom.isActive())
    except libvirt.libvirtError as err:
        if is_domain_missing(err):
            return False
        raise


def job_progress(dom: Dom) -> tuple[int, int] | None:
    """(done, total) of the domain's job (a save, a migration), or None when unknown."""
    try:
        stats = dom.jobStats(0)
    except libvirt.libvirtError:
        return None
    total = stats.get("memory_total") or stats.get("data_total") or 0
    done = stats.get("memory_processed") or stats.get("data_processed") or 0
    return (min(done, total), total) if total else None


def cpu_and_balloon_stats(conn: Conn, dom: Dom) -> dict:
    found = conn.domainListGetStats(
        [dom], libvirt.VIR_DOMAIN_STATS_CPU_TOTAL | libvirt.VIR_DOMAIN_STATS_BALLOON, 0
    )
    return found[0][1] if found else {}


def snapshot_by_name(dom: Dom, name: str) -> Snapshot | None:
    try:
        return dom.snapshotLookupByName(name, 0)
    except libvirt.libvirtError as err:
        if is_snapshot_missing(err):
            return None
        raise


def snapshot_parent(snap: Snapshot) -> Snapshot | None:
    try:
        return snap.getParent(0)
    except libvirt.libvirtError as err:
        if is_snapshot_missing(err):
            return None
        raise


def delete_snapshot(snap: Snapshot, *, children: bool = False) -> None:
    snap.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN if children else 0)
