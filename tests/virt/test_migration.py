"""The Ctrl-C path of a live migration: the job aborted until the migration call returns.

A fake domain stands in here, and only here, because what it forces cannot be produced on
demand: libvirt taking an abort (no error) that lands between two of its phases and going on
with the migration. The real migrations, aborted and not, are in tests/ops/test_move_kvm.py.
"""

from __future__ import annotations

import threading

import libvirt
import pytest

from vmm.virt import migration


class IgnoresTheFirstAbort:
    """A running migration that ends (aborted) only at the second abortJob."""

    def __init__(self) -> None:
        self.aborts = 0
        self.aborted = threading.Event()

    def migrateToURI3(self, uri, params, flags) -> None:
        if not self.aborted.wait(10):
            return  # the migration ended: nobody aborted it
        raise libvirt.libvirtError("operation aborted: migration out job: canceled")

    def abortJob(self) -> None:
        self.aborts += 1
        if self.aborts == 2:
            self.aborted.set()


def test_ctrl_c_aborts_again_until_the_migration_call_returns():
    dom = IgnoresTheFirstAbort()

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # the caller undoes the move and says so
        migration.migrate(dom, "qemu+ssh://there/system", "<domain/>", ["vda"], polled=interrupted)
    assert dom.aborts == 2
