"""A small FAT12 file system, as bytes: what a cloud-init NoCloud seed needs, made without
mkfs.vfat or genisoimage (the host may be remote; vmm uploads the bytes through libvirt).

Pure: bytes in, bytes out. One directory (the root), long file names (VFAT entries, which
Linux reads), a volume label, fixed timestamps (the same files give the same image), and a
reader for the images this module writes (a clone's seed is made from its source's).
"""

from __future__ import annotations

import re
import struct

from vmm.model.errors import InvalidInput

SECTOR = 512
RESERVED = 1  # the boot sector
FATS = 2
ROOT_ENTRIES = 32  # 2 sectors: a label and a few files with long names
MIN_SECTORS = 128  # 64 KiB: below this some tools call the file system damaged
MAX_CLUSTERS = 4084  # FAT12's limit (a cluster is a sector here): about 2 MiB of files
MEDIA = 0xF8
ATTR_ARCHIVE, ATTR_LABEL, ATTR_LFN = 0x20, 0x08, 0x0F
DATE = ((2026 - 1980) << 9) | (1 << 5) | 1  # 2026-01-01, 00:00
LFN_CHARS = 13
END_OF_CHAIN = 0xFFF


def _sectors(size: int) -> int:
    return (size + SECTOR - 1) // SECTOR


def _short_name(index: int) -> bytes:
    """An 8.3 name no file of ours shares; the long name is the one read."""
    return f"VMM{index:05d}   ".encode("ascii")


def _checksum(short: bytes) -> int:
    total = 0
    for byte in short:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


def _lfn_entries(name: str, short: bytes) -> list[bytes]:
    """The long-name entries for `name`, in the order they are stored (last part first)."""
    units = name.encode("utf-16-le")
    chars = [units[i : i + 2] for i in range(0, len(units), 2)]
    parts = [chars[i : i + LFN_CHARS] for i in range(0, len(chars), LFN_CHARS)]
    if len(parts[-1]) < LFN_CHARS:
        parts[-1] = [*parts[-1], b"\x00\x00"]
    entries = []
    checksum = _checksum(short)
    for number, part in enumerate(parts, start=1):
        padded = b"".join(part).ljust(LFN_CHARS * 2, b"\xff")
        order = number | (0x40 if number == len(parts) else 0)
        entries.append(
            bytes([order])
            + padded[0:10]
            + bytes([ATTR_LFN, 0, checksum])
            + padded[10:22]
            + b"\x00\x00"
            + padded[22:26]
        )
    return entries[::-1]


def _entry(short: bytes, attr: int, cluster: int, size: int) -> bytes:
    return short + struct.pack("<BBBHHHHHHHI", attr, 0, 0, 0, DATE, DATE, 0, 0, DATE, cluster, size)


_FORBIDDEN = re.compile('[/\\\\:*?"<>|\x00-\x1f\ud800-\udfff\uffff]')


def _check_name(name: str) -> None:
    """What a long FAT name can hold and Linux gives back as it was."""
    if not name or len(name) > 255 or _FORBIDDEN.search(name) or name[-1] in " .":
        raise InvalidInput(f"{name!r} cannot be a file name on a FAT file system")


