"""Forward mode through loops and array elements: the program rebuilt statement by
statement, each followed by its tangent.

A statement's tangent comes right after it (``forward._tangent``); a ``Read`` gets the
element of the array's tangent at the same index, a ``Write`` writes its value's tangent
to the array's tangent, and a loop carries a tangent beside each carried value, its
body rebuilt the same way. Every array that is written has a tangent array (a buffer, or
the output that receives it), written wherever the array is, so it is never read
unwritten. A parameter's tangent is the direction's element (``direction``).

``jvp`` and ``jacobian`` (forward mode) of a program with loops use it on the forward
program; ``hvp`` and ``hessian`` on the fused value-and-gradient program
(forward-over-reverse: the tangent of the gradient along a direction is the Hessian times
it), the Hessian one column per iteration of a loop over the parameters' elements.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from .functions import Where
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
from .optimize import Builder, program

# A parameter element's tangent: (builder, parameter name, flat index) -> operand
Direction = Callable[[Builder, str, Affine], sp.Expr]


class Tangents:
    def __init__(self, prog: Program, wanted: set[str], direction: Direction,
                 outputs: dict[str, tuple[str, Affine]], root: Builder) -> None:
        """``wanted``: the parameters differentiated; ``outputs``: for an output the
        program writes, the array (and offset) that receives its tangent."""
        from .forward import tangent_statement
        self.statement = tangent_statement
        self.wanted = wanted
        self.direction = direction
        self.arrays: dict[str, tuple[str, Affine]] = dict(outputs)
        self.buffers: list[Buffer] = []
        sizes = {b.name: b.size for b in prog.buffers + _written(prog)}
        written = {s.array for s in walk(prog.body) if isinstance(s, Write)}
        for name in sorted(written):
            if name in self.arrays:
                continue
            if name in sizes:
                t = f"_d{root.fresh('_d').name[2:]}"
                self.buffers.append(Buffer(t, sizes[name]))
                self.arrays[name] = (t, Affine(0))

    def block(self, body, builder: Builder, dot: dict) -> None:
        for stmt in body:
            if isinstance(stmt, Assign):
                builder.body.append(stmt)
                builder.table.setdefault(stmt.expr, stmt.target)
                self.statement(stmt, builder, dot)
            elif isinstance(stmt, Read):
                builder.body.append(stmt)
                if stmt.array in self.wanted:
                    t = self.direction(builder, stmt.array, stmt.index)
                    if t != 0:
                        dot[stmt.target] = t
                elif stmt.array in self.arrays:
                    name, off = self.arrays[stmt.array]
                    d = builder.fresh("_d")
                    builder.body.append(Read(d, name, stmt.index + off))
                    dot[stmt.target] = d
            elif isinstance(stmt, Write):
                builder.body.append(stmt)
                if stmt.array in self.arrays:
                    name, off = self.arrays[stmt.array]
                    builder.body.append(Write(name, stmt.index + off,
                                              tangent(dot, stmt.value), stmt.add))
            else:
                self.loop(stmt, builder, dot)

    def fixpoint(self, loop: Loop, builder: Builder, dot: dict) -> None:
        """A fixed point's tangent: ż = (∂Φ/∂z) ż + (∂Φ/∂θ) θ̇ at the solution, solved by
        a loop of its own (NaN where it does not converge)."""
        from .adjoint_loops import solve
        builder.body.append(loop)
        body = Builder(parent=builder)
        for c in loop.carries:
            body.body.append(Assign(c.var, c.out))
        tvars, nexts = self.tangent_body(loop, builder, body, dot)
        solved = solve(builder, body, tvars, [sp.Integer(0)] * len(tvars), nexts, loop, "_d")
        for c, t in zip(loop.carries, solved):
            dot[c.out] = t

    def tangent_body(self, loop: Loop, builder: Builder, body: Builder, dot: dict
                     ) -> tuple[list, list]:
        """The loop's body rebuilt into ``body`` with tangents, each carried value's
        tangent a new symbol: (those symbols, the tangents of the next values)."""
        inner = dict(dot)
        tvars = [builder.fresh("_d") for _ in loop.carries]
        for c, tv in zip(loop.carries, tvars):
            inner[c.var] = tv
        self.block(loop.body, body, inner)
        return tvars, [body.emit(tangent(inner, c.next)) for c in loop.carries]

    def loop(self, loop: Loop, builder: Builder, dot: dict) -> None:
        if loop.until is not None:
            self.fixpoint(loop, builder, dot)
            return
        inits = [builder.emit(tangent(dot, c.init)) for c in loop.carries]
        body = Builder(parent=builder)
        tvars, nexts = self.tangent_body(loop, builder, body, dot)
        extra = tuple(Carry(tv, i, n, builder.fresh("_d"))
                      for tv, i, n in zip(tvars, inits, nexts))
        builder.body.append(Loop(loop.index, loop.start, loop.stop, loop.carries + extra,
                                 tuple(body.body), loop.reverse, loop.until, loop.tol))
        for c, e in zip(loop.carries, extra):
            dot[c.out] = e.out


def tangent(dot: dict, e: sp.Expr) -> sp.Expr:
    return dot.get(e, sp.Integer(0)) if isinstance(e, sp.Symbol) else sp.Integer(0)


def _written(prog: Program) -> tuple[Buffer, ...]:
    """The outputs a program writes, as buffers of a program derived from it (whose
    outputs are others)."""
    return tuple(Buffer(output_array(o.name), max(1, len_of(o.shape)))
                 for o in prog.outputs if o.written)


def len_of(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _offsets(params: tuple[Param, ...]) -> dict[str, int]:
    out, k = {}, 0
    for p in params:
        out[p.name] = k
        k += p.size
    return out


def _read_direction(array: str, offsets: dict[str, int]) -> Direction:
    def read(builder: Builder, name: str, index: Affine) -> sp.Expr:
        d = builder.fresh("_d")
        builder.body.append(Read(d, array, index + offsets[name]))
        return d
    return read


def _seed_symbols(params, direction: Direction, builder: Builder, dot: dict) -> None:
    for p in params:
        for k, s in enumerate(p.symbols):
            dot[s] = direction(builder, p.name, Affine(k))


def _direction_param(name: str, n: int) -> Param:
    # an array input read element by element (its elements are never symbols: a
    # direction over a large parameter would be millions of them)
    return Param(name, (n,), ())


def jvp(fwd: Program, params: tuple[Param, ...]) -> Program:
    """The value and ``tangent_value``: the derivative along ``_tangent``."""
    from .adjoint import _last_index
    out = fwd.output("value")
    offsets = _offsets(params)
    n = sum(p.size for p in params)
    tan = _direction_param("_tangent", n)
    builder = Builder(start=_last_index(fwd))
    direction = _read_direction("_tangent", offsets)
    tg = Tangents(fwd, set(offsets), direction, {}, builder)
    dot: dict = {}
    _seed_symbols(params, direction, builder, dot)
    tg.block(fwd.body, builder, dot)
    outs = (out, Output("tangent_value", out.shape, tuple(builder.emit(tangent(dot, e))
                                                       for e in out.exprs)))
    return program(fwd.name, fwd.params + (tan,), builder, outs, fwd.line,
                   buffers=fwd.buffers + tuple(tg.buffers))


def hvp(fused: Program, params: tuple[Param, ...]) -> Program:
    """``hvp_<param>``: the tangent of the gradient along ``_direction``."""
    from .adjoint import _last_index
    offsets = _offsets(params)
    n = sum(p.size for p in params)
    d = _direction_param("_direction", n)
    builder = Builder(start=_last_index(fused))
    grads = {p.name: fused.output(f"grad_{p.name}") for p in params}
    targets = {output_array(g.name): (output_array(f"hvp_{p}"), Affine(0))
               for p, g in grads.items() if g.written}
    direction = _read_direction("_direction", offsets)
    tg = Tangents(fused, set(offsets), direction, targets, builder)
    dot: dict = {}
    _seed_symbols(params, direction, builder, dot)
    tg.block(fused.body, builder, dot)
    outs = []
    for p in params:
        g = grads[p.name]
        if g.written:
            outs.append(Output(f"hvp_{p.name}", p.shape, (), written=True))
        else:
            outs.append(Output(f"hvp_{p.name}", p.shape,
                               tuple(builder.emit(tangent(dot, e)) for e in g.exprs)))
    return program(fused.name, fused.params + (d,), builder, tuple(outs), fused.line,
                   buffers=fused.buffers + _written(fused) + tuple(tg.buffers))


def hessian(fused: Program, params: tuple[Param, ...]) -> Program:
    """The Hessian over the flattened parameters, column k in iteration k of a loop: the
    tangent of the gradient along the k-th unit vector (its rows are the columns: the
    Hessian is symmetric, and row k is what the iteration writes)."""
    from .adjoint import _last_index
    offsets = _offsets(params)
    n = sum(p.size for p in params)
    builder = Builder(start=_last_index(fused))
    k = builder.fresh("_i")
    body = Builder(parent=builder)
    one_hot = _one_hot(k, offsets)
    row = Affine.of(k).scale(n)
    grads = {p.name: fused.output(f"grad_{p.name}") for p in params}
    targets = {output_array(g.name): (output_array("hessian"), row + offsets[p])
               for p, g in grads.items() if g.written}
    tg = Tangents(fused, set(offsets), one_hot, targets, builder)
    dot: dict = {}
    _seed_symbols(params, one_hot, body, dot)
    tg.block(fused.body, body, dot)
    for p in params:
        g = grads[p.name]
        if not g.written:
            for j, e in enumerate(g.exprs):
                body.body.append(Write(output_array("hessian"), row + (offsets[p.name] + j),
                                       body.emit(tangent(dot, e))))
    builder.body.append(Loop(k, Affine(0), Affine(n), (), tuple(body.body)))
    out = Output("hessian", (n, n), (), written=True)
    return program(fused.name, fused.params, builder, (out,), fused.line,
                   buffers=fused.buffers + _written(fused) + tuple(tg.buffers))


def _one_hot(k: sp.Symbol, offsets: dict[str, int], only: str | None = None) -> Direction:
    """Element ``k`` of the flattened parameters (of parameter ``only``, its own
    elements counted from 0) has tangent 1, every other 0."""
    def hot(b: Builder, name: str, index: Affine) -> sp.Expr:
        if only is not None and name != only:
            return sp.Integer(0)
        at = index + (0 if only is not None else offsets[name])
        flat = sum((c * v for c, v in at.terms), sp.Integer(at.const))
        return b.emit(Where(sp.Eq(flat, k, evaluate=False), 1, 0))
    return hot


def jacobian(fwd: Program, params: tuple[Param, ...]) -> Program:
    """``jac_<param>`` by forward mode: per parameter, a loop over its elements whose
    iteration j writes column j (the tangent along element j)."""
    from .adjoint import _last_index
    out = fwd.output("value")
    offsets = _offsets(params)
    builder = Builder(start=_last_index(fwd))
    buffers: list[Buffer] = []
    outs = [out]
    for p in params:
        k = builder.fresh("_i")
        body = Builder(parent=builder)
        hot = _one_hot(k, offsets, p.name)
        tg = Tangents(fwd, {p.name}, hot, {}, builder)
        buffers += tg.buffers
        dot: dict = {}
        _seed_symbols((p,), hot, body, dot)
        tg.block(fwd.body, body, dot)
        for i, e in enumerate(out.exprs):
            body.body.append(Write(output_array(f"jac_{p.name}"), Affine.of(k) + i * p.size,
                                   body.emit(tangent(dot, e))))
        builder.body.append(Loop(k, Affine(0), Affine(p.size), (), tuple(body.body)))
        outs.append(Output(f"jac_{p.name}", out.shape + p.shape, (), written=True))
    # the value itself, after the loops (whose bodies compute it too, in their scope)
    builder.preload(fwd.body)
    return program(fwd.name, fwd.params, builder, tuple(outs), fwd.line,
                   buffers=fwd.buffers + tuple(buffers))
