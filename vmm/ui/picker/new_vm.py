"""New VM from the picker: a name, then a profile of the config or a base image (or
virt-manager's wizard, where it is installed), made and journalled as `vmm new` does."""

from __future__ import annotations

import shutil

from vmm.model.domain import on_host
from vmm.model.errors import VmmError
from vmm.ui.picker.protocol import PickerFlow
from vmm.ui.picker.vm_screens import detach
from vmm.virt.errors import as_vmm_errors

PROFILE = "profile: "
WIZARD = "virt-manager's new VM wizard…"


def _profiles() -> dict:
    from vmm.ui.config import config_path, load

    return dict(load(config_path()).profiles)


def new_vm(picker: PickerFlow, folder: str) -> None:
    home = picker.host.home  # where `vmm new` defines it too
    from vmm.ops import create

    try:
        profiles = _profiles()
        with as_vmm_errors():
            bases = create.volume_paths(home.conn)
    except VmmError as err:
        picker.report(str(err), error=True)
        return
    name = picker.ask("new VM name", [], f"a new VM in {folder}, from a profile or a base image")
    if name is None:
        return
    offered = [f"{PROFILE}{p}" for p in sorted(profiles)] + bases
    if shutil.which("virt-manager"):
        offered.append(WIZARD)
    hint = f"{name} from: a profile (cloud-init lets you in), or a base image as it is"
    chosen = picker.ask("profile or base image", offered, hint, existing=True)
    if chosen is None:
        return
    if chosen == WIZARD:
        detach(["virt-manager", "--connect", home.uri, "--show-domain-creator"])
        picker.report("virt-manager's new VM wizard opened")
        return

    def make() -> str:
        if chosen.startswith(PROFILE) and chosen.removeprefix(PROFILE) in profiles:
            made = create.new_from_profile(
                picker.host, name, profiles, chosen.removeprefix(PROFILE), folder
            )
        else:
            made = create.new_vm_journalled(picker.host, name, chosen, folder=folder)
        return f"{name}: {made}"

    if picker.attempt(make):
        picker.attempt(lambda: picker.add(on_host(home.name, name)))