def image(files: dict[str, bytes], label: str) -> bytes:
    """A FAT12 file system image holding `files` in its root directory."""
    for name in files:
        _check_name(name)
    if len({name.casefold() for name in files}) < len(files):
        raise InvalidInput("two file names differ only in case: FAT tells them not apart")
    clusters_needed = sum(_sectors(len(data)) for data in files.values())
    if clusters_needed > MAX_CLUSTERS - 8:
        kib = clusters_needed * SECTOR // 1024
        raise InvalidInput(f"the seed's files take {kib} KiB: at most 2 MiB fit")
    entries = sum(1 + -(-len(name) // LFN_CHARS) for name in files) + 1
    if entries > ROOT_ENTRIES:
        raise InvalidInput("too many files, or names too long, for the seed's directory")
    root_sectors = ROOT_ENTRIES * 32 // SECTOR
    clusters = max(clusters_needed + 8, MIN_SECTORS)
    fat_sectors = _sectors(((clusters + 2) * 3 + 1) // 2)
    total = RESERVED + FATS * fat_sectors + root_sectors + clusters
    boot = _boot_sector(total, fat_sectors, label)

    fat = [0] * (clusters + 2)
    fat[0], fat[1] = 0xF00 | MEDIA, END_OF_CHAIN
    directory = [_entry(label.upper().encode("ascii").ljust(11)[:11], ATTR_LABEL, 0, 0)]
    data = bytearray()
    cluster = 2
    for index, (name, content) in enumerate(files.items(), start=1):
        count = _sectors(len(content))
        short = _short_name(index)
        first = cluster if count else 0  # an empty file has no cluster
        directory += [*_lfn_entries(name, short), _entry(short, ATTR_ARCHIVE, first, len(content))]
        for offset in range(count):
            fat[cluster + offset] = cluster + offset + 1 if offset < count - 1 else END_OF_CHAIN
        data += content.ljust(count * SECTOR, b"\x00")
        cluster += count
    table = _pack_fat12(fat).ljust(fat_sectors * SECTOR, b"\x00")
    root = b"".join(directory).ljust(root_sectors * SECTOR, b"\x00")
    body = boot + table * FATS + root + bytes(data)
    return body.ljust(total * SECTOR, b"\x00")


def _boot_sector(total: int, fat_sectors: int, label: str) -> bytes:
    volume_id = sum(label.encode()) * 2654435761 & 0xFFFFFFFF
    head = (
        b"\xeb\x3c\x90"
        + b"VMM     "
        + struct.pack(
            "<HBHBHHBHHHII",
            SECTOR,
            1,  # sectors per cluster
            RESERVED,
            FATS,
            ROOT_ENTRIES,
            total if total < 0x10000 else 0,
            MEDIA,
            fat_sectors,
            32,  # sectors per track
            2,  # heads
            0,  # hidden sectors
            total if total >= 0x10000 else 0,
        )
    )
    extended = struct.pack("<BBBI", 0x80, 0, 0x29, volume_id)
    extended += label.upper().encode("ascii").ljust(11)[:11] + b"FAT12   "
    sector = head + extended
    return sector.ljust(SECTOR - 2, b"\x00") + b"\x55\xaa"


def _pack_fat12(fat: list[int]) -> bytes:
    if len(fat) % 2:
        fat = [*fat, 0]
    out = bytearray()
    for low, high in zip(fat[0::2], fat[1::2], strict=True):
        out += bytes([low & 0xFF, ((low >> 8) & 0x0F) | ((high & 0x0F) << 4), high >> 4])
    return bytes(out)


def _fat12_entry(table: bytes, cluster: int) -> int:
    offset = cluster * 3 // 2
    pair = table[offset] | (table[offset + 1] << 8)
    return pair >> 4 if cluster % 2 else pair & 0xFFF


class NotOurImage(ValueError):
    """Bytes that are not a FAT12 image of the kind `image` writes."""


def read(raw: bytes) -> dict[str, bytes]:
    """The files in the root directory of an image `image` wrote (by their long names)."""
    if len(raw) < SECTOR or raw[510:512] != b"\x55\xaa" or raw[54:62] != b"FAT12   ":
        raise NotOurImage("not a FAT12 file system")
    sector, per_cluster, reserved, fats, root_entries = struct.unpack_from("<HBHBH", raw, 11)
    fat_sectors = struct.unpack_from("<H", raw, 22)[0]
    if sector != SECTOR or per_cluster != 1:
        raise NotOurImage("not a seed vmm wrote")
    table = raw[reserved * SECTOR : (reserved + fat_sectors) * SECTOR]
    root_start = (reserved + fats * fat_sectors) * SECTOR
    data_start = root_start + root_entries * 32
    files: dict[str, bytes] = {}
    long_name: list[str] = []
    for index in range(root_entries):
        entry = raw[root_start + index * 32 : root_start + (index + 1) * 32]
        if entry[0] == 0:
            break
        if entry[11] == ATTR_LFN:
            units = entry[1:11] + entry[14:26] + entry[28:32]
            part = units.decode("utf-16-le", errors="replace").split("\x00")[0]
            long_name.insert(0, part.replace("\uffff", ""))
            continue
        if entry[11] & ATTR_LABEL or entry[0] == 0xE5:
            long_name = []
            continue
        cluster, size = struct.unpack_from("<HI", entry, 26)
        name = "".join(long_name) or entry[:8].decode("ascii").strip()
        long_name = []
        content = bytearray()
        while 2 <= cluster < 0xFF8 and len(content) < size:
            start = data_start + (cluster - 2) * SECTOR
            content += raw[start : start + SECTOR]
            cluster = _fat12_entry(table, cluster)
        files[name] = bytes(content[:size])
    return files
