"""Checks for chaincc's own elementary functions (``chaincc/backends/vecmath``): the
exact value from mpmath at 120 bits (which shares no code with them or with libm), the
error in ulps, and the vector and scalar versions' bits."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import mpmath
import numpy as np

from chaincc.backends.vecmath import probe

mpmath.mp.prec = 120


def ulps(got: float, exact: mpmath.mpf) -> float:
    """|got - exact| in units of the last place at the exact value (0 where both are
    the same non-finite value or nan; inf where only one is finite)."""
    e = float(exact)
    if math.isnan(got) and math.isnan(e) or got == e and not math.isfinite(got):
        return 0.0
    if not math.isfinite(got) or not math.isfinite(e):
        return math.inf
    if e == 0:
        return 0.0 if got == 0 else abs(got) / 5e-324
    # the ulp of the binade the exact value lies in (not of its rounding)
    ulp = math.ulp(e) if abs(exact) >= abs(e) else math.ulp(math.nextafter(abs(e), 0))
    return float(abs(mpmath.mpf(got) - exact) / max(ulp, 5e-324))


def worst(name: str, exact: Callable[..., mpmath.mpf], *xs: np.ndarray) -> tuple[float, int]:
    """The largest error in ulps over the points, and where, after checking that the
    vectorised loop and the scalar function give the same bits at every point."""
    vec = probe.evaluate(name, *xs)
    sca = probe.evaluate(name, *xs, vectorise=False)
    differ = np.flatnonzero(vec.view(np.int64) != sca.view(np.int64))
    assert not len(differ), f"{name}: vector and scalar differ at {[x[differ[0]] for x in xs]}"
    top, where = 0.0, -1
    for i in range(len(vec)):
        err = ulps(float(vec[i]), exact(*(mpmath.mpf(float(x[i])) for x in xs)))
        if err > top:
            top, where = err, i
    return top, where


def check(name: str, exact: Callable[..., mpmath.mpf], xs: Sequence[np.ndarray],
          limit: float = 1.0) -> None:
    """Every point within ``limit`` ulps (and vector = scalar, bit for bit)."""
    top, where = worst(name, exact, *xs)
    assert top <= limit, (f"{name}{tuple(float(x[where]) for x in xs)}: {top:.3f} ulp "
                          f"(limit {limit})")


def specials(name: str, cases: Sequence[tuple[tuple[float, ...], float]]) -> None:
    """Exact results at special points (signed zeros, infinities, nan), in both
    versions: ``cases`` is ((args), expected)."""
    args = [np.array([c[0][j] for c in cases]) for j in range(len(cases[0][0]))]
    for vectorise in (True, False):
        got = probe.evaluate(name, *args, vectorise=vectorise)
        for (a, want), g in zip(cases, got):
            if math.isnan(want):
                assert math.isnan(g), (name, a, g)
            else:
                assert g == want and math.copysign(1, g) == math.copysign(1, want), \
                    (name, a, g, want, vectorise)


def near(points: list[float], ulps: int = 4) -> np.ndarray:
    """The doubles within a few ulps of each point."""
    out = []
    for p in points:
        x = p
        for _ in range(ulps):
            x = math.nextafter(x, -math.inf)
        for _ in range(2 * ulps + 1):
            out.append(x)
            x = math.nextafter(x, math.inf)
    return np.array(out)
