"""The chain rule worked by hand, read off a forward Program.

A forward Program has one statement per single operation, which is finer than anyone
derives on paper (``x²``, ``xy``, ``x² + xy``, ``y³`` and the product are five steps).
The derivation groups them into named intermediates, as a textbook does, by one rule:

    a statement used exactly once, not named by the user and not the result, is merged
    into the statement that uses it when the pair reads as one step:
    - a sum absorbs sums, products, scalings and powers (``u = x² + xy``, ``u² + 100v²``);
    - a scaling ``k·t`` absorbs products and powers (``100v²``), and a negation also sums;
    - a product absorbs products and scalings (``xyz``), but not sums or powers, so the
      factors of ``f = u·v`` keep their names and the product rule stays visible;
    - a function or a power absorbs a product of inputs only (``σ(βx)``, ``tanh(u·x1)``),
      so ``h = tanh(a)`` with ``a = w·h1 + u·x2`` keeps the chain rule visible;
    and a merged line stays at most ``MERGE_OPS`` operations long.

Every other statement is an intermediate: named with the user's binding name where the
source has one, the function's name for the result, and otherwise ``u, v, w, p, ...``
(``a1, a2, ...`` when there are many), never a name the source uses. Local partial
derivatives come from the compiler's own reverse sweep (``adjoint.sweep`` with adjoint
1), composed through the merged statements, with the step's own value written out where a
rule uses it and it is short (``∂f/∂g = 1/(2√g)``). Adjoints are the sum over each
intermediate's consumers, as the reverse sweep computes them: values that only decide a
condition send nothing back, nor does a zero adjoint. Formulas are written out in the
inputs, and tidied with factor/cancel, only while they stay short.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from .adjoint import sweep
from .arith import cancels
from .diagnostics import ChainccError
from .evaluate import evaluate
from .functions import Where
from .ir import Assign, Param, Program, expr_text
from .mathprint import tidy
from .optimize import Builder

MERGE_OPS = 8          # longest merged line (SymPy count_ops)
FORM_OPS = 40          # longest formula written out in the inputs (before tidying)
INLINE_OPS = 12        # longest adjoint written into a later line (else named)
OWN_CHARS = 16         # a local partial writes the step's own value out up to this
_POOL = "u v w p q r s a b c d k m n".split()
Point = float | np.ndarray


@dataclass
class Node:
    """One line of the forward decomposition: ``sym = expr``."""

    sym: sp.Symbol                    # display symbol (a parameter's own symbol for inputs)
    expr: sp.Expr | None              # definition over inputs and earlier intermediates
    target: sp.Expr | None = None     # the program value this node stands for
    inputs: list[sp.Symbol] = field(default_factory=list)
    partials: dict[sp.Symbol, sp.Expr] = field(default_factory=dict)      # display form
    partial_values: dict[sp.Symbol, float] = field(default_factory=dict)
    unpicked: set[sp.Symbol] = field(default_factory=set)
    # the partials as the kernels compute them: over the statements in ``work``
    numeric: dict[sp.Symbol, sp.Expr] = field(default_factory=dict)
    work: tuple = ()
    raw: dict[sp.Symbol, sp.Expr] = field(default_factory=dict)   # in program symbols
    consumers: list[sp.Symbol] = field(default_factory=list)
    value: float | None = None
    adjoint: float | None = None
    # in a loop's body: (value, partials' values) at the iterations shown
    ends: list[tuple[float | None, dict]] = field(default_factory=list)

    @property
    def is_input(self) -> bool:
        return self.expr is None


@dataclass
class Adjoint:
    """∂out/∂node as the sum over the node's consumers c of ∂out/∂c · ∂c/∂node."""

    sym: sp.Symbol
    terms: list[tuple[sp.Symbol, sp.Expr, sp.Expr]]  # (c, ∂out/∂c as written, ∂c/∂node)
    formula: sp.Expr                                  # the sum, over intermediates
    direct: bool = False    # only the result uses the node: its adjoint is a local partial


