"""Logistic regression fitted by ``scipy.optimize.minimize(method="trust-ncg")``.

The loss of one example is written once, as a textbook writes it; ``fn.scipy`` binds the
data set (``reduce="mean"``: the mean loss over every example, reduced inside the kernel)
and gives SciPy the value with the gradient and Hessian-vector products over the weights
``w`` and the bias ``b`` only. Each of SciPy's calls is one kernel call over the whole
data set.

    .venv/bin/python examples/fit_logistic.py [--points 100000] [--features 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import chaincc

# softplus(z) - y·z is the cross-entropy -(y·log σ(z) + (1 - y)·log(1 - σ(z))), written
# so that it neither overflows nor loses digits for large |z|.
SOURCE = """
z = w @ x + b
loss(w[{d}], b, x[{d}], y, lam) = softplus(z) - y z + (lam/2)(w @ w)
"""


def source(features: int) -> str:
    """The loss of one example with ``features`` inputs and an L2 penalty ``lam``."""
    return SOURCE.format(d=features)


def make_data(points: int, features: int, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A synthetic data set: inputs ``X`` (points × features), labels ``y`` in {0, 1}
    drawn from the logistic model with the true weights and bias also returned."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=features) / np.sqrt(features)
    b = 0.5
    X = rng.normal(size=(points, features))
    p = 1 / (1 + np.exp(-(X @ w + b)))
    y = (rng.random(points) < p).astype(np.float64)
    return X, y, w, b


def fit(X: np.ndarray, y: np.ndarray, lam: float = 1e-3, method: str = "trust-ncg",
        fn: chaincc.Function | None = None, **options):
    """Fit ``w`` and ``b`` from zero; the result of ``scipy.optimize.minimize``, whose
    ``params`` are the fitted ``(w, b)``."""
    if fn is None:
        fn = chaincc.compile(source(X.shape[1]))
    objective = fn.scipy(np.zeros(X.shape[1]), 0.0, X, y, lam, wrt=["w", "b"],
                         reduce="mean")
    return objective.minimize(method=method, **options)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--lam", type=float, default=1e-3)
    args = ap.parse_args(argv)
    X, y, w_true, b_true = make_data(args.points, args.features)
    t = time.perf_counter()
    fn = chaincc.compile(source(args.features))
    fit(X[:8], y[:8], args.lam, fn=fn)                 # compiles the kernels SciPy calls
    print(f"compiled in {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    result = fit(X, y, args.lam, fn=fn)
    elapsed = time.perf_counter() - t
    w, b = result.params
    print(f"trust-ncg: {result.message} {result.nit} iterations, {result.nfev} value and "
          f"gradient calls, {result.nhev} Hessian-vector products, {elapsed:.3f} s")
    print(f"mean loss {result.fun:.6f}, gradient norm {np.linalg.norm(result.jac):.1e}")
    print(f"b = {b:.4f} (true {b_true:.4f}); largest |w - w_true| = "
          f"{np.max(np.abs(w - w_true)):.4f}")
    return 0 if result.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
