"""The derivative table: for a statement ``t = op(args)`` and its adjoint ``a``, the
adjoint contributions ``(argument, a * ∂op/∂argument)``. One row per operation; rules
reuse the forward result ``t`` wherever it carries the derivative (exp, tanh, sigmoid,
sqrt, powers)."""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from .functions import (
    Cbrt,
    LogSumExp,
    Maximum,
    Minimum,
    Relu,
    Sigmoid,
    Softplus,
    Where,
    expm1,
    hypot,
    log1p,
    log2,
    log10,
    relation,
)

S = sp.Symbol
Contribs = list[tuple[S, sp.Expr]]
half = sp.Rational(1, 2)


def _unary(f: Callable[[sp.Expr, sp.Expr, sp.Expr], sp.Expr]):
    """A rule for a one-argument function: ``f(x, t, a)`` is the contribution to x."""
    def rule(e: sp.Expr, t: sp.Expr, a: sp.Expr) -> Contribs:
        x = e.args[0]
        return [(x, f(x, t, a))] if isinstance(x, S) else []
    return rule


def _none(e: sp.Expr, t: sp.Expr, a: sp.Expr) -> Contribs:
    return []                                    # piecewise constant: derivative 0


def _add(e: sp.Expr, t: sp.Expr, a: sp.Expr) -> Contribs:
    out: Contribs = []
    for term in e.args:
        if isinstance(term, S):
            out.append((term, a))
        elif isinstance(term, sp.Mul):          # c*s, inline in the sum
            c, s = term.args
            out.append((s, c * a))
    return out


def _mul(e: sp.Expr, t: sp.Expr, a: sp.Expr) -> Contribs:
    factors = e.args
    out: Contribs = []
    for i, f in enumerate(factors):
        others = sp.Mul(*(factors[:i] + factors[i + 1:]))
        if isinstance(f, S):
            out.append((f, a * others))
        elif isinstance(f, sp.Pow) and isinstance(f.base, S):   # division by f.base
            out.append((f.base, -a * t / f.base))
    return out


def _pow(e: sp.Expr, t: sp.Expr, a: sp.Expr) -> Contribs:
    b, p = e.args
    out: Contribs = []
    if isinstance(b, S):
        if p == 2:
            d = 2 * a * b
        elif p == half:
            d = half * a / t
        elif p == -1:
            d = -a * t * t
        elif p == -half:
            d = -half * a * t ** 3
        else:
            d = a * p * b ** (p - 1)
        out.append((b, d))
    if isinstance(p, S):
        out.append((p, a * t * sp.log(b)))
    return out


def _where(e: sp.Expr, t: sp.Expr, a: sp.Expr) -> Contribs:
    c, x, y = e.args
    out: Contribs = []
    if isinstance(x, S):
        out.append((x, Where(c, a, 0)))
    if isinstance(y, S):
        out.append((y, Where(c, 0, a)))
    return out


def _extremum(cmp: Callable[[sp.Expr, sp.Expr], sp.Basic]):
    """The whole adjoint goes to the first argument attaining the extremum."""
    def rule(e: sp.Expr, t: sp.Expr, a: sp.Expr) -> Contribs:
        args = e.args
        out: Contribs = []
        if len(args) == 2:
            first = relation(cmp, args[0], args[1])
            if isinstance(args[0], S):
                out.append((args[0], Where(first, a, 0)))
            if isinstance(args[1], S):
                out.append((args[1], Where(first, 0, a)))
            return out
        for i, x in enumerate(args):
            if isinstance(x, S):
                cond = sp.And(relation(sp.Eq, x, t), *(relation(sp.Ne, y, t)
                                                         for y in args[:i]))
                out.append((x, Where(cond, a, 0)))
        return out
    return rule


def _atan2(e: sp.Expr, t: sp.Expr, a: sp.Expr) -> Contribs:
    y, x = e.args
    r = x ** 2 + y ** 2
    out: Contribs = []
    if isinstance(y, S):
        out.append((y, a * x / r))
    if isinstance(x, S):
        out.append((x, -a * y / r))
    return out


def _logsumexp(e: sp.Expr, t: sp.Expr, a: sp.Expr) -> Contribs:
    return [(x, a * sp.exp(x - t)) for x in e.args[1:] if isinstance(x, S)]