@dataclass
class Derivation:
    name: str                          # the function (and result) name
    out: sp.Symbol                     # display symbol of the result
    params: list[sp.Symbol]
    nodes: dict[sp.Symbol, Node]       # inputs first, then intermediates in forward order
    statements: int                    # single operations in the forward program
    at: dict[str, Point] | None
    signature: list[str] = field(default_factory=list)   # parameter names, as declared
    used: set[sp.Symbol] = field(default_factory=set)    # inputs the function reads at all
    refs: dict[sp.Symbol, sp.Symbol] = field(default_factory=dict)
    _adjoints: dict | None = field(default=None, repr=False)
    _forms: dict | None = field(default=None, repr=False)

    @property
    def steps(self) -> list[Node]:
        return [n for n in self.nodes.values() if not n.is_input]

    @property
    def input_forms(self) -> dict[sp.Symbol, sp.Expr]:
        """Each intermediate written out in the inputs alone, while that stays short."""
        if self._forms is None:
            forms: dict[sp.Symbol, sp.Expr] = {}
            for n in self.steps:
                if all(i in forms or self.nodes[i].is_input for i in n.inputs):
                    e = _swap(n.expr, forms)
                    if e is not None and _ops(e) <= FORM_OPS:
                        forms[n.sym] = e
            self._forms = forms
        return self._forms

    def formula_in_inputs(self, expr: sp.Expr) -> sp.Expr | None:
        """``expr`` in the inputs alone, or None when some intermediate is too long."""
        forms = self.input_forms
        for s in expr.free_symbols:
            if s not in forms and not (s in self.nodes and self.nodes[s].is_input):
                return None
        return _swap(expr, forms)

    def adjoints(self) -> dict[sp.Symbol, Adjoint]:
        """Every intermediate's and input's adjoint, from the result back to the inputs.

        A consumer's adjoint is written out inside a later line while it is short, and
        referred to by name (a symbol in ``refs``) once it is not.
        """
        if self._adjoints is not None:
            return self._adjoints
        forms: dict[sp.Symbol, sp.Expr] = {self.out: sp.Integer(1)}
        out: dict[sp.Symbol, Adjoint] = {}
        order = [n for n in reversed(self.steps) if n.sym != self.out]
        order += [self.nodes[p] for p in self.params]
        for n in order:
            terms = []
            for c in n.consumers:
                use = forms[c] if _ops(forms[c]) <= INLINE_OPS else self.ref(c)
                terms.append((c, use, self.nodes[c].partials[n.sym]))
            formula = sp.Add(*(u * local for _, u, local in terms))
            forms[n.sym] = formula
            out[n.sym] = Adjoint(n.sym, terms, formula, n.consumers == [self.out])
        self._adjoints = out
        return out

    def ref(self, node: sp.Symbol) -> sp.Symbol:
        """A symbol standing for ∂out/∂node (printers render it as the partial)."""
        sym = sp.Symbol(f"∂{self.out.name}/∂{node.name}")
        self.refs[sym] = node
        return sym

    def substituted(self, node: sp.Symbol) -> sp.Expr | None:
        """∂out/∂node in the inputs alone, before any tidying (None when too long)."""
        e = self.formula_in_inputs(self.adjoints()[node].formula)
        return e if e is not None and _ops(e) <= FORM_OPS else None

    def closed_form(self, node: sp.Symbol) -> sp.Expr | None:
        """∂out/∂node in the inputs, tidied for reading, or None when it is too long."""
        e = self.substituted(node)
        return None if e is None else tidy(e)


def _swap(e: sp.Expr, mapping: dict) -> sp.Expr | None:
    """``e.xreplace(mapping)``, or None where SymPy refuses the result (a comparison of
    something it can prove complex, inside a where condition)."""
    try:
        return e.xreplace(mapping)
    except (TypeError, ValueError):
        return None


def _ops(e: sp.Expr) -> int:
    return int(sp.count_ops(e))


def _kind(e: sp.Expr) -> str:
    if isinstance(e, sp.Add):
        return "sum"
    if isinstance(e, sp.Mul):
        nums = [a for a in e.args if a.is_Number]
        if len(e.args) == 2 and nums:
            return "negation" if nums[0] == -1 else "scaling"
        return "product"
    if isinstance(e, sp.Pow):
        return "power"
    return "call"


_ABSORBS = {
    "sum": {"sum", "product", "scaling", "negation", "power"},
    "negation": {"sum", "product", "scaling", "negation", "power"},
    "scaling": {"product", "scaling", "negation", "power"},
    "product": {"product", "scaling", "negation"},
}


def _absorbs(consumer: sp.Expr, child: sp.Expr, merged_child: sp.Expr,
             params: set[sp.Symbol]) -> bool:
    ck, k = _kind(consumer), _kind(child)
    if ck in _ABSORBS:
        return k in _ABSORBS[ck]
    # a function or a power takes a product of inputs as its argument, nothing else
    return k in ("product", "scaling", "negation", "power") and \
        merged_child.free_symbols <= params


