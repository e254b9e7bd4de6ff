"""A qcow2 header's backing file name, read and rewritten; qemu-img is the witness."""

import json
import shutil
import subprocess

import pytest
from conftest import require

from vmm.model import qcow2
from vmm.model.errors import InvalidInput


@pytest.fixture
def overlay(tmp_path):
    require(shutil.which("qemu-img") is not None, "qemu-img is missing (make test installs it)")
    base = tmp_path / "base image.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "16M"], check=True)
    top = tmp_path / "top.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(top)],
        check=True,
    )
    return top, base


def _info(path) -> dict:
    shown = subprocess.run(
        ["qemu-img", "info", "--output=json", str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(shown.stdout)


def _rewritten(top, name: str):
    data = bytearray(top.read_bytes())
    head = qcow2.with_backing(bytes(data[:65536]), name)
    data[:65536] = head
    top.write_bytes(bytes(data))


def test_the_backing_file_named_in_the_header_is_read(overlay):
    top, base = overlay
    found = qcow2.backing_of(top.read_bytes()[:65536])
    assert found is not None and found.name == str(base) and found.cluster_size == 65536


@pytest.mark.parametrize("new", ["/x/b.qcow2", "/a/much/longer/path/to/the/ünïcode base.qcow2"])
def test_a_rewritten_name_is_what_qemu_img_reads(overlay, new):
    top, base = overlay
    _rewritten(top, new)
    info = _info(top)
    assert info["backing-filename"] == new and info["backing-filename-format"] == "qcow2"
    assert qcow2.backing_of(top.read_bytes()[:65536]).name == new
    _rewritten(top, str(base))  # and back: qemu-img checks the whole image clean
    assert subprocess.run(["qemu-img", "check", "-q", str(top)], check=False).returncode == 0


def test_no_backing_not_qcow2_and_a_name_too_long_are_told(overlay, tmp_path):
    top, base = overlay
    assert qcow2.backing_of(base.read_bytes()[:65536]) is None
    with pytest.raises(InvalidInput, match="no backing file to rename"):
        qcow2.with_backing(base.read_bytes()[:65536], "/x")
    with pytest.raises(InvalidInput, match="not a qcow2 image"):
        qcow2.backing_of(b"\0" * 512)
    with pytest.raises(InvalidInput, match="does not fit"):
        qcow2.with_backing(top.read_bytes()[:65536], "/" + "x" * 70000)
