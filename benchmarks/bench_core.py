"""Core benchmarks: compile time of the unrolled RNN, the on-disk cache, and batch
value+gradient throughput against a hand-written ``@njit(parallel=True)`` kernel.

    .venv/bin/python benchmarks/bench_core.py [--steps 10,100,1000] [--points 2000000]

Each compile is timed in a fresh process with an empty cache (then again with the cache
warm); throughput figures are medians of repeated runs, as ratios to the hand kernel
measured in the same process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from rnn import rnn_source  # noqa: E402

from chaincc.native import NATIVE_STATEMENTS  # noqa: E402

COMPILE_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import chaincc
import numpy as np
t1 = time.perf_counter()
fn = chaincc.compile(sys.stdin.read())
x = np.linspace(-0.9, 0.9, len(fn.params))
value, grad = fn.value_and_grad(*x)      # forces the Numba compile of the fused kernel
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "compile": t2 - t1, "ops": fn.op_counts(),
                  "value": value}))
"""


def time_compile(steps: int, cache: str) -> dict:
    env = dict(os.environ, CHAINCC_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, "-c", COMPILE_CHILD], input=rnn_source(steps),
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def bench_compile(steps_list: list[int]) -> None:
    print("Compile time, unrolled RNN h_t = tanh(w h_{t-1} + u x_t), loss h_T²,")
    print("gradient w.r.t. w, u and every x_t (parse → adjoint → CSE → native code, first "
          "call;")
    print(f"programs over {NATIVE_STATEMENTS:,} statements compile through LLVM directly, "
          "smaller ones through Numba)")
    print(f"{'T':>6} {'params':>7} {'fwd ops':>8} {'v+g ops':>8} {'cold (s)':>9} "
          f"{'cached, new process (s)':>24}")
    for steps in steps_list:
        with tempfile.TemporaryDirectory() as cache:
            cold = time_compile(steps, cache)
            warm = time_compile(steps, cache)
        assert cold["value"] == warm["value"]
        print(f"{steps:>6} {steps + 2:>7} {cold['ops']['forward']:>8} "
              f"{cold['ops']['value_and_grad']:>8} {cold['compile']:>9.2f} "
              f"{warm['compile']:>24.3f}")


def hand_kernels():
    import numba
    from numba import njit, prange

    @njit(parallel=True, error_model="numpy")
    def seed(x, y, v, gx, gy):
        for i in prange(x.shape[0]):
            xi, yi = x[i], y[i]
            u = xi * xi + xi * yi
            y2 = yi * yi
            y3 = y2 * yi
            v[i] = u * y3
            gx[i] = (2.0 * xi + yi) * y3
            gy[i] = xi * y3 + 3.0 * u * y2

    @njit(parallel=True, error_model="numpy")
    def rosen(x, y, v, gx, gy):
        for i in prange(x.shape[0]):
            xi, yi = x[i], y[i]
            a = 1.0 - xi
            b = yi - xi * xi
            v[i] = a * a + 100.0 * b * b
            gx[i] = -2.0 * a - 400.0 * b * xi
            gy[i] = 200.0 * b

    return numba, seed, rosen


def paired_times(ours, theirs, repeats: int) -> tuple[float, float, float]:
    """Medians of alternating runs, and the median of the per-pair speed ratios."""
    ours()
    theirs()
    a, b, r = [], [], []
    for k in range(repeats):
        # alternate which side goes first, so neither inherits the other's warm state
        first, second = (theirs, ours) if k % 2 else (ours, theirs)
        t = time.perf_counter()
        first()
        t1 = time.perf_counter()
        second()
        t2 = time.perf_counter()
        t_theirs, t_ours = (t1 - t, t2 - t1) if k % 2 else (t2 - t1, t1 - t)
        a.append(t_ours)
        b.append(t_theirs)
        r.append(t_theirs / t_ours)
    return statistics.median(a), statistics.median(b), statistics.median(r)


def bench_batch(points: int, repeats: int) -> None:
    import numpy as np

    import chaincc
    numba, seed, rosen = hand_kernels()
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-2, 2, points), rng.uniform(-2, 2, points)
    cases = [("seed (x² + xy)y³", "f(x, y) = (x² + xy)y³", seed),
             ("Rosenbrock", "f(x, y) = (1 - x)² + 100(y - x²)²", rosen)]
    print(f"\nBatch value+gradient, {points:,} points, float64, "
          f"{numba.get_num_threads()} threads, median of {repeats}")
    print(f"{'function':<30} {'chaincc Mpt/s':>14} {'hand @njit Mpt/s':>17} "
          f"{'speed ratio':>7}")
    for label, src, hand in cases:
        fn = chaincc.compile(src)
        outs = (np.empty(points), (np.empty(points), np.empty(points)))
        hv = [np.empty(points) for _ in range(3)]
        hand(x, y, *hv)
        v, g = fn.value_and_grad(x, y, out=outs)
        assert np.allclose(v, hv[0], rtol=1e-13) and np.allclose(g[0], hv[1], rtol=1e-12) \
            and np.allclose(g[1], hv[2], rtol=1e-12)
        # into arrays allocated once (as the hand kernel writes), and allocating each
        # call; runs alternate with the hand kernel's, and the ratio is the median of
        # the pairs, so a shared machine's drift hits both sides alike
        cases = (("out=", lambda fn=fn, o=outs: fn.value_and_grad(x, y, out=o)),
                 ("new arrays", lambda fn=fn: fn.value_and_grad(x, y)))
        for what, run in cases:
            t_ours, t_hand, ratios = paired_times(run, lambda h=hand, o=hv: h(x, y, *o),
                                                  repeats)
            print(f"{label + ', ' + what:<30} {points / t_ours / 1e6:>14.0f} "
                  f"{points / t_hand / 1e6:>17.0f} {ratios:>7.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", default="10,100,1000")
    ap.add_argument("--points", type=int, default=2_000_000)
    ap.add_argument("--repeats", type=int, default=31)
    ap.add_argument("--skip-compile", action="store_true")
    args = ap.parse_args()
    if not args.skip_compile:
        bench_compile([int(s) for s in args.steps.split(",")])
    bench_batch(args.points, args.repeats)


if __name__ == "__main__":
    main()
