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
from .adjoint_loops import Arrays, max_trips, recomputed, replace_statement, solve, tape_loop
from .arith import total
from .functions import Maximum, Minimum, Relu, Sigmoid, Where, as_float, relation
from .ir import (
    Affine,
    Assign,
    Buffer,
    Carry,
    Loop,
    Output,
    Param,
    Program,
    Read,
    Write,
    output_array,
    walk,
)
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
          stage: progress.AnyStage = progress.NULL,
          arrays: Arrays | None = None) -> dict[sp.Basic, sp.Expr]:
    """Adjoints of the program's inputs given seeds on its values: one reverse sweep.
    ``active``: the only values that need an adjoint (those that depend on the inputs
    differentiated, ``depends_on``); None: every value. ``stage`` is advanced by the
    statements walked. ``arrays``: where array elements' adjoints go (a program with
    loops or Reads needs it; see adjoint_loops)."""
    sw = _Sweep(prog, active, arrays, stage)
    pending: dict[sp.Basic, _Adjoint] = {}
    for target, seed in seeds:
        sw.push(pending, target, None, seed)
    sw.block(prog.body, builder, pending)
    stage.advance(sw.walked & 1023)
    return {s: pending[s].total(builder) for s in prog.input_symbols if s in pending}


class _Sweep:
    """One reverse sweep: the statements of a body walked backwards (loops recursively,
    each in a reverse loop of its own)."""

    def __init__(self, prog: Program, active: set[sp.Basic] | None, arrays: Arrays | None,
                 stage: progress.AnyStage) -> None:
        self.prog = prog
        self.active = active
        self.arrays = arrays
        self.stage = stage
        self.walked = 0
        # while a fixed point's adjoint system is iterated, the adjoints of the array
        # elements its step reads are not taken (they are, once, at the solution)
        self.quiet = 0
        self.safe: set[sp.Basic] | None = None
        self.ranges: dict[sp.Symbol, tuple[int, int]] = {}
        for st in walk(prog.body):
            if isinstance(st, Loop):
                lo, hi = self.bounds(st.start)[0], self.bounds(st.stop)[1] - 1
                self.ranges[st.index] = (lo, max(lo, hi))
        if arrays is not None:
            arrays.indices |= set(self.ranges)

    def bounds(self, a: Affine) -> tuple[int, int]:
        return a.bounds(self.ranges)

    def push(self, pending: dict, arg: sp.Basic, mask: sp.Basic | None, c: sp.Expr) -> None:
        if isinstance(arg, sp.Symbol) and c != 0 and arg not in self.ranges and \
                (self.active is None or arg in self.active):
            pending.setdefault(arg, _Adjoint()).add(mask, c)

    def block(self, body, builder: Builder, pending: dict) -> None:
        for stmt in reversed(body):
            self.walked += 1
            if not self.walked & 1023:
                self.stage.advance(1024)
            if isinstance(stmt, Assign):
                self.assign(stmt, builder, pending)
            elif isinstance(stmt, Read):
                self.read(stmt, builder, pending)
            elif isinstance(stmt, Write):
                self.write(stmt, builder, pending)
            else:
                self.loop(stmt, builder, pending)

    def assign(self, stmt: Assign, builder: Builder, pending: dict) -> None:
        entry = pending.pop(stmt.target, None)
        if entry is None:
            return
        mask, a, _ = entry.gather(builder)
        if a == 0:
            return
        if not stmt.expr.args:      # a value under another name
            self.push(pending, stmt.expr, mask, a)
            return
        picks = selection(stmt.expr)
        if picks is not None:
            # where, max and min select: each argument gets the whole adjoint where it
            # was picked, and nothing (not 0 times its partials) where it was not. An
            # argument computed only by operations whose partials stay finite even at
            # ±inf takes the cheaper where(c, adjoint, 0), which is then exact too.
            if self.safe is None:
                self.safe = _bounded_cone(self.prog)
            cond, x, y = picks
            for arg, c, cheap in ((x, cond, Where(cond, a, 0)),
                                  (y, Not(cond), Where(cond, 0, a))):
                if arg in self.safe:
                    self.push(pending, arg, mask, cheap)
                else:
                    self.push(pending, arg, conjunction(mask, c), a)
            return
        for arg, c in contributions(stmt.expr, stmt.target, a):
            self.push(pending, arg, mask, c)

    def read(self, stmt: Read, builder: Builder, pending: dict) -> None:
        entry = pending.pop(stmt.target, None)
        if entry is None:
            return
        a = entry.total(builder)
        assert self.arrays is not None, "a program with Reads is swept with its arrays"
        adj = self.arrays.of(stmt.array) if a != 0 and not self.quiet else None
        if adj is not None:
            builder.body.append(Write(adj[0], stmt.index + adj[1], a, add=True))

    def write(self, stmt: Write, builder: Builder, pending: dict) -> None:
        assert not stmt.add, "forward programs only store"
        adj = self.arrays.existing(stmt.array) if self.arrays is not None else None
        if adj is None or not isinstance(stmt.value, sp.Symbol):
            return
        at = stmt.index + adj[1]
        t = builder.fresh("_r")
        builder.body.append(Read(t, adj[0], at))
        # consumed: an element written again (in an earlier iteration) starts from 0
        builder.body.append(Write(adj[0], at, sp.Integer(0)))
        self.push(pending, stmt.value, None, t)

    def fixpoint(self, loop: Loop, builder: Builder, pending: dict) -> None:
        """A fixed point z* = Φ(z*, θ) by the implicit function theorem: λ solves
        λ = z̄ + (∂Φ/∂z)ᵀ λ at z* (a loop iterating that until it converges, NaN where it
        does not), and θ gets (∂Φ/∂θ)ᵀ λ. The start gets nothing: z* does not depend
        on it."""
        seeds = {c.out: pending.pop(c.out) for c in loop.carries if c.out in pending}
        if not seeds:
            return
        zbar = [seeds[c.out].total(builder) if c.out in seeds else sp.Integer(0)
                for c in loop.carries]
        at_solution = tuple(Assign(c.var, c.out) for c in loop.carries)
        # Φ at the solution: computed once, before the adjoint's loop, which then only
        # runs the vector-Jacobian product (a Φ with loops inside is recomputed in it:
        # a loop's reverse needs its forward loop beside it)
        hoist = not any(isinstance(st, Loop) for st in loop.body)
        rb = Builder(parent=builder)
        if hoist:
            builder.preload(at_solution + loop.body)
        else:
            rb.preload(at_solution + loop.body)
        lams = [builder.fresh("_c") for _ in loop.carries]
        inner: dict[sp.Basic, _Adjoint] = {}
        for c, lam in zip(loop.carries, lams):
            self.push(inner, c.next, None, lam)
        self.quiet += 1
        try:
            self.block(loop.body, rb, inner)
        finally:
            self.quiet -= 1
        nexts = []
        for c, zb in zip(loop.carries, zbar):
            entry = inner.pop(c.var, None)
            jt = entry.total(rb) if entry is not None else sp.Integer(0)
            nexts.append(rb.emit(total([zb, jt])))
        # (the shared values' adjoints are taken once, at the solution: below)
        solved = solve(builder, rb, lams, zbar, nexts, loop, "_o")
        # θ's adjoint: (∂Φ/∂θ)ᵀ λ at the solution
        if not hoist:
            builder.preload(at_solution + loop.body)
        last: dict[sp.Basic, _Adjoint] = {}
        for c, lam in zip(loop.carries, solved):
            self.push(last, c.next, None, lam)
        self.block(loop.body, builder, last)
        for c in loop.carries:
            last.pop(c.var, None)
        for sym, entry in last.items():
            self.push(pending, sym, None, entry.total(builder))

    def checkpointed(self, loop: Loop, builder: Builder, pending: dict, trips: int) -> None:
        """A long loop's reverse with O(√n) memory: the forward loop runs as segments of
        k ≈ √n iterations, storing the carried values only at each segment's start (a
        checkpoint), then a tail of the n mod k iterations left; the reverse sweeps the
        tail, then each segment backwards: its iterations recomputed from the checkpoint
        (storing their carried values in a tape of k rows), then reversed from that
        tape. It costs one more run of the forward iterations."""
        n = len(loop.carries)
        k = max(2, math.isqrt(trips - 1) + 1)
        segments, start = trips // k, loop.start.const
        ckpt = f"_ckpt{builder.fresh('_ckpt').name[5:]}"
        assert self.arrays is not None
        self.arrays.buffers.append(Buffer(ckpt, max(1, segments * n)))
        self.arrays.sizes[ckpt] = max(1, segments * n)
        s = builder.fresh("_i")
        self.ranges[s] = (0, max(0, segments - 1))
        self.arrays.indices.add(s)
        first = Affine(start) + Affine.of(s).scale(k)
        segvars = [builder.fresh("_c") for _ in loop.carries]
        mids = [builder.fresh("_o") for _ in loop.carries]
        inner = Loop(loop.index, first, first + k,
                     tuple(Carry(c.var, v, c.next, m)
                           for c, v, m in zip(loop.carries, segvars, mids)), loop.body)
        writes = tuple(Write(ckpt, Affine.of(s).scale(n) + j, v) for j, v in enumerate(segvars))
        segouts = [builder.fresh("_o") for _ in loop.carries]
        seg = Loop(s, Affine(0), Affine(segments),
                   tuple(Carry(v, c.init, m, o)
                         for v, c, m, o in zip(segvars, loop.carries, mids, segouts)),
                   writes + (inner,))
        tail = Loop(loop.index, Affine(start + segments * k), loop.stop,
                    tuple(Carry(c.var, o, c.next, c.out)
                          for c, o in zip(loop.carries, segouts)), loop.body)
        at = next(i for i, st in enumerate(builder.body) if st is loop)
        builder.body[at:at + 1] = [seg, tail]
        self.loop(tail, builder, pending)
        written = self.arrays is not None and any(
            isinstance(st, Write) and self.arrays.existing(st.array) is not None
            for st in walk(loop.body))
        seeds = {o: pending.pop(o) for o in segouts if o in pending}
        if not seeds and not written:
            return
        inits = [seeds[o].total(builder) if o in seeds else sp.Integer(0) for o in segouts]
        rb = Builder(parent=builder)
        restored = [rb.fresh("_r") for _ in loop.carries]
        for j, r in enumerate(restored):
            rb.body.append(Read(r, ckpt, Affine.of(s).scale(n) + j))
        outs = [rb.fresh("_o") for _ in loop.carries]
        again = Loop(loop.index, first, first + k,
                     tuple(Carry(c.var, r, c.next, o)
                           for c, r, o in zip(loop.carries, restored, outs)), loop.body)
        rb.body.append(again)
        bars = [builder.fresh("_c") for _ in loop.carries]
        within: dict[sp.Basic, _Adjoint] = {}
        for o, bar in zip(outs, bars):
            self.push(within, o, None, bar)
        self.loop(again, rb, within)
        self.close_reverse(Loop(s, Affine(0), Affine(segments), (), (), True), loop,
                           builder, rb, bars, inits, restored, within, pending)

    def loop(self, loop: Loop, builder: Builder, pending: dict) -> None:
        """The reverse loop of a forward loop (see adjoint_loops)."""
        assert not loop.reverse, "forward programs loop forwards"
        if loop.until is not None:
            self.fixpoint(loop, builder, pending)
            return
        trips = self.bounds(loop.stop)[1] - self.bounds(loop.start)[0]
        from .iterate import CHECKPOINT_ELEMENTS
        if loop.carries and loop.start.constant is not None and \
                loop.stop.constant is not None and \
                trips * len(loop.carries) > CHECKPOINT_ELEMENTS and trips >= 4:
            self.checkpointed(loop, builder, pending, trips)
            return
        seeds = {c.out: pending.pop(c.out) for c in loop.carries if c.out in pending}
        written = self.arrays is not None and any(
            isinstance(s, Write) and self.arrays.existing(s.array) is not None
            for s in walk(loop.body))
        if not seeds and not written:
            return
        n = len(loop.carries)
        tapes: list[str] = []
        if n:
            assert self.arrays is not None, "a program with loops is swept with its arrays"
            tapes = self.arrays.tapes.get(id(loop), [])
            if not tapes:      # (a Jacobian's later rows reuse the first row's tapes)
                size = max(1, max_trips(loop, self.bounds))
                for _ in loop.carries:
                    tape = f"_tape{builder.fresh('_tape').name[5:]}"
                    self.arrays.buffers.append(Buffer(tape, size))
                    self.arrays.sizes[tape] = size
                    tapes.append(tape)
                replace_statement(builder.body, loop, tape_loop(loop, tapes))
                self.arrays.tapes[id(loop)] = tapes
                self.arrays.keep.append(loop)
        inits = [seeds[c.out].total(builder) if c.out in seeds else sp.Integer(0)
                 for c in loop.carries]
        rb = Builder(parent=builder)
        rb.preload(tuple(recomputed(loop, tapes, loop.index)))
        bars = [builder.fresh("_c") for _ in loop.carries]
        inner: dict[sp.Basic, _Adjoint] = {}
        for c, bar in zip(loop.carries, bars):
            self.push(inner, c.next, None, bar)
        self.block(loop.body, rb, inner)
        self.close_reverse(Loop(loop.index, loop.start, loop.stop, (), (), True), loop,
                           builder, rb, bars, inits, [c.var for c in loop.carries], inner,
                           pending)

    def close_reverse(self, shape: Loop, loop: Loop, builder: Builder, rb: Builder,
                      bars: list, inits: list, states: list, inner: dict,
                      pending: dict) -> None:
        """Emit a reverse loop (index and bounds as ``shape``'s) with body ``rb``: it
        carries the adjoints ``bars`` of ``loop``'s carried values (from ``inits``; each
        iteration's next is the adjoint its body gave ``states``) and sums the adjoints
        of the values its body reads from outside (what is left in ``inner``); after
        it, those reach ``pending``, the carried values' adjoints their inits'."""
        nexts = []
        for st in states:
            entry = inner.pop(st, None)
            nexts.append(entry.total(rb) if entry is not None else sp.Integer(0))
        carries = [Carry(bar, init, rb.emit(nxt), builder.fresh("_o"))
                   for bar, init, nxt in zip(bars, inits, nexts)]
        shared = []
        for sym, entry in list(inner.items()):
            a = entry.total(rb)
            if a == 0:
                continue
            acc = builder.fresh("_c")
            carries.append(Carry(acc, sp.Integer(0), rb.emit(total([acc, a])),
                                 builder.fresh("_o")))
            shared.append(sym)
        builder.body.append(Loop(shape.index, shape.start, shape.stop, tuple(carries),
                                 tuple(rb.body), reverse=True))
        n = len(bars)
        for c, carry in zip(loop.carries, carries):
            self.push(pending, c.init, None, carry.out)
        for sym, carry in zip(shared, carries[n:]):
            self.push(pending, sym, None, carry.out)


