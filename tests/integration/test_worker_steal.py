"""The worker's side of work stealing (src/python/bulkhead_worker.py), without a supervisor: the
worker is the authority on what it gives back. A unit goes back whole or not at all, never the
test it already promised pytest as `nextitem`, never one it took to run; and when a steal races
the worker taking its next test, each index ends up either run or given back, never both."""
import collections
import os
import sys
import threading

import pytest

sys.path.insert(0, os.path.join(os.environ.get("BULKHEAD_SOURCE_DIR", os.path.join(
    os.path.dirname(__file__), "..", "..")), "src", "python"))
import bulkhead_worker  # noqa: E402


class FakeChannel:
    def __init__(self):
        self.sent = []
        self.lock = threading.Lock()

    def send_now(self, message):
        with self.lock:
            self.sent.append(message)


def worker_holding(indices, committed=None):
    worker = bulkhead_worker.BulkheadWorker.__new__(bulkhead_worker.BulkheadWorker)
    worker._queue = collections.deque(indices)
    worker._queue_lock = threading.Lock()
    worker._committed = committed
    worker.channel = FakeChannel()
    return worker


def test_gives_back_whole_waiting_units_only():
    worker = worker_holding([4, 5, 6, 7, 8, 9], committed=4)
    worker._release({"cmd": "steal", "units": [[4], [6, 7], [8, 10], [9]]})
    # 4 is the committed nextitem, 10 is not held here (so unit [8, 10] stays whole, with us).
    assert worker.channel.sent == [{"event": "released", "indices": [6, 7, 9]}]
    assert list(worker._queue) == [4, 5, 8]


def test_answers_even_when_nothing_goes_back():
    worker = worker_holding([], committed=None)
    worker._release({"cmd": "steal", "units": [[1]]})
    assert worker.channel.sent == [{"event": "released", "indices": []}]


def test_take_next_commits_the_following_test():
    worker = worker_holding([1, 2, 3])
    assert worker._take_next(no_more=False, go=False) == 1
    assert worker._committed == 2
    worker._release({"units": [[2], [3]]})
    assert worker.channel.sent[-1]["indices"] == [3]
    # One left and more may come: wait (it is needed as nextitem or told it is the last).
    assert worker._take_next(no_more=False, go=False) is None
    assert worker._take_next(no_more=False, go=True) == 2
    assert worker._committed is None
    assert worker._take_next(no_more=True, go=False) is None


@pytest.mark.parametrize("seed", range(20))
def test_a_steal_racing_the_next_test_never_loses_or_doubles_one(seed):
    """The main thread takes tests as fast as it can while another thread steals from the end;
    every index is run or given back exactly once."""
    import random
    rng = random.Random(seed)
    indices = list(range(400))
    worker = worker_holding(indices)
    ran = []
    done = threading.Event()

    def run_all():
        while True:
            index = worker._take_next(no_more=True, go=False)
            if index is None:
                break
            ran.append(index)
        done.set()

    runner = threading.Thread(target=run_all)
    runner.start()
    while not done.is_set():
        with worker._queue_lock:
            tail = list(worker._queue)[-rng.randint(1, 6):]
        if tail:
            worker._release({"units": [[i] for i in tail] + [tail]})
    runner.join()
    given_back = [i for message in worker.channel.sent for i in message["indices"]]
    assert sorted(ran + given_back) == indices
    committed_given = set(given_back) & set(ran)
    assert not committed_given
