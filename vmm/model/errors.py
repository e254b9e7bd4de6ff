"""The project's own errors: each carries a one-line message meant for a person.

Only the core raises them; the CLI and the picker turn them into `vmm: error: ...`.
"""


class VmmError(Exception):
    """Base of every error vmm reports to a user."""


class InvalidInput(VmmError):
    """A path, label or other argument the user gave cannot be used."""


class NotFound(VmmError):
    """A VM, folder or snapshot that does not exist."""


class ConnectionFailed(VmmError):
    """The libvirt host could not be reached or refused us."""


class InvalidState(VmmError):
    """The action makes no sense in the VM's current state."""


class HostError(VmmError):
    """libvirt refused or failed an operation."""


class NameTaken(HostError):
    """The image (or file) vmm was about to create is there already: another client made it
    between vmm's choice of its name and the creation. It is theirs; no undo may delete it."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} appeared while vmm was about to create it (another vmm making a VM of the"
            " same name?): it was left alone; try again"
        )
        self.path = path


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) ended an operation, which was undone: the message says so."""


def describe_os_error(err: OSError) -> str:
    """An OSError as one line: what failed, on which file."""
    where = f": {err.filename}" if err.filename else ""
    return f"{err.strerror or err}{where}"
