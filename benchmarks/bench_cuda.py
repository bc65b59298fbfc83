"""GPU value+gradient throughput: chaincc's fused CUDA kernels against the device's own
copy bandwidth, JAX ``jit(vmap(value_and_grad))`` and PyTorch autograd.

    .venv/bin/python benchmarks/bench_cuda.py [--points 100000000] [--repeats 5]

Functions: the seed example, Rosenbrock and a logistic loss (samples/), every input an
array with one value per point, in float64 and float32. For each, the bytes a kernel must
move (inputs read, value and gradient written) are compared with a device-to-device copy
that moves as many bytes (a copy of half that size reads and writes it): these kernels are
memory-bound, so the copy is the ceiling. Times are the best of ``--repeats`` runs after a
warm-up call that compiles. ``kernel`` launches the batch kernel on preallocated outputs;
``call`` is ``fn.value_and_grad(*device_arrays)``, output allocation included.

With no GPU the script says so and exits 0; under NUMBA_ENABLE_CUDASIM=1 it runs its
whole logic on the simulator (use a small ``--points``; the figures mean nothing there).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import chaincc  # noqa: E402

FUNCTIONS = ("seed", "rosenbrock", "logistic")


def gpu_or_none():
    """numba.cuda when a GPU (or the simulator) can run kernels, else None."""
    try:
        from numba import cuda
    except ImportError:
        return None
    return cuda if cuda.is_available() else None


def best_time(run: Callable[[], object], sync: Callable[[], None], repeats: int) -> float:
    run()
    sync()
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        sync()
        best = min(best, time.perf_counter() - t)
    return best


cuda = None              # numba.cuda, set by main(): kernels here find it as a global


def _fill(out, salt):
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        h = math.sin((i + 1) * 12.9898 + salt * 78.233) * 43758.5453
        out[i] = 2.0 * (h - math.floor(h)) - 1.0


def device_inputs(n: int, count: int, dtype) -> list:
    """``count`` device arrays of n values in [-1, 1), made on the device (a hash of the
    index), so no host array of 100M points is needed."""
    from chaincc.cuda import launch_config
    fill = cuda.jit(_fill)[launch_config(cuda, n)]
    arrays = []
    for k in range(count):
        a = cuda.device_array(n, dtype=dtype)
        fill(a, float(k))
        arrays.append(a)
    return arrays


# -- peers: the same functions written for JAX and PyTorch -------------------------------
def peer_functions(xp, sigmoid, log):
    def seed(x, y):
        return (x * x + x * y) * y ** 3

    def rosenbrock(x, y):
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2

    def logistic(w1, w2, b, x1, x2, y):
        s = sigmoid(w1 * x1 + w2 * x2 + b)
        return -(y * log(s) + (1 - y) * log(1 - s))
    return {"seed": seed, "rosenbrock": rosenbrock, "logistic": logistic}


def bench_jax(name: str, n: int, nargs: int, dtype, repeats: int) -> float | None:
    try:
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    if not any(d.platform == "gpu" for d in jax.devices()):
        return None
    jax.config.update("jax_enable_x64", True)
    f = peer_functions(jnp, jax.nn.sigmoid, jnp.log)[name]
    vg = jax.jit(jax.vmap(jax.value_and_grad(f, argnums=tuple(range(nargs)))))
    keys = jax.random.split(jax.random.PRNGKey(0), nargs)
    xs = [jax.random.uniform(k, (n,), dtype=dtype, minval=-1, maxval=1) for k in keys]
    out: list = []
    return best_time(lambda: out.append(vg(*xs)),
                     lambda: jax.block_until_ready(out.pop()) if out else None, repeats)


def bench_torch(name: str, n: int, nargs: int, dtype, repeats: int) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.cuda.empty_cache()
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    f = peer_functions(torch, torch.sigmoid, torch.log)[name]
    xs = [(torch.rand(n, dtype=tdt, device="cuda") * 2 - 1).requires_grad_()
          for _ in range(nargs)]

    def run():
        for x in xs:
            x.grad = None
        v = f(*xs)
        # points are independent, so the gradient of the sum is every point's gradient
        v.sum().backward()
        return v
    return best_time(run, torch.cuda.synchronize, repeats)


# -- chaincc and the copy baseline ---------------------------------------------------------
def bench_one(name: str, n: int, dtype, repeats: int, peers: bool) -> dict:
    src = (ROOT / "samples" / f"{name}.txt").read_text(encoding="utf-8")
    fn = chaincc.compile(src, target="cuda", dtype=dtype)
    nargs = len(fn.params)
    xs = device_inputs(n, nargs, dtype)
    outs = [cuda.device_array(n, dtype=dtype) for _ in range(1 + nargs)]
    from chaincc.cuda import launch_config
    blocks, threads = launch_config(cuda, n)
    kernel = fn._kernels["vg_batch"][blocks, threads]
    moved = (nargs + 1 + nargs) * n * np.dtype(dtype).itemsize
    t_kernel = best_time(lambda: kernel(n, *xs, *outs), cuda.synchronize, repeats)
    t_call = best_time(lambda: fn.value_and_grad(*xs), cuda.synchronize, repeats)
    # check the kernel against the CPU on a few points
    cpu = chaincc.compile(src)
    k = min(n, 1000)
    host = [x[:k].copy_to_host() for x in xs]
    want = cpu.value_and_grad(*host)
    got = [o[:k].copy_to_host() for o in outs]
    tol = 1e-12 if dtype == np.float64 else 1e-4
    for g, w in zip(got, [want[0], *want[1]]):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * float(np.max(np.abs(w))))
    src_buf = cuda.device_array(moved // 2, dtype=np.uint8)
    dst_buf = cuda.device_array(moved // 2, dtype=np.uint8)
    t_copy = best_time(lambda: dst_buf.copy_to_device(src_buf), cuda.synchronize, repeats)
    row = {"name": name, "dtype": np.dtype(dtype).name, "n": n, "bytes": moved,
           "kernel": t_kernel, "call": t_call, "copy": t_copy, "jax": None, "torch": None}
    if peers and not cuda.config.ENABLE_CUDASIM:
        row["jax"] = bench_jax(name, n, nargs, dtype, repeats)
        row["torch"] = bench_torch(name, n, nargs, dtype, repeats)
    return row


def report(rows: list[dict]) -> None:
    print(f"{'function':<11} {'dtype':<8} {'Mpts/s':>9} {'GB/s':>8} {'copy GB/s':>10} "
          f"{'of copy':>8} {'call Mpts/s':>12} {'JAX Mpts/s':>11} {'torch Mpts/s':>13}")
    for r in rows:
        def rate(t, n=r["n"]):
            return f"{n / t / 1e6:.0f}" if t else "-"
        bw = r["bytes"] / r["kernel"] / 1e9
        copy = r["bytes"] / r["copy"] / 1e9
        print(f"{r['name']:<11} {r['dtype']:<8} {rate(r['kernel']):>9} {bw:>8.0f} "
              f"{copy:>10.0f} {bw / copy:>8.0%} {rate(r['call']):>12} "
              f"{rate(r['jax']):>11} {rate(r['torch']):>13}")
    print("GB/s counts bytes read plus bytes written; 'copy' is a device-to-device copy "
          "moving the same bytes.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="GPU value+gradient throughput")
    ap.add_argument("--points", type=int, default=100_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dtype", choices=("float64", "float32", "both"), default="both")
    ap.add_argument("--no-peers", action="store_true", help="skip JAX and PyTorch")
    args = ap.parse_args(argv)
    global cuda
    cuda = gpu_or_none()
    if cuda is None:
        print("bench_cuda: no CUDA GPU here (numba-cuda finds none), so there is nothing to "
              "measure; set NUMBA_ENABLE_CUDASIM=1 to run the script's logic on the "
              "simulator with a small --points.")
        return 0
    dev = cuda.get_current_device()
    print(f"device: {getattr(dev, 'name', b'simulator')!r}, {args.points:,} points"
          + (" (CUDA SIMULATOR: the figures mean nothing)" if cuda.config.ENABLE_CUDASIM
             else ""))
    dtypes = [np.float64, np.float32] if args.dtype == "both" else [np.dtype(args.dtype).type]
    rows = [bench_one(name, args.points, dt, args.repeats, not args.no_peers)
            for dt in dtypes for name in FUNCTIONS]
    report(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
