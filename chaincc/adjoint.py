"""The reverse-mode pass: one backward sweep over a Program.

Walk the statements in reverse, seed the outputs' adjoints, and push each statement's
adjoint to its arguments through the rule table. Adjoint statements go into the same
builder as the forward ones, so they share forward values (CSE across the fused program)
and constants fold as they are built. Jacobians, vector-Jacobian products, Hessians and
Hessian-vector products are the same sweep with other seeds (a Hessian sweeps the fused
gradient program again).
"""

from __future__ import annotations

import math

import sympy as sp

from . import progress
from .arith import total
from .functions import Maximum, Minimum, Relu, Sigmoid, Where, as_float, relation
from .ir import Output, Param, Program
from .logic import Not, Or, conjunction
from .optimize import Builder, program
from .rules import contributions

Seeds = list[tuple[sp.Basic, sp.Expr]]


class _Adjoint:
    """The contributions to one value's adjoint, gathered before its statement is reached.

    ``plain`` contributions always count. A ``masked`` contribution counts only where its
    condition holds: it reached the value through a branch of ``where`` (and whatever the
    branch computed), so where the condition fails the branch was not taken and must add
    nothing, even when its value or its partials are nan or inf there. Masked
    contributions are propagated unmasked, with their condition beside them, and are
    selected (never multiplied by 0) where they meet plain ones or reach an input.
    Contributions are added as IEEE float64 adds them: ``a·1 + a·(−1)`` (the two sides of
    ``q - q``) is kept, nan where ``a`` is, not cancelled to 0.
    """

    __slots__ = ("plain", "masked")

    def __init__(self) -> None:
        self.plain: list[sp.Expr] = []
        self.masked: dict[sp.Basic, list[sp.Expr]] = {}

    def add(self, mask: sp.Basic | None, c: sp.Expr) -> None:
        if mask is None:
            self.plain.append(c)
        elif mask is not sp.false:
            self.masked.setdefault(mask, []).append(c)

    def gather(self, builder: Builder) -> tuple[sp.Basic | None, sp.Expr, bool]:
        """``(condition, adjoint, selected)``: the adjoint counts where the condition holds
        (None: everywhere); ``selected`` when it is already zero wherever it does not."""
        if not self.masked:
            return None, builder.emit(total(self.plain)), True
        if not self.plain and len(self.masked) == 1:
            (mask, cs), = self.masked.items()
            return mask, builder.emit(total(cs)), False
        selected = [Where(m, total(cs), 0) for m, cs in self.masked.items()]
        a = builder.emit(total(self.plain + selected))
        return (None if self.plain else Or(*self.masked)), a, True

    def total(self, builder: Builder) -> sp.Expr:
        """The adjoint as a value: zero wherever no contribution counts."""
        mask, a, selected = self.gather(builder)
        return a if selected else builder.emit(Where(mask, a, 0))


def sweep(prog: Program, builder: Builder, seeds: Seeds,
          active: set[sp.Basic] | None = None,
          stage: progress.AnyStage = progress.NULL
          ) -> dict[sp.Basic, sp.Expr]:
    """Adjoints of the program's inputs given seeds on its values: one reverse sweep.
    ``active``: the only values that need an adjoint (those that depend on the inputs
    differentiated, ``depends_on``); None: every value. ``stage`` is advanced by the
    statements walked."""
    pending: dict[sp.Basic, _Adjoint] = {}

    def push(arg: sp.Basic, mask: sp.Basic | None, c: sp.Expr) -> None:
        if isinstance(arg, sp.Symbol) and c != 0 and (active is None or arg in active):
            pending.setdefault(arg, _Adjoint()).add(mask, c)

    safe: set[sp.Basic] | None = None
    for target, seed in seeds:
        push(target, None, seed)
    for k, stmt in enumerate(reversed(prog.body), 1):
        if not k & 1023:
            stage.advance(1024)
        entry = pending.pop(stmt.target, None)
        if entry is None:
            continue
        mask, a, _ = entry.gather(builder)
        if a == 0:
            continue
        picks = selection(stmt.expr)
        if picks is not None:
            # where, max and min select: each argument gets the whole adjoint where it
            # was picked, and nothing (not 0 times its partials) where it was not. An
            # argument computed only by operations whose partials stay finite even at
            # ±inf takes the cheaper where(c, adjoint, 0), which is then exact too.
            if safe is None:
                safe = _bounded_cone(prog)
            cond, x, y = picks
            for arg, c, cheap in ((x, cond, Where(cond, a, 0)),
                                  (y, Not(cond), Where(cond, 0, a))):
                if arg in safe:
                    push(arg, mask, cheap)
                else:
                    push(arg, conjunction(mask, c), a)
            continue
        for arg, c in contributions(stmt.expr, stmt.target, a):
            push(arg, mask, c)
    stage.advance(len(prog.body) & 1023)
    return {s: pending[s].total(builder) for s in prog.input_symbols if s in pending}


