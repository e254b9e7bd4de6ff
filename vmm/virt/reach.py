"""Reaching a VM: its addresses, the route to them (`ssh -J` through a remote host), waiting
for ssh to answer, and the argument lists for ssh, the serial console and a viewer.

Commands are argument lists handed to exec, never shell strings; VMs are named to virsh and
virt-viewer by UUID, which cannot be mistaken for an option.
"""

from __future__ import annotations

import ipaddress
import re
import select
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import libvirt

from vmm.model.errors import HostError, Interrupted, InvalidInput, InvalidState, NotFound
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
    return _best(found)


def _best(found: list[Address]) -> str:
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


def ssh_argv(
    address: str, args: tuple[str, ...], user: str | None = None, jump: Jump | None = None
) -> list[str]:
    """ssh to `address`, through `jump` (the VM's remote host) when there is one."""
    if not is_ip_address(address):
        raise InvalidState(f"{address!r} is not an IP address")
    return [
        "ssh",
        "-o",
        f"ConnectTimeout={SSH_CONNECT_TIMEOUT}",
        *(["-J", jump.spec] if jump else []),
        *(["-l", user] if user else []),
        address,
        *args,
    ]


# -- the route: through the VM's host when it is remote -----------------------------------------

_SSH_TRANSPORTS = ("ssh", "libssh", "libssh2")  # qemu+ssh://user@host:port/system
_DIRECT_TRANSPORTS = ("", "tls", "tcp")  # qemu://host/system: libvirtd's port, not ssh's
_LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
# What ssh may be given as a jump host: OpenSSH writes the jump's user and host into a command
# line of its own (its ProxyCommand for -J), so nothing a shell reads may be in them.
_SAFE_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_SAFE_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class Jump:
    """The host ssh goes through to reach a guest on that host's private network."""

    host: str
    user: str | None = None
    port: int | None = None

    @property
    def spec(self) -> str:
        """As `ssh -J` takes it: [user@]host[:port], an IPv6 address in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.user}@" if self.user else ""
        return f"{user}{host}{f':{self.port}' if self.port else ''}"


def jump_for(uri: str) -> Jump | None:
    """The jump host for VMs of the host at `uri`: None for a local URI (qemu:///system).

    qemu+ssh://user@host:port/... goes through that ssh login, user and port kept; a direct
    remote URI (qemu://host/, qemu+tcp://host/) through `host` with ssh's own defaults (its port
    is libvirtd's). The URI's ssh parameters (keyfile=, no_verify=, ...) are libvirt's own: ssh
    takes no options for a jump host on its command line except through -F or ~/.ssh/config.
    """
    parts = urlsplit(uri)
    transport = parts.scheme.partition("+")[2].lower()
    host = parts.hostname
    if not host or transport not in (*_SSH_TRANSPORTS, *_DIRECT_TRANSPORTS):
        return None
    if transport in _DIRECT_TRANSPORTS:
        return None if host in _LOCAL_NAMES else Jump(_safe_host(host, uri))
    try:
        port = parts.port
    except ValueError:
        raise InvalidInput(f"{uri}: the port is not a number") from None
    user = unquote(parts.username) if parts.username else None
    if user is not None and not _SAFE_USER.fullmatch(user):
        raise InvalidInput(f"{uri}: cannot ssh through as user {user!r} (not a plain user name)")
    return Jump(_safe_host(host, uri), user, port)


def _safe_host(host: str, uri: str) -> str:
    if is_ip_address(host) or _SAFE_HOST.fullmatch(host):
        return host
    raise InvalidInput(f"{uri}: cannot ssh through {host!r} (not a plain host name)")


# -- waiting until ssh answers ------------------------------------------------------------------

PROBE_SECONDS = 3  # one try at port 22; a booting guest is asked again after a second
POLL_SECONDS = 1.0
# ssh's options, as its getopt knows them: those taking a value, and flags
_SSH_VALUED = set("BbcDEeFIiJLlmOopQRSWw")
_SSH_FLAGS = set("46AaCfGgKkMNnqsTtVvXxYy")
_JUMP_REFUSED = ("Permission denied", "Host key verification failed", "Could not resolve")


def config_file(args: tuple[str, ...]) -> str | None:
    """The -F FILE among ssh's options in `args` (before the remote command): ssh hands it to
    its jump too, so the probe through the jump host uses it as well."""
    found, i = None, 0
    while i < len(args) and args[i].startswith("-") and args[i] not in ("-", "--"):
        word = args[i]
        for at, letter in enumerate(word[1:], 1):
            if letter in _SSH_VALUED:
                value = word[at + 1 :] or (args[i + 1] if i + 1 < len(args) else "")
                i += 0 if word[at + 1 :] else 1
                found = value if letter == "F" else found
                break
            if letter not in _SSH_FLAGS:
                return found
        i += 1
    return found


def probe_argv(address: str, jump: Jump, config: str | None = None) -> list[str]:
    """What ssh -J itself runs to reach the guest (`ssh -l USER -p PORT [-F FILE] -W ...`), in
    batch mode: the guest's sshd greets through it once it listens, no login to the guest."""
    target = f"[{address}]:22" if ":" in address else f"{address}:22"
    return [
        "ssh",
        *("-o", "BatchMode=yes", "-o", f"ConnectTimeout={SSH_CONNECT_TIMEOUT}"),
        *(["-l", jump.user] if jump.user else []),
        *(["-p", str(jump.port)] if jump.port else []),
        *(["-F", config] if config else []),
        *("-W", target),
        f"[{jump.host}]" if ":" in jump.host else jump.host,
    ]


def port_22_answers(
    address: str, jump: Jump | None, config: str | None = None, within: float = PROBE_SECONDS
) -> str | None:
    """None when ssh's server on `address` greets (`SSH-2.0-...`) by the route ssh takes,
    in about `within` seconds; else why not. A TCP connect alone proves nothing: a gateway
    that proxies connections (some networks' do) accepts one for any address."""
    if jump is None:
        return _greets(address, min(PROBE_SECONDS, within))
    return _greets_through(probe_argv(address, jump, config), jump, within)


def _greets(address: str, seconds: float) -> str | None:
    deadline = time.monotonic() + seconds
    try:
        with socket.create_connection((address, 22), timeout=seconds) as connection:
            connection.settimeout(max(0.2, deadline - time.monotonic()))
            if connection.recv(64).startswith(b"SSH-"):
                return None
            return "port 22 answers, but not as an ssh server"
    except TimeoutError:
        return "no answer on port 22 (timed out)"
    except OSError as err:
        return f"no answer on port 22 ({err.strerror or err})"


def _greets_through(argv: list[str], jump: Jump, within: float) -> str | None:
    """Run the probe until the guest's sshd says `SSH-...` through it, or it gives up."""
    try:
        probe = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as err:
        raise HostError(f"cannot run ssh: {err.strerror}") from None
    try:
        patience = min(PROBE_SECONDS + SSH_CONNECT_TIMEOUT, within)
        ready, _, _ = select.select([probe.stdout], [], [], patience)
        if ready and probe.stdout.read1(64).startswith(b"SSH-"):
            return None
    finally:
        probe.kill()
        _, err = probe.communicate()
    lines = [line.strip() for line in err.decode(errors="replace").splitlines()]
    lines = [line for line in lines if line and line != "stdio forwarding failed"]
    said = lines[-1] if lines else "no greeting"
    if any(refusal in said for refusal in _JUMP_REFUSED):
        raise HostError(f"cannot ssh to the jump host {jump.spec}: {said}")
    return f"no answer on port 22 through {jump.spec} ({said})"


def wait_for_ssh(vm: Vm, seconds: float, jump: Jump | None, config: str | None = None) -> str:
    """The VM's address once it has one and its port 22 answers (through `jump`), within
    `seconds`; else a HostError saying what was still missing."""
    name, started = vm.name, time.monotonic()
    missing = "no IP address yet"
    try:
        while True:
            if not vm.dom.isActive():
                raise InvalidState(f"{name!r} is not running (any more): nothing to wait for")
            found = addresses(vm)
            if found:
                address = _best(found)
                within = max(1.0, seconds - (time.monotonic() - started))
                why = port_22_answers(address, jump, config, within)
                if why is None:
                    return address
                missing = f"{address}: {why}"
            else:
                missing = "no IP address yet"
            left = seconds - (time.monotonic() - started)
            if left <= 0:
                raise HostError(f"{name!r} does not answer ssh after {seconds:g} s: {missing}")
            time.sleep(min(POLL_SECONDS, left))
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted while waiting for {name!r} to answer ssh ({missing}); nothing changed"
        ) from None


def console_argv(uri: str, uuid: str) -> list[str]:
    return ["virsh", "-c", uri, "console", uuid]


def viewer_argv(uri: str, uuid: str) -> list[str]:
    if shutil.which("virt-viewer") is None:
        raise NotFound("virt-viewer is not installed (apt-get install virt-viewer)")
    return ["virt-viewer", "--connect", uri, uuid]
