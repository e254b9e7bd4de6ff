import threading

import pytest

from vmm.parallel import parallel_map


def test_results_keep_their_order_and_run_on_several_threads():
    seen = set()
    barrier = threading.Barrier(4, timeout=5)

    def work(x):
        seen.add(threading.get_ident())
        if x < 4:
            barrier.wait()  # only passes if four calls run at once
        return x * x

    assert parallel_map(work, range(20), 4) == [x * x for x in range(20)]
    assert len(seen) == 4


def test_the_first_error_is_raised():
    def work(x):
        if x == 3:
            raise ValueError("three")
        return x

    with pytest.raises(ValueError, match="three"):
        parallel_map(work, range(10), 3)


def test_empty_input():
    assert parallel_map(lambda x: x, [], 8) == []
