"""Concurrency: the first calls of a new function from many threads at once, and batch
calls in a child made by fork after the parent's batch calls."""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import threading

import numpy as np
import pytest

import chaincc
from chaincc import native

THREADS = 8


def hand(x, y, c):
    """By hand: value and gradient of ``x*sin(y) + x^2 + c``."""
    return x * np.sin(y) + x * x + c, (np.sin(y) + 2 * x, x * np.cos(y))


@pytest.mark.parametrize("backend,rep", [("numba", r) for r in range(10)] +
                         [("llvm", r) for r in range(2)])
def test_first_calls_from_eight_threads_at_once(tmp_path, monkeypatch, backend,
                                                rep) -> None:
    monkeypatch.setenv("CHAINCC_CACHE_DIR", str(tmp_path / "cache"))
    if backend == "llvm":                            # every program on the LLVM backend
        monkeypatch.setattr(native, "NATIVE_STATEMENTS", 0)
    c = 100 * os.getpid() + rep + (0.5 if backend == "numba" else 0.25)  # a new function
    f = chaincc.compile(f"f(x, y) = x*sin(y) + x^2 + {c!r}")
    xs = np.linspace(-2.0, 2.0, 64)
    start = threading.Barrier(THREADS)
    results: dict[int, object] = {}

    def call(t: int) -> None:
        try:
            start.wait(timeout=60)
            # half the threads make the first scalar call, half the first batch call
            results[t] = f.value_and_grad(xs if t % 2 else 0.75, 0.3)
        except BaseException as err:                # reported below, per thread
            results[t] = err

    threads = [threading.Thread(target=call, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    for t in range(THREADS):
        r = results[t]
        assert not isinstance(r, BaseException), f"thread {t}: {r!r}"
        v, g = r
        want_v, want_g = hand(xs if t % 2 else 0.75, 0.3, c)
        np.testing.assert_allclose(v, want_v, rtol=1e-14)
        for a, b in zip(g, want_g):
            np.testing.assert_allclose(a, b, rtol=1e-14)


@pytest.mark.skipif(sys.platform == "win32" or
                    "fork" not in multiprocessing.get_all_start_methods(),
                    reason="needs fork")
def test_batch_calls_in_a_child_made_by_fork(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CHAINCC_CACHE_DIR", str(tmp_path / "cache"))
    c = 100 * os.getpid() + 0.125
    f = chaincc.compile(f"f(x, y) = x*sin(y) + x^2 + {c!r}")
    # >= 8192 points: chaincc's thread pool; >= 65536: also Numba's parallel loops
    sizes = (10_000, 70_000)
    xs = {n: np.linspace(-2.0, 2.0, n) for n in sizes}
    want = {n: hand(xs[n], 0.3, c) for n in sizes}
    for n in sizes:                                  # the parent's threads are running
        v, _ = f.value_and_grad(xs[n], 0.3)
        np.testing.assert_allclose(v, want[n][0], rtol=1e-14)

    def child() -> None:
        ok = True
        for n in sizes:
            v, g = f.value_and_grad(xs[n], 0.3)
            total = f(xs[n], 0.3, reduce="sum")
            ok = ok and np.allclose(v, want[n][0], rtol=1e-14) and \
                np.allclose(g[0], want[n][1][0], rtol=1e-14) and \
                math.isclose(total, float(np.sum(want[n][0])), rel_tol=1e-12)
        os._exit(0 if ok else 3)

    p = multiprocessing.get_context("fork").Process(target=child)
    p.start()
    p.join(timeout=60)
    if p.is_alive():
        p.kill()
        p.join()
        pytest.fail("the child made by fork hung on its first batch call")
    assert p.exitcode == 0
