"""``chaincc explain`` for a function with loops: the chain rule in loop form.

The same three steps as ``explain.py`` (forward pass, local partial derivatives, chain
rule backward), with each loop shown once: its step for every value of the index, the
adjoint recurrence run backwards, and the sums over the steps that shared values get
(the derivation is ``derivation_loops.py``). With a point, a loop's lines are followed
by their values at the loop's first and last iterations, and the totals.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from .derivation import Node
from .derivation_loops import LoopDerivation, Term, derive_loops
from .derivation_loops import Row as Adj
from .explain import EDGE, FULL_LIMIT, Notation, Row, Section, _gap, _name, _pick, _short, layout
from .ir import Program
from .loop_blocks import BAR, HAT, Block, LoopView

ARRAY_EDGE = 3          # elements shown at each end of a long array


def explain_loops(prog: Program, at: dict | None, format: str, full: bool,
                  reserved: frozenset[str]) -> str:
    """The loop-form chain rule of a forward Program with loops and a scalar value."""
    ld = derive_loops(prog, at, reserved)
    nt = Notation(format, ld, {p.name: p.shape for p in prog.params})
    return layout(_Layout(ld, nt, full).build(), format)


def latex_rows(prog: Program, reserved: frozenset[str], limit: int) -> list[str]:
    """The loop-form derivation as LaTeX ``aligned`` rows, for Jupyter: the function,
    its forward pass and its chain rule backward (at most ``limit`` rows each)."""
    ld = derive_loops(prog, None, reserved)
    nt = Notation("latex", ld, {p.name: p.shape for p in prog.params})
    lay = _Layout(ld, nt, False)
    head = nt.expr(ld.out) + nt.paren(", ".join(nt.param(n) for n in ld.signature))
    out = [f"{head} &= {nt.expr(ld.closed)}" if ld.closed is not None else f"& {head}\\colon"]
    for rows in (lay.forward_rows(ld.top), lay.backward_rows(ld.top)):
        for r in rows[:limit]:
            op = "\\mathrel{+}=" if r.op == "+=" else "="
            out.append(f"{r.lhs} &{op} {r.rhs[-1] if r.rhs else ''}{r.suffix}")
        if len(rows) > limit:
            out.append(f"&\\vdots \\quad \\text{{({len(rows) - limit} more)}}")
    return out


def array_text(v: np.ndarray, nt: Notation, full: bool = False) -> str:
    """``[a, b, c, …, y, z]``: a flat array, its middle left out when long."""
    flat = [nt.num(float(x)) for x in np.ravel(v)]
    if not full and len(flat) > 2 * ARRAY_EDGE + 1:
        flat = flat[:ARRAY_EDGE] + [nt.dots] + flat[-ARRAY_EDGE:]
    return "[" + ", ".join(flat) + "]"


class _Layout:
    def __init__(self, ld: LoopDerivation, nt: Notation, full: bool) -> None:
        self.ld = ld
        self.nt = nt
        self.full = full
        self.out = nt.expr(ld.out)

    # -- pieces ----------------------------------------------------------------------
    def pick(self, rows: list) -> list:
        """All rows, or the first and last few with a gap between."""
        return _pick(rows, not self.full and len(rows) > FULL_LIMIT)

    def rows(self, items: list, what: str) -> list:
        out = []
        for item in self.pick(items):
            out.append(_gap(item, what, self.nt) if isinstance(item, int) else item)
        return out

    def ranges(self, view: LoopView | None, backward: bool = False) -> str:
        """``,  t = 0..99`` (``t = 99 down to 0`` backward) for a loop and the loops
        around it."""
        if view is None:
            return ""
        sep = ",\\quad " if self.nt.tex else ",  "
        if view.kind == "fixpoint":
            k, lo, top = self.nt.expr(view.index), self.nt.expr(view.lo), \
                self.nt.expr(view.hi + 1)
            if backward:
                return sep + self.nt.inline_text("at the fixed point")
            dots = "\\dots" if self.nt.tex else self.nt.dots
            return sep + f"{k} = {lo}, 1, {dots}" + self.nt.inline_text(
                f" until converged (at most {top} iterations)")
        parts = []
        for v in view.chain:
            i, lo, hi = self.nt.expr(v.index), self.nt.expr(v.lo), self.nt.expr(v.hi)
            if self.nt.tex:
                parts.append(f"{i} = {hi}, \\dots, {lo}" if backward and v is view
                             else f"{i} = {lo}, \\dots, {hi}")
            else:
                parts.append(f"{i} = {hi} down to {lo}" if backward and v is view
                             else f"{i} = {lo}..{hi}")
        return sep + ", ".join(parts)

    def sigma(self, view: LoopView, body: str, several: bool) -> str:
        if view.kind == "fixpoint":
            return body             # a fixed point's shared values: once, at the solution
        i, lo, hi = self.nt.expr(view.index), self.nt.expr(view.lo), self.nt.expr(view.hi)
        body = self.nt.paren(body) if several else body
        if self.nt.tex:
            return f"\\sum_{{{i}={lo}}}^{{{hi}}} {body}"
        if self.nt.fmt == "ascii":
            return f"sum({body} for {i} = {lo}..{hi})"
        return f"Σ_{{{i}={lo}}}^{{{hi}}} {body}"

    def ends(self, view: LoopView) -> list[dict]:
        """The index values of a top-level loop's first and last iterations (a fixed
        point: its solution, with no index)."""
        if view.depth != 0 or view.record is None:
            return []
        if view.kind == "fixpoint":
            return [{}] if view.record.solution else []
        its = view.record.iterations
        picked = its if len(its) <= 1 else [its[0], its[-1]]
        return [{self.ld.index_names[view.loop.index]: it.index} for it in picked]

    def at(self, sym: sp.Symbol, at: dict | None) -> str:
        return self.nt.expr(self.ld.concrete(sym, at) if at is not None else sym)

    # -- the document ---------------------------------------------------------------
    def build(self) -> tuple[Section, list[Section]]:
        ld, nt = self.ld, self.nt
        head = nt.expr(ld.out) + nt.paren(", ".join(nt.param(n) for n in ld.signature))
        title = Row(head, [nt.expr(ld.closed)] if ld.closed is not None else [])
        notes = []
        if ld.at is not None:
            notes.append(f"at {nt.inline(self.point())}")
        loops = ld.loops()
        count = {k: sum(1 for v in loops if v.kind == k)
                 for k in ("recurrence", "sum", "fixpoint")}
        words = {"recurrence": ("loop", "loops"), "sum": ("sum", "sums"),
                 "fixpoint": ("fixed point", "fixed points")}
        what = " and ".join(f"{n} {words[k][n != 1]}" for k, n in count.items() if n)
        where = "at the first and last iterations" if count["recurrence"] + count["sum"] \
            else ""
        if count["fixpoint"]:
            where += (" (a fixed point's at its solution)" if where else "at the solution")
        notes.append(f"{what}, shown once for every value of the index"
                     + (f"; the values are shown {where}" if ld.run is not None else ""))
        if ld.skipped is not None:
            notes.append(f"(the values are not shown: the loops run more than "
                         f"{ld.skipped:,} operations at this point; chaincc eval computes "
                         f"the value and gradient)")
        if any(b.kinds.get(s) == "store" for b in ld.blocks() for s in b.kinds):
            notes.append(f"({self.hat_note()})")
        if any(len(r.terms) > 1 and any(t.kind == "seed" for t in r.terms)
               for b in ld.blocks() if b.loop is not None and b.loop.kind != "fixpoint"
               for r in b.rows.values()):
            notes.append(f"({self.bar_note()})")
        if count["sum"]:
            notes.append("(every term of a sum gets the sum's own adjoint, the same for "
                         "every value of its index)")
        for v in loops:
            if v.kind == "fixpoint" and v.states:
                notes.append(f"({self.fixpoint_note(v)})")
        sections = [self.forward(), self.partials(), self.backward()]
        if ld.run is not None:
            sections.append(self.gradient())
        return Section("", [title, *notes]), sections

    def hat_note(self) -> str:
        nt = self.nt
        h, hat = sp.Symbol("h[k]"), sp.Symbol(f"h{HAT}[k]")
        return (f"a hat, {nt.inline(nt.expr(hat))}, is the part of "
                f"{nt.inline(nt.partial(self.ld.out, h))} that comes back through a later "
                f"loop's reads of the stored {nt.inline(nt.expr(h))}")

    def bar_note(self) -> str:
        nt = self.nt
        h, bar = sp.Symbol("h[k]"), sp.Symbol(f"h{BAR}[k]")
        return (f"a bar, {nt.inline(nt.expr(bar))}, is the adjoint a carried value gets "
                f"back from the steps after it (the last one from what follows the loop); "
                f"where its own step also uses it, "
                f"{nt.inline(nt.partial(self.ld.out, h))} adds that use")

    def fixpoint_note(self, view: LoopView) -> str:
        """The implicit function theorem, in the fixed point's names."""
        nt, st, names = self.nt, view.states[0], self.ld.names

        def base(sym: sp.Symbol, time: bool = False) -> sp.Symbol:
            tpl = names[sym]
            return sp.Symbol(tpl.render(self.ld.index_names) if not tpl.groups else
                             type(tpl)(tpl.base, tpl.groups[:1] if time else ()).render(
                                 self.ld.index_names))
        lam, zbar = nt.expr(base(st.bar_var)), nt.expr(base(st.bar_out))
        out = base(st.out)
        step = nt.partial(base(st.next, True), base(st.var, True))
        return (f"the fixed point {nt.inline(nt.expr(out))} is differentiated as the "
                f"solution it is, not through its iterations: {nt.inline(lam)} solves "
                f"{nt.inline(f'{lam} = {zbar} + {lam}{nt.mul}{step}')} at the solution "
                f"(the implicit function theorem), the values the step reads get "
                f"{nt.inline(lam)} times their partials there, and its start gets nothing")

    def point(self) -> str:
        nt, parts = self.nt, []
        for name in self.ld.signature:
            v = self.ld.at[name]
            text = array_text(v, nt, self.full) if isinstance(v, np.ndarray) else nt.num(v)
            parts.append(f"{_name(name, nt)} = {text}")
        return ", ".join(parts)

    # -- 1. forward ------------------------------------------------------------------
    def forward(self) -> Section:
        sec = Section(f"1. Forward pass: {self.nt.inline(self.out)} broken into steps "
                      f"(a loop's step once, for every value of its index)")
        sec.rows += self.rows(self.forward_rows(self.ld.top), "lines")
        return sec

    def forward_rows(self, blk: Block) -> list[Row]:
        nt, out = self.nt, []
        view = blk.loop
        suffix = self.ranges(view)
        for item in blk.items:
            if isinstance(item, LoopView):
                out += self.loop_forward(item, blk)
                continue
            if view is not None and view.kind == "sum" and item.sym in \
                    {p.out for p in view.sums}:
                continue                    # the term: shown in the sum's own line
            rhs = [nt.expr(item.expr)]
            if view is None and item.expr is not None:
                full = self.ld.forms.get(item.sym)
                if full is not None and full != item.expr and _short(full):
                    rhs.append(nt.expr(full))
            value = item.value if view is None else \
                _end_value(item, 0) if view.kind == "fixpoint" else None
            out.append(Row(nt.expr(item.sym), rhs, value, suffix=suffix))
        return out

    def loop_forward(self, view: LoopView, parent: Block) -> list[Row]:
        nt, out = self.nt, []
        assert view.block is not None
        suffix = self.ranges(view.parent)
        run = self.ld.run
        if view.kind == "fixpoint":
            for st in view.states:
                init = parent.display.get(st.carry.init, st.carry.init)
                out.append(Row(nt.expr(st.init), [nt.expr(init)], suffix=suffix))
            out += self.forward_rows(view.block)
            for st in view.states:
                value = run.values.get(st.carry.out) if run is not None and \
                    view.depth == 0 else None
                text = nt.inline_text(" once converged")
                out.append(Row(nt.expr(st.out), [nt.expr(st.next) + text], value,
                               suffix=suffix))
            return out
        if view.kind == "recurrence":
            for st in view.states:
                init = parent.display.get(st.carry.init, st.carry.init)
                value = None
                if run is not None and view.depth == 0:
                    value = _init_value(run.values, st.carry.init)
                out.append(Row(nt.expr(st.init), [nt.expr(init)], value, suffix=suffix))
            out += self.forward_rows(view.block)
            for at in self.ends(view):
                for st in view.states:
                    node = view.block.nodes.get(st.next)
                    v = _end_value(node, self.ends(view).index(at))
                    if v is not None:
                        out.append(Row(self.at(st.next, at), [], v))
            return out
        out += self.forward_rows(view.block)
        for part in view.sums:
            node = view.block.nodes.get(part.out)
            term = node.expr if node is not None and not node.is_input else \
                view.block.display.get(part.term, part.term)
            body = nt.expr(term)
            init = parent.display.get(part.carry.init, part.carry.init)
            text = self.sigma(view, body, isinstance(term, sp.Add))
            if init != 0:
                text = f"{nt.expr(init)} + {text}"
            value = None
            if run is not None and view.depth == 0:
                value = run.values.get(part.carry.out)
            out.append(Row(nt.expr(part.out), [text], value, suffix=suffix))
        return out

    # -- 2. local partials -----------------------------------------------------------
    def partials(self) -> Section:
        sec = Section("2. Local partial derivatives: each step on its own")
        rows = self.partial_rows(self.ld.top)
        if not rows:
            sec.rows.append(f"(none: {self.nt.inline(self.out)} is a constant)")
        sec.rows += self.rows(rows, "local partial derivatives")
        return sec

    def partial_rows(self, blk: Block) -> list[Row]:
        nt, out = self.nt, []
        view = blk.loop
        suffix = self.ranges(view)
        for item in reversed(blk.items):
            if isinstance(item, LoopView):
                assert item.block is not None
                out += self.partial_rows(item.block)
                continue
            ends = self.ends(view) if view is not None else []
            for i in item.inputs:
                kind = blk.kinds.get(i)
                direct = view is None and item.sym == self.ld.out and \
                    len(blk.nodes[i].consumers) > 1
                rhs = nt.expr(item.partials[i])
                if view is not None and view.kind == "sum" and kind in ("outer", "var"):
                    rhs = self.sigma(view, rhs, isinstance(item.partials[i], sp.Add))
                    out.append(Row(nt.partial(item.sym, i), [rhs],
                                   suffix=self.ranges(view.parent)))
                    continue
                value = item.partial_values.get(i) if view is None else None
                if view is not None and view.kind == "fixpoint":
                    value, ends = _end_partial(item, i, 0), []    # at the solution
                out.append(Row(nt.partial(item.sym, i, direct), [rhs], value,
                               suffix=suffix))
                for k, at in enumerate(ends):
                    v = _end_partial(item, i, k)
                    if v is not None:
                        lhs = nt.partial(self.ld.concrete(item.sym, at),
                                         self.ld.concrete(i, at))
                        out.append(Row(lhs, [], v))
        return out

    # -- 3. backward -----------------------------------------------------------------
    def backward(self) -> Section:
        runs = "; a loop's adjoints run from its last iteration back to its first" \
            if any(v.kind != "fixpoint" for v in self.ld.loops()) else ""
        sec = Section(f"3. Chain rule, backward from {self.nt.inline(self.out)}: multiply "
                      f"along each path, add over the paths{runs}")
        rows = self.backward_rows(self.ld.top)
        sec.rows += self.rows(rows, "adjoints")
        return sec

    def backward_rows(self, blk: Block) -> list[Row]:
        out: list[Row] = []
        view = blk.loop
        for item in reversed(blk.items):
            if isinstance(item, LoopView):
                assert item.block is not None
                for c in item.loop.carries:
                    sym = blk.display.get(c.out)
                    if sym is not None and sym in blk.rows:
                        out += self.adjoint_rows(blk, blk.rows[sym], view)
                out += self.backward_rows(item.block)
                continue
            if item.sym == self.ld.out or item.sym not in blk.rows:
                continue
            r = blk.rows[item.sym]
            if view is not None and len(r.terms) == 1 and r.terms[0].kind == "seed":
                continue                    # its adjoint is the seed: h̄[t+1]
            if view is None and _direct(r, self.ld.out):
                continue                    # only the result uses it: its local partial
            out += self.adjoint_rows(blk, r, view)
        for sym in blk.leaves():
            kind = blk.kinds[sym]
            if kind in ("index", "out", "outer") or sym not in blk.rows:
                continue
            out += self.adjoint_rows(blk, blk.rows[sym], view)
        return out

    def adjoint_rows(self, blk: Block, r: Adj, view: LoopView | None) -> list[Row]:
        nt = self.nt
        lhs = nt.expr(r.lhs) if r.lhs is not None else nt.partial(self.ld.out, r.sym)
        kind = blk.kinds.get(r.sym)
        backward = kind == "var" or (kind is None and view is not None)
        suffix = self.ranges(view, backward)
        op = "+=" if r.sym in blk.shared else "="
        if not r.terms:
            return [Row(lhs, ["0"], 0.0 if view is None and self.ld.run else None,
                        suffix=suffix)]
        rhs = []
        if r.lhs is not None and kind == "out":
            rhs.append(nt.partial(self.ld.out, r.sym))
        chain = self.total([self.chain(t, r.sym, blk) for t in r.terms])
        plugged = self.total([self.plugged(t) for t in r.terms])
        rhs += [chain, plugged]
        if view is None and len(r.terms) > 1 and all(t.value is not None for t in r.terms):
            rhs.append(self.total([_signed(t.value, nt) for t in r.terms]))
        dedup = [x for k, x in enumerate(rhs) if x != (rhs[k - 1] if k else lhs)]
        value = r.value if view is None else None
        if view is not None and view.kind == "fixpoint":
            value = r.ends[0][1] if r.ends else None          # at the solution
        rows = [Row(lhs, dedup, value, suffix=suffix, op=op)]
        if view is not None and view.depth == 0 and view.kind != "fixpoint":
            for at, v in (r.ends[::-1] if backward else r.ends):
                if v is None:
                    continue
                text = nt.expr(self.ld.concrete(r.lhs, at)) if r.lhs is not None else \
                    nt.partial(self.ld.out, self.ld.concrete(r.sym, at))
                rows.append(Row(text, [], v, op=op))
        if view is None:
            rows += self.sum_ends(r)
        return rows

    def sum_ends(self, r: Adj) -> list[Row]:
        """A sum over a top-level loop's steps: its first and last terms."""
        rows = []
        for t in r.terms:
            if t.kind != "sum" or t.loop is None or t.inner is None or _sum_term(t) or \
                    t.loop.kind == "fixpoint":
                continue
            for at, v in t.inner.ends:
                if v is None:
                    continue
                text = self.total([self.chain(u, t.inner.sym, t.loop.block, at)
                                   for u in t.inner.terms])
                rows.append(Row(text, [], v))
        return rows

    def total(self, parts: list[str]) -> str:
        return self.nt.total(parts, not self.full)

    def chain(self, t: Term, sym: sp.Symbol, blk: Block, at: dict | None = None) -> str:
        nt = self.nt
        c = (lambda s: self.ld.concrete(s, at)) if at is not None else (lambda s: s)
        if t.kind == "node":
            assert t.consumer is not None
            if t.consumer == self.ld.out:
                return nt.partial(self.ld.out, c(sym))
            return self.adjoint_name(blk, t.consumer, at) + nt.mul + \
                nt.partial(c(t.consumer), c(sym))
        if t.kind == "sum" and t.loop is not None and t.inner is not None:
            term = _sum_term(t)
            if term is not None:        # a sum's terms share its adjoint: ∂f/∂s·∂s/∂w
                return self.adjoint_name(t.loop.block, term.consumer, at) + nt.mul + \
                    nt.partial(c(term.consumer), c(sym))
            inner = [self.chain(u, t.inner.sym, t.loop.block) for u in t.inner.terms]
            return self.sigma(t.loop, self.total(inner), len(inner) > 1)
        if t.kind == "init" and t.loop is not None and t.loop.kind == "sum":
            return nt.partial(self.ld.out, t.loop.block.parent.display[
                next(p.carry.out for p in t.loop.sums)]) if t.loop.block else nt.expr(t.use)
        return nt.expr(t.use.xreplace({s: c(s) for s in t.use.free_symbols})
                       if at is not None else t.use)

    def adjoint_name(self, blk: Block, sym: sp.Symbol, at: dict | None) -> str:
        """How a value's adjoint is written in a chain: the seed it gets from the later
        steps (h̄[t+1]) where that is all it gets, else ∂f/∂value."""
        r = blk.rows.get(sym)
        if r is not None and len(r.terms) == 1 and r.terms[0].kind == "seed" and \
                isinstance(r.terms[0].use, sp.Symbol):
            use = r.terms[0].use
            return self.nt.expr(self.ld.concrete(use, at) if at is not None else use)
        return self.nt.partial(self.ld.out, self.ld.concrete(sym, at) if at is not None
                               else sym)

    def plugged(self, t: Term) -> str:
        nt = self.nt
        if t.kind == "node":
            if t.use == 1:
                return nt.expr(t.local)
            if t.local == 1:
                return nt.expr(t.use)
            return nt.factor(t.use, False) + nt.mul + nt.factor(t.local, True)
        if t.kind == "sum" and t.loop is not None and t.inner is not None:
            term = _sum_term(t)
            if term is not None:
                total = self.sigma(t.loop, nt.expr(term.local), isinstance(term.local, sp.Add))
                return total if term.use == 1 else nt.factor(term.use, False) + nt.mul + total
            inner = [self.plugged(u) for u in t.inner.terms]
            return self.sigma(t.loop, self.total(inner), len(inner) > 1)
        return nt.expr(t.use)

    # -- gradient --------------------------------------------------------------------
    def gradient(self) -> Section:
        ld, nt = self.ld, self.nt
        run = ld.run
        assert run is not None
        sec = Section(f"Gradient at {nt.inline(self.point())}")
        sec.rows.append(Row(self.out, [], run.value, exact=True))
        rows: list[Row] = []
        for p in ld.prog.params:
            g = run.array_adjoints[p.name]
            if not p.shape:
                rows.append(Row(nt.partial(ld.out, sp.Symbol(p.name)), [], float(g[0]),
                                exact=True))
            elif p.symbols and p.size <= 2 * EDGE + 1:
                rows += [Row(nt.partial(ld.out, s), [], float(v), exact=True)
                         for s, v in zip(p.symbols, g)]
            else:
                rows.append(Row(nt.partial(ld.out, sp.Symbol(p.name)),
                                [array_text(g, nt, self.full)]))
        sec.rows += self.rows(rows, "inputs")
        return sec


