"""The reverse sweep through loops and array elements (backpropagation through time).

A forward loop stores its carried values, iteration by iteration, in a tape (a per-point
buffer); its adjoint is a loop over the same indices, backwards, whose body reads the
iteration's carried values back from the tape, recomputes the iteration's forward
statements from them, and sweeps those statements in reverse (``adjoint.sweep`` on the
body, loops inside it handled the same way, recursively). The adjoints of the carried
values are the reverse loop's carried values; the adjoints of the values the body reads
from outside it (the shared weights) are summed over the iterations in carried values
too. An element read from an array (``Read``) gives its adjoint to the array's adjoint
(``Write`` with ``add``); an element written (``Write``) takes its adjoint from there.

So the gradient's memory per point is the tape, the carried values of every iteration:
O(trip count × state), and its work per iteration is the step's forward statements twice
and their adjoint once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .ir import Affine, Buffer, Carry, Loop, Read, Statement, Write
from .optimize import Builder

# Arrays of at most this many elements are zeroed by one Write each, not by a loop.
ZERO_UNROLL = 16


@dataclass
class Arrays:
    """The adjoints of a program's arrays during one sweep.

    ``targets`` names, per parameter array whose elements are read, the output that
    receives its adjoint and where its elements start there (a Jacobian row). Buffers'
    adjoints are new buffers. Each adjoint array is zeroed in the program's own builder
    (before the loops that accumulate into it) when first touched."""

    root: Builder
    sizes: dict[str, int]                         # every array's element count
    targets: dict[str, tuple[str, int]]           # parameter -> (output, offset)
    buffers: list[Buffer]                         # buffers the sweep adds
    adjoint: dict[str, tuple[str, int]] = field(default_factory=dict)
    indices: set = field(default_factory=set)     # loop indices: never differentiated
    tapes: dict[int, list[str]] = field(default_factory=dict)  # id(forward loop) -> tapes
    keep: list = field(default_factory=list)      # the loops those ids belong to

    def of(self, array: str) -> tuple[str, int] | None:
        """The adjoint array of ``array`` and its offset, made (zeroed) when first asked
        for; None for an array whose adjoint is not wanted (a parameter not in
        ``targets``)."""
        hit = self.adjoint.get(array)
        if hit is not None:
            return hit
        if array in self.targets:
            hit = self.targets[array]
        elif array in self.sizes and not self._is_param(array):
            name = f"_g{self.root.fresh('_g').name[2:]}"
            self.buffers.append(Buffer(name, self.sizes[array]))
            self.sizes[name] = self.sizes[array]
            hit = (name, 0)
        else:
            return None
        self.adjoint[array] = hit
        zero(self.root, hit[0], hit[1], self.sizes[array], self.indices)
        return hit

    def existing(self, array: str) -> tuple[str, int] | None:
        return self.adjoint.get(array)

    def _is_param(self, array: str) -> bool:
        return not array.startswith("_")      # buffers and outputs' arrays start with _


def zero(builder: Builder, array: str, offset: int, size: int, indices: set) -> None:
    """``array[offset .. offset+size-1] = 0``."""
    if size <= ZERO_UNROLL:
        for k in range(size):
            builder.body.append(Write(array, Affine(offset + k), sp.Integer(0)))
        return
    i = builder.fresh("_i")
    indices.add(i)
    builder.body.append(Loop(i, Affine(0), Affine(size), (),
                             (Write(array, Affine.of(i) + offset, sp.Integer(0)),)))


def tape_loop(loop: Loop, tapes: list[str]) -> Loop:
    """The forward loop, each iteration's carried values first written to the tapes (one
    per carried value, so that one the reverse sweep never reads back is not kept:
    optimize.program drops a buffer nothing reads)."""
    row = Affine.of(loop.index) + loop.start.scale(-1)
    writes = tuple(Write(t, row, c.var) for t, c in zip(tapes, loop.carries))
    return Loop(loop.index, loop.start, loop.stop, loop.carries, writes + loop.body,
                loop.reverse, loop.until, loop.tol)


def max_trips(loop: Loop, bounds) -> int:
    """The most iterations the loop runs, over the values of the indices around it."""
    return max(0, bounds(loop.stop + loop.start.scale(-1))[1])


def replace_statement(body: list[Statement], old: Statement, new: Statement) -> None:
    for k, s in enumerate(body):
        if s is old:
            body[k] = new
            return
    raise AssertionError("the loop being reversed is not in its builder")


def recomputed(loop: Loop, tapes: list[str], index: sp.Symbol) -> list[Statement]:
    """The reverse body's first statements: the iteration's carried values read from the
    tapes, then the iteration's forward statements again."""
    row = Affine.of(index) + loop.start.scale(-1)
    reads: list[Statement] = [Read(c.var, t, row) for t, c in zip(tapes, loop.carries)]
    return reads + list(loop.body)


def fixpoint_tol(loop: Loop) -> sp.Expr:
    """The tolerance a fixed point's adjoint (or tangent) system is solved to: the fixed
    point's own, relative to 1 + |λ| (a float32 kernel can meet what its forward
    iteration met)."""
    from .functions import from_float
    return from_float(loop.tol if loop.tol is not None else 1e-12)


def converged(b: Builder, olds: list, news: list, tol: sp.Expr) -> sp.Expr:
    """Whether an iteration has converged: no value changed by more than tol·(1 + |old|)."""
    from .arith import total
    from .functions import relation
    oks = []
    for old, new in zip(olds, news):
        change = b.emit(sp.Abs(b.emit(total([new, -old]))))
        bound = b.emit(tol * b.emit(1 + b.emit(sp.Abs(old))))
        oks.append(relation(sp.Le, change, bound))
    return b.emit(sp.And(*oks)) if len(oks) > 1 else b.emit(oks[0])


def solve(builder: Builder, body: Builder, vars_: list, inits: list, nexts: list,
          loop: Loop, prefix: str) -> list:
    """A fixed point's derivative system (its adjoint's λ, or its tangent) iterated to
    convergence in a loop of its own (``body`` computes ``nexts`` from ``vars_``), as
    many iterations at most as the fixed point's; its solution, NaN where it or the
    fixed point itself (``loop``, whose last carried value is its convergence flag) did
    not converge."""
    from .functions import Where, relation
    done = converged(body, vars_, nexts, fixpoint_tol(loop))
    carries = [Carry(v, i, n, builder.fresh(prefix)) for v, i, n in zip(vars_, inits, nexts)]
    carries.append(Carry(builder.fresh(prefix), sp.Integer(0), body.emit(Where(done, 1, 0)),
                         builder.fresh(prefix)))
    builder.body.append(Loop(builder.fresh("_i"), Affine(0), loop.stop, tuple(carries),
                             tuple(body.body), False, done, loop.tol))
    half = sp.Rational(1, 2)
    good = builder.emit(sp.And(relation(sp.Gt, carries[-1].out, half),
                               relation(sp.Gt, loop.carries[-1].out, half)))
    return [builder.emit(Where(good, c.out, sp.nan)) for c in carries[:-1]]


__all__ = ["Arrays", "converged", "fixpoint_tol", "max_trips", "recomputed",
           "replace_statement", "solve", "tape_loop", "zero"]