# Operations whose partials are finite for every argument, ±inf included (and that
# overflow nothing: a sum's partials are 1 even when it overflows).
_BOUNDED = (sp.Add, Where, Maximum, Minimum, Relu, sp.Abs, sp.sign, sp.floor, sp.ceiling,
            sp.tanh, Sigmoid, sp.erf, sp.atan)


def _bounded_cone(prog: Program) -> set[sp.Basic]:
    """The program's inputs and the values computed from them only by operations with
    bounded partials: multiplying their adjoint by 0 gives 0 wherever they are used."""
    safe: set[sp.Basic] = set(prog.input_symbols)
    for stmt in prog.body:
        if not isinstance(stmt, Assign):
            continue
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


def _grads(prog: Program, adj: dict, prefix: str, params=None,
           arrays: Arrays | None = None, builder: Builder | None = None
           ) -> tuple[Output, ...]:
    """Per parameter, the output of its adjoint: the symbols' adjoints, or (where loops
    accumulated into it: ``arrays``) an output the program writes, the symbols' adjoints
    added to it."""
    outs = []
    for p in (params or prog.params):
        name = f"{prefix}{p.name}"
        if arrays is None or arrays.existing(p.name) is None:
            outs.append(Output(name, p.shape,
                               tuple(adj.get(s, sp.Integer(0)) for s in p.symbols)))
            continue
        assert builder is not None
        target, offset = arrays.existing(p.name)
        for k, s in enumerate(p.symbols):
            if adj.get(s, 0) != 0:
                builder.body.append(Write(target, Affine(offset + k), adj[s], add=True))
        outs.append(Output(name, p.shape, (), written=True))
    return tuple(outs)