def _sum_term(t: Term) -> Term | None:
    """For a sum loop's contribution, the one term through the sum's term (whose
    adjoint, the sum's, is the same for every index), or None."""
    if t.loop is None or t.loop.kind != "sum" or t.inner is None or len(t.inner.terms) != 1:
        return None
    u = t.inner.terms[0]
    return u if u.kind == "node" and not u.use.free_symbols & {t.loop.index} else None


def _direct(r: Adj, out: sp.Symbol) -> bool:
    return len(r.terms) == 1 and r.terms[0].kind == "node" and r.terms[0].consumer == out


def _signed(v: float, nt: Notation) -> str:
    return nt.paren(nt.num(v)) if v < 0 else nt.num(v)


def _init_value(values: dict, init: sp.Basic) -> float | None:
    if isinstance(init, sp.Symbol):
        return values.get(init)
    try:
        return float(init)
    except TypeError:
        return None


def _end_value(node: Node | None, k: int) -> float | None:
    """A body node's value at the k-th iteration shown."""
    ends = node.ends if node is not None else []
    return ends[k][0] if k < len(ends) else None


def _end_partial(node: Node, i: sp.Symbol, k: int) -> float | None:
    """A body node's partial with respect to ``i`` at the k-th iteration shown."""
    return node.ends[k][1].get(i) if k < len(node.ends) else None
