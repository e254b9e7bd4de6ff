import dataclasses
import json
from pathlib import Path

import pytest

from vmm.model.domain import Domain
from vmm.model.metadata import Metadata
from vmm.ui import cache


def a_domain(**changes):
    fields = dict(
        name="web", uuid="u-1", state="running", persistent=True,
        meta=Metadata("/lab", ("a",), ("<x/>",)), managed_save=False,
        snapshots=2, vcpus=2, memory_kib=1024, host="h", qualified="h:web",
    )  # fmt: skip
    return Domain(**{**fields, **changes})


def test_a_listing_round_trips(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    listing = [a_domain(), a_domain(name="db", uuid="u-2", warning="odd metadata")]
    cache.save("qemu:///system", listing)
    assert cache.load("qemu:///system") == listing
    assert cache.load("qemu+ssh://other/system") is None


def test_a_damaged_cache_is_no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache.save("k", [a_domain()])
    Path(cache.cache_path("k")).write_text("{not json")
    assert cache.load("k") is None


def test_an_unwritable_cache_is_not_an_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    cache.save("k", [a_domain()])
    assert cache.load("k") is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: None,
        lambda data: [],
        lambda data: "x",
        lambda data: {**data, "domains": {}},
        lambda data: {**data, "domains": [{**data["domains"][0], "name": None}]},
        lambda data: {**data, "domains": [{**data["domains"][0], "vcpus": "2"}]},
        lambda data: {**data, "domains": [{**data["domains"][0], "persistent": 1}]},
        lambda data: {**data, "domains": [{**data["domains"][0], "colour": "red"}]},
        lambda data: {**data, "domains": [{**data["domains"][0], "meta": {"path": 1}}]},
    ],
)
def test_a_cache_of_the_wrong_shape_is_no_cache(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache.save("k", [a_domain()])
    path = Path(cache.cache_path("k"))
    path.write_text(json.dumps(damage(json.loads(path.read_text()))))
    assert cache.load("k") is None


def test_the_checked_fields_are_the_domain_views():
    assert set(cache.RECORD) | {"meta"} == {f.name for f in dataclasses.fields(Domain)}
