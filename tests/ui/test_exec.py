"""`vmm exec VM -- CMD...`: a command run through the QEMU guest agent, and every way it cannot
be (the real guest running it is tests/guest/test_getting_in.py)."""

from __future__ import annotations

import libvirt
import pytest
from lxml import etree


def test_exec_needs_a_running_vm(run):
    result = run("exec", "beta", "--", "true")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["vmm: error: 'beta' is not running: start it first"]


def test_exec_where_the_host_has_no_guest_agent(run):
    # libvirt's test driver speaks to no agent: the error says so, in one line
    result = run("exec", "alpha", "--", "true")
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("vmm: error: 'alpha': this host's driver has no guest agent (")


def test_exec_needs_a_command(run):
    result = run("exec", "alpha")
    assert result.exit_code == 2 and "Missing argument 'COMMAND...'" in result.stderr


@pytest.mark.parametrize("seconds", ["-1", "nan", "soon"])
def test_exec_timeout_is_a_number_of_seconds(run, seconds):
    assert run("exec", "--timeout", seconds, "alpha", "--", "true").exit_code == 2


def test_exec_help_shows_an_example(run):
    result = run("exec", "--help")
    assert result.exit_code == 0
    example = result.stdout.split("Examples:\n", 1)[1].splitlines()[0]
    assert example.strip() == "vmm exec web -- cat /etc/hostname"


def _with_agent_channel(dom: libvirt.virDomain) -> libvirt.virDomain:
    xml = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    channel = etree.SubElement(xml.find("devices"), "channel", type="unix")
    etree.SubElement(channel, "target", type="virtio", name="org.qemu.guest_agent.0")
    return dom.connect().defineXML(etree.tostring(xml, encoding="unicode"))


@pytest.mark.hypervisor
def test_exec_in_a_vm_with_no_agent(kvm, kvm_run):
    """Real QEMU VMs with no operating system: one without the agent's channel, one with the
    channel and nothing in the guest to answer on it."""
    bare = kvm.vm("bare")
    listening = _with_agent_channel(kvm.vm("agentless"))
    for dom in (bare, listening):
        dom.create()
    try:
        result = kvm_run("exec", bare.name(), "--", "true")
        assert result.exit_code == 1
        assert result.stderr.splitlines() == [
            f"vmm: error: {bare.name()!r} has no guest agent channel (org.qemu.guest_agent.0)"
            " in its definition"
        ]
        result = kvm_run("exec", listening.name(), "--", "true")
        assert result.exit_code == 1
        assert result.stderr.splitlines() == [
            f"vmm: error: {listening.name()!r}: the guest agent is not connected (is"
            " qemu-guest-agent installed and running in the guest? it connects some seconds"
            " into the boot)"
        ]
    finally:
        for dom in (bare, listening):
            dom.destroy()


def test_exec_is_registered_lazily():
    from vmm.ui.cli.base import SUBCOMMANDS

    assert "exec" in SUBCOMMANDS["vmm.ui.cli.vm"]