# Operations whose partials are finite for every argument, ±inf included (and that
# overflow nothing: a sum's partials are 1 even when it overflows).
_BOUNDED = (sp.Add, Where, Maximum, Minimum, Relu, sp.Abs, sp.sign, sp.floor, sp.ceiling,
            sp.tanh, Sigmoid, sp.erf, sp.atan)


def _bounded_cone(prog: Program) -> set[sp.Basic]:
    """The program's inputs and the values computed from them only by operations with
    bounded partials: multiplying their adjoint by 0 gives 0 wherever they are used."""
    safe: set[sp.Basic] = set(prog.input_symbols)
    for stmt in prog.body:
        e = stmt.expr
        if isinstance(e, sp.Mul):       # a finite constant times a value (not nan·y)
            c = as_float(e.args[0]) if len(e.args) == 2 else None
            ok = c is not None and math.isfinite(c)
        else:
            ok = isinstance(e, _BOUNDED)
        args = e.args[1:] if isinstance(e, Where) else e.args
        if ok and all(a in safe for a in args if isinstance(a, sp.Symbol)) \
                and all(not a.args or isinstance(a, sp.Mul) and a.args[1] in safe
                        for a in args):
            safe.add(stmt.target)
    return safe


def selection(expr: sp.Basic) -> tuple[sp.Basic, sp.Basic, sp.Basic] | None:
    """``(condition, picked where it holds, picked where it fails)`` for a statement that
    selects one of two values: ``where`` and two-argument ``max``/``min`` (ties go to the
    first argument, and a NaN never wins against the running extremum). ``relu`` does
    not select: its partial, 1 or 0, multiplies as in JAX and PyTorch."""
    if isinstance(expr, Where):
        return expr.args
    if isinstance(expr, (Maximum, Minimum)) and len(expr.args) == 2:
        x, y = expr.args
        return relation(sp.Ge if isinstance(expr, Maximum) else sp.Le, x, y), x, y
    return None


def builder_for(prog: Program) -> Builder:
    b = Builder(prefix="_t", start=_last_index(prog))
    b.preload(prog.body)
    return b


def _grads(prog: Program, adj: dict, prefix: str, params=None) -> tuple[Output, ...]:
    return tuple(Output(f"{prefix}{p.name}", p.shape,
                        tuple(adj.get(s, sp.Integer(0)) for s in p.symbols))
                 for p in (params or prog.params))


Wrt = tuple[str, ...] | None


def wrt_params(prog: Program, wrt: Wrt) -> tuple[Param, ...]:
    """The parameters to differentiate with respect to (all when ``wrt`` is None), in
    the order ``wrt`` names them."""
    if wrt is None:
        return prog.params
    by_name = {p.name: p for p in prog.params}
    assert all(n in by_name for n in wrt) and len(set(wrt)) == len(wrt), wrt
    return tuple(by_name[n] for n in wrt)


def depends_on(prog: Program, params: tuple[Param, ...]) -> set[sp.Basic] | None:
    """The parameters' symbols and every value computed from them: the values whose
    adjoint a sweep over only these parameters needs (None: all of the program's)."""
    if params == prog.params:
        return None
    live: set[sp.Basic] = {s for p in params for s in p.symbols}
    for a in prog.body:
        if not live.isdisjoint(a.expr.free_symbols):
            live.add(a.target)
    return live


