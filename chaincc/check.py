"""Gradient checking against central finite differences at random points."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CheckReport:
    points: int                     # points where value and gradient were finite
    worst: tuple[float, ...]        # worst relative error per parameter


def finite_difference_check(fn, points: int = 20, seed: int = 0,
                            low: float = -2.0, high: float = 2.0) -> CheckReport:
    """Worst relative error of ``fn.grad`` against central differences, per parameter.

    Points where the value or gradient is not finite (outside a function's domain) are
    skipped; if too few remain, points are drawn from (0.1, high) instead.
    """
    rng = np.random.default_rng(seed)
    worst = [0.0] * len(fn.params)
    used = 0
    for attempt in range(points * 10):
        if used >= points:
            break
        lo = low if attempt < points * 5 else 0.1
        x = rng.uniform(lo, high, size=len(fn.params))
        value, grad = fn.value_and_grad(*x)
        if not (math.isfinite(value) and all(math.isfinite(g) for g in grad)):
            continue
        errs = []
        for i in range(len(x)):
            h = 1e-6 * max(1.0, abs(x[i]))
            up, down = x.copy(), x.copy()
            up[i] += h
            down[i] -= h
            fd = (fn(*up) - fn(*down)) / (2 * h)
            errs.append(abs(grad[i] - fd) / max(1.0, abs(grad[i]), abs(fd)))
        if not all(math.isfinite(e) for e in errs):
            continue
        used += 1
        worst = [max(w, e) for w, e in zip(worst, errs)]
    return CheckReport(used, tuple(worst))
