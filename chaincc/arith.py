"""``+ - * / ^`` on Program operands (symbols and numbers), as IEEE float64 computes them.

Two numbers fold at once in float64, the way a kernel would compute the same operation
on parameters (``9^9^9`` is inf, ``1/0`` is inf, nothing is computed exactly, so no
constant costs more than one float operation). An operation on a symbol is built as a
SymPy expression, but never one that SymPy's automatic rewriting would change at a
special point: ``x/x``, ``x - x``, ``x*0``, ``x + 0``, ``0 - x``, an inf or nan operand,
and division by a number that is not a power of two stay as written (unevaluated), since
at x = 0, ±inf or nan (or in the last bit) IEEE float64 gives something else.
"""

from __future__ import annotations

import math

import sympy as sp

from .functions import as_float, from_float
from .ops import F64, power

OPS = ("+", "-", "*", "/", "^")


def _f64(op: str, a: float, b: float, exp: sp.Basic) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return F64.div(a, b)
    return power(F64, a, exp, b)


def _special(v: float | None) -> bool:
    """A number that SymPy's rewriting treats differently from IEEE arithmetic."""
    return v is not None and (v == 0 or not math.isfinite(v))


def _power_of_two(v: float) -> bool:
    m, _ = math.frexp(v)
    return abs(m) == 0.5 and math.isfinite(1.0 / v) and abs(1.0 / v) >= 2.0 ** -1022


def binary(op: str, a: sp.Expr, b: sp.Expr) -> sp.Expr:
    """``a op b`` for operands ``a``, ``b`` (symbols or numbers)."""
    va, vb = as_float(a), as_float(b)
    if va is not None and vb is not None:
        exp = from_float(vb)
        return from_float(_f64(op, va, vb, exp))
    if op == "+":
        keep = _special(va) or _special(vb)
        return sp.Add(a, b, evaluate=not keep)
    if op == "-":
        keep = a == b or _special(va) or _special(vb)
        return sp.Add(a, sp.Mul(-1, b), evaluate=not keep)
    if op == "*":
        keep = _special(va) or _special(vb)
        return sp.Mul(a, b, evaluate=not keep)
    if op == "/":
        if vb is not None and not _special(vb) and _power_of_two(vb):
            return sp.Mul(a, from_float(1.0 / vb))          # exact: x/4 is x*0.25
        keep = a == b or vb is not None or _special(va)
        if keep:
            return sp.Mul(a, sp.Pow(b, -1, evaluate=False), evaluate=False)
        return sp.Mul(a, sp.Pow(b, -1))
    assert op == "^", op
    keep = _special(va) or (vb is not None and vb != vb)
    return sp.Pow(a, b, evaluate=not keep)


def total(terms: list[sp.Expr]) -> sp.Expr:
    """``t1 + t2 + ...`` (a sum, a dot product's or a matrix product's terms, the
    contributions to an adjoint) as one expression, with ``binary``'s IEEE care: the
    numbers among the terms are added in float64 from left to right, and the sum is kept
    as written where SymPy would rewrite it at a special point (a zero, inf or nan term,
    or terms that cancel), so ``sum([nan, 3h])`` still has the derivative 3 and
    ``[0, 1] @ [h, 1]`` is nan at h = inf."""
    if not terms:                         # no contribution (all masked as never taken)
        return sp.Integer(0)
    if len(terms) == 1:
        return terms[0]
    symbolic: list[sp.Expr] = []
    number: float | None = None
    for t in terms:
        v = as_float(t)
        if v is None:
            symbolic.append(t)
        else:
            number = v if number is None else number + v
    if not symbolic:
        assert number is not None
        return from_float(number)
    rest = [] if number is None else [from_float(number)]
    keep = _special(number) or cancels(symbolic)
    return sp.Add(*symbolic, *rest, evaluate=not keep)


def cancels(terms: list[sp.Expr]) -> bool:
    """Whether SymPy's sum of ``terms`` would cancel a term against another of the
    opposite sign (``a - a``, ``2a - a``): exact as formulas, but nan or inf where ``a``
    is inf or nan, so such a sum is kept as written."""
    signs: dict[sp.Basic, bool] = {}
    for t in terms:
        for u in sp.Add.make_args(t):
            c, r = u.as_coeff_Mul()
            if c is sp.nan or c.is_infinite:
                return True
            negative = bool(c < 0)
            if signs.setdefault(r, negative) != negative:
                return True
    return False


def literal(text: str) -> sp.Expr:
    """A number as written in a source: exact while short and within float64's range
    (``0.5`` is 1/2, ``0.1`` is 1/10, rounded once where it meets float64), else the
    float64 that ``strtod`` reads (a 5,000-digit number or ``1e999`` is inf, ``1e-999``
    is 0): the Program never holds a number float64 cannot approximate."""
    if text.isdigit() and len(text) <= 15:
        return sp.Integer(int(text))
    v = float(text)
    if v == 0:
        return sp.Integer(0)
    if len(text) <= 24 and math.isfinite(v):
        return sp.Rational(text)
    return from_float(v)
