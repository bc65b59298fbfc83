"""Forward mode: tangents swept from the inputs to the outputs, in the same builder as the
forward values (so they share them, CSE across the program).

A statement ``t = op(args)`` gets the tangent ``Σ ∂op/∂arg · ṫ(arg)`` over the arguments
that carry one, with each partial from the same rule table as the reverse sweep
(rules.py: the contribution for an adjoint of 1). ``where``, ``max`` and ``min`` select
the tangent of the argument they picked, as the reverse sweep selects adjoints; a
statement no input reaches has no tangent. ``jvp`` is one such sweep along a direction;
``jacobian`` is one sweep per input element, its columns side by side.
"""

from __future__ import annotations

import sympy as sp
from sympy.core.relational import Relational
from sympy.logic.boolalg import BooleanFunction

from .adjoint import Wrt, builder_for, selection, wrt_params
from .arith import total
from .functions import Where
from .ir import Assign, Output, Param, Program
from .optimize import Builder, program
from .rules import contributions


def _sweep(fwd: Program, builder: Builder, seeds: dict[sp.Basic, sp.Expr]
           ) -> dict[sp.Basic, sp.Expr]:
    """Tangents of every value the seeded inputs reach (``seeds``: input -> tangent)."""
    dot = dict(seeds)
    for stmt in fwd.body:
        tangent_statement(stmt, builder, dot)
    return dot


def tangent_statement(stmt: Assign, builder: Builder, dot: dict) -> None:
    """Add ``stmt``'s tangent to ``dot`` (when an argument has one)."""
    e = stmt.expr
    if not e.args:             # a value under another name (a fixed point's solution)
        if e in dot:
            dot[stmt.target] = dot[e]
        return
    if isinstance(e, (Relational, BooleanFunction)) or dot.keys().isdisjoint(
            e.free_symbols):
        return
    picks = selection(e)
    if picks is not None:
        cond, x, y = picks
        tx, ty = dot.get(x, sp.Integer(0)), dot.get(y, sp.Integer(0))
        if tx != 0 or ty != 0:
            dot[stmt.target] = builder.emit(Where(cond, tx, ty))
        return
    terms = [c * dot[arg] for arg, c in contributions(e, stmt.target, sp.Integer(1))
             if arg in dot]
    if terms:
        dot[stmt.target] = builder.emit(total(terms))


def _tangent_of(dot: dict, e: sp.Expr) -> sp.Expr:
    return dot.get(e, sp.Integer(0)) if isinstance(e, sp.Symbol) else sp.Integer(0)


def jvp(fwd: Program, wrt: Wrt = None) -> Program:
    """The value and its directional derivative ``tangent_value`` along a direction
    ``_tangent`` (an extra input, flat over the parameters of ``wrt``): one sweep."""
    out = fwd.output("value")
    params = wrt_params(fwd, wrt)
    if fwd.has_loops:
        from . import forward_loops
        return forward_loops.jvp(fwd, params)
    syms = [s for p in params for s in p.symbols]
    tan = Param("_tangent", (len(syms),), tuple(
        sp.Symbol(f"_tangent[{i}]") for i in range(len(syms))))
    builder = builder_for(fwd)
    dot = _sweep(fwd, builder, dict(zip(syms, tan.symbols)))
    tangent = Output("tangent_value", out.shape, tuple(_tangent_of(dot, e) for e in out.exprs))
    return program(fwd.name, fwd.params + (tan,), builder, (out, tangent), fwd.line)


def jacobian(fwd: Program, wrt: Wrt = None) -> Program:
    """The value and ``jac_<param>`` (output shape + parameter shape) per parameter of
    ``wrt``, one forward sweep per parameter element: the cheaper way where outputs
    outnumber inputs."""
    out = fwd.output("value")
    params = wrt_params(fwd, wrt)
    if fwd.has_loops:
        from . import forward_loops
        return forward_loops.jacobian(fwd, params)
    builder = builder_for(fwd)
    columns = {s: _sweep(fwd, builder, {s: sp.Integer(1)})
               for p in params for s in p.symbols}
    outs = tuple(Output(f"jac_{p.name}", out.shape + p.shape,
                        tuple(_tangent_of(columns[s], e) for e in out.exprs
                              for s in p.symbols))
                 for p in params)
    return program(fwd.name, fwd.params, builder, (out,) + outs, fwd.line)
