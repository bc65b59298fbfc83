"""Lowering of recurrences and of arrays defined element by element (docs/language.md,
"Recurrences", "Arrays defined element by element"): a mixin of ``lower.Lowerer`` on top of
``iterate.IterationLowering``, whose loops, sums and indexing it builds on.

A recurrence ``h[0] = start``, ``h[t+1] = step for t = a..b`` is read as ``h[T]`` or
``h[k]`` (the group of recurrences stepped together from their start to k: a loop carrying
every state, or unrolled when short) or as ``h[t]`` inside another loop (a history buffer,
every element stored by a loop at the level of the frame that reads it). Inside a step,
``h[t]`` is the carried state and ``g[t+1]`` the step of another state of the group.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import sympy as sp

from . import arrays as A
from . import syntax as S
from .ir import Affine, Write
from .iterate import (
    SCALARISE_ELEMENTS,
    IterationLowering,
    ParamRef,
    _element_name,
    _shaped,
)
from .source import Span


@dataclass
class Recurrence:
    """One name's recurrence: ``name[k0] = start`` and ``name[t+1] = step for t = k0..k1``
    (elements k0..k1+1)."""

    name: str
    start: S.IndexedBinding
    step: S.IndexedBinding
    first: int            # k0
    last: int             # k1 + 1: the last element defined
    limit: int            # statements visible to the bodies
    seen: int             # statements visible where it is read (its group is found there)


@dataclass
class StepContext:
    """Inside a recurrence group's step: what ``h[t]`` and ``g[t+1]`` are."""

    index: object                          # t: a symbol (loop) or an sp.Integer (unrolled)
    group: dict[str, Recurrence]
    current: dict[str, object]             # name -> value at t
    nexts: dict[str, object]               # name -> value at t+1, as computed
    computing: list[str]                   # steps being evaluated (cycle detection)
    loops: tuple                           # memo-key tag of this step


