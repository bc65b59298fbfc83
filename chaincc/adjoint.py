"""The reverse-mode pass: one backward sweep over a forward Program.

Walk the statements in reverse, seed the output's adjoint with 1, and push each
statement's adjoint to its arguments through the rule table. Adjoint statements go into
the same builder as the forward ones, so they share forward values (CSE across the fused
program) and constants fold as they are built.
"""

from __future__ import annotations

import sympy as sp

from .ir import Output, Program
from .optimize import Builder, program
from .rules import contributions


def value_and_grad(fwd: Program, output: str = "value") -> Program:
    """The fused program computing ``output`` and its gradient w.r.t. every parameter.

    Outputs: the forward outputs, then ``grad_<param>`` per parameter (in the parameter's
    shape). ``output`` must be a scalar output.
    """
    out = fwd.output(output)
    assert out.shape == (), "gradients are taken of scalar outputs"
    builder = Builder(prefix="_t", start=_last_index(fwd))
    builder.preload(fwd.body)
    pending: dict[sp.Basic, list[sp.Expr]] = {}
    if isinstance(out.exprs[0], sp.Symbol):
        pending[out.exprs[0]] = [sp.Integer(1)]
    for stmt in reversed(fwd.body):
        contribs = pending.pop(stmt.target, None)
        if not contribs:
            continue
        a = builder.emit(sp.Add(*contribs))
        if a == 0:
            continue
        for arg, c in contributions(stmt.expr, stmt.target, a):
            pending.setdefault(arg, []).append(c)
    grads = []
    for p in fwd.params:
        exprs = tuple(builder.emit(sp.Add(*pending.get(s, []))) for s in p.symbols)
        grads.append(Output(f"grad_{p.name}", p.shape, exprs))
    return program(fwd.name, fwd.params, builder, fwd.outputs + tuple(grads), fwd.line,
                   fwd.labels)


def _last_index(prog: Program) -> int:
    n = 0
    for a in prog.body:
        name = a.target.name
        if name.startswith("_t") and name[2:].isdigit():
            n = max(n, int(name[2:]))
    return n
