"""The Program: the one straight-line, assign-once IR that every backend reads."""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp


@dataclass(frozen=True)
class Param:
    name: str                       # the user's name
    shape: tuple[int, ...]          # () for a scalar
    symbols: tuple[sp.Symbol, ...]  # one per element, row-major

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class Assign:
    target: sp.Symbol
    expr: sp.Expr                   # one operation over symbols and numbers


@dataclass(frozen=True)
class Output:
    name: str                       # "value", "grad_x", ...
    shape: tuple[int, ...]
    exprs: tuple[sp.Expr, ...]      # symbols or numbers, row-major


@dataclass(frozen=True)
class Program:
    name: str
    params: tuple[Param, ...]
    body: tuple[Assign, ...]
    outputs: tuple[Output, ...]
    line: int = 0                   # source line of the definition
    labels: tuple[tuple[sp.Symbol, str], ...] = field(default=())  # user names of temps

    @property
    def input_symbols(self) -> tuple[sp.Symbol, ...]:
        return tuple(s for p in self.params for s in p.symbols)

    def output(self, name: str) -> Output:
        for o in self.outputs:
            if o.name == name:
                return o
        raise KeyError(name)

    def dump(self) -> str:
        """Stable text of the program, for golden tests and ``--emit ir``."""
        def shape(s: tuple[int, ...]) -> str:
            return "[" + ",".join(map(str, s)) + "]" if s else ""
        ps = ", ".join(p.name + shape(p.shape) for p in self.params)
        lines = [f"program {self.name}({ps})"]
        lines += [f"  {a.target} = {expr_text(a.expr)}" for a in self.body]
        for o in self.outputs:
            vals = ", ".join(expr_text(e) for e in o.exprs)
            lines.append(f"  out {o.name}{shape(o.shape)} = {vals}")
        return "\n".join(lines) + "\n"


def expr_text(e: sp.Basic) -> str:
    """SymPy's text of an expression; a product with a NaN factor (which SymPy's printer
    cannot order) as the call it is."""
    try:
        return sp.sstr(e, order="none")
    except TypeError:
        return f"{type(e).__name__}({', '.join(expr_text(a) for a in e.args)})"
