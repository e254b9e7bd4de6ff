"""Metadata that must never be lost: racing vmm processes, interrupted undo, diverging live
state and config, snapshots, saved states, what vmm does not understand, hostile stored XML."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import libvirt
from conftest import SHARED_URI, vmm_exe

from vmm import faults, metadata
from vmm.metadata import NAMESPACE, Metadata


def stored(dom: libvirt.virDomain, flags: int = libvirt.VIR_DOMAIN_AFFECT_CONFIG) -> Metadata:
    text = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NAMESPACE, flags)
    return metadata.from_xml(text)


def add_labels_one_by_one(vm: str, labels: list[str]) -> int:
    """A shell running `vmm label add VM LABEL` for each label in turn; how many failed."""
    script = "".join(
        f'"$VMM" -c {SHARED_URI} label add "$VM" {label} || echo failed\n' for label in labels
    )
    env = {**os.environ, "VMM": vmm_exe(), "VM": vm}
    done = subprocess.run(
        ["sh", "-c", script], env=env, capture_output=True, text=True, timeout=240
    )
    return done.stdout.count("failed")


def test_four_racing_label_loops_lose_no_label(shared):
    dom = shared("race")
    loops = [[f"p{p}-l{i}" for i in range(15)] for p in range(4)]
    with ThreadPoolExecutor(len(loops)) as pool:
        failed = list(pool.map(lambda labels: add_labels_one_by_one(dom.name(), labels), loops))
    assert failed == [0] * len(loops)
    missing = {label for labels in loops for label in labels} - set(stored(dom).labels)
    assert missing == set()


def set_live_and_config(dom: libvirt.virDomain, xml: str | None, flags: int = 0) -> None:
    """Another client's write (virsh metadata --set, the original vmm, the Go rewrite)."""
    key = "other" if xml is not None else None
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, key, NAMESPACE, flags)


def test_undoing_an_interrupted_move_leaves_what_another_client_changed_meanwhile(run, host):
    alpha, beta = host.lookup("alpha"), host.lookup("beta")
    moved = []

    def fail_after_the_second_move() -> None:
        moved.append(1)
        if len(moved) == 2:
            both = libvirt.VIR_DOMAIN_AFFECT_CONFIG | libvirt.VIR_DOMAIN_AFFECT_LIVE
            set_live_and_config(alpha, "<vmm><path>/theirs</path></vmm>", both)
            raise faults.InjectedFault("injected at organize.moved")

    faults.HOOKS["organize.moved"] = fail_after_the_second_move
    try:
        result = run("mv", "alpha", "beta", "gamma", "/new")
    finally:
        del faults.HOOKS["organize.moved"]
    assert result.exit_code == 1
    assert "injected at organize.moved" in result.stderr
    assert "left 'alpha' as it is: changed by someone else" in result.stderr
    assert stored(alpha) == stored(alpha, libvirt.VIR_DOMAIN_AFFECT_LIVE) == Metadata("/theirs")
    assert stored(beta) == Metadata("/lab/db", ("db",), ("<colour>blue</colour>",))
    assert host.find("gamma").path == "/"
