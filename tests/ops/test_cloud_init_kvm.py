"""`vmm new --image` and its seed on the real libvirtd (the test driver has no volume upload):
the seed's bytes as mtools and fsck.fat read them, the definition (golden), a clone's own
seed, the seed deleted with its VM, a kill at each new step, and bad input.

The real guest reading these seeds is tests/guest/test_cloud_init.py.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import libvirt
import pytest
import yaml
from conftest import require, vmm_exe
from lxml import etree
from test_crash_kvm import assert_told_and_cleaned

pytestmark = pytest.mark.hypervisor

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEiK5q2PAp1SVVpHU5ecGzwvSqAMx1Z8mnxSKbr3i1bF test@vmm"


def vmm(
    *args: str,
    state: Path | None = None,
    faults: str = "",
    home: Path | None = None,
    env: dict[str, str] | None = None,
):
    env = {**os.environ, "VMM_FAULTS": faults, **(env or {})}
    if state is not None:
        env["XDG_STATE_HOME"] = str(state)
    if home is not None:
        env.update(HOME=str(home), SSH_AUTH_SOCK="")
    return subprocess.run(
        [vmm_exe(), "-c", "qemu:///system", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def tools():
    for tool in ("mtype", "fsck.fat"):
        require(shutil.which(tool) is not None, f"{tool} is missing (make test installs it)")


@pytest.fixture
def image(kvm) -> str:
    """A qcow2 image in the scratch pool, as `--image POOL/VOLUME` names it."""
    volume = kvm.volume(f"{kvm.prefix}cloud.qcow2")
    return f"{kvm.pool.name()}/{volume.name()}"


@pytest.fixture
def key(tmp_path) -> Path:
    path = tmp_path / "id.pub"
    path.write_text(KEY + "\n")
    return path


def seed_file(image: str, name: str) -> str:
    """A file of the seed image, as mtools (not vmm) reads it."""
    return subprocess.run(
        ["mtype", "-i", image, f"::{name}"], capture_output=True, text=True, check=True
    ).stdout


def definition(kvm, name: str) -> etree._Element:
    dom = kvm.conn.lookupByName(name)
    return etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def seed_of(kvm, name: str) -> str:
    [source] = [
        disk.find("source").get("file")
        for disk in definition(kvm, name).iterfind("devices/disk")
        if disk.find("target").get("dev") == "vdb"
    ]
    return source


def pool_files(kvm) -> set[str]:
    kvm.pool.refresh(0)
    return set(kvm.pool.listVolumes())


def test_a_new_vm_gets_a_seed_cloud_init_reads(kvm, image, key, tools):
    name = kvm.prefix + "web 1"
    result = vmm("new", name, "--image", image, "--ssh-key", str(key), "--user", "ana")
    assert result.returncode == 0, result.stderr
    assert "cloud-init lets ana in with 1 SSH key" in result.stdout
    seed = seed_of(kvm, name)
    assert seed == str(kvm.dir / f"{kvm.prefix}web-1-seed.img")
    assert subprocess.run(["fsck.fat", "-n", seed], capture_output=True).returncode == 0
    label = subprocess.run(["blkid", "-o", "value", "-s", "LABEL", seed], capture_output=True)
    assert label.stdout.decode().strip() == "CIDATA"
    meta = yaml.safe_load(seed_file(seed, "meta-data"))
    assert meta["local-hostname"] == f"{kvm.prefix}web-1"
    assert meta["instance-id"].startswith("vmm-")
    user_data = seed_file(seed, "user-data")
    assert user_data.startswith("#cloud-config\n")
    [user] = yaml.safe_load(user_data)["users"]
    assert (user["name"], user["ssh_authorized_keys"]) == ("ana", [KEY])
    [disk] = [
        d for d in definition(kvm, name).iterfind("devices/disk") if d.find("readonly") is not None
    ]
    assert (disk.get("device"), disk.find("target").get("bus")) == ("disk", "virtio")
    assert disk.find("driver").get("type") == "raw"


def test_the_users_own_keys_and_user_data_are_taken(kvm, image, tmp_path, tools):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519.pub").write_text(KEY + "\n")
    (home / ".ssh" / "stray.pub").write_text("not a key\n")  # ignored, as ssh ignores it
    extra = tmp_path / "extra.yaml"
    extra.write_text("#cloud-config\npackages: [nginx]\nusers:\n  - name: ops\n")
    name = kvm.prefix + "own"
    result = vmm("new", name, "--image", image, "--user-data", str(extra), home=home)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(seed_file(seed_of(kvm, name), "user-data"))
    assert config["packages"] == ["nginx"]
    me = getpass.getuser()
    if me == "root":  # root logs in with the keys itself; the extra user is added
        assert (config["disable_root"], config["ssh_authorized_keys"]) == (False, [KEY])
        assert [u["name"] for u in config["users"]] == ["ops"]
    else:
        assert [u["name"] for u in config["users"]] == [me, "ops"]
        assert config["users"][0]["ssh_authorized_keys"] == [KEY]


def test_a_clone_gets_a_seed_of_its_own(kvm, image, key, tools):
    source, clone = kvm.prefix + "src", kvm.prefix + "twin"
    assert vmm("new", source, "--image", image, "--ssh-key", str(key)).returncode == 0
    before = Path(seed_of(kvm, source)).read_bytes()
    result = vmm("clone", source, clone)
    assert result.returncode == 0, result.stderr
    assert "its own cloud-init seed" in result.stdout
    theirs = seed_of(kvm, clone)
    assert theirs != seed_of(kvm, source)
    assert Path(seed_of(kvm, source)).read_bytes() == before  # the source's seed untouched
    ours_meta = yaml.safe_load(seed_file(seed_of(kvm, source), "meta-data"))
    their_meta = yaml.safe_load(seed_file(theirs, "meta-data"))
    assert their_meta["local-hostname"] == clone
    assert their_meta["instance-id"] != ours_meta["instance-id"]
    assert seed_file(theirs, "user-data") == seed_file(seed_of(kvm, source), "user-data")
    record = definition(kvm, clone).findtext(
        "metadata/{http://calebstew.art/xmlns/vmm}vmm/{http://calebstew.art/xmlns/vmm}seed"
    )
    assert record == theirs


def test_a_clone_of_a_vm_without_a_seed_says_its_identity_was_copied(kvm):
    source = kvm.vm("plain")
    result = vmm("clone", source.name(), kvm.prefix + "plain2")
    assert result.returncode == 0, result.stderr
    assert "the guest's identity (hostname, SSH host keys) is its source's" in result.stdout


def test_the_seed_goes_with_its_vm(kvm, image, key):
    name = kvm.prefix + "gone"
    assert vmm("new", name, "--image", image, "--ssh-key", str(key)).returncode == 0
    seed = seed_of(kvm, name)
    result = vmm("rm", "-y", name)  # without --storage: the disk stays, the seed goes
    assert result.returncode == 0, result.stderr
    assert f"deleted with {seed}" in result.stdout
    assert pool_files(kvm) == {f"{kvm.prefix}cloud.qcow2", f"{kvm.prefix}gone.qcow2"}


def test_images_lists_bases_with_their_vms_and_no_seed(kvm, image, key):
    for name in ("a", "b"):
        assert (
            vmm("new", kvm.prefix + name, "--image", image, "--ssh-key", str(key)).returncode == 0
        )
    listed = vmm("images", "--json")
    assert listed.returncode == 0, listed.stderr
    ours = [entry for entry in json.loads(listed.stdout) if entry["pool"] == kvm.pool.name()]
    assert [(Path(e["path"]).name, e["vms"]) for e in ours] == [
        (f"{kvm.prefix}cloud.qcow2", [kvm.prefix + "a", kvm.prefix + "b"])
    ]
    text = vmm("images").stdout
    assert f"{kvm.prefix}cloud.qcow2  qcow2  0.1 GiB" in text and "2 VMs:" in text


@pytest.mark.parametrize("point", ["new.name-chosen", "new.image-made", "new.seed-made"])
def test_a_new_vm_killed_at_each_step_leaves_nothing_after_doctor(kvm, image, key, tmp_path, point):
    name = kvm.prefix + "cut"
    killed = vmm("new", name, "--image", image, "--ssh-key", str(key), state=tmp_path,
                 faults=f"{point}:kill")  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    assert_told_and_cleaned(tmp_path, "gone: image" if point == "new.name-chosen" else "left: ")
    assert pool_files(kvm) == {f"{kvm.prefix}cloud.qcow2"}
    with pytest.raises(libvirt.libvirtError):
        kvm.conn.lookupByName(name)


def test_a_clone_killed_after_its_seed_leaves_nothing_after_doctor(kvm, image, key, tmp_path):
    source = kvm.prefix + "s"
    assert vmm("new", source, "--image", image, "--ssh-key", str(key)).returncode == 0
    before = pool_files(kvm)
    killed = vmm("clone", "--full", source, kvm.prefix + "c", state=tmp_path,
                 faults="clone.seed-made:kill")  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    assert_told_and_cleaned(tmp_path)
    assert pool_files(kvm) == before


def _bad_inputs(tmp_path: Path, key: Path, image: str) -> list[tuple[list[str], str]]:
    private = tmp_path / "id"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n")
    not_yaml = tmp_path / "bad.yaml"
    not_yaml.write_text("#cloud-config\npackages: [nginx\n")
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    listed = tmp_path / "list.yaml"
    listed.write_text("#cloud-config\n- a\n- b\n")
    k = ["--ssh-key", str(key)]
    return [
        (["--image", "/etc/passwd", *k], "/etc/passwd does not look like a disk image"),
        (["--image", image, "--ssh-key", str(tmp_path / "nope.pub")], "nope.pub: no such file"),
        (["--image", image, "--ssh-key", str(private)], "is a private key: give the public one"),
        (
            ["--image", image, *k, "--user-data", str(not_yaml)],
            "bad.yaml is not valid YAML at line",
        ),
        (["--image", image, *k, "--user-data", str(script)], "script.sh is no cloud-config"),
        (["--image", image, *k, "--user-data", str(listed)], "must be a YAML mapping"),
        (["--image", image, *k, "--user", "Bad User"], "cannot be a user name in the guest"),
        (["--image", image, *k, "--disk-size", "0"], "--disk-size"),
        (["--image", image, "--no-cloud-init", *k], "--no-cloud-init makes no seed"),
        (["--image", image, "--base", image], "give --image (a cloud image) or --base"),
        (["--image", "nosuch.qcow2", *k], "no image 'nosuch.qcow2' in any storage pool"),
    ]


def test_bad_input_is_one_line_and_leaves_nothing(kvm, image, key, tmp_path):
    name = kvm.prefix + "bad"
    before = pool_files(kvm)
    for args, expected in _bad_inputs(tmp_path, key, image):
        result = vmm("new", name, *args)
        assert result.returncode != 0, args
        [line] = result.stderr.splitlines()
        assert expected in line, (args, line)
        assert "Traceback" not in result.stderr
    with pytest.raises(libvirt.libvirtError):
        kvm.conn.lookupByName(name)
    assert pool_files(kvm) == before


def test_no_key_anywhere_is_refused_before_anything_is_made(kvm, image, tmp_path):
    home = tmp_path / "empty-home"
    home.mkdir()
    result = vmm("new", kvm.prefix + "nokey", "--image", image, home=home)
    assert result.returncode == 1
    assert "no SSH public key to let you in" in result.stderr
    assert pool_files(kvm) == {f"{kvm.prefix}cloud.qcow2"}
    wrong = vmm("new", kvm.prefix + "nokey", "--image", "no-such.qcow2", home=home)
    assert wrong.returncode == 1 and "no-such.qcow2" in wrong.stderr  # the image is told first
    assert "SSH public key" not in wrong.stderr


def _with_profiles(tmp_path: Path, text: str) -> dict[str, str]:
    (tmp_path / "vmm").mkdir(exist_ok=True)
    (tmp_path / "vmm" / "config.toml").write_text(text)
    return {"XDG_CONFIG_HOME": str(tmp_path)}


def profile_config(image: str) -> str:
    return f"""
