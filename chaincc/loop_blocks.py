"""A Program with loops cut into blocks, with the names the loop-form derivation shows.

The blocks are the program's top level and each loop's body (``derivation_loops.py``
derives the chain rule over them). A block's straight-line statements are grouped into
intermediates as ``derivation.py`` groups a function without loops (a loop body's step
is written out whole while it is short); its inputs are the parameters, the values
computed outside it, the elements it reads, the loop's index and carried values, and the
results of the loops inside it.

Names: a loop's index, a carried value and a sum take the user's name where the
program labels them (``Program.labels``: a loop's index symbol with the range variable,
``t``; a carried value's ``var`` with the recurrence's name, ``h``, or an element of it,
``h[2]``; a sum's ``out`` with a binding's name). Otherwise they are named ``t`` (a
recurrence's index), ``i, j, k`` (a sum's), ``h, g, q`` (carried values: one name per
loop, with an element index when a loop carries several) and ``s`` (a sum), avoiding
every other name shown. Values stored by a loop and read by a later one (a recurrence's
history, ``h[t]`` inside ``sum(... for t = ...)``) are shown as the carried value they
store. A name's indices are affine in the loop indices (``h[t+1]``), so the same name is
also written at given index values (``h[1]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from .derivation import FORM_OPS, Node, _names, _ops, _swap, group_statements, make_nodes
from .ir import Affine, Assign, Carry, Loop, Program, Read, Statement, Write, uses, walk

if TYPE_CHECKING:
    from .derivation_loops import Row
    from .loop_values import LoopRecord

STATE_NAMES = ("h", "g", "q", "z", "r")
SUM_INDICES = ("i", "j", "k", "l", "m", "n")
STEP_INDICES = ("t", "τ")
FIXPOINT_INDICES = ("k", "n", "m")
BODY_NAMES = ("a", "b", "c", "d", "e", "p", "q", "r", "u", "v")
BAR = "\u0304"            # combining macron: h̄
HAT = "\u0302"            # combining circumflex: ĥ


# ------------------------------------------------------------------ names with indices

@dataclass(frozen=True)
class Name:
    """A displayed name whose indices are affine in the loop indices: ``h[t+1]``,
    ``x[t,2]``, ``h̄[t]``, ``a[t]``. Rendered with the indices' display names, or at
    given index values (``h[1]``)."""

    base: str
    groups: tuple[tuple[Affine, ...], ...] = ()

    def render(self, names: dict[sp.Symbol, str], at: dict[str, int] | None = None) -> str:
        out = self.base
        for g in self.groups:
            out += "[" + ",".join(affine_text(a, names, at) for a in g) + "]"
        return out

    def accent(self, mark: str) -> Name:
        return Name(self.base[0] + mark + self.base[1:], self.groups)


def affine_text(a: Affine, names: dict[sp.Symbol, str],
                at: dict[str, int] | None = None) -> str:
    """``t+1``, ``2t-1``, ``5i+j``; a number where ``at`` gives every index (by its
    displayed name)."""
    if at is not None and all(names.get(v, str(v)) in at for _, v in a.terms):
        return str(a.const + sum(c * at[names.get(v, str(v))] for c, v in a.terms))
    text = ""
    for c, v in a.terms:
        name = names.get(v, str(v))
        if c == 1:
            part = name
        elif c == -1:
            part = "-" + name
        else:
            part = f"{c}{name}"
        text += part if not text or part.startswith("-") else "+" + part
    if a.const or not text:
        text += str(a.const) if not text or a.const < 0 else f"+{a.const}"
    return text


def _affine_expr(a: Affine, index: dict[sp.Symbol, sp.Symbol]) -> sp.Expr:
    return sp.Integer(a.const) + sp.Add(*(c * index.get(v, v) for c, v in a.terms))


# ------------------------------------------------------------------ the derivation's parts

@dataclass
class State:
    """A carried value of a recurrence: ``var`` is it at the loop's index (``h[t]``),
    ``next`` one step later, ``init`` at the loop's start and ``out`` after it."""

    carry: Carry
    name: Name                  # at the index: h[t] (its groups' first is the time index)
    var: sp.Symbol
    next: sp.Symbol
    init: sp.Symbol
    out: sp.Symbol
    bar_var: sp.Symbol
    bar_next: sp.Symbol
    bar_init: sp.Symbol
    bar_out: sp.Symbol


