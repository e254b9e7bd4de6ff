"""The checksum a move compares: the same for the same content however it is cut into data
and holes (a target's file system lays holes out its own way), different for other content."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from vmm.virt.transfer import BLOCK, ContentHash

PIECES = st.lists(
    st.one_of(
        st.binary(min_size=1, max_size=3 * BLOCK),
        st.integers(min_value=1, max_value=5 * BLOCK).map(bytes),  # a run of zeros
    ),
    max_size=8,
)


def hashed(
    content: bytes, cuts: list[int], holes: set[int], segment: int | None = None
) -> tuple[int, int, str]:
    """`content` streamed in pieces cut at `cuts`; the all-zero pieces in `holes` as holes."""
    hasher = ContentHash(segment)
    edges = sorted({0, len(content), *(c for c in cuts if 0 < c < len(content))})
    for n, (start, end) in enumerate(itertools.pairwise(edges)):
        piece = content[start:end]
        if n in holes and not piece.strip(b"\0"):
            hasher.hole(len(piece))
        else:
            hasher.bytes(piece)
    done = hasher.result()
    return done.length, done.data, done.sha256


@settings(max_examples=400, deadline=None)
@given(PIECES, st.lists(st.integers(min_value=0, max_value=30000)), st.sets(st.integers(0, 40)))
def test_where_the_holes_are_does_not_change_the_checksum(pieces, cuts, holes):
    content = b"".join(pieces)
    length, _, plain = hashed(content, [], set())
    assert length == len(content)
    assert hashed(content, cuts, holes)[2] == plain


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=3 * BLOCK), st.integers(0, 3 * BLOCK - 1))
def test_other_content_gives_another_checksum(content, where):
    where %= len(content)
    changed = bytearray(content)
    changed[where] ^= 0xFF
    assert hashed(content, [], set())[2] != hashed(bytes(changed), [], set())[2]
    assert hashed(content, [], set())[2] != hashed(content + b"\0", [], set())[2]  # longer


def test_a_run_of_data_cut_anywhere_hashes_the_same():
    """What the real move found: the stream cuts a run of data blocks at other places on the
    way back than on the way there."""
    content = bytes(range(256)) * 64  # four blocks of data, no zero block
    assert len({hashed(content, [cut], set())[2] for cut in (0, 1, 4096, 5000, 12288)}) == 1


def test_holes_are_not_counted_as_data():
    hasher = ContentHash()
    hasher.bytes(b"x" * 10)
    hasher.hole(1 << 30)
    hasher.bytes(b"y")
    done = hasher.result()
    assert (done.length, done.data) == (10 + (1 << 30) + 1, 11)


def test_a_sparse_file_read_from_the_disk_hashes_as_its_stream(tmp_path):
    """The local read-back (SEEK_DATA/SEEK_HOLE) against the same content fed as one piece."""
    from vmm.virt.transfer import _file_pieces

    path = tmp_path / "sparse"
    with open(path, "wb") as f:
        f.write(b"a" * 5000)
        f.seek(3 << 20)
        f.write(b"b" * 10)
        f.truncate(8 << 20)  # a hole to the end
    hasher = ContentHash()
    for piece in _file_pieces(str(path)):
        (hasher.hole if isinstance(piece, int) else hasher.bytes)(piece)
    read = hasher.result()
    assert (read.length, read.sha256) == (8 << 20, hashed(path.read_bytes(), [], set())[2])
    assert read.data < 1 << 20  # the holes were not read


@settings(max_examples=300, deadline=None)
@given(PIECES, st.lists(st.integers(min_value=0, max_value=30000)), st.sets(st.integers(0, 40)))
def test_small_segments_change_nothing_of_that(pieces, cuts, holes):
    """Segments two blocks long, so that the content spans many: still the same checksum
    however the stream is cut, and another for other content."""
    content = b"".join(pieces)
    plain = hashed(content, [], set(), 2 * BLOCK)[2]
    assert hashed(content, cuts, holes, 2 * BLOCK)[2] == plain
    if content.strip(b"\0"):
        changed = bytearray(content)
        where = next(i for i, byte in enumerate(content) if byte)
        changed[where] ^= 0xFF
        assert hashed(bytes(changed), [], set(), 2 * BLOCK)[2] != plain


def test_a_local_file_hashed_in_parallel_segments_is_its_stream(tmp_path, monkeypatch):
    """checksum_file's threads, one segment each, against the file fed as one stream."""
    from vmm.virt import transfer

    monkeypatch.setattr(transfer, "SEGMENT", 64 * 1024)
    path = tmp_path / "sparse"
    with open(path, "wb") as f:
        for at in (0, 70_000, 200_000, 1 << 20):  # data across segments, holes between
            f.seek(at)
            f.write(bytes(range(1, 256)) * 300)
        f.truncate((3 << 20) + 1234)  # a hole to an end that is no block boundary
    read = transfer.checksum_file(str(path))
    streamed = hashed(path.read_bytes(), [4096 * 7, 99_999], set(), 64 * 1024)
    assert (read.length, read.sha256) == (streamed[0], streamed[2])
    assert read.data < 1 << 20  # the holes were not read
