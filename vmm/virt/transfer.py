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


SEGMENT = 64 << 20  # the file is hashed in segments of this size (in parallel when read back)


class ContentHash:
    """A SHA-256 of a file's content that depends neither on where the holes are nor on how
    the stream cuts the data: the 4 KiB blocks that hold a non-zero byte are hashed in order,
    their offsets apart, zero blocks (holes, or zeros a file system stored) not at all, and the
    length ends it. A hole costs nothing, and a copy whose file system lays out its holes
    otherwise still hashes the same.

    The blocks are hashed per segment of the file (SEGMENT bytes), and the segments' digests
    then together: a stream is hashed as it comes, a local file's segments by several threads
    at once (`checksum`), to the same result. `start` begins the count at a segment's start."""

    def __init__(self, segment: int | None = None, start: int = 0) -> None:
        self.segment = segment or SEGMENT
        self.length = start  # where the file is, holes included
        self.data = 0  # bytes that came as data
        self.pending = b""  # the start of the block `length` is in
        self.segments: dict[int, bytes] = {}  # a digest for each segment holding data
        self._index = -1  # the segment being hashed: its blocks, and their offsets
        self._blocks_hash = hashlib.sha256()
        self._offsets_hash = hashlib.sha256()

    def _into(self, index: int) -> None:
        if index != self._index:
            self._close()
            self._index = index
            self._blocks_hash, self._offsets_hash = hashlib.sha256(), hashlib.sha256()

    def _close(self) -> None:
        if self._index >= 0:
            pair = self._blocks_hash.digest() + self._offsets_hash.digest()
            self.segments[self._index] = hashlib.sha256(pair).digest()
        self._index = -1

    def _blocks(self, chunk: bytes, start: int) -> None:
        """Hash the whole blocks of `chunk`, which begins at the block boundary `start`."""
        at = 0
        while at < len(chunk):
            index = (start + at) // self.segment
            end = min(len(chunk), (index + 1) * self.segment - start)
            piece = chunk if (at, end) == (0, len(chunk)) else chunk[at:end]  # one segment's
            self._segment_blocks(piece, start + at, index)
            at = end

    def _segment_blocks(self, chunk: bytes, start: int, index: int) -> None:
        if chunk.find(ZERO_BLOCK) < 0:
            self._into(index)  # no zero block can be in it: all of it, at once
            self._blocks_hash.update(chunk)
            self._offsets_hash.update(array("Q", range(start, start + len(chunk), BLOCK)).tobytes())
            return
        chunk = memoryview(chunk)
        for offset in range(0, len(chunk), BLOCK):
            block = chunk[offset : offset + BLOCK]
            if block != ZERO_BLOCK:
                self._into(index)
                self._blocks_hash.update(block)
                self._offsets_hash.update((start + offset).to_bytes(8, "little"))

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

    def finish(self) -> dict[int, bytes]:
        """Hash the last, partial block; the digest of each segment that holds data."""
        if self.pending.strip(b"\0"):
            start = self.length - len(self.pending)
            self._into(start // self.segment)
            self._blocks_hash.update(self.pending)
            self._offsets_hash.update(start.to_bytes(8, "little"))
        self.pending = b""
        self._close()
        return self.segments

    def result(self) -> Streamed:
        return combined(self.finish(), self.length, self.data)


def combined(segments: dict[int, bytes], length: int, data: int) -> Streamed:
    whole = hashlib.sha256()
    for index in sorted(segments):
        whole.update(index.to_bytes(8, "little") + segments[index])
    whole.update(b"length" + length.to_bytes(8, "little"))
    return Streamed(length, data, whole.hexdigest())


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
    pieces: Iterator[bytes | int], hasher: ContentHash, first: Rewrite | None = None
) -> Iterator[bytes | int]:
    """`pieces` (of a stream, or of a local file), received and hashed by a thread of its own a
    few pieces ahead: libvirt, file reads and hashlib let go of the GIL while they work, so
    receiving and hashing overlap with what the caller does with each piece (sending it on to
    the other host). `first` rewrites the file's first bytes (the first piece) before they are
    hashed and passed on."""
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
            for index, piece in enumerate(pieces):
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
    `first` rewrites the file's first bytes on the way (a qcow2 header naming its backing).

    A source file on this machine that vmm may read is read straight from the disk (holes
    found with SEEK_DATA, as libvirtd's download finds them), which spares its libvirtd the
    hop; anything else is downloaded through its host's libvirtd."""
    path = source.path()
    local = is_local(source.connect()) and os.access(path, os.R_OK)
    src = None if local else source.connect().newStream(0)
    dst = target.connect().newStream(0)
    hasher = ContentHash()
    total = source.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2] if progress else 0
    told = time.monotonic()
    try:
        if src is not None:
            source.download(src, 0, 0, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
        target.upload(dst, 0, 0, libvirt.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM)
        pieces = _file_pieces(path) if src is None else _pieces(src)
        for piece in _read_ahead(pieces, hasher, first):
            if isinstance(piece, int):
                dst.sendHole(piece, 0)
            else:
                dst.send(piece)
            if progress is not None and time.monotonic() - told >= PROGRESS_SECONDS:
                progress(min(hasher.length, total), total)
                told = time.monotonic()
        if src is not None:
            src.finish()
        dst.finish()
        if progress is not None:
            progress(total, total)
    except BaseException:
        _abort(*(stream for stream in (src, dst) if stream is not None))
        raise
    return hasher.result()


def _file_pieces(path: str, start: int = 0, end: int | None = None) -> Iterator[bytes | int]:
    """A local file (from `start`, up to `end`) as a sparse stream brings it: data, and the
    length of each hole."""
    with open(path, "rb") as file:
        fd, at = file.fileno(), start
        size = os.fstat(fd).st_size if end is None else min(end, os.fstat(fd).st_size)
        while at < size:
            try:
                data = min(os.lseek(fd, at, os.SEEK_DATA), size)
            except OSError:  # ENXIO: nothing but a hole to the end
                data = size
            if data > at:
                yield data - at
                at = data
                continue
            hole = min(os.lseek(fd, at, os.SEEK_HOLE), size)
            while at < hole:
                chunk = os.pread(fd, min(CHUNK, hole - at), at)
                if not chunk:
                    return
                yield chunk
                at += len(chunk)


def _hash_segment(path: str, start: int, end: int) -> tuple[dict[int, bytes], int]:
    hasher = ContentHash(end - start, start)
    for piece in _file_pieces(path, start, end):
        (hasher.hole if isinstance(piece, int) else hasher.bytes)(piece)
    return hasher.finish(), hasher.data


def checksum_file(path: str) -> Streamed:
    """A local file hashed as `copy` hashes a stream, its segments by a thread per core
    (hashlib and file reads let go of the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    size = os.stat(path).st_size
    starts = range(0, size, SEGMENT)
    segments: dict[int, bytes] = {}
    data = 0
    with ThreadPoolExecutor(max_workers=min(len(starts), os.cpu_count() or 1) or 1) as pool:
        for found, read in pool.map(lambda at: _hash_segment(path, at, at + SEGMENT), starts):
            segments.update(found)
            data += read
    return combined(segments, size, data)


def checksum(volume: libvirt.virStorageVol) -> Streamed:
    """The file of `volume` read back, hashed as `copy` hashes: from the disk when the host is
    this machine and the file can be read, else through its host's libvirtd."""
    path = volume.path()
    if is_local(volume.connect()) and os.access(path, os.R_OK):
        return checksum_file(path)
    stream = volume.connect().newStream(0)
    hasher = ContentHash()
    try:
        volume.download(stream, 0, 0, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
        for _ in _read_ahead(_pieces(stream), hasher):
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
