"""The one place where libvirt's errors become vmm's, and where libvirt's error codes are read.

Above this package nothing names a libvirt error code: it asks `is_missing(err)` or lets
`as_vmm_errors()` turn the error into a VmmError with libvirt's message on one line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import libvirt

from vmm.model.errors import ConnectionFailed, HostError, InvalidState, NotFound, VmmError

LibvirtError = libvirt.libvirtError

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
_AUTH = {libvirt.VIR_ERR_AUTH_FAILED, libvirt.VIR_ERR_AUTH_UNAVAILABLE}


def _silence_libvirt_stderr() -> None:
    """libvirt prints every error on stderr by default; vmm reports them itself."""
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


_silence_libvirt_stderr()


def one_line(text: str) -> str:
    return " ".join(text.split())


def message(err: libvirt.libvirtError) -> str:
    """libvirt's message for `err`, on one line."""
    return one_line(err.get_error_message() or str(err))


def translate(err: libvirt.libvirtError) -> VmmError:
    """The vmm error for a libvirt error, with libvirt's message on one line."""
    code = err.get_error_code()
    if code in _NOT_FOUND:
        return NotFound(message(err))
    if code in _INVALID_STATE:
        return InvalidState(message(err))
    if code in _CONNECTION or err.get_error_domain() == libvirt.VIR_FROM_RPC:
        return ConnectionFailed(f"lost the connection to libvirt: {message(err)}")
    return HostError(message(err))


@contextlib.contextmanager
def as_vmm_errors() -> Iterator[None]:
    try:
        yield
    except libvirt.libvirtError as err:
        raise translate(err) from None


def is_missing(err: libvirt.libvirtError) -> bool:
    """The object asked for (VM, snapshot, pool, volume, network) is not there."""
    return err.get_error_code() in _NOT_FOUND


def is_domain_missing(err: libvirt.libvirtError) -> bool:
    return err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN


def is_snapshot_missing(err: libvirt.libvirtError) -> bool:
    return err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT


def is_wrong_state(err: libvirt.libvirtError) -> bool:
    """The call does not fit the domain's state (a live side of a VM that just shut down)."""
    return err.get_error_code() in _INVALID_STATE


def is_metadata_missing(err: libvirt.libvirtError) -> bool:
    return err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA


def is_unsupported(err: libvirt.libvirtError) -> bool:
    """The driver has no such call (the test driver lacks several)."""
    return err.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT


def is_unknown_flag(err: libvirt.libvirtError) -> bool:
    """The driver has the call but not the flag asked for, or no such call."""
    return err.get_error_code() in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_INVALID_ARG)


def is_auth_failure(err: libvirt.libvirtError) -> bool:
    return err.get_error_code() in _AUTH
