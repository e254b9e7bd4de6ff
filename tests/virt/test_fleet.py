"""Several hosts as one: separate libvirt daemons (one per host), listed and acted on together."""

import contextlib
import json
import os
import signal
import time

import libvirt
import pytest
from conftest import domain_xml, require, run_vmm, vmm_exe, vmm_meta
from tmux import Terminal

from vmm.ops.selection import select
from vmm.virt.fleet import Fleet, HostSpec


@pytest.fixture
def three_hosts(tmp_path):
    """Hosts a, b, c (separate daemons), each holding its own 'test' VM and a few of ours."""
    from daemons import PrivateDaemon, user_exists

    require(user_exists(), "user 'vmmtest' is missing (make test creates it)")
    daemons = {name: PrivateDaemon() for name in "abc"}
    conns = {name: libvirt.open(d.uri) for name, d in daemons.items()}  # keeps each node alive
    conns["a"].defineXML(domain_xml("web-a", meta=vmm_meta("/lab/web", "web")))
    conns["b"].defineXML(domain_xml("web-b", meta=vmm_meta("/lab/web", "web")))
    conns["c"].defineXML(domain_xml("db-c", meta=vmm_meta("/lab/db")))
    config = tmp_path / "config" / "vmm"
    config.mkdir(parents=True)
    hosts = "".join(f'[hosts.{name}]\nuri = "{d.uri}"\n' for name, d in daemons.items())
    (config / "config.toml").write_text(f"timeout = 2\n{hosts}")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state")}
    yield daemons, conns, env
    for conn in conns.values():
        conn.close()
    for daemon in daemons.values():
        daemon.stop()