def value_and_grad(fwd: Program, output: str = "value", wrt: Wrt = None) -> Program:
    """The fused program: the forward outputs, then ``grad_<param>`` per parameter (per
    parameter of ``wrt`` only, the others being data: no adjoint is computed for what
    depends on them alone)."""
    out = fwd.output(output)
    assert out.shape == (), "gradients are taken of scalar outputs"
    params = wrt_params(fwd, wrt)
    with progress.stage(progress.ADJOINT, len(fwd.body)) as st:
        builder = builder_for(fwd)
        adj = sweep(fwd, builder, [(out.exprs[0], sp.Integer(1))], depends_on(fwd, params),
                    st)
        return program(fwd.name, fwd.params, builder,
                       fwd.outputs + _grads(fwd, adj, "grad_", params), fwd.line, fwd.labels)


def jacobian(fwd: Program, wrt: Wrt = None) -> Program:
    """Outputs ``jac_<param>`` of shape (output shape + parameter shape)."""
    out = fwd.output("value")
    params = wrt_params(fwd, wrt)
    active = depends_on(fwd, params)
    with progress.stage(progress.ADJOINT, len(out.exprs) * len(fwd.body)) as st:
        builder = builder_for(fwd)
        rows = [sweep(fwd, builder, [(e, sp.Integer(1))], active, st) for e in out.exprs]
        outs = tuple(Output(f"jac_{p.name}", out.shape + p.shape,
                            tuple(r.get(s, sp.Integer(0)) for r in rows for s in p.symbols))
                     for p in params)
        return program(fwd.name, fwd.params, builder, (out,) + outs, fwd.line)


def vjp(fwd: Program, wrt: Wrt = None) -> Program:
    """The value and ``cotangent · J`` per parameter; the cotangent is an extra input."""
    out = fwd.output("value")
    params = wrt_params(fwd, wrt)
    cot = Param("_cotangent", out.shape, tuple(
        sp.Symbol(f"_cotangent[{i}]") for i in range(len(out.exprs))))
    with progress.stage(progress.ADJOINT, len(fwd.body)) as st:
        builder = builder_for(fwd)
        adj = sweep(fwd, builder, list(zip(out.exprs, cot.symbols)),
                    depends_on(fwd, params), st)
        return program(fwd.name, fwd.params + (cot,), builder,
                       (out,) + _grads(fwd, adj, "vjp_", params), fwd.line)


def _flat_grads(fused: Program, params: tuple[Param, ...]) -> list[sp.Expr]:
    return [e for p in params for e in fused.output(f"grad_{p.name}").exprs]


def hessian(fused: Program, wrt: Wrt = None) -> Program:
    """One matrix over the flattened parameters (row-major, parameters in order; those
    of ``wrt`` only, in its order, for a ``fused`` program made with the same ``wrt``),
    by a reverse sweep of the fused gradient program per gradient element."""
    params = wrt_params(fused, wrt)
    builder = builder_for(fused)
    grads = _flat_grads(fused, params)
    syms = [s for p in params for s in p.symbols]
    active = depends_on(fused, params)
    with progress.stage(progress.ADJOINT, len(grads) * len(fused.body)) as st:
        rows = [sweep(fused, builder, [(g, sp.Integer(1))], active, st) for g in grads]
        out = Output("hessian", (len(syms), len(syms)),
                     tuple(r.get(s, sp.Integer(0)) for r in rows for s in syms))
        return program(fused.name, fused.params, builder, (out,), fused.line)


def hvp(fused: Program, wrt: Wrt = None) -> Program:
    """Hessian-vector products ``hvp_<param>``; the direction (flattened over all
    parameters, or those of ``wrt``) is an extra input."""
    params = wrt_params(fused, wrt)
    syms = [s for p in params for s in p.symbols]
    d = Param("_direction", (len(syms),), tuple(
        sp.Symbol(f"_direction[{i}]") for i in range(len(syms))))
    with progress.stage(progress.ADJOINT, len(fused.body)) as st:
        builder = builder_for(fused)
        adj = sweep(fused, builder, list(zip(_flat_grads(fused, params), d.symbols)),
                    depends_on(fused, params), st)
        return program(fused.name, fused.params + (d,), builder,
                       _grads(fused, adj, "hvp_", params), fused.line)


def _last_index(prog: Program) -> int:
    n = 0
    for a in prog.body:
        name = a.target.name
        if name.startswith("_t") and name[2:].isdigit():
            n = max(n, int(name[2:]))
    return n
