"""Random valid chaincc programs for differential testing, from one seed.

A program is a list of statements: bindings (some naming the parameters of the helpers
that use them, some built on other bindings), helper functions (called, so inlined, by
later functions and by other helpers) and main functions. Expressions cover every built-in
of docs/language.md, arrays (shaped parameters, literals, broadcasting, ``@``, indexing,
reductions, softmax, logsumexp), ``where`` with comparisons and ``and``/``or``/``not``,
``max``/``min`` of several values, and shadowing (a parameter named like a binding, a
helper or a constant).

Arguments of functions with a restricted domain are mostly wrapped so that random points
in [-2, 2] land in-domain (``log(0.5 + u²)``, ``asin(0.9tanh(u))``); a few are left bare,
so that some points give NaN or ±inf, which every path must then reproduce.

Each expression is a small tree (:class:`Node`) so that a failing program can be
minimised by replacing subtrees with their children or with leaves of the same shape.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

Shape = tuple[int, ...]
COND = "cond"

# The parameter pool: a name always has the same shape, so a binding over it has one shape
SCALARS = ("x", "y", "z", "a", "h", "t")
VECTORS = {"v": (3,), "w": (3,), "q": (2,)}
MATRICES = {"M": (2, 3)}
POOL: dict[str, Shape] = {**{s: () for s in SCALARS}, **VECTORS, **MATRICES}
BINDING_NAMES = ("s", "r", "k", "c", "g", "d", "m", "n")
CONSTANT_NAMES = ("e", "pi")        # parameters named like constants (shadowing)

LOG_LIKE = ("log", "ln", "log2", "log10", "sqrt")
ANY_ARG = ("sin", "cos", "atan", "tanh", "asinh", "cbrt", "abs", "sign", "erf", "erfc",
           "relu", "sigmoid", "softplus")
EXP_LIKE = ("exp", "expm1", "sinh", "cosh")
STEPS = ("floor", "ceil")
UNIT_DOMAIN = ("asin", "acos", "atanh")
ALL_UNARY = LOG_LIKE + ANY_ARG + EXP_LIKE + STEPS + UNIT_DOMAIN + ("tan", "acosh", "log1p")
RELATIONS = ("<", "<=", ">", ">=", "==", "!=")
NUMBERS = ("2", "0.5", ".5", "3", "1.5", "0.25", "1e-3", "2.5E-1", "0.1", "7", "1/3")


@dataclass(frozen=True)
class Node:
    """``text`` with ``{0}``, ``{1}``... replaced by the rendered children."""

    text: str
    kids: tuple[Node, ...] = ()
    shape: Shape | str = ()
    names: frozenset[str] = frozenset()   # names this node itself refers to

    def render(self) -> str:
        return self.text.format(*(k.render() for k in self.kids)) if self.kids \
            else self.text

    def all_names(self) -> frozenset[str]:
        out = set(self.names)
        for k in self.kids:
            out |= k.all_names()
        return frozenset(out)

    def size(self) -> int:
        return 1 + sum(k.size() for k in self.kids)


def leaf(text: str, shape: Shape | str = (), name: str | None = None) -> Node:
    return Node(text, (), shape, frozenset({name}) if name else frozenset())


def op(text: str, shape: Shape | str, *kids: Node, names: tuple[str, ...] = ()) -> Node:
    return Node(text, tuple(kids), shape, frozenset(names))


@dataclass(frozen=True)
class Statement:
    """A binding (``params`` is None) or a function definition."""

    name: str
    body: Node
    params: tuple[tuple[str, Shape], ...] | None = None
    helper: bool = False

    @property
    def is_function(self) -> bool:
        return self.params is not None

    def render(self) -> str:
        if self.params is None:
            return f"{self.name} = {self.body.render()}"
        ps = ", ".join(n + (f"[{','.join(map(str, s))}]" if s else "") for n, s in self.params)
        return f"{self.name}({ps}) = {self.body.render()}"


@dataclass(frozen=True)
class Program:
    statements: tuple[Statement, ...]
    seed: int = 0

    def source(self) -> str:
        return "".join(s.render() + "\n" for s in self.statements)

    def functions(self) -> list[Statement]:
        return [s for s in self.statements if s.is_function]

    def function(self, name: str) -> Statement:
        return next(s for s in self.statements if s.is_function and s.name == name)

    def out_shape(self, name: str) -> Shape:
        shape = self.function(name).body.shape
        assert isinstance(shape, tuple)
        return shape


# ------------------------------------------------------------------ generation --------

@dataclass
class Scope:
    """What an expression may refer to."""

    params: dict[str, Shape]
    bindings: dict[str, Shape]                       # usable here
    helpers: dict[str, tuple[tuple[Shape, ...], Shape]]
    constants: tuple[str, ...]


@dataclass
class _Binding:
    shape: Shape
    refs: frozenset[str]        # every name it refers to, through other bindings too
    free: frozenset[str]        # the parameter names it needs


@dataclass
class Generator:
    rng: random.Random
    raw: float = 0.1            # chance that a domain-restricted call is left unguarded
    max_depth: int = 4
    bindings: dict[str, _Binding] = field(default_factory=dict)
    helpers: dict[str, tuple[tuple[Shape, ...], Shape]] = field(default_factory=dict)
    helper_refs: dict[str, frozenset[str]] = field(default_factory=dict)

    # -- leaves ---------------------------------------------------------------------
    def number(self) -> Node:
        return leaf(self.rng.choice(NUMBERS))

    def scalar_leaf(self, sc: Scope) -> Node:
        r = self.rng
        options: list[Node] = [leaf(n, (), n) for n, s in sc.params.items() if s == ()]
        options += [leaf(n, (), n) for n, s in sc.bindings.items() if s == ()]
        for n, s in list(sc.params.items()) + list(sc.bindings.items()):
            if len(s) == 1:
                options.append(leaf(f"{n}[{r.randrange(s[0])}]", (), n))
            elif len(s) == 2:
                options.append(leaf(f"{n}[{r.randrange(s[0])}, {r.randrange(s[1])}]", (), n))
        if not options or r.random() < 0.12:
            if sc.constants and r.random() < 0.3:
                c = r.choice(sc.constants)
                return leaf(c, (), c)
            return self.number()
        return r.choice(options)

    def array_leaf(self, sc: Scope, shape: Shape, depth: int) -> Node:
        r = self.rng
        named = [n for n, s in list(sc.params.items()) + list(sc.bindings.items())
                 if s == shape]
        if named and r.random() < 0.75:
            n = r.choice(named)
            return leaf(n, shape, n)
        if len(shape) == 1:
            kids = [self.scalar(sc, min(depth, 1)) for _ in range(shape[0])]
            return op("[" + ", ".join(f"{{{i}}}" for i in range(shape[0])) + "]", shape,
                      *kids)
        rows, cols = shape
        kids = [self.scalar(sc, 0) for _ in range(rows * cols)]
        text = "[" + ", ".join("[" + ", ".join(f"{{{i * cols + j}}}" for j in range(cols))
                               + "]" for i in range(rows)) + "]"
        return op(text, shape, *kids)

    # -- guarded built-ins (elementwise, any shape) -------------------------------------
    def unary(self, name: str, a: Node) -> Node:
        r, s = self.rng, a.shape
        bare = r.random() < self.raw
        if name in LOG_LIKE:
            if bare:
                return op(f"{name}({{0}})", s, a)
            return op(r.choice((f"{name}(0.5 + ({{0}})^2)", f"{name}(abs({{0}}) + 0.25)",
                                f"{name}(1 + ({{0}})²)")), s, a)
        if name in UNIT_DOMAIN:
            if bare:
                return op(f"{name}({{0}})", s, a)
            return op(r.choice((f"{name}(0.9tanh({{0}}))", f"{name}(0.8sin({{0}}))",
                                f"{name}(({{0}}) / (1 + abs({{0}})))")), s, a)
        if name in EXP_LIKE:
            if bare:
                return op(f"{name}({{0}})", s, a)
            return op(r.choice((f"{name}(2sin({{0}}))", f"{name}(3tanh({{0}}))",
                                f"{name}(({{0}}) / (1 + ({{0}})^2))")), s, a)
        if name == "tan":
            return op("tan({0})" if bare else "tan(1.2tanh({0}))", s, a)
        if name == "acosh":
            return op("acosh({0})" if bare else "acosh(1 + ({0})^2)", s, a)
        if name == "log1p":
            return op("log1p({0})" if bare else "log1p(({0})^2)", s, a)
        if name in STEPS:
            return op(r.choice((f"{name}({{0}})", f"{name}(3({{0}}))")), s, a)
        assert name in ANY_ARG, name
        return op(f"{name}({{0}})", s, a)

    def binary(self, sc: Scope, a: Node, b: Node, shape: Shape) -> Node:
        """An elementwise two-argument operation (broadcasting where shapes differ)."""
        r = self.rng
        kind = r.choice(("+", "-", "*", "/", "^", "atan2", "pow", "hypot", "max", "min",
                         "logb", "*", "+", "implicit"))
        if kind in ("^", "logb") and a.shape != shape:
            a = b                       # a one-operand form takes the operand of full shape
        if kind in ("+", "-", "*"):
            return op(f"({{0}}) {kind} ({{1}})", shape, a, b)
        if kind == "implicit":              # juxtaposition: (a)(b)
            return op("({0})({1})", shape, a, b)
        if kind == "/":
            if r.random() < self.raw:
                return op("({0}) / ({1})", shape, a, b)
            return op(r.choice(("({0}) / (1 + ({1})^2)", "({0}) / (2 + sin({1}))")), shape,
                      a, b)
        if kind == "^":
            e = r.choice(("2", "3", "²", "³", "-1", "-2", "0.5", "1.5", "(1/3)", "-0.5",
                          "4"))
            if e in ("²", "³"):
                return op(f"({{0}}){e}", shape, a)
            if e in ("2", "3", "4") or r.random() < self.raw:
                return op(f"({{0}})^{e}", shape, a)
            return op(f"(0.5 + ({{0}})^2)^{e}", shape, a)
        if kind == "pow":
            if r.random() < self.raw:
                return op("pow({0}, {1})", shape, a, b)
            return op("pow(0.5 + ({0})^2, {1})", shape, a, b)
        if kind == "logb":
            base = r.choice(("2", "10", "3", "0.5"))
            return op(f"log(1 + ({{0}})^2, {base})", shape, a)
        if kind in ("max", "min") and shape == () and r.random() < 0.5:
            c = self.scalar_leaf(sc)
            return op(f"{kind}({{0}}, {{1}}, {{2}})", shape, a, b, c)
        return op(f"{kind}({{0}}, {{1}})", shape, a, b)

    def condition(self, sc: Scope, depth: int, shape: Shape = ()) -> Node:
        r = self.rng
        if shape == ():
            lhs = self.scalar(sc, max(0, depth - 1))
            rhs = self.scalar(sc, 0) if r.random() < 0.6 else leaf(r.choice(("0", "1", "0.5")))
        else:
            lhs = self.array(sc, shape, max(0, depth - 1))
            rhs = leaf(r.choice(("0", "0.5", "-0.5")))
        c = op(f"{{0}} {r.choice(RELATIONS)} {{1}}", COND, lhs, rhs)
        roll = r.random()
        if roll < 0.2 and shape == ():
            other = self.condition(sc, 0)
            c = op(f"{{0}} {r.choice(('and', 'or'))} {{1}}", COND, c, other)
        elif roll < 0.3:
            c = op("not ({0})", COND, c)
        return c

    def where(self, sc: Scope, depth: int, shape: Shape) -> Node:
        r = self.rng
        cond_shape = shape if shape and r.random() < 0.5 else ()
        cond = self.condition(sc, depth, cond_shape)
        a, b = self.expr(sc, shape, depth - 1), self.expr(sc, shape, depth - 1)
        if self.raw and r.random() < 0.3:
            # an untaken branch that can be NaN or inf: the where must not let it through
            a = op(r.choice(("sqrt({0})", "log({0})", "1 / ({0})", "acosh({0})",
                             "exp(1000({0}))")), a.shape, a)
        if r.random() < 0.5:
            a, b = b, a
        return op("where({0}, {1}, {2})", shape, cond, a, b)

    # -- expressions -----------------------------------------------------------------
    def expr(self, sc: Scope, shape: Shape, depth: int) -> Node:
        return self.scalar(sc, depth) if shape == () else self.array(sc, shape, depth)

    def helper_call(self, sc: Scope, shape: Shape, depth: int) -> Node | None:
        fits = [n for n, (_, out) in sc.helpers.items() if out == shape]
        if not fits:
            return None
        name = self.rng.choice(fits)
        ins, _ = sc.helpers[name]
        args = [self.expr(sc, s, max(0, depth - 1)) for s in ins]
        text = f"{name}(" + ", ".join(f"{{{i}}}" for i in range(len(args))) + ")"
        return op(text, shape, *args, names=(name,))

    def scalar(self, sc: Scope, depth: int) -> Node:
        r = self.rng
        if depth <= 0 or r.random() < 0.15:
            return self.scalar_leaf(sc)
        d = depth - 1
        roll = r.random()
        if roll < 0.3:
            return self.unary(r.choice(ALL_UNARY), self.scalar(sc, d))
        if roll < 0.55:
            return self.binary(sc, self.scalar(sc, d), self.scalar(sc, d), ())
        if roll < 0.63:
            return self.where(sc, depth, ())
        if roll < 0.75:
            call = self.helper_call(sc, (), depth)
            if call is not None:
                return call
            return self.binary(sc, self.scalar(sc, d), self.scalar(sc, d), ())
        if roll < 0.8:
            return op("-{0}", (), self.scalar(sc, d))
        # a reduction of an array
        shape = r.choice(((3,), (3,), (2,), (2, 3)))
        x = self.array(sc, shape, d)
        if len(shape) == 2:
            fn = r.choice(("sum", "mean", "max", "min", "prod"))
            return op(f"{fn}({{0}})", (), x)
        fn = r.choice(("sum", "mean", "prod", "dot", "norm", "logsumexp", "max", "min",
                       "matmul"))
        if fn == "dot":
            return op("dot({0}, {1})", (), x, self.array(sc, shape, d))
        if fn == "matmul":
            return op("({0}) @ ({1})", (), x, self.array(sc, shape, d))
        if fn == "norm" and r.random() > self.raw:
            return op("norm(0.5 + ({0})^2)", (), x)      # away from norm's kink at 0
        return op(f"{fn}({{0}})", (), x)

    def array(self, sc: Scope, shape: Shape, depth: int) -> Node:
        r = self.rng
        if depth <= 0 or r.random() < 0.2:
            return self.array_leaf(sc, shape, depth)
        d = depth - 1
        roll = r.random()
        if roll < 0.25:
            return self.unary(r.choice(ALL_UNARY), self.array(sc, shape, d))
        if roll < 0.5:
            other = self.array(sc, shape, d) if r.random() < 0.6 else self.scalar(sc, d)
            a, b = self.array(sc, shape, d), other
            if r.random() < 0.5:
                a, b = b, a
            return self.binary(sc, a, b, shape)
        if roll < 0.58:
            return self.where(sc, depth, shape)
        if roll < 0.68:
            call = self.helper_call(sc, shape, depth)
            if call is not None:
                return call
        if roll < 0.85:
            m = self.array(sc, (2, 3), d) if r.random() < 0.5 else leaf("M", (2, 3), "M") \
                if "M" in sc.params else self.array(sc, (2, 3), d)
            if shape == (2,):
                return op("({0}) @ ({1})", shape, m, self.array(sc, (3,), d))
            if shape == (3,):
                if r.random() < 0.5:
                    return op("({0}) @ ({1})", shape, self.array(sc, (2,), d), m)
                t = r.choice(("transpose({0}) @ ({1})", "({0})' @ ({1})"))
                return op(t, shape, m, self.array(sc, (2,), d))
            if shape == (2, 3):
                return op("softmax({0})", shape, self.array(sc, shape, d))
        if len(shape) == 1 and r.random() < 0.5:
            return op("softmax({0})", shape, self.array(sc, shape, d))
        if shape == (2,) and r.random() < 0.5:
            return op("logsumexp({0})", shape, self.array(sc, (2, 3), d))
        if shape == (2, 3):      # broadcasting a row or a scalar over a matrix
            return op("({0}) + ({1})", shape, self.array(sc, shape, d),
                      self.array(sc, (3,), d) if r.random() < 0.5 else self.scalar(sc, d))
        return op("({0}) * ({1})", shape, self.array(sc, shape, d), self.scalar(sc, d))

    # -- statements ---------------------------------------------------------------------
    def scope_for(self, params: dict[str, Shape]) -> Scope:
        """What a function with these parameters may use: a binding is usable when its
        parameter names are all parameters here and no parameter shadows a name it uses."""
        usable = {}
        for n, b in self.bindings.items():
            if n in params or not b.free <= set(params) or (b.refs - b.free) & set(params):
                continue
            usable[n] = b.shape
        helpers = {n: sig for n, sig in self.helpers.items()
                   if n not in params and not (self.helper_refs[n] & set(params))}
        constants = tuple(c for c in ("pi", "e", "π") if c not in params)
        return Scope(dict(params), usable, helpers, constants)

    def binding(self, name: str) -> Statement:
        r = self.rng
        # over a few scalar names from the pool (often those helpers will take), or over
        # nothing, or over an array parameter
        roll = r.random()
        if roll < 0.15:
            params: dict[str, Shape] = {}
        elif roll < 0.8:
            params = {n: () for n in r.sample(SCALARS, r.randint(1, 2))}
        else:
            n = r.choice(list(VECTORS))
            params = {n: VECTORS[n], r.choice(SCALARS): ()}
        sc = self.scope_for(params)
        shape: Shape = () if r.random() < 0.8 or not any(params.values()) else \
            next(s for s in params.values() if s)
        body = self.expr(sc, shape, r.randint(1, 2))
        used = body.all_names()
        free = set(used) & set(params)
        refs = set(used)
        for b in used & set(self.bindings):
            free |= self.bindings[b].free
            refs |= self.bindings[b].refs
        for h in used & set(self.helpers):
            refs |= self.helper_refs[h]
        self.bindings[name] = _Binding(shape, frozenset(refs), frozenset(free))
        return Statement(name, body)

    def params_for(self, helper: bool) -> dict[str, Shape]:
        r = self.rng
        # prefer names that bindings use, so bindings naming helper parameters are common
        wanted = [n for b in self.bindings.values() for n in sorted(b.free)]
        names: list[str] = []
        for _ in range(r.randint(1, 3)):
            pick = r.choice(wanted) if wanted and r.random() < 0.6 else r.choice(list(POOL))
            if pick not in names:
                names.append(pick)
        if r.random() < 0.15:                       # shadow a constant
            names.append(r.choice(CONSTANT_NAMES))
        if r.random() < 0.15 and self.bindings:     # shadow a binding
            names.append(r.choice(list(self.bindings)))
        if not helper and r.random() < 0.1 and self.helpers:   # shadow a helper
            names.append(r.choice(list(self.helpers)))
        seen: dict[str, Shape] = {}
        for n in names:
            if n not in seen:
                seen[n] = POOL.get(n, ())
        return seen

    def function(self, name: str, helper: bool) -> Statement:
        r = self.rng
        params = self.params_for(helper)
        sc = self.scope_for(params)
        out: Shape = () if helper and r.random() < 0.7 or r.random() < 0.8 else \
            r.choice(((2,), (3,)))
        body = self.expr(sc, out, r.randint(2, self.max_depth))
        if helper:
            used = body.all_names()
            refs = set(used)
            for b in used & set(self.bindings):
                refs |= self.bindings[b].refs
            for h in used & set(self.helpers):
                refs |= self.helper_refs[h]
            self.helpers[name] = (tuple(params.values()), out)
            self.helper_refs[name] = frozenset(refs - set(params))
        return Statement(name, body, tuple(params.items()), helper)


def generate(seed: int, functions: int = 6, max_depth: int = 4, raw: float = 0.1) -> Program:
    """A program of ``functions`` main functions, with helpers and bindings between them."""
    rng = random.Random(seed)
    g = Generator(rng, raw=raw, max_depth=max_depth)
    out: list[Statement] = []
    names = iter(BINDING_NAMES)
    nb = nh = nf = 0
    while nf < functions:
        roll = rng.random()
        if roll < 0.25 and nb < len(BINDING_NAMES):
            out.append(g.binding(next(names)))
            nb += 1
        elif roll < 0.5 and nh < 4:
            out.append(g.function(f"h{nh}", helper=True))
            nh += 1
        else:
            out.append(g.function(f"f{nf}", helper=False))
            nf += 1
    return Program(tuple(out), seed)


def programs(functions: int = 3, max_depth: int = 4, raw: float = 0.1):
    """A hypothesis strategy of programs (drawn by seed, so a failure names its seed)."""
    from hypothesis import strategies as st
    return st.integers(0, 2**31 - 1).map(
        lambda seed: generate(seed, functions=functions, max_depth=max_depth, raw=raw))


# ------------------------------------------------------------------ points -----------

SPECIAL = (0.0, 1.0, -1.0, 0.5, -0.5, 2.0)


def points(seed: int, name: str, params: tuple[tuple[str, Shape], ...], n: int
           ) -> list[dict[str, object]]:
    """``n`` points for function ``name`` of program ``seed`` (the same whatever else the
    program holds, so a minimised program sees them too): uniform in [-2, 2], some
    coordinates at special values (0, ±1...) where kinks, ties and where-conditions sit."""
    import numpy as np
    rng = random.Random(f"{seed}/{name}")
    out = []
    for k in range(n):
        pt: dict[str, object] = {}
        special = k > 0 and rng.random() < 0.3
        for name, shape in params:
            size = 1
            for d in shape:
                size *= d
            vals = [rng.choice(SPECIAL) if special and rng.random() < 0.4
                    else rng.uniform(-2, 2) for _ in range(size)]
            pt[name] = vals[0] if not shape else np.array(vals).reshape(shape)
        out.append(pt)
    return out


# ------------------------------------------------------------------ minimising -------

def _replacements(node: Node) -> Iterator[Node]:
    """Smaller nodes of the same shape: each child of that shape, then a leaf."""
    for k in node.kids:
        if k.shape == node.shape:
            yield k
    if not node.kids or node.shape == COND:
        return
    if node.shape == ():
        yield leaf("0.5")
    elif len(node.shape) == 1:
        yield leaf("[" + ", ".join(["0.5"] * node.shape[0]) + "]", node.shape)
    else:
        row = "[" + ", ".join(["0.5"] * node.shape[1]) + "]"
        yield leaf("[" + ", ".join([row] * node.shape[0]) + "]", node.shape)


def _variants(node: Node) -> Iterator[Node]:
    """Every node obtained by shrinking one subtree of ``node``."""
    yield from _replacements(node)
    for i, k in enumerate(node.kids):
        for v in _variants(k):
            yield replace(node, kids=node.kids[:i] + (v,) + node.kids[i + 1:])


def closure(prog: Program, keep: str) -> Program:
    """``prog`` with only ``keep`` and the statements it depends on."""
    need = {keep}
    kept: list[Statement] = []
    for st in reversed(prog.statements):
        if st.name in need:
            kept.append(st)
            need |= st.body.all_names()
    return Program(tuple(reversed(kept)), prog.seed)


def minimise(prog: Program, name: str, fails, budget: int = 300) -> Program:
    """A smaller program on which ``fails(program, name)`` still holds: the function's
    dependencies only, then subtrees shrunk greedily (at most ``budget`` tries)."""
    prog = closure(prog, name)
    tries = 0
    improved = True
    while improved and tries < budget:
        improved = False
        for i, st in enumerate(prog.statements):
            for body in _variants(st.body):
                tries += 1
                if tries > budget:
                    return prog
                cand = Program(prog.statements[:i] + (replace(st, body=body),)
                               + prog.statements[i + 1:], prog.seed)
                cand = closure(cand, name)
                try:
                    bad = fails(cand, name)
                except Exception:          # noqa: BLE001 - an invalid shrink is skipped
                    bad = False
                if bad:
                    prog, improved = cand, True
                    break
            if improved:
                break
    return prog
