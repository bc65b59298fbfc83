"""Iteration compiled as loops (docs/language.md, "Iteration"): what a loop costs to
compile, how fast it runs, and its gradient's memory.

1. Compile time (a new process, an empty cache: compile and the first value-and-gradient
   call) and the generated C's size against the number of steps T, for the tanh RNN with
   a scalar state and with an 8-wide state (W[8,8]), beside the unrolled program's at
   T = 10, 100 and 1,000.
2. Batch value-and-gradient throughput of the T = 1,000 scalar RNN over 100,000
   sequences, in steps per second: the loop, the unrolled kernel at T = 100 (per step),
   and JAX's lax.scan + value_and_grad + vmap, in the same run.
3. Gradient memory per point at T = 100,000, with checkpointing (automatic above 65,536
   tape elements) and without (the whole tape), and what checkpointing costs in time.

    python benchmarks/bench_loops.py [--quick]
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

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from iteration_cases import rnn_scalar, rnn_vector  # noqa: E402

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import chaincc
src, kind = sys.argv[1], sys.argv[2]
t1 = time.perf_counter()
try:
    f = chaincc.compile(src, name="rnn.txt")
    rng = np.random.default_rng(0)
    args = []
    for p, shape in zip(f.params, f.shapes):
        args.append(rng.normal(size=shape) * 0.3 if shape else 0.3)
    f.value_and_grad(*args)
    t2 = time.perf_counter()
    f.value_and_grad(*args)
    t3 = time.perf_counter()
    # compile: the first call less a second one (which only runs the kernel)
    out = {"import": t1 - t0, "first": t2 - t1, "compile": (t2 - t1) - (t3 - t2)}
    if kind == "c":
        out["c_bytes"] = len(f.c_source()[1].encode())
except Exception as e:
    out = {"error": type(e).__name__ + ": " + str(e).splitlines()[0][:120]}
print(json.dumps(out))
"""


def child(src: str, kind: str = "") -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, CHAINCC_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", CHILD, src, kind], env=env,
                             capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1][:160]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_of(src: str, repeats: int, kind: str = "") -> dict:
    rows = [child(src, kind) for _ in range(repeats)]
    if any("error" in r for r in rows):
        return next(r for r in rows if "error" in r)
    out = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    return out


