import threading
import time

import pytest

from vmm.virt.parallel import Silent, parallel_map, pipelined_map, workers_for


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


def test_then_runs_on_the_calling_thread_in_order():
    caller = threading.get_ident()
    ran_on = set()

    def then(_item, x):
        ran_on.add(threading.get_ident())
        return -x

    assert parallel_map(lambda x: x, range(50), 8, then) == [-x for x in range(50)]
    assert ran_on == {caller}


def test_calls_that_wait_get_threads_and_calls_that_compute_get_none():
    assert workers_for(wall=0.010, cpu=0.0002, most=64) == 64  # a round trip on a link
    assert workers_for(wall=0.0004, cpu=0.0001, most=64) == 64  # a local daemon
    assert workers_for(wall=0.00005, cpu=0.00005, most=64) == 1  # an in-process driver


def test_pipelined_map_times_the_first_call_then_goes_wide_when_calls_wait():
    threads = set()

    def wait(x):
        threads.add(threading.get_ident())
        time.sleep(0.01)
        return x

    assert pipelined_map(wait, range(16), 8) == list(range(16))
    assert len(threads) > 1


def test_pipelined_map_stays_on_this_thread_when_calls_only_compute():
    threads = set()

    def compute(x):
        threads.add(threading.get_ident())
        return sum(range(300_000 + x))  # some 5 ms: long beside a preemption's few

    pipelined_map(compute, range(8), 8)
    assert threads == {threading.get_ident()}


def test_a_map_that_hears_nothing_for_its_stall_gives_up():
    never = threading.Event()

    def work(x):
        if x == 5:
            never.wait()  # a call to a host that stopped answering
        return x

    started = time.monotonic()
    with pytest.raises(Silent, match=r"no answer within 0\.3s"):
        parallel_map(work, range(10), 4, stall=0.3)
    assert 0.3 <= time.monotonic() - started < 5
    never.set()


def test_a_stall_counts_from_the_last_answer_not_from_the_start():
    def slow(x):
        time.sleep(0.1)
        return x

    # 12 answers 0.1 s apart take 1.2 s in all, four times the stall
    assert parallel_map(slow, range(12), 1, stall=0.3) == list(range(12))


def test_with_a_stall_even_one_call_runs_on_a_thread():
    ran_on = []
    assert parallel_map(lambda x: ran_on.append(threading.get_ident()) or x, [1], 1, stall=5) == [1]
    assert ran_on != [threading.get_ident()]
