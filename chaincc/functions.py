"""SymPy function classes for the operations SymPy lacks or would rewrite.

Each folds numeric arguments the way the float64 kernels compute them (ops.py states
how), and never rewrites a symbolic argument: ``Maximum`` keeps argument order because
ties go to the first argument.
"""

from __future__ import annotations

import math

import sympy as sp
from sympy.codegen.cfunctions import expm1, hypot, log1p, log2, log10

__all__ = ["Relu", "Sigmoid", "Softplus", "Cbrt", "Gelu", "Lgamma", "Digamma", "Where", "Maximum",
           "Minimum", "LogSumExp", "expm1", "log1p", "log2", "log10", "hypot", "as_float",
           "from_float", "relation", "maximum", "minimum"]


class NegativeZero(sp.AtomicExpr):
    """IEEE -0.0 as a Program number (SymPy's zero has no sign): a folded ``ceil(-0.5)``
    or ``-1e-300 * 1e-300`` is -0.0, as in the kernels, so ``1/ceil(-0.5)`` is -inf."""

    is_number = True
    is_extended_real = True
    is_commutative = True

    def __float__(self) -> float:
        return -0.0

    def _sympystr(self, printer) -> str:
        return "-0.0"

    def _latex(self, printer) -> str:
        return "-0"


NEGATIVE_ZERO = NegativeZero()


def as_float(x: sp.Basic) -> float | None:
    """The float64 value of a number (an integer or rational correctly rounded, beyond
    the range ±inf; π and e rounded; a complex one nan, as IEEE arithmetic has it), or
    None for anything else: an expression such as ``sin(1)`` is folded by evaluate.py,
    operation by operation, never by SymPy's own arithmetic."""
    if x is sp.nan or x is sp.zoo or x is sp.I:
        return math.nan
    if isinstance(x, (sp.Number, sp.NumberSymbol, NegativeZero)):
        try:
            return float(x)
        except OverflowError:
            return math.inf if x > 0 else -math.inf
    return None


def from_float(v: float) -> sp.Expr:
    """A float64 as the Program's number: an Integer where integral (below 2**53), a
    Rational for small dyadic fractions (so ``x^0.5`` is still a square root), else a
    Float of exactly that value; ``oo``, ``-oo``, ``nan`` for the specials."""
    if v != v:
        return sp.nan
    if math.isinf(v):
        return sp.oo if v > 0 else -sp.oo
    if v == 0 and math.copysign(1.0, v) < 0:
        return NEGATIVE_ZERO
    if v.is_integer() and abs(v) < 2.0 ** 53:
        return sp.Integer(int(v))
    num, den = v.as_integer_ratio()
    if den <= 1024 and abs(num) < 2 ** 53:
        return sp.Rational(num, den)
    return sp.Float(v, precision=53)


class _Op(sp.Function):
    """A chaincc operation: a numeric argument folds as the kernels compute it (the
    registry's float64 meaning, ops.py); a symbolic one is never rewritten."""

    @classmethod
    def _fold(cls, *args):
        # ops.py reads these classes, so it is imported here, at the first fold
        from .ops import fold_call
        return fold_call(cls, args)

    eval = _fold              # SymPy's hook for folding a call


class _Unary(_Op):
    nargs = 1


class Relu(_Unary):
    pass


class Sigmoid(_Unary):
    pass


class Softplus(_Unary):
    pass


class Cbrt(_Unary):
    pass


class Gelu(_Unary):
    """x·Φ(x) = x/2·(1 + erf(x/√2)), the exact (not tanh) form."""


class Lgamma(_Unary):
    """C99 ``lgamma``: log|Γ(x)| (real for every real x; SymPy's loggamma is complex)."""


class Digamma(_Unary):
    """ψ(x) = Γ'(x)/Γ(x), lgamma's derivative: not a builtin, and in no libm, so the
    Builder writes it out in other operations (ops.digamma) where it is emitted."""


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


class Maximum(_Op):
    """max as the kernels compute it: acc = acc >= a ? acc : a, left to right."""


class Minimum(_Op):
    """min as the kernels compute it: acc = acc <= a ? acc : a, left to right."""


class LogSumExp(_Op):
    """``LogSumExp(m, x1, ..., xn)`` = m + log Σ exp(xi - m), where m is the largest xi.

    Mathematically independent of m (which only keeps exp from overflowing), so its
    derivative rule sends nothing to m and exp(xi - value) to each xi.
    """


_COMPARE = {sp.Lt: lambda a, b: a < b, sp.Le: lambda a, b: a <= b,
            sp.Gt: lambda a, b: a > b, sp.Ge: lambda a, b: a >= b,
            sp.Eq: lambda a, b: a == b, sp.Ne: lambda a, b: a != b}


def relation(cls: type, a: sp.Basic, b: sp.Basic) -> sp.Basic:
    """``cls(a, b)`` for a SymPy relational class, with IEEE semantics for NaN: ordered
    comparisons with NaN are false and ``!=`` is true (SymPy raises instead)."""
    va, vb = as_float(a), as_float(b)
    if va is not None and vb is not None:          # as float64 compares them
        return sp.true if _COMPARE[cls](va, vb) else sp.false
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
