"""One host and several answer the same protocol, and a VM handle knows its own host."""

from __future__ import annotations

import pytest
from conftest import node_uri

from vmm.virt.fleet import Fleet, HostSpec
from vmm.virt.host import Host
from vmm.virt.hosts import Hosts

MEMBERS = sorted({*Hosts.__annotations__, *(n for n in vars(Hosts) if not n.startswith("_"))})


@pytest.fixture
def fleet():
    opened = Fleet.open([HostSpec("a", node_uri()), HostSpec("b", node_uri("storage"))])
    yield opened
    opened.close()


def test_the_protocol_is_not_empty():
    assert {"several", "hosts", "vm", "vm_by_key", "domains", "warnings"} <= set(MEMBERS)


@pytest.mark.parametrize("member", MEMBERS)
def test_one_host_and_a_fleet_both_have(member, host: Host, fleet: Fleet):
    assert hasattr(host, member) and hasattr(fleet, member)


def test_several_says_which_it_is(host, fleet):
    assert (host.several, fleet.several) == (False, True)
    assert host.hosts == [host] and [h.name for h in fleet.hosts] == ["a", "b"]


def test_a_handle_names_the_host_its_vm_lives_on(fleet):
    alpha = fleet.vm("alpha")  # only host a has one
    assert alpha.host.name == "a" and alpha.name == "alpha"
    assert fleet.vm_by_key(alpha.key).uuid == alpha.uuid
    assert alpha.view().host == "a"
