"""The reverse-mode pass: one backward sweep over a Program.

Walk the statements in reverse, seed the outputs' adjoints, and push each statement's
adjoint to its arguments through the rule table. Adjoint statements go into the same
builder as the forward ones, so they share forward values (CSE across the fused program)
and constants fold as they are built. Jacobians, vector-Jacobian products, Hessians and
Hessian-vector products are the same sweep with other seeds (a Hessian sweeps the fused
gradient program again).
"""

from __future__ import annotations

import sympy as sp

from .functions import Where
from .ir import Output, Param, Program
from .optimize import Builder, program
from .rules import contributions, partials_may_blow_up

Seeds = list[tuple[sp.Basic, sp.Expr]]


def sweep(prog: Program, builder: Builder, seeds: Seeds) -> dict[sp.Basic, sp.Expr]:
    """Adjoints of the program's inputs given seeds on its values: one reverse sweep."""
    pending: dict[sp.Basic, list[sp.Expr]] = {}
    for target, seed in seeds:
        if isinstance(target, sp.Symbol) and seed != 0:
            pending.setdefault(target, []).append(seed)
    for stmt in reversed(prog.body):
        contribs = pending.pop(stmt.target, None)
        if not contribs:
            continue
        mask = _mask(contribs) if partials_may_blow_up(stmt.expr) else None
        if mask is not None:
            contribs = [c.args[1] for c in contribs]
        a = builder.emit(sp.Add(*contribs))
        if a == 0:
            continue
        for arg, c in contributions(stmt.expr, stmt.target, a):
            pending.setdefault(arg, []).append(c if mask is None else Where(mask, c, 0))
    return {s: builder.emit(sp.Add(*pending[s])) for s in prog.input_symbols
            if s in pending}


def _mask(contribs: list[sp.Expr]) -> sp.Basic | None:
    """The condition c when every contribution is ``where(c, v, 0)``: the value is used
    only on a branch that ``where`` may not pick."""
    first = contribs[0]
    if not (isinstance(first, Where) and first.args[2] == 0):
        return None
    c = first.args[0]
    return c if all(isinstance(x, Where) and x.args[0] == c and x.args[2] == 0
                    for x in contribs) else None


def _builder(prog: Program) -> Builder:
    b = Builder(prefix="_t", start=_last_index(prog))
    b.preload(prog.body)
    return b


def _grads(prog: Program, adj: dict, prefix: str, params=None) -> tuple[Output, ...]:
    return tuple(Output(f"{prefix}{p.name}", p.shape,
                        tuple(adj.get(s, sp.Integer(0)) for s in p.symbols))
                 for p in (params or prog.params))


def value_and_grad(fwd: Program, output: str = "value") -> Program:
    """The fused program: the forward outputs, then ``grad_<param>`` per parameter."""
    out = fwd.output(output)
    assert out.shape == (), "gradients are taken of scalar outputs"
    builder = _builder(fwd)
    adj = sweep(fwd, builder, [(out.exprs[0], sp.Integer(1))])
    return program(fwd.name, fwd.params, builder, fwd.outputs + _grads(fwd, adj, "grad_"),
                   fwd.line, fwd.labels)


def jacobian(fwd: Program) -> Program:
    """Outputs ``jac_<param>`` of shape (output shape + parameter shape)."""
    out = fwd.output("value")
    builder = _builder(fwd)
    rows = [sweep(fwd, builder, [(e, sp.Integer(1))]) for e in out.exprs]
    outs = tuple(Output(f"jac_{p.name}", out.shape + p.shape,
                        tuple(r.get(s, sp.Integer(0)) for r in rows for s in p.symbols))
                 for p in fwd.params)
    return program(fwd.name, fwd.params, builder, (out,) + outs, fwd.line)


def vjp(fwd: Program) -> Program:
    """The value and ``cotangent · J`` per parameter; the cotangent is an extra input."""
    out = fwd.output("value")
    cot = Param("_cotangent", out.shape, tuple(
        sp.Symbol(f"_cotangent[{i}]") for i in range(len(out.exprs))))
    builder = _builder(fwd)
    adj = sweep(fwd, builder, list(zip(out.exprs, cot.symbols)))
    return program(fwd.name, fwd.params + (cot,), builder,
                   (out,) + _grads(fwd, adj, "vjp_"), fwd.line)


def _flat_grads(fused: Program) -> list[sp.Expr]:
    return [e for p in fused.params for e in fused.output(f"grad_{p.name}").exprs]


def hessian(fused: Program) -> Program:
    """One matrix over the flattened parameters (row-major, parameters in order), by a
    reverse sweep of the fused gradient program per gradient element."""
    builder = _builder(fused)
    grads = _flat_grads(fused)
    syms = fused.input_symbols
    rows = [sweep(fused, builder, [(g, sp.Integer(1))]) for g in grads]
    out = Output("hessian", (len(syms), len(syms)),
                 tuple(r.get(s, sp.Integer(0)) for r in rows for s in syms))
    return program(fused.name, fused.params, builder, (out,), fused.line)


def hvp(fused: Program) -> Program:
    """Hessian-vector products ``hvp_<param>``; the direction (flattened over all
    parameters) is an extra input."""
    syms = fused.input_symbols
    d = Param("_direction", (len(syms),), tuple(
        sp.Symbol(f"_direction[{i}]") for i in range(len(syms))))
    builder = _builder(fused)
    adj = sweep(fused, builder, list(zip(_flat_grads(fused), d.symbols)))
    return program(fused.name, fused.params + (d,), builder,
                   _grads(fused, adj, "hvp_"), fused.line)


def _last_index(prog: Program) -> int:
    n = 0
    for a in prog.body:
        name = a.target.name
        if name.startswith("_t") and name[2:].isdigit():
            n = max(n, int(name[2:]))
    return n
