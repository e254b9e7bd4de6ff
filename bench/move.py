"""Moving a VM between two real QEMU hosts on this machine (the system libvirtd and vmmtest's
qemu:///session, as tests/ops/test_move_kvm.py), a quarter of its disk written: `vmm mv VM
there:` against moving the disk by hand with virsh (vol-download --sparse to a file, then
vol-create-as and vol-upload --sparse on the other host), and the bytes that land there."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import libvirt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bench.clones import DATA_FRACTION, SIZES_GIB, _fill

RUNS = 5  # moves, there and back in turn; virsh by hand before each move from the source


@dataclass(frozen=True)
class MoveRow:
    size_gib: int
    data_gib: float
    vmm_seconds: float  # median of RUNS moves, there and back in turn
    virsh_seconds: float  # median of the downloads + uploads by hand (one before each move there)
    landed: int  # bytes the moved disk takes on the target's file system


def _config(target_uri: str, where: Path) -> dict[str, str]:
    (where / "vmm").mkdir(parents=True, exist_ok=True)
    (where / "vmm" / "config.toml").write_text(
        f'[hosts.here]\nuri = "qemu:///system"\n\n[hosts.there]\nuri = "{target_uri}"\n'
    )
    return {**os.environ, "XDG_CONFIG_HOME": str(where), "XDG_STATE_HOME": str(where / "state")}


def _timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    os.sync()
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def _by_hand(volume: libvirt.virStorageVol, target, scratch: Path) -> float:
    """What a person does with virsh to move one disk's bytes."""
    local = scratch / "disk.qcow2"
    name = f"byhand-{volume.name()}"
    capacity = volume.info()[1]
    os.sync()  # as before each vmm move: what an earlier run wrote is not flushed on this one's time
    start = time.perf_counter()
    subprocess.run(
        ["virsh", "-q", "-c", "qemu:///system", "vol-download", "--sparse",
         volume.path(), str(local)],
        check=True, capture_output=True,
    )  # fmt: skip
    for step in (
        ["vol-create-as", "moved", name, str(capacity), "--format", "qcow2"],
        ["vol-upload", "--sparse", "--pool", "moved", name, str(local)],
    ):
        subprocess.run(["virsh", "-q", "-c", target.uri, *step], check=True, capture_output=True)
    took = time.perf_counter() - start
    target.pool.storageVolLookupByName(name).delete(0)
    local.unlink()
    return took


def one_size(vmm: str, lab, target, env: dict[str, str], size_gib: int, scratch: Path) -> MoveRow:
    import statistics

    from kvmlab import domain_xml
    from lxml import etree

    data = size_gib * 2**30 // DATA_FRACTION
    volume = lab.volume(f"{lab.prefix}move{size_gib}.qcow2", mib=size_gib * 1024)
    _fill(volume.path(), data)
    xml = etree.fromstring(domain_xml(f"{lab.prefix}move{size_gib}", volume.path()))
    xml.set("type", "qemu")
    name = lab.conn.defineXML(etree.tostring(xml, encoding="unicode")).name()
    by_hand, moves, here = [], [], True
    for _ in range(RUNS):  # in turn: the page cache and the writeback favour neither
        if here:  # virsh moves the disk from the source host, where it is now
            lab.pool.refresh(0)
            disk = lab.pool.storageVolLookupByName(os.path.basename(volume.path()))
            by_hand.append(_by_hand(disk, target, scratch))
        where, to, pool = (
            ("here", "there:", "moved") if here else ("there", "here:", lab.pool.name())
        )
        moves.append(_timed([vmm, "-c", where, "mv", name, to, "--pool", pool], env))
        here = not here
    if here:  # back on the source: once more, to see what lands on the target
        _timed([vmm, "-c", "here", "mv", name, "there:", "--pool", "moved"], env)
    disk = etree.fromstring(target.conn.lookupByName(name).XMLDesc(0)).find("devices/disk/source")
    landed = os.stat(disk.get("file")).st_blocks * 512
    return MoveRow(
        size_gib, data / 2**30, statistics.median(moves), statistics.median(by_hand), landed
    )


def run(vmm: str) -> list[MoveRow]:
    from daemons import QemuSessionHost
    from kvmlab import KvmLab

    conn = libvirt.open("qemu:///system")
    lab, target = KvmLab(conn), QemuSessionHost()
    scratch = Path(tempfile.mkdtemp(prefix="vmm-bench-move-", dir="/var/tmp"))
    env = _config(target.uri, scratch / "config")
    rows = []
    try:
        for size in SIZES_GIB:
            row = one_size(vmm, lab, target, env, size, scratch)
            print(
                f"  move {size} GiB: vmm {row.vmm_seconds:.1f} s, virsh by hand"
                f" {row.virsh_seconds:.1f} s, {row.landed / 2**30:.2f} GiB landed",
                flush=True,
            )
            rows.append(row)
    finally:
        target.close()
        lab.cleanup()
        conn.close()
        subprocess.run(["rm", "-rf", str(scratch)], check=False)
    return rows
