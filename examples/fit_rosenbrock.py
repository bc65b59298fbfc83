"""The extended Rosenbrock function (Moré, Garbow and Hillstrom 1981, problem 21),
minimised by ``scipy.optimize.minimize(method="BFGS")``.

    f(x) = Σᵢ 100(x₂ᵢ - x₂ᵢ₋₁²)² + (1 - x₂ᵢ₋₁)²,   i = 1 … n/2

from the standard starting point (-1.2, 1, -1.2, 1, …); the minimum is f = 0 at
(1, 1, …, 1). ``fn.scipy(x0)`` takes the starting point from the argument and gives SciPy
the value and the exact gradient from one fused kernel call.

    .venv/bin/python examples/fit_rosenbrock.py [--n 10]
"""

from __future__ import annotations

import argparse

import numpy as np

import chaincc


def source(n: int) -> str:
    """The extended Rosenbrock function of an even number ``n`` of variables, written
    term by term (indices from 0)."""
    if n < 2 or n % 2:
        raise ValueError(f"the extended Rosenbrock function needs an even n >= 2, got {n}")
    terms = " + ".join(f"100(x[{i + 1}] - x[{i}]²)² + (1 - x[{i}])²" for i in range(0, n, 2))
    return f"f(x[{n}]) = {terms}\n"


def start(n: int) -> np.ndarray:
    """The standard starting point (-1.2, 1, -1.2, 1, …)."""
    return np.tile([-1.2, 1.0], n // 2)


def fit(n: int = 10, **options):
    """Minimise from the standard starting point with BFGS; the result of
    ``scipy.optimize.minimize``."""
    fn = chaincc.compile(source(n))
    return fn.scipy(start(n)).minimize(method="BFGS", **options)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10)
    args = ap.parse_args(argv)
    result = fit(args.n, options={"gtol": 1e-10})
    print(f"BFGS: {result.message} {result.nit} iterations, {result.nfev} value and "
          f"gradient calls")
    print(f"f = {result.fun:.3e}; largest |x - 1| = {np.max(np.abs(result.x - 1)):.2e}")
    return 0 if np.allclose(result.x, 1, atol=1e-6) else 1


if __name__ == "__main__":
    raise SystemExit(main())
