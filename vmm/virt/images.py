"""Making disk images for clones and new VMs: qcow2 overlays and full copies.

Through the storage pool API wherever the image lives in a pool, so that it works on a remote
connection too (the remote libvirtd writes the file). Images outside any pool can only be
handled on a local connection, with qemu-img run from an argument list.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse
from uuid import uuid4

import libvirt
from lxml import etree

from vmm.model.definition import parse_definition
from vmm.model.errors import HostError, InvalidInput
from vmm.virt.storage import claim_file, claiming, volume_at

Progress = Callable[[int, int], None]  # (bytes done, bytes total)
PROGRESS_SECONDS = 0.25


@dataclass(frozen=True)
class Image:
    """A disk image vmm may build on: where it is, in which pool, its format and size."""

    path: str
    format: str
    capacity: int
    pool: libvirt.virStoragePool | None
    volume: libvirt.virStorageVol | None


def is_local_uri(uri: str) -> bool:
    """True when files on this machine are the hypervisor's files."""
    parts = urlparse(uri)
    transport = parts.scheme.partition("+")[2]
    return not parts.netloc and transport in ("", "unix")


def is_local(conn: libvirt.virConnect) -> bool:
    return is_local_uri(conn.getURI())


def image_at(conn: libvirt.virConnect, path: str, fmt: str | None) -> Image:
    """Describe the image at `path`, from its pool when it has one, else from the local file.

    `fmt` is the format the VM's definition gives; without it, a pool's word or qemu-img's
    reading of the file is taken."""
    volume = volume_at(conn, path)
    if volume is not None:
        xml = parse_definition(volume.XMLDesc(0))
        found = xml.find("target/format")
        volume_format = found.get("type") if found is not None else None
        capacity = int(xml.findtext("capacity") or 0)
        pool = volume.storagePoolLookupByVolume()
        return Image(path, fmt or volume_format or "raw", capacity, pool, volume)
    if not is_local(conn):
        raise InvalidInput(
            f"disk {path} is in no storage pool, and this connection is remote: define a pool"
            " for its directory on the host (virsh pool-define-as) and try again"
        )
    if not os.path.exists(path):
        raise InvalidInput(f"disk image {path} does not exist")
    found_format, capacity = _file_image_info(path, fmt)
    return Image(path, fmt or found_format, capacity, None, None)


def _file_image_info(path: str, fmt: str | None) -> tuple[str, int]:
    """(format, virtual size) of a local image file, as qemu-img reads it."""
    import json

    args = ["info", "--output=json", "-U", *(["-f", fmt] if fmt else []), path]
    info = json.loads(_qemu_img(*args))
    return info["format"], int(info["virtual-size"])


