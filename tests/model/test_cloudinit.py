"""What a seed says: the cloud-config for the user and keys, the user's own merged in, a
clone's seed from its source's, and the checks on what the user gives."""

from __future__ import annotations

import pytest
import yaml

from vmm.model import cloudinit, fat
from vmm.model.cloudinit import Identity
from vmm.model.errors import InvalidInput

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEiK5q2PAp1SVVpHU5ecGzwvSqAMx1Z8mnxSKbr3i1bF a@b"


def config(identity: Identity) -> dict:
    text = cloudinit.user_data(identity)
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)


def test_a_user_gets_the_keys_and_sudo():
    [user] = config(Identity("ana", (KEY,)))["users"]
    assert user["name"] == "ana" and user["ssh_authorized_keys"] == [KEY]
    assert user["sudo"] == "ALL=(ALL) NOPASSWD:ALL" and user["lock_passwd"] is True


def test_root_logs_in_with_the_keys_itself():
    made = config(Identity("root", (KEY,)))
    assert made["disable_root"] is False and made["ssh_authorized_keys"] == [KEY]
    assert "users" not in made


def test_password_logins_are_off_without_making_cloud_init_restart_sshd():
    made = config(Identity("ana", (KEY,)))
    assert "ssh_pwauth" not in made  # its handler restarts sshd once it already answered
    assert made["write_files"] == [
        {
            "path": "/etc/ssh/sshd_config.d/90-vmm.conf",
            "content": "PasswordAuthentication no\n",
            "permissions": "0644",
        }
    ]


def test_the_users_cloud_config_is_merged_lists_joined_mappings_merged():
    extra = cloudinit.parse_user_data(
        "#cloud-config\nusers:\n  - name: ops\npackages: [nginx]\nssh_pwauth: true\n", "f"
    )
    made = config(Identity("ana", (KEY,), extra))
    assert [u["name"] for u in made["users"]] == ["ana", "ops"]
    assert made["packages"] == ["nginx"] and made["ssh_pwauth"] is True  # theirs wins
    assert cloudinit.merged({"a": {"b": 1, "c": [1]}}, {"a": {"c": [2], "d": 3}}) == {
        "a": {"b": 1, "c": [1, 2], "d": 3}
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("#!/bin/sh\necho\n", "its first line must be #cloud-config"),
        ("packages: [a]\n", "its first line must be #cloud-config"),
        ("#cloud-config\npackages: [a\n", "is not valid YAML at line 3"),
        ("#cloud-config\n- a\n", "must be a YAML mapping"),
    ],
)
def test_user_data_that_is_no_cloud_config_is_refused(text, message):
    with pytest.raises(InvalidInput, match=message):
        cloudinit.parse_user_data(text, "extra.yaml")


def test_empty_cloud_config_adds_nothing():
    assert cloudinit.parse_user_data("#cloud-config\n", "f") == {}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "is a private key"),
        ("hello world", "holds no SSH public key"),
        ("ssh-ed25519 $(reboot)", "holds no SSH public key"),
    ],
)
def test_what_is_no_public_key_is_refused(line, message):
    with pytest.raises(InvalidInput, match=message):
        cloudinit.public_keys(line + "\n", "k.pub")


def test_keys_files_keep_every_key_and_skip_comments():
    text = f"# mine\n{KEY}\n\necdsa-sha2-nistp256 AAAAE2VjZHNh x@y\n"
    assert cloudinit.public_keys(text, "k") == [KEY, "ecdsa-sha2-nistp256 AAAAE2VjZHNh x@y"]


@pytest.mark.parametrize("name", ["Ana", "1ana", "-x", "a b", "a;reboot", "x" * 33, ""])
def test_a_user_name_the_guest_cannot_have_is_refused(name):
    with pytest.raises(InvalidInput, match="cannot be a user name"):
        cloudinit.check_user(name)


@pytest.mark.parametrize(
    ("vm", "host"),
    [("web1", "web1"), ("Web 1", "web-1"), ("é$(x)", "x"), ("---", "vm"), ("a" * 80, "a" * 63)],
)
def test_the_hostname_is_the_vms_name_as_a_dns_label(vm, host):
    assert cloudinit.hostname_for(vm) == host


def test_a_clones_seed_has_its_sources_user_data_and_its_own_identity():
    user_data = cloudinit.user_data(Identity("ana", (KEY,)))
    source = fat.read(cloudinit.seed_image("web", user_data, "vmm-old"))
    clone = fat.read(cloudinit.reseeded(cloudinit.seed_image("web", user_data, "vmm-old"), "twin"))
    assert clone["user-data"] == source["user-data"] == user_data.encode()
    old, new = yaml.safe_load(source["meta-data"]), yaml.safe_load(clone["meta-data"])
    assert old == {"instance-id": "vmm-old", "local-hostname": "web"}
    assert new["local-hostname"] == "twin" and new["instance-id"] != "vmm-old"


def test_a_seed_vmm_did_not_write_cannot_be_reseeded():
    with pytest.raises(InvalidInput, match="cannot be read"):
        cloudinit.reseeded(b"\x00" * 1024, "twin")
