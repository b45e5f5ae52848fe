"""workerinput values bulkhead supplies itself, for installed plugins whose controller side
cannot reach, or need not reach, a sandboxed worker.

- pytest-rerunfailures (with pytest-xdist installed) gives each worker the TCP port of a status
  server in the controller, which a worker's network namespace cannot reach. Its only use is
  rerunning *crashed* tests through xdist's scheduler, which bulkhead does not offer (it reports
  the crash instead), so each worker keeps the counts in memory: its client class is replaced
  by an in-memory one. Reruns of failing tests work as under xdist.
- pytest-random-order reads the controller's seed at configure time: without a host session,
  every worker derives the same seed from the run id, or takes the user's `--random-order-seed`.
"""

import hashlib
import sys


def _rerunfailures_in_memory():
    """True when pytest-rerunfailures' worker-side status client now keeps counts in memory."""
    module = sys.modules.get("pytest_rerunfailures")
    if module is None or not getattr(module, "HAS_PYTEST_HANDLECRASHITEM", False):
        return False

    class InMemoryStatusDB(module.StatusDB):
        def __init__(self, sock_port=None):
            super().__init__()
            self.counts = {}

        def _set(self, i, k, v):
            self.counts.setdefault(i, {})[k] = v

        def _get(self, i, k):
            return self.counts.get(i, {}).get(k, 0)

    module.ClientStatusDB = InMemoryStatusDB
    return True


def _random_order_seed(namespace, run_uid):
    if "random_order" not in sys.modules:
        return None
    seed = getattr(namespace, "random_order_seed", None)
    if not isinstance(seed, str):
        return None
    if not seed.startswith("default:"):
        return seed  # the user's --random-order-seed
    digest = hashlib.sha256(run_uid.encode("utf-8")).hexdigest()
    return "default:%d" % (int(digest[:8], 16) % 1000000 + 1)


def complete_workerinput(workerinput, namespace):
    """Fills in what the plugins above read from config.workerinput (in place)."""
    if _rerunfailures_in_memory():
        dict.__setitem__(workerinput, "sock_port", 0)
    if not dict.__contains__(workerinput, "random_order_seed"):
        seed = _random_order_seed(namespace, str(dict.get(workerinput, "testrunuid", "")))
        if seed is not None:
            dict.__setitem__(workerinput, "random_order_seed", seed)