def _names(prog: Program, kept: list[sp.Symbol], out: sp.Expr,
           reserved: frozenset[str]) -> dict[sp.Symbol, str]:
    taken = {p.name for p in prog.params}

    def unique(name: str) -> str:
        base, k = name, 2
        while name in taken:
            name, k = f"{base}{k}", k + 1
        taken.add(name)
        return name

    names = {}
    if isinstance(out, sp.Symbol) and out in kept:
        names[out] = unique(prog.name)
    labels = dict(prog.labels)
    for t in kept:
        if t not in names and t in labels:
            names[t] = unique(labels[t])
    # generated names also avoid every name the source defines (array bindings have no
    # labels, so their names come only from there)
    taken |= set(labels.values()) | reserved
    rest = [t for t in kept if t not in names]
    # ... and letters that would read as one of them (w next to w1, x next to x[0])
    near = {t[0] for t in taken if len(t) > 1 and t[1] in "0123456789[_"}
    pool = [n for n in _POOL if n not in taken and n not in near]
    if len(rest) > len(pool):
        # numbered names, with a letter no input or binding name starts with
        letter = next((c for c in "avpqrsbcdkmn" if not any(n[0] == c for n in taken)),
                      "t")
        pool = [f"{letter}{i}" for i in range(1, 2 * len(rest) + len(taken) + 1)]
    for t, name in zip(rest, pool):
        names[t] = unique(name)
    return names


def check_point(prog: Program, at: dict) -> dict[str, Point]:
    """``at`` as {parameter: float or array of the parameter's shape}, or a ChainccError."""
    unknown = [k for k in at if k not in {p.name for p in prog.params}]
    if unknown:
        raise ChainccError(f"'{unknown[0]}' is not a parameter of {prog.name}; the "
                           f"parameters are {', '.join(p.name for p in prog.params)}")
    missing = [p.name for p in prog.params if p.name not in at]
    if missing:
        raise ChainccError(f"no value given for {', '.join(missing)} "
                           f"(write {', '.join(m + '=...' for m in missing)})")
    out: dict[str, Point] = {}
    for p in prog.params:
        try:
            v = np.asarray(at[p.name], dtype=float)
        except (TypeError, ValueError):
            raise ChainccError(f"the value for {p.name} is not a number") from None
        if v.shape != p.shape:
            want = f"shape {p.shape}" if p.shape else "a number"
            raise ChainccError(f"the value for {p.name} must be {want}, got shape {v.shape}")
        out[p.name] = float(v) if not p.shape else v
    return out


def derive(prog: Program, at: dict | None = None,
           reserved: frozenset[str] = frozenset()) -> Derivation:
    """The decomposition, local partials and (with ``at``) every value and adjoint.
    Generated names avoid ``reserved`` (the names the source defines). A program with
    loops is derived in loop form by ``derivation_loops.derive_loops``."""
    assert not prog.has_loops, "a program with loops is derived by derive_loops"
    params = [s for p in prog.params for s in p.symbols]
    pset = set(params)
    value = prog.output("value")
    if value.shape:
        raise ChainccError(f"{prog.name} is vector-valued (its value has shape "
                           f"{value.shape}); the graph is drawn for scalar functions "
                           "(explain shows the chain rule of each output)")
    (out,) = value.exprs
    if at is not None:
        at = check_point(prog, at)
    body = list(prog.body)
    labelled = {s for s, _ in prog.labels}
    keep = {out} if isinstance(out, sp.Symbol) and out not in pset else set()
    merged, group, kept = group_statements(body, keep, labelled)
    names = _names(prog, kept, out, reserved)
    display = {t: sp.Symbol(names[t]) for t in kept}
    nodes: dict[sp.Symbol, Node] = {p: Node(p, None) for p in params}
    make_nodes(kept, merged, group, display, nodes, params, "_p")
    if not isinstance(out, sp.Symbol) or out in pset:
        # the result is an input or a constant: one line, f = x or f = 3
        sym = sp.Symbol(prog.name if prog.name not in {p.name for p in params}
                        else prog.name + "2")
        node = Node(sym, out)
        if out in pset:
            node.inputs, node.partials = [out], {out: sp.Integer(1)}
            node.raw = {out: sp.Integer(1)}
            nodes[out].consumers.append(sym)
        nodes[sym] = node
        out_sym = sym
    else:
        out_sym = display[out]
    # Values that only decide a where/max condition (or feed sign, floor...) send no
    # derivative: drop them as consumers, or 0·nan would reach the gradient
    live = {out_sym}
    for n in reversed(list(nodes.values())):
        if n.sym in live:
            live.update(n.inputs)
    for n in nodes.values():
        n.consumers = [c for c in n.consumers if c in live]
    d = Derivation(prog.name, out_sym, params, nodes, len(body), at,
                   [p.name for p in prog.params], used=pset & _free(body, out))
    if at is not None:
        _evaluate(d, prog, at, display)
    return d


