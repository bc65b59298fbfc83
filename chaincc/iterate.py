"""Lowering of iteration (docs/language.md, "Iteration"): loops, sums and products over
an index, fixed points, and indexing at a loop's index. Recurrences and elementwise
definitions build on these (recurrences.py).

A sum or a product of more than ``UNROLL_ITERATIONS`` iterations becomes a ``Loop`` of
the Program: its body is lowered once, with the index a symbol, into a builder of its
own; array elements at indices that depend on the index are ``Read`` statements. Fewer
iterations are unrolled (the body lowered once per index value, the index a number),
which is faster for so short a loop and gives the optimiser the whole expression. A
fixed point is a loop that ends when it has converged (``Loop.until``).

The work here is a mixin of ``lower.Lowerer``: it uses the lowerer's evaluation of
expressions (``lower_expr``) for every body.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import sympy as sp

from . import arrays as A
from . import sizes
from . import syntax as S
from .adjoint_loops import converged
from .arith import binary
from .functions import Where, from_float, relation
from .ir import Affine, Buffer, Carry, Loop, Read, Write
from .optimize import Builder
from .source import Span

# Loops of at most this many iterations are unrolled (see the module's docstring). Tests
# set it to 0 to compile every loop as a loop.
UNROLL_ITERATIONS = 16
# ... as long as the unrolled loops around it, together with it, copy their body at most
# this many times (30 nested sums of 2 terms would otherwise copy it 2^30 times)
UNROLL_COPIES = 256
# A loop nest runs at most this many iterations of its innermost body (per point): a
# source cannot ask for a computation that would not end in reasonable time
MAX_ITERATIONS = 10**9
# A function's loops store at most this many values per point (512 MiB)
MAX_SCRATCH_ELEMENTS = 1 << 26
# Loops nest at most this deep (each level lowers its body with one Python frame).
MAX_LOOP_DEPTH = 24
# fixpoint's defaults: the largest change of an element relative to 1 + |z|, and the
# iterations allowed
FIXPOINT_TOL = 1e-12
FIXPOINT_MAXITER = 1000
# A loop whose tape (its carried values times its iterations, per point) would exceed
# this many elements stores them only every √n iterations and recomputes the rest in the
# reverse sweep (checkpointing: adjoint_loops.py)
CHECKPOINT_ELEMENTS = 1 << 16
# An array parameter of more elements than this is not scalarised: it is read element
# by element (``x[t]`` inside a loop), never as a whole.
SCALARISE_ELEMENTS = 4096
_DEFAULTS = (UNROLL_ITERATIONS, CHECKPOINT_ELEMENTS)


def settings() -> str:
    """How loops are compiled, where it differs from the defaults (tests change it): part
    of the disk cache's key, so kernels made under other settings are not reused."""
    now = (UNROLL_ITERATIONS, CHECKPOINT_ELEMENTS)
    return "" if now == _DEFAULTS else f"loops:{now}"


@dataclass(frozen=True)
class ParamRef:
    """An array read element by element (not scalarised): a large parameter, or a large
    array defined element by element (a buffer its loops write)."""

    name: str
    shape: tuple[int, ...]


@dataclass
class Level:
    """One builder of the builder stack: the function's, or a loop body's."""

    builder: Builder
    loops: tuple          # the loops (and unrolled iterations) around it, for memo keys
    own: set = field(default_factory=set)   # the loop's index and carried values
    work: int = 1                           # iterations of the loops around, multiplied


class _AffineIntegers:
    """``sizes.Integers`` in Affines: names are sizes and index variables, and a product
    needs a constant side."""

    def __init__(self, lowerer: IterationLowering, scope) -> None:
        self.lowerer, self.scope = lowerer, scope

    def number(self, value: int) -> Affine:
        return Affine(value)

    def name(self, node: S.Name) -> Affine | None:
        return self.lowerer._affine_name(node, self.scope)

    def add(self, a: Affine, b: Affine) -> Affine:
        return a + b

    def sub(self, a: Affine, b: Affine) -> Affine:
        return a + b.scale(-1)

    def mul(self, a: Affine, b: Affine) -> Affine | None:
        if a.constant is not None:
            return b.scale(a.constant)
        return a.scale(b.constant) if b.constant is not None else None

    def neg(self, a: Affine) -> Affine:
        return a.scale(-1)

    def magnitude(self, a: Affine) -> int:
        return max([abs(a.const)] + [abs(c) for c, _ in a.terms])


