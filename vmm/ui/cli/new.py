"""`vmm new` and `vmm images`: new VMs from base and cloud images, and the images there are."""

from __future__ import annotations

import click

from vmm.model.errors import InvalidInput
from vmm.ui.cli.base import cli
from vmm.ui.cli.completion import complete_base_images, complete_folders, complete_pools
from vmm.ui.cli.output import echo, echo_json
from vmm.ui.cli.session import Session, pass_session


def _profile(name: str | None):
    from vmm.model import profiles
    from vmm.ui.config import config_path, load

    if name is None:
        return profiles.Profile()
    return profiles.resolve(dict(load(config_path()).profiles), name)


def _first(*values):
    return next((value for value in values if value is not None), None)


@cli.command("new")
@click.argument("name")
@click.option(
    "--image",
    metavar="IMAGE",
    help="Cloud image (path, POOL/VOLUME or volume name): a cloud-init seed lets you in.",
    shell_complete=complete_base_images,
)
@click.option(
    "--base",
    metavar="IMAGE",
    help="Base image that already works (no seed unless --ssh-key, --user or --user-data).",
    shell_complete=complete_base_images,
)
@click.option("-p", "--profile", help="A [profiles.NAME] table of the config.")
@click.option("--memory", type=click.IntRange(min=1), help="MiB  [default: 1024]")
@click.option("--vcpus", type=click.IntRange(min=1), help="[default: 1]")
@click.option("--disk-size", type=click.IntRange(min=1), help="GiB (default: the image's size).")
@click.option("--network", help="libvirt network (default: 'default' when the host has it).")
@click.option(
    "--to", "folder", metavar="PATH", shell_complete=complete_folders, help="Folder of the new VM."
)
@click.option("--label", "labels", multiple=True, help="A label for the new VM (repeatable).")
@click.option(
    "--pool",
    help="Storage pool for the VM's disk (default: the base image's pool).",
    shell_complete=complete_pools,
)
@click.option(
    "--arch", default="x86_64", show_default=True, help="The architecture the image is built for."
)
@click.option(
    "--ssh-key",
    "key_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Public key file to let in (repeatable; default: ~/.ssh/*.pub and the ssh-agent's).",
)
@click.option("--user", help="The user cloud-init makes (default: your user name).")
@click.option(
    "--user-data",
    type=click.Path(dir_okay=False),
    help="A #cloud-config file, merged into the seed's.",
)
@click.option("--no-cloud-init", is_flag=True, help="No seed: the image needs none.")
@pass_session
def new_command(
    session: Session,
    name: str,
    image: str | None,
    base: str | None,
    profile: str | None,
    memory: int | None,
    vcpus: int | None,
    disk_size: int | None,
    network: str | None,
    folder: str | None,
    labels: tuple[str, ...],
    pool: str | None,
    arch: str,
    key_files: tuple[str, ...],
    user: str | None,
    user_data: str | None,
    no_cloud_init: bool,
) -> None:
    """Define NAME with a disk that is a qcow2 overlay of an image.

    With --image (or a profile's image) a cloud-init seed is attached: the hostname is NAME,
    and a user (--user, default yours) logs in with your SSH public keys; `vmm ssh --wait
    NAME` gets in once it has booted. The seed is a small volume beside the disk, deleted
    with the VM; a clone gets a seed of its own (its own hostname and SSH host keys).

    \b
    Examples:
      vmm new web1 --image default/debian-12-genericcloud-amd64.qcow2 --memory 2048
      vmm new web2 -p web --to /lab/web && vmm ssh --wait web2 -- hostname
      vmm new box1 --base default/box.qcow2 --vcpus 2 --to /lab
    """
    from vmm.ops import create, identity

    if image and base:
        raise InvalidInput("give --image (a cloud image) or --base (one that needs no seed)")
    chosen = _profile(profile)
    ref = _first(image, base, chosen.image)
    if ref is None:
        raise InvalidInput("which image? give --image IMAGE, --base IMAGE or a profile with one")
    asks_for_seed = bool(key_files or user or user_data or chosen.user or chosen.user_data)
    if no_cloud_init and (key_files or user or user_data):
        raise InvalidInput("--no-cloud-init makes no seed: --ssh-key, --user, --user-data need one")
    wanted = not no_cloud_init and (
        asks_for_seed or (base is None and chosen.cloud_init is not False)
    )
    create.check_image(session.host(), ref)  # a wrong image is told before a missing key
    who = None
    if wanted:
        who = identity.identity(
            _first(user, chosen.user), key_files, _first(user_data, chosen.user_data)
        )
    shape = create.Shape(
        memory_mib=_first(memory, chosen.memory, 1024),
        vcpus=_first(vcpus, chosen.vcpus, 1),
        network=_first(network, chosen.network),
        arch=arch,
        disk_gib=_first(disk_size, chosen.disk),
    )
    message = create.new_vm_journalled(
        session.host(),
        name,
        ref,
        shape,
        _first(folder, chosen.folder),
        _first(pool, chosen.pool),
        who,
        (*chosen.labels, *labels),
    )
    echo(f"{name}: {message}")


@cli.command("images")
@click.option("--json", "as_json", is_flag=True, help="Print the images as a JSON array.")
@pass_session
def images_command(session: Session, as_json: bool) -> None:
    """The images new VMs can be made from (in every active pool), and the VMs on each.

    \b
    Examples:
      vmm images
      vmm images --json | jq -r '.[] | select(.vms == []) | .path'
    """
    from vmm.ops import catalog

    found = catalog.base_images(session.host().home.conn)
    if as_json:
        echo_json([entry.as_json() for entry in found])
        return
    for entry in found:
        vms = len(entry.vms)
        on = f"{vms} VM{'s' if vms != 1 else ''}" + (f": {', '.join(entry.vms)}" if vms else "")
        size = f"{entry.capacity / 2**30:.1f} GiB ({entry.allocation / 2**30:.2f} GiB on disk)"
        echo(f"{entry.path}  {entry.format}  {size}  {on}")
