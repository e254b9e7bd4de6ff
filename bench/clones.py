"""Clones on the real hypervisor: linked vs full vs virt-clone, for disks holding data."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import libvirt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

SIZES_GIB = (1, 4, 16)
DATA_FRACTION = 4  # a quarter of each disk holds data
CHUNK = 256 * 2**20


@dataclass(frozen=True)
class CloneRow:
    size_gib: int
    data_gib: float
    method: str
    seconds: float
    bytes_written: int


def _actual_size(path: str) -> int:
    info = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", path],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(json.loads(info.stdout).get("actual-size", 0))


def _fill(path: str, data: int) -> None:
    commands = []
    for offset in range(0, data, CHUNK):
        commands += ["-c", f"write -P 0xab {offset} {min(CHUNK, data - offset)}"]
    subprocess.run(["qemu-io", "-f", "qcow2", *commands, path], check=True, capture_output=True)


def _disk(dom: libvirt.virDomain) -> str:
    from lxml import etree

    xml = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return xml.find("devices/disk/source").get("file")


def _timed(argv: list[str]) -> float:
    os.sync()  # the copies before must not be flushed on this one's time
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def one_size(vmm: str, lab, size_gib: int) -> list[CloneRow]:
    source = lab.vm(f"src{size_gib}", disk_mib=size_gib * 1024)
    data = size_gib * 2**30 // DATA_FRACTION
    _fill(_disk(source), data)
    uri = "qemu:///system"
    rows = []
    full = f"{lab.prefix}full{size_gib}"
    seconds = _timed([vmm, "-c", uri, "clone", "--full", source.name(), full])
    rows.append(
        CloneRow(
            size_gib,
            data / 2**30,
            "vmm clone --full",
            seconds,
            _actual_size(_disk(lab.conn.lookupByName(full))),
        )
    )
    if shutil.which("virt-clone"):
        virt = f"{lab.prefix}virt{size_gib}"
        seconds = _timed(
            [
                "virt-clone",
                "--connect",
                uri,
                "--original",
                source.name(),
                "--name",
                virt,
                "--auto-clone",
            ]
        )
        rows.append(
            CloneRow(
                size_gib,
                data / 2**30,
                "virt-clone --auto-clone",
                seconds,
                _actual_size(_disk(lab.conn.lookupByName(virt))),
            )
        )
    times = []
    for n in range(3):  # each linked clone freezes the source once more: the work stays the same
        linked = f"{lab.prefix}linked{size_gib}-{n}"
        times.append(_timed([vmm, "-c", uri, "clone", source.name(), linked]))
        written = _actual_size(_disk(lab.conn.lookupByName(linked))) + _actual_size(_disk(source))
    rows.append(
        CloneRow(size_gib, data / 2**30, "vmm clone (linked)", statistics.median(times), written)
    )
    return rows


def run(vmm: str) -> list[CloneRow]:
    from kvmlab import KvmLab

    conn = libvirt.open("qemu:///system")
    rows = []
    try:
        for size in SIZES_GIB:
            lab = KvmLab(conn)
            try:
                rows += one_size(vmm, lab, size)
            finally:
                lab.cleanup()
            for row in rows[-3:]:
                print(
                    f"  clone {size} GiB: {row.method} {row.seconds:.2f}s, {row.bytes_written / 2**20:.0f} MiB",
                    flush=True,
                )
    finally:
        conn.close()
    os.sync()
    return rows