def _hypot(e: sp.Expr, t: sp.Expr, a: sp.Expr) -> Contribs:
    return [(x, a * x / t) for x in e.args if isinstance(x, S)]


RULES: dict[type, Callable[[sp.Expr, sp.Expr, sp.Expr], Contribs]] = {
    sp.Add: _add,
    sp.Mul: _mul,
    sp.Pow: _pow,
    sp.exp: _unary(lambda x, t, a: a * t),
    sp.log: _unary(lambda x, t, a: a / x),
    sp.sin: _unary(lambda x, t, a: a * sp.cos(x)),
    sp.cos: _unary(lambda x, t, a: -a * sp.sin(x)),
    sp.tan: _unary(lambda x, t, a: a * (1 + t ** 2)),
    sp.asin: _unary(lambda x, t, a: a * (1 - x ** 2) ** -half),
    sp.acos: _unary(lambda x, t, a: -a * (1 - x ** 2) ** -half),
    sp.atan: _unary(lambda x, t, a: a / (1 + x ** 2)),
    sp.sinh: _unary(lambda x, t, a: a * sp.cosh(x)),
    sp.cosh: _unary(lambda x, t, a: a * sp.sinh(x)),
    sp.tanh: _unary(lambda x, t, a: a * (1 - t ** 2)),
    sp.asinh: _unary(lambda x, t, a: a * (x ** 2 + 1) ** -half),
    sp.acosh: _unary(lambda x, t, a: a * (x ** 2 - 1) ** -half),
    sp.atanh: _unary(lambda x, t, a: a / (1 - x ** 2)),
    expm1: _unary(lambda x, t, a: a * (t + 1)),
    log1p: _unary(lambda x, t, a: a / (x + 1)),
    log2: _unary(lambda x, t, a: a / (x * sp.log(2))),
    log10: _unary(lambda x, t, a: a / (x * sp.log(10))),
    Cbrt: _unary(lambda x, t, a: a / (3 * t ** 2)),
    sp.Abs: _unary(lambda x, t, a: a * sp.sign(x)),
    sp.sign: _none,
    sp.floor: _none,
    sp.ceiling: _none,
    sp.erf: _unary(lambda x, t, a: a * (2 / sp.sqrt(sp.pi)) * sp.exp(-x ** 2)),
    sp.erfc: _unary(lambda x, t, a: -a * (2 / sp.sqrt(sp.pi)) * sp.exp(-x ** 2)),
    Relu: _unary(lambda x, t, a: Where(sp.Gt(x, 0), a, 0)),
    Sigmoid: _unary(lambda x, t, a: a * t * (1 - t)),
    Softplus: _unary(lambda x, t, a: a * Sigmoid(x)),
    sp.atan2: _atan2,
    hypot: _hypot,
    LogSumExp: _logsumexp,
    Where: _where,
    Maximum: _extremum(sp.Ge),
    Minimum: _extremum(sp.Le),
}


# Rows whose local derivatives stay finite wherever their arguments are finite.
FINITE_PARTIALS = (sp.Add, sp.sin, sp.cos, sp.tanh, sp.atan, sp.erf, sp.erfc, sp.Abs,
                    sp.sign, sp.floor, sp.ceiling, Relu, Sigmoid, Softplus, Where, Maximum,
                    Minimum)


def partials_may_blow_up(expr: sp.Basic) -> bool:
    """Whether a local derivative may be inf or nan at finite arguments (a division, a
    log or root near 0, an overflowing exp): then a masked adjoint must stay masked, so
    that ``where`` differentiates only the branch it picked (0 · inf would be nan)."""
    if isinstance(expr, FINITE_PARTIALS):
        return False
    if isinstance(expr, sp.Mul):
        return any(isinstance(f, sp.Pow) for f in expr.args)
    if isinstance(expr, sp.Pow):
        return not (expr.exp.is_Integer and expr.exp > 0)
    return True


def contributions(expr: sp.Expr, t: sp.Expr, a: sp.Expr) -> Contribs:
    """Adjoint contributions of ``t = expr`` given t's adjoint ``a``."""
    rule = RULES.get(type(expr))
    if rule is None:
        for cls in type(expr).__mro__:
            rule = RULES.get(cls)
            if rule is not None:
                break
    assert rule is not None, f"no derivative rule for {type(expr).__name__}"
    return rule(expr, t, a)
