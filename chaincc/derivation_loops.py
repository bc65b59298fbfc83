"""The chain rule of a Program with loops, read off in loop form.

A loop is derived once, whatever its trip count, as a textbook writes backpropagation
through time: its body is one step with an index, ``h[t+1] = tanh(w·h[t] + u·x[t])``;
the step's local partial derivatives are taken once (``∂h[t+1]/∂h[t]``); the adjoint of
a carried value is a recurrence run backwards, ``h̄[t] = h̄[t+1]·∂h[t+1]/∂h[t]`` from
``h̄[T] = ∂f/∂h[T]``; a value the body reads from outside it (a shared weight) gets the
sum over the steps, ``∂f/∂w = Σ_t h̄[t+1]·∂h[t+1]/∂w``; an array element the step reads
(``x[t]``) gets that step's part. A loop that only adds a term per iteration is a sum,
``s = Σ_i term``: every term has the sum's adjoint. ``h̄[k]`` is the adjoint a carried
value gets back from the later steps (for the last, from the function after the loop),
as the compiled reverse loop carries it; ``ĥ[k]`` is the part of ∂f/∂h[k] that comes
back through a later loop's reads of the stored h[k].

The blocks, and the names shown, are ``loop_blocks.py``'s; the values at a point are
``loop_values.py``'s run of the program.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from . import loop_values
from .derivation import FORM_OPS, INLINE_OPS, Node, Point, _ops, _swap, check_point
from .diagnostics import ChainccError
from .evaluate import evaluate
from .ir import Program
from .loop_blocks import HAT, Block, Blocks, LoopView, Name


@dataclass
class Term:
    """One contribution to an adjoint: through an intermediate (``node``), a seed (the
    adjoint a step's result gets from later steps), a loop's start value (``init``), a
    loop's sum over its steps (``sum``) or a stored value read later (``store``)."""

    kind: str
    use: sp.Expr                      # the consumer's adjoint as written, or the seed
    local: sp.Expr = sp.Integer(1)    # ∂consumer/∂value (node)
    consumer: sp.Symbol | None = None
    loop: LoopView | None = None
    inner: Row | None = None          # sum: the summand's row in the loop's body
    value: float | None = None        # at the point (a loop's total for a sum)


@dataclass
class Row:
    """The adjoint of one displayed value, as the sum of its terms."""

    sym: sp.Symbol                    # the value (display symbol)
    lhs: sp.Symbol | None             # a bar or hat symbol standing for it, or None: ∂f/∂sym
    terms: list[Term]
    formula: sp.Expr
    block: Block | None = None
    value: float | None = None
    ends: list[tuple[dict, float | None]] = field(default_factory=list)  # per iteration


@dataclass
class LoopDerivation:
    """What ``explain`` and ``graph`` show for a program with loops."""

    name: str
    out: sp.Symbol
    params: list[sp.Symbol]
    signature: list[str]
    top: Block
    at: dict[str, Point] | None
    prog: Program
    refs: dict[sp.Symbol, sp.Symbol] = field(default_factory=dict)
    names: dict[sp.Symbol, Name] = field(default_factory=dict)      # display -> template
    index_names: dict[sp.Symbol, str] = field(default_factory=dict)
    run: loop_values.Run | None = None
    skipped: int | None = None       # statements beyond which values were not computed
    forms: dict[sp.Symbol, sp.Expr] = field(default_factory=dict)  # top level, in inputs

    @property
    def closed(self) -> sp.Expr | None:
        """The result written out in the top level's inputs, while short."""
        return self.forms.get(self.out)

    @property
    def nodes(self) -> dict[sp.Symbol, Node]:
        out: dict[sp.Symbol, Node] = {}
        for b in self.blocks():
            out.update(b.nodes)
        return out

    def blocks(self) -> list[Block]:
        out, todo = [], [self.top]
        while todo:
            b = todo.pop(0)
            out.append(b)
            todo.extend(i.block for i in b.items if isinstance(i, LoopView) and i.block)
        return out

    def loops(self) -> list[LoopView]:
        return [b.loop for b in self.blocks() if b.loop is not None]

    def hat(self, sym: sp.Symbol) -> sp.Symbol:
        """ĥ[k] for a stored value h[k]: the part of ∂f/∂h[k] through its reads."""
        tpl = self.names.get(sym, Name(sym.name))
        hat = sp.Symbol(tpl.accent(HAT).render(self.index_names))
        self.names[hat] = tpl.accent(HAT)
        return hat

    def ref(self, node: sp.Symbol) -> sp.Symbol:
        """A symbol standing for ∂out/∂node (printers render it as the partial)."""
        sym = sp.Symbol(f"∂{self.out.name}/∂{node.name}")
        self.refs[sym] = node
        return sym

    def concrete(self, sym: sp.Symbol, at: dict[str, int]) -> sp.Symbol:
        """``sym`` with loop indices replaced by values: h[t+1] at t = 0 is h[1]."""
        tpl = self.names.get(sym)
        return sym if tpl is None else sp.Symbol(tpl.render(self.index_names, at))


# ------------------------------------------------------------------ the backward pass

class _Backward:
    """Each displayed value's adjoint as the sum over its uses, from the result back:
    a block's intermediates in reverse, a loop's results before its body, a block's
    inputs last. A use's adjoint is written out inside a later formula while it is
    short, and referred to as ∂f/∂c once it is not."""

    def __init__(self, ld: LoopDerivation) -> None:
        self.ld = ld

    def block(self, blk: Block, forms: dict[sp.Symbol, sp.Expr]) -> None:
        for item in reversed(blk.items):
            if isinstance(item, Node):
                self.row(blk, item.sym, forms, None)
                continue
            view = item
            for sym in self._outs(view):
                st = view.state_of_out(blk.program[sym]) if view.kind != "sum" else None
                self.row(blk, sym, forms, st.bar_out if st is not None else None)
            assert view.block is not None
            if view.kind == "sum":
                for part in view.sums:
                    target = view.block.display.get(part.term)
                    if target is not None:
                        view.block.seeds[target] = (self.use(forms, part.out), "seed")
            self.block(view.block, dict(forms))
        for sym in blk.leaves():
            kind = blk.kinds[sym]
            if kind in ("index", "out"):
                continue
            lhs = None
            if kind == "var":
                lhs = next(st.bar_var for st in blk.loop.states if st.var == sym)
            elif kind == "store":
                lhs = self.ld.hat(sym)
            self.row(blk, sym, forms, lhs)

    @staticmethod
    def _outs(view: LoopView) -> list[sp.Symbol]:
        parent = view.block.parent if view.block is not None else None
        assert parent is not None
        # (a fixed point's last carried value is its convergence flag: no derivative)
        carries = view.loop.carries[:-1] if view.kind == "fixpoint" else view.loop.carries
        return [parent.display[c.out] for c in carries if c.out in parent.display]

    def use(self, forms: dict[sp.Symbol, sp.Expr], c: sp.Symbol) -> sp.Expr:
        f = forms.get(c, sp.Integer(0))
        return f if _ops(f) <= INLINE_OPS and not f.has(sp.Sum) else self.ld.ref(c)

    def row(self, blk: Block, sym: sp.Symbol, forms: dict, lhs: sp.Symbol | None) -> Row:
        terms: list[Term] = []
        seed = blk.seeds.get(sym)
        if seed is not None:
            terms.append(Term("seed", seed[0]))
        node = blk.nodes[sym]
        for c in node.consumers:
            terms.append(Term("node", self.use(forms, c), blk.nodes[c].partials[sym], c))
        for hat in blk.stores.get(sym, []):
            terms.append(Term("store", hat))
        x = blk.program.get(sym)
        for item in blk.items:
            if isinstance(item, LoopView):
                terms += self._loop_terms(item, x, sym, forms)
        formula = sp.Add(*(t.use * t.local for t in terms))
        forms[sym] = formula
        r = Row(sym, lhs, terms, formula, blk)
        blk.rows[sym] = r
        return r

    def _loop_terms(self, view: LoopView, x: sp.Basic, sym: sp.Symbol, forms: dict
                    ) -> list[Term]:
        out: list[Term] = []
        for st in view.states:
            if st.carry.init == x and view.kind == "recurrence":
                out.append(Term("init", st.bar_init, loop=view))
        parent = view.block.parent if view.block is not None else None
        for part in view.sums:
            if part.carry.init == x and parent is not None:
                out.append(Term("init", self.use(forms, parent.display[part.carry.out]),
                                loop=view))
        body = view.block
        if body is not None and x in body.display and body.display[x] in body.rows:
            inner = body.rows[body.display[x]]
            if inner.terms:
                # a fixed point's shared values: once, at the solution; a loop's: Σ
                total = inner.formula if view.kind == "fixpoint" else \
                    sp.Sum(inner.formula, (view.index, view.lo, view.hi))
                out.append(Term("sum", total, loop=view, inner=inner))
        return out


# ------------------------------------------------------------------ values at the point

def _values(ld: LoopDerivation, run: loop_values.Run) -> None:
    """Every row's value at the point: the top level's, and a top-level loop's at its
    first and last iterations."""
    top = run.values
    for blk in ld.blocks():
        view = blk.loop
        if view is None:
            envs = [({}, dict(top), run.adjoints, None)]
        elif view.depth == 0 and view.record is not None and view.kind == "fixpoint":
            back = view.record.back.get(loop_values.SOLUTION)
            env = dict(top)
            env.update(view.record.solution)
            envs = [({}, env, back.adjoints if back else {}, back)]
        elif view.depth == 0 and view.record is not None:
            envs = []
            for it in _ends(view.record.iterations):
                env = dict(top)
                env.update(it.values)
                back = view.record.back.get(it.index)
                envs.append(({ld.index_names[view.loop.index]: it.index}, env,
                             back.adjoints if back else {}, back))
        else:
            continue
        for at, env, adjoints, back in envs:
            for n in blk.nodes.values():
                _node_values(n, env, view is None)
            if view is None:
                for sym, r in blk.rows.items():
                    r.value = _adjoint_value(blk, sym, adjoints)
                    for t in r.terms:
                        t.value = _term_value(blk, t, sym, adjoints)
                continue
            for sym, r in blk.rows.items():
                v = _body_value(blk, sym, adjoints, back)
                r.ends.append((at, v))


def _ends(iterations: list) -> list:
    if not iterations:
        return []
    return [iterations[0]] if len(iterations) == 1 else [iterations[0], iterations[-1]]


def _node_values(n: Node, env: dict, top: bool) -> None:
    """A node's value and its partials' values (the kernels' formulas) in ``env``; in a
    loop body, appended per iteration to ``n.ends``."""
    if n.target is None:
        return
    if n.is_input:
        v = env.get(n.target)
    else:
        v = env[n.target] if n.target in env else evaluate(n.expr, env)
    local = dict(env)
    for a in n.work:
        local[a.target] = evaluate(a.expr, local)
    parts = {sym: evaluate(n.numeric.get(sym, c), local) for sym, c in n.raw.items()}
    if top:
        n.value = v
        n.partial_values = parts
    else:
        n.ends.append((v, parts))


def _adjoint_value(blk: Block, sym: sp.Symbol, adjoints: dict) -> float | None:
    x = blk.program.get(sym)
    if x is None:
        return None
    return sum(adjoints.get(a, 0.0) for a in blk.aliases.get(sym, [x]))


def _term_value(blk: Block, t: Term, sym: sp.Symbol, adjoints: dict) -> float | None:
    """A term's value: the consumer's adjoint times the local partial, a loop's total
    over its steps, or a loop's start's adjoint."""
    if t.kind == "node":
        c = blk.nodes[t.consumer]
        a = adjoints.get(c.target, 0.0) if c.target is not None else None
        pv = c.partial_values.get(sym)
        return None if a is None or pv is None else a * pv
    if t.kind == "seed":
        return 1.0 if t.use == 1 else None
    view = t.loop
    if view is None or view.record is None:
        return None
    x = blk.program.get(sym)
    if t.kind == "sum":
        return view.record.outward.get(x, 0.0)
    if t.kind == "init":
        first = view.record.iterations[0].index if view.record.iterations else None
        back = view.record.back.get(first) if first is not None else None
        for k, c in enumerate(view.loop.carries):
            if c.init == x:
                if back is None:
                    seed = view.record.seeds[k]
                    return 0.0 if seed is None else seed
                b = back.bars_out[k]
                return 0.0 if b is None else b
    return None


def _body_value(blk: Block, sym: sp.Symbol, adjoints: dict,
                back: loop_values.Back | None) -> float | None:
    """A body row's value in one iteration: a carried value's adjoint going back, what
    the iteration gives a value outside the loop, or a value's adjoint."""
    if back is None:
        return None
    kind = blk.kinds.get(sym)
    x = blk.program.get(sym)
    if len(blk.aliases.get(sym, ())) > 1:
        return sum(adjoints.get(a, 0.0) for a in blk.aliases[sym])
    if kind == "var":
        view = blk.loop
        k = next(k for k, c in enumerate(view.loop.carries) if c.var == x)
        b = back.bars_out[k]
        return 0.0 if b is None else b
    if kind == "outer":
        return back.outward.get(x, 0.0)
    return adjoints.get(x, 0.0)


# ------------------------------------------------------------------ entry point

def derive_loops(prog: Program, at: dict | None = None,
                 reserved: frozenset[str] = frozenset()) -> LoopDerivation:
    """The loop-form derivation of a forward Program with loops and a scalar value, with
    (given ``at``) its values at that point."""
    value = prog.output("value")
    if value.shape:
        raise ChainccError(f"{prog.name} is vector-valued (its value has shape "
                           f"{value.shape}); the graph is drawn for scalar functions "
                           "(explain shows the chain rule of each output)")
    point = check_point(prog, at) if at is not None else None
    b = Blocks(prog, reserved)
    b.prepass()
    top = b.block(prog.body, None, None)
    (out,) = prog.output("value").exprs
    out_sym = top.display.get(out) if isinstance(out, sp.Symbol) else None
    if out_sym is None or top.kinds.get(out_sym) is not None:
        # the result is an input, a loop's result or a constant: one line, f = h[T]
        name = prog.name if prog.name not in {p.name for p in prog.params} \
            else prog.name + "2"
        sym = sp.Symbol(name)
        node = Node(sym, out if out_sym is None else out_sym, out)
        if out_sym is not None:
            node.inputs, node.partials = [out_sym], {out_sym: sp.Integer(1)}
            node.raw = {out_sym: sp.Integer(1)}
            node.numeric = {out_sym: sp.Integer(1)}
            top.nodes[out_sym].consumers.append(sym)
        top.nodes[sym] = node
        top.items.append(node)
        top.program[sym] = sp.Dummy("result")
        out_sym = sym
    params = [s for p in prog.params for s in p.symbols]
    ld = LoopDerivation(prog.name, out_sym, params, [p.name for p in prog.params], top,
                        point, prog, names=b.names, index_names=b.index_names)
    top.seeds[out_sym] = (sp.Integer(1), "result")
    forms: dict[sp.Symbol, sp.Expr] = {}
    _Backward(ld).block(top, forms)
    ld.forms = _top_forms(ld)
    if point is not None:
        try:
            run = loop_values.run(prog, point)
        except loop_values.TooLong:
            ld.skipped = loop_values.MAX_STATEMENTS
        else:
            ld.run = run
            for view in ld.loops():
                if view.depth == 0:
                    view.record = run.loops.get(id(view.loop))
            _values(ld, _with_result(run, top, out_sym))
    return ld


def _with_result(run: loop_values.Run, top: Block, out_sym: sp.Symbol) -> loop_values.Run:
    """The run, with the displayed result's program value set when it is a line of its
    own (f = h[T])."""
    target = top.program.get(out_sym)
    if isinstance(target, sp.Dummy):
        run.values[target] = run.value
        run.adjoints[target] = 1.0
    return run


def _top_forms(ld: LoopDerivation) -> dict[sp.Symbol, sp.Expr]:
    """The top level's intermediates written out in its inputs (sums written as Σ),
    while short."""
    forms: dict[sp.Symbol, sp.Expr] = {}
    top = ld.top
    for item in top.items:
        if isinstance(item, LoopView):
            if item.kind == "sum" and item.block is not None:
                for part in item.sums:
                    term = item.block.nodes.get(part.out)
                    body = term.expr if term is not None and not term.is_input else \
                        item.block.display.get(part.term, part.term)
                    out = top.display.get(part.carry.out)
                    if out is not None:
                        init = top.display.get(part.carry.init, part.carry.init)
                        forms[out] = init + sp.Sum(body, (item.index, item.lo, item.hi))
            continue
        if all(i in forms or top.nodes[i].is_input for i in item.inputs):
            e = _swap(item.expr, forms)
            if e is not None and _ops(e) <= FORM_OPS:
                forms[item.sym] = e
    return forms

