"""All-or-nothing multi-step work: each step that makes something registers how to undo it."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from uuid import uuid4

from vmm.model.definition import Definition
from vmm.model.errors import (
    HostError,
    Interrupted,
    InvalidInput,
    NameTaken,
    VmmError,
    describe_os_error,
)
from vmm.model.metadata import has_control_chars
from vmm.ops.intents import Intent, Leftover
from vmm.virt import images, interrupts
from vmm.virt.domains import Conn, Dom, Pool, by_name, by_uuid, define, undefine
from vmm.virt.errors import LibvirtError


class Rollback:
    """Undo steps, run newest first when the operation as a whole fails.

    With an intent, what each step is about to make is on disk before the step runs, so a
    crash that leaves no chance to undo still leaves a record (see vmm.ops.intents)."""

    def __init__(self, intent: Intent | None = None) -> None:
        self._steps: list[Callable[[], None]] = []
        self.intent = intent
        self.made: set[str] = set()

    @contextlib.contextmanager
    def making(self, path: str) -> Iterator[None]:
        """The block creates the image at `path` (tracked with `track_image`): from here its
        undo removes it; if the block finds the name taken (NameTaken), it is another
        client's, made between the choice of the name and now, and the undo leaves it be."""
        self.made.add(path)
        try:
            yield
        except NameTaken:
            self.made.discard(path)
            if self.intent is not None:
                self.intent.drop("image", path)
            raise

    def push(self, undo: Callable[[], None], leftover: Leftover | None = None) -> None:
        if leftover is not None and self.intent is not None:
            self.intent.add(leftover)
        self._steps.append(undo)

    def run(self) -> list[str]:
        """Undo everything that can be; returns why any step could not be undone."""
        failures = []
        with signals_held() as caught:
            for undo in reversed(self._steps):
                try:
                    undo()
                except (LibvirtError, OSError, VmmError) as err:
                    failures.append(str(err))
        delivered = [n for n in caught if signal.getsignal(n) is not signal.SIG_IGN]
        if delivered and not failures:
            signal.raise_signal(delivered[0])  # now that nothing is half done
        # with failures, the error that names them ends the command: it must not be hidden
        return failures


HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def signals_held() -> Iterator[list[int]]:
    """Ctrl-C, SIGTERM or a hang-up during the block would leave it half done: they are held,
    and the list yielded says which came.

    Python runs signal handlers in the main thread whichever thread the signal reached, so
    blocking them in one thread (pthread_sigmask) is not enough: the handlers are swapped."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught  # only the main thread may set handlers, and only it is interrupted
        return

    def hold(signum: int, _frame: object) -> None:
        interrupts.taken()
        caught.append(signum)

    previous = {signum: signal.signal(signum, hold) for signum in HELD}
    try:
        yield caught
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


@contextlib.contextmanager
def all_or_nothing(operation: str = "", host: str = "") -> Iterator[Rollback]:
    """Run the block; if anything in it fails (Ctrl-C too), undo what it registered.

    With `operation` (and the URI of its `host`), a record of what it makes is kept until it
    ends, done or fully undone: what a crash or a failed undo leaves is then reported later."""
    intent = Intent(operation, host) if operation else None
    rollback = Rollback(intent)
    try:
        with interrupts.steady(f"the {operation or 'change under way'}"):
            yield rollback
    except KeyboardInterrupt:
        failures = _undo(rollback)
        if failures:
            raise HostError(f"interrupted; and could not undo: {'; '.join(failures)}") from None
        done = f"the {operation} was undone" if operation else "what was done was undone"
        raise Interrupted(f"interrupted: {done}, nothing is left of it") from None
    except VmmError as err:
        failures = _undo(rollback)
        if failures:
            raise HostError(f"{err}; and could not undo: {'; '.join(failures)}") from None
        raise
    except OSError as err:
        failures = _undo(rollback)
        undo = f"; and could not undo: {'; '.join(failures)}" if failures else ""
        raise HostError(f"{describe_os_error(err)}{undo}") from None
    except BaseException as err:
        failures = _undo(rollback)
        if failures and isinstance(err, LibvirtError):
            raise HostError(f"{err}; and could not undo: {'; '.join(failures)}") from None
        raise
    if intent is not None:
        intent.done()


def _undo(rollback: Rollback) -> list[str]:
    """Undo; the record stays when something could not be undone (`vmm doctor` shows it)."""
    failures = rollback.run()
    if rollback.intent is not None and not failures:
        rollback.intent.done()
    elif failures:
        failures.append("see 'vmm doctor'")
    return failures


def check_name_free(conn: Conn, name: str) -> None:
    if not name.strip() or "/" in name or has_control_chars(name):
        raise InvalidInput(f"bad VM name {name!r}")
    if by_name(conn, name) is not None:
        raise InvalidInput(f"a VM named {name!r} already exists")


def define_new(conn: Conn, xml: str, rollback: Rollback, note: str = "") -> Dom:
    """Define a new VM under a UUID of our own making, its undo registered first: an
    interrupt as the definition returns cannot leave it behind, and the undo, looking for
    that UUID, can never take a VM someone else defined under the same name meanwhile."""
    definition = Definition.from_xml(xml)
    if definition.uuid is None:
        definition = definition.with_uuid(str(uuid4()))
    uuid, has_nvram = definition.uuid or "", definition.has_nvram
    leftover = Leftover("domain", uuid, note or f"the definition of {definition.name!r}")
    rollback.push(lambda: _undefine_new(conn, uuid, has_nvram), leftover)
    return define(conn, definition.to_xml())


def _undefine_new(conn: Conn, uuid: str, has_nvram: bool) -> None:
    dom = by_uuid(conn, uuid)
    if dom is not None:  # else the define never happened
        undefine(dom, nvram=has_nvram)


def track_image(conn: Conn, path: str, rollback: Rollback, note: str) -> str:
    """Put the image about to be made at `path` on record, and register its removal: done if
    this operation got as far as making it (`rollback.making`). A name chosen as free may be
    taken by another client before it is made: what fails then is never theirs to lose."""

    def undo() -> None:
        if path in rollback.made:
            images.delete_image(conn, path)

    rollback.push(undo, Leftover("image", path, note))
    return path


def reserve_image(
    conn: Conn,
    base: images.Image,
    stem: str,
    rollback: Rollback,
    note: str,
    pool: Pool | None = None,
) -> images.Destination:
    """A free place for a new image, its removal registered before anything is written there
    (a copy cut short leaves a part behind)."""
    where = images.destination(base, stem, pool)
    track_image(conn, where.path, rollback, note)
    return where
