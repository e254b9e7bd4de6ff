"""Power and saved-state actions on the test driver, through the CLI and the core."""

import pytest

from vmm.model.errors import InvalidInput
from vmm.ops import perform as actions
from vmm.ops import power


def state(host, name):
    return host.find(name).state


def test_start_and_restore_from_saved_state(run, host):
    assert run("start", "beta").stdout == "beta: started\n"
    assert run("save", "beta").stdout == "beta: state saved\n"
    assert host.find("beta").managed_save and state(host, "beta") == "shutoff"
    assert run("start", "beta").stdout == "beta: restored from saved state\n"
    assert not host.find("beta").managed_save and state(host, "beta") == "running"


def test_start_fresh_drops_the_saved_state(run, host):
    host.lookup("alpha").managedSave()
    assert "started fresh" in run("start", "--fresh", "alpha").stdout
    assert not host.find("alpha").managed_save and state(host, "alpha") == "running"


def test_power_actions(run, host):
    assert run("pause", "alpha").stdout == "alpha: paused\n" and state(host, "alpha") == "paused"
    assert run("resume", "alpha").stdout == "alpha: resumed\n" and state(host, "alpha") == "running"
    assert run("reboot", "alpha").exit_code == 0 and state(host, "alpha") == "running"
    assert run("reset", "alpha").exit_code == 0 and state(host, "alpha") == "running"
    assert run("off", "alpha").stdout == "alpha: forced off\n" and state(host, "alpha") == "shutoff"


def test_shutdown_variants(run, host):
    assert run("shutdown", "alpha").stdout == "alpha: shutdown requested\n"
    host.lookup("alpha").create()
    assert run("shutdown", "--wait", "alpha").stdout == "alpha: shut down\n"
    assert state(host, "alpha") == "shutoff"


def test_shutdown_modes(run, host):
    """--mode acpi (the default) is the test driver's one shutdown; --mode agent is refused
    there with why (it has no guest agent call), and nothing is asked; an unknown mode is a
    usage error."""
    assert run("shutdown", "--mode", "acpi", "--wait", "alpha").stdout == "alpha: shut down\n"
    host.lookup("alpha").create()
    for args in (["--mode", "agent"], ["--mode", "agent", "--wait"]):
        refused = run("shutdown", *args, "alpha")
        assert refused.exit_code == 1
        assert "through the guest agent" in refused.stdout + refused.stderr
        assert state(host, "alpha") == "running"
    unknown = run("shutdown", "--mode", "reboot", "alpha")
    assert unknown.exit_code == 2 and "'reboot' is not one of 'acpi', 'agent'" in unknown.stderr
    assert state(host, "alpha") == "running"
    with pytest.raises(InvalidInput, match="unknown shutdown mode 'reboot'"):
        power.shutdown(host.lookup("alpha"), mode="reboot")


def test_shutdown_wait_of_a_transient_vm_that_is_gone_once_off(run, host):
    from conftest import domain_xml

    host.conn.createXML(domain_xml("passing"))
    result = run("shutdown", "--wait", "passing")
    assert (result.exit_code, result.stdout) == (0, "passing: shut down\n"), result.stderr
    assert "passing" not in {d.name for d in host.domains()}


def test_discard_save_needs_confirmation_without_a_terminal(run, host):
    host.lookup("alpha").managedSave()
    refused = run("discard-save", "alpha")
    assert refused.exit_code == 1 and "--yes" in refused.stderr
    assert host.find("alpha").managed_save
    assert run("discard-save", "--yes", "alpha").stdout == "alpha: saved state discarded\n"
    assert not host.find("alpha").managed_save


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["start", "alpha"], "cannot start 'alpha': it is running"),
        (["save", "beta"], "cannot save the state of 'beta': it is shut off"),
        (["pause", "beta"], "cannot pause 'beta'"),
        (["resume", "alpha"], "cannot resume 'alpha': it is running"),
        (["off", "gamma"], "cannot force off 'gamma': it is shut off"),
        (["shutdown", "beta"], "cannot shut down 'beta'"),
        (["reboot", "beta"], "cannot reboot 'beta'"),
        (["discard-save", "-y", "alpha"], "'alpha' has no saved state"),
        (["start"], "name at least one VM"),
        (["start", "nope"], "no VM named 'nope'"),
        (["start", "/nowhere"], "no VM or folder named '/nowhere'"),
        (["start", "--label", "nolabel"], "no VM carries the label(s) nolabel"),
    ],
)
def test_actions_that_make_no_sense_say_so_and_change_nothing(run, host, args, message):
    before = {d.name: (d.state, d.managed_save) for d in host.domains()}
    result = run(*args)
    assert result.exit_code == 1
    assert (
        result.stderr.strip().splitlines()[-1] == f"vmm: error: {message}"
        or message in result.stderr
    )
    assert "Traceback" not in result.output
    assert {d.name: (d.state, d.managed_save) for d in host.domains()} == before


