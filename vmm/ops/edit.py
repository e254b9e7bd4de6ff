"""Redefining a VM from edited XML: validated by libvirt, and nothing happens without a change."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

from lxml import etree

from vmm.model.definition import disks_of, parse_definition
from vmm.model.errors import InvalidInput, InvalidState
from vmm.model.metadata import parse
from vmm.virt import storage
from vmm.virt.domains import Conn, Dom, define, persistent_xml
from vmm.virt.errors import LibvirtError, as_vmm_errors, message
from vmm.virt.vm import Vm


def current_xml(dom: Dom) -> str:
    """The persistent definition, secrets kept, as the user edits it."""
    with as_vmm_errors():
        return persistent_xml(dom)


def redefine(dom: Dom, original: str, edited: str) -> str:
    """Define `edited` if it differs from `original`; libvirt's validation error on failure.

    Refused, before anything is defined: a definition that changed meanwhile (a `vmm mv` while
    the editor was open would be undone), and a missing or other UUID (with a new name, libvirt
    would define a second VM on the same disks)."""
    if edited.strip() == original.strip():
        return "no change"
    try:
        root = parse(edited)
    except etree.XMLSyntaxError as err:
        raise InvalidInput(f"not well-formed XML: {err}") from None
    if not _same_uuid(root.findtext("uuid"), dom.UUIDString()):
        raise InvalidInput("the UUID may not change or go (clone the VM instead)")
    if current_xml(dom) != original:
        raise ChangedMeanwhile(f"{dom.name()!r} was changed by someone else while you edited it")
    refuse_writing_a_base(dom.connect(), parse_definition(original), root)
    try:
        define(dom.connect(), edited)
    except LibvirtError as err:
        raise InvalidInput(f"libvirt refused it: {message(err)}") from None
    with as_vmm_errors():
        running = dom.isActive()
    return "definition saved" + (" (applies from the next start)" if running else "")


def refuse_writing_a_base(conn: Conn, original: etree._Element, edited: etree._Element) -> None:
    """A writable disk newly pointed at an image that other images build on (a linked clone's
    base) would change them underneath: refused, naming them."""
    before = {disk.path for disk in disks_of(original)}
    added = [d.path for d in disks_of(edited) if d.writable and d.path not in before]
    if not added:
        return
    with as_vmm_errors():
        backed = storage.dependants(conn, added)
    if backed:
        base, images = next(iter(backed.items()))
        raise InvalidInput(
            f"{base} is the base of {', '.join(images)}: a VM writing it would change them"
            " underneath; make a linked clone instead (vmm clone), or mark the disk <readonly/>"
        )


class ChangedMeanwhile(InvalidState):
    """The definition is not the one the user started from: defining theirs would undo that."""


def _same_uuid(text: str | None, uuid: str) -> bool:
    try:
        return text is not None and UUID(text.strip()) == UUID(uuid)
    except ValueError:
        return False


def editor_argv() -> list[str]:
    """$VISUAL, else $EDITOR, else vi; split like a shell would, run without one."""
    command = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        return shlex.split(command)
    except ValueError as err:
        raise InvalidInput(f"cannot read the editor command {command!r}: {err}") from None


class Draft:
    """The file the user edits, kept between attempts so that "edit again" starts from their
    text, and kept afterwards where their edits could not be defined."""

    def __init__(self, text: str, name: str) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="vmm-edit-"))
        self.path = self.directory / f"{name}.xml"
        self.path.write_text(text, encoding="utf-8")

    def edit(self) -> str:
        """Open the editor on the draft; what was saved, once it exits cleanly."""
        argv = editor_argv()
        if not argv or shutil.which(argv[0]) is None:
            name = argv[0] if argv else ""
            raise InvalidInput(f"editor {name!r} not found: set $VISUAL or $EDITOR")
        try:
            done = subprocess.run([*argv, str(self.path)], check=False)
        except OSError as err:
            raise InvalidState(f"cannot run {argv[0]}: {err.strerror}") from None
        if done.returncode != 0:  # vim's :cq, say: the user backed out
            raise EditorFailed(f"the editor exited with status {done.returncode}: nothing saved")
        try:
            return self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("the file is not UTF-8 text") from None
        except OSError as err:  # the editor moved or removed it
            raise InvalidState(f"cannot read the edited file: {err.strerror}") from None

    def discard(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class EditorFailed(InvalidState):
    pass


def edit_vm(vm: Vm, edit_again: Callable[[str], bool]) -> str:
    """`edit_and_define`, journalled when it changed something."""
    message = edit_and_define(vm.dom, edit_again)
    if message != "no change":
        vm.record("edit", message)
    return message


def edit_and_define(dom: Dom, edit_again: Callable[[str], bool]) -> str:
    """The whole edit: the user's editor on the persistent definition until it is defined,
    unchanged, or given up (`edit_again` answers whether to reopen after an error)."""
    original = current_xml(dom)
    draft = Draft(original, dom.UUIDString())
    keep = False
    try:
        while True:
            text = draft.edit()
            try:
                return redefine(dom, original, text)
            except ChangedMeanwhile as err:
                keep = True
                raise ChangedMeanwhile(f"{err}; your version is kept in {draft.path}") from None
            except InvalidInput as err:
                if not edit_again(str(err)):
                    raise
    finally:
        if not keep:
            draft.discard()