def vmm_json(env, *args):
    result = run_vmm("--all-hosts", *args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_one_listing_over_every_host(three_hosts):
    _, _, env = three_hosts
    vms = vmm_json(env, "ls", "-r")
    assert {(vm["host"], vm["ref"]) for vm in vms} == {
        ("a", "web-a"), ("b", "web-b"), ("c", "db-c"),
        ("a", "a:test"), ("b", "b:test"), ("c", "c:test"),
    }  # fmt: skip
    folders = {f["path"]: f["vms"] for f in vmm_json(env, "tree")}
    assert folders["/lab/web"] == 2 and folders["/lab"] == 3  # one folder, VMs from two hosts


def test_an_action_goes_to_the_vms_own_host(three_hosts):
    _, conns, env = three_hosts
    assert run_vmm("--all-hosts", "start", "web-b", env=env).returncode == 0
    assert conns["b"].lookupByName("web-b").isActive()
    assert run_vmm("--all-hosts", "mv", "db-c", "/moved", env=env).returncode == 0
    assert [vm["ref"] for vm in vmm_json(env, "ls", "/moved")] == ["db-c"]


def test_a_name_on_several_hosts_needs_its_host(three_hosts):
    _, conns, env = three_hosts
    ambiguous = run_vmm("--all-hosts", "off", "test", env=env)
    assert ambiguous.returncode == 1
    assert "'test' is on several hosts; name one: a:test, b:test, c:test" in ambiguous.stderr
    assert all(conn.lookupByName("test").isActive() for conn in conns.values())
    assert run_vmm("--all-hosts", "off", "b:test", env=env).returncode == 0
    states = {name: conn.lookupByName("test").isActive() for name, conn in conns.items()}
    assert states == {"a": True, "b": False, "c": True}


def test_vms_that_share_a_uuid_on_several_hosts_are_each_acted_on(three_hosts):
    _, conns, env = three_hosts  # every test daemon's 'test' VM has the same UUID
    for name in ("a:test", "b:test"):
        assert run_vmm("--all-hosts", "mv", name, "/twins", env=env).returncode == 0
        assert run_vmm("--all-hosts", "label", "add", "-t", "twin", name, env=env).returncode == 0
    off = run_vmm("--all-hosts", "off", "--label", "twin", env=env)
    assert off.returncode == 0, off.stderr
    assert [conns[h].lookupByName("test").isActive() for h in "abc"] == [False, False, True]
    moved = run_vmm("--all-hosts", "mv", "/twins", "/pair", env=env)
    assert moved.returncode == 0, moved.stderr
    assert {vm["ref"] for vm in vmm_json(env, "ls", "/pair")} == {"a:test", "b:test"}


def test_a_clone_named_like_a_vm_of_another_host_is_started_on_its_own(three_hosts):
    _, conns, env = three_hosts
    result = run_vmm("--all-hosts", "clone", "--start", "web-a", "web-b", env=env)
    assert result.returncode == 0, result.stderr
    assert conns["a"].lookupByName("web-b").isActive()
    assert not conns["b"].lookupByName("web-b").isActive()


def test_the_picker_shows_a_new_vm_and_its_namesake_with_their_hosts(three_hosts):
    from vmm.ui.menus.fzf import FzfMenu
    from vmm.ui.notify import StatusLine
    from vmm.ui.picker.flow import Picker

    daemons, conns, _ = three_hosts
    fleet = Fleet.open([HostSpec(name, d.uri) for name, d in daemons.items()], timeout=2)
    try:
        picker = Picker(fleet, FzfMenu(), StatusLine(), terminal=True)
        conns["a"].defineXML(domain_xml("web-b"))  # as a clone made in the picker would be
        picker.add("a:web-b")
        shown = {(vm.host, vm.ref) for vm in picker.vms.values() if vm.name == "web-b"}
        assert shown == {("a", "a:web-b"), ("b", "b:web-b")}
    finally:
        fleet.close()


def test_shutting_down_twins_on_two_hosts_tells_them_apart(three_hosts, monkeypatch):
    """A mock makes host a's guest ignore ACPI (the test driver always obeys)."""
    from vmm.ops.perform import shutdown_and_wait

    daemons, _, _ = three_hosts  # every daemon's 'test' VM has the same UUID
    fleet = Fleet.open([HostSpec(n, daemons[n].uri) for n in "ab"], timeout=2)
    try:
        twins = [fleet.vm("a:test"), fleet.vm("b:test")]
        real = libvirt.virDomain.shutdown
        monkeypatch.setattr(
            libvirt.virDomain,
            "shutdown",
            lambda self, *a: 0 if fleet.owner(self).name == "a" else real(self, *a),
        )
        outcomes = shutdown_and_wait(twins, timeout=0.5)
        assert [(o.ok, o.message) for o in outcomes] == [
            (False, "'test' is still running 0.5s after the shutdown request"),
            (True, "shut down"),
        ]
    finally:
        fleet.close()


def test_c_name_picks_one_configured_host(three_hosts):
    _, _, env = three_hosts
    result = run_vmm("-c", "c", "ls", "-r", "--json", env=env)
    assert {vm["name"] for vm in json.loads(result.stdout)} == {"db-c", "test"}
    unknown = run_vmm("-c", "nosuch", "ls", env=env)
    assert (
        unknown.returncode == 1
        and "neither a libvirt URI nor a configured host (a, b, c)" in unknown.stderr
    )


def test_a_dead_host_is_a_warning_and_the_others_still_work(three_hosts):
    daemons, conns, env = three_hosts
    daemons["c"].kill()
    result = run_vmm("--all-hosts", "ls", "-r", "--json", env=env)
    assert result.returncode == 0
    assert "vmm: warning: host c: cannot connect to" in result.stderr
    assert {vm["host"] for vm in json.loads(result.stdout)} == {"a", "b"}
    refused = run_vmm("--all-hosts", "start", "web-a", env=env)  # c may hold a web-a too
    assert refused.returncode == 1 and "host c could not be asked" in refused.stderr
    assert run_vmm("--all-hosts", "start", "a:web-a", env=env).returncode == 0
    assert conns["a"].lookupByName("web-a").isActive()


def test_a_slow_host_does_not_hold_up_the_others(three_hosts, tmp_path):
    from bench.proxy import DelayProxy

    daemons, _, _ = three_hosts
    slow_socket = tmp_path / "slow.sock"
    with DelayProxy(slow_socket, daemons["c"].socket, delay=3.0):
        specs = [
            HostSpec("a", daemons["a"].uri),
            HostSpec("slow", f"test+unix:///default?socket={slow_socket}"),
        ]
        started = time.monotonic()
        fleet = Fleet.open(specs, timeout=1.0)
        try:
            assert [h.name for h in fleet.hosts] == ["a"]
            assert fleet.warnings == [
                f"host slow: cannot connect to {specs[1].uri}: no answer within 1s"
            ]
            assert {d.name for d in fleet.domains()} == {"web-a", "test"}
            assert (
                time.monotonic() - started < 2.9
            )  # it gave up on the slow host, not waited it out
        finally:
            fleet.close()


@contextlib.contextmanager
def with_a_silent_host(daemons, tmp_path, name):
    """A fleet of host a and host NAME (daemon c behind a proxy), opened while both answer;
    then NAME's link goes silent: no answer, no error. The caller closes the fleet."""
    from bench.proxy import DelayProxy

    frozen_socket = tmp_path / "frozen.sock"
    with DelayProxy(frozen_socket, daemons["c"].socket, delay=0.0) as proxy:
        specs = [
            HostSpec("a", daemons["a"].uri),
            HostSpec(name, f"test+unix:///default?socket={frozen_socket}"),
        ]
        fleet = Fleet.open(specs, timeout=1.0)
        assert [h.name for h in fleet.hosts] == ["a", name]
        os.kill(proxy.pid, signal.SIGSTOP)
        try:
            yield fleet
        finally:
            os.kill(proxy.pid, signal.SIGCONT)


def test_closing_does_not_wait_on_a_host_that_stopped_answering(three_hosts, tmp_path):
    daemons, _, _ = three_hosts
    with with_a_silent_host(daemons, tmp_path, "frozen") as fleet:
        started = time.monotonic()
        fleet.close()
        assert time.monotonic() - started < 2.9  # it gave up on the host, not hung
        with pytest.raises(libvirt.libvirtError):
            fleet.hosts[0].conn.getURI()  # the other host's connection is closed


def test_a_bare_name_is_refused_while_a_host_that_may_hold_it_is_silent(three_hosts, tmp_path):
    from vmm.model.errors import InvalidInput

    daemons, conns, _ = three_hosts
    conns["c"].defineXML(domain_xml("web-a"))  # the silent host has a web-a too
    with with_a_silent_host(daemons, tmp_path, "c") as fleet:
        try:
            with pytest.raises(InvalidInput, match="host c could not be asked"):
                fleet.lookup("web-a")
            assert fleet.owner(fleet.lookup("a:web-a")).name == "a"
            assert fleet.vm("a:web-a").host.name == "a"
            # a folder is no name: the answering hosts' VMs in it are acted on
            assert [vm.name for vm in select(fleet, ["/lab/web"])] == ["web-a"]
        finally:
            fleet.close()


def test_the_picker_over_several_hosts(three_hosts):
    _, conns, env = three_hosts
    term = Terminal([vmm_exe(), "--all-hosts"], {**env, "TERM": "xterm-256color"})
    try:
        term.wait_for_prompt("/")
        screen = term.wait_for("@c")  # fzf 0.74 draws its prompt before the rows it reads
        assert "3 hosts (a, b, c)" in screen and "a:test" in screen and "@c" in screen
        term.pick("/", "lab/")
        term.pick("/lab", "web/")
        term.pick("/lab/web", "web-b")
        term.pick("web-b", "Start")
        term.wait_for("web-b: started")
        assert conns["b"].lookupByName("web-b").isActive()
    finally:
        term.close()


@pytest.mark.hypervisor
def test_the_real_hypervisor_beside_a_test_host(three_hosts, kvm, tmp_path):
    daemons, conns, env = three_hosts
    vm = kvm.vm("fleet")
    config = tmp_path / "config" / "vmm" / "config.toml"
    config.write_text(
        f'[hosts.kvm]\nuri = "qemu:///system"\n[hosts.a]\nuri = "{daemons["a"].uri}"\n'
    )
    listed = vmm_json(env, "ls", "-r")
    assert ("kvm", vm.name()) in {(v["host"], v["ref"]) for v in listed}
    assert ("a", "web-a") in {(v["host"], v["ref"]) for v in listed}
    assert run_vmm("--all-hosts", "start", vm.name(), env=env).returncode == 0
    assert vm.isActive() and not conns["a"].lookupByName("web-a").isActive()


def test_a_host_silent_at_connect_time_stops_a_bare_name(three_hosts, tmp_path):
    from bench.proxy import DelayProxy

    daemons, conns, env = three_hosts
    conns["c"].defineXML(domain_xml("web-a"))  # the silent host may hold a web-a too
    silent = tmp_path / "silent.sock"
    config = tmp_path / "config" / "vmm" / "config.toml"
    with DelayProxy(silent, daemons["c"].socket, delay=30.0):
        config.write_text(
            f'timeout = 1\n[hosts.a]\nuri = "{daemons["a"].uri}"\n'
            f'[hosts.late]\nuri = "test+unix:///default?socket={silent}"\n'
        )
        refused = run_vmm("--all-hosts", "start", "web-a", env=env)
        assert refused.returncode == 1
        assert "host late could not be asked and may hold 'web-a' too" in refused.stderr
        assert not conns["a"].lookupByName("web-a").isActive()
        named = run_vmm("--all-hosts", "start", "a:web-a", env=env)
        assert named.returncode == 0, named.stderr
        assert conns["a"].lookupByName("web-a").isActive()
