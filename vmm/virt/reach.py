"""Reaching a VM: its addresses, and the argument lists for ssh, the serial console and a viewer.

Commands are argument lists handed to exec, never shell strings; VMs are named to virsh and
virt-viewer by UUID, which cannot be mistaken for an option.
"""

from __future__ import annotations

import ipaddress
import shutil
from dataclasses import dataclass

import libvirt

from vmm.model.errors import InvalidState, NotFound
from vmm.virt.vm import Vm

SOURCES = (
    ("lease", libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE),
    ("agent", libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT),
    ("arp", libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP),
)


@dataclass(frozen=True)
class Address:
    interface: str
    mac: str
    address: str
    prefix: int
    source: str

    @property
    def ipv4(self) -> bool:
        return ":" not in self.address


def addresses(vm: Vm, source: str | None = None) -> list[Address]:
    """From the DHCP lease, else the guest agent, else the ARP table: the first that answers
    (only `source`, one of SOURCES' names, when given)."""
    dom = vm.dom
    if not dom.isActive():
        return []
    for name, flag in SOURCES:
        if source is not None and name != source:
            continue
        try:
            found = dom.interfaceAddresses(flag, 0)
        except libvirt.libvirtError:
            continue  # no agent, no network with leases: try the next source
        result = [
            Address(ifname, iface.get("hwaddr") or "", a["addr"], a.get("prefix", 0), name)
            for ifname, iface in sorted(found.items())
            for a in iface.get("addrs") or []
            if is_ip_address(a["addr"]) and not a["addr"].startswith(("127.", "::1"))
        ]
        if result:
            return result
    return []


def first_address(vm: Vm) -> str:
    found = addresses(vm)
    if not found:
        raise InvalidState(f"{vm.name!r} has no known IP address (is it running, with DHCP?)")
    return sorted(found, key=lambda a: not a.ipv4)[0].address


def is_ip_address(text: str) -> bool:
    """The guest agent reports what the guest says: only a real address may reach ssh's argv
    (`-oProxyCommand=...` would be an option)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# Seconds ssh may take to connect: an address nothing answers at (a VM that went away, a lease
# from another network) ends in ssh's own "Connection timed out" instead of a hang.
SSH_CONNECT_TIMEOUT = 10


def ssh_argv(address: str, args: tuple[str, ...], user: str | None = None) -> list[str]:
    if not is_ip_address(address):
        raise InvalidState(f"{address!r} is not an IP address")
    return [
        "ssh",
        "-o",
        f"ConnectTimeout={SSH_CONNECT_TIMEOUT}",
        *(["-l", user] if user else []),
        address,
        *args,
    ]


def console_argv(uri: str, uuid: str) -> list[str]:
    return ["virsh", "-c", uri, "console", uuid]


def viewer_argv(uri: str, uuid: str) -> list[str]:
    if shutil.which("virt-viewer") is None:
        raise NotFound("virt-viewer is not installed (apt-get install virt-viewer)")
    return ["virt-viewer", "--connect", uri, uuid]
