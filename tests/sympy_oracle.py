"""An independent oracle for tests: the value and gradient of a SymPy expression at a point,
from ``sympy.diff`` evaluated numerically, and a comparison with a compiled function."""

from __future__ import annotations

import math
from collections.abc import Sequence

import sympy as sp

# Real symbols, so that SymPy differentiates abs, sign, max and min as real functions.
REAL = {"real": True}


def symbols(names: str) -> tuple[sp.Symbol, ...]:
    out = sp.symbols(names, **REAL)
    return out if isinstance(out, tuple) else (out,)


def sigmoid(z: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-z))


def expected(expr: sp.Expr, params: Sequence[sp.Symbol],
             point: Sequence[float]) -> tuple[float, list[float]]:
    """Value and gradient of ``expr`` at ``point``, evaluated with 30 significant digits."""
    subs = {p: sp.Float(v, 30) for p, v in zip(params, point)}
    expr = sp.sympify(expr)

    def num(e: sp.Expr) -> float:
        return float(sp.N(e, 30, subs=subs))

    return num(expr), [num(_step_rule(sp.diff(expr, p))) for p in params]


def _step_rule(d: sp.Expr) -> sp.Expr:
    """SymPy leaves d floor(x)/dx unevaluated; away from the integers it is 0."""
    return d.replace(lambda e: isinstance(e, sp.Derivative)
                     and isinstance(e.expr, (sp.floor, sp.ceiling)), lambda e: sp.Integer(0))


def expected_fast(expr: sp.Expr, params: Sequence[sp.Symbol],
                  point: Sequence[float]) -> tuple[float, list[float]]:
    """Like :func:`expected` for large smooth expressions, through ``sympy.lambdify``
    (float64 arithmetic on the expression SymPy built; ``N`` is far slower on deep trees)."""
    exprs = [expr] + [sp.diff(expr, p) for p in params]
    out = sp.lambdify(list(params), exprs, modules="math")(*point)
    return float(out[0]), [float(g) for g in out[1:]]


def close(a: float, b: float, rel: float = 1e-9, abs_: float = 1e-12) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def assert_matches(fn, expr: sp.Expr, params: Sequence[sp.Symbol],
                   points: Sequence[Sequence[float]], rel: float = 1e-9,
                   oracle=expected) -> None:
    """``fn.value_and_grad`` (and ``fn`` itself at the first point) agree with the oracle."""
    assert fn.params == tuple(p.name for p in params)
    for i, point in enumerate(points):
        want_v, want_g = oracle(expr, params, point)
        got_v, got_g = fn.value_and_grad(*point)
        assert close(got_v, want_v, rel), f"{fn.name}{tuple(point)}: {got_v} != {want_v}"
        assert len(got_g) == len(want_g)
        for p, g, w in zip(params, got_g, want_g):
            assert close(g, w, rel), f"d{fn.name}/d{p} at {tuple(point)}: {g} != {w}"
        if i == 0:
            assert close(fn(*point), want_v, rel)