@dataclass
class SumPart:
    """One accumulator of a sum loop: ``out = init + Σ term``."""

    carry: Carry
    term: sp.Basic              # the program value added each iteration (or a number)
    out: sp.Symbol              # display symbol of the sum


@dataclass
class LoopView:
    """One loop as the derivation shows it: a recurrence (its carried values, ``states``),
    a sum (``sums``) or a fixed point (``states``, the last carried value, its
    convergence flag, left out), with its body's block."""

    loop: Loop
    index: sp.Symbol                  # display symbol of the index
    kind: str                         # "recurrence" | "sum" | "fixpoint"
    lo: sp.Expr                       # first and last index, in the outer display indices
    hi: sp.Expr
    depth: int
    parent: LoopView | None
    states: list[State] = field(default_factory=list)
    sums: list[SumPart] = field(default_factory=list)
    block: Block | None = None
    record: LoopRecord | None = None

    @property
    def chain(self) -> list[LoopView]:
        """This loop and the loops around it, outermost first."""
        out: list[LoopView] = []
        v: LoopView | None = self
        while v is not None:
            out.append(v)
            v = v.parent
        return out[::-1]

    def state_of_out(self, out: sp.Symbol) -> State | None:
        return next((s for s in self.states if s.carry.out == out), None)


@dataclass
class Block:
    """The top level, or one loop's body: intermediates and loops in forward order."""

    loop: LoopView | None
    parent: Block | None = None
    items: list[Node | LoopView] = field(default_factory=list)
    nodes: dict[sp.Symbol, Node] = field(default_factory=dict)    # by display symbol
    display: dict[sp.Basic, sp.Symbol] = field(default_factory=dict)
    kinds: dict[sp.Symbol, str] = field(default_factory=dict)     # leaves: param, var...
    seeds: dict[sp.Symbol, tuple[sp.Expr, str]] = field(default_factory=dict)
    stores: dict[sp.Symbol, list[sp.Symbol]] = field(default_factory=dict)
    rows: dict[sp.Symbol, Row] = field(default_factory=dict)
    program: dict[sp.Symbol, sp.Basic] = field(default_factory=dict)   # display -> program
    aliases: dict[sp.Symbol, list] = field(default_factory=dict)   # display -> every program
    shared: set[sp.Symbol] = field(default_factory=set)   # elements whose parts add up

    def leaves(self) -> list[sp.Symbol]:
        return [s for s, n in self.nodes.items() if n.is_input]


# ------------------------------------------------------------------ loops: kinds, names

def _sum_parts(loop: Loop) -> list[tuple[Carry, sp.Basic, Assign]] | None:
    """Each carry as an accumulator (``next = var + term``, ``var`` used nowhere else),
    or None when some carry is not one."""
    assigns = {s.target: s for s in loop.body if isinstance(s, Assign)}
    used: dict[sp.Basic, int] = {}
    for s in loop.body:
        syms = (s.expr.free_symbols if isinstance(s, Assign) else uses(s)
                if not isinstance(s, Read) else set())
        for x in syms:
            used[x] = used.get(x, 0) + 1
    for c in loop.carries:
        if isinstance(c.next, sp.Symbol):
            used[c.next] = used.get(c.next, 0) + 1
    parts = []
    for c in loop.carries:
        a = assigns.get(c.next)
        if a is None or not isinstance(a.expr, sp.Add) or used.get(c.var, 0) != 1 \
                or c.var not in a.expr.args or used.get(c.next, 0) != 1:
            return None
        rest = [x for x in a.expr.args if x != c.var]
        term = rest[0] if len(rest) == 1 else sp.Add(*rest)
        parts.append((c, term, a))
    return parts or None


class _Namer:
    """Names for loop indices, carried values, sums and body intermediates."""

    def __init__(self, prog: Program) -> None:
        self.labels = dict(prog.labels)
        # names that stand for something else: parameters, the function, labels
        self.taken = {p.name for p in prog.params} | {prog.name}
        self.taken |= {n.partition("[")[0] for n in self.labels.values()}
        self.shown: set[str] = set(self.taken)      # every name shown so far

    def pick(self, pool: tuple[str, ...], avoid: set[str]) -> str:
        for n in pool:
            if n not in self.taken and n not in avoid:
                return n
        k = 2
        while f"{pool[0]}{k}" in self.taken | avoid:
            k += 1
        return f"{pool[0]}{k}"

    def label(self, s: sp.Basic) -> str | None:
        return self.labels.get(s)


