"""Float64 evaluation of small SymPy expressions (program statements, local partials) at a
point, as the kernels compute them: each operation's float64 meaning from the registry
(ops.py: the same libm calls and formulas the printers write), sums and products in the
printers' order, IEEE arithmetic (``1/0`` is inf, ``sqrt(-1)`` is nan, nothing raises).
SymPy's own arithmetic would give ``zoo`` or complex numbers instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import sympy as sp

from .functions import Where, as_float
from .ops import F64, op_of, power


def _add(node: sp.Add, v: Callable[[sp.Basic], float]) -> float:
    # left to right, as the printers write a sum; a term c*s is one product
    acc = None
    for t in node.args:
        x = v(t)
        acc = x if acc is None else acc + x
    return acc


def _mul(node: sp.Mul, v: Callable[[sp.Basic], float]) -> float:
    # as the printers write a product: numerator left to right, divided by the
    # denominator's product, negated where the coefficient is -1
    args = list(node.args)
    neg = args[0] == -1
    if neg:
        args = args[1:]
    num = [v(a) for a in args if not (isinstance(a, sp.Pow) and a.exp == -1)]
    den = [v(a.base) for a in args if isinstance(a, sp.Pow) and a.exp == -1]
    acc = math.prod(num[1:], start=num[0]) if num else 1.0
    if den:
        acc = F64.div(acc, math.prod(den[1:], start=den[0]))
    return -acc if neg else acc


_RELATIONS: dict[type, Callable[[float, float], bool]] = {
    sp.Lt: lambda a, b: a < b, sp.Le: lambda a, b: a <= b, sp.Gt: lambda a, b: a > b,
    sp.Ge: lambda a, b: a >= b, sp.Eq: lambda a, b: a == b, sp.Ne: lambda a, b: a != b,
    sp.And: lambda *xs: all(xs), sp.Or: lambda *xs: any(xs), sp.Not: lambda x: not x,
}


def _apply(node: sp.Basic, v: Callable[[sp.Basic], float]) -> float | bool:
    if isinstance(node, sp.Add):
        return _add(node, v)
    if isinstance(node, sp.Mul):
        return _mul(node, v)
    if isinstance(node, sp.Pow):
        return power(F64, v(node.base), node.exp, v(node.exp))
    if isinstance(node, Where):
        return v(node.args[1]) if v(node.args[0]) else v(node.args[2])
    if isinstance(node, sp.UnevaluatedExpr):      # a sum kept as written (explain)
        return v(node.args[0])
    op = op_of(node)
    if op is not None:
        return op.f64(*(v(a) for a in node.args))
    f = next((_RELATIONS[c] for c in type(node).__mro__ if c in _RELATIONS), None)
    assert f is not None, f"no float64 meaning for {type(node).__name__}"
    return f(*(v(a) for a in node.args))


def _leaf(e: sp.Basic, values: dict) -> float | bool:
    if e in values:
        return values[e]
    if e is sp.true or e is sp.false:
        return bool(e)
    v = as_float(e)
    assert v is not None, f"not a real number: {e}"
    return v


def evaluate(expr: sp.Basic, values: dict[sp.Basic, float]) -> float:
    """``expr`` at ``values`` (a float for every free symbol), in float64."""
    done: dict[sp.Basic, float | bool] = {}
    stack: list[tuple[sp.Basic, bool]] = [(expr, False)]
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
        r = _apply(node, done.__getitem__)
        done[node] = r if isinstance(r, bool) else float(r)
    return float(done[expr])
