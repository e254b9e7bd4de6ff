"""What `vmm --version -v` reports of libvirt: the library vmm runs on, and a host's daemon."""

from __future__ import annotations

from dataclasses import dataclass

import libvirt

from vmm.virt.connection import open_connection
from vmm.virt.errors import as_vmm_errors


def _dotted(number: int) -> str:
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def library() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        binding = f" (libvirt-python {version('libvirt-python')})"
    except PackageNotFoundError:  # the distribution's python3-libvirt
        binding = ""
    return f"libvirt {_dotted(libvirt.getVersion())}{binding}"


@dataclass(frozen=True)
class Daemon:
    uri: str
    libvirt: str  # the daemon's libvirt
    hypervisor: str  # e.g. "QEMU 7.2.0", "Test 2.0.0"


def daemon(uri: str | None, timeout: float) -> Daemon:
    with as_vmm_errors():
        conn = open_connection(uri, readonly=True, timeout=timeout)
        try:
            kind = conn.getType()
            return Daemon(
                conn.getURI(),
                _dotted(conn.getLibVersion()),
                f"{kind} {_dotted(conn.getVersion())}",
            )
        finally:
            conn.close()