class RecurrenceLowering(IterationLowering):
    """Mixin of ``lower.Lowerer``: recurrences and elementwise definitions."""

    # -- recurrences and elementwise definitions -----------------------------------------------
    def _definitions(self, name: str, limit: int) -> list[tuple[int, S.IndexedBinding]]:
        """The indexed statements defining ``name`` as seen from before ``limit``."""
        defs = [(i, st) for i, st in self.globals.defs.get(name, []) if i < limit]
        out: list[tuple[int, S.IndexedBinding]] = []
        for i, st in reversed(defs):
            if not isinstance(st, S.IndexedBinding):
                break
            out.append((i, st))
        out.reverse()
        return out

    def _elementwise(self, defs) -> bool:
        if len(defs) != 1:
            return False
        st = defs[0][1]
        return bool(st.ranges) and len(st.indices) == len(st.ranges) and all(
            isinstance(i, S.Name) and i.id == r.var for i, r in zip(st.indices, st.ranges))

    def _recurrence(self, name: str, limit: int, span: Span) -> Recurrence:
        key = ("recurrence", name, limit)
        if key in self.memo:
            return self.memo[key]
        defs = self._definitions(name, limit)
        starts = [(i, d) for i, d in defs if not d.ranges]
        steps = [(i, d) for i, d in defs if d.ranges]
        if len(starts) != 1 or len(steps) != 1:
            raise self.error(f"'{name}' is defined by indexed statements that are neither "
                             "one array defined element by element nor a recurrence (one "
                             f"start {name}[k] = ... and one step {name}[t+1] = ... for t = "
                             "...)", span)
        (i0, start), (i1, step) = starts[0], steps[0]
        root = self._plain_scope(limit)
        if len(start.indices) != 1 or len(step.indices) != 1 or len(step.ranges) != 1:
            raise self.error(f"a recurrence has one index: {name}[0] = ... and "
                             f"{name}[t+1] = ... for t = 0..T-1", step.name_span)
        k0 = self._affine(start.indices[0], root)
        if k0 is None or k0.constant is None:
            raise self.error("the start of a recurrence has a constant index",
                             start.indices[0].span)
        r = step.ranges[0]
        a, b = self._range(r, root)
        if a.constant is None or b.constant is None:
            raise self.error("a recurrence's range has constant ends", r.span)
        t = sp.Symbol("_probe", integer=True)
        self.index_ranges[t] = (0, 0)
        probe = self._affine(step.indices[0], replace(root, locals={r.var: t},
                                                      indices=frozenset({r.var})))
        del self.index_ranges[t]
        if probe is None or probe.terms != ((1, t),) or probe.const != 1:
            raise self.error(f"a recurrence's step defines {name}[{r.var}+1] from "
                             f"{name}[{r.var}]", step.indices[0].span)
        if a.constant != k0.constant:
            raise self.error(f"the step must continue the start: {name}[{k0.constant}] is "
                             f"given, so the range must start at {r.var} = {k0.constant}",
                             r.start.span)
        rec = Recurrence(name, start, step, k0.constant, b.constant, max(i0, i1) + 1, limit)
        self.memo[key] = rec
        return rec

    def _group(self, rec: Recurrence) -> dict[str, Recurrence]:
        """The recurrences stepped together with ``rec``: those with the same range that
        its step (or theirs) reads, transitively."""
        group = {rec.name: rec}
        todo = [rec]
        while todo:
            cur = todo.pop()
            for n in _indexed_names(cur.step.value):
                if n in group or n == cur.name:
                    continue
                defs = self._definitions(n, rec.seen)
                if not defs or self._elementwise(defs):
                    continue
                other = self._recurrence(n, rec.seen, cur.step.span)
                if (other.first, other.last) == (rec.first, rec.last):
                    group[n] = other
                    todo.append(other)
        return group

    def _indexed_read(self, node: S.Index, payload, scope):
        name, limit = payload
        defs = self._definitions(name, limit)
        if self._elementwise(defs):
            arr = self._elementwise_value(name, defs[0], scope)
            idx = [self._affine(i, scope) for i in node.indices]
            if isinstance(arr, ParamRef):
                return self._read_array(node, arr.name, arr.shape, idx)
            if all(a is not None and a.constant is not None for a in idx):
                return self._index(node, arr, [sp.Integer(a.constant) for a in idx])
            return self._read_array(node, self._spill(arr, node), arr.shape, idx)
        ctx: StepContext | None = scope.recur
        in_step = ctx is not None and name in ctx.group
        rec = ctx.group[name] if in_step else self._recurrence(name, limit, node.span)
        if len(node.indices) != 1:
            raise self.error(f"'{name}' is a recurrence: index it with one index, "
                             f"{name}[t]", node.span)
        a = self._affine(node.indices[0], scope)
        if a is None:
            raise self.error("an index must be an integer: an expression of numbers, sizes "
                             "and index variables", node.indices[0].span)
        if in_step:
            t = ctx.index
            ta = Affine.of(t) if isinstance(t, sp.Symbol) else Affine(int(t))
            if a == ta:
                return ctx.current[name]
            if a == ta + 1:
                return self._next_value(ctx, name, node, scope)
            raise self.error(f"a step reads {name}[{_var_of(ctx)}] (or another state at "
                             f"{_var_of(ctx)}+1), not {name} at another index", node.span)
        lo, hi = self._bounds(a)
        if lo < rec.first or hi > rec.last:
            bad = lo if lo < rec.first else hi
            raise self.error(f"index {bad} is out of range for '{name}', defined for "
                             f"{rec.first}..{rec.last}", node.indices[0].span)
        if a.constant is not None:
            return self._recurrence_at(rec, a.constant, scope)
        buf, size = self._history(rec, scope)
        return self._read_array(node, buf, (rec.last - rec.first + 1,) + size,
                                [a + (-rec.first)])

    def _indexed_whole(self, node: S.Name, payload, scope):
        """A name defined by indexed statements, used whole: an elementwise array."""
        name, limit = payload
        defs = self._definitions(name, limit)
        if self._elementwise(defs):
            return self._elementwise_value(name, defs[0], scope)
        rec = self._recurrence(name, limit, node.span)
        raise self.error(f"'{name}' is a recurrence: read one of its elements, "
                         f"{name}[{rec.last}] (the last) or {name}[t] in a range", node.span)

    def _next_value(self, ctx: StepContext, name: str, node: S.Node, scope):
        if name in ctx.nexts:
            return ctx.nexts[name]
        if name in ctx.computing:
            cycle = " -> ".join(ctx.computing[ctx.computing.index(name):] + [name])
            raise self.error(f"the steps read each other's next value ({cycle}): a step "
                             f"reads {name}[t] or another state's next value", node.span)
        rec = ctx.group[name]
        ctx.computing.append(name)
        inner = self._step_scope(rec, ctx, scope)
        v = self._number(self.lower_expr(rec.step.value, inner, self._builder(),
                                         rec.step.span), rec.step.value)
        ctx.computing.pop()
        want = A.shape_of(ctx.current[name])
        if A.shape_of(v) != want:
            raise self.error(f"the step of '{name}' has shape {A.shape_text(A.shape_of(v))}"
                             f" but its start has shape {A.shape_text(want) or '(a scalar)'}",
                             rec.step.value.span)
        ctx.nexts[name] = v
        return v

    def _step_scope(self, rec: Recurrence, ctx: StepContext, scope):
        from .lower import Scope
        var = rec.step.ranges[0].var
        locals_ = {k: v for k, v in scope.locals.items() if k not in scope.indices}
        locals_[var] = ctx.index
        return Scope(locals_, rec.limit, self.memo, scope.frame, scope.function,
                     loops=ctx.loops, indices=frozenset({var}), recur=ctx)

    def _start_values(self, group: dict[str, Recurrence], scope) -> dict[str, object]:
        out = {}
        for n, rec in group.items():
            inner = self._frame_scope(rec.limit, scope)
            out[n] = self._number(self.lower_expr(rec.start.value, inner, self._builder(),
                                                  rec.start.span), rec.start.value)
        return out

    def _frame_scope(self, limit: int, scope):
        """Where a recurrence's start and steps are evaluated: the frame of the use,
        without the index variables of the loops around the use."""
        from .lower import Scope
        return Scope({k: v for k, v in scope.locals.items() if k not in scope.indices},
                     limit, self.memo, scope.frame, scope.function,
                     loops=self.levels[-1].loops)

    def _recurrence_at(self, rec: Recurrence, k: int, scope):
        """``name[k]`` for a constant k: the group stepped from its start to k, at the
        level of the frame that reads it (not inside the loops around the read)."""
        group = self._group(rec)
        home = self._home(list(self._frame_values(scope)))
        key = ("recur-at", tuple(sorted(group)), k, scope.frame, self.levels[home].loops)
        if key in self.memo:
            return self.memo[key][rec.name]
        saved, self.levels = self.levels, self.levels[:home + 1]
        try:
            base = self._frame_scope(rec.limit, scope)
            starts = self._start_values(group, base)
            values = starts if k == rec.first else \
                self._step_loop(group, starts, rec.first, k, base, None)
        finally:
            self.levels = saved
        self.memo[key] = values
        return values[rec.name]

    def _frame_values(self, scope):
        return (v for k, v in scope.locals.items() if k not in scope.indices)

    def _step_loop(self, group: dict[str, Recurrence], starts: dict, first: int,
                   stop: int, scope, history: dict[str, str] | None) -> dict:
        """Step the group from index ``first`` to ``stop``; with ``history``, element t
        of each state is also written to its buffer (row t - first)."""
        names = list(group)
        shapes = {n: A.shape_of(starts[n]) for n in names}
        sizes = {n: len(A.flat(starts[n])) for n in names}
        span = group[names[0]].step.span

        def write_row(n: str, value, row: Affine) -> None:
            b = self._builder()
            for j, e in enumerate(A.flat(value)):
                b.body.append(Write(history[n], row.scale(sizes[n]) + j, b.emit(e)))

        if history is not None:
            for n in names:
                write_row(n, starts[n], Affine(0))

        def step(index, current, loops) -> dict:
            ctx = StepContext(index, group, current, {}, [], loops)
            for n in names:
                self._next_value(ctx, n, S.Node(span), scope)
            if history is not None:
                row = (Affine.of(index) if isinstance(index, sp.Symbol)
                       else Affine(int(index))) + (1 - first)
                for n in names:
                    write_row(n, ctx.nexts[n], row)
            return ctx.nexts

        # a step that selects (where, max, min) is not unrolled: the adjoint of an
        # unrolled chain of selections carries their conditions, which compound step
        # after step (the program would double with every step)
        # (and a step is copied once per state element: an 8-wide state's step is long)
        selects = any(_selects(group[n].step.value) for n in names)
        if self._unroll((stop - first) * sum(sizes.values())) and not selects:
            current = dict(starts)
            self.copies *= max(1, stop - first)
            try:
                for t in range(first, stop):
                    current = step(sp.Integer(t), current, self.levels[-1].loops +
                                   (("step", tuple(names), id(scope), t),))
            finally:
                self.copies //= max(1, stop - first)
            return current

        def body(inner, carry):
            vals = carry([e for n in names for e in A.flat(starts[n])],
                         [_element_name(n, shapes[n], k) for n in names
                          for k in range(sizes[n])])
            current, k = {}, 0
            for n in names:
                current[n] = _shaped(vals[k:k + sizes[n]], shapes[n])
                k += sizes[n]
            nexts = step(inner.locals["_t"], current, inner.loops)
            return [e for n in names for e in A.flat(nexts[n])]

        outs = self._loop(replace(scope, indices=frozenset()), "_t", Affine(first),
                          Affine(stop), body, span,
                          label=group[names[0]].step.ranges[0].var)
        result, k = {}, 0
        for n in names:
            result[n] = _shaped(outs[k:k + sizes[n]], shapes[n])
            k += sizes[n]
        return result

    def _history(self, rec: Recurrence, scope) -> tuple[str, tuple[int, ...]]:
        """A buffer holding every element of the recurrence (row k - first), written by
        a loop at the level of the frame that reads it."""
        group = self._group(rec)
        home = self._home(list(self._frame_values(scope)))
        key = ("history", tuple(sorted(group)), scope.frame, self.levels[home].loops)
        if key not in self.memo:
            saved, self.levels = self.levels, self.levels[:home + 1]
            try:
                base = self._frame_scope(rec.limit, scope)
                starts = self._start_values(group, base)
                names = {}
                for n in group:
                    size = len(A.flat(starts[n]))
                    buf = f"_h{self._builder().fresh('_h').name[2:]}"
                    self._buffer(buf, (rec.last - rec.first + 1) * size, rec.step.span)
                    names[n] = buf
                self._step_loop(group, starts, rec.first, rec.last, base, names)
                self.memo[key] = {n: (names[n], A.shape_of(starts[n])) for n in group}
            finally:
                self.levels = saved
        return self.memo[key][rec.name]

    def _elementwise_loops(self, name: str, st: S.IndexedBinding, base,
                           ranges: list[int]) -> ParamRef:
        """A large array defined element by element: nested loops (at the level of the
        frame that reads it) that write its elements to a buffer, read element by
        element from then on."""
        buf = f"_e{self._builder().fresh('_e').name[2:]}"
        self._buffer(buf, int(np.prod(ranges)), st.span)
        strides = [int(np.prod(ranges[k + 1:])) for k in range(len(ranges))]

        def level(scope, k: int, flat: Affine) -> None:
            r = st.ranges[k]

            def body(inner, carry):
                at = flat + Affine.of(inner.locals[r.var]).scale(strides[k])
                if k + 1 < len(ranges):
                    level(inner, k + 1, at)
                    return []
                v = self._number(self.lower_expr(st.value, inner, self._builder(),
                                                 st.span), st.value)
                if A.shape_of(v):
                    raise self.error(f"an element of '{name}' must be a scalar, got "
                                     f"{self.describe(st.value, v)}", st.value.span)
                b = self._builder()
                b.body.append(Write(buf, at, b.emit(v)))
                return []

            self._loop(scope, r.var, Affine(0), Affine(ranges[k]), body, st.span)

        level(base, 0, Affine(0))
        return ParamRef(buf, tuple(ranges))

    def _elementwise_value(self, name: str, entry, scope) -> np.ndarray:
        """An array defined element by element, every element lowered (unrolled), or
        beyond SCALARISE_ELEMENTS elements written by loops (``_elementwise_loops``)."""
        i, st = entry
        # computed once, at the level of the frame that reads it (not in the loops
        # around the read)
        home = self._home(list(self._frame_values(scope)))
        key = ("elementwise", i, scope.frame, self.levels[home].loops)
        if key in self.memo:
            return self.memo[key]
        saved, self.levels = self.levels, self.levels[:home + 1]
        try:
            out = self._elementwise_at_home(name, i, st, scope)
        finally:
            self.levels = saved
        self.memo[key] = out
        return out

    def _elementwise_at_home(self, name: str, i: int, st: S.IndexedBinding, scope):
        base = self._frame_scope(i, scope)
        ranges = []
        for r in st.ranges:
            a, b = self._range(r, base)
            if a.constant != 0 or b.constant is None:
                raise self.error("an array defined element by element has ranges from 0 "
                                 "to a constant", r.span)
            ranges.append(b.constant)
        if int(np.prod(ranges)) > SCALARISE_ELEMENTS:
            return self._elementwise_loops(name, st, base, ranges)
        self._fits(int(np.prod(ranges)), st)
        out = np.empty(tuple(ranges), dtype=object)
        for idx in np.ndindex(*ranges):
            inner = base
            for r, k in zip(st.ranges, idx):
                inner = self._enter(inner, r.var, sp.Integer(k), ("element", i, idx))
            v = self._number(self.lower_expr(st.value, inner, self._builder(), st.span),
                             st.value)
            if A.shape_of(v):
                raise self.error(f"an element of '{name}' must be a scalar, got "
                                 f"{self.describe(st.value, v)}", st.value.span)
            out[idx] = v
        return out


def _var_of(ctx: StepContext) -> str:
    rec = next(iter(ctx.group.values()))
    return rec.step.ranges[0].var


def _selects(node: S.Node) -> bool:
    """Whether an expression calls where, max or min (iteratively)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, S.Call) and n.func.id in ("where", "max", "min"):
            return True
        for f in ("left", "right", "operand", "base", "body", "value"):
            c = getattr(n, f, None)
            if isinstance(c, S.Node):
                stack.append(c)
        for f in ("args", "indices", "items"):
            stack.extend(c for c in getattr(n, f, ()) or () if isinstance(c, S.Node))
    return False


def _indexed_names(node: S.Node) -> set[str]:
    """Names indexed anywhere in an expression (iteratively)."""
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, S.Index) and isinstance(n.base, S.Name):
            out.add(n.base.id)
        for f in ("left", "right", "operand", "base", "body", "value"):
            c = getattr(n, f, None)
            if isinstance(c, S.Node):
                stack.append(c)
        for f in ("args", "indices", "items"):
            stack.extend(c for c in getattr(n, f, ()) or () if isinstance(c, S.Node))
        if isinstance(n, S.Call):
            stack.append(n.func)
            stack.extend(k.value for k in n.keywords)
    return out