def _arrays(prog: Program, builder: Builder, params: tuple[Param, ...], prefix: str,
            rows: int = 1) -> Arrays:
    """Where a sweep of ``prog`` puts array elements' adjoints: parameter p's in the
    output ``prefix + p`` (``rows`` of them for a Jacobian)."""
    sizes = {p.name: p.size for p in prog.params}
    sizes.update({b.name: b.size for b in prog.buffers})
    for p in params:
        sizes[output_array(f"{prefix}{p.name}")] = p.size * rows
    return Arrays(builder, sizes,
                  {p.name: (output_array(f"{prefix}{p.name}"), 0) for p in params}, [])


def _buffers(prog: Program, arrays: Arrays | None) -> tuple[Buffer, ...]:
    return prog.buffers + (tuple(arrays.buffers) if arrays is not None else ())


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
    if prog.has_loops:
        # conservatively: whatever a loop defines is live when anything it reads is
        # (or it reads an array at all)
        from .ir import defined as defined_in
        arrays = {p.name for p in params}
        for a in prog.body:
            if isinstance(a, Assign):
                if not live.isdisjoint(a.expr.free_symbols):
                    live.add(a.target)
            elif isinstance(a, Read):
                if a.array in arrays or a.array.startswith("_"):
                    live.add(a.target)
            elif isinstance(a, Loop):
                live |= defined_in(a.body) | {c.out for c in a.carries} | \
                    {c.var for c in a.carries}
        return live
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
        arrays = _arrays(fwd, builder, params, "grad_") if fwd.has_loops else None
        adj = sweep(fwd, builder, [(out.exprs[0], sp.Integer(1))], depends_on(fwd, params),
                    st, arrays)
        grads = _grads(fwd, adj, "grad_", params, arrays, builder)
        return program(fwd.name, fwd.params, builder, fwd.outputs + grads, fwd.line,
                       fwd.labels, _buffers(fwd, arrays))


