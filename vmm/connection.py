"""Opening libvirt connections, and the one place where libvirt's errors become vmm's."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import libvirt

from vmm.errors import ConnectionFailed, HostError, InvalidState, NotFound, VmmError

_NOT_FOUND = {
    libvirt.VIR_ERR_NO_DOMAIN,
    libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT,
    libvirt.VIR_ERR_NO_STORAGE_POOL,
    libvirt.VIR_ERR_NO_STORAGE_VOL,
    libvirt.VIR_ERR_NO_NETWORK,
}
_INVALID_STATE = {libvirt.VIR_ERR_OPERATION_INVALID}
_CONNECTION = {
    libvirt.VIR_ERR_NO_CONNECT,
    libvirt.VIR_ERR_INVALID_CONN,
    libvirt.VIR_ERR_AUTH_FAILED,
    libvirt.VIR_ERR_AUTH_CANCELLED,
    libvirt.VIR_ERR_AUTH_UNAVAILABLE,
    libvirt.VIR_ERR_RPC,
}


def _silence_libvirt_stderr() -> None:
    """libvirt prints every error on stderr by default; vmm reports them itself."""
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


_silence_libvirt_stderr()


def one_line(text: str) -> str:
    return " ".join(text.split())


def translate(err: libvirt.libvirtError) -> VmmError:
    """The vmm error for a libvirt error, with libvirt's message on one line."""
    code = err.get_error_code()
    message = one_line(err.get_error_message() or str(err))
    if code in _NOT_FOUND:
        return NotFound(message)
    if code in _INVALID_STATE:
        return InvalidState(message)
    if code in _CONNECTION or err.get_error_domain() == libvirt.VIR_FROM_RPC:
        return ConnectionFailed(f"lost the connection to libvirt: {message}")
    return HostError(message)


@contextlib.contextmanager
def libvirt_errors() -> Iterator[None]:
    try:
        yield
    except libvirt.libvirtError as err:
        raise translate(err) from None


# URI schemes of libvirt's drivers; anything else is a typo, not a host.
# fmt: off
_DRIVERS = frozenset({
    "qemu", "test", "lxc", "xen", "libxl", "vbox", "vmwareplayer", "vmwarews", "vmwarefusion",
    "esx", "gsx", "vpx", "hyperv", "openvz", "bhyve", "ch", "vz", "parallels", "virtuozzo",
    "remote", "network", "nodedev", "nwfilter", "secret", "storage", "interface",
})
# fmt: on


def check_uri(uri: str) -> None:
    """Refuse what libvirt would misread: a foreign scheme, a test node file that is not there."""
    scheme = uri.split(":", 1)[0] if ":" in uri else ""
    if scheme.split("+", 1)[0].lower() not in _DRIVERS:
        raise ConnectionFailed(
            f"{uri!r} is not a libvirt URI (examples: qemu:///system, qemu+ssh://host/system)"
        )
    # libxml2 would print its own warning about a missing node file before failing
    node = uri.removeprefix("test://").split("?", 1)[0]
    if scheme == "test" and node not in ("/default", "") and not os.path.isfile(node):
        raise ConnectionFailed(f"cannot connect to {uri}: no test node file {node}")


def open_connection(uri: str | None, *, readonly: bool = False) -> libvirt.virConnect:
    """Open `uri` (None: libvirt's own default), or fail with a message that says which URI."""
    if uri:
        check_uri(uri)
    try:
        if readonly:
            return libvirt.openReadOnly(uri)
        return libvirt.open(uri)
    except libvirt.libvirtError as err:
        shown = uri or "libvirt's default URI"
        hint = ""
        if err.get_error_code() in (libvirt.VIR_ERR_AUTH_FAILED, libvirt.VIR_ERR_AUTH_UNAVAILABLE):
            hint = " (is your user in the 'libvirt' group?)"
        message = one_line(err.get_error_message() or str(err))
        raise ConnectionFailed(f"cannot connect to {shown}: {message}{hint}") from None
