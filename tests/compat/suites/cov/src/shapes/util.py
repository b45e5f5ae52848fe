def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


def only_in_a_subprocess():
    return "measured through pytest-cov's subprocess hook"


def only_in_a_child_process(queue):
    queue.put("measured through coverage's multiprocessing support")
