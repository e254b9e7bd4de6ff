"""VM states, in one place: libvirt's codes, what is active, how a list shows each."""

import libvirt
import pytest

from vmm.model import states


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (libvirt.VIR_DOMAIN_NOSTATE, "nostate"),
        (libvirt.VIR_DOMAIN_RUNNING, "running"),
        (libvirt.VIR_DOMAIN_BLOCKED, "blocked"),
        (libvirt.VIR_DOMAIN_PAUSED, "paused"),
        (libvirt.VIR_DOMAIN_SHUTDOWN, "shutdown"),
        (libvirt.VIR_DOMAIN_SHUTOFF, "shutoff"),
        (libvirt.VIR_DOMAIN_CRASHED, "crashed"),
        (libvirt.VIR_DOMAIN_PMSUSPENDED, "pmsuspended"),
        (99, "nostate"),  # a state a newer libvirt may add
    ],
)
def test_libvirts_codes_have_vmms_names(code, name):
    assert states.name_of(code) == name


def test_every_state_is_listed_once_and_every_listed_one_is_known():
    assert sorted(states.NAMES) == sorted(states.STATES) and len(set(states.NAMES)) == 9


def test_a_shut_off_vm_with_a_saved_state_is_shown_saved():
    assert states.shown("shutoff", True) is states.SAVED
    assert states.shown("shutoff", False).name == "shutoff"
    assert states.shown("running", True).name == "running"  # only a shut-off VM restores
    assert states.shown("bogus", False).name == "nostate"


def test_active_and_startable_do_not_overlap():
    assert not states.ACTIVE & states.STARTABLE
    assert states.RUNNING <= states.ACTIVE <= states.STOPPABLE