def group_statements(body: list[Assign], keep: set[sp.Symbol], labelled: set[sp.Symbol]
                     ) -> tuple[dict[sp.Symbol, sp.Expr], dict[sp.Symbol, list[Assign]],
                                list[sp.Symbol]]:
    """Step 1 of a derivation: group straight-line statements into intermediates (the
    rule of this module's docstring). Symbols the statements do not define are inputs;
    ``keep`` are intermediates whatever the rule says (the result, values used outside
    the statements). Returns ``merged`` (each statement's definition with the statements
    it absorbed written in), ``group`` (each statement's absorbed statements, itself
    last) and the kept statements' targets in order."""
    defined = {st.target for st in body}
    uses: dict[sp.Symbol, int] = {}
    for st in body:
        for s in st.expr.free_symbols:
            uses[s] = uses.get(s, 0) + 1
    leaves = {s for st in body for s in st.expr.free_symbols} - defined
    merged: dict[sp.Symbol, sp.Expr] = {}
    group: dict[sp.Symbol, list[Assign]] = {}
    kept: list[sp.Symbol] = []
    by_target = {st.target: st for st in body}
    order = {st.target: i for i, st in enumerate(body)}
    for st in body:
        rep: dict[sp.Symbol, sp.Expr] = {}
        members = [st]
        for a in sorted(st.expr.free_symbols & defined, key=order.__getitem__):
            child = by_target[a]
            if (uses.get(a, 0) == 1 and a not in labelled and a not in keep
                    and _absorbs(st.expr, child.expr, merged[a], leaves)):
                trial = _swap(st.expr, {**rep, a: merged[a]})
                if trial is not None and _ops(trial) <= MERGE_OPS:
                    rep[a] = merged[a]
                    members = group.pop(a) + members
                    continue
            kept.append(a)
        merged[st.target] = st.expr.xreplace(rep)
        group[st.target] = members
    kept.extend(k for k in keep if k in defined)
    return merged, group, sorted(set(kept), key=order.__getitem__)


def make_nodes(kept: list[sp.Symbol], merged: dict[sp.Symbol, sp.Expr],
               group: dict[sp.Symbol, list[Assign]], display: dict[sp.Basic, sp.Symbol],
               nodes: dict[sp.Symbol, Node], inputs: list[sp.Symbol], prefix: str,
               write_out: frozenset[sp.Symbol] = frozenset()) -> None:
    """Step 2: a Node per kept statement (added to ``nodes``, which holds the inputs'
    Nodes by display symbol), with its local partials from the rule table composed
    through its group, as formulas (display and program symbols) and as the kernels
    compute them (statements prefixed ``prefix``). ``inputs`` orders the partials of the
    inputs before those of earlier intermediates. Where a rule uses a statement's own
    result (tanh' = 1 - tanh²), the result is written out when short, and always for
    ``write_out``."""
    order = {t: i for i, t in enumerate(kept)}
    rank = {s: i for i, s in enumerate(inputs)}
    for t in kept:
        stmts = group[t]
        inner = {s.target for s in stmts}
        to_display = {s.target: merged[s.target].xreplace(display) for s in stmts}
        to_display.update(display)
        node = Node(display[t], merged[t].xreplace(display), t)
        if len(expr_text(node.expr)) <= OWN_CHARS or t in write_out:
            # rules use the statement's own result (√g' = 1/(2√g)); write it out if short
            to_display[t] = node.expr
        raw = _local_partials(stmts, inner)
        numeric, node.work = _kernel_partials(stmts, inner, f"{prefix}{len(nodes)}_")
        for arg in sorted(raw, key=lambda s: rank[s] if s in rank
                          else len(rank) + order.get(s, len(order))):
            sym = display.get(arg, arg)
            shown = _swap(raw[arg], to_display) or raw[arg].xreplace(display)
            num = numeric.get(arg, sp.Integer(0))
            if sym in node.partials:
                # two values shown as one (an element read twice): their parts add
                node.partials[sym] += shown
                node.raw[sym] += raw[arg]
                node.numeric[sym] += num
                continue
            node.inputs.append(sym)
            node.partials[sym] = shown
            node.raw[sym] = raw[arg]
            node.numeric[sym] = num
            nodes[sym].consumers.append(node.sym)
        nodes[node.sym] = node


