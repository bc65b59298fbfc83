"""Lowering a user's SymPy expression into a forward Program, walking it with an explicit
stack (SymPy's own traversals recurse, and users hand us deep graphs)."""

from __future__ import annotations

import sympy as sp

from .diagnostics import ChainccError
from .functions import Where, maximum, minimum
from .ir import Output, Param, Program
from .optimize import Builder, program
from .rules import RULES

_TRANSLATE = {sp.Max: maximum, sp.Min: minimum}     # chains of two-argument extrema


def _known(node: sp.Basic) -> bool:
    if isinstance(node, (sp.core.relational.Relational, sp.logic.boolalg.BooleanFunction)):
        return True
    return any(cls in RULES for cls in type(node).__mro__)


def lower_sympy(expr: sp.Basic, params: list | tuple, name: str = "f") -> Program:
    syms = []
    for p in params:
        s = sp.Symbol(p) if isinstance(p, str) else p
        if not isinstance(s, sp.Symbol):
            raise TypeError(f"params must be SymPy symbols or names, got {p!r}")
        syms.append(s)
    if len({s.name for s in syms}) != len(syms):
        raise TypeError("params must have distinct names")
    # each user symbol becomes an assumption-free symbol of the same name
    plain = {s: sp.Symbol(s.name) for s in syms}
    builder = Builder()
    done: dict[sp.Basic, sp.Expr] = {}
    stack: list[tuple[sp.Basic, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in done:
            continue
        if isinstance(node, sp.Symbol):
            if node not in plain:
                raise ChainccError(f"the expression uses '{node}', which is not in params")
            done[node] = plain[node]
            continue
        if not node.args:
            done[node] = node
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in done)
            continue
        args = [done[a] for a in node.args]
        if isinstance(node, sp.Piecewise):
            value: sp.Expr = sp.nan
            for pair in reversed(node.args):
                e, c = done[pair.expr], done[pair.cond]
                value = e if c is sp.true else builder.emit(Where(c, e, value))
            done[node] = value
            continue
        if isinstance(node, sp.functions.elementary.piecewise.ExprCondPair):
            done[node] = node
            continue
        func = _TRANSLATE.get(type(node), node.func)
        built = func(*args)
        if not _known(built) and built.args:
            raise ChainccError(f"chaincc has no derivative rule for {type(node).__name__}")
        done[node] = builder.emit(built) if built.args else built
    value = done[expr]
    ps = tuple(Param(s.name, (), (plain[s],)) for s in syms)
    return program(name, ps, builder, (Output("value", (), (value,)),))
