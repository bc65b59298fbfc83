"""The mean logistic loss and its gradient over 200 million points on a Dask
``LocalCluster`` of two worker processes, against the in-memory kernel on a slice.

The loss is examples/fit_logistic.py's (20 features, an L2 penalty), compiled with
``wrt=["w", "b"]``. The data never exist in full: each block of inputs is drawn from
its block's own seed inside a worker (``map_blocks``), its labels from the logistic model
on those inputs, and ``fn.value_and_grad(..., reduce="mean")`` sums each block in one
kernel call into a partial of 22 numbers, which Dask adds up in a tree. The function
travels to the workers as its source and compiles there from the disk cache.

Printed: the wall time and throughput (million points per second) of the Dask run; on a
slice in this process, the throughput of the in-memory kernel and of drawing the data
alone (what each block costs a worker besides the kernel); each worker's resident memory
before the run, its peak during the run (sampled every 50 ms) and its lifetime peak
(``ru_maxrss``, compiling included), against what the inputs of all points would take as
float64.

    .venv/bin/python benchmarks/bench_dask.py [--points 200000000] [--chunk 500000]
        [--slice 2000000] [--workers 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 2026
LAM = 1e-3


def _logistic_example():
    path = HERE.parent / "examples" / "fit_logistic.py"
    spec = importlib.util.spec_from_file_location("fit_logistic", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def true_weights(features: int) -> tuple[np.ndarray, float]:
    rng = np.random.default_rng(SEED)
    return rng.normal(size=features) / np.sqrt(features), 0.5


def inputs(block: int, points: int, features: int) -> np.ndarray:
    """Block ``block``'s inputs: ``points`` × ``features`` normals from its own seed."""
    return np.random.default_rng([SEED, block]).normal(size=(points, features))


def labels(X: np.ndarray, block: int) -> np.ndarray:
    """Labels in {0, 1} from the logistic model with the true weights."""
    w, b = true_weights(X.shape[1])
    p = 1 / (1 + np.exp(-(X @ w + b)))
    return (np.random.default_rng([SEED, block, 1]).random(len(X)) < p).astype(np.float64)


def _inputs_block(block_info=None, features: int = 0) -> np.ndarray:
    info = block_info[None]
    (lo, hi), _ = info["array-location"]
    return inputs(info["chunk-location"][0], hi - lo, features)


def _labels_block(X: np.ndarray, block_info=None) -> np.ndarray:
    return labels(X, block_info[0]["chunk-location"][0])


def lazy_data(points: int, chunk: int, features: int):
    """``(X, y)`` as Dask arrays whose blocks are drawn where they are computed."""
    import dask.array as da
    rows = tuple(min(chunk, points - lo) for lo in range(0, points, chunk))
    X = da.map_blocks(_inputs_block, chunks=(rows, (features,)), dtype=np.float64,
                      features=features, token="logistic_inputs")
    y = X.map_blocks(_labels_block, drop_axis=1, dtype=np.float64, token="logistic_labels")
    return X, y


def peak_rss() -> int:
    """This process's peak resident memory in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss() -> int:
    """This process's resident memory now, in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def start_sampling(dask_worker) -> int:
    """On a worker: sample its resident memory every 50 ms until ``stop_sampling``."""
    peak, stop = [current_rss()], threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak[0] = max(peak[0], current_rss())

    threading.Thread(target=sample, daemon=True).start()
    dask_worker.chaincc_bench_rss = (peak, stop)
    return peak[0]


def stop_sampling(dask_worker) -> int:
    """On a worker: the largest resident memory sampled since ``start_sampling``."""
    peak, stop = dask_worker.chaincc_bench_rss
    stop.set()
    return max(peak[0], current_rss())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=200_000_000)
    ap.add_argument("--chunk", type=int, default=500_000, help="points per block")
    ap.add_argument("--slice", type=int, default=2_000_000,
                    help="points of the in-memory comparison")
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("dask[distributed] is not installed (pip install -e '.[dask]'); skipped")
        return 0
    import chaincc

    d = args.features
    fn = chaincc.compile(_logistic_example().source(d), wrt=["w", "b"])
    w0, b0 = np.full(d, 0.1), 0.0

    # in memory: one slice, drawn here, then the kernel alone
    t = time.perf_counter()
    Xs = inputs(0, args.slice, d)
    ys = labels(Xs, 0)
    draw = time.perf_counter() - t
    fn.value_and_grad(w0, b0, Xs[:1000], ys[:1000], LAM, reduce="mean")   # compile
    times = []
    for _ in range(5):
        t = time.perf_counter()
        fn.value_and_grad(w0, b0, Xs, ys, LAM, reduce="mean")
        times.append(time.perf_counter() - t)
    kernel = min(times)
    del Xs, ys

    with LocalCluster(n_workers=args.workers, processes=True, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        # warm-up: each worker unpickles the function and compiles it from the cache
        X, y = lazy_data(args.workers * 1000, 1000, d)
        client.compute(list(fn.value_and_grad(w0, b0, X, y, LAM, reduce="mean")[1]),
                       sync=True)
        X, y = lazy_data(args.points, args.chunk, d)
        value, grad = fn.value_and_grad(w0, b0, X, y, LAM, reduce="mean")
        before = client.run(start_sampling)
        t = time.perf_counter()
        value, gw, gb = client.compute([value, *grad], sync=True)
        wall = time.perf_counter() - t
        during = client.run(stop_sampling)
        lifetime = client.run(peak_rss)
        threads = sum(client.nthreads().values())

    gib = 2 ** 30
    full = args.points * (d + 1) * 8
    print(f"logistic loss, {d} features, reduce='mean' over {args.points:,} points in "
          f"blocks of {args.chunk:,}; {args.workers} worker processes ({threads} Dask "
          f"threads), chaincc {chaincc.__version__}")
    print(f"  mean loss {float(value):.6f}, |grad| {float(np.hypot(np.linalg.norm(gw), gb)):.3e}")
    print(f"  Dask, drawing the data and the kernel: {wall:8.2f} s   "
          f"{args.points / wall / 1e6:8.1f} M points/s")
    print(f"  in memory, kernel on {args.slice:,} points: {kernel * 1e3:8.1f} ms  "
          f"{args.slice / kernel / 1e6:8.1f} M points/s")
    print(f"  in memory, drawing {args.slice:,} points:     {draw * 1e3:8.1f} ms  "
          f"{args.slice / draw / 1e6:8.1f} M points/s (one thread)")
    for i, addr in enumerate(sorted(during)):
        print(f"  worker {i}: RSS {before[addr] / gib:5.2f} GiB before the run, peak "
              f"{during[addr] / gib:5.2f} GiB during it, lifetime peak "
              f"{lifetime[addr] / gib:5.2f} GiB")
    print(f"  the inputs and labels of all points as float64: {full / gib:8.1f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