def jacobian(fwd: Program, wrt: Wrt = None) -> Program:
    """Outputs ``jac_<param>`` of shape (output shape + parameter shape)."""
    out = fwd.output("value")
    params = wrt_params(fwd, wrt)
    active = depends_on(fwd, params)
    with progress.stage(progress.ADJOINT, len(out.exprs) * len(fwd.body)) as st:
        builder = builder_for(fwd)
        if fwd.has_loops:
            arrays = _arrays(fwd, builder, params, "jac_", len(out.exprs))
            outs = []
            adjs = []
            for r, e in enumerate(out.exprs):
                arrays.targets = {p.name: (output_array(f"jac_{p.name}"), r * p.size)
                                  for p in params}
                arrays.adjoint = {k: v for k, v in arrays.adjoint.items()
                                  if k not in arrays.targets}
                adjs.append(sweep(fwd, builder, [(e, sp.Integer(1))], active, st, arrays))
                for p in params:
                    hit = arrays.existing(p.name)
                    if hit is None:    # this row read no element of p in a loop: zero it
                        arrays.of(p.name)
                        hit = arrays.existing(p.name)
                    for k, s in enumerate(p.symbols):
                        if adjs[-1].get(s, 0) != 0:
                            builder.body.append(Write(hit[0], Affine(hit[1] + k),
                                                      adjs[-1][s], add=True))
            outs = tuple(Output(f"jac_{p.name}", out.shape + p.shape, (), written=True)
                         for p in params)
            return program(fwd.name, fwd.params, builder, (out,) + outs, fwd.line,
                           buffers=_buffers(fwd, arrays))
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
        arrays = _arrays(fwd, builder, params, "vjp_") if fwd.has_loops else None
        adj = sweep(fwd, builder, list(zip(out.exprs, cot.symbols)),
                    depends_on(fwd, params), st, arrays)
        grads = _grads(fwd, adj, "vjp_", params, arrays, builder)
        return program(fwd.name, fwd.params + (cot,), builder, (out,) + grads, fwd.line,
                       buffers=_buffers(fwd, arrays))


