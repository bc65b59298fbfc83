"""Float64 evaluation of small SymPy expressions (program statements, local partials) at a
point, as the kernels compute them (backends/printer.py): IEEE arithmetic, so ``1/0`` is
inf and ``sqrt(-1)`` is nan and nothing raises, and max, min, sign and sigmoid written
the same way. SymPy's own arithmetic would give ``zoo`` or complex numbers instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import expm1, hypot, log1p, log2, log10

from .functions import (
    Cbrt,
    LogSumExp,
    Maximum,
    Minimum,
    Relu,
    Sigmoid,
    Softplus,
    Where,
    _softplus,
)


def _select(keep: Callable[[float, float], bool]) -> Callable:
    # acc = acc if acc >= a else a, left to right, as the kernels print max and min: ties
    # go to the first argument, and a nan loses every comparison
    def f(*xs: float) -> float:
        acc = xs[0]
        for a in xs[1:]:
            acc = acc if keep(acc, a) else a
        return acc
    return f


def _sign(x: float) -> float:
    return 1.0 if x > 0 else -1.0 if x < 0 else x * 0.0


def _logsumexp(m: float, *xs: float) -> float:
    return m + np.log(sum(np.exp(x - m) for x in xs))


def _where(c: bool, a: float, b: float) -> float:
    return a if c else b


_F: dict[type, Callable] = {
    sp.sin: np.sin, sp.cos: np.cos, sp.tan: np.tan, sp.asin: np.arcsin,
    sp.acos: np.arccos, sp.atan: np.arctan, sp.sinh: np.sinh, sp.cosh: np.cosh,
    sp.tanh: np.tanh, sp.asinh: np.arcsinh, sp.acosh: np.arccosh, sp.atanh: np.arctanh,
    sp.exp: np.exp, sp.log: np.log, expm1: np.expm1, log1p: np.log1p, log2: np.log2,
    log10: np.log10, Cbrt: np.cbrt, sp.Abs: np.abs, sp.sign: _sign, sp.floor: np.floor,
    sp.ceiling: np.ceil, sp.erf: math.erf, sp.erfc: math.erfc, sp.atan2: np.arctan2,
    hypot: np.hypot, Relu: lambda x: x if x > 0 else 0.0,
    Sigmoid: lambda x: 1.0 / (1.0 + np.exp(-x)), Softplus: _softplus, Where: _where,
    Maximum: _select(lambda a, b: a >= b), Minimum: _select(lambda a, b: a <= b),
    LogSumExp: _logsumexp,
    sp.Add: lambda *xs: sum(xs[1:], xs[0]), sp.Mul: lambda *xs: math.prod(xs),
    sp.Pow: lambda b, e: np.power(np.float64(b), e),
    sp.Lt: lambda a, b: a < b, sp.Le: lambda a, b: a <= b, sp.Gt: lambda a, b: a > b,
    sp.Ge: lambda a, b: a >= b, sp.Eq: lambda a, b: a == b, sp.Ne: lambda a, b: a != b,
    sp.And: lambda *xs: all(xs), sp.Or: lambda *xs: any(xs), sp.Not: lambda x: not x,
}


def _leaf(e: sp.Basic, values: dict) -> float | bool:
    if e in values:
        return values[e]
    if e is sp.true or e is sp.false:
        return bool(e)
    if e is sp.zoo or e is sp.nan:
        return math.nan
    return float(e)


def evaluate(expr: sp.Basic, values: dict[sp.Basic, float]) -> float:
    """``expr`` at ``values`` (a float for every free symbol), in float64."""
    done: dict[sp.Basic, float | bool] = {}
    stack: list[tuple[sp.Basic, bool]] = [(expr, False)]
    with np.errstate(all="ignore"):
        while stack:
            node, ready = stack.pop()
            if node in done:
                continue
            if not node.args or node in values:
                done[node] = _leaf(node, values)
                continue
            if not ready:
                stack.append((node, True))
                stack.extend((a, False) for a in node.args if a not in done)
                continue
            f = next((_F[c] for c in type(node).__mro__ if c in _F), None)
            args = [done[a] for a in node.args]
            if f is None:                   # anything else: SymPy's own evaluation
                v = node.func(*(sp.Float(a) for a in args)).evalf()
                done[node] = float(v) if v.is_real else math.nan
            else:
                try:
                    r = f(*args)
                except (OverflowError, ValueError, ZeroDivisionError):
                    r = math.nan
                done[node] = r if isinstance(r, bool) else float(r)
    return float(done[expr])
