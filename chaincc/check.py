"""Gradient checking against central finite differences at random points."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CheckReport:
    points: int                     # points where value and gradient were finite
    worst: tuple[float, ...]        # worst relative error per parameter


def _arguments(flat: np.ndarray, shapes: list[tuple[int, ...]]) -> list:
    """One argument per parameter from a flat vector: floats for scalars, arrays in shape."""
    out, k = [], 0
    for s in shapes:
        n = math.prod(s)
        out.append(float(flat[k]) if not s else flat[k:k + n].reshape(s))
        k += n
    return out


def finite_difference_check(fn, points: int = 20, seed: int = 0,
                            low: float = -2.0, high: float = 2.0) -> CheckReport:
    """Worst relative error of ``fn.grad`` against central differences, per parameter
    (over every element of an array parameter).

    Points where the value or gradient is not finite (outside a function's domain) are
    skipped; if too few remain, points are drawn from (0.1, high) instead.
    """
    rng = np.random.default_rng(seed)
    shapes = [tuple(s) for s in fn.shapes]
    owner = [k for k, s in enumerate(shapes) for _ in range(math.prod(s))]
    worst = [0.0] * len(fn.params)
    used = 0
    for attempt in range(points * 10):
        if used >= points:
            break
        lo = low if attempt < points * 5 else 0.1
        x = rng.uniform(lo, high, size=len(owner))
        value, grad = fn.value_and_grad(*_arguments(x, shapes))
        g = [float(e) for part in grad for e in np.ravel(part)]
        if not (math.isfinite(value) and all(math.isfinite(e) for e in g)):
            continue
        errs = []
        for i in range(len(x)):
            h = 1e-6 * max(1.0, abs(x[i]))
            up, down = x.copy(), x.copy()
            up[i] += h
            down[i] -= h
            fd = (fn(*_arguments(up, shapes)) - fn(*_arguments(down, shapes))) / (2 * h)
            errs.append(abs(g[i] - fd) / max(1.0, abs(g[i]), abs(fd)))
        if not all(math.isfinite(e) for e in errs):
            continue
        used += 1
        for k, e in zip(owner, errs):
            worst[k] = max(worst[k], e)
    return CheckReport(used, tuple(worst))