def _flat_grads(fused: Program, params: tuple[Param, ...]) -> list[sp.Expr]:
    return [e for p in params for e in fused.output(f"grad_{p.name}").exprs]


def hessian(fused: Program, wrt: Wrt = None) -> Program:
    """One matrix over the flattened parameters (row-major, parameters in order; those
    of ``wrt`` only, in its order, for a ``fused`` program made with the same ``wrt``),
    by a reverse sweep of the fused gradient program per gradient element."""
    params = wrt_params(fused, wrt)
    if fused.has_loops:       # forward-over-reverse, one column per iteration of a loop
        from . import forward_loops
        return forward_loops.hessian(fused, params)
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
    if fused.has_loops:       # forward-over-reverse: the gradient's tangent
        from . import forward_loops
        return forward_loops.hvp(fused, params)
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
    """The largest number in the program's generated names (``_t12``, ``_i3``, ``_tape7``),
    so that names made after it are new."""
    n = 0
    names = [b.name for b in prog.buffers]
    for a in walk(prog.body):
        if isinstance(a, (Assign, Read)):
            names.append(a.target.name)
        elif isinstance(a, Loop):
            names.append(a.index.name)
            names += [x.name for c in a.carries for x in (c.var, c.out)]
    for name in names:
        digits = name.lstrip("_abcdefghijklmnopqrstuvwxyz")
        if name.startswith("_") and digits.isdigit():
            n = max(n, int(digits))
    return n
