"""SymPy function classes for the operations SymPy lacks or would rewrite.

Each folds numeric arguments the way the float64 kernels compute them, and never rewrites a
symbolic argument: ``Maximum`` keeps argument order because ties go to the first argument.
"""

from __future__ import annotations

import math

import sympy as sp
from sympy.codegen.cfunctions import expm1, hypot, log1p, log2, log10

__all__ = ["Relu", "Sigmoid", "Softplus", "Cbrt", "Where", "Maximum", "Minimum", "LogSumExp",
           "expm1", "log1p", "log2", "log10", "hypot", "as_float", "relation",
           "maximum", "minimum"]


def as_float(x: sp.Basic) -> float | None:
    """The float64 value of a numeric SymPy constant, or None if it is not one."""
    if isinstance(x, sp.Number) or (x.is_number and not x.free_symbols):
        try:
            return float(x)
        except (TypeError, ValueError):
            return None
    return None


class _Unary(sp.Function):
    nargs = 1
    _float: staticmethod

    @classmethod
    def _fold(cls, x):
        v = as_float(x) if isinstance(x, sp.Number) else None
        if v is None:
            return None
        try:
            return sp.Float(cls._float(v))
        except (OverflowError, ValueError):
            return None

    eval = _fold              # SymPy's hook for folding a call


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


def _softplus(v: float) -> float:
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


class Relu(sp.Function):
    nargs = 1

    @classmethod
    def _fold(cls, x):
        if isinstance(x, sp.Number) and x.is_extended_real:
            return x if x > 0 else sp.Integer(0)
        return None

    eval = _fold              # SymPy's hook for folding a call


class Sigmoid(_Unary):
    _float = staticmethod(_sigmoid)


class Softplus(_Unary):
    _float = staticmethod(_softplus)


class Cbrt(_Unary):
    _float = staticmethod(lambda v: math.copysign(abs(v) ** (1.0 / 3.0), v))


class Where(sp.Function):
    """``Where(cond, a, b)``: a where cond holds, else b (cond a relational or boolean)."""

    nargs = 3

    @classmethod
    def _fold(cls, cond, a, b):
        if cond is sp.true:
            return a
        if cond is sp.false:
            return b
        if a == b:
            return a
        return None

    eval = _fold              # SymPy's hook for folding a call


class _Extremum(sp.Function):
    _pick: staticmethod

    @classmethod
    def _fold(cls, *args):
        if len(args) == 1:
            return args[0]
        values = [as_float(a) if isinstance(a, sp.Number) else None for a in args]
        if all(v is not None for v in values):
            return args[values.index(cls._pick(values))]
        return None

    eval = _fold              # SymPy's hook for folding a call


class Maximum(_Extremum):
    _pick = staticmethod(max)


class Minimum(_Extremum):
    _pick = staticmethod(min)


class LogSumExp(sp.Function):
    """``LogSumExp(m, x1, ..., xn)`` = m + log Σ exp(xi - m), where m is the largest xi.

    Mathematically independent of m (which only keeps exp from overflowing), so its
    derivative rule sends nothing to m and exp(xi - value) to each xi.
    """

    @classmethod
    def _fold(cls, m, *xs):
        values = [as_float(x) if isinstance(x, sp.Number) else None for x in (m, *xs)]
        if all(v is not None for v in values):
            top = values[0]
            return sp.Float(top + math.log(sum(math.exp(v - top) for v in values[1:])))
        return None

    eval = _fold              # SymPy's hook for folding a call


def relation(cls: type, a: sp.Basic, b: sp.Basic) -> sp.Basic:
    """``cls(a, b)`` for a SymPy relational class, with IEEE semantics for NaN: ordered
    comparisons with NaN are false and ``!=`` is true (SymPy raises instead)."""
    if any(x is sp.nan or x is sp.zoo for x in (a, b)):
        return sp.true if cls is sp.Ne else sp.false
    if a == b and a.free_symbols:
        return cls(a, b, evaluate=False)    # x >= x is false and x != x true at NaN
    return cls(a, b)


def maximum(*args: sp.Basic) -> sp.Basic:
    """max(a, b, c, ...) as a chain of two-argument maxima: the same value, ties still
    to the first, and each link's adjoint costs one comparison (an n-ary rule would test
    every earlier argument for every argument)."""
    return _chain(Maximum, args)


def minimum(*args: sp.Basic) -> sp.Basic:
    return _chain(Minimum, args)


def _chain(cls: type, args: tuple) -> sp.Basic:
    acc = args[0]
    for a in args[1:]:
        acc = cls(acc, a)
    return acc
