import os


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def test_fib(benchmark):
    # A few fixed rounds: the benchmark really runs (its run mode), quickly.
    assert benchmark.pedantic(fib, args=(10,), rounds=3, iterations=1) == 55
    if os.environ.get("COMPAT_BENCHMARK_DISABLED") == "1":
        assert benchmark.disabled
    else:
        assert not benchmark.disabled and benchmark.stats.stats.rounds == 3
