"""The metadata contract across tools: what vmm writes, virsh reads, and the other way round.

Runs on libvirtd's shared test node, so the real `vmm` and `virsh` processes see one host.
"""

import json
import subprocess

from conftest import SHARED_URI, run_vmm

from vmm.model import metadata
from vmm.model.metadata import NAMESPACE, Metadata


def virsh(*args: str) -> str:
    result = subprocess.run(
        ["virsh", "-q", "-c", SHARED_URI, *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_vmm_writes_what_virsh_reads(shared):
    dom = shared("written-by-vmm", running=True)
    name = dom.name()
    assert run_vmm("-c", SHARED_URI, "mv", name, "/lab/ünï code").returncode == 0
    assert (
        run_vmm("-c", SHARED_URI, "label", "add", "-t", "web", "-t", "a'b\"c", name).returncode == 0
    )
    expected = Metadata("/lab/ünï code", ("web", "a'b\"c"))
    for where in ("--config", "--live"):
        text = virsh("metadata", name, "--uri", NAMESPACE, where)
        assert metadata.from_xml(text) == expected


def test_virsh_writes_with_another_prefix_and_vmm_reads_it(shared):
    dom = shared("written-by-virsh")
    name = dom.name()
    virsh(
        "metadata", name, "--uri", NAMESPACE, "--key", "other", "--config",
        "--set", "<vmm><path>/from/virsh/</path><label>x</label><label>x</label></vmm>",
    )  # fmt: skip
    assert "<other:vmm" in dom.XMLDesc(0)
    info = json.loads(run_vmm("-c", SHARED_URI, "info", name, "--json").stdout)
    assert (info["path"], info["labels"]) == ("/from/virsh", ["x"])


def test_a_second_process_sees_a_move_made_by_the_first(shared):
    dom = shared("shared-move")
    assert run_vmm("-c", SHARED_URI, "mv", dom.name(), "/moved").returncode == 0
    vms = json.loads(run_vmm("-c", SHARED_URI, "ls", "/moved", "--json").stdout)
    assert [vm["name"] for vm in vms] == [dom.name()]
