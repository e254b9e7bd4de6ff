"""Seed images (small raw files: a cloud-init NoCloud seed) written and read through libvirt's
storage API: the bytes travel over the connection, so a remote host's pool works as a local one."""

from __future__ import annotations

import contextlib

import libvirt
from lxml import etree

from vmm.model.errors import HostError, NotFound
from vmm.virt.errors import is_unsupported
from vmm.virt.images import free_volume_name, pool_directory
from vmm.virt.storage import claiming, volume_at

CHUNK = 256 * 1024


def raw_volume_xml(name: str, capacity: int) -> str:
    root = etree.Element("volume")
    etree.SubElement(root, "name").text = name
    etree.SubElement(root, "capacity", unit="bytes").text = str(capacity)
    target = etree.SubElement(root, "target")
    etree.SubElement(target, "format", type="raw")
    etree.SubElement(etree.SubElement(target, "permissions"), "mode").text = "0644"
    return etree.tostring(root, encoding="unicode")


def seed_path(pool: libvirt.virStoragePool, stem: str) -> str:
    """A free path for `stem`'s seed in `pool`, chosen before anything is written there."""
    directory = pool_directory(pool)
    name = free_volume_name(pool, directory, f"{stem}-seed", ".img")
    return f"{directory.rstrip('/')}/{name}"


def pool_of(conn: libvirt.virConnect, path: str) -> libvirt.virStoragePool:
    volume = volume_at(conn, path)
    if volume is None:
        raise NotFound(f"the seed {path} is in no storage pool of the host")
    return volume.storagePoolLookupByVolume()


def write_seed(pool: libvirt.virStoragePool, path: str, data: bytes) -> str:
    """A raw volume at `path` (in `pool`) holding `data`; returns its path."""
    name = path.rsplit("/", 1)[-1]
    with claiming(path):
        volume = pool.createXML(raw_volume_xml(name, len(data)), 0)
    stream = pool.connect().newStream(0)
    try:
        volume.upload(stream, 0, len(data), 0)
        for start in range(0, len(data), CHUNK):
            stream.send(data[start : start + CHUNK])
        stream.finish()
    except libvirt.libvirtError as err:
        _abort(stream)
        if is_unsupported(err):
            raise HostError(
                "this host takes no upload into its pools, so no cloud-init seed:"
                " make the VM with --no-cloud-init (or --base)"
            ) from None
        raise
    except BaseException:
        _abort(stream)
        raise
    return volume.path()


def read_seed(conn: libvirt.virConnect, path: str) -> bytes:
    """The bytes of the seed image at `path` (a volume of a pool on the VM's host)."""
    volume = volume_at(conn, path)
    if volume is None:
        raise NotFound(f"the seed {path} is in no storage pool of the host")
    size = volume.info()[1]
    stream = conn.newStream(0)
    data = bytearray()
    try:
        volume.download(stream, 0, size, 0)
        while len(data) < size:
            chunk = stream.recv(CHUNK)
            if not chunk:
                break
            data += chunk
        stream.finish()
    except BaseException:
        _abort(stream)
        raise
    return bytes(data)


def _abort(stream: libvirt.virStream) -> None:
    with contextlib.suppress(libvirt.libvirtError):  # finished or broken: nothing to stop
        stream.abort()
