"""[profiles.NAME] tables: inheritance through `base`, and each mistake one clear error."""

from __future__ import annotations

import pytest

from vmm.model.errors import InvalidInput
from vmm.model.profiles import Profile, resolve

TABLES = {
    "small": {"image": "default/debian-12.qcow2", "memory": 512, "labels": ["lab"]},
    "web": {"base": "small", "memory": 2048, "folder": "/lab/web", "network": "lan"},
    "big-web": {"base": "web", "vcpus": 4, "disk": 40},
}


def test_a_profile_inherits_its_base_chain_its_own_settings_winning():
    assert resolve(TABLES, "big-web") == Profile(
        image="default/debian-12.qcow2",
        memory=2048,
        vcpus=4,
        disk=40,
        network="lan",
        folder="/lab/web",
        labels=("lab",),
    )


@pytest.mark.parametrize(
    ("tables", "name", "message"),
    [
        ({"a": {"base": "b"}, "b": {"base": "a"}}, "a", "inherit in a circle: a -> b -> a"),
        ({"a": {"base": "a"}}, "a", "inherit in a circle: a -> a"),
        ({"a": {"base": "gone"}}, "a", "no profile 'gone' \\(the base of 'a'\\)"),
        ({}, "web", "no profile 'web'; profiles: none in the config"),
        ({"a": {"memroy": 1}}, "a", "unknown key 'memroy'"),
        ({"a": {"memory": "2G"}}, "a", "'memory' has the wrong type"),
        ({"a": {"memory": True}}, "a", "'memory' has the wrong type"),
        ({"a": {"vcpus": 0}}, "a", "'vcpus' must be at least 1"),
        ({"a": {"labels": [1]}}, "a", "'labels' must be a list of strings"),
        ({"a": "x"}, "a", "is no table"),
    ],
)
def test_a_bad_profile_is_one_clear_error(tables, name, message):
    with pytest.raises(InvalidInput, match=message):
        resolve(tables, name)
