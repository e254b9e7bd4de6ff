"""Streaming a volume's bytes from one host's pool into another's, through libvirt's storage API:
no shared storage and no ssh between the hosts, only vmm's two connections. Holes are sent as
holes (sparse streams), and every byte is hashed on its way, so the copy can be checked."""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import libvirt
from lxml import etree

from vmm.model.definition import parse_definition
from vmm.model.errors import HostError
from vmm.virt.images import PROGRESS_SECONDS, Progress, is_local, pool_over
from vmm.virt.storage import claiming

Rewrite = Callable[[bytes], bytes]
CHUNK = 1 << 20
READ_AHEAD = 8  # pieces received before they are used: at most 8 MiB held
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
ZERO_BLOCK = bytes(BLOCK)


class ContentHash:
    """A SHA-256 of a file's content that depends neither on where the holes are nor on how
    the stream cuts the data: the 4 KiB blocks that hold a non-zero byte are hashed in order,
    their offsets apart, zero blocks (holes, or zeros a file system stored) not at all, and the
    length ends it. A hole costs nothing, and a copy whose file system lays out its holes
    otherwise still hashes the same."""

    def __init__(self) -> None:
        self.blocks = hashlib.sha256()  # the non-zero blocks, one after the other
        self.offsets = hashlib.sha256()  # where each of them is
        self.length = 0  # bytes of the file so far, holes included
        self.data = 0  # bytes that came as data
        self.pending = b""  # the start of the block `length` is in

    def _blocks(self, chunk: bytes, start: int) -> None:
        """Hash the whole blocks of `chunk`, which begins at the block boundary `start`."""
        if chunk.find(ZERO_BLOCK) < 0:  # no zero block can be in it: all of it, at once
            self.blocks.update(chunk)
            self.offsets.update(array("Q", range(start, start + len(chunk), BLOCK)).tobytes())
            return
        view = memoryview(chunk)
        for offset in range(0, len(chunk), BLOCK):
            block = view[offset : offset + BLOCK]
            if block != ZERO_BLOCK:
                self.blocks.update(block)
                self.offsets.update((start + offset).to_bytes(8, "little"))

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
            self.blocks.update(self.pending)
            self.offsets.update((self.length - len(self.pending)).to_bytes(8, "little"))
        whole = hashlib.sha256(self.blocks.digest() + self.offsets.digest())
        whole.update(b"length" + self.length.to_bytes(8, "little"))
        return Streamed(self.length, self.data, whole.hexdigest())


def _pieces(stream: libvirt.virStream) -> Iterator[bytes | int]:
    """What a sparse download stream brings: data (bytes) and holes (their length)."""
    while True:
        got = stream.recvFlags(CHUNK, libvirt.VIR_STREAM_RECV_STOP_AT_HOLE)
        if got == _HOLE:
            yield stream.recvHole(0)
        elif isinstance(got, int):
            raise libvirt.libvirtError(f"the download stream said {got}")
        elif got:
            yield got
        else:
            return  # the end of the file


_END = object()


def _read_ahead(
    stream: libvirt.virStream, hasher: ContentHash, first: Rewrite | None = None
) -> Iterator[bytes | int]:
    """`_pieces(stream)`, received and hashed by a thread of its own a few pieces ahead:
    libvirt and hashlib let go of the GIL while they work, so receiving and hashing overlap
    with what the caller does with each piece (sending it on to the other host). `first`
    rewrites the file's first bytes (the first piece) before they are hashed and passed on."""
    ahead: queue.Queue = queue.Queue(maxsize=READ_AHEAD)
    stopped = threading.Event()  # the caller went away (failed, interrupted): stop putting

    def put(item: object) -> None:
        while not stopped.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def receive() -> None:
        try:
            for index, piece in enumerate(_pieces(stream)):
                if stopped.is_set():
                    return
                if index == 0 and first is not None:
                    if isinstance(piece, int):
                        raise HostError("the image starts with a hole: no header to rewrite")
                    piece = first(piece)
                (hasher.hole if isinstance(piece, int) else hasher.bytes)(piece)
                put(piece)
            put(_END)
        except BaseException as err:  # to the caller, who raises it
            put(err)

    threading.Thread(target=receive, daemon=True, name="vmm-receive").start()
    try:
        while (piece := ahead.get()) is not _END:
            if isinstance(piece, BaseException):
                raise piece
            yield piece
    finally:
        stopped.set()


def copy(
    source: libvirt.virStorageVol,
    target: libvirt.virStorageVol,
    progress: Progress | None = None,
    first: Rewrite | None = None,
) -> Streamed:
    """Every byte of `source`'s file into `target`'s, holes as holes; returns what was sent.
    `progress(done, total)` is told how far into the file it is, every quarter second;
    `first` rewrites the file's first bytes on the way (a qcow2 header naming its backing)."""
    src = source.connect().newStream(0)
    dst = target.connect().newStream(0)
    hasher = ContentHash()
    total = source.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2] if progress else 0
    told = time.monotonic()
    try:
        source.download(src, 0, 0, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
        target.upload(dst, 0, 0, libvirt.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM)
        for piece in _read_ahead(src, hasher, first):
            if isinstance(piece, int):
                dst.sendHole(piece, 0)
            else:
                dst.send(piece)
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


def _file_pieces(path: str) -> Iterator[bytes | int]:
    """A local file as a sparse stream brings it: data, and the length of each hole."""
    with open(path, "rb") as file:
        fd, size, at = file.fileno(), os.fstat(file.fileno()).st_size, 0
        while at < size:
            try:
                data = os.lseek(fd, at, os.SEEK_DATA)
            except OSError:  # ENXIO: nothing but a hole to the end
                data = size
            if data > at:
                yield data - at
                at = data
                continue
            hole = os.lseek(fd, at, os.SEEK_HOLE)
            while at < hole:
                chunk = os.pread(fd, min(CHUNK, hole - at), at)
                if not chunk:
                    return
                yield chunk
                at += len(chunk)


def checksum(volume: libvirt.virStorageVol) -> Streamed:
    """The file of `volume` read back, hashed as `copy` hashes: from the disk when the host is
    this machine and the file can be read, else through its host's libvirtd."""
    path = volume.path()
    if is_local(volume.connect()) and os.access(path, os.R_OK):
        hasher = ContentHash()
        for piece in _file_pieces(path):
            (hasher.hole if isinstance(piece, int) else hasher.bytes)(piece)
        return hasher.result()
    stream = volume.connect().newStream(0)
    hasher = ContentHash()
    try:
        volume.download(stream, 0, 0, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
        for _ in _read_ahead(stream, hasher):
            pass
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
            with claiming(target):
                made = dst_pool.createXML(etree.tostring(root, encoding="unicode"), 0)
            copy(volume, made)
