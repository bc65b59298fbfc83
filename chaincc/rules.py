"""The derivative table: for a statement ``t = op(args)`` and its adjoint ``a``, the
adjoint contributions ``(argument, a * ∂op/∂argument)``. The rows of the registry's
operations are its rules (ops.py); here are the Program's own arithmetic, ``where`` and
the max/min chains. Rules reuse the forward result ``t`` wherever it carries the
derivative (exp, tanh, sigmoid, sqrt, powers)."""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from .functions import Maximum, Minimum, Where, relation
from .ops import OPS, Op

S = sp.Symbol
Contribs = list[tuple[S, sp.Expr]]
half = sp.Rational(1, 2)


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
            # unevaluated: with a = b (an adjoint that is the base itself) SymPy would
            # combine b·b^(p-1) into b^p, 0 where the kernel's 0·inf is nan
            d = sp.Mul(a, p * b ** (p - 1), evaluate=False) if a == b else \
                a * p * b ** (p - 1)
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


def _registered(op: Op) -> Callable[[sp.Expr, sp.Expr, sp.Expr], Contribs]:
    """The registry's rule for ``op`` (ops.py), on the statement's symbol arguments."""
    assert op.rule is not None

    def rule(e: sp.Expr, t: sp.Expr, a: sp.Expr) -> Contribs:
        parts = op.rule(e.args, t, a)
        return [(x, d) for x, d in zip(e.args, parts) if isinstance(x, S) and d is not None]
    return rule


RULES: dict[type, Callable[[sp.Expr, sp.Expr, sp.Expr], Contribs]] = {
    op.cls: _registered(op) for op in OPS if op.rule is not None}
RULES.update({
    sp.Add: _add,
    sp.Mul: _mul,
    sp.Pow: _pow,
    Where: _where,
    Maximum: _extremum(sp.Ge),
    Minimum: _extremum(sp.Le),
})

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
