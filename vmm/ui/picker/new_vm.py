"""New VM from the picker: virt-manager's wizard where it is installed, else a name and a base
image, made and journalled as `vmm new` does."""

from __future__ import annotations

import shutil

from vmm.model.domain import on_host
from vmm.model.errors import VmmError
from vmm.ui.picker.protocol import PickerFlow
from vmm.ui.picker.vm_screens import detach
from vmm.virt.errors import as_vmm_errors


def new_vm(picker: PickerFlow, folder: str) -> None:
    home = picker.host.home  # where `vmm new` defines it too
    if shutil.which("virt-manager"):
        detach(["virt-manager", "--connect", home.uri, "--show-domain-creator"])
        picker.report("virt-manager's new VM wizard opened")
        return
    from vmm.ops import create

    name = picker.ask("new VM name", [], f"a new VM in {folder}, on an overlay of a base image")
    if name is None:
        return
    try:
        with as_vmm_errors():
            bases = create.volume_paths(home.conn)
    except VmmError as err:
        picker.report(str(err), error=True)
        return
    base = picker.ask("base image", bases, f"the base image for {name}", existing=True)
    if base is None:
        return

    def make() -> str:
        return f"{name}: {create.new_vm_journalled(picker.host, name, base, folder=folder)}"

    if picker.attempt(make):
        picker.attempt(lambda: picker.add(on_host(home.name, name)))
