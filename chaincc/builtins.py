"""Built-in functions and constants of the source language: the registry's operations
(ops.py) by their language names, and the array builtins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from .arith import binary
from .functions import Where, maximum, minimum
from .ops import BY_NAME, OPS, maker


@dataclass(frozen=True)
class Builtin:
    name: str
    min_args: int
    max_args: int | None            # None: any number
    kind: str                       # how arrays are treated: see lower.Lowerer._builtin
    make: Callable[..., sp.Expr] | None = None


_LOG = maker(BY_NAME["log"])


def _log(x: sp.Expr, base: sp.Expr | None = None) -> sp.Expr:
    """log(x), or log(x, b) = log(x) / log(b) as a division (as the kernels compute it
    when b is a parameter)."""
    if base is None:
        return _LOG(x)
    return binary("/", _LOG(x), _LOG(base))


def _sqrt(x: sp.Expr) -> sp.Expr:
    return binary("^", x, sp.Rational(1, 2))


def _pow(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    return binary("^", a, b)


BUILTINS: dict[str, Builtin] = {
    n: Builtin(n, op.arity or 1, op.arity, "elementwise", maker(op))
    for op in OPS if op.arity is not None and op.builtin for n in op.names
}
BUILTINS.update({
    "log": Builtin("log", 1, 2, "elementwise", _log),
    "sqrt": Builtin("sqrt", 1, 1, "elementwise", _sqrt),
    "pow": Builtin("pow", 2, 2, "elementwise", _pow),
    "where": Builtin("where", 3, 3, "where", Where),
    "min": Builtin("min", 1, None, "extremum", minimum),
    "max": Builtin("max", 1, None, "extremum", maximum),
    "sum": Builtin("sum", 1, 1, "reduce"),
    "mean": Builtin("mean", 1, 1, "reduce"),
    "prod": Builtin("prod", 1, 1, "reduce"),
    "norm": Builtin("norm", 1, 1, "reduce"),
    "dot": Builtin("dot", 2, 2, "dot"),
    "logsumexp": Builtin("logsumexp", 1, 1, "lastaxis"),
    "softmax": Builtin("softmax", 1, 1, "lastaxis"),
    "transpose": Builtin("transpose", 1, 1, "transpose"),
    # zeros(n), ones(m, n): arrays of a shape given by integers (sizes or numbers)
    "zeros": Builtin("zeros", 1, None, "fill", lambda: sp.Integer(0)),
    # fixpoint(z -> body, start, tol=, maxiter=): lowered by iterate.IterationLowering
    "fixpoint": Builtin("fixpoint", 2, 2, "fixpoint"),
    "ones": Builtin("ones", 1, None, "fill", lambda: sp.Integer(1)),
})

CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "π": sp.pi, "e": sp.E, "inf": sp.oo}
