"""Addresses and the programs vmm hands the terminal to (ssh, virsh console, virt-viewer)."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import sshlab
from conftest import domain_xml, node_uri, require, run_vmm, vmm_exe
from sshlab import JumpHost

from vmm.model.errors import InvalidInput, InvalidState
from vmm.virt import reach


def test_ip_reads_addresses_from_libvirt(run, host):
    # the test driver reports one fixed address for every running VM
    found = json.loads(run("ip", "alpha", "--json").stdout)
    assert found[0]["address"] == "192.168.122.3" and found[0]["source"] == "lease"
    assert "192.168.122.3/24" in run("ip", "alpha").stdout


def test_ip_source_asks_only_that_source(run, host):
    # the test driver answers every source with the same address
    for source in ("lease", "agent", "arp"):
        found = json.loads(run("ip", "alpha", "--json", "--source", source).stdout)
        assert {a["source"] for a in found} == {source}
    assert run("ip", "alpha", "--source", "dhcp").exit_code == 2  # not a source


def test_ip_of_a_shut_off_vm_is_an_error(run):
    result = run("ip", "beta")
    assert result.exit_code == 1 and "no known IP address for 'beta'" in result.stderr


def test_ssh_execs_ssh_with_the_address_and_args():
    require(shutil.which("ssh") is not None, "ssh is not installed")
    # `ssh ADDRESS -V` prints ssh's version and exits without connecting: proof of the exec
    result = run_vmm("-c", "test:///default", "ssh", "test", "--", "-V")
    assert result.returncode == 0 and "OpenSSH" in result.stderr


def test_argument_lists_never_carry_names():
    uuid = "6695eb01-f6a4-8304-79aa-97f2502e193f"
    assert reach.console_argv("qemu:///system", uuid) == [
        "virsh",
        "-c",
        "qemu:///system",
        "console",
        uuid,
    ]
    assert reach.ssh_argv("10.0.0.5", ("uptime",), "root") == [
        "ssh",
        "-o",
        f"ConnectTimeout={reach.SSH_CONNECT_TIMEOUT}",
        "-l",
        "root",
        "10.0.0.5",
        "uptime",
    ]


@pytest.mark.parametrize("said", ["-oProxyCommand=touch x", "10.0.0.5 -v", "host.example", ""])
def test_only_an_ip_address_from_the_guest_reaches_ssh(said):
    assert not reach.is_ip_address(said)
    with pytest.raises(InvalidState):
        reach.ssh_argv(said, ())
    assert reach.is_ip_address("fe80::1%eth0") and reach.is_ip_address("192.168.122.7")


def test_view_without_virt_viewer_says_how_to_get_it(tmp_path):
    result = run_vmm("-c", node_uri(), "view", "alpha", env={"PATH": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "vmm: error: virt-viewer is not installed (apt-get install virt-viewer)"
    ]


# -- the route through a remote host (ssh -J) ---------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "spec"),
    [
        ("qemu:///system", None),
        ("qemu+unix:///system", None),
        ("test:///default", None),
        ("qemu+tcp://localhost/system", None),
        ("qemu+ssh://root@127.0.0.1:2222/system?keyfile=/k&no_verify=1", "root@127.0.0.1:2222"),
        ("qemu+ssh://admin@kvm1.example/system", "admin@kvm1.example"),
        ("qemu+ssh://kvm1.example/system", "kvm1.example"),
        ("qemu+libssh2://ops@kvm1:2200/system", "ops@kvm1:2200"),
        ("qemu+ssh://ops@[fd00::5]:2200/system", "ops@[fd00::5]:2200"),
        ("qemu://kvm1.example/system", "kvm1.example"),  # TLS: 16514 is libvirtd's, not ssh's
        ("qemu+tcp://kvm1.example:16509/system", "kvm1.example"),
    ],
)
def test_the_jump_host_is_the_uris_ssh_login(uri, spec):
    jump = reach.jump_for(uri)
    assert (jump.spec if jump else None) == spec


@pytest.mark.parametrize(
    "uri",
    [
        "qemu+ssh://-oProxyCommand=x@host/system",
        "qemu+ssh://a%20b@host/system",
        "qemu+ssh://user@host:port/system",
        "qemu+ssh://us;er@host/system",
    ],
)
def test_a_jump_host_ssh_would_misread_is_refused(uri):
    # OpenSSH writes -J's user and host into a command line of its own
    with pytest.raises(InvalidInput, match=r"cannot ssh through|not a number"):
        reach.jump_for(uri)


def test_ssh_argv_goes_through_the_jump_host():
    jump = reach.jump_for("qemu+ssh://root@10.1.1.1:2222/system")
    assert reach.ssh_argv("192.168.122.7", ("uptime",), "debian", jump) == [
        "ssh",
        "-o",
        f"ConnectTimeout={reach.SSH_CONNECT_TIMEOUT}",
        "-J",
        "root@10.1.1.1:2222",
        "-l",
        "debian",
        "192.168.122.7",
        "uptime",
    ]
    # the probe of --wait is what ssh -J itself runs to reach the guest, in batch mode
    assert reach.probe_argv("192.168.122.7", jump, "/cfg") == [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        f"ConnectTimeout={reach.SSH_CONNECT_TIMEOUT}",
        "-l",
        "root",
        "-p",
        "2222",
        "-F",
        "/cfg",
        "-W",
        "192.168.122.7:22",
        "10.1.1.1",
    ]


@pytest.mark.parametrize(
    ("args", "config"),
    [
        (("-F", "a.conf", "uptime"), "a.conf"),
        (("-i", "key", "-Fb.conf", "-o", "X=y", "ls", "-F", "not-ssh's"), "b.conf"),
        (("-vF", "c.conf"), "c.conf"),
        (("-o", "-F", "uptime"), None),  # -F is -o's value here
        (("ls", "-F", "x"), None),  # the remote command's own option
        ((), None),
    ],
)
def test_the_config_file_ssh_hands_its_jump_is_found(args, config):
    assert reach.config_file(args) == config


# -- ssh --wait ----------------------------------------------------------------------------------


def test_wait_for_a_shut_off_vm_ends_at_once(run):
    result = run("ssh", "--wait", "beta")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "vmm: error: 'beta' is not running (any more): nothing to wait for"
    ]


def test_timeout_needs_wait(run):
    result = run("ssh", "--timeout", "5", "alpha")
    assert result.exit_code == 1 and "--timeout is how long --wait waits" in result.stderr


def test_wait_says_there_is_no_address_yet_when_time_runs_out(run, host):
    host.conn.createXML(domain_xml("no-nic"), 0)  # running, and no interface: no address
    started = time.monotonic()
    result = run("ssh", "--wait", "--timeout", "1.5", "no-nic")
    took = time.monotonic() - started
    assert result.exit_code == 1 and 1.5 <= took < 4, (took, result.stderr)
    assert result.stderr.splitlines() == [
        "vmm: error: 'no-nic' does not answer ssh after 1.5 s: no IP address yet"
    ]


def test_wait_says_port_22_does_not_answer_when_time_runs_out():
    # the test driver's address for alpha, 192.168.122.3: no ssh server there (a subprocess:
    # a wait that ended well would exec ssh in place of the test)
    started = time.monotonic()
    result = run_vmm("-c", node_uri(), "ssh", "--wait", "--timeout", "1", "alpha")
    took = time.monotonic() - started
    assert result.returncode == 1 and took < 6, (took, result.stderr)
    said = result.stderr.strip()
    assert said.startswith("vmm: error: 'alpha' does not answer ssh after 1 s: 192.168.122.3:")
    assert "no answer on port 22 (" in said or "not as an ssh server" in said


def test_port_22_answers_only_with_an_ssh_greeting():
    """A real listener on 127.0.0.1:22 (free here: no sshd listens on this machine's own
    port 22): bound, it is refused; listening and silent, it is no ssh server (a proxying
    gateway accepts any connect); greeting as sshd does, it answers."""
    require(os.geteuid() == 0, "binding port 22 needs root")
    with socket.socket() as listener:
        try:
            listener.bind(("127.0.0.1", 22))
        except OSError as err:
            require(False, f"127.0.0.1:22 is taken ({err.strerror})")
        assert "Connection refused" in reach.port_22_answers("127.0.0.1", None)
        listener.listen()
        assert (
            reach.port_22_answers("127.0.0.1", None, None, 0.5)
            == "no answer on port 22 (timed out)"
        )

        done = threading.Event()

        def greet() -> None:  # every connection, the silent probe's left in the backlog too
            while not done.is_set():
                with contextlib.suppress(OSError), listener.accept()[0] as connection:
                    connection.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")

        listener.settimeout(0.2)
        greeter = threading.Thread(target=greet)
        greeter.start()
        try:
            assert reach.port_22_answers("127.0.0.1", None) is None
        finally:
            done.set()
            greeter.join()


def test_ctrl_c_while_waiting_says_what_it_interrupted():
    """A real SIGINT to a real vmm waiting for a VM that never gets an address."""
    proc = subprocess.Popen(
        [vmm_exe(), "-c", node_uri(), "ssh", "--wait", "alpha"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    assert err.startswith("vmm: interrupted while waiting for 'alpha' to answer ssh (")
    assert err.rstrip().endswith("; nothing changed") and out == ""


# -- through a second host reached over ssh (a private sshd on this machine) ---------------------


@pytest.fixture(scope="module")
def jump_host(tmp_path_factory) -> Iterator[JumpHost]:
    require(not sshlab.missing(), sshlab.missing())
    jump = JumpHost(tmp_path_factory.mktemp("jump"))
    yield jump
    jump.stop()


@pytest.mark.daemon
def test_ip_and_ssh_on_a_remote_host_go_through_it(daemon, jump_host):
    """libvirtd's shared test node reached as a remote host (test+ssh://root@127.0.0.1:PORT):
    `vmm ip` names the host the address is reached through, and the ssh vmm runs jumps
    through it (ssh -G prints what it would do, without connecting)."""
    uri = jump_host.uri("test", "default")
    shown = ok_vmm("-c", uri, "ip", "test")
    assert shown.startswith("192.168.122.3/24  ")
    assert shown.rstrip().endswith(f"from the DHCP lease  through {jump_host.spec}")
    config = ok_vmm("-c", uri, "ssh", "test", "-u", "debian", "--", "-G").splitlines()
    assert f"proxyjump root@[127.0.0.1]:{jump_host.port}" in config
    assert {"hostname 192.168.122.3", "user debian", "port 22"} <= set(config)


@pytest.mark.daemon
def test_wait_on_a_remote_host_probes_through_it(daemon, jump_host):
    """The probe logs in to the jump host (its key from the -F file after --, as ssh -J would
    use it) and asks it for the guest's port 22: nothing greets at the test driver's address."""
    uri = jump_host.uri("test", "default")
    config = str(jump_host.client_config())
    result = run_vmm("-c", uri, "ssh", "--wait", "--timeout", "2", "test", "--", "-F", config)
    assert result.returncode == 1, result.stderr
    said = result.stderr.strip()
    assert said.startswith("vmm: error: 'test' does not answer ssh after 2 s: 192.168.122.3: ")
    assert f"no answer on port 22 through {jump_host.spec} (" in said


@pytest.mark.daemon
def test_wait_says_when_the_jump_host_refuses(daemon, jump_host):
    # no -F: root has no key the jump host lets in, and batch mode asks for no password
    result = run_vmm("-c", jump_host.uri("test", "default"), "ssh", "--wait", "test")
    assert result.returncode == 1
    said = result.stderr.strip()
    assert said.startswith(f"vmm: error: cannot ssh to the jump host {jump_host.spec}: ")
    assert "Permission denied" in said or "Host key verification failed" in said


def ok_vmm(*args: str) -> str:
    result = run_vmm(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout
