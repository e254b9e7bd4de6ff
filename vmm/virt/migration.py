"""Live migration: libvirt's peer-to-peer migration with the disks copied (no shared storage).

The source libvirtd connects to the target's URI itself (peer to peer) and QEMU streams memory
and, through the target QEMU's NBD server, every disk named; the VM runs throughout and is
paused only for the last round. The call blocks for the whole migration, so it runs in a worker
thread: the caller's thread watches the job (progress) and can abort it (Ctrl-C).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import libvirt

from vmm.model.errors import HostError

FLAGS = (
    libvirt.VIR_MIGRATE_LIVE
    | libvirt.VIR_MIGRATE_PEER2PEER
    | libvirt.VIR_MIGRATE_NON_SHARED_DISK  # the whole disk, chain flattened, into the target's
    | libvirt.VIR_MIGRATE_PERSIST_DEST
    | libvirt.VIR_MIGRATE_ABORT_ON_ERROR
)
POLL_SECONDS = 0.25


def both_qemu(src: libvirt.virConnect, dst: libvirt.virConnect) -> bool:
    return src.getType() == "QEMU" and dst.getType() == "QEMU"


def migratable_xml(dom: libvirt.virDomain) -> str:
    """The running VM's definition as the target is to get it (no host-local details)."""
    return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_SECURE)


def migrate(
    dom: libvirt.virDomain,
    target_uri: str,
    target_xml: str,
    disks: list[str],
    *,
    persist_xml: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    stopped: Callable[[], bool] = lambda: False,
    polled: Callable[[], None] = lambda: None,
) -> None:
    """Move the running `dom` to `target_uri` as `target_xml`, copying the `disks` (targets:
    vda...) into the images that XML names, which exist on the target already; the target
    keeps `persist_xml` as its definition (the source's own, with those images).

    Returns once the VM runs on the target (and is defined there); the source's definition
    and images are left as they were, for the caller to remove once it is content. On an error,
    or when `stopped()` turns true, the job is aborted: the VM goes on running on the source.
    Ctrl-C aborts it too, unless it came too late: a migration that ended meanwhile stands (the
    VM runs on the target, on the images there), and the interrupt is dropped. `polled()` is
    called at each look at the job (a test's fault point)."""
    params = {
        libvirt.VIR_MIGRATE_PARAM_DEST_XML: target_xml,
        libvirt.VIR_MIGRATE_PARAM_PERSIST_XML: persist_xml or target_xml,
        libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS: disks,
    }
    failed: list[BaseException] = []

    def run() -> None:
        try:
            dom.migrateToURI3(target_uri, params, FLAGS)
        except BaseException as err:  # handed to the waiting thread
            failed.append(err)

    worker = threading.Thread(target=run, name="vmm-migration", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(POLL_SECONDS)
            polled()
            if stopped():
                abort(dom)
            elif progress is not None and worker.is_alive():
                seen = _progress(dom)
                if seen is not None:
                    progress(*seen)
    except BaseException:  # Ctrl-C: the job is aborted, and waited for, before going on
        _abort_until_ended(dom, worker)
        if failed:
            raise
        # too late: it had ended. Undoing now would take the disks of a VM that runs there.
    if failed:
        err = failed[0]
        if isinstance(err, libvirt.libvirtError):
            raise HostError(f"the live migration failed: {err.get_error_message()}") from None
        raise err


def _progress(dom: libvirt.virDomain) -> tuple[int, int] | None:
    """(done, total) bytes of the migration, memory and disks together."""
    try:
        stats = dom.jobStats(0)
    except libvirt.libvirtError:
        return None
    total = stats.get("data_total") or 0
    return (min(stats.get("data_processed") or 0, total), total) if total else None


def _abort_until_ended(dom: libvirt.virDomain, worker: threading.Thread) -> None:
    """Abort the job, again at each look until the call returns: libvirt takes an abort that
    lands between two of its phases (the target still preparing, the disks' copy starting)
    and goes on with the migration all the same."""
    while worker.is_alive():
        abort(dom)
        worker.join(POLL_SECONDS)


def abort(dom: libvirt.virDomain) -> None:
    with contextlib.suppress(libvirt.libvirtError):  # no job: it ended meanwhile
        dom.abortJob()