def safe_stem(name: str) -> str:
    """A file-name-safe form of a VM name (volume names cannot hold '/')."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return stem or "vm"


@dataclass(frozen=True)
class Destination:
    """Where a new image goes: its file, and the pool that holds it (None: a bare directory)."""

    path: str
    pool: libvirt.virStoragePool | None

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def destination(base: Image, stem: str, pool: libvirt.virStoragePool | None = None) -> Destination:
    """A free name for a new image in `pool`, else beside `base` (in its pool when it has one).

    Chosen before anything is written, so that the undo of a step that fails half-way (a copy
    killed by Ctrl-C) can be registered before the step starts."""
    target = pool or base.pool
    if target is None and not os.path.isfile(base.path):
        raise InvalidInput(
            f"{base.path} is no file and lies in no storage pool: vmm will not put an image"
            " beside it; make a full clone into a pool (--full --pool POOL)"
        )
    directory = pool_directory(target) if target is not None else str(Path(base.path).parent)
    name = free_volume_name(target, directory, stem)
    return Destination(os.path.join(directory, name), target)


def pool_directory(pool: libvirt.virStoragePool) -> str:
    return parse_definition(pool.XMLDesc(0)).findtext("target/path") or ""


def free_volume_name(
    pool: libvirt.virStoragePool | None, directory: str, stem: str, suffix: str = ".qcow2"
) -> str:
    """`stem.qcow2`, or `stem-2.qcow2`, ... whichever neither the pool nor (where it is on this
    machine) the directory holds: qemu-img would overwrite a file the pool has not seen yet."""
    taken = set(pool.listVolumes()) if pool is not None else set()
    if pool is None or is_local(pool.connect()):
        try:
            taken.update(os.listdir(directory))
        except OSError:
            if pool is None:
                raise
            # a pool's directory a user may not list (Debian's images pool is 0711): the
            # pool's word is all there is

    candidate, n = f"{stem}{suffix}", 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}{suffix}"
    return candidate


def _volume_xml(name: str, capacity: int) -> etree._Element:
    root = etree.Element("volume")
    etree.SubElement(root, "name").text = name
    etree.SubElement(root, "capacity", unit="bytes").text = str(capacity)
    etree.SubElement(etree.SubElement(root, "target"), "format", type="qcow2")
    return root


def overlay_xml(name: str, base: Image, capacity: int | None = None) -> str:
    root = _volume_xml(name, capacity or base.capacity)
    backing = etree.SubElement(root, "backingStore")
    etree.SubElement(backing, "path").text = base.path
    etree.SubElement(backing, "format", type=base.format)  # never leave it to probing
    return etree.tostring(root, encoding="unicode")


def create_overlay(base: Image, where: Destination, capacity: int | None = None) -> str:
    """A new empty qcow2 image whose reads fall through to `base`, of `capacity` bytes (the
    base's size by default); returns its path."""
    if where.pool is not None:
        with claiming(where.path):
            return where.pool.createXML(overlay_xml(where.name, base, capacity), 0).path()
    size = [str(capacity)] if capacity else []
    claim_file(where.path)
    _qemu_img("create", "-q", "-f", "qcow2", "-F", base.format, "-b", base.path, where.path, *size)
    return where.path


def copy_image(base: Image, where: Destination, progress: Progress | None = None) -> str:
    """A full, independent qcow2 copy of `base` (whatever its format); returns its path.

    Pool to pool through libvirt (so remotely too); an image outside any pool is copied by
    qemu-img on this machine, then shown to the pool it lands in."""
    if where.pool is None or base.volume is None:
        claim_file(where.path)
        _qemu_img("convert", "-q", "-O", "qcow2", "-f", base.format, base.path, where.path)
        if where.pool is not None:
            where.pool.refresh(0)
        return where.path
    from vmm.virt.interrupts import steady

    xml = etree.tostring(_volume_xml(where.name, base.capacity), encoding="unicode")
    watching = _watch_allocation(where.pool, where.name, base.capacity, progress)
    steadily = steady(f"the copy of {base.path} (libvirt cannot stop it)")
    with watching, steadily, claiming(where.path):
        return where.pool.createXMLFrom(xml, base.volume, 0).path()


class _watch_allocation:
    """Report a copy's progress from the target volume's allocation, polled from a thread."""

    def __init__(
        self, pool: libvirt.virStoragePool, name: str, total: int, progress: Progress | None
    ):
        self.pool, self.name, self.total, self.progress = pool, name, total, progress
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> None:
        if self.progress is not None:
            self.thread.start()

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        if self.progress is not None:
            self.thread.join()
            if exc[0] is None:
                self.progress(self.total, self.total)

    def _poll(self) -> None:
        while not self.done.wait(PROGRESS_SECONDS):
            try:
                allocation = self.pool.storageVolLookupByName(self.name).info()[2]
            except libvirt.libvirtError:
                continue  # not created yet
            self.progress(min(allocation, self.total), self.total)


@contextlib.contextmanager
def pool_over(conn: libvirt.virConnect, directory: str) -> Iterator[libvirt.virStoragePool]:
    """The active pool whose directory is `directory`, else a transient one over it for the
    block: how libvirtd itself reads and writes files vmm has no pool (or no access) for."""
    for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        if pool_directory(pool).rstrip("/") == directory.rstrip("/"):
            pool.refresh(0)
            yield pool
            return
    root = etree.Element("pool", type="dir")
    etree.SubElement(root, "name").text = f"vmm-{uuid4().hex[:12]}"
    etree.SubElement(etree.SubElement(root, "target"), "path").text = directory
    pool = conn.storagePoolCreateXML(etree.tostring(root, encoding="unicode"), 0)
    try:
        yield pool
    finally:
        pool.destroy()  # a transient pool: gone, its files stay


def file_exists(conn: libvirt.virConnect, path: str) -> bool:
    """Whether the host has a file at `path` (asked of libvirtd when it is remote)."""
    if is_local(conn):
        return os.path.lexists(path)
    with pool_over(conn, os.path.dirname(path)) as pool:
        return os.path.basename(path) in pool.listVolumes()


def copy_file(conn: libvirt.virConnect, source: str, target: str) -> None:
    """Copy a small file (UEFI variables) on the host, by libvirtd, as a 0600 raw volume."""
    source_dir, target_dir = os.path.dirname(source), os.path.dirname(target)
    with pool_over(conn, source_dir) as source_pool:
        volume = source_pool.storageVolLookupByName(os.path.basename(source))
        kind, capacity, _ = volume.info()
        if kind != libvirt.VIR_STORAGE_VOL_FILE:
            raise InvalidInput(f"{source} is no regular file")
        root = _volume_xml(os.path.basename(target), capacity)
        target_el = root.find("target")
        target_el.find("format").set("type", "raw")
        etree.SubElement(etree.SubElement(target_el, "permissions"), "mode").text = "0600"
        xml = etree.tostring(root, encoding="unicode")
        if target_dir.rstrip("/") == source_dir.rstrip("/"):
            with claiming(target):
                source_pool.createXMLFrom(xml, volume, 0)
            return
        with pool_over(conn, target_dir) as target_pool, claiming(target):
            target_pool.createXMLFrom(xml, volume, 0)


def delete_image(conn: libvirt.virConnect, path: str) -> None:
    """Remove an image vmm made: through its pool, or the local file."""
    volume = volume_at(conn, path)
    if volume is not None:
        volume.delete(0)
    elif is_local(conn) and os.path.exists(path):
        os.unlink(path)


def _qemu_img(*args: str) -> str:
    try:
        done = subprocess.run(["qemu-img", *args], check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise HostError("qemu-img is not installed (apt-get install qemu-utils)") from None
    except subprocess.CalledProcessError as err:
        message = " ".join(err.stderr.split()) or f"exit status {err.returncode}"
        raise HostError(f"qemu-img {args[0]} failed: {message}") from None
    return done.stdout
