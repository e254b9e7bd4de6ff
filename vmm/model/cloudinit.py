"""What a new VM's cloud-init NoCloud seed says, and where the VM's definition records it.

Pure: values in, text and bytes out. The seed is a FAT file system labelled CIDATA (see
vmm.model.fat) holding `meta-data` (the instance's id and hostname) and `user-data` (a
cloud-config: the user, their SSH keys, and whatever the user's own --user-data adds). A clone
gets a seed of its own from its source's: the same user-data under a new instance-id and its
own hostname, so cloud-init gives it new SSH host keys.
The definition records the seed as vmm.model.seed says.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import yaml

from vmm.model import fat
from vmm.model.errors import InvalidInput

LABEL = "cidata"
META_DATA, USER_DATA = "meta-data", "user-data"
CLOUD_CONFIG = "#cloud-config"
SUDO_ANYTHING = "ALL=(ALL) NOPASSWD:ALL"
# Password logins off through a drop-in written before sshd first starts, not with `ssh_pwauth`:
# that makes cloud-init restart sshd seconds after it first answered, and an ssh then is refused.
# sshd keeps the first value it reads: cloud-init's 50-cloud-init.conf (a user's `ssh_pwauth`)
# comes before it and wins.
NO_PASSWORD_LOGINS = {
    "path": "/etc/ssh/sshd_config.d/90-vmm.conf",
    "content": "PasswordAuthentication no\n",
    "permissions": "0644",
}
_KEY_TYPES = re.compile(r"(ssh-|ecdsa-|sk-ssh-|sk-ecdsa-)[A-Za-z0-9@.-]+ [A-Za-z0-9+/=]+")


@dataclass(frozen=True)
class Identity:
    """Who may log in to the new VM, and what else its cloud-config holds."""

    user: str
    keys: tuple[str, ...]
    extra: dict | None = None  # the user's --user-data, parsed


def check_public_key(line: str, where: str) -> str:
    line = line.strip()
    if line.startswith("-----BEGIN"):
        raise InvalidInput(f"{where} is a private key: give the public one (its .pub)")
    if not _KEY_TYPES.match(line):
        raise InvalidInput(f"{where} holds no SSH public key (a line like 'ssh-ed25519 AAAA...')")
    return line


def public_keys(text: str, where: str) -> list[str]:
    """The keys of an authorized_keys-style text (one per line, # comments allowed)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        raise InvalidInput(f"{where} holds no SSH public key")
    return [check_public_key(line, where) for line in lines]


def check_user(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", name):
        raise InvalidInput(
            f"{name!r} cannot be a user name in the guest: lower-case letters, digits, _ and -,"
            " at most 32, not starting with a digit or -"
        )
    return name


def parse_user_data(text: str, where: str) -> dict:
    """The user's cloud-config, checked: a `#cloud-config` first line and a YAML mapping."""
    if text.splitlines()[:1] != [CLOUD_CONFIG]:
        raise InvalidInput(f"{where} is no cloud-config: its first line must be {CLOUD_CONFIG}")
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "not YAML"
        raise InvalidInput(f"{where} is not valid YAML{at}: {problem}") from None
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise InvalidInput(f"{where} is no cloud-config: it must be a YAML mapping (key: value)")
    return parsed


def merged(ours: dict, theirs: dict) -> dict:
    """`theirs` over `ours`: mappings merged key by key, lists joined, other values theirs."""
    out = dict(ours)
    for key, value in theirs.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = [*out[key], *value]
        else:
            out[key] = value
    return out


def cloud_config(identity: Identity) -> dict:
    """The user with their keys and password-less sudo; root logs in with the keys itself."""
    keys = list(identity.keys)
    if identity.user == "root":
        config: dict = {"disable_root": False, "ssh_authorized_keys": keys}
    else:
        user = {
            "name": identity.user,
            "shell": "/bin/bash",
            "sudo": SUDO_ANYTHING,
            "lock_passwd": True,
            "ssh_authorized_keys": keys,
        }
        config = {"users": [user]}
    config["write_files"] = [NO_PASSWORD_LOGINS]
    return merged(config, identity.extra or {})


def user_data(identity: Identity) -> str:
    body = yaml.safe_dump(cloud_config(identity), sort_keys=False, allow_unicode=True)
    return f"{CLOUD_CONFIG}\n{body}"


def meta_data(hostname: str, instance_id: str) -> str:
    return yaml.safe_dump({"instance-id": instance_id, "local-hostname": hostname}, sort_keys=False)


def hostname_for(name: str) -> str:
    """A host name for the VM `name`: what a DNS label may hold, else the VM's name cut down."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return label or "vm"


def new_instance_id() -> str:
    return f"vmm-{uuid.uuid4()}"


def seed_image(hostname: str, user_data_text: str, instance_id: str | None = None) -> bytes:
    files = {
        META_DATA: meta_data(hostname, instance_id or new_instance_id()).encode(),
        USER_DATA: user_data_text.encode(),
    }
    return fat.image(files, LABEL)


def reseeded(source_seed: bytes, hostname: str) -> bytes:
    """A clone's seed: its source's user-data, a new instance-id, the clone's hostname."""
    try:
        files = fat.read(source_seed)
    except fat.NotOurImage as err:
        raise InvalidInput(f"the source's seed cannot be read: {err}") from None
    if USER_DATA not in files:
        raise InvalidInput("the source's seed holds no user-data")
    return seed_image(hostname, files[USER_DATA].decode())
