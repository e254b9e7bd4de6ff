"""`vmm events`: the real vmm, following a real daemon while this test changes it as another
client would (virsh), and while the daemon is restarted under it."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading

import libvirt
import pytest
from conftest import SHARED_URI, domain_xml, vmm_exe
from test_scripting import DOCUMENTED, VM_KEYS


class Following:
    """`vmm events` running, its output lines read as they come."""

    def __init__(self, *args: str, home: str) -> None:
        env = {**os.environ, "XDG_STATE_HOME": home, "XDG_CACHE_HOME": home}
        self.process = subprocess.Popen(
            [vmm_exe(), *args, "events", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def next_about(self, wanted, timeout: float = 10) -> dict:
        """The next object for which `wanted` holds (other clients' VMs change meanwhile)."""
        record = self.maybe_next(wanted, timeout)
        if record is None:
            self.process.kill()
            raise AssertionError(f"nothing more; stderr: {self.process.stderr.read()}")
        return record

    def maybe_next(self, wanted, timeout: float) -> dict | None:
        while True:
            try:
                record = json.loads(self.lines.get(timeout=timeout))
            except queue.Empty:
                return None
            if wanted(record):
                return record

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def follow(tmp_path):
    started: list[Following] = []

    def start(*args: str) -> Following:
        following = Following(*args, home=str(tmp_path))
        started.append(following)
        return following

    yield start
    for following in started:
        following.stop()


def started_following(following: Following, conn: libvirt.virConnect) -> None:
    """Wait until `vmm events` is registered: a probe VM defined until one is told of."""
    name = f"probe-{os.getpid()}"
    for _ in range(50):
        conn.defineXML(domain_xml(name)).undefine()
        if following.maybe_next(lambda r: r.get("name") == name, timeout=0.2) is not None:
            break
    following.next_about(lambda r: r.get("event") == "undefined" and r["name"] == name)


def test_every_change_is_one_json_object_with_the_vm_after_it(shared, daemon, follow):
    vm = shared("watched")
    uuid = vm.UUIDString()
    following = follow("-c", SHARED_URI)
    started_following(following, daemon)
    about = lambda record: record.get("uuid") == uuid  # noqa: E731
    vm.create()
    record = following.next_about(about)
    assert record["event"] == "started" and record["vm"]["state"] == "running"
    assert record["name"] == vm.name() and record["host"] == "" and "T" in record["time"]
    assert set(record) == DOCUMENTED["events"] - {"why"} and set(record["vm"]) == VM_KEYS
    vm.destroy()
    assert following.next_about(about)["vm"]["state"] == "shutoff"
    vm.undefine()
    gone = following.next_about(about)
    assert gone["event"] == "undefined" and gone["vm"] is None


def test_a_restarted_daemon_is_told_lost_then_back(private_daemon, follow):
    conn = libvirt.open(private_daemon.uri)
    following = follow("-c", private_daemon.uri)
    started_following(following, conn)
    private_daemon.restart()
    lost = following.next_about(lambda r: r["event"] in ("lost", "back"))
    assert lost["event"] == "lost" and lost["why"] == "the daemon closed it"
    assert set(lost) == {"time", "host", "event", "why"}
    assert following.next_about(lambda r: r["event"] == "back", timeout=20)["host"] == ""
    again = libvirt.open(private_daemon.uri)  # and it follows the new daemon's VMs
    try:
        again.lookupByName("test").destroy()
        stopped = following.next_about(lambda r: r.get("name") == "test")
        assert stopped["event"] == "stopped" and stopped["vm"]["state"] == "shutoff"
    finally:
        again.close()