def test_bulk_acts_on_a_folder_and_reports_each_and_fails_if_any_failed(run, host):
    result = run("start", "/lab")  # alpha runs already; beta and delta one are off
    assert result.exit_code == 1
    assert "beta: started" in result.stdout and "delta one: started" in result.stdout
    assert "cannot start 'alpha': it is running" in result.stderr
    assert state(host, "beta") == state(host, "delta one") == "running"


def test_a_folder_acts_on_its_own_vms_even_beside_one_named_like_a_uuid(run, host):
    from conftest import domain_xml

    beta = host.find("beta")
    host.conn.defineXML(domain_xml(beta.uuid))  # a VM named after beta's UUID, in /
    result = run("start", "/lab/db")
    assert result.exit_code == 0, result.stderr
    named_like_a_uuid = host.conn.lookupByName(beta.uuid)  # by name alone: vmm refuses the clash
    assert state(host, "beta") == "running" and not named_like_a_uuid.isActive()


def test_bulk_by_label(run, host):
    result = run("off", "--label", "web")
    assert result.exit_code == 1  # delta one is already off
    assert result.stdout == "alpha: forced off\n"
    assert state(host, "alpha") == "shutoff"


def test_shutdown_wait_times_out_and_force_after_escalates(host, monkeypatch):
    # The test driver shuts down at once; a guest that ignores ACPI is forced here by making
    # shutdown() a no-op (a mock of a failure that can't be produced on the test driver).
    vm = host.vm("alpha")
    dom = vm.dom
    monkeypatch.setattr(type(dom), "shutdown", lambda self, *a: 0)
    (late,) = actions.shutdown_and_wait([vm], timeout=0.3)
    assert not late.ok and "still running 0.3s after the shutdown request" in late.message
    (forced,) = actions.shutdown_and_wait([vm], timeout=60, force_after=0.3)
    assert forced.message == "did not shut down within 0.3s: forced off"
    assert not dom.isActive()


def test_a_vm_that_cannot_be_asked_while_waiting_fails_alone(host, monkeypatch):
    """A mock breaks one VM's connection mid-wait: that cannot be made to happen on cue."""
    import libvirt

    alpha, beta = host.vm("alpha"), host.vm("beta")
    beta.dom.create()
    real = libvirt.virDomain.isActive

    def alpha_unreachable(self):
        if self.name() == "alpha":
            raise libvirt.libvirtError("Cannot recv data: Connection reset by peer")
        return real(self)

    monkeypatch.setattr(libvirt.virDomain, "isActive", alpha_unreachable)
    outcomes = actions.shutdown_and_wait([alpha, beta], timeout=1)
    assert [(o.vm, o.ok) for o in outcomes] == [("alpha", False), ("beta", True)]
    assert "cannot tell whether 'alpha' shut down: Cannot recv data" in outcomes[0].message
    assert outcomes[1].message == "shut down"


def test_every_action_is_journalled(run, history):
    run("start", "beta")
    run("mv", "beta", "/x")
    entries = history.entries("beta")
    assert [e.action for e in entries] == ["start", "move"]
    assert entries[1].before == {"path": "/lab/db", "labels": ["db"]}
    assert entries[1].after == {"path": "/x", "labels": ["db"]}
    assert entries[0].uuid == entries[1].uuid and entries[0].host.startswith("test:///")
