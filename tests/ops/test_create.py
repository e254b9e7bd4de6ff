"""`vmm new` on the test driver: what it cannot do for real fails whole (its rollback is real)."""

from __future__ import annotations


def test_a_seed_the_host_cannot_take_leaves_nothing(srun, shost, tmp_path):
    """libvirt's test driver has no volume upload: the overlay, already made, is removed."""
    key = tmp_path / "k.pub"
    key.write_text(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEiK5q2PAp1SVVpHU5ecGzwvSqAMx1Z8mnxSKbr3i1bF\n"
    )
    pool = shost.conn.storagePoolLookupByName("pool")
    before = sorted(pool.listVolumes())
    result = srun("new", "seeded", "--image", "pool/template.qcow2", "--ssh-key", str(key))
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line == (
        "vmm: error: this host takes no upload into its pools, so no cloud-init seed:"
        " make the VM with --no-cloud-init (or --base)"
    )
    assert sorted(pool.listVolumes()) == before
    assert "seeded" not in shost.conn.listDefinedDomains()
