"""Deleting a VM, and with `storage` its disk volumes, without breaking any linked clone."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from vmm.model.definition import Definition, disks_of, parse_definition
from vmm.model.errors import InvalidState
from vmm.model.seed import seed_of
from vmm.ops import faults
from vmm.ops.intents import Intent, Leftover
from vmm.virt import storage
from vmm.virt.domains import Conn, Dom, Volume, stored_xml, undefine


@dataclass(frozen=True)
class StoragePlan:
    """What `rm --storage` does with each of the VM's disks, decided before anything goes."""

    delete: list[Volume]
    kept: list[tuple[str, str]]  # (image, why it stays)


def plan_storage(dom: Dom, conn: Conn, xml: etree._Element) -> StoragePlan:
    """The VM's own writable disks in a pool go; every other disk stays, with the reason."""
    delete: list[Volume] = []
    kept: list[tuple[str, str]] = []
    disks = [disk for disk in disks_of(xml) if disk.device == "disk" and disk.path]
    others = storage.owners(conn, [disk.path for disk in disks], besides=dom)
    for disk in disks:
        volume = storage.volume_at(conn, disk.path) if disk.writable else None
        if not disk.writable:
            kept.append((disk.path, "shared" if disk.shareable else "read-only"))
        elif disk.path in others:
            kept.append((disk.path, f"also a disk of {others[disk.path]!r}"))
        elif volume is None:
            kept.append((disk.path, "outside any storage pool"))
        else:
            delete.append(volume)
    return StoragePlan(delete, kept)


def refuse_shared_bases(dom: Dom, conn: Conn, volumes: list[Volume]) -> None:
    if not volumes:
        return  # the disks stay: whatever builds on them keeps working
    paths = [volume.path() for volume in volumes]
    users = storage.dependants(conn, paths)
    if not users:
        return
    dependent_images = [image for images in users.values() for image in images]
    names = storage.owners(conn, dependent_images)
    who = sorted({names.get(image, image) for image in dependent_images})
    raise InvalidState(
        f"cannot delete {dom.name()!r} with its storage: its disk backs other images;"
        f" delete these first: {', '.join(who)}"
    )


def unused_bases(conn: Conn, beneath: list[str]) -> list[str]:
    """Of the images that were beneath deleted disks, those nothing builds on any more: no
    VM's disk, no volume's backing image. vmm does not know who made them (a cloud image, a
    frozen source), so they are named to the user, not deleted."""
    if not beneath:
        return []
    still_backing = storage.dependants(conn, beneath)
    used = storage.owners(conn, beneath)
    return sorted({b for b in beneath if b not in still_backing and b not in used})


def delete(dom: Dom, *, with_storage: bool = False, force: bool = False) -> str:
    """Undefine the VM (with its saved state and snapshot metadata), then its volumes.

    Every check runs before anything is removed: a running VM without `force`, or a disk that
    backs another image (a linked clone), stops the whole deletion. What it keeps, it says.
    """
    conn = dom.connect()
    name = dom.name()
    if dom.isActive() and not force:
        raise InvalidState(f"{name!r} is running; force it off first or use --force")
    persistent = bool(dom.isPersistent())  # a transient VM is gone once destroyed
    xml = parse_definition(stored_xml(dom))
    plan = plan_storage(dom, conn, xml) if with_storage else StoragePlan([], [])
    refuse_shared_bases(dom, conn, plan.delete)
    paths = [volume.path() for volume in plan.delete]
    beneath = [base for path in paths for base in storage.backing_chain(conn, path)[:1]]
    seed = own_seed(dom, conn, xml)
    gone = [*paths, *([seed.path()] if seed is not None else [])]
    intent = Intent(f"deletion of {name!r}", conn.getURI()) if gone else None
    for path in paths:
        intent.add(Leftover("volume", path, f"a disk of the deleted VM {name!r}"))
    if seed is not None:
        intent.add(Leftover("volume", seed.path(), f"the cloud-init seed of the deleted {name!r}"))
    if dom.isActive():
        dom.destroy()
    if persistent:
        undefine(dom, nvram=Definition.of(xml).has_nvram, everything=True)
    faults.point("rm.undefined")
    for volume in plan.delete:
        volume.delete(0)
    if seed is not None:
        seed.delete(0)
    if intent is not None:
        intent.done()
    kept = [(path, why) for path, why in plan.kept if path not in gone]
    return _deletion_message(gone, kept, unused_bases(conn, beneath))


def own_seed(dom: Dom, conn: Conn, xml: etree._Element) -> Volume | None:
    """The cloud-init seed vmm made for the VM: deleted with it (with --storage or not), as
    it is of no use to anything else; kept if another VM has it as a disk after all."""
    path = seed_of(xml)
    if path is None or path not in {disk.path for disk in disks_of(xml)}:
        return None
    if storage.owners(conn, [path], besides=dom):
        return None
    return storage.volume_at(conn, path)


def _deletion_message(deleted: list[str], kept: list[tuple[str, str]], unused: list[str]) -> str:
    parts = ["deleted"]
    if deleted:
        parts.append(f"with {', '.join(deleted)}")
    if kept:
        parts.append("; kept " + ", ".join(f"{path} ({why})" for path, why in kept))
    if unused:
        parts.append(
            f"; {', '.join(unused)} no longer backs any image or VM: kept"
            " (delete it with virsh vol-delete PATH if nothing else needs it)"
        )
    return " ".join(parts).replace(" ;", ";")