# ------------------------------------------------------------------ building

class Blocks:
    """Cuts a program into blocks: ``prepass`` names the loops, ``block`` builds one
    block (and, inside it, the blocks of its loops)."""

    def __init__(self, prog: Program, reserved: frozenset[str]) -> None:
        self.prog = prog
        self.namer = _Namer(prog)
        self.reserved = reserved
        self.index_names: dict[sp.Symbol, str] = {}
        self.index_display: dict[sp.Symbol, sp.Symbol] = {}
        self.ranges: dict[sp.Symbol, tuple[int, int]] = {}
        self.names: dict[sp.Symbol, Name] = {}
        self.prefix = 0
        self.params = {p.name: p for p in prog.params}
        self.history: dict[str, tuple[Loop, int, dict[int, Carry]]] = {}
        self.buffer_names: dict[str, str] = {}
        self.kinds: dict[int, tuple[str, list | None]] = {}
        self.state_bases: dict[sp.Basic, tuple[str, tuple[int, ...]]] = {}
        self.sum_bases: dict[sp.Basic, tuple[str, tuple[int, ...]]] = {}
        self.exclusive: set[int] = set()
        self.lambdas: dict[int, str] = {}
        self.conditions: dict[sp.Basic, sp.Basic] = {}
        self.flags: dict[sp.Basic, str] = {}

    # -- the loops' names, before any block ------------------------------------------
    def prepass(self) -> None:
        stack: list[tuple[tuple[Statement, ...], tuple[sp.Symbol, ...]]] = [
            (self.prog.body, ())]
        while stack:
            body, outer = stack.pop()
            for s in body:
                if not isinstance(s, Loop):
                    continue
                self._bounds(s)
                parts = _sum_parts(s) if s.until is None else None
                labelled_state = any(self.namer.label(c.var) for c in s.carries)
                kind = "fixpoint" if s.until is not None else \
                    "sum" if parts is not None and not labelled_state else "recurrence"
                self.kinds[id(s)] = (kind, parts)
                avoid = {self.index_names[o] for o in outer}
                pool = {"recurrence": STEP_INDICES, "sum": SUM_INDICES,
                        "fixpoint": FIXPOINT_INDICES}[kind]
                name = self.namer.label(s.index) or self.namer.pick(pool, avoid)
                self.index_names[s.index] = name
                self.namer.shown.add(name)
                if kind == "recurrence":
                    self._state_names(s.carries, avoid | {name}, STATE_NAMES)
                elif kind == "fixpoint":
                    self._fixpoint_names(s, avoid | {name})
                else:
                    self._sum_names(s)
                stack.append((s.body, outer + (s.index,)))
        for s in self.index_names:
            self.index_display[s] = sp.Symbol(self.index_names[s], integer=True)
        self._histories()
        self._exclusive_reads()

    def _exclusive_reads(self) -> None:
        """The reads that are an element's only one: the only read of its array (one
        per iteration), at an index that differs in every iteration. The others give
        each element a part of its adjoint (shown with +=)."""
        found: dict[str, list[tuple[Read, tuple[Loop, ...]]]] = {}
        stack: list[tuple[tuple[Statement, ...], tuple[Loop, ...]]] = [(self.prog.body, ())]
        while stack:
            body, chain = stack.pop()
            for s in body:
                if isinstance(s, Read):
                    found.setdefault(s.array, []).append((s, chain))
                elif isinstance(s, Loop):
                    stack.append((s.body, chain + (s,)))
        named = {x for s in walk(self.prog.body) if isinstance(s, Assign)
                 for x in s.expr.free_symbols}
        for array, reads in found.items():
            p = self.params.get(array)
            if p is not None and named & set(p.symbols):
                continue                    # also read whole: its elements are symbols
            if len({tuple(id(c) for c in chain) for _, chain in reads}) != 1:
                continue
            chain = reads[0][1]
            affines = {r.index for r, _ in reads}
            if len({a.terms for a in affines}) != 1 or \
                    not all(self._injective(a, chain) for a in affines):
                continue
            # reads at offsets inside one stride (x[4i], x[4i+1], ...) never meet
            consts = [a.const for a in affines]
            stride = min((abs(c) for c, _ in next(iter(affines)).terms), default=0)
            if len(affines) == 1 or max(consts) - min(consts) < stride:
                self.exclusive.update(id(r) for r, _ in reads)

    def _injective(self, a: Affine, chain: tuple[Loop, ...]) -> bool:
        coeffs = dict((v, c) for c, v in a.terms)
        if any(coeffs.get(lp.index, 0) == 0 for lp in chain):
            return False
        reach = 0
        for c, v in sorted(((abs(c), v) for c, v in a.terms), key=lambda p: p[0]):
            if v not in self.ranges:
                return False
            lo, hi = self.ranges[v]
            if c <= reach:
                return False
            reach += c * (hi - lo)
        return True

    def _bounds(self, loop: Loop) -> None:
        lo, _ = self._range(loop.start)
        _, hi = self._range(loop.stop)
        self.ranges[loop.index] = (lo, max(lo, hi - 1))

    def _range(self, a: Affine) -> tuple[int, int]:
        lo = hi = a.const
        for c, v in a.terms:
            vlo, vhi = self.ranges.get(v, (0, 0))
            lo += min(c * vlo, c * vhi)
            hi += max(c * vlo, c * vhi)
        return lo, hi

    def _fixpoint_names(self, loop: Loop, avoid: set[str]) -> None:
        """A fixed point's values (``z``), its adjoint (``λ``) and its convergence flag,
        the loop's last carried value (iterate.py)."""
        states, flag = loop.carries[:-1], loop.carries[-1]
        self._state_names(states, avoid, ("z",) + STATE_NAMES)
        lam = self.namer.pick(("λ", "μ", "ν"), self.namer.shown)
        self.namer.shown.add(lam)
        self.lambdas[id(loop)] = lam
        name = self.namer.pick(("converged",), self.namer.shown)
        self.namer.shown.add(name)
        self.flags[flag.out] = name

    def _state_names(self, carries: tuple[Carry, ...], avoid: set[str],
                     pool: tuple[str, ...]) -> None:
        unlabelled = [c for c in carries if not self.namer.label(c.var)]
        base = self.namer.pick(pool, avoid | self.namer.shown) if unlabelled else ""
        if base:
            self.namer.taken.add(base)
            self.namer.shown.add(base)
        for k, c in enumerate(unlabelled):
            self.state_bases[c.var] = (base, (k,) if len(unlabelled) > 1 else ())
        for c in carries:
            text = self.namer.label(c.var)
            if text:
                b, _, rest = text.partition("[")
                elems = tuple(int(x) for x in rest.rstrip("]").split(",") if
                              x.strip().lstrip("-").isdigit()) if rest else ()
                self.state_bases[c.var] = (b, elems)
                self.namer.shown.add(b)

    def _sum_names(self, loop: Loop) -> None:
        labelled = [self.namer.label(c.out) for c in loop.carries]
        if len(loop.carries) == 1 and labelled[0]:
            self.sum_bases[loop.carries[0].out] = (labelled[0], ())
            return
        base = self.namer.pick(("s", "S"), self.namer.shown)
        self.namer.taken.add(base)
        self.namer.shown.add(base)
        for k, c in enumerate(loop.carries):
            self.sum_bases[c.out] = (base, (k,) if len(loop.carries) > 1 else ())

    def _histories(self) -> None:
        """Buffers that hold a loop's carried values, step by step (a recurrence's
        history): shown as those values."""
        writes: dict[str, list[tuple[Write, Loop | None]]] = {}
        stack: list[tuple[tuple[Statement, ...], Loop | None]] = [(self.prog.body, None)]
        while stack:
            body, loop = stack.pop()
            for s in body:
                if isinstance(s, Write):
                    writes.setdefault(s.array, []).append((s, loop))
                elif isinstance(s, Loop):
                    stack.append((s.body, s))
        for b in self.prog.buffers:
            ws = writes.get(b.name, [])
            loops = {id(lp): lp for _, lp in ws if lp is not None}
            if len(loops) != 1:
                continue
            (loop,) = loops.values()
            if self.kinds.get(id(loop), ("",))[0] != "recurrence":
                continue
            by_next = {c.next: c for c in loop.carries}
            cols: dict[int, Carry] = {}
            size = None
            ok = True
            for w, lp in ws:
                if lp is None:
                    continue
                c = by_next.get(w.value)
                coeffs = dict((v, k) for k, v in w.index.terms)
                if c is None or set(coeffs) != {loop.index}:
                    ok = False
                    break
                size = coeffs[loop.index] if size is None else size
                if coeffs[loop.index] != size or size <= 0:
                    ok = False
                    break
                cols[w.index.const] = c
            if ok and size is not None and len(cols) == size:
                self.history[b.name] = (loop, size, cols)
        k = 1
        for b in self.prog.buffers:
            if b.name not in self.history:
                name = self.namer.pick((f"b{k}",), self.namer.shown)
                self.buffer_names[b.name] = name
                self.namer.shown.add(name)
                k += 1

    # -- names of values --------------------------------------------------------------
    def symbol(self, tpl: Name) -> sp.Symbol:
        sym = sp.Symbol(tpl.render(self.index_names))
        self.names[sym] = tpl
        return sym

    def state_name(self, var: sp.Symbol, at: Affine) -> Name:
        base, elems = self.state_bases[var]
        groups: tuple[tuple[Affine, ...], ...] = ((at,),)
        if elems:
            groups += (tuple(Affine(e) for e in elems),)
        return Name(base, groups)

    def fixpoint_name(self, var: sp.Symbol, mark: str) -> Name:
        """A fixed point's solution (``z*``, ``z*[2]``; ``mark`` "*") or a name with its
        element index only."""
        base, elems = self.state_bases[var]
        return Name(base + mark, (tuple(Affine(e) for e in elems),) if elems else ())

    def sum_name(self, out: sp.Symbol, outer: list[LoopView]) -> Name:
        base, elems = self.sum_bases[out]
        groups: tuple[tuple[Affine, ...], ...] = ()
        if outer:
            groups = (tuple(Affine.of(v.loop.index) for v in outer),)
        if elems:
            groups += (tuple(Affine(e) for e in elems),)
        return Name(base, groups)

    def read_name(self, array: str, index: Affine) -> tuple[Name, str]:
        """The element read, and its kind: ``read`` (a parameter's element) or ``store``
        (a value a loop stored)."""
        if array in self.history:
            loop, size, cols = self.history[array]
            for col, c in cols.items():
                shifted = index + (-col)
                if shifted.const % size == 0 and all(k % size == 0 for k, _ in shifted.terms):
                    row = Affine(shifted.const // size,
                                 tuple((k // size, v) for k, v in shifted.terms)) + 1
                    return self.state_name(c.var, row), "store"
            # an element written before the loop (its start): the row of its init
            return Name(self.buffer_names.get(array, array), ((index,),)), "store"
        if array in self.params:
            return Name(array, (self._split(index, self.params[array].shape),)), "read"
        return Name(self.buffer_names.get(array, array), ((index,),)), "store"

    def _split(self, index: Affine, shape: tuple[int, ...]) -> tuple[Affine, ...]:
        """A flat index as one index per axis (``5t + 2`` in a [T, 5] array: t, 2)."""
        if len(shape) <= 1:
            return (index,)
        strides = [int(np.prod(shape[k + 1:])) for k in range(len(shape))]
        parts: list[Affine] = [Affine(0) for _ in shape]
        for c, v in index.terms:
            k = next((k for k, s in enumerate(strides) if c % s == 0), len(shape) - 1)
            parts[k] = parts[k] + Affine(0, ((c // strides[k], v),))
        rest = index.const
        for k, s in enumerate(strides):
            q, rest = divmod(rest, s)
            parts[k] = parts[k] + q
        for p, d in zip(parts, shape):
            lo, hi = self._range(p)
            if lo < 0 or hi >= d:
                return (index,)
        return tuple(parts)

    def body_name(self, outer: list[LoopView]) -> Name:
        base = self.namer.pick(BODY_NAMES, self.namer.shown)
        self.namer.shown.add(base)
        groups = (tuple(Affine.of(v.loop.index) for v in outer),) if outer else ()
        return Name(base, groups)

    # -- blocks -----------------------------------------------------------------------
    def loop_view(self, loop: Loop, parent: LoopView | None, outer: Block) -> LoopView:
        kind, parts = self.kinds[id(loop)]
        depth = 0 if parent is None else parent.depth + 1
        view = LoopView(loop, self.index_display[loop.index], kind,
                        _affine_expr(loop.start, self.index_display),
                        _affine_expr(loop.stop + (-1), self.index_display), depth, parent)
        i = Affine.of(loop.index)
        chain = view.chain
        if kind == "recurrence":
            for c in loop.carries:
                name = self.state_name(c.var, i)
                at_init, at_out = self.state_name(c.var, loop.start), \
                    self.state_name(c.var, loop.stop)
                nxt = self.state_name(c.var, i + 1)
                view.states.append(State(
                    c, name, self.symbol(name), self.symbol(nxt), self.symbol(at_init),
                    self.symbol(at_out), self.symbol(name.accent(BAR)),
                    self.symbol(nxt.accent(BAR)), self.symbol(at_init.accent(BAR)),
                    self.symbol(at_out.accent(BAR))))
        elif kind == "fixpoint":
            for c in loop.carries[:-1]:
                name = self.state_name(c.var, i)
                star, lam = self.fixpoint_name(c.var, "*"), self.fixpoint_name(c.var, "")
                lam = Name(self.lambdas[id(loop)], lam.groups)
                view.states.append(State(
                    c, name, self.symbol(name), self.symbol(self.state_name(c.var, i + 1)),
                    self.symbol(self.state_name(c.var, loop.start)), self.symbol(star),
                    self.symbol(lam), self.symbol(lam), self.symbol(lam),
                    self.symbol(star.accent(BAR))))
        else:
            for c, term, _ in parts or []:
                view.sums.append(SumPart(c, term, self.symbol(self.sum_name(c.out,
                                                                            chain[:-1]))))
        view.block = self.block(loop.body, view, outer)
        return view

    def block(self, body: tuple[Statement, ...], view: LoopView | None,
              outer: Block | None) -> Block:
        blk = Block(view, outer)
        chain = view.chain if view is not None else []
        skip: set[sp.Symbol] = set()
        stmts: list[Statement] = list(body)
        if view is not None and view.kind == "sum":
            _, parts = self.kinds[id(view.loop)]
            extra = []
            for (_, term, acc), part in zip(parts or [], view.sums):
                skip.add(acc.target)
                if not isinstance(term, sp.Symbol) and term.free_symbols:
                    sym = sp.Dummy("term")
                    extra.append(Assign(sym, term))
                    part.term = sym
            stmts = [s for s in stmts if not (isinstance(s, Assign) and s.target in skip)]
            pos = max((k for k, s in enumerate(stmts) if isinstance(s, Assign)), default=-1)
            stmts[pos + 1:pos + 1] = extra
        stmts = self._conditions_inline(stmts)
        assigns = [s for s in stmts if isinstance(s, Assign)]
        defined = {s.target for s in assigns}
        loops = [s for s in stmts if isinstance(s, Loop)]
        writes = [s for s in stmts if isinstance(s, Write)]
        # the values that must stay whole: results, and what loops and stores read
        keep: set[sp.Symbol] = set()
        if view is None:
            (out,) = self.prog.output("value").exprs
            if isinstance(out, sp.Symbol) and out in defined:
                keep.add(out)
        elif view.kind in ("recurrence", "fixpoint"):
            keep |= {st.carry.next for st in view.states if st.carry.next in defined}
        else:
            keep |= {p.term for p in view.sums if p.term in defined}
        for lp in loops:
            keep |= uses(lp) & defined
        for w in writes:
            keep |= w.value.free_symbols & defined
        assigns = _needed(assigns, keep)
        merged, group, kept = self._group(assigns, keep, view)
        # inputs (leaves), in order: parameters, the loop's own, reads, outer values
        leaves = self._leaves(blk, stmts, defined, view, outer, chain)
        if view is None:
            names = _names(self.prog, kept, self.prog.output("value").exprs[0],
                           self.reserved | frozenset(self.namer.shown))
            for k in kept:
                blk.display[k] = sp.Symbol(names[k])
                self.namer.shown.add(names[k])
        else:
            for k in kept:
                blk.display[k] = self.symbol(self._kept_name(k, view, chain))
        self.prefix += 1
        # a sum's term is shown inside the sum's own line: where a rule uses its value,
        # the value is written out (s would read as the whole sum)
        terms = frozenset(p.term for p in view.sums) if view is not None else frozenset()
        make_nodes(kept, merged, group, blk.display, blk.nodes, leaves, f"_q{self.prefix}_",
                   terms)
        for k in kept:
            blk.program[blk.display[k]] = k
        # forward order of the items
        pos = {s.target: n for n, s in enumerate(stmts) if isinstance(s, Assign)}
        items: list[tuple[int, Node | LoopView]] = [
            (pos[k], blk.nodes[blk.display[k]]) for k in kept]
        for n, s in enumerate(stmts):
            if isinstance(s, Loop):
                items.append((n, self.loop_view(s, view, blk)))
        blk.items = [i for _, i in sorted(items, key=lambda p: p[0])]
        self._seeds(blk, view, writes)
        _drop_index_partials(blk)
        return blk

    def _conditions_inline(self, stmts: list[Statement]) -> list[Statement]:
        """A condition computed on its own line (a fixed point's convergence test) is
        written into the ``where`` that reads it, as the other conditions are: a
        condition is not a value with a derivative."""
        out: list[Statement] = []
        for s in stmts:
            if isinstance(s, Assign):
                expr = s.expr.xreplace(self.conditions) if \
                    s.expr.free_symbols & set(self.conditions) else s.expr
                if not isinstance(expr, sp.Expr):
                    self.conditions[s.target] = expr
                    continue
                s = Assign(s.target, expr) if expr is not s.expr else s
            out.append(s)
        return out

    def _group(self, assigns: list[Assign], keep: set[sp.Symbol], view: LoopView | None
               ) -> tuple[dict[sp.Symbol, sp.Expr], dict[sp.Symbol, list[Assign]],
                          list[sp.Symbol]]:
        """The block's intermediates: a loop body's step written out whole while short,
        else (and at the top level) grouped as ``derivation.group_statements`` does."""
        labelled = set(self.namer.labels)
        if view is not None:
            whole = _inline(assigns, keep)
            if whole is not None:
                return whole
        return group_statements(assigns, keep, labelled)

    def _kept_name(self, k: sp.Symbol, view: LoopView, chain: list[LoopView]) -> Name:
        if view.kind in ("recurrence", "fixpoint"):
            for st in view.states:
                if st.carry.next == k:
                    return self.names[st.next]
        if view.kind == "sum":
            for p in view.sums:
                if p.term == k:
                    return self.names[p.out]
        label = self.namer.label(k)
        if label and label not in self.namer.shown:
            self.namer.shown.add(label)
            return Name(label, (tuple(Affine.of(v.loop.index) for v in chain),))
        return self.body_name(chain)

    def _leaves(self, blk: Block, stmts: list[Statement], defined: set, view: LoopView | None,
                outer: Block | None, chain: list[LoopView]) -> list[sp.Symbol]:
        used: list[sp.Basic] = []
        seen: set[sp.Basic] = set()

        def add(xs) -> None:
            for x in sorted(xs, key=sp.default_sort_key):
                if x not in seen and x not in defined and x not in self.conditions:
                    seen.add(x)
                    used.append(x)
        for s in stmts:
            if isinstance(s, Assign):
                add(s.expr.free_symbols)
            elif isinstance(s, Write):
                add(s.value.free_symbols)
            elif isinstance(s, Loop):
                add(uses(s))
        if view is not None and view.kind in ("recurrence", "fixpoint"):
            add({st.carry.next for st in view.states if isinstance(st.carry.next, sp.Symbol)})
        if view is not None and view.kind == "sum":
            add({p.term for p in view.sums if isinstance(p.term, sp.Symbol)})
        if view is None:
            out = self.prog.output("value").exprs[0]
            add(out.free_symbols if isinstance(out, sp.Basic) else ())
        reads = {s.target: s for s in stmts if isinstance(s, Read)}
        outs: dict[sp.Symbol, tuple[Loop, Carry]] = {}
        for s in stmts:
            if isinstance(s, Loop):
                for c in s.carries:
                    outs[c.out] = (s, c)
        params = [s for p in self.prog.params for s in p.symbols]
        pset = set(params)
        own = {}
        if view is not None:
            own[view.loop.index] = view.index
            for st in view.states:
                own[st.carry.var] = st.var
        order: list[sp.Symbol] = []
        for x in sorted(used, key=lambda s: (0, params.index(s)) if s in pset else (1, 0)):
            if x in pset:
                sym, kind = x, "param" if view is None else "outer"
            elif x in own:
                sym, kind = own[x], "index" if x == view.loop.index else "var"
            elif x in reads:
                tpl, kind = self.read_name(reads[x].array, reads[x].index)
                sym = self.symbol(tpl)
                if id(reads[x]) not in self.exclusive:
                    blk.shared.add(sym)
            elif x in outs:
                lp, c = outs[x]
                sym, kind = self._out_symbol(lp, c, chain), "out"
            elif x in self.index_display:
                sym, kind = self.index_display[x], "index"
            else:
                sym, kind = self._outer_symbol(x, outer), "outer"
            blk.display[x] = sym
            blk.kinds[sym] = kind
            blk.aliases.setdefault(sym, []).append(x)
            if sym in blk.nodes:
                continue        # an element read twice: one value shown
            blk.program[sym] = x
            blk.nodes[sym] = Node(sym, None, x)
            order.append(sym)
        return order

    def _out_symbol(self, loop: Loop, c: Carry, chain: list[LoopView]) -> sp.Symbol:
        kind, _ = self.kinds[id(loop)]
        if c.out in self.flags:
            return self.symbol(Name(self.flags[c.out]))
        if kind == "fixpoint":
            return self.symbol(self.fixpoint_name(c.var, "*"))
        if kind == "recurrence":
            return self.symbol(self.state_name(c.var, loop.stop))
        return self.symbol(self.sum_name(c.out, chain))

    @staticmethod
    def _outer_symbol(x: sp.Basic, outer: Block | None) -> sp.Symbol:
        b = outer
        while b is not None:
            if x in b.display:
                return b.display[x]
            b = b.parent
        assert isinstance(x, sp.Symbol), f"{x} is read before it is defined"
        return x

    def _seeds(self, blk: Block, view: LoopView | None, writes: list[Write]) -> None:
        if view is not None and view.kind == "fixpoint":
            # λ = z̄* + (∂Φ/∂z)ᵀλ: the value's own adjoint starts it
            for st in view.states:
                if st.var in blk.nodes:
                    blk.seeds[st.var] = (st.bar_out, "seed")
        if view is not None and view.kind in ("recurrence", "fixpoint"):
            for st in view.states:
                if isinstance(st.carry.next, sp.Symbol) and st.carry.next in blk.display:
                    target = blk.display[st.carry.next]
                    blk.seeds.setdefault(target, (sp.Integer(0), "seed"))
                    prev = blk.seeds[target][0]
                    blk.seeds[target] = (prev + st.bar_next, "seed")
        for w in writes:
            if isinstance(w.value, sp.Symbol) and w.value in blk.display:
                tpl, _ = self.read_name(w.array, w.index)
                hat = self.symbol(tpl.accent(HAT))
                blk.stores.setdefault(blk.display[w.value], []).append(hat)


def _needed(assigns: list[Assign], keep: set[sp.Symbol]) -> list[Assign]:
    """The statements the kept values need (a fixed point's convergence test, which
    only decides when its loop ends, is not shown)."""
    live = set(keep)
    out = []
    for s in reversed(assigns):
        if s.target in live:
            out.append(s)
            live |= s.expr.free_symbols
    return out[::-1]


def _inline(assigns: list[Assign], keep: set[sp.Symbol]
            ) -> tuple[dict[sp.Symbol, sp.Expr], dict[sp.Symbol, list[Assign]],
                       list[sp.Symbol]] | None:
    """The step written out whole: every statement that is not kept substituted into
    the kept ones; None when a kept formula would exceed FORM_OPS operations."""
    order = {s.target: i for i, s in enumerate(assigns)}
    merged: dict[sp.Symbol, sp.Expr] = {}
    ops: dict[sp.Symbol, int] = {}
    group: dict[sp.Symbol, list[Assign]] = {}
    for s in assigns:
        inner = [a for a in s.expr.free_symbols if a in order and a not in keep]
        n = _ops(s.expr) + sum(ops[a] for a in inner)
        if n > FORM_OPS and (s.target in keep or n > 4 * FORM_OPS):
            return None
        ops[s.target] = n
        e = _swap(s.expr, {a: merged[a] for a in inner}) if inner else s.expr
        if e is None:
            return None
        merged[s.target] = e
        members = {m.target: m for a in inner for m in group[a]}
        group[s.target] = sorted(members.values(), key=lambda m: order[m.target]) + [s]
    kept = sorted(keep & set(order), key=order.__getitem__)
    return merged, group, kept


def _drop_index_partials(blk: Block) -> None:
    """A loop index is a number in the formulas, never differentiated."""
    for sym, kind in blk.kinds.items():
        if kind == "index":
            blk.nodes[sym].consumers.clear()
            for n in blk.nodes.values():
                if sym in n.partials:
                    n.inputs.remove(sym)
                    for d in (n.partials, n.raw, n.numeric, n.partial_values):
                        d.pop(sym, None)


