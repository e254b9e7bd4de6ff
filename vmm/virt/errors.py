"""The one place where libvirt's errors become vmm's, and where libvirt's error codes are read.

Above this package nothing names a libvirt error code: it asks `is_missing(err)` or lets
`as_vmm_errors()` turn the error into a VmmError with libvirt's message on one line.
"""

from __future__ import annotations

import contextlib
import re
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


# libvirt's message opens with its error code's own words ("Requested operation is not
# valid: ..."), which say nothing to a user once the detail follows.
_CODE_WORDS = re.compile(
    r"^(operation failed|internal error|Requested operation is not valid|invalid argument"
    r"|unsupported configuration|Operation not supported|argument unsupported"
    r"|Domain not found|Domain snapshot not found|Storage pool not found"
    r"|Storage volume not found|Network not found): ",
    re.IGNORECASE,
)
_GONE = (
    "it is gone: another client removed it, or it was transient (a transient VM ends when it"
    " shuts down)"
)
# libvirt's wording, in words a user of vmm knows (a "domain moment" is a snapshot)
_REWORDED = [
    (r"domain (?:moment|snapshot) (.+) already exists", r"a snapshot named '\1' already exists"),
    (r"no domain (?:moment|snapshot) with matching name '(.+)'", r"no snapshot named '\1'"),
    (r"domain '.*' is already running|domain is already running", "it is already running"),
    (r"domain '.*' not paused|domain is not paused", "it is not paused"),
    (r"domain '.*' is not running|domain is not running", "it is not running"),
    (r"domain is already active", "it is already running"),
    (r"cannot do managed save for transient domain",
     "a transient VM's state cannot be saved (only a defined VM's)"),
    (r"domain has no managed save image", "it has no saved state"),
    (r"no domain with matching (?:uuid|name|id) .*", _GONE),
]  # fmt: skip
_ALONE = {  # a message that is nothing but its code's words
    "requested operation is not valid": "not possible in the VM's current state",
    "domain not found": _GONE,
    "operation failed": "libvirt could not do it (it gave no reason)",
}


def words(err: libvirt.libvirtError) -> str:
    """libvirt's message for `err` on one line, in words a user knows."""
    said = message(err)
    if said.casefold() in _ALONE:
        return _ALONE[said.casefold()]
    said = _CODE_WORDS.sub("", said, count=1)
    for pattern, replacement in _REWORDED:
        reworded = re.sub(f"^(?:{pattern})$", replacement, said, flags=re.IGNORECASE)
        if reworded != said:
            return reworded
    return said


def translate(err: libvirt.libvirtError) -> VmmError:
    """The vmm error for a libvirt error, its message on one line in words a user knows."""
    code = err.get_error_code()
    if code in _NOT_FOUND:
        return NotFound(words(err))
    if code in _INVALID_STATE:
        return InvalidState(words(err))
    if code in _CONNECTION or err.get_error_domain() == libvirt.VIR_FROM_RPC:
        return ConnectionFailed(f"lost the connection to libvirt: {message(err)}")
    return HostError(words(err))


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
