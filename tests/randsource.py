"""Seeded random chaincc sources that use every scalar built-in, for backend comparisons.

Unlike the hypothesis trees of test_hypothesis.py, these need no oracle of their own: the
backends are compared with each other, so domains may be left at run time (NaN and inf
must then agree too) and every printer path gets exercised: where with and/or/not,
min/max of three, sign, floor, powers small and large, integer and fractional, and
constants that need all 17 digits.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

_T = TypeVar("_T")

UNARY = ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh",
         "acosh", "atanh", "exp", "expm1", "log", "ln", "log1p", "log2", "log10", "sqrt",
         "cbrt", "abs", "sign", "floor", "ceil", "erf", "erfc", "relu", "sigmoid", "softplus")
BINARY = ("+", "-", "*", "/", "^", "atan2", "pow", "hypot", "min", "max", "logb", "where")
CONSTANTS = ("2", "0.5", ".5", "1e-3", "2.5E+1", "3", "pi", "e", "1/3", "0.1", "7", "1e-5",
             "0.7071067811865476", "1e300")
EXPONENTS = ("2", "3", "-1", "-2", "0.5", "-0.5", "9", "1.5", "(1/3)", "-3", "x")
RELATIONS = ("<", "<=", ">", ">=", "==", "!=")


def expression(rng: random.Random, names: list[str], depth: int,
               constant_ok: bool = False) -> str:
    """A random expression; every function argument involves a parameter, so no
    subexpression folds to a constant (constants appear only as operands)."""
    if depth == 0 or rng.random() < 0.2:
        if constant_ok and rng.random() < 0.4:
            return rng.choice(CONSTANTS)
        return rng.choice(names)
    sub = depth - 1
    if rng.random() < 0.45:
        return f"{rng.choice(UNARY)}({expression(rng, names, sub)})"
    op = rng.choice(BINARY)
    a, b = expression(rng, names, sub), expression(rng, names, sub, True)
    if op == "^":
        return f"({a})^{rng.choice(EXPONENTS)}"
    if op == "logb":
        return f"log({a}, {rng.choice(('2', '10', '3'))})"
    if op == "where":
        cond = f"{a} {rng.choice(RELATIONS)} {b}"
        if rng.random() < 0.5:
            cond = f"{cond} {rng.choice(('and', 'or'))} not ({rng.choice(names)} < 0.5)"
        return f"where({cond}, {expression(rng, names, sub, True)}, " \
               f"{expression(rng, names, sub, True)})"
    if rng.random() < 0.5:
        a, b = b, a
    if op in ("+", "-", "*", "/"):
        return f"({a}) {op} ({b})"
    if op in ("min", "max") and rng.random() < 0.5:
        return f"{op}({a}, {b}, {rng.choice(names)})"
    return f"{op}({a}, {b})"


def random_source(seed: int, count: int, names: tuple[str, ...] = ("x", "y", "z"),
                  depth: int = 4) -> str:
    """``count`` functions ``r0(x, y, z) = ...`` from one seed."""
    rng = random.Random(seed)
    params = ", ".join(names)
    return "".join(f"r{k}({params}) = {expression(rng, list(names), depth)}\n"
                   for k in range(count))


# ------------------------------------------------------------------ sources that iterate --
# ``loop_source(seed)`` writes a random source that iterates (docs/language.md,
# "Iteration"), valid by construction: every index stays inside its array for every
# value of its ranges, every recurrence starts at 0 and steps without gaps, every fixed
# point is a contraction. Values stay in a sane range (bounded functions, small weights,
# products of factors near 1), so that comparing paths with the reference is meaningful.

LOOP_POOLS = {
    "size": ("T", "N", "M", "L", "R", "S"),
    "scalar": ("a", "b", "c", "d", "u", "w", "s", "r", "α", "μ"),
    "vector": ("x", "v", "p", "y", "o", "β"),
    "matrix": ("A", "B", "W", "U", "V", "X"),
    "state": ("h", "g", "η", "ψ"),
    "array": ("Y", "Z", "Q", "φ"),
    "binding": ("κ", "λ", "ν"),
}
# trip counts of loops: at most 16 are unrolled by chaincc, more are loops
SHORT_TRIPS = (1, 2, 3, 4, 5, 8, 12, 16)
LONG_TRIPS = (17, 18, 20, 23, 31, 40)
# parameter scalars per source at most (the reference's derivatives are dual numbers of
# this many components)
MAX_PARAM_SCALARS = 160
HELPERS = (("act(q) = q/(1 + q^2)", "act({0})", 1),
           ("mix(q, q2) = tanh(q)·q2 + 0.5q", "mix({0}, {1})", 2),
           ("gate(q, q2) = sigmoid(q)·tanh(q2)", "gate({0}, {1})", 2))
_UNARY = ("tanh({})", "sin({})", "cos({})", "sigmoid({})", "atan({})", "relu({})",
          "softplus({})", "exp(0.5·tanh({}))", "sqrt(1 + ({})^2)", "tanh({})^2", "erf({})",
          "0.5*({})", "-({})", "abs({})")
_LOOP_CONSTANTS = ("0.5", "0.25", "2", "1.5", "0.1", "-0.3", ".75")
_MUL = ("*", "·", "*")


@dataclass(frozen=True)
class LoopParam:
    name: str
    shape: tuple[int, ...]
    scale: float                    # points are uniform in (-scale, scale)


@dataclass(frozen=True)
class LoopSource:
    """A generated source that iterates, and how to draw points for its entry."""

    seed: int
    text: str
    entry: str
    params: tuple[LoopParam, ...]
    features: frozenset[str]        # what it exercises (see ``loop_source``)
    trips: tuple[int, ...]          # the trip counts of the loops written

    def points(self, count: int, salt: int = 0) -> list[dict[str, object]]:
        """``count`` points for the entry (the same for the same seed and salt)."""
        rng = np.random.default_rng([self.seed, salt])
        return [{p.name: float(rng.uniform(-p.scale, p.scale)) if not p.shape
                 else rng.uniform(-p.scale, p.scale, p.shape) for p in self.params}
                for _ in range(count)]


@dataclass(frozen=True)
class _Var:
    """An index variable and the smallest and largest values it takes."""

    name: str
    lo: int
    hi: int


@dataclass(frozen=True)
class _Ctx:
    """What a loop body may read: index variables (innermost last), other scalar leaves
    (a recurrence's states), and how many more sums it may nest."""

    vars: tuple[_Var, ...] = ()
    leaves: tuple[str, ...] = ()
    nest: int = 1


class _LoopWriter:
    """Writes one source: sizes, helpers and bindings first, then the indexed bindings
    (recurrences, arrays defined element by element), then the entry ``f``, whose
    parameters are every array and scalar the bodies read."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"loops/{seed}")
        self.seed = seed
        self.sizes: dict[str, int] = {}
        self.top: list[str] = []        # sizes, helpers and bindings, in order
        self.lines: list[str] = []      # indexed bindings
        self.params: dict[str, tuple[LoopParam, str]] = {}
        self.used: set[str] = set()
        self.features: set[str] = set()
        self.trips: list[int] = []
        self.helpers: list[tuple[str, int]] = []
        self.bindings: list[str] = []
        self.indices = 0

    # -- names, sizes, parameters -------------------------------------------------------
    def fresh(self, kind: str) -> str:
        for n in LOOP_POOLS[kind]:
            if n not in self.used:
                self.used.add(n)
                return n
        k = 2
        while f"{LOOP_POOLS[kind][0]}{k}" in self.used:
            k += 1
        self.used.add(f"{LOOP_POOLS[kind][0]}{k}")
        return f"{LOOP_POOLS[kind][0]}{k}"

    def index(self) -> str:
        """A new index variable's name: i, j, k, l, i2, j2, ..."""
        n, self.indices = self.indices, self.indices + 1
        return "ijkl"[n % 4] + (str(n // 4 + 1) if n >= 4 else "")

    def pick(self, *makers: Callable[[], _T]) -> _T:
        """One of the makers, called (only the one picked writes anything)."""
        return self.rng.choice(makers)()

    def size(self, value: int) -> None:
        """Maybe declare a size of this value (``num`` then writes integers near it with
        its name)."""
        if value > 0 and value not in self.sizes.values() and self.rng.random() < 0.65:
            name = self.fresh("size")
            self.sizes[name] = value
            self.top.append(f"{name} = {value}")
            self.features.add("size")

    def num(self, value: int) -> str:
        """An integer as text: a size's name (± 1) or the number."""
        near = [(n, value - v) for n, v in self.sizes.items() if abs(value - v) <= 1]
        if near and self.rng.random() < 0.7:
            n, d = self.rng.choice(near)
            return n if d == 0 else f"{n}+{d}" if d > 0 else f"{n}-{-d}"
        return str(value)

    def scalars_left(self) -> int:
        return MAX_PARAM_SCALARS - sum(math.prod(p.shape) for p, _ in self.params.values())

    def param(self, kind: str, shape: tuple[int, ...], scale: float = 1.0) -> str:
        name = self.fresh(kind)
        text = name + ("[" + ", ".join(self.num(d) for d in shape) + "]" if shape else "")
        self.params[name] = (LoopParam(name, shape, scale), text)
        return name

    def of_shape(self, shape: tuple[int, ...]) -> list[str]:
        return [n for n, (p, _) in self.params.items() if p.shape == shape]

    def scalar(self) -> str:
        have = self.of_shape(())
        if have and (self.rng.random() < 0.7 or len(have) >= 6):
            return self.rng.choice(have)
        return self.param("scalar", ())

    def mul(self) -> str:
        return self.rng.choice(_MUL)

    def trip_count(self, long: bool | None = None) -> int:
        if long is None:
            long = self.rng.random() < 0.5
        n = self.rng.choice(LONG_TRIPS if long else SHORT_TRIPS)
        self.trips.append(n)
        return n

    # -- reads of arrays at indices -----------------------------------------------------
    def index_forms(self, v: _Var, n: int) -> list[str]:
        """Index expressions on ``v`` whose every value is in 0..n-1."""
        forms = []
        if v.hi <= n - 1:
            forms += [v.name, v.name]
        forms += [f"{v.name}+{c}" for c in (1, 2) if v.hi + c <= n - 1]
        forms += [f"{v.name}-{c}" for c in (1, 2) if v.lo - c >= 0 and v.hi - c <= n - 1]
        if v.hi <= n - 1:
            forms.append(f"{self.num(n - 1)}-{v.name}")
        forms += [f"2*{v.name}+{c}" for c in (0, 1) if 2 * v.hi + c <= n - 1]
        return forms

    def read(self, ctx: _Ctx, v: _Var | None = None) -> str:
        """An element of an array parameter at an index that depends on ``v`` (by default
        an index variable of ``ctx``, the innermost most often)."""
        rng = self.rng
        if v is None:
            v = ctx.vars[-1] if rng.random() < 0.6 else rng.choice(ctx.vars)
        others = [w for w in ctx.vars if w is not v]
        if others and rng.random() < 0.3 and v.hi < 12:
            w = rng.choice(others)
            if w.hi < 12:
                return self.read_matrix(v, w)
        have = [(n, f) for n in self.of_shape_rank(1)
                for f in self.index_forms(v, self.params[n][0].shape[0])]
        if have and (rng.random() < 0.6 or self.scalars_left() < 60):
            n, f = rng.choice(have)
            return f"{n}[{f}]"
        if self.scalars_left() < v.hi + 4:
            return self.scalar()
        n = v.hi + 1 + rng.choice((0, 0, 1, 2))
        self.size(n)
        name = self.param("vector", (n,))
        return f"{name}[{rng.choice(self.index_forms(v, n))}]"

    def of_shape_rank(self, rank: int) -> list[str]:
        return [n for n, (p, _) in self.params.items() if len(p.shape) == rank]

    def read_matrix(self, v: _Var, w: _Var) -> str:
        rng = self.rng
        have = [(n, f, g) for n in self.of_shape_rank(2)
                for f in self.index_forms(v, self.params[n][0].shape[0])
                for g in self.index_forms(w, self.params[n][0].shape[1])]
        self.features.add("matrix-read")
        if have and (rng.random() < 0.5 or self.scalars_left() < 60):
            n, f, g = rng.choice(have)
            return f"{n}[{f}, {g}]"
        shape = (v.hi + 1 + rng.choice((0, 1)), w.hi + 1 + rng.choice((0, 1)))
        if math.prod(shape) > self.scalars_left() - 10:
            return self.scalar()
        name = self.param("matrix", shape, 1.0)
        return (f"{name}[{rng.choice(self.index_forms(v, shape[0]))}, "
                f"{rng.choice(self.index_forms(w, shape[1]))}]")

    # -- scalar bodies ------------------------------------------------------------------
    def leaf(self, ctx: _Ctx) -> str:
        rng = self.rng
        choices = [("param", 2.0), ("const", 1.0)]
        if ctx.vars:
            choices += [("read", 3.0), ("number", 1.5)]
        if ctx.leaves:
            choices.append(("state", 3.0))
        if self.bindings:
            choices.append(("binding", 0.5))
        pick = rng.choices([c for c, _ in choices], [w for _, w in choices])[0]
        if pick == "read":
            return self.read(ctx)
        if pick == "number":
            self.features.add("index-number")
            i = rng.choice(ctx.vars).name
            return self.pick(lambda: f"0.1*{i}", lambda: f"sin(0.3*{i})",
                             lambda: f"cos({self.scalar()}·{i})", lambda: f"1/({i} + 1)",
                             lambda: f"0.05{i}")
        if pick == "state":
            return rng.choice(ctx.leaves)
        if pick == "binding":
            self.features.add("binding")
            return rng.choice(self.bindings)
        if pick == "const":
            return rng.choice(_LOOP_CONSTANTS)
        return self.scalar()

    def expr(self, ctx: _Ctx, depth: int) -> str:
        rng = self.rng
        if depth <= 0 or rng.random() < 0.2:
            return self.leaf(ctx)
        r = rng.random()
        sub = depth - 1
        if r < 0.3:
            return rng.choice(_UNARY).format(self.expr(ctx, sub))
        if r < 0.65:
            a, b = self.expr(ctx, sub), self.expr(ctx, sub)
            a, b = _par(a), _par(b)
            op = rng.choice(("+", "-", self.mul(), "0.5"))
            return f"0.5·{a}·{b}" if op == "0.5" else f"{a} {op} {b}"
        if r < 0.75:
            self.features.add("max")
            return f"{rng.choice(('max', 'min'))}({self.expr(ctx, sub)}, {self.expr(ctx, sub)})"
        if r < 0.87:
            self.features.add("where")
            cond = f"{self.expr(ctx, sub)} {rng.choice(('>', '<', '>=', '<='))} " \
                   f"{self.expr(ctx, sub)}"
            if rng.random() < 0.25:
                cond += f" {rng.choice(('and', 'or'))} {self.leaf(ctx)} > 0"
            return f"where({cond}, {self.expr(ctx, sub)}, {self.expr(ctx, sub)})"
        if r < 0.93 and self.helpers:
            self.features.add("helper")
            call, arity = rng.choice(self.helpers)
            return call.format(*(self.expr(ctx, sub) for _ in range(arity)))
        if ctx.nest > 0 and depth >= 2:
            return self.inner_sum(ctx, sub)
        return self.leaf(ctx)

    def uses(self, text: str, v: _Var) -> bool:
        return any(tok == v.name for tok in _tokens(text))

    def body_on(self, ctx: _Ctx, v: _Var, depth: int) -> str:
        """A body that reads something at ``v`` (or uses it as a number)."""
        e = self.expr(ctx, depth)
        if self.uses(e, v):
            return e
        r = self.read(ctx, v)
        return self.rng.choice((f"{r}{self.mul()}({e})", f"({e}) + {r}", f"tanh({r} - {e})"))

    # -- loops ------------------------------------------------------------------------------
    def dependent_range(self, outer: _Var) -> tuple[str, str, _Var]:
        """A range whose ends depend on ``outer``: (start text, end text, variable)."""
        j = self.index()
        forms = [lambda: ("0", outer.name, _Var(j, 0, outer.hi)),
                 lambda: (outer.name, self.num(outer.hi), _Var(j, outer.lo, outer.hi)),
                 lambda: (outer.name, f"{outer.name}+2", _Var(j, outer.lo, outer.hi + 2))]
        if outer.hi >= 1:
            forms.append(lambda: ("0", f"{outer.name}-1", _Var(j, 0, outer.hi - 1)))
        if outer.hi >= outer.lo + 1:
            forms.append(lambda: (f"{outer.name}+1", self.num(outer.hi),
                                  _Var(j, outer.lo + 1, outer.hi)))
        self.features.add("dependent-range")
        return self.pick(*forms)

    def inner_sum(self, ctx: _Ctx, depth: int) -> str:
        """A sum nested in a body, over a range that may depend on the enclosing index."""
        rng = self.rng
        if ctx.vars and rng.random() < 0.6:
            lo, hi, v = self.dependent_range(ctx.vars[-1])
        else:
            n = rng.choice((1, 2, 3, 4, 6))
            v = _Var(self.index(), 0, n - 1)
            lo, hi = "0", self.num(n - 1)
        inner = _Ctx(ctx.vars + (v,), ctx.leaves, ctx.nest - 1)
        self.features.add("nested")
        return f"sum({self.body_on(inner, v, depth)} for {v.name} = {lo}..{hi})"

    def loop_range(self, trips: int) -> tuple[str, str, _Var]:
        lo = self.rng.choice((0, 0, 0, 1, 2))
        self.size(lo + trips)
        v = _Var(self.index(), lo, lo + trips - 1)
        return self.num(lo), self.num(v.hi), v

    def reduction(self, kind: str, body: str, v: _Var, lo: str, hi: str) -> str:
        """sum/prod written as a call or with Σ/∑/∏."""
        rng = self.rng
        if rng.random() < 0.4:
            sign = {"sum": rng.choice("Σ∑"), "prod": "∏"}[kind]
            self.features.add("sigma")
            return f"{sign}_{{{v.name}={lo}}}^{{{hi}}} ({body})"
        return f"{kind}({body} for {v.name} = {lo}..{hi})"

    # -- components (each a scalar term of the entry) --------------------------------------
    def comp_sum(self) -> str:
        rng = self.rng
        lo, hi, v = self.loop_range(self.trip_count())
        self.features.add("sum")
        if rng.random() < 0.15 and self.scalars_left() > 4 * (v.hi + 1) + 10:
            # a sum whose body is a vector: rows of a matrix parameter
            n = rng.choice((2, 3))
            X = self.param("matrix", (v.hi + 1, n))
            u = self.param("vector", (n,))
            self.features.add("vector-sum")
            return f"sum(sum(tanh({X}[{v.name}] * {u}) for {v.name} = {lo}..{hi})^2)"
        body = self.body_on(_Ctx((v,), nest=1), v, rng.randint(1, 3))
        return self.reduction("sum", body, v, lo, hi)

    def comp_prod(self) -> str:
        rng = self.rng
        lo, hi, v = self.loop_range(self.trip_count())
        self.features.add("prod")
        body = self.body_on(_Ctx((v,), nest=1), v, rng.randint(1, 2))
        factor = rng.choice(("1 + 0.2*tanh({})", "1 + 0.1·sin({})", "cos(0.3*({}))"))
        factor = factor.format(body)
        return self.reduction("prod", factor, v, lo, hi)

    def comp_nested(self) -> str:
        """Two ranges, the inner one's ends depending on the outer index (a multi-range
        sum or a sum in a sum), or a short outer loop around a long inner one."""
        rng = self.rng
        self.features.add("nested")
        if rng.random() < 0.3:
            # a short outer loop around a long inner one
            lo, hi, v = self.loop_range(rng.choice((2, 3)))
            n = self.trip_count(True)
            w = _Var(self.index(), 0, n - 1)
            self.size(n)
            wlo, whi = "0", self.num(n - 1)
        else:
            lo, hi, v = self.loop_range(self.trip_count(rng.random() < 0.25))
            wlo, whi, w = self.dependent_range(v)
        body = self.body_on(_Ctx((v, w), nest=0), w, rng.randint(1, 3))
        return self._two_ranges(body, v, lo, hi, w, wlo, whi)

    def _two_ranges(self, body: str, v: _Var, lo: str, hi: str, w: _Var, wlo: str,
                    whi: str) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.4:
            return f"sum({body} for {v.name} = {lo}..{hi}, {w.name} = {wlo}..{whi})"
        if r < 0.7:
            c = self.pick(lambda: "", lambda: f"{self.scalar()}{self.mul()}", lambda: "0.5·")
            return f"sum({c}sum({body} for {w.name} = {wlo}..{whi}) for {v.name} = {lo}..{hi})"
        self.features.add("sigma")
        return f"Σ_{{{v.name}={lo}}}^{{{hi}}} (Σ_{{{w.name}={wlo}}}^{{{whi}}} ({body}))"

    def comp_recurrence(self) -> str:
        """A scalar recurrence (or two states stepping together) and reads of it."""
        rng = self.rng
        T = self.trip_count()
        self.size(T)
        h = self.fresh("state")
        t = _Var("t", 0, T - 1)
        self.features.add("recurrence")
        two = rng.random() < 0.35
        g = self.fresh("state") if two else None
        leaves = (f"{h}[t]",) + ((f"{g}[t]",) if g else ())
        ctx = _Ctx((t,), leaves, nest=1)
        # which state reads the other's t+1 (never both ways)
        g_reads_next = two and rng.random() < 0.5
        h_step = self.step(ctx, f"{h}[t]")
        starts = [f"{h}[0] = {self.start()}"]
        steps = [f"{h}[t+1] = {h_step}   for t = 0..{self.num(T - 1)}"]
        if g:
            # both starts first (a name is known after its first statement), then the
            # steps in either order
            self.features.add("two-states")
            gctx = _Ctx((t,), leaves + ((f"{h}[t+1]",) if g_reads_next else ()), nest=1)
            g_step = self.step(gctx, f"{g}[t]")
            if g_reads_next and f"{h}[t+1]" not in g_step:
                g_step = f"{g_step} + 0.25·{h}[t+1]"
            if g_reads_next:
                self.features.add("reads-next")
            starts.append(f"{g}[0] = {self.start()}")
            steps.append(f"{g}[t+1] = {g_step}   for t = 0..{self.num(T - 1)}")
            if rng.random() < 0.5:
                steps.reverse()
        self.lines += starts + steps
        states = [h] + ([g] if g else [])
        return " + ".join(self.read_recurrence(rng.choice(states), T)
                          for _ in range(rng.choice((1, 1, 2))))

    def start(self) -> str:
        return self.pick(lambda: "0", lambda: "0.5", self.scalar,
                         lambda: f"tanh({self.scalar()})")

    def step(self, ctx: _Ctx, own: str) -> str:
        """A bounded step of a scalar state ``own``."""
        rng = self.rng
        body = self.body_on(ctx, ctx.vars[0], rng.randint(1, 3))
        m = self.mul()
        forms = [lambda: f"tanh({self.scalar()}{m}{own} + {body})",
                 lambda: f"0.5·{own} + 0.5·tanh({body})",
                 lambda: f"max(tanh({body}), 0.5*{own})",
                 lambda: f"relu(tanh({body}) + 0.5·{own})",
                 lambda: f"sigmoid({body})*{own} + 0.5*tanh({self.expr(ctx, 1)})",
                 lambda: f"0.9·{own}·cos({self.scalar()}·t) + 0.5*sin({body})",
                 lambda: (f"where({own} > {self.pick(lambda: '0', self.scalar)}, "
                          f"tanh({body}), 0.5*sin({self.expr(ctx, 1)}))")]
        pick = rng.randrange(len(forms))
        self.features.add({2: "max", 3: "relu", 6: "where"}.get(pick, "tanh"))
        if pick == 5:
            self.features.add("index-number")
        return forms[pick]()

    def read_recurrence(self, h: str, T: int, vector: bool = False) -> str:
        """A read of a recurrence of T steps: its last element, an element at a constant
        index, a sum or product over its history, or an array defined from it."""
        rng = self.rng
        sq = (lambda e: f"sum({e}^2)") if vector else (lambda e: f"{e}^2")
        el = (lambda e: f"{e}[{rng.randrange(2)}]") if vector else (lambda e: e)
        r = rng.random()
        if r < 0.3:
            self.features.add("read-last")
            return sq(f"{h}[{self.num(T)}]")
        if r < 0.45:
            self.features.add("read-at")
            return el(f"{h}[{rng.randint(0, T)}]")
        if r < 0.85:
            self.trips.append(T)
            self.features.add("history")
            t = self.index()
            body = self.pick(lambda: sq(f"{h}[{t}]"),
                             lambda: f"{el(f'{h}[{t}]')}*{el(f'{h}[{t}-1]')}")
            if rng.random() < 0.3:
                return self.reduction("prod", f"1 + 0.1*tanh({body})", _Var(t, 1, T), "1",
                                      self.num(T))
            return self.reduction("sum", body, _Var(t, 1, T), "1", self.num(T))
        # an array defined element by element from the recurrence
        self.features.add("elementwise")
        Y = self.fresh("array")
        i = self.index()
        self.lines.append(f"{Y}[{i}] = {el(f'{h}[{i}+1]')} - {el(f'{h}[{i}]')}   "
                          f"for {i} = 0..{self.num(T - 1)}")
        return f"sum({Y}^2)"

    def comp_vector_recurrence(self, vector_out: bool = False) -> str:
        rng = self.rng
        T = self.trip_count()
        n, m = rng.choice((2, 3)), rng.choice((1, 2))
        if self.scalars_left() < 2 * n * n + 2 * n * m + (T + 1) * n + 2 * n + 10:
            T = self.trips[-1] = min(T, 8)
        self.size(T)
        self.size(n)
        h = self.fresh("state")
        self.features.update(("recurrence", "vector-recurrence"))
        W = self.param("matrix", (n, n), 1.0 / n)
        N, Tn = self.num(n), self.num(T)
        start = self.pick(lambda: f"zeros({N})", lambda: f"0.1*ones({N})",
                          lambda: self.param("vector", (n,), 0.5))
        two = rng.random() < 0.25
        if two:
            # an LSTM-like cell: c reads h[t], h reads c[t+1]
            self.features.add("two-states")
            c = self.fresh("state")
            x = self.param("matrix", (T, n))
            U = self.param("matrix", (n, n), 1.0 / n)
            lines = [f"{h}[0] = {start}", f"{c}[0] = zeros({N})",
                     f"{c}[t+1] = sigmoid({W} @ {h}[t] + {x}[t])*{c}[t] + "
                     f"0.5·tanh({U} @ {h}[t] - {x}[t])   for t = 0..{self.num(T - 1)}",
                     f"{h}[t+1] = sigmoid({U} @ {h}[t]) * tanh({c}[t+1])   "
                     f"for t = 0..{self.num(T - 1)}"]
            if rng.random() < 0.5:
                lines[2], lines[3] = lines[3], lines[2]
            self.lines += lines
            if vector_out:
                return f"{h}[{Tn}]"
            return self.read_recurrence(rng.choice((h, c)), T, vector=True)
        shift = rng.random() < 0.2
        x = self.param("matrix", (T + int(shift), m))
        xt = f"{x}[t+1]" if shift else f"{x}[t]"
        if shift:
            self.features.add("index-offset")
        U = self.param("matrix", (n, m), 0.5)
        b = self.param("vector", (n,), 0.5)
        forms = [f"tanh({W} @ {h}[t] + {U} @ {xt} + {b})",
                 f"0.5*{h}[t] + 0.5*tanh({W} @ {h}[t] + {U} @ {xt})",
                 f"sigmoid({W} @ {h}[t])*{h}[t] + 0.5·tanh({U} @ {xt} + {b})",
                 f"max(tanh({W} @ {h}[t] + {b}), 0.5*{h}[t]) + 0.1*({U} @ {xt})",
                 f"where({h}[t] > 0, tanh({W} @ {h}[t] + {U} @ {xt}), 0.5*{h}[t] + 0.1*{b})",
                 f"0.5*relu({W} @ {h}[t] + {U} @ {xt}) + 0.2*{h}[t]",
                 f"tanh({W} @ {h}[t] + sum({x}[t, k]*{U}[:, k] for k = 0..{self.num(m - 1)}))"]
        pick = rng.randrange(len(forms))
        self.features.add({3: "max", 4: "where", 5: "relu", 6: "nested"}.get(pick, "tanh"))
        if pick == 6:
            self.features.add("slice")
        self.lines += [f"{h}[0] = {start}",
                       f"{h}[t+1] = {forms[pick]}   for t = 0..{self.num(T - 1)}"]
        if vector_out:
            return f"{h}[{Tn}]"
        if rng.random() < 0.2:
            v = self.param("vector", (n,))
            return f"dot({h}[{Tn}], {v})"
        return self.read_recurrence(h, T, vector=True)

    def comp_elementwise(self) -> str:
        rng = self.rng
        self.features.add("elementwise")
        Y = self.fresh("array")
        if rng.random() < 0.4:
            # a convolution: Y[i, j] = Σ_k K[k]·X[i+k, j]
            k, H, Wd = rng.choice((2, 3)), rng.randint(3, 6), rng.randint(2, 5)
            self.size(H)
            self.size(Wd)
            K = self.param("vector", (k,))
            X = self.param("matrix", (H, Wd))
            i, j, kk = self.index(), self.index(), self.index()
            self.lines.append(f"{Y}[{i}, {j}] = Σ_{{{kk}=0}}^{{{self.num(k - 1)}}} "
                              f"{K}[{kk}]·{X}[{i}+{kk}, {j}]   for {i} = 0..{self.num(H - k)}, "
                              f"{j} = 0..{self.num(Wd - 1)}")
            if rng.random() < 0.3:
                self.features.add("axis")
                return f"sum(tanh(sum({Y}, axis={rng.choice(('0', '1', '-1'))}))^2)"
            return rng.choice((f"sum(tanh({Y})^2)", f"{Y}[1, 0]·{Y}[0, {Wd - 1}]",
                               f"0.1*sum({Y}^2)"))
        n = self.trip_count()
        self.size(n)
        v = _Var(self.index(), 0, n - 1)
        body = self.body_on(_Ctx((v,), nest=1), v, rng.randint(1, 3))
        self.lines.append(f"{Y}[{v.name}] = {body}   for {v.name} = 0..{self.num(n - 1)}")
        last = self.num(n - 1)
        return self.pick(lambda: f"sum({Y}^2)", lambda: f"{Y}[{rng.randrange(n)}]",
                         lambda: f"max({Y})", lambda: f"mean(tanh({Y}))",
                         lambda: self.mirrored(Y, last))

    def mirrored(self, Y: str, last: str) -> str:
        i = self.index()
        return f"sum({Y}[{i}]*{Y}[{last}-{i}] for {i} = 0..{last})"

    def comp_fixpoint(self) -> str:
        rng = self.rng
        self.features.add("fixpoint")
        kw = rng.choice(("", "", ", maxiter=500", ", tol=1e-13"))
        r = rng.random()
        if r < 0.3 and self.scalars_left() > 40:
            n = rng.choice((2, 3))
            self.size(n)
            W = self.param("matrix", (n, n), 1.0 / n)
            x = self.param("vector", (n,))
            N = self.num(n)
            fp = f"fixpoint(z -> 0.5*tanh({W} @ z + {x}), zeros({N}){kw})"
            return rng.choice((f"sum({fp}^2)", f"dot({fp}, {x})"))
        a = self.scalar()
        outer = _Ctx(nest=1)
        if r < 0.5:
            # a fixed point in a loop body, one per index
            self.features.add("fixpoint-in-loop")
            lo, hi, v = self.loop_range(self.trip_count(rng.random() < 0.3))
            drive = self.read(_Ctx((v,)), v)
            return self.reduction("sum", f"fixpoint(z -> 0.5*tanh({a}*z + {drive}), 0{kw})",
                                  v, lo, hi)
        drive = self.expr(outer, rng.randint(0, 2))
        if rng.random() < 0.3:
            drive = f"{drive} + 0.2*{self.comp_sum()}"
        phi = rng.choice(("0.5·tanh({a}·z + {d})", "0.5*cos({a}*z) + 0.3*({d})",
                          "0.4*sin(z + {d})", "where(z > 0, 0.5*z, 0.25*z) + 0.5*tanh({d})"))
        phi = phi.format(a=a, d=drive)
        start = self.pick(lambda: "0", lambda: "0.5", self.scalar)
        return f"fixpoint(z -> {phi}, {start}{kw})"

    # -- the whole source ---------------------------------------------------------------
    def write(self) -> LoopSource:
        rng = self.rng
        if rng.random() < 0.25:
            text, call, arity = rng.choice(HELPERS)
            self.top.append(text)
            self.helpers.append((call, arity))
        if rng.random() < 0.2:
            name = self.fresh("binding")
            self.top.append(f"{name} = tanh({self.scalar()})")
            self.bindings.append(name)
        comps = (self.comp_sum, self.comp_prod, self.comp_nested, self.comp_recurrence,
                 self.comp_vector_recurrence, self.comp_elementwise, self.comp_fixpoint)
        weights = (3, 1.5, 2, 3, 2, 1.5, 1.5)
        if rng.random() < 0.1:
            terms = [self.comp_vector_recurrence(vector_out=True)]
            self.features.add("vector-out")
        else:
            terms = [rng.choices(comps, weights)[0]() for _ in range(rng.choice((1, 2, 2)))]
        if len(terms) == 1:
            body = terms[0]
        else:
            t1, t2 = terms
            body = rng.choice((f"{t1} + {t2}", f"{t1} + {t2}", f"({t1})*({t2})",
                               f"tanh({t1}) - 0.5*({t2})"))
        params = list(self.params.values())
        if not params:
            params = [(LoopParam("a", (), 1.0), "a")]
        sig = ", ".join(text for _, text in params)
        entry = "f"
        lines = self.top + self.lines + [f"{entry}({sig}) = {body}"]
        return LoopSource(self.seed, "\n".join(lines) + "\n", entry,
                          tuple(p for p, _ in params), frozenset(self.features),
                          tuple(self.trips))


def _par(text: str) -> str:
    """``text`` bracketed unless it is an atom (a name, a number, a call, an element)."""
    depth = 0
    for ch in text:
        depth += ch in "([" and 1 or ch in ")]" and -1 or 0
        if depth == 0 and ch in " +-*·/<>=^":
            return f"({text})"
    return text


def _tokens(text: str) -> list[str]:
    out, cur = [], ""
    for ch in text:
        if ch.isalnum() or ch == "_":
            cur += ch
        else:
            if cur:
                out.append(cur)
            cur = ""
    return out + ([cur] if cur else [])


def loop_source(seed: int) -> LoopSource:
    """A random source that iterates, from one seed: sums and products over an index (as
    ``sum(... for i = a..b)``, ``Σ_{i=a}^{b}``, ``∏``), nested ranges whose ends depend on
    the enclosing index, reads at index arithmetic (``x[i+1]``, ``x[N-1-i]``,
    ``A[i, j]``), the index as a number, scalar and vector recurrences (two states
    stepping together, read at the end, at a constant index and over their history),
    arrays defined element by element, ``where``/``max``/``relu`` in loop bodies, and
    contractive fixed points. Trip counts fall on both sides of chaincc's unrolling
    threshold (16)."""
    return _LoopWriter(seed).write()