[profiles.small]
image = "{image}"
memory = 512
labels = ["lab"]
folder = "/lab"

[profiles.web]
base = "small"
vcpus = 2
labels = ["web"]

[profiles.plain]
base = "small"
cloud_init = false

[profiles.loop-a]
base = "loop-b"

[profiles.loop-b]
base = "loop-a"
"""


def test_a_profile_with_a_base_makes_the_vm_the_command_line_winning(kvm, image, key, tmp_path):
    env = _with_profiles(tmp_path, profile_config(image))
    name = kvm.prefix + "p"
    made = vmm("new", name, "-p", "web", "--ssh-key", str(key), "--memory", "768", env=env)
    assert made.returncode == 0, made.stderr
    dom = kvm.conn.lookupByName(name)
    assert dom.maxMemory() == 768 * 1024 and dom.vcpusFlags(libvirt.VIR_DOMAIN_VCPU_CONFIG) == 2
    listed = vmm("ls", "-r", "--json", env=env)
    [entry] = [e for e in json.loads(listed.stdout) if e["name"] == name]
    assert (entry["path"], entry["labels"]) == ("/lab", ["lab", "web"])
    assert seed_of(kvm, name).endswith(f"{kvm.prefix}p-seed.img")
    plain = vmm("new", kvm.prefix + "q", "-p", "plain", env=env)
    assert plain.returncode == 0, plain.stderr
    assert "cloud-init" not in plain.stdout
    assert all(d.find("readonly") is None for d in definition(kvm, kvm.prefix + "q").iter("disk"))


def test_a_profile_cycle_is_one_line_and_makes_nothing(kvm, image, key, tmp_path):
    env = _with_profiles(tmp_path, profile_config(image))
    result = vmm("new", kvm.prefix + "c", "-p", "loop-a", "--ssh-key", str(key), env=env)
    assert result.returncode == 1
    assert result.stderr == "vmm: error: profiles inherit in a circle: loop-a -> loop-b -> loop-a\n"
    assert pool_files(kvm) == {f"{kvm.prefix}cloud.qcow2"}


def test_the_ssh_agents_keys_are_let_in_too(kvm, image, tmp_path, tools):
    """A real ssh-agent holding a key that no ~/.ssh/*.pub file has."""
    require(shutil.which("ssh-agent") is not None, "ssh-agent is missing")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519.pub").write_text(KEY + "\n")
    agent_key = tmp_path / "agent_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "in-agent",
                    "-f", str(agent_key)], check=True)  # fmt: skip
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        for _ in range(50):
            if sock.exists():
                break
            time.sleep(0.1)
        subprocess.run(["ssh-add", "-q", str(agent_key)], env=env, check=True)
        name = kvm.prefix + "agent"
        result = subprocess.run(
            [vmm_exe(), "-c", "qemu:///system", "new", name, "--image", image, "--user", "ana"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
            env={**env, "HOME": str(home)},
        )  # fmt: skip
    finally:
        agent.terminate()
        agent.wait(timeout=10)
    assert result.returncode == 0, result.stderr
    assert "cloud-init lets ana in with 2 SSH keys" in result.stdout
    [user] = yaml.safe_load(seed_file(seed_of(kvm, name), "user-data"))["users"]
    in_agent = agent_key.with_suffix(".pub").read_text().split()[:2]
    assert user["ssh_authorized_keys"][0] == KEY
    assert user["ssh_authorized_keys"][1].split()[:2] == in_agent
