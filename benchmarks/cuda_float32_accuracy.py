"""How far float32 kernels (``chaincc.compile(src, target="cuda", dtype=numpy.float32)``)
are from float64, per sample: value and gradient at the same (float32) inputs.

By default the float32 device functions are compiled by Numba for the CPU (``--via cpu``):
the same single-precision operations and constants, with the C library's float math
functions in place of CUDA's libdevice ones (both within 1-2 ulp). ``--via cuda`` runs
the CUDA kernels themselves (on a GPU, or on the simulator under NUMBA_ENABLE_CUDASIM=1,
which computes math functions in double before rounding).

Two figures per sample, worst over outputs (value and every gradient entry):
``normwise``: max |f32 - f64| / max |f64| over the points, per output;
``pointwise``: max |f32 - f64| / |f64| over points where |f64| >= 1e-3 max |f64|.

    python benchmarks/cuda_float32_accuracy.py [--points 2000] [--via cpu|cuda] [FILES]
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import chaincc  # noqa: E402


def inputs(fn: chaincc.Function, points: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 2, size=(points,) + s).astype(np.float32) for s in fn.shapes]


def results(fn: chaincc.Function, args: list[np.ndarray]) -> list[np.ndarray]:
    if fn.out_shape:
        return [np.asarray(fn(*args))] + [np.asarray(j) for j in fn.jacobian(*args)]
    v, g = fn.value_and_grad(*args)
    return [np.asarray(v)] + [np.asarray(x) for x in g]


def float32_on_cpu(fn: chaincc.Function, args: list[np.ndarray]) -> list[np.ndarray]:
    """The float32 device function, compiled by Numba for the CPU, point by point."""
    from numba import njit

    from chaincc.backends.numba_cuda import kernel_name
    from chaincc.cuda import cuda_kernel_module
    module, _ = cuda_kernel_module(fn.unit, "float32")
    vg = njit(getattr(module, kernel_name(fn.name) + "_value_and_grad").py_func)
    n = len(args[0]) if args else 1
    rows = []
    for i in range(n):
        r = vg(*(a[i] if not s else np.ascontiguousarray(a[i]).reshape(-1)
                 for a, s in zip(args, fn.shapes)))
        rows.append(np.atleast_1d(np.asarray(r, dtype=np.float64)))
    flat = np.array(rows)
    outputs = [fn.out_shape] + [fn.out_shape + s for s in fn.shapes]
    out, k = [], 0
    for s in outputs:
        size = int(np.prod(s, dtype=np.int64))
        out.append(flat[:, k:k + size].reshape((n,) + s))
        k += size
    return out


def errors(got: list[np.ndarray], want: list[np.ndarray]) -> tuple[float, float]:
    normwise = pointwise = 0.0
    for g, w in zip(got, want):
        w = w.reshape(len(w), -1) if w.ndim > 1 else w[:, None]
        g = np.asarray(g, dtype=np.float64).reshape(w.shape)
        for j in range(w.shape[1]):
            scale = np.max(np.abs(w[:, j]))
            if scale == 0:
                continue
            d = np.abs(g[:, j] - w[:, j])
            normwise = max(normwise, float(np.max(d) / scale))
            big = np.abs(w[:, j]) >= 1e-3 * scale
            pointwise = max(pointwise, float(np.max(d[big] / np.abs(w[big, j]))))
    return normwise, pointwise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--via", choices=("cpu", "cuda"), default="cpu")
    args = ap.parse_args(argv)
    files = args.files or sorted(glob.glob(str(ROOT / "samples" / "*.txt")))
    print(f"{'sample':<16} {'normwise':>10} {'pointwise':>10}   ({args.points} points, "
          f"inputs uniform in [-2, 2], float32 via {args.via})")
    worst = [0.0, 0.0]
    for path in files:
        src = Path(path).read_text(encoding="utf-8")
        fn = chaincc.compile(src)
        xs = inputs(fn, args.points, args.seed)
        want = results(fn, [x.astype(np.float64) for x in xs])
        if args.via == "cpu":
            got = float32_on_cpu(fn, xs)
        else:
            got = results(chaincc.compile(src, target="cuda", dtype=np.float32), xs)
        nw, pw = errors(got, want)
        worst = [max(worst[0], nw), max(worst[1], pw)]
        print(f"{Path(path).stem:<16} {nw:>10.2e} {pw:>10.2e}")
    print(f"{'worst':<16} {worst[0]:>10.2e} {worst[1]:>10.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
