"""The part of a qcow2 image's header that names its backing file: read and rewritten in bytes.

A linked clone moved with its chain kept (`vmm mv --keep-chain`) lands on a host where its base
may lie at another path. The overlay's bytes are streamed as they are, except the name of the
backing file in its first cluster, rewritten on the way (what `qemu-img rebase -u` does, where
vmm cannot run qemu-img: on a remote host). Layout: docs/interop/qcow2.txt in QEMU's sources.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from vmm.model.errors import InvalidInput

MAGIC = b"QFI\xfb"
_FIELDS = struct.Struct(">4sIQII")  # magic, version, backing offset, backing size, cluster bits


@dataclass(frozen=True)
class Backing:
    name: str  # the backing file as the image names it
    offset: int  # where that name is, in the image's first cluster
    cluster_size: int


def backing_of(header: bytes) -> Backing | None:
    """The backing file named by an image whose first bytes are `header`; None: no backing."""
    if len(header) < _FIELDS.size or header[:4] != MAGIC:
        raise InvalidInput("not a qcow2 image (no qcow2 header)")
    _magic, _version, offset, size, cluster_bits = _FIELDS.unpack_from(header)
    if not offset:
        return None
    if offset + size > len(header):
        raise InvalidInput("the qcow2 header's backing file name lies beyond its first bytes")
    name = header[offset : offset + size].decode("utf-8", errors="surrogateescape")
    return Backing(name, offset, 1 << cluster_bits)


def with_backing(header: bytes, name: str) -> bytes:
    """`header` (an image's first bytes, its first cluster at least up to the name's end) with
    the backing file named `name` instead; the rest of its bytes as they were."""
    found = backing_of(header)
    if found is None:
        raise InvalidInput("the image has no backing file to rename")
    new = name.encode("utf-8", errors="surrogateescape")
    end = found.offset + max(len(new), len(found.name.encode("utf-8", "surrogateescape")))
    if found.offset + len(new) > found.cluster_size or end > len(header):
        raise InvalidInput(f"the backing file name {name!r} does not fit in the qcow2 header")
    old_size = struct.unpack_from(">I", header, 16)[0]
    patched = bytearray(header)
    patched[found.offset : found.offset + max(old_size, len(new))] = new.ljust(old_size, b"\0")
    struct.pack_into(">I", patched, 16, len(new))
    return bytes(patched)