class IterationLowering:
    """Mixin of ``lower.Lowerer``: the iteration constructs."""

    # -- set up per function -------------------------------------------------------------
    def _iteration_reset(self, builder: Builder) -> None:
        """Per function: the builder stack. The rest is the module's, as the statement
        pool is (a helper's loops are shared by the functions that call it)."""
        self.levels: list[Level] = [Level(builder, ())]
        self.copies = 1          # copies of the current body the unrolled loops around make
        self.fn_buffers: set[str] = set()       # the buffers this function made
        if not hasattr(self, "buffers"):
            self.index_ranges: dict[sp.Symbol, tuple[int, int]] = {}
            self.buffers: list[Buffer] = []
            self.param_arrays: dict[int, tuple[str, tuple[int, ...]]] = {}
            self.spilled: dict[tuple, str] = {}
            self.keep_alive: list = []

    def _buffer(self, name: str, size: int, span: Span) -> None:
        """A new per-point buffer; the function's buffers together stay within
        MAX_SCRATCH_ELEMENTS (its gradient's tapes are bounded by checkpointing)."""
        total = size + sum(b.size for b in self.buffers if b.name in self.fn_buffers)
        if total > MAX_SCRATCH_ELEMENTS:
            raise self.error(f"this needs {8 * total:,} bytes of memory per point (the "
                             "values it stores for later reads); at most "
                             f"{8 * MAX_SCRATCH_ELEMENTS:,} are allowed", span)
        self.buffers.append(Buffer(name, size))
        self.fn_buffers.add(name)

    def _builder(self) -> Builder:
        return self.levels[-1].builder

    # -- integers ------------------------------------------------------------------------
    def _affine(self, node: S.Node, scope) -> Affine | None:
        """An integer expression of numbers, sizes and index variables as an Affine, or
        None when ``node`` is not one (``sizes.evaluate``: bounded magnitudes, no
        recursion)."""
        return sizes.evaluate(node, _AffineIntegers(self, scope), self.source)

    def _affine_name(self, n: S.Name, scope) -> Affine | None:
        k = self._kind(n.id, scope)
        if k is None:
            return None
        what, payload = k
        if what == "value":
            if isinstance(payload, sp.Symbol) and payload in self.index_ranges:
                return Affine.of(payload)
            if isinstance(payload, sp.Integer):
                return Affine(int(payload))
            return None
        if what == "binding":
            idx, st = payload
            if isinstance(st, S.Binding) and not scope.indices:
                return self._size_value(st, idx, scope)
            if isinstance(st, S.Binding):
                return self._size_value(st, idx, replace(scope, indices=frozenset()))
        return None

    def _size_value(self, st: S.Binding, idx: int, scope) -> Affine | None:
        """A binding's integer value, when it is a size."""
        key = ("size", idx)
        if key not in self.memo:
            self.memo[key] = None        # a size never refers to itself
            inner = replace(scope, limit=idx, locals={}, indices=frozenset())
            a = self._affine(st.value, inner)
            self.memo[key] = a if a is not None and a.constant is not None else None
        return self.memo[key]

    def _integer(self, node: S.Node, scope, what: str) -> Affine:
        a = self._affine(node, scope)
        if a is None:
            raise self.error(f"{what} must be an integer: an expression of numbers, sizes "
                             "and index variables", node.span)
        return a

    def _bounds(self, a: Affine) -> tuple[int, int]:
        """The least and greatest value of ``a`` over the ranges of its indices."""
        return a.bounds(self.index_ranges)

    # -- scopes ----------------------------------------------------------------------------
    def _enter(self, scope, var: str, value, tag: tuple):
        """The scope of a body: ``var`` bound to ``value`` (a loop's index symbol or an
        unrolled iteration's number)."""
        locals_ = dict(scope.locals)
        locals_[var] = value
        return replace(scope, locals=locals_, indices=scope.indices | {var},
                       loops=scope.loops + (tag,))

    def _check_depth(self, span: Span) -> None:
        if len(self.levels) > MAX_LOOP_DEPTH:
            raise self.error(f"loops nest more than {MAX_LOOP_DEPTH} deep", span)

    def _range(self, r: S.Range, scope) -> tuple[Affine, Affine]:
        """A range's start and its end + 1 (exclusive)."""
        start = self._integer(r.start, scope, "the start of a range")
        stop = self._integer(r.stop, scope, "the end of a range") + 1
        return start, stop

    # -- loops -----------------------------------------------------------------------------
    def _loop(self, scope, var: str, start: Affine, stop: Affine, body, span: Span,
              until: list | None = None, label: str | None = None) -> list:
        """Emit a loop over ``var`` = start..stop-1. ``body(inner_scope, carry)`` lowers
        one iteration into the current builder; it calls ``carry(inits)`` for the values
        it carries (operands before the loop; it gets their symbols in the body) and
        returns their next values. Returns the values after the loop. ``until``: a list
        the body appends the loop's exit condition to (see ``ir.Loop``)."""
        self._check_depth(span)
        outer = self._builder()
        index = outer.fresh("_i")
        if label or not var.startswith("_"):      # the user's name, for explain
            self.labels[index] = label or var
        lo = self._bounds(start)[0]
        hi = self._bounds(stop)[1] - 1
        loops = max(1, hi - lo + 1) * self.levels[-1].work      # the loops' iterations
        work = loops * self.copies                               # and the unrolled copies
        if work > MAX_ITERATIONS:
            raise self.error(f"this loop would run {work:,} iterations (with the loops "
                             f"around it); at most {MAX_ITERATIONS:,} are allowed", span)
        self.index_ranges[index] = (lo, max(lo, hi))
        inner = Builder(parent=outer)
        tag = ("loop", index.name)
        carried: list[tuple[sp.Symbol, sp.Expr]] = []

        def carry(inits: list, names: list[str] | None = None) -> list[sp.Symbol]:
            vs = [outer.fresh("_c") for _ in inits]
            for v, n in zip(vs, names or ()):
                self.labels[v] = n
            carried.extend(zip(vs, inits))
            level.own.update(vs)
            return vs

        level = Level(inner, self.levels[-1].loops + (tag,), {index}, loops)
        self.levels.append(level)
        try:
            nexts = body(self._enter(scope, var, index, tag), carry)
            nexts = [inner.emit(n) for n in nexts]
        finally:
            self.levels.pop()
        assert len(nexts) == len(carried)
        outs = [outer.fresh("_o") for _ in carried]
        carries = tuple(Carry(v, i, n, o) for (v, i), n, o in zip(carried, nexts, outs))
        stop_when = inner.emit(until[0]) if until else None
        outer.body.append(Loop(index, start, stop, carries, tuple(inner.body), False,
                               stop_when, until[1] if until else None))
        return outs

    def _unroll(self, trips: int | None) -> bool:
        """Whether a loop of ``trips`` iterations is unrolled (see UNROLL_ITERATIONS)."""
        return trips is not None and trips <= UNROLL_ITERATIONS and \
            self.copies * max(1, trips) <= UNROLL_COPIES

    def _trips(self, start: Affine, stop: Affine) -> int | None:
        if start.constant is None or stop.constant is None:
            return None
        return max(0, stop.constant - start.constant)

    def _home(self, values) -> int:
        """The outermost level at which every symbol in ``values`` is defined: the level
        where something computed only from them belongs (hoisted out of the loops around
        the current level that it does not depend on)."""
        needed: set = set()
        for v in values:
            for e in (A.flat(v) if isinstance(v, np.ndarray) else [v]):
                if isinstance(e, sp.Basic):
                    needed |= e.free_symbols
        home = 0
        for k in range(len(self.levels) - 1, 0, -1):
            lv = self.levels[k]
            if needed & lv.own or any(
                    getattr(s, "target", None) in needed or
                    isinstance(s, Loop) and any(c.out in needed for c in s.carries)
                    for s in lv.builder.body):
                home = k
                break
        return home

    # -- sums and products -----------------------------------------------------------------
    def _reduce(self, node: S.Reduce, scope):
        """``sum(body for i = a..b, ...)`` / ``prod(...)``: added (multiplied) in index
        order, starting from 0 (1)."""
        return self._reduce_ranges(node, node.ranges, scope)

    def _reduce_ranges(self, node: S.Reduce, ranges: tuple[S.Range, ...], scope):
        r, rest = ranges[0], ranges[1:]
        start, stop = self._range(r, scope)
        op = "+" if node.op == "sum" else "*"
        unit = sp.Integer(0 if node.op == "sum" else 1)

        def term(inner):
            if rest:
                return self._reduce_ranges(node, rest, inner)
            return self._number(self.lower_expr(node.body, inner, self._builder(),
                                                node.span), node.body)

        def combine(acc, v):
            emit = self._builder().emit
            if A.shape_of(acc) or A.shape_of(v):
                return A.elementwise(lambda a, b: binary(op, a, b), [acc, v], emit)
            return emit(binary(op, acc, v))

        trips = self._trips(start, stop)
        if self._unroll(trips):
            acc = unit
            self.copies *= max(1, trips)
            try:
                for k in range(start.constant, stop.constant):
                    inner = self._enter(scope, r.var, sp.Integer(k),
                                        ("unroll", id(node), k))
                    acc = combine(acc, term(inner))
            finally:
                self.copies //= max(1, trips)
            return acc
        shape: list = []

        def body(inner, carry):
            v = term(inner)
            shape.append(A.shape_of(v))
            acc = carry([unit] * len(A.flat(v)))
            acc_v = acc[0] if not A.shape_of(v) else \
                np.array(acc, dtype=object).reshape(A.shape_of(v))
            return list(A.flat(combine(acc_v, v)))

        outs = self._loop(scope, r.var, start, stop, body, node.span)
        return outs[0] if not shape[0] else np.array(outs, dtype=object).reshape(shape[0])

    # -- fixed points -----------------------------------------------------------------------
    def _fixpoint(self, node: S.Call, scope):
        """``fixpoint(z -> body, start, tol=, maxiter=)``: a loop of at most maxiter
        iterations that ends when no element changed by more than tol·(1 + |z|); the
        value is NaN where it did not (never a wrong answer). Its derivative is the
        solution's (the adjoint sweep solves the implicit function theorem's system;
        adjoint.py), not that of the iterations."""
        if len(node.args) != 2 or not isinstance(node.args[0], S.Lambda):
            raise self.error("fixpoint takes a function and a start: fixpoint(z -> Φ(z), "
                             "start, tol=1e-12, maxiter=1000)", node.span)
        lam, start_node = node.args
        assert isinstance(lam, S.Lambda)
        tol, maxiter = FIXPOINT_TOL, FIXPOINT_MAXITER
        for kw in node.keywords:
            if kw.name == "tol":
                v = self._constant_number(kw.value, scope)
                if v is None or not (0 < v < 1):
                    raise self.error("tol must be a number between 0 and 1", kw.value.span)
                tol = v
            elif kw.name == "maxiter":
                a = self._affine(kw.value, scope)
                if a is None or a.constant is None or not 1 <= a.constant <= 10**9:
                    raise self.error("maxiter must be an integer from 1 to 1,000,000,000",
                                     kw.value.span)
                maxiter = a.constant
            else:
                raise self.error(f"fixpoint takes no keyword argument '{kw.name}' (its "
                                 "keyword arguments are tol= and maxiter=)", kw.span)
        start = self._number(self.lower_expr(start_node, scope, self._builder(),
                                             start_node.span), start_node)
        shape = A.shape_of(start)
        flat = list(A.flat(start))
        until: list = []

        def body(inner, carry):
            zs = carry(flat, [_element_name(lam.param, shape, k) for k in range(len(flat))])
            carry([sp.Integer(0)])         # the convergence flag (see below)
            z = _shaped(zs, shape)
            locals_ = dict(inner.locals)
            locals_[lam.param] = z
            sc = replace(inner, locals=locals_, indices=inner.indices - {lam.param})
            nxt = self._number(self.lower_expr(lam.body, sc, self._builder(), lam.span),
                               lam.body)
            if A.shape_of(nxt) != shape:
                raise self.error(f"the function's value has shape "
                                 f"{A.shape_text(A.shape_of(nxt)) or '(a scalar)'} but the "
                                 f"start has shape {A.shape_text(shape) or '(a scalar)'}",
                                 lam.body.span)
            nexts = list(A.flat(nxt))
            done = converged(self._builder(), zs, nexts, from_float(tol))
            until.extend([done, tol])
            # the last carried value: 1 once converged (adjoint.py's fixpoint reads it)
            return nexts + [Where(done, 1, 0)]

        outs = self._loop(scope, "_k", Affine(0), Affine(maxiter), body, node.span, until)
        ok = outs[-1]
        good = self._builder().emit(relation(sp.Gt, ok, sp.Rational(1, 2)))
        emit = self._builder().emit
        vals = [emit(Where(good, o, sp.nan)) for o in outs[:-1]]
        return _shaped(vals, shape)

    def _constant_number(self, node: S.Node, scope) -> float | None:
        v = self.lower_expr(node, scope, self._builder(), node.span)
        if isinstance(v, sp.Expr) and v.is_number:
            return float(v)
        return None

    # -- indexing with loop indices ----------------------------------------------------------
    def _special_index(self, node: S.Index, scope, values: list) -> bool:
        """Indexing that the plain constant-index path does not handle: a recurrence or an
        elementwise definition, a parameter read element by element, or an index that
        depends on a loop's index. Returns False to leave ``node`` to the plain path."""
        if not isinstance(node.base, S.Name):
            return False
        k = self._kind(node.base.id, scope)
        if k is None:
            return False
        what, payload = k
        if what == "indexed":
            values.append(self._indexed_read(node, payload, scope))
            return True
        affs = [self._slice_ends(i, scope) if isinstance(i, S.Slice) else
                self._affine(i, scope) for i in node.indices]
        symbolic = any(isinstance(a, Affine) and a.constant is None for a in affs)
        if what == "value" and isinstance(payload, ParamRef):
            values.append(self._read_array(node, payload.name, payload.shape, affs))
            return True
        if not symbolic:
            return False
        for a, i in zip(affs, node.indices):
            if a is None:
                raise self.error("an index must be an integer: an expression of numbers, "
                                 "sizes and index variables", i.span)
        if what == "value" and isinstance(payload, np.ndarray):
            ref = self.param_arrays.get(id(payload))
            if ref is not None:
                values.append(self._read_array(node, ref[0], ref[1], affs))
                return True
            values.append(self._read_array(node, self._spill(payload, node),
                                           payload.shape, affs))
            return True
        if what == "binding":
            v = self.lower_expr(node.base, scope, self._builder(), node.span)
            if isinstance(v, np.ndarray):
                ref = self.param_arrays.get(id(v))
                name = ref[0] if ref is not None else self._spill(v, node)
                values.append(self._read_array(node, name, v.shape, affs))
                return True
        raise self.error(f"cannot index {self.describe(node.base, None)}", node.span)

    def _slice_ends(self, node: S.Slice, scope) -> tuple:
        """A slice's constant ends (None where left out; the node where an end is not a
        constant integer), for ``_read_array``."""
        ends: list = []
        for end in (node.start, node.stop):
            a = self._affine(end, scope) if end is not None else None
            ends.append(None if end is None else
                        a.constant if a is not None and a.constant is not None else end)
        return ("slice", *ends)

    def _read_array(self, node: S.Index, name: str, shape: tuple[int, ...],
                    affs: list):
        """Elements of array ``name`` at per-axis indices (Read statements): an Affine
        picks one element of its axis, a slice (``_slice_ends``) a run of them, and
        fewer indices than axes give the rest of the axes (a row)."""
        if len(affs) > len(shape):
            raise self.error(f"too many indices for '{name}' of shape {A.shape_text(shape)}",
                             node.span)
        flat = Affine(0)
        stride = 1
        strides = []
        for d in reversed(shape):
            strides.append(stride)
            stride *= d
        strides.reverse()
        runs: list[tuple[int, range]] = []          # (stride, elements) of sliced axes
        for axis, (a, i) in enumerate(zip(affs, node.indices)):
            if isinstance(a, tuple):
                for end in a[1:]:
                    if isinstance(end, S.Node):
                        raise self.error("a slice end must be a constant integer", end.span)
                lo = 0 if a[1] is None else a[1]
                hi = shape[axis] if a[2] is None else a[2]
                if not 0 <= lo < hi <= shape[axis]:
                    raise self.error(f"slice {lo}:{hi} of axis {axis} of '{name}' of shape "
                                     f"{A.shape_text(shape)} is empty or out of range",
                                     i.span)
                runs.append((strides[axis], range(lo, hi)))
                continue
            if a is None:
                raise self.error("an index must be an integer: an expression of numbers, "
                                 "sizes and index variables", i.span)
            lo, hi = self._bounds(a)
            if lo < 0 or hi >= shape[axis]:
                bad = lo if lo < 0 else hi
                raise self.error(f"index {bad} is out of range for axis {axis} of "
                                 f"'{name}' of shape {A.shape_text(shape)}"
                                 + ("" if a.constant is not None else
                                    " (for some value of the index variables' ranges)"),
                                 i.span)
            flat = flat + a.scale(strides[axis])
        runs += [(s, range(d)) for s, d in zip(strides[len(affs):], shape[len(affs):])]
        builder = self._builder()
        out = np.empty(tuple(len(r) for _, r in runs), dtype=object)
        for idx in np.ndindex(*out.shape):
            off = sum(s * r[k] for k, (s, r) in zip(idx, runs))
            target = builder.fresh("_r")
            builder.body.append(Read(target, name, flat + off))
            out[idx] = target
        return A.wrap(out)

    def _spill(self, arr: np.ndarray, node: S.Node) -> str:
        """A computed array written to a scratch buffer (once, at the level where its
        elements are defined), so that a loop can read it at an index that varies."""
        home = self._home([arr])
        key = (id(arr), home)
        if key in self.spilled:
            return self.spilled[key]
        builder = self.levels[home].builder
        name = f"_a{builder.fresh('_a').name[2:]}"
        self._buffer(name, int(arr.size), node.span)
        for k, e in enumerate(arr.reshape(-1)):
            builder.body.append(Write(name, Affine(k), builder.emit(e)))
        self.spilled[key] = name
        self.keep_alive.append(arr)          # ids stay unique while the key is used
        return name

    def _plain_scope(self, limit: int):
        from .lower import Scope
        return Scope({}, limit, self.memo, ("plain",), "")

    def reduce_ref(self, what: str, ref: ParamRef, span: Span):
        """``sum``, ``mean``, ``prod``, ``max``, ``min`` or ``norm`` of an array read
        element by element: a loop over its elements, in row-major order."""
        from .functions import maximum, minimum
        size = int(np.prod(ref.shape))
        b = self._builder()
        first = b.fresh("_r")
        b.body.append(Read(first, ref.name, Affine(0)))
        ops = {"sum": lambda a, v: binary("+", a, v), "mean": lambda a, v: binary("+", a, v),
               "prod": lambda a, v: binary("*", a, v), "max": maximum, "min": minimum,
               "norm": lambda a, v: binary("+", a, binary("*", v, v))}
        step = ops[what]
        start = b.emit(binary("*", first, first)) if what == "norm" else first

        def body(inner, carry):
            acc, = carry([start])
            bb = self._builder()
            v = bb.fresh("_r")
            bb.body.append(Read(v, ref.name, Affine.of(inner.locals["_k"])))
            return [bb.emit(step(acc, v))]

        scope = self._plain_scope(0)
        out, = self._loop(scope, "_k", Affine(1), Affine(size), body, span)
        if what == "mean":
            return b.emit(binary("/", out, sp.Integer(size)))
        if what == "norm":
            return b.emit(sp.sqrt(out))
        return out

def _element_name(name: str, shape: tuple[int, ...], k: int) -> str:
    """``h`` for a scalar state, ``h[2]`` (``W[1,0]``) for element k of an array one."""
    if not shape:
        return name
    return f"{name}[{','.join(map(str, np.unravel_index(k, shape)))}]"


def _shaped(vals: list, shape: tuple[int, ...]):
    return vals[0] if not shape else np.array(vals, dtype=object).reshape(shape)
