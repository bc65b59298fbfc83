"""Program construction and clean-up: flattening into single operations, value numbering
(CSE), constant folding, dead-code elimination and operation counts."""

from __future__ import annotations

import sympy as sp
from sympy.logic.boolalg import BooleanFunction

from .arith import total
from .evaluate import evaluate
from .functions import LogSumExp, Maximum, Minimum, Relu, Where, from_float, relation
from .ir import Assign, Buffer, Loop, Output, Param, Program, Read, Statement, Write, uses
from .ops import SMALL_POWER, op_of

__all__ = ["SMALL_POWER", "Builder", "fold_constant", "program", "op_count", "count_ops"]


def is_operand(e: sp.Basic) -> bool:
    return not e.args


def _is_condition(e: sp.Basic) -> bool:
    return isinstance(e, (sp.core.relational.Relational, BooleanFunction))


def inline_ok(child: sp.Basic, parent: sp.Basic) -> bool:
    """Whether ``child`` may stay inside ``parent``'s statement rather than get its own.

    ``a - b`` (Add with -1*b), ``a + 2*b``, ``a / b`` (Mul with b**-1) and the condition of
    a ``where`` are one statement each, as the printers write them.
    """
    if isinstance(parent, sp.Add) and isinstance(child, sp.Mul):
        return len(child.args) == 2 and child.args[0].is_Number and is_operand(child.args[1])
    if isinstance(parent, sp.Mul) and isinstance(child, sp.Pow):
        return is_operand(child.base) and child.exp == -1
    if isinstance(parent, (Where, BooleanFunction)) and _is_condition(child):
        return True
    return False


class Builder:
    """Appends single-operation statements, sharing every repeated right-hand side."""

    def __init__(self, prefix: str = "_t", start: int = 0,
                 parent: Builder | None = None) -> None:
        self.prefix = prefix
        # one counter for a builder and the builders of the loop bodies inside it, so
        # that every name in a program is unique
        self._count = parent._count if parent is not None else [start]
        self.body: list[Statement] = []
        self.table: dict[sp.Basic, sp.Symbol] = {}

    @property
    def counter(self) -> int:
        return self._count[0]

    @counter.setter
    def counter(self, value: int) -> None:
        self._count[0] = value

    def fresh(self, prefix: str) -> sp.Symbol:
        """A new symbol ``prefix<n>`` (a loop index, a carried value), unique in the
        program."""
        self.counter += 1
        return sp.Symbol(f"{prefix}{self.counter}")

    def preload(self, body: tuple[Statement, ...]) -> None:
        """Continue a program: its statements stay, and their values are shared."""
        for a in body:
            self.body.append(a)
            if isinstance(a, Assign):
                self.table.setdefault(a.expr, a.target)

    def emit(self, expr: sp.Basic) -> sp.Expr:
        """The operand (symbol or number) holding the value of ``expr``."""
        if is_operand(expr):
            return expr
        return self._assign(self._flatten(expr))

    def _assign(self, expr: sp.Basic) -> sp.Expr:
        if is_operand(expr):
            return expr
        if not expr.free_symbols and not _is_condition(expr):
            return fold_constant(expr)
        hit = self.table.get(expr)
        if hit is not None:
            return hit
        self.counter += 1
        target = sp.Symbol(f"{self.prefix}{self.counter}")
        self.table[expr] = target
        self.body.append(Assign(target, expr))
        return target

    def _flatten(self, root: sp.Basic) -> sp.Basic:
        # Post-order with an explicit stack: expressions from the derivative rules are
        # shallow, but nothing here may depend on Python's recursion limit.
        done: dict[sp.Basic, sp.Basic] = {}
        stack: list[tuple[sp.Basic, bool]] = [(root, False)]
        while stack:
            node, ready = stack.pop()
            if node in done:
                continue
            if is_operand(node):
                done[node] = node
                continue
            if not ready:
                stack.append((node, True))
                stack.extend((a, False) for a in node.args if a not in done)
                continue
            args = []
            for a in node.args:
                flat = done[a]
                if not is_operand(flat) and not inline_ok(flat, node):
                    flat = self._assign(flat)
                args.append(flat)
            op = op_of(node)
            if op is not None and op.expand is not None:    # kernels do not run it whole
                done[node] = self._flatten(op.expand(*args))
            elif isinstance(node, sp.core.relational.Relational):
                done[node] = relation(type(node), *args)
            elif all(x is y for x, y in zip(args, node.args)):
                done[node] = node     # as built: rebuilding would let SymPy rewrite x/x
            elif isinstance(node, sp.Add):
                done[node] = total(args)      # no cancellation that IEEE would not do
            else:
                done[node] = node.func(*args)
        return done[root]


def fold_constant(expr: sp.Basic) -> sp.Expr:
    """A constant expression (``sin(1)``, ``pi/2``) as one number: its value in float64,
    operation by operation, as a kernel computes it (never to more digits first)."""
    if isinstance(expr, sp.Number):
        return expr
    return from_float(evaluate(expr, {}))