def compile_table(steps: list[int], unrolled_steps: list[int], repeats: int) -> None:
    print("\n## Compile time (new process, empty cache): the first value_and_grad call less "
          f"a second one, and the first call itself; median of {repeats}; C size of "
          "`chaincc compile`")
    print("| T | scalar: compile s | first call s | C bytes | 8-wide: compile s | first call s |"
          " C bytes | unrolled scalar: compile s | unrolled 8-wide: compile s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for T in steps:
        s = median_of(rnn_scalar(T).looped, repeats, "c")
        v = median_of(rnn_vector(T).looped, repeats, "c")
        su = median_of(rnn_scalar(T).unrolled, repeats) if T in unrolled_steps else None
        vu = median_of(rnn_vector(T).unrolled, repeats) if T in unrolled_steps else None

        def cell(r, key="compile"):
            if r is None:
                return ""
            return r["error"][:60] if "error" in r else \
                f"{r[key]:,}" if key == "c_bytes" else f"{r[key]:.3f}"
        print(f"| {T:,} | {cell(s)} | {cell(s, 'first')} | {cell(s, 'c_bytes')} | {cell(v)} | "
              f"{cell(v, 'first')} | {cell(v, 'c_bytes')} | {cell(su)} | {cell(vu)} |",
              flush=True)


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def throughput(n: int, repeats: int) -> None:
    import chaincc
    T = 1000
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, T)) * 0.5
    w = np.full(n, 0.5)
    u = np.full(n, 0.3)
    print(f"\n## Batch value_and_grad, scalar tanh RNN, {n:,} sequences, median of "
          f"{repeats} (M steps/s = sequences x steps / s)")
    print("| tool | T | s | M steps/s |")
    print("|---|---:|---:|---:|")
    f = chaincc.compile(rnn_scalar(T).looped)
    f.value_and_grad(w[:10], u[:10], x[:10])
    gw, gu, gx = np.empty(n), np.empty(n), np.empty((n, T))
    val = np.empty(n)
    t = timed(lambda: f.value_and_grad(w, u, x, out=(val, (gw, gu, gx))), repeats)
    print(f"| chaincc loop | {T} | {t:.3f} | {n * T / t / 1e6:.1f} |", flush=True)
    g = chaincc.compile(rnn_scalar(100).unrolled)
    x100 = np.ascontiguousarray(x[:, :100])
    g.value_and_grad(w[:10], u[:10], x100[:10])
    gx100 = np.empty((n, 100))
    t = timed(lambda: g.value_and_grad(w, u, x100, out=(val, (gw, gu, gx100))), repeats)
    print(f"| chaincc unrolled | 100 | {t:.3f} | {n * 100 / t / 1e6:.1f} |", flush=True)
    try:
        import jax
        import jax.numpy as jnp
        jax.config.update("jax_enable_x64", True)
    except ImportError:
        print("| JAX lax.scan | | not installed (pip install -e '.[bench]') | |")
        return

    def loss(w, u, xs):
        def step(h, xt):
            return jnp.tanh(w * h + u * xt), None
        h, _ = jax.lax.scan(step, jnp.zeros(()), xs)
        return h * h
    vg = jax.jit(jax.vmap(jax.value_and_grad(loss, argnums=(0, 1, 2))))
    jw, ju, jx = jnp.asarray(w), jnp.asarray(u), jnp.asarray(x)
    ref = vg(jw, ju, jx)
    jax.block_until_ready(ref)
    agree = float(np.max(np.abs(np.asarray(ref[1][2]) - gx)))
    t = timed(lambda: jax.block_until_ready(vg(jw, ju, jx)), repeats)
    print(f"| JAX jit(vmap(value_and_grad(lax.scan))) | {T} | {t:.3f} | "
          f"{n * T / t / 1e6:.1f} |")
    print(f"\n(JAX's and chaincc's gradients differ by at most {agree:.1e})")


def memory(repeats: int, n: int) -> None:
    import chaincc
    import chaincc.iterate as iterate
    T = 100_000
    case = rnn_scalar(T)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(n, T)) * 0.5
    w, u = np.full(n, 0.5), np.full(n, 0.3)
    print(f"\n## Gradient memory per point at T = {T:,} (scratch memory: tapes and "
          f"checkpoints), and time for {n} sequences, median of {repeats}")
    print("| reverse sweep | scratch per point | s | relative time |")
    print("|---|---:|---:|---:|")
    base = None
    for label, limit in (("checkpointed (default above 65,536 elements)",
                          iterate.CHECKPOINT_ELEMENTS), ("whole tape", 10**12)):
        iterate.CHECKPOINT_ELEMENTS = limit
        f = chaincc.compile(case.looped, name=f"rnn_{limit}.txt")
        prog = f.compiled.fused
        scratch = sum(b.size for b in prog.buffers) * 8
        f.value_and_grad(w[:2], u[:2], x[:2])
        t = timed(lambda f=f: f.value_and_grad(w, u, x), repeats)
        base = base or t
        print(f"| {label} | {scratch:,} B | {t:.3f} | {t / base:.2f} |", flush=True)
    iterate.CHECKPOINT_ELEMENTS = iterate._DEFAULTS[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    ap.add_argument("--only", choices=["compile", "throughput", "memory"])
    a = ap.parse_args()
    repeats = 1 if a.quick else 3
    if a.only in (None, "compile"):
        steps = [10, 1000, 1_000_000] if a.quick else [10, 100, 1000, 10_000, 100_000,
                                                       1_000_000]
        compile_table(steps, [10, 100, 1000], repeats)
    if a.only in (None, "throughput"):
        throughput(10_000 if a.quick else 100_000, repeats)
    if a.only in (None, "memory"):
        memory(repeats, 8 if a.quick else 64)


if __name__ == "__main__":
    main()
