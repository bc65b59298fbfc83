"""Built-in functions and constants of the source language."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from .functions import (
    Cbrt,
    Relu,
    Sigmoid,
    Softplus,
    Where,
    expm1,
    hypot,
    log1p,
    log2,
    log10,
    maximum,
    minimum,
)


@dataclass(frozen=True)
class Builtin:
    name: str
    min_args: int
    max_args: int | None            # None: any number
    kind: str                       # how arrays are treated: see lower.Lowerer._builtin
    make: Callable[..., sp.Expr] | None = None


def _log(x: sp.Expr, base: sp.Expr | None = None) -> sp.Expr:
    return sp.log(x) if base is None else sp.log(x) / sp.log(base)


_ONE: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "asin": sp.asin, "acos": sp.acos,
    "atan": sp.atan, "sinh": sp.sinh, "cosh": sp.cosh, "tanh": sp.tanh, "asinh": sp.asinh,
    "acosh": sp.acosh, "atanh": sp.atanh, "exp": sp.exp, "expm1": expm1, "ln": sp.log,
    "log1p": log1p, "log2": log2, "log10": log10, "sqrt": sp.sqrt, "cbrt": Cbrt,
    "abs": sp.Abs, "sign": sp.sign, "floor": sp.floor, "ceil": sp.ceiling, "erf": sp.erf,
    "erfc": sp.erfc, "relu": Relu, "sigmoid": Sigmoid, "softplus": Softplus,
}

BUILTINS: dict[str, Builtin] = {n: Builtin(n, 1, 1, "elementwise", f) for n, f in _ONE.items()}
BUILTINS.update({
    "log": Builtin("log", 1, 2, "elementwise", _log),
    "atan2": Builtin("atan2", 2, 2, "elementwise", sp.atan2),
    "pow": Builtin("pow", 2, 2, "elementwise", sp.Pow),
    "hypot": Builtin("hypot", 2, 2, "elementwise", hypot),
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
})

CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "π": sp.pi, "e": sp.E, "inf": sp.oo}