def program(name: str, params: tuple[Param, ...], builder: Builder,
            outputs: tuple[Output, ...], line: int = 0,
            labels: tuple[tuple[sp.Symbol, str], ...] = (),
            buffers: tuple[Buffer, ...] = ()) -> Program:
    """A Program of the builder's statements that the outputs need (dead code removed)."""
    def roots() -> set[sp.Basic]:
        return {e for o in outputs for e in o.exprs if isinstance(e, sp.Symbol)}

    kept = prune(builder.body, roots())
    # a buffer nothing reads (a tape whose values the reverse sweep did not need) is not
    # written either; dropping its writes may leave more dead code, so repeat
    while True:
        walked = list(walk_all(kept))
        read = {s.array for s in walked if isinstance(s, Read) or
                isinstance(s, Write) and s.add}
        dead = {s.array for s in walked if isinstance(s, Write) and s.array not in read
                and s.array in {b.name for b in buffers}}
        if not dead:
            break
        kept = prune(_without_writes(kept, dead), roots())
    # labels of statements, loop indices and carried values, in loops too
    defined = set()
    for a in walk_all(kept):
        if isinstance(a, (Assign, Read)):
            defined.add(a.target)
        elif isinstance(a, Loop):
            defined.add(a.index)
            defined.update(x for c in a.carries for x in (c.var, c.out))
    used = {s.array for s in walk_all(kept) if isinstance(s, (Read, Write))}
    return Program(name, params, tuple(kept), outputs, line,
                   tuple((s, n) for s, n in labels if s in defined),
                   tuple(b for b in buffers if b.name in used))


def _without_writes(body, arrays: set[str]) -> list[Statement]:
    out: list[Statement] = []
    for s in body:
        if isinstance(s, Write) and s.array in arrays:
            continue
        if isinstance(s, Loop):
            s = Loop(s.index, s.start, s.stop, s.carries,
                     tuple(_without_writes(s.body, arrays)), s.reverse, s.until, s.tol)
        out.append(s)
    return out


def walk_all(body):
    from .ir import walk
    return walk(tuple(body))


def prune(body: list[Statement] | tuple[Statement, ...], live: set[sp.Basic]
          ) -> tuple[Statement, ...]:
    """The statements of ``body`` that compute ``live`` symbols or write arrays, in order
    (``live`` gains what they read). A loop is kept whole when it writes or one of its
    results is live; its body is pruned to what its carries and writes need."""
    kept: list[Statement] = []
    for a in reversed(body):
        if isinstance(a, (Assign, Read)):
            if a.target in live:
                kept.append(a)
                live |= a.expr.free_symbols if isinstance(a, Assign) else a.index.symbols()
        elif isinstance(a, Write):
            kept.append(a)
            live |= uses(a)
        else:
            writes = any(isinstance(s, Write) for s in walk_all(a.body))
            if not writes and not any(c.out in live for c in a.carries):
                continue
            inner = {c.next for c in a.carries if isinstance(c.next, sp.Symbol)}
            if a.until is not None:
                inner |= a.until.free_symbols
            loop = Loop(a.index, a.start, a.stop, a.carries, prune(a.body, inner), a.reverse,
                        a.until, a.tol)
            kept.append(loop)
            live |= uses(loop)
    kept.reverse()
    return tuple(kept)


def op_count(expr: sp.Basic) -> int:
    """Arithmetic operations and calls in one statement, as the printers emit it."""
    if is_operand(expr):
        return 0
    if isinstance(expr, sp.Add):
        n = len(expr.args) - 1
        for a in expr.args:
            if isinstance(a, sp.Mul):
                n += 0 if a.args[0] == -1 else 1
        return n
    if isinstance(expr, sp.Mul):
        return len(expr.args) - 1 + (1 if len(expr.args) == 1 else 0)
    if isinstance(expr, sp.Pow):
        e = expr.exp
        if e.is_Integer and 0 < abs(e) <= SMALL_POWER:
            return abs(int(e)) - 1 + (1 if e < 0 else 0)
        if e == sp.Rational(-1, 2):
            return 2
        return 1
    if isinstance(expr, (Maximum, Minimum)):
        return len(expr.args) - 1
    if isinstance(expr, LogSumExp):
        return 3 * (len(expr.args) - 1) + 1
    if isinstance(expr, (sp.And, sp.Or)):
        return len(expr.args) - 1 + sum(op_count(a) for a in expr.args)
    if isinstance(expr, sp.Not):
        return 1 + op_count(expr.args[0])
    if isinstance(expr, Where):
        return 1 + op_count(expr.args[0])
    return 1


def assigns(prog: Program):
    """Every Assign of a program, in its loops too (each once, as written)."""
    return (a for a in walk_all(prog.body) if isinstance(a, Assign))


def count_selections(prog: Program) -> int:
    """Statements that choose between values (where, max, min, relu, sign): each is a
    branch for Numba's front end, whose compile time grows faster than linearly in them,
    while the LLVM backend emits them as ``select`` instructions."""
    return sum(isinstance(a.expr, (Where, Maximum, Minimum, Relu, sp.sign))
               for a in assigns(prog))


def count_ops(prog: Program) -> int:
    """Operations as written: a loop's body counts once, whatever its trip count."""
    return sum(op_count(a.expr) for a in assigns(prog))
