"""The FAT12 images vmm writes for seeds, read back by mtools and checked by fsck.fat (tools
that share no code with vmm), and by vmm's own reader."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from conftest import require
from hypothesis import given, settings
from hypothesis import strategies as st

from vmm.model import fat
from vmm.model.errors import InvalidInput

FILES = {
    "meta-data": b"instance-id: i-1\nlocal-hostname: web\n",
    "user-data": "#cloud-config\n# é ü 中\n".encode() + b"x" * 3000,  # several clusters
    "network-config": b"",
    "exactly13char": b"13",  # a long name that fills one entry, no terminator
}


@pytest.fixture
def witnesses():
    for tool in ("mtype", "mdir", "fsck.fat"):
        require(shutil.which(tool) is not None, f"{tool} is missing (make test installs it)")


def test_mtools_and_fsck_read_what_vmm_wrote(tmp_path, witnesses):
    path = tmp_path / "seed.img"
    path.write_bytes(fat.image(FILES, "cidata"))
    check = subprocess.run(["fsck.fat", "-n", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Truncating" not in check.stdout and "Free cluster" not in check.stdout
    listing = subprocess.run(["mdir", "-i", str(path), "::"], capture_output=True, text=True)
    assert "Volume in drive : is CIDATA" in listing.stdout
    for name, data in FILES.items():
        shown = subprocess.run(["mtype", "-i", str(path), f"::{name}"], capture_output=True)
        assert shown.stdout == data, name


def test_the_same_files_give_the_same_image():
    assert fat.image(FILES, "cidata") == fat.image(dict(FILES), "cidata")


NAME_CHARS = st.characters(
    blacklist_characters='/\\:*?"<>|', blacklist_categories=("Cs", "Cc"), max_codepoint=0xFFFE
)
NAMES = st.text(NAME_CHARS, min_size=1, max_size=40).filter(lambda n: n[-1] not in " .")


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(NAMES, st.binary(max_size=5000), max_size=4).filter(
        lambda files: len({n.casefold() for n in files}) == len(files)
    )
)
def test_vmms_reader_reads_back_any_files(files):
    assert fat.read(fat.image(files, "cidata")) == files


def test_what_does_not_fit_is_refused():
    with pytest.raises(InvalidInput, match="at most 2 MiB fit"):
        fat.image({"user-data": b"x" * 3 * 2**20}, "cidata")
    with pytest.raises(InvalidInput, match="cannot be a file name"):
        fat.image({"a/b": b""}, "cidata")
    with pytest.raises(InvalidInput, match="differ only in case"):
        fat.image({"User-Data": b"", "user-data": b""}, "cidata")


def test_what_is_no_seed_is_told_apart():
    with pytest.raises(fat.NotOurImage):
        fat.read(b"\x00" * 4096)
