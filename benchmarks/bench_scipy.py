"""Fitting a logistic regression with ``scipy.optimize.minimize``: 100,000 points, 20
features, an L2 penalty, the mean loss over every point.

- chaincc, trust-ncg: ``fn.scipy(...)`` gives ``fun`` (value and exact gradient, one
  kernel call) and ``hessp`` (one Hessian-vector product kernel call), both reduced over
  the batch inside the kernel;
- chaincc, L-BFGS-B with the same exact ``fun``, for scale;
- finite differences: L-BFGS-B with ``jac="2-point"`` (SciPy's forward differences, one
  value per parameter and point of the gradient), the value from chaincc's value kernel,
  so that only the gradient differs;
- JAX (when installed), trust-ncg with ``jit(value_and_grad)`` and a jitted
  Hessian-vector product (forward over reverse), in float64.

Every fit starts from zero with ``gtol=1e-6``. Wall times are medians of ``--repeats``
whole fits, after a warm-up fit (which compiles the kernels; compile times are shown
apart). Each fit's gradient norm at its end is the exact one, from chaincc's gradient.

    .venv/bin/python benchmarks/bench_scipy.py [--points 100000] [--features 20]
    pip install -e '.[bench]'        # JAX, for the last line
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
GTOL = 1e-6


def _logistic_example():
    path = HERE.parent / "examples" / "fit_logistic.py"
    spec = importlib.util.spec_from_file_location("fit_logistic", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(fit: Callable[[], object], repeats: int) -> tuple[object, float]:
    """The last result of ``fit`` and the median wall time of ``repeats`` calls."""
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fit()
        times.append(time.perf_counter() - t)
    return result, statistics.median(times)


def per_call(f: Callable[[], object], repeats: int = 21) -> float:
    f()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def jax_fit(X: np.ndarray, y: np.ndarray, lam: float):
    """(fit, per-call functions, compile seconds) for JAX, or None without JAX."""
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from scipy.optimize import minimize

    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def loss(x):
        w, b = x[:-1], x[-1]
        z = Xj @ w + b
        return jnp.mean(jnp.logaddexp(0.0, z) - yj * z) + lam / 2 * (w @ w)

    vg = jax.jit(jax.value_and_grad(loss))
    hvp = jax.jit(lambda x, p: jax.jvp(jax.grad(loss), (x,), (p,))[1])

    def fun(x):
        f, g = vg(x)
        return float(f), np.asarray(g)

    def hessp(x, p):
        return np.asarray(hvp(x, p))

    x0 = np.zeros(X.shape[1] + 1)
    t = time.perf_counter()
    fun(x0)
    hessp(x0, x0)
    compile_s = time.perf_counter() - t

    def fit():
        return minimize(fun, x0, jac=True, hessp=hessp, method="trust-ncg",
                        options={"gtol": GTOL})

    return fit, (lambda: fun(x0), lambda: hessp(x0, x0)), compile_s, jax.__version__


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--lam", type=float, default=1e-3)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("CHAINCC_CACHE_DIR", tempfile.mkdtemp())
    import numba
    import scipy

    import chaincc

    ex = _logistic_example()
    X, y, _, _ = ex.make_data(args.points, args.features)
    lam, d = args.lam, args.features
    print(f"logistic regression: {args.points:,} points, {d} features, lam={lam}; "
          f"gtol={GTOL}; {numba.config.NUMBA_NUM_THREADS} threads; scipy {scipy.__version__}")

    t = time.perf_counter()
    fn = chaincc.compile(ex.source(d))
    obj = fn.scipy(np.zeros(d), 0.0, X, y, lam, wrt=["w", "b"], reduce="mean")
    x0 = obj.x0
    obj.hessp(x0, x0)
    obj.value(x0 + 1)
    print(f"chaincc: compiled (value, value-and-gradient and Hessian-vector product "
          f"kernels) in {time.perf_counter() - t:.2f} s")

    def fresh():
        return fn.scipy(np.zeros(d), 0.0, X, y, lam, wrt=["w", "b"], reduce="mean")

    fits: dict[str, Callable[[], object]] = {
        "chaincc trust-ncg (fun, hessp)":
            lambda: fresh().minimize("trust-ncg", options={"gtol": GTOL}),
        "chaincc L-BFGS-B (fun)":
            lambda: fresh().minimize("L-BFGS-B", options={"gtol": GTOL, "ftol": 1e-15}),
        "finite differences L-BFGS-B (2-point)":
            lambda: fresh().minimize("L-BFGS-B", jac="2-point",
                                     options={"gtol": GTOL, "ftol": 1e-15}),
    }
    jx = jax_fit(X, y, lam)
    if jx is None:
        print("JAX is not installed (pip install -e '.[bench]'): its fit is skipped")
    else:
        fits[f"JAX {jx[3]} trust-ncg (value_and_grad, jvp of grad)"] = jx[0]
        print(f"JAX: jit compile of value_and_grad and the HVP {jx[2]:.2f} s")

    print(f"\nper call at x0 over all {args.points:,} points (median of 21):")
    w0, args0 = np.zeros(d), (X, y, lam)
    vg = per_call(lambda: fn.value_and_grad(w0, 0.0, *args0, reduce="mean", wrt=["w", "b"]))
    print(f"  chaincc value and gradient {vg * 1e3:8.2f} ms")
    print(f"  chaincc Hessian-vector     {per_call(lambda: obj.hessp(x0, x0)) * 1e3:8.2f} ms")
    print(f"  chaincc value              "
          f"{per_call(lambda: fn(w0, 0.0, *args0, reduce='mean')) * 1e3:8.2f} ms")
    if jx is not None:
        print(f"  JAX value and gradient     {per_call(jx[1][0]) * 1e3:8.2f} ms")
        print(f"  JAX Hessian-vector         {per_call(jx[1][1]) * 1e3:8.2f} ms")

    ref = None
    print(f"\n{'fit':<58} {'iters':>6} {'f+g':>6} {'hvp':>5} {'f':>6} {'wall s':>8} "
          f"{'|grad|':>8} {'|x - x*|':>9}")
    for name, fit in fits.items():
        fit()                                          # warm-up
        result, wall = timed(fit, args.repeats)
        x = np.asarray(result.x)
        if ref is None:
            ref = x
        gnorm = np.linalg.norm(obj.jac(x))
        fd = "2-point" in name
        print(f"{name:<58} {result.nit:>6} {'-' if fd else result.nfev:>6} "
              f"{getattr(result, 'nhev', 0):>5} {result.nfev if fd else '-':>6} "
              f"{wall:>8.3f} {gnorm:>8.1e} {np.max(np.abs(x - ref)):>9.1e}")
    print("\nf+g: value-and-gradient calls; hvp: Hessian-vector products; f: value calls "
          "(finite differences: d+1 per gradient); |x - x*|: largest difference from the "
          "first fit's optimum")


if __name__ == "__main__":
    main()
