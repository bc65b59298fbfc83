"""Printing one Program statement as source text, table-driven so that a backend overrides
tables (libm spellings, literals, operators) rather than methods. Each operation is
printed from its registry entry (ops.py): one libm call, or its formula written by
``TextMachine``."""

from __future__ import annotations

import math

import sympy as sp
from sympy.logic.boolalg import BooleanFalse, BooleanTrue

from ..functions import Where
from ..ops import op_of, power

# How each target spells a libm call, where not as ``name(args)``: a backend overrides
# entries (Python: ``math.exp``, ``abs``, ``np.floor``).
C_LIBM: dict[str, str] = {}


class _Text:
    """A value of the printing machine: source text and the precedence of its top
    operator, so that a formula gets exactly the brackets it needs."""

    ATOM, NEG, MUL, ADD, CMP = 9, 8, 5, 4, 2

    def __init__(self, text: str, prec: int) -> None:
        self.text, self.prec = text, prec


class TextMachine:
    """ops.Machine that writes a formula as one expression in the printer's syntax."""

    def __init__(self, printer: Printer) -> None:
        self.p = printer

    def num(self, v: float) -> _Text:
        return _Text(self.p.number(v), _Text.ATOM)

    def call(self, name: str, *args: _Text) -> _Text:
        return _Text(self.p.libm_call(name, *(a.text for a in args)), _Text.ATOM)

    def _bin(self, op: str, prec: int, a: _Text, b: _Text) -> _Text:
        left = a.text if a.prec >= prec else f"({a.text})"
        right = b.text if b.prec > prec else f"({b.text})"
        return _Text(f"{left} {op} {right}", prec)

    def add(self, a: _Text, b: _Text) -> _Text:
        return self._bin("+", _Text.ADD, a, b)

    def sub(self, a: _Text, b: _Text) -> _Text:
        return self._bin("-", _Text.ADD, a, b)

    def mul(self, a: _Text, b: _Text) -> _Text:
        return self._bin("*", _Text.MUL, a, b)

    def div(self, a: _Text, b: _Text) -> _Text:
        return self._bin("/", _Text.MUL, a, b)

    def neg(self, a: _Text) -> _Text:
        return _Text("-" + (a.text if a.prec > _Text.NEG else f"({a.text})"), _Text.NEG)

    def cmp(self, rel: str, a: _Text, b: _Text) -> _Text:
        return self._bin(RELATIONS[rel], _Text.CMP, a, b)

    def select(self, c: _Text, a: _Text, b: _Text) -> _Text:
        return _Text(self.p.select.format(c.text, a.text, b.text), _Text.ATOM)


RELATIONS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}


class Printer:
    """Prints statements whose operands are symbols and numbers (the Program's form)."""

    libm: dict[str, str] = C_LIBM          # spellings of libm calls (default: name(args))
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
        m = TextMachine(self)
        return power(m, _Text(self.operand(b), _Text.ATOM), p,
                     _Text(self.operand(p), _Text.ATOM)).text

    def libm_call(self, name: str, *args: str) -> str:
        """A call of the libm function ``name`` in this printer's syntax."""
        template = self.libm.get(name)
        return template.format(*args) if template else f"{name}({', '.join(args)})"

    def call(self, e: sp.Basic) -> str:
        if isinstance(e, Where):
            return self.select.format(self.cond(e.args[0]), self.operand(e.args[1]),
                                      self.operand(e.args[2]))
        op = op_of(e)
        assert op is not None, f"no printer for {type(e).__name__}"
        m = TextMachine(self)
        return op.run(m, *(_Text(self.operand(a), _Text.ATOM) for a in e.args)).text
