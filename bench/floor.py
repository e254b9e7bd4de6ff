"""The floor of one host's listing: the least a libvirt-python client can do to ask every call
`vmm ls` asks. One connection handshake, the four host-wide calls at once (state, transient,
saved state, snapshots), then each VM's calls pipelined with `calls` in flight: its definition
(the persistent one, or the live one of a transient VM), its number of snapshots where it has
some, and for a running persistent VM its live vmm element. Nothing is parsed or printed, and
no CLI is imported.

Run: python -m bench.floor CALLS URI
"""

from __future__ import annotations

import contextlib
import sys
import threading

import libvirt

NAMESPACE = "http://calebstew.art/xmlns/vmm"  # vmm.model.metadata's: importing vmm costs time
# the states in which a VM has a live side (vmm.model.states.ACTIVE)
_ACTIVE = {
    libvirt.VIR_DOMAIN_RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED,
    libvirt.VIR_DOMAIN_PAUSED,
    libvirt.VIR_DOMAIN_PMSUSPENDED,
    libvirt.VIR_DOMAIN_SHUTDOWN,
}


def _in_parallel(calls: list) -> list:
    out: list = [None] * len(calls)

    def one(i: int) -> None:
        out[i] = calls[i]()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def _ask(dom: libvirt.virDomain, persistent: bool, running: bool, snapshots: bool) -> None:
    dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE if persistent else 0)
    if snapshots:
        dom.snapshotNum()
    if persistent and running:
        with contextlib.suppress(libvirt.libvirtError):  # no vmm element there
            dom.metadata(
                libvirt.VIR_DOMAIN_METADATA_ELEMENT, NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_LIVE
            )


def main(argv: list[str]) -> None:
    calls, uri = int(argv[0]), argv[1]
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open(uri)

    def uuids(flags: int) -> set[str]:
        return {dom.UUIDString() for dom in conn.listAllDomains(flags)}

    stats, transient, saved, with_snapshots = _in_parallel(
        [
            lambda: conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE),
            lambda: uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT),
            lambda: uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE),
            lambda: uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT),
        ]
    )
    del saved  # asked as vmm asks it; its answer needs no call per VM
    work = iter(
        [
            (
                dom,
                (uuid := dom.UUIDString()) not in transient,
                stat.get("state.state", 0) in _ACTIVE,
                uuid in with_snapshots,
            )
            for dom, stat in stats
        ]
    )
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                item = next(work, None)
            if item is None:
                return
            _ask(*item)

    _in_parallel([worker] * calls)
    if not stats:
        raise SystemExit("no VM listed")


if __name__ == "__main__":
    main(sys.argv[1:])
