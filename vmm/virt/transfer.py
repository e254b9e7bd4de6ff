"""Streaming a volume's bytes from one host's pool into another's, through libvirt's storage API:
no shared storage and no ssh between the hosts, only vmm's two connections. Holes are sent as
holes (sparse streams), and every byte is hashed on its way, so the copy can be checked."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from dataclasses import dataclass

import libvirt
from lxml import etree

from vmm.model.definition import parse_definition
from vmm.virt.images import PROGRESS_SECONDS, Progress, pool_over

CHUNK = 1 << 20
_HOLE = -3  # what virStreamRecvFlags returns at a hole with STOP_AT_HOLE


@dataclass(frozen=True)
class Streamed:
    length: int  # bytes of the file, holes included
    data: int  # bytes sent as data (the rest were holes)
    sha256: str  # of the whole file, holes read as zeros


def volume_format(volume: libvirt.virStorageVol) -> str:
    found = parse_definition(volume.XMLDesc(0)).find("target/format")
    return found.get("type", "raw") if found is not None else "raw"


def new_volume_xml(name: str, capacity: int, fmt: str) -> str:
    root = etree.Element("volume")
    etree.SubElement(root, "name").text = name
    etree.SubElement(root, "capacity", unit="bytes").text = str(capacity)
    etree.SubElement(etree.SubElement(root, "target"), "format", type=fmt)
    return etree.tostring(root, encoding="unicode")


BLOCK = 4096


class ContentHash:
    """A SHA-256 of a file's content that depends neither on where the holes are nor on how
    the stream cuts the data: each 4 KiB block that holds a non-zero byte is hashed with its
    offset, zero blocks (holes, or zeros a file system stored) not at all, and the length ends
    it. A hole costs nothing, and a copy whose file system lays out its holes otherwise still
    hashes the same."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.length = 0  # bytes of the file so far, holes included
        self.data = 0  # bytes that came as data
        self.pending = b""  # the start of the block `length` is in

    def _blocks(self, chunk: bytes, start: int) -> None:
        """Hash the whole blocks of `chunk`, which begins at the block boundary `start`: each
        non-zero one with its offset (runs of them would hash as the stream cut them)."""
        view = memoryview(chunk)
        zero = bytes(BLOCK)
        update = self.digest.update
        for offset in range(0, len(chunk), BLOCK):
            block = view[offset : offset + BLOCK]
            if block != zero:
                update((start + offset).to_bytes(8, "little"))
                update(block)

    def bytes(self, chunk: bytes) -> None:
        self.data += len(chunk)
        data = self.pending + chunk
        start = self.length - len(self.pending)
        whole = len(data) // BLOCK * BLOCK
        self._blocks(data[:whole], start)
        self.pending = data[whole:]
        self.length += len(chunk)

    def hole(self, length: int) -> None:
        if self.pending:
            fill = min(BLOCK - len(self.pending), length)
            self.pending += bytes(fill)
            self.length += fill
            length -= fill
            if len(self.pending) < BLOCK:
                return
            self._blocks(self.pending, self.length - BLOCK)
            self.pending = b""
        self.length += length
        self.pending = bytes(length % BLOCK)

    def result(self) -> Streamed:
        if self.pending.strip(b"\0"):  # the last, partial block
            self.digest.update((self.length - len(self.pending)).to_bytes(8, "little"))
            self.digest.update(self.pending)
        self.digest.update(b"length" + self.length.to_bytes(8, "little"))
        return Streamed(self.length, self.data, self.digest.hexdigest())


def copy(
    source: libvirt.virStorageVol, target: libvirt.virStorageVol, progress: Progress | None = None
) -> Streamed:
    """Every byte of `source`'s file into `target`'s, holes as holes; returns what was sent.
    `progress(done, total)` is told how far into the file it is, every quarter second."""
    src = source.connect().newStream(0)
    dst = target.connect().newStream(0)
    hasher = ContentHash()
    total = source.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2] if progress else 0
    told = time.monotonic()
    try:
        source.download(src, 0, 0, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
        target.upload(dst, 0, 0, libvirt.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM)
        while True:
            got = src.recvFlags(CHUNK, libvirt.VIR_STREAM_RECV_STOP_AT_HOLE)
            if got == _HOLE:
                length = src.recvHole(0)
                dst.sendHole(length, 0)
                hasher.hole(length)
            elif isinstance(got, int):
                raise libvirt.libvirtError(f"the download stream said {got}")
            elif got:
                dst.send(got)
                hasher.bytes(got)
            else:
                break  # the end of the file
            if progress is not None and time.monotonic() - told >= PROGRESS_SECONDS:
                progress(min(hasher.length, total), total)
                told = time.monotonic()
        src.finish()
        dst.finish()
        if progress is not None:
            progress(total, total)
    except BaseException:
        _abort(src, dst)
        raise
    return hasher.result()


def checksum(volume: libvirt.virStorageVol) -> Streamed:
    """The file of `volume` read back through its host, hashed as `copy` hashes."""
    stream = volume.connect().newStream(0)
    hasher = ContentHash()
    try:
        volume.download(stream, 0, 0, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
        while True:
            got = stream.recvFlags(CHUNK, libvirt.VIR_STREAM_RECV_STOP_AT_HOLE)
            if got == _HOLE:
                hasher.hole(stream.recvHole(0))
            elif isinstance(got, int):
                raise libvirt.libvirtError(f"the download stream said {got}")
            elif got:
                hasher.bytes(got)
            else:
                break
        stream.finish()
    except BaseException:
        _abort(stream)
        raise
    return hasher.result()


def _abort(*streams: libvirt.virStream) -> None:
    for stream in streams:
        with contextlib.suppress(libvirt.libvirtError):  # finished or broken already
            stream.abort()


def copy_file_between(
    src_conn: libvirt.virConnect, source: str, dst_conn: libvirt.virConnect, target: str
) -> None:
    """A small file (UEFI variables) from one host to a path on another, by both libvirtds
    (transient pools over the two directories where no pool holds them), at mode 0600."""
    with pool_over(src_conn, os.path.dirname(source)) as src_pool:
        volume = src_pool.storageVolLookupByName(os.path.basename(source))
        size = volume.info()[1]
        with pool_over(dst_conn, os.path.dirname(target)) as dst_pool:
            root = etree.fromstring(new_volume_xml(os.path.basename(target), size, "raw"))
            mode = etree.SubElement(etree.SubElement(root.find("target"), "permissions"), "mode")
            mode.text = "0600"
            made = dst_pool.createXML(etree.tostring(root, encoding="unicode"), 0)
            copy(volume, made)
