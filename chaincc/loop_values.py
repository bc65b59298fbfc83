"""A forward Program with loops evaluated at one point, forward and backward, in float64.

``chaincc explain --at`` shows a loop's values at its first and last iterations and the
totals its adjoint sums; this module computes them. The forward pass runs the program
statement by statement (each operation's float64 meaning from ``evaluate``), keeping
every iteration's values (a tape); the backward pass walks the statements in reverse
with the rule table (``rules.contributions``), as the compiler's sweep does: a loop runs
backwards from its carried values' adjoints, a ``where``/``max``/``min`` gives its whole
adjoint to the argument it picked and nothing to the other, an element read gives its
adjoint to its array's element, an element written takes it from there.

The work is bounded: past ``MAX_STATEMENTS`` executed statements the run stops
(``TooLong``) and the caller shows formulas without values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from .adjoint import selection
from .evaluate import _apply, _leaf
from .ir import Affine, Assign, Loop, Program, Read, Statement, Write, defined
from .ops import F64, SMALL_POWER, power
from .rules import contributions

MAX_STATEMENTS = 500_000       # statements executed, forward and backward together
SOLUTION = -1                  # LoopRecord.back's key for a fixed point's adjoint

_A = sp.Dummy("adjoint")       # the adjoint in a contribution formula
Env = dict


class TooLong(Exception):
    """The program runs more statements than ``MAX_STATEMENTS`` at this point."""


@dataclass
class Iteration:
    """One iteration of a loop: the values of its body (and carried values, and the
    index as a number), and the instances of the loops in its body."""

    index: int
    values: dict[sp.Basic, float]
    inner: dict[int, list[Iteration]] = field(default_factory=dict)


@dataclass
class Back:
    """One iteration's backward pass, for display: the adjoint each body value got
    (``adjoints``), the carried values' adjoints going in (of the nexts) and out (of the
    vars), and what the iteration added to values outside the loop (``outward``)."""

    adjoints: dict[sp.Basic, float] = field(default_factory=dict)
    bars_in: list[float | None] = field(default_factory=list)
    bars_out: list[float | None] = field(default_factory=list)
    outward: dict[sp.Basic, float] = field(default_factory=dict)


@dataclass
class LoopRecord:
    """A loop of the program's top level: its iterations forward, the backward pass of
    its first and last, and its total contributions to the values outside it."""

    iterations: list[Iteration]
    back: dict[int, Back] = field(default_factory=dict)
    outward: dict[sp.Basic, float] = field(default_factory=dict)
    seeds: list[float | None] = field(default_factory=list)   # the outs' adjoints
    solution: dict[sp.Basic, float] = field(default_factory=dict)  # a fixed point's body


@dataclass
class Run:
    values: dict[sp.Basic, float]                 # top-level values (and parameters)
    adjoints: dict[sp.Basic, float]               # adjoint of every top-level value
    loops: dict[int, LoopRecord]                  # by id() of a top-level Loop
    arrays: dict[str, np.ndarray]                 # parameters' (and buffers') values
    array_adjoints: dict[str, np.ndarray]         # parameters' gradients (flat)
    value: float


class _Compiled:
    """Expressions as closures over an environment (the float64 meaning of
    ``evaluate``, without its per-call walk)."""

    def __init__(self) -> None:
        self.cache: dict[sp.Basic, Callable[[Env], float]] = {}

    def __call__(self, expr: sp.Basic) -> Callable[[Env], float]:
        hit = self.cache.get(expr)
        if hit is not None:
            return hit
        # post-order without recursion: statements and rules are shallow, but a walk
        # here never depends on the recursion limit
        stack: list[tuple[sp.Basic, bool]] = [(expr, False)]
        while stack:
            node, ready = stack.pop()
            if node in self.cache:
                continue
            if isinstance(node, sp.Symbol):
                self.cache[node] = _symbol(node)
                continue
            if not node.args:
                self.cache[node] = _constant(_leaf(node, {}))
                continue
            if not ready:
                stack.append((node, True))
                stack.extend((a, False) for a in node.args if a not in self.cache)
                continue
            self.cache[node] = _operation(node, self.cache)
        return self.cache[expr]


def _symbol(s: sp.Symbol) -> Callable[[Env], float]:
    return lambda env: env[s]


def _constant(v: float | bool) -> Callable[[Env], float]:
    return lambda env: v


def _operation(node: sp.Basic, fns: dict) -> Callable[[Env], float]:
    """``node`` as a closure, with its structure read once: sums and products as
    ``evaluate`` computes them (in argument order; a product's divisors divided once),
    powers by ``ops.power``, anything else by ``evaluate``'s own dispatch. ``fns`` is the
    whole cache: a product reads its divisors' bases (x in x**-1)."""
    if isinstance(node, sp.Add):
        terms = [fns[a] for a in node.args]
        first, rest = terms[0], terms[1:]

        def add(env: Env) -> float:
            acc = first(env)
            for g in rest:
                acc = acc + g(env)
            return acc
        return add
    if isinstance(node, sp.Mul):
        args = list(node.args)
        neg = args[0] == -1
        if neg:
            args = args[1:]
        num = [fns[a] for a in args if not (isinstance(a, sp.Pow) and a.exp == -1)]
        den = [fns[a.base] for a in args if isinstance(a, sp.Pow) and a.exp == -1]

        def mul(env: Env) -> float:
            acc = num[0](env) if num else 1.0
            for g in num[1:]:
                acc = acc * g(env)
            if den:
                d = den[0](env)
                for g in den[1:]:
                    d = d * g(env)
                acc = F64.div(acc, d)
            return -acc if neg else acc
        return mul
    if isinstance(node, sp.Pow):
        base, exp = fns[node.base], fns[node.exp]
        e = node.exp
        if e.is_Integer and 0 < abs(e) <= SMALL_POWER:       # as ops.power does it
            n, inverse = abs(int(e)), e < 0

            def small(env: Env) -> float:
                b = base(env)
                acc = b
                for _ in range(n - 1):
                    acc = acc * b
                return F64.div(1.0, acc) if inverse else acc
            return small
        return lambda env: power(F64, base(env), e, exp(env))

    def other(env: Env) -> float:
        r = _apply(node, lambda a: fns[a](env))
        return r if isinstance(r, bool) else float(r)
    return other


class _Interpreter:
    def __init__(self, prog: Program, arrays: dict[str, np.ndarray]) -> None:
        self.prog = prog
        self.fn = _Compiled()
        self.arrays = arrays
        self.steps = 0
        self.indices: set[sp.Symbol] = {s.index for s in _loops(prog.body)}
        self.rules: dict[int, list[tuple[sp.Basic, Callable[[Env], float]]]] = {}
        self.picks: dict[int, tuple | None] = {}
        self.locals: dict[int, frozenset] = {}

    def tick(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > MAX_STATEMENTS:
            raise TooLong

    # -- forward -------------------------------------------------------------------
    def forward(self, body: tuple[Statement, ...], env: Env,
                tape: dict[int, list[Iteration]]) -> None:
        for s in body:
            if isinstance(s, Assign):
                env[s.target] = self.fn(s.expr)(env)
                self.tick()
            elif isinstance(s, Read):
                env[s.target] = float(self.arrays[s.array][self.at(s.index, env)])
                self.tick()
            elif isinstance(s, Write):
                v = self.fn(s.value)(env)
                k = self.at(s.index, env)
                arr = self.arrays[s.array]
                arr[k] = arr[k] + v if s.add else v
                self.tick()
            else:
                tape[id(s)] = self.loop(s, env)

    def loop(self, loop: Loop, env: Env) -> list[Iteration]:
        current = [self.fn(c.init)(env) for c in loop.carries]
        names = self.body_symbols(loop)
        out: list[Iteration] = []
        for k in self.trips(loop, env):
            env[loop.index] = float(k)
            for c, v in zip(loop.carries, current):
                env[c.var] = v
            inner: dict[int, list[Iteration]] = {}
            self.forward(loop.body, env, inner)
            current = [self.fn(c.next)(env) for c in loop.carries]
            out.append(Iteration(k, {s: env[s] for s in names if s in env}, inner))
            if loop.until is not None and self.fn(loop.until)(env):
                break                   # a fixed point: converged
        for c, v in zip(loop.carries, current):
            env[c.out] = v
        return out

    def trips(self, loop: Loop, env: Env) -> range:
        if loop.reverse:
            return range(self.at(loop.stop, env) - 1, self.at(loop.start, env) - 1, -1)
        return range(self.at(loop.start, env), self.at(loop.stop, env))

    def body_symbols(self, loop: Loop) -> frozenset:
        hit = self.locals.get(id(loop))
        if hit is None:
            own = {s.target for s in loop.body if isinstance(s, (Assign, Read))}
            own |= {c.var for c in loop.carries} | {loop.index}
            hit = self.locals[id(loop)] = frozenset(own)
        return hit

    @staticmethod
    def at(a: Affine, env: Env) -> int:
        return a.const + sum(c * int(env[v]) for c, v in a.terms)

    # -- backward ------------------------------------------------------------------
    def backward(self, body: tuple[Statement, ...], env: Env, tape: dict[int, list],
                 adj: dict, arr: dict[str, dict[int, float]], frame: _Frame | None,
                 log: Back | None, records: dict[int, LoopRecord] | None) -> None:
        for s in reversed(body):
            if isinstance(s, Assign):
                a = adj.pop(s.target, None)
                if a is None:
                    continue
                self.tick()
                if log is not None:
                    log.adjoints[s.target] = a
                self.assign(s, a, env, adj, frame, log)
            elif isinstance(s, Read):
                a = adj.pop(s.target, None)
                if a is None:
                    continue
                if log is not None:
                    log.adjoints[s.target] = a
                k = self.at(s.index, env)
                elems = arr.setdefault(s.array, {})
                elems[k] = elems.get(k, 0.0) + a
            elif isinstance(s, Write):
                elems = arr.get(s.array, {})
                k = self.at(s.index, env)
                a = elems.pop(k, None)
                if a is not None and isinstance(s.value, sp.Symbol):
                    self.push(adj, s.value, a, frame, log)
            else:
                rec = None
                if records is not None:
                    rec = records[id(s)] = LoopRecord(tape[id(s)])
                if log is not None:
                    for c in s.carries:
                        log.adjoints[c.out] = adj.get(c.out, 0.0)
                self.back_loop(s, tape[id(s)], env, adj, arr, frame, rec, log)

    def assign(self, s: Assign, a: float, env: Env, adj: dict, frame, log) -> None:
        key = id(s)
        if key not in self.picks:
            self.picks[key] = selection(s.expr)
            if self.picks[key] is None:
                self.rules[key] = [(x, self.fn(c)) for x, c in
                                   contributions(s.expr, s.target, _A)]
        pick = self.picks[key]
        if pick is not None:
            cond, x, y = pick
            chosen = x if self.fn(cond)(env) else y
            if isinstance(chosen, sp.Symbol):
                self.push(adj, chosen, a, frame, log)
            return
        env[_A] = a
        for x, f in self.rules[key]:
            self.push(adj, x, f(env), frame, log)

    def push(self, adj: dict, x: sp.Basic, c: float, frame: _Frame | None,
             log: Back | None) -> None:
        if x in self.indices:
            return
        adj[x] = adj[x] + c if x in adj else c
        if frame is not None and x not in frame.local:
            frame.outward[x] = frame.outward.get(x, 0.0) + c
            if log is not None:
                log.outward[x] = log.outward.get(x, 0.0) + c

    def back_loop(self, loop: Loop, iterations: list[Iteration], env: Env, adj: dict,
                  arr: dict, frame: _Frame | None, rec: LoopRecord | None,
                  outer: Back | None = None) -> None:
        """A loop backwards. A top-level loop (``rec``) logs its first and last
        iterations; a loop inside one logs into the iteration around it (``outer``)."""
        if loop.until is not None:
            self.back_fixpoint(loop, iterations, env, adj, arr, frame, rec, outer)
            return
        bars: list[float | None] = [adj.pop(c.out, None) for c in loop.carries]
        if rec is not None:
            rec.seeds = list(bars)
            frame = _Frame(self.body_symbols(loop) | defined(loop.body), rec.outward)
        ends = {iterations[0].index, iterations[-1].index} if iterations else set()
        for it in reversed(iterations):
            env.update(it.values)
            log = Back(bars_in=list(bars)) if rec is not None and it.index in ends else \
                outer if rec is None else None
            for c, b in zip(loop.carries, bars):
                if b is not None and isinstance(c.next, sp.Symbol):
                    self.push(adj, c.next, b, frame, log)
            self.backward(loop.body, env, it.inner, adj, arr, frame, log, None)
            bars = [adj.pop(c.var, None) for c in loop.carries]
            if log is not None and rec is not None:
                log.bars_out = list(bars)
                rec.back[it.index] = log
        for c, b in zip(loop.carries, bars):
            if b is not None and isinstance(c.init, sp.Symbol):
                self.push(adj, c.init, b, None if rec is not None else frame, None)


    def back_fixpoint(self, loop: Loop, iterations: list[Iteration], env: Env, adj: dict,
                      arr: dict, frame: _Frame | None, rec: LoopRecord | None,
                      outer: Back | None = None) -> None:
        """A fixed point's adjoint by the implicit function theorem, as the compiler
        takes it: λ = z̄ + (∂Φ/∂z)ᵀλ at z*, iterated from λ = z̄ until it changes by at
        most the fixed point's tolerance·(1 + |λ|) (NaN if it does not, or if z* did not
        converge); the values Φ reads from outside get (∂Φ/∂θ)ᵀλ; the start nothing."""
        from .adjoint_loops import fixpoint_tol
        seeds = [adj.pop(c.out, None) for c in loop.carries]
        if rec is not None:
            rec.seeds = list(seeds)
            frame = _Frame(self.body_symbols(loop) | defined(loop.body), rec.outward)
        if all(z is None for z in seeds):
            return
        zbar = [0.0 if z is None else z for z in seeds]
        for c in loop.carries:                       # Φ at the solution
            env[c.var] = env[c.out]
        env[loop.index] = float(iterations[-1].index if iterations else 0)
        tape: dict[int, list[Iteration]] = {}
        self.forward(loop.body, env, tape)
        if rec is not None:
            rec.solution = {s: env[s] for s in self.body_symbols(loop) if s in env}
        tol = float(fixpoint_tol(loop))
        lam, solved = list(zbar), False
        for _ in range(max(1, len(self.trips(loop, env)))):
            scratch: dict = {}
            for c, v in zip(loop.carries, lam):
                if isinstance(c.next, sp.Symbol):
                    scratch[c.next] = scratch.get(c.next, 0.0) + v
            self.backward(loop.body, env, tape, scratch, {}, None, None, None)
            new = [zb + scratch.get(c.var, 0.0) for zb, c in zip(zbar, loop.carries)]
            done = all(abs(n - v) <= tol * (1 + abs(v)) for n, v in zip(new, lam))
            lam = new
            if done:
                solved = True
                break
        if not (solved and loop.carries and env[loop.carries[-1].out] > 0.5):
            lam = [math.nan] * len(lam)
        log = Back(bars_in=list(lam), bars_out=list(lam)) if rec is not None else outer
        for c, v in zip(loop.carries, lam):
            if isinstance(c.next, sp.Symbol):
                self.push(adj, c.next, v, frame, log)
        self.backward(loop.body, env, tape, adj, arr, frame, log, None)
        for c in loop.carries:
            adj.pop(c.var, None)
        if rec is not None and log is not None:
            rec.back[SOLUTION] = log


@dataclass
class _Frame:
    """The top-level loop being walked backwards: its own symbols, and the totals it
    adds to the others."""

    local: frozenset
    outward: dict


def _loops(body: tuple[Statement, ...]):
    from .ir import walk
    return (s for s in walk(body) if isinstance(s, Loop))


def statements_run(prog: Program) -> int:
    """How many statements the forward pass runs, at most (each loop at its largest
    trip count)."""
    ranges: dict[sp.Symbol, tuple[int, int]] = {}

    def bounds(a: Affine) -> tuple[int, int]:
        lo = hi = a.const
        for c, v in a.terms:
            vlo, vhi = ranges.get(v, (0, 0))
            lo, hi = lo + min(c * vlo, c * vhi), hi + max(c * vlo, c * vhi)
        return lo, hi

    total = 0
    stack: list[tuple[tuple[Statement, ...], int]] = [(prog.body, 1)]
    while stack:
        body, times = stack.pop()
        for s in body:
            if not isinstance(s, Loop):
                total += times
                continue
            lo, hi = bounds(s.start)[0], bounds(s.stop)[1]
            ranges[s.index] = (lo, max(lo, hi - 1))
            trips = max(0, hi - lo)
            total += times * (1 + trips * len(s.carries))
            stack.append((s.body, times * trips))
    return total


def run(prog: Program, point: dict[str, float | np.ndarray]) -> Run:
    """``prog`` (a forward Program with a scalar value) at ``point`` (a value per
    parameter, arrays in their shapes), forward and backward. Raises ``TooLong`` when
    that would run more than ``MAX_STATEMENTS`` statements."""
    if 2 * statements_run(prog) > MAX_STATEMENTS:
        raise TooLong
    arrays: dict[str, np.ndarray] = {}
    env: Env = {}
    for p in prog.params:
        flat = np.ravel(np.asarray(point[p.name], dtype=float)).copy()
        arrays[p.name] = flat
        for s, v in zip(p.symbols, flat):
            env[s] = float(v)
    for b in prog.buffers:
        arrays[b.name] = np.zeros(b.size)
    for o in prog.outputs:
        if o.written:
            arrays[o.name] = np.zeros(int(np.prod(o.shape)) if o.shape else 1)
    it = _Interpreter(prog, arrays)
    tape: dict[int, list[Iteration]] = {}
    it.forward(prog.body, env, tape)
    (out,) = prog.output("value").exprs
    value = it.fn(out)(env)
    top = dict(env)
    adj: dict = {}
    if isinstance(out, sp.Symbol):
        adj[out] = 1.0
    elem: dict[str, dict[int, float]] = {}
    records: dict[int, LoopRecord] = {}
    log = Back()
    it.backward(prog.body, env, tape, adj, elem, None, log, records)
    adjoints = dict(log.adjoints)
    adjoints.update(adj)
    for s in prog.body:
        if isinstance(s, Loop):
            for c, b in zip(s.carries, records[id(s)].seeds):
                adjoints[c.out] = 0.0 if b is None else b
    if isinstance(out, sp.Symbol):
        adjoints.setdefault(out, 1.0)
    grads: dict[str, np.ndarray] = {}
    for p in prog.params:
        g = np.zeros(p.size)
        for k, v in elem.get(p.name, {}).items():
            g[k] += v
        for k, s in enumerate(p.symbols):
            g[k] += adjoints.get(s, 0.0)
        grads[p.name] = g
    return Run(top, adjoints, records, arrays, grads, value)
