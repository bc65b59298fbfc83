"""Printing one Program statement as source text, table-driven so that a backend overrides
tables (function names, literals, operators) rather than methods."""

from __future__ import annotations

import math

import sympy as sp
from sympy.logic.boolalg import BooleanFalse, BooleanTrue

from ..functions import (
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
)
from ..optimize import SMALL_POWER

# Function templates shared by the C-family and Python printers; {0}, {1} are operands.
COMMON_FUNCTIONS: dict[type, str] = {
    sp.sin: "sin({0})", sp.cos: "cos({0})", sp.tan: "tan({0})", sp.asin: "asin({0})",
    sp.acos: "acos({0})", sp.atan: "atan({0})", sp.sinh: "sinh({0})", sp.cosh: "cosh({0})",
    sp.tanh: "tanh({0})", sp.asinh: "asinh({0})", sp.acosh: "acosh({0})",
    sp.atanh: "atanh({0})", sp.exp: "exp({0})", expm1: "expm1({0})", sp.log: "log({0})",
    log1p: "log1p({0})", log2: "log2({0})", log10: "log10({0})", Cbrt: "cbrt({0})",
    sp.erf: "erf({0})", sp.erfc: "erfc({0})", sp.atan2: "atan2({0}, {1})",
    hypot: "hypot({0}, {1})",
}

RELATIONS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}


class Printer:
    """Prints statements whose operands are symbols and numbers (the Program's form)."""

    functions: dict[type, str] = COMMON_FUNCTIONS
    sqrt = "sqrt({0})"
    pow = "pow({0}, {1})"
    fabs = "fabs({0})"
    floor = "floor({0})"
    ceil = "ceil({0})"
    select = "({0} ? {1} : {2})"
    and_, or_, not_ = "&&", "||", "!"
    inf, nan = "INFINITY", "NAN"

    def __init__(self, names: dict[sp.Symbol, str] | None = None) -> None:
        self.names = names or {}

    # -- literals --------------------------------------------------------------------
    def number(self, v: float) -> str:
        if math.isnan(v):
            return self.nan
        if math.isinf(v):
            return self.inf if v > 0 else f"(-{self.inf})"
        text = repr(float(v))                 # shortest text that round-trips float64
        if "e" not in text and "." not in text and "inf" not in text:
            text += ".0"
        return text if v >= 0 else f"({text})"

    def operand(self, e: sp.Basic) -> str:
        if isinstance(e, sp.Symbol):
            return self.names.get(e, e.name)
        if isinstance(e, BooleanTrue):
            return self.true()
        if isinstance(e, BooleanFalse):
            return self.false()
        if e is sp.zoo or e is sp.nan:
            return self.nan
        if e.is_number:
            return self.number(float(e))
        return "(" + self.expr(e) + ")"

    def true(self) -> str:
        return "1"

    def false(self) -> str:
        return "0"

    # -- one operation ---------------------------------------------------------------
    def expr(self, e: sp.Basic) -> str:
        if not e.args:
            return self.operand(e)
        if isinstance(e, sp.Add):
            return self.add(e)
        if isinstance(e, sp.Mul):
            return self.mul(e)
        if isinstance(e, sp.Pow):
            return self.power(e.base, e.exp)
        if isinstance(e, sp.core.relational.Relational):
            op = RELATIONS[e.rel_op]
            return f"{self.operand(e.lhs)} {op} {self.operand(e.rhs)}"
        if isinstance(e, sp.And):
            return f" {self.and_} ".join(self.cond(a) for a in e.args)
        if isinstance(e, sp.Or):
            return f" {self.or_} ".join(self.cond(a) for a in e.args)
        if isinstance(e, sp.Not):
            return f"{self.not_}{self.cond(e.args[0])}"
        return self.call(e)

    def cond(self, e: sp.Basic) -> str:
        return "(" + self.expr(e) + ")" if e.args else self.operand(e)

    def add(self, e: sp.Add) -> str:
        out = ""
        for i, t in enumerate(e.args):
            neg = False
            if isinstance(t, sp.Mul) and t.args[0].is_Number and t.args[0] < 0:
                neg = True
                c = -t.args[0]
                text = self.operand(t.args[1]) if c == 1 else \
                    f"{self.operand(c)} * {self.operand(t.args[1])}"
            elif isinstance(t, sp.Mul):
                text = f"{self.operand(t.args[0])} * {self.operand(t.args[1])}"
            else:
                text = self.operand(t)
            if i == 0:
                out = f"-{text}" if neg else text
            else:
                out += f" - {text}" if neg else f" + {text}"
        return out

    def mul(self, e: sp.Mul) -> str:
        args = list(e.args)
        neg = args[0] == -1
        if neg:
            args = args[1:]
        num = [a for a in args if not (isinstance(a, sp.Pow) and a.exp == -1)]
        den = [a.base for a in args if isinstance(a, sp.Pow) and a.exp == -1]
        text = " * ".join(self.operand(a) for a in num) if num else self.number(1.0)
        if den:
            d = " * ".join(self.operand(a) for a in den)
            text = f"{text} / {d if len(den) == 1 else '(' + d + ')'}"
        return f"-({text})" if neg and (len(num) > 1 or den) else (f"-{text}" if neg else text)

    def power(self, b: sp.Basic, p: sp.Basic) -> str:
        x = self.operand(b)
        if p.is_Integer and 0 < abs(p) <= SMALL_POWER:
            prod = " * ".join([x] * abs(int(p)))
            return prod if p > 0 else f"{self.number(1.0)} / ({prod})"
        if p == sp.Rational(1, 2):
            return self.sqrt.format(x)
        if p == sp.Rational(-1, 2):
            return f"{self.number(1.0)} / {self.sqrt.format(x)}"
        return self.pow.format(x, self.operand(p))

    def call(self, e: sp.Basic) -> str:
        args = [self.operand(a) for a in e.args]
        t = type(e)
        if t in self.functions:
            return self.functions[t].format(*args)
        if t is sp.Abs:
            return self.fabs.format(args[0])
        if t is sp.floor:
            return self.floor.format(args[0])
        if t is sp.ceiling:
            return self.ceil.format(args[0])
        if t is sp.sign:
            z = self.number(0.0)
            x = args[0]
            return self.select.format(f"{x} > {z}", self.number(1.0), self.select.format(
                f"{x} < {z}", self.number(-1.0), f"{x} * {z}"))
        if t is Where:
            return self.select.format(self.cond(e.args[0]), args[1], args[2])
        if t is Relu:
            z = self.number(0.0)
            return self.select.format(f"{args[0]} > {z}", args[0], z)
        if t is Sigmoid:
            one = self.number(1.0)
            return f"{one} / ({one} + {self.functions[sp.exp].format('-' + args[0])})"
        if t is Softplus:
            x, z = args[0], self.number(0.0)
            m = self.select.format(f"{x} > {z}", x, z)
            ex = self.functions[sp.exp].format(f"-{self.fabs.format(x)}")
            return f"{m} + {self.functions[log1p].format(ex)}"
        if t is LogSumExp:
            m = args[0]
            terms = " + ".join(self.functions[sp.exp].format(f"{x} - {m}") for x in args[1:])
            return f"{m} + {self.functions[sp.log].format(terms)}"
        if t in (Maximum, Minimum):
            rel = ">=" if t is Maximum else "<="
            acc = args[0]
            for a in args[1:]:
                acc = self.select.format(f"{acc} {rel} {a}", acc, a)
            return acc
        raise AssertionError(f"no printer for {t.__name__}")
