"""Addresses and the programs vmm hands the terminal to (ssh, virsh console, virt-viewer)."""

import json
import shutil

import pytest
from conftest import node_uri, require, run_vmm

from vmm.model.errors import InvalidState
from vmm.virt import reach


def test_ip_reads_addresses_from_libvirt(run, host):
    # the test driver reports one fixed address for every running VM
    found = json.loads(run("ip", "alpha", "--json").stdout)
    assert found[0]["address"] == "192.168.122.3" and found[0]["source"] == "lease"
    assert "192.168.122.3/24" in run("ip", "alpha").stdout


def test_ip_source_asks_only_that_source(run, host):
    # the test driver answers every source with the same address
    for source in ("lease", "agent", "arp"):
        found = json.loads(run("ip", "alpha", "--json", "--source", source).stdout)
        assert {a["source"] for a in found} == {source}
    assert run("ip", "alpha", "--source", "dhcp").exit_code == 2  # not a source


def test_ip_of_a_shut_off_vm_is_an_error(run):
    result = run("ip", "beta")
    assert result.exit_code == 1 and "no known IP address for 'beta'" in result.stderr


def test_ssh_execs_ssh_with_the_address_and_args():
    require(shutil.which("ssh") is not None, "ssh is not installed")
    # `ssh ADDRESS -V` prints ssh's version and exits without connecting: proof of the exec
    result = run_vmm("-c", "test:///default", "ssh", "test", "--", "-V")
    assert result.returncode == 0 and "OpenSSH" in result.stderr


def test_argument_lists_never_carry_names():
    uuid = "6695eb01-f6a4-8304-79aa-97f2502e193f"
    assert reach.console_argv("qemu:///system", uuid) == [
        "virsh",
        "-c",
        "qemu:///system",
        "console",
        uuid,
    ]
    assert reach.ssh_argv("10.0.0.5", ("uptime",), "root") == [
        "ssh",
        "-o",
        f"ConnectTimeout={reach.SSH_CONNECT_TIMEOUT}",
        "-l",
        "root",
        "10.0.0.5",
        "uptime",
    ]


@pytest.mark.parametrize("said", ["-oProxyCommand=touch x", "10.0.0.5 -v", "host.example", ""])
def test_only_an_ip_address_from_the_guest_reaches_ssh(said):
    assert not reach.is_ip_address(said)
    with pytest.raises(InvalidState):
        reach.ssh_argv(said, ())
    assert reach.is_ip_address("fe80::1%eth0") and reach.is_ip_address("192.168.122.7")


def test_view_without_virt_viewer_says_how_to_get_it(tmp_path):
    result = run_vmm("-c", node_uri(), "view", "alpha", env={"PATH": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "vmm: error: virt-viewer is not installed (apt-get install virt-viewer)"
    ]