def _free(body: list, out: sp.Expr) -> set[sp.Symbol]:
    found = set(getattr(out, "free_symbols", ()))
    for st in body:
        found |= st.expr.free_symbols
    return found


class _Formulas:
    """A builder for the reverse sweep that keeps each adjoint as a formula (explain
    shows formulas; the compiled program names every one)."""

    @staticmethod
    def emit(e: sp.Basic) -> sp.Basic:
        # a sum whose terms cancel (a - a) stays whole: a factor multiplied in would
        # let SymPy distribute it and cancel to 0 (the kernels name it, so it stays)
        if isinstance(e, sp.Add) and cancels(list(e.args)):
            return sp.UnevaluatedExpr(e)
        return e


def _kernel_partials(stmts: list, inner: set, prefix: str
                     ) -> tuple[dict[sp.Symbol, sp.Expr], tuple]:
    """The same partials as the kernels compute them: the sweep's statements named one by
    one (SymPy may simplify a formula written whole, n·h/n to h, where the kernel computes
    0·(0/0) = nan), and the partials over them."""
    group = _group(stmts, inner)
    builder = Builder(prefix=prefix)
    adj = sweep(group, builder, [(stmts[-1].target, sp.Integer(1))])
    return dict(adj), tuple(builder.body)


def _group(stmts: list, inner: set) -> Program:
    outside: list[sp.Symbol] = []
    for st in stmts:
        for s in sorted(st.expr.free_symbols, key=sp.default_sort_key):
            if s not in inner and s not in outside:
                outside.append(s)
    return Program("group", tuple(Param(s.name, (), (s,)) for s in outside), tuple(stmts),
                   ())


def _local_partials(stmts: list, inner: set) -> dict[sp.Symbol, sp.Expr]:
    """∂(last statement)/∂(each outside argument), by the compiler's reverse sweep over
    the group: ``where``, ``max`` and ``min`` select here as they do in the kernels."""
    adj = sweep(_group(stmts, inner), _Formulas(), [(stmts[-1].target, sp.Integer(1))])
    # an entry is 0 only where contributions cancelled (t - t): kept, since at a nan
    # adjoint the kernels compute nan - nan there, not nothing
    return dict(adj)


def _evaluate(d: Derivation, prog: Program, at: dict[str, Point],
              display: dict[sp.Symbol, sp.Symbol]) -> None:
    values: dict[sp.Basic, float] = {}
    for p in prog.params:
        for s, v in zip(p.symbols, np.ravel(at[p.name])):
            values[s] = float(v)
    for st in prog.body:
        values[st.target] = evaluate(st.expr, values)
    back = {v: k for k, v in display.items()}
    for n in d.nodes.values():
        key = back.get(n.sym, n.sym)
        n.value = values[key] if key in values else evaluate(n.expr, values)
        for a in n.work:                  # the partials' own statements, as compiled
            values[a.target] = evaluate(a.expr, values)
        for sym, c in n.raw.items():
            n.partial_values[sym] = evaluate(n.numeric.get(sym, c), values)
            if _selects_nothing(c, values):
                n.unpicked.add(sym)
    # As in the kernels: an input that a where, max, min or relu did not pick gets
    # nothing (not 0 times an adjoint that may be inf or nan), and a value that gets
    # nothing sends nothing on; every other contribution is adjoint × partial, IEEE
    # (0 × nan is nan)
    adjoint: dict[sp.Symbol, float] = {d.out: 1.0}
    for n in reversed(d.steps):
        if n.sym not in adjoint:
            continue
        for sym in n.inputs:
            if n.sym in d.nodes[sym].consumers and sym not in n.unpicked:
                c = adjoint[n.sym] * n.partial_values[sym]
                adjoint[sym] = c if sym not in adjoint else adjoint[sym] + c
    for n in d.nodes.values():
        n.adjoint = adjoint.get(n.sym, 0.0)


def _selects_nothing(partial: sp.Basic, values: dict[sp.Basic, float]) -> bool:
    """Whether a local partial is zero by selection at this point: a where (the form
    where, max, min and relu take) that picks a literal 0, or a sum of such, or a
    product with one."""
    if isinstance(partial, Where):
        cond, a, b = partial.args
        picked = a if evaluate(cond, values) else b
        return picked == 0 or _selects_nothing(picked, values)
    if isinstance(partial, sp.Add):
        return all(_selects_nothing(t, values) for t in partial.args)
    if isinstance(partial, sp.Mul):
        return any(_selects_nothing(t, values) for t in partial.args)
    return False
