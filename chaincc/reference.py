"""The reference interpreter: the meaning of a source, straight from docs/language.md.

Public API (stable)::

    evaluate(source: str | Source, args: Mapping[str, float | ArrayLike] | Sequence,
             entry: str | None = None) -> tuple[value, dict[str, grad]]

        The entry function's value at ``args`` (float64, rounded once from high
        precision: a float, or an ndarray for a vector-valued function) and its derivative
        per parameter: ``grads[name]`` has the parameter's shape (a float for a scalar
        parameter) for a scalar-valued function, and output shape + parameter shape (the
        Jacobian block) for a vector-valued one. ``args`` maps parameter names to values
        (or lists them in parameter order). ``entry`` defaults to the file's last
        function. Source errors raise ``ChainccError`` located at the offending text
        (every function of the file is checked, as ``chaincc.compile`` does); wrong
        arguments raise ``TypeError``/``ValueError``.

    directional(source, args, directions, entry=None) -> tuple[value, dict[str, deriv]]
        per parameter, the derivative along directions[name] (value-shaped), in one pass
    signature(source, entry=None) -> Signature(name, params, shapes)
    functions(source) -> tuple[str, ...]          # every function, in file order

How it evaluates, independently of the compiler (it shares only the parser, the syntax
tree and diagnostics): the syntax tree is walked directly, with an explicit stack (so
10,000-deep nesting and chains of 1,000 helpers need no recursion), on values that are
numbers of 200 bits (``chaincc/reference_math.py``) carrying their gradient as forward-mode
dual numbers with each operation's own derivative written there. A helper call evaluates
the helper's body in a fresh frame that binds its parameters to the argument VALUES; a
binding is evaluated where it is used, in the frame of the use (its names are looked up
among that frame's parameters and the statements above the binding), and is evaluated
once per frame. A call with the same argument values and gradients is evaluated once
(a pure function of its arguments). ``where`` picks a value and its derivative, so the
branch not taken never contributes; ``max``/``min`` pass on the derivative of the first
argument attaining the extremum; ``relu'(0) = abs'(0) = 0``, and relu' multiplies (it does
not select: 0·nan is nan); sign, floor and ceil have
no derivative. Arrays are NumPy object arrays of dual numbers and broadcast as NumPy does.

Iteration (docs/language.md, "Iteration") is evaluated as written, one index at a time:
a sum or product over ranges adds (multiplies) its body's values in index order starting
from 0 (1); an array defined element by element evaluates its body at every index; a
recurrence's elements are computed in order, each step evaluating its body with the range
variable bound, on demand (reading ``h[k]`` computes the elements up to k; states read
each other's elements, so several recurrences with the same range step together) and
memoised per frame as bindings are. ``fixpoint`` iterates ``z ← Φ(z)`` on the dual
numbers until the values and the derivatives they carry have both converged: the
derivative of the limit, found without the implicit function theorem the compiler uses.
Loops run as generators on the same explicit stack, so a 100,000-step recurrence or
10,000 nested sums need no recursion. Every evaluation is bounded: at most
``MAX_STEPS`` loop iterations and ``MAX_DUALS`` numbers created, else a located error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

import numpy as np

from . import reference_math as R
from . import syntax as S
from .diagnostics import ChainccError
from .parser import parse
from .reference_math import Dual
from .source import Source, Span

__all__ = ["NotConverged", "Signature", "directional", "evaluate", "functions", "signature"]

# π and e are the float64 numbers nearest them, as every number of the language is
# (docs/language.md): sin(pi) is 1.2246e-16, as C's sin(M_PI) is
CONSTANTS = {"pi": R.mpf(math.pi), "π": R.mpf(math.pi), "e": R.mpf(math.e), "inf": R.INF}

# name -> (fewest, most arguments; None: any number)
BUILTINS: dict[str, tuple[int, int | None]] = {
    **{n: (1, 1) for n in R.UNARY_NAMES},
    "log": (1, 2), "atan2": (2, 2), "pow": (2, 2), "hypot": (2, 2),
    "min": (1, None), "max": (1, None), "where": (3, 3),
    "sum": (1, 1), "mean": (1, 1), "prod": (1, 1), "norm": (1, 1), "dot": (2, 2),
    "logsumexp": (1, 1), "softmax": (1, 1), "transpose": (1, 1),
    "zeros": (1, 16), "ones": (1, 16), "fixpoint": (2, 2),
}
# the keyword arguments each builtin takes
KEYWORDS: dict[str, frozenset[str]] = {
    **{n: frozenset({"axis"}) for n in ("sum", "mean", "prod", "max", "min", "logsumexp",
                                        "softmax")},
    "fixpoint": frozenset({"tol", "maxiter"}),
}
FIXPOINT_TOL = "1e-12"
FIXPOINT_MAXITER = 1000

# Bounds on one evaluation, so that no source hangs the interpreter or exhausts memory:
# loop iterations (sums, products, array elements, recurrence steps, fixed-point
# iterations) and numbers created.
MAX_STEPS = 1_000_000
MAX_DUALS = 20_000_000
# The most elements of an array that zeros/ones or an element-by-element definition builds.
MAX_ELEMENTS = 250_000

_RELATIONS: dict[str, Callable[[object, object], bool]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


class NotConverged(ChainccError):
    """``fixpoint`` did not converge within its ``maxiter`` iterations (a run-time error,
    located at the call, naming the function that makes it)."""


@dataclass(frozen=True)
class Signature:
    name: str
    params: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]


# -- values ------------------------------------------------------------------------------
# A value is a Dual (a number), a bool (a condition), an object ndarray of Duals or a
# bool ndarray (conditions).

def _is_cond(v) -> bool:
    return isinstance(v, bool) or (isinstance(v, np.ndarray) and v.dtype == bool)


def _shape(v) -> tuple[int, ...]:
    return v.shape if isinstance(v, np.ndarray) else ()


def _shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(map(str, shape)) + "]"


def _as_array(v) -> np.ndarray:
    if isinstance(v, np.ndarray):
        return v
    a = np.empty((), dtype=bool if isinstance(v, bool) else object)
    a[()] = v
    return a


def _finish(out: np.ndarray):
    """An elementwise result: a scalar for shape (), bools as a bool array."""
    if out.shape == ():
        return out[()]
    if out.size and isinstance(out.flat[0], (bool, np.bool_)):
        return out.astype(bool)
    return out


def _key(v) -> tuple:
    if isinstance(v, Dual):
        return v.key()
    return (v.shape, tuple(x.key() for x in v.flat))


@dataclass(frozen=True)
class _SliceValue:
    """An index ``a:b`` evaluated (None: the end left out); only ever an index."""

    start: int | None
    stop: int | None


# -- scopes ------------------------------------------------------------------------------
@dataclass(eq=False)
class Frame:
    """One evaluation of a function body: its parameters' values, and the bindings
    evaluated in it so far (by statement index; arrays defined element by element and
    recurrences by a key of their own)."""

    locals: dict[str, object]
    function: str
    bindings: dict[object, object] = field(default_factory=dict)


_NO_EXTRAS: Mapping[str, object] = MappingProxyType({})


class Scope:
    """Where an expression is evaluated (never changed once made; a plain class, as one
    is made for every step of a loop)."""

    __slots__ = ("frame", "limit", "extras")

    def __init__(self, frame: Frame, limit: int,
                 extras: Mapping[str, object] = _NO_EXTRAS) -> None:
        self.frame = frame
        self.limit = limit             # statements before this index are visible
        # range variables and a fixpoint's parameter in scope here; they shadow every
        # other name (bindings never see them: a binding is evaluated in a scope of its own)
        self.extras = extras


@dataclass(frozen=True)
class _Group:
    """The IndexedBinding statements that together define one array (consecutive
    statements of one name, up to a plain statement of that name)."""

    name: str
    statements: tuple[int, ...]
    elementwise: bool              # one statement ``y[i, j] = body for i = .., j = ..``


@dataclass(eq=False)
class _Recurrence:
    """A recurrence (an array given by starts and steps) in one frame: its elements so
    far, computed in order. ``defs`` holds, per statement, (first element, last element,
    statement index, offset, range variable): element k of a step is its body at
    variable = k - offset; a start has no variable."""

    name: str
    frame: Frame
    defs: list[tuple[int, int, int, int, str | None]]
    size: int
    elements: list = field(default_factory=list)
    busy: int | None = None        # the element being computed

    def definition(self, k: int) -> tuple[int, int, int, int, str | None]:
        lo, hi = 0, len(self.defs) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.defs[mid][0] <= k:
                lo = mid
            else:
                hi = mid - 1
        return self.defs[lo]


_PENDING = object()                # a memo entry whose evaluation is under way


Request = tuple[S.Node, Scope] | Generator
Loop = Generator[Request, object, object]


def _groups(module: S.Module) -> dict[int, _Group]:
    """Each IndexedBinding statement's group: consecutive statements of one name, until a
    function or binding of that name ends it."""
    open_: dict[str, list[int]] = {}
    closed: list[list[int]] = []
    for i, st in enumerate(module.statements):
        if isinstance(st, S.IndexedBinding):
            open_.setdefault(st.name, []).append(i)
        elif st.name in open_:
            closed.append(open_.pop(st.name))
    closed += open_.values()
    out: dict[int, _Group] = {}
    for members in closed:
        first = module.statements[members[0]]
        assert isinstance(first, S.IndexedBinding)
        elementwise = len(members) == 1 and bool(first.ranges) \
            and len(first.indices) == len(first.ranges) \
            and all(isinstance(n, S.Name) and n.id == r.var
                    for n, r in zip(first.indices, first.ranges))
        group = _Group(first.name, tuple(members), elementwise)
        for i in members:
            out[i] = group
    return out


def _runs(module: S.Module) -> dict[int, tuple[int, int]]:
    """For each IndexedBinding statement, the first and last statement of the run of
    consecutive IndexedBinding statements that holds it (one loop's definitions)."""
    out: dict[int, tuple[int, int]] = {}
    start = None
    statements = module.statements
    for i in range(len(statements) + 1):
        indexed = i < len(statements) and isinstance(statements[i], S.IndexedBinding)
        if indexed and start is None:
            start = i
        elif not indexed and start is not None:
            for j in range(start, i):
                out[j] = (start, i - 1)
            start = None
    return out


class _Interpreter:
    def __init__(self, module: S.Module, source: Source, checking: bool = False) -> None:
        self.module = module
        self.source = source
        # checking every function at 1: a fixpoint that does not converge there is no
        # source error, and gives its last iterate
        self.checking = checking
        self.by_name: dict[str, list[int]] = {}
        for i, st in enumerate(module.statements):
            self.by_name.setdefault(st.name, []).append(i)
        self.lengths = sorted({len(n) for n in (*self.by_name, *BUILTINS, *CONSTANTS)})
        self.calls: dict[tuple, object] = {}
        self.groups = _groups(module)
        self.runs = _runs(module)
        self.statement_names: dict[tuple[str, int], tuple[str, object] | None] = {}
        self.steps = 0
        self.duals_at_start = R.CREATED
        self.computing: list[_Recurrence] = []     # recurrences computing an element
        self.numbers: dict[str, Dual] = {}          # each number's value, by its text
        self.integers: dict[int, Dual] = {}         # index variables' values

    def error(self, message: str, span: Span | None) -> ChainccError:
        return ChainccError(message, span, self.source)

    def int_dual(self, k: int) -> Dual:
        """An index variable's value: the number k (one Dual per k: they are constants)."""
        d = self.integers.get(k)
        if d is None:
            d = self.integers[k] = Dual(R.mpf(k))
        return d

    def tick(self, node: S.Node) -> None:
        """Count one loop iteration; past the bounds of one evaluation, an error."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise self.too_much(node)
        self.charge(node, 0)

    def charge(self, node: S.Node, numbers: int) -> None:
        """Before making ``numbers`` more numbers: an error if that passes the bound."""
        if R.CREATED - self.duals_at_start + numbers > MAX_DUALS:
            raise self.too_much(node)

    def too_much(self, node: S.Node) -> ChainccError:
        return self.error(f"this evaluation needs more than the reference interpreter "
                          f"evaluates ({MAX_STEPS:,} loop iterations, {MAX_DUALS:,} "
                          "numbers)", node.span)

    # -- names -----------------------------------------------------------------------
    def resolve(self, name: str, scope: Scope) -> tuple[str, object] | None:
        """("value", v) | ("binding", index) | ("function", index) | ("builtin", name) |
        ("indexed", (group, statements visible))."""
        if name in scope.extras:
            return "value", scope.extras[name]
        if name in scope.frame.locals:
            return "value", scope.frame.locals[name]
        key = (name, scope.limit)
        if key not in self.statement_names:
            self.statement_names[key] = self.resolve_statement(name, scope.limit)
        return self.statement_names[key]

    def visible(self, i: int, limit: int) -> bool:
        """Statement ``i`` is visible from the statement at ``limit``: it comes before,
        or both define arrays in one run and ``i`` defines a recurrence (a loop's states
        read each other whatever their order: an LSTM's c reads h[t], h reads c[t+1])."""
        if i < limit:
            return True
        run = self.runs.get(limit)
        return run is not None and run[0] <= i <= run[1] and not self.groups[i].elementwise

    def resolve_statement(self, name: str, limit: int) -> tuple[str, object] | None:
        for i in reversed(self.by_name.get(name, ())):
            if not self.visible(i, limit):
                continue
            st = self.module.statements[i]
            if isinstance(st, S.FuncDef):
                return "function", i
            if isinstance(st, S.Binding):
                return "binding", i
            group = self.groups[i]
            return "indexed", (group, tuple(j for j in group.statements
                                            if self.visible(j, limit)))
        if name in BUILTINS:
            return "builtin", name
        if name in CONSTANTS:
            return "value", R.const(CONSTANTS[name])
        return None

    def split(self, name: str, scope: Scope) -> list[str] | None:
        """``name`` split wholly into names in scope, the longest name first at each
        position (backtracking when the rest does not split)."""
        lengths = sorted({*self.lengths, *(len(n) for n in scope.frame.locals),
                          *(len(n) for n in scope.extras)}, reverse=True)
        n = len(name)
        best: list[int | None] = [None] * (n + 1)     # best[i]: longest first part of name[i:]
        best[n] = 0
        for i in range(n - 1, -1, -1):
            for k in lengths:
                if i + k <= n and best[i + k] is not None \
                        and self.resolve(name[i:i + k], scope) is not None:
                    best[i] = k
                    break
        if best[0] is None:
            return None
        parts, i = [], 0
        while i < n:
            k = best[i]
            assert k
            parts.append(name[i:i + k])
            i += k
        return parts

    def callable_(self, name: str, scope: Scope) -> bool:
        r = self.resolve(name, scope)
        return r is not None and r[0] in ("function", "builtin")

    # -- the machine -----------------------------------------------------------------
    def run(self, root: S.Node, scope: Scope):
        tasks: list[tuple] = [("eval", root, scope)]
        values: list = []
        while tasks:
            task = tasks.pop()
            kind = task[0]
            if kind == "eval":
                self.visit(task[1], task[2], tasks, values)
            elif kind == "apply":
                self.apply(task[1], values, tasks)
            elif kind == "resume":
                # a loop (a generator): send it the value it asked for; it asks for the
                # next (an expression in a scope, or another loop to run) or returns
                gen = task[1]
                try:
                    request = gen.send(values.pop() if task[2] else None)
                except StopIteration as stop:
                    values.append(stop.value)
                    continue
                tasks.append(("resume", gen, True))
                if isinstance(request, tuple):
                    tasks.append(("eval", request[0], request[1]))
                else:
                    tasks.append(("resume", request, False))
            elif kind == "ref":
                self.eval_name(task[1], task[2], tasks, values, ref=True)
            elif kind == "builtin":
                node = task[2]
                n = len(node.args) + len(node.keywords)
                args = values[len(values) - n:]
                del values[len(values) - n:]
                values.append(self.builtin(task[1], node, args[:len(node.args)],
                                           dict(zip((k.name for k in node.keywords),
                                                    args[len(node.args):]))))
            elif kind == "product":
                n, node = task[1], task[2]
                parts = values[len(values) - n:]
                del values[len(values) - n:]
                acc = self.number(parts[0], node)
                for p in parts[1:]:
                    acc = self.arith("*", acc, self.number(p, node), node)
                values.append(acc)
            elif kind == "call":
                self.enter(task[1], task[2], tasks, values)
            elif kind == "remember":
                task[1][task[2]] = values[-1]
            else:  # pragma: no cover
                raise AssertionError(kind)
        assert len(values) == 1
        return values[0]

    def word_parts(self, word: S.Node, scope: Scope) -> list[str] | None:
        assert isinstance(word, S.Name)
        if self.resolve(word.id, scope) is not None:
            return None
        parts = self.split(word.id, scope)
        if parts is None or any(self.callable_(p, scope) for p in parts):
            return None
        return parts

    def word_power(self, node: S.Binary, scope: Scope) -> S.Node:
        """``xy²`` is ``x·y²`` and ``e^xy`` is ``(e^x)·y`` where the word is no name but
        splits into names (docs/language.md, "Textbook notation")."""
        base = self.word_parts(node.left, scope) if node.word_base else None
        exponent = self.word_parts(node.right, scope) if node.word_exponent else None
        return S.split_words(node, base, exponent) if base or exponent else node

    def visit(self, node: S.Node, scope: Scope, tasks: list, values: list) -> None:
        kind = type(node)
        if kind is S.Name:
            self.eval_name(node, scope, tasks, values)
        elif kind is S.Binary:
            if node.word_base or node.word_exponent:
                node = self.word_power(node, scope)
            tasks += [("apply", node), ("eval", node.right, scope), ("eval", node.left, scope)]
        elif isinstance(node, S.Num):
            if node.text not in self.numbers:
                self.numbers[node.text] = R.const(R.mpf(node.text))
            values.append(self.numbers[node.text])
        elif isinstance(node, S.Call):
            self.eval_call(node, scope, tasks, values)
        elif isinstance(node, (S.Binary, S.Compare, S.BoolOp)):
            tasks += [("apply", node), ("eval", node.right, scope), ("eval", node.left, scope)]
        elif isinstance(node, (S.Unary, S.Not, S.Transpose)):
            tasks += [("apply", node), ("eval", node.operand, scope)]
        elif isinstance(node, S.Index):
            tasks.append(("apply", node))
            tasks += [("eval", i, scope) for i in reversed(node.indices)]
            # a name is looked up as an array reference: a recurrence is then read
            # element by element, without computing the elements after the one read
            tasks.append(("ref" if isinstance(node.base, S.Name) else "eval", node.base,
                          scope))
        elif isinstance(node, S.ArrayLit):
            tasks.append(("apply", node))
            tasks += [("eval", i, scope) for i in reversed(node.items)]
        elif isinstance(node, S.Reduce):
            tasks.append(("resume", self.reduce_loop(node, scope), False))
        elif isinstance(node, S.Slice):
            tasks.append(("apply", node))
            tasks += [("eval", end, scope) for end in (node.stop, node.start)
                      if end is not None]
        elif isinstance(node, S.Lambda):
            raise self.error(f"'{node.param} -> …' can only be the first argument of "
                             "fixpoint(...)", node.span)
        else:  # pragma: no cover
            raise AssertionError(type(node).__name__)

    def unknown(self, node: S.Name, scope: Scope) -> ChainccError:
        return self.error(f"unknown name '{node.id}'", node.span)

    def eval_name(self, node: S.Name, scope: Scope, tasks: list, values: list,
                  ref: bool = False) -> None:
        r = self.resolve(node.id, scope)
        if r is None:
            parts = self.split(node.id, scope)
            if parts is None or any(self.callable_(p, scope) for p in parts):
                raise self.unknown(node, scope)
            tasks.append(("product", len(parts), node))
            tasks += [("eval", S.Name(node.span, p), scope) for p in reversed(parts)]
            return
        kind, payload = r
        if kind == "value":
            values.append(payload)
        elif kind == "binding":
            memo = scope.frame.bindings
            if payload in memo:
                values.append(memo[payload])
                return
            st = self.module.statements[payload]
            assert isinstance(st, S.Binding)
            tasks.append(("remember", memo, payload))
            tasks.append(("eval", st.value, Scope(scope.frame, payload)))
        elif kind == "indexed":
            group, statements = payload
            self.eval_indexed(node, group, statements, scope.frame, tasks, values, ref)
        else:
            raise self.error(f"'{node.id}' is a function; call it with arguments: "
                             f"{node.id}(...)", node.span)

    def eval_call(self, node: S.Call, scope: Scope, tasks: list, values: list) -> None:
        name = node.func.id
        r = self.resolve(name, scope)
        prefix: list[str] = []
        if r is None:
            parts = self.split(name, scope)
            if parts is None or any(self.callable_(p, scope) for p in parts[:-1]):
                raise self.error(f"unknown function '{name}'", node.func.span)
            prefix, name = parts[:-1], parts[-1]
            r = self.resolve(name, scope)
            assert r is not None
        kind, payload = r
        if node.keywords and kind in ("value", "binding", "indexed"):
            raise self.error(f"'{name}' is not a function", node.func.span)
        allowed = KEYWORDS.get(payload, frozenset()) if kind == "builtin" else frozenset()
        seen: set[str] = set()
        for kw in node.keywords:
            if kw.name not in allowed:
                takes = f"takes {', '.join(f'{k}=' for k in sorted(allowed))}" if allowed \
                    else "takes no keyword arguments"
                raise self.error(f"'{name}' {takes}, not {kw.name}=", kw.span)
            if kw.name in seen:
                raise self.error(f"{kw.name}= is given twice", kw.span)
            seen.add(kw.name)
        if prefix:
            tasks.append(("product", len(prefix) + 1, node))
        if kind in ("value", "binding", "indexed"):
            # x(y+1) is a product when x is not a function
            if len(node.args) != 1:
                raise self.error(f"'{name}' is not a function", node.func.span)
            tasks.append(("product", 2, node))
            tasks.append(("eval", node.args[0], scope))
            tasks.append(("eval", S.Name(node.func.span, name), scope))
        else:
            if kind == "function":
                st = self.module.statements[payload]
                assert isinstance(st, S.FuncDef)
                lo = hi = len(st.params)
            else:
                lo, hi = BUILTINS[payload]
            n = len(node.args)
            if n < lo or (hi is not None and n > hi):
                want = str(lo) if lo == hi else f"{lo} or {hi}" if hi == lo + 1 else \
                    f"{lo} to {hi}" if hi else f"at least {lo}"
                raise self.error(f"'{name}' takes {want} argument(s), got {n}", node.span)
            if kind == "builtin" and payload == "fixpoint":
                tasks.append(("resume", self.fixpoint_loop(node, scope), False))
            else:
                if kind == "function":
                    tasks.append(("call", payload, node))
                else:
                    tasks.append(("builtin", payload, node))
                tasks += [("eval", k.value, scope) for k in reversed(node.keywords)]
                tasks += [("eval", a, scope) for a in reversed(node.args)]
        tasks += [("eval", S.Name(node.func.span, p), scope) for p in reversed(prefix)]

    def enter(self, index: int, node: S.Call, tasks: list, values: list) -> None:
        """Call function ``index`` on the argument values on top of the stack."""
        fdef = self.module.statements[index]
        assert isinstance(fdef, S.FuncDef)
        args = values[len(values) - len(node.args):]
        del values[len(values) - len(node.args):]
        for p, a, arg in zip(fdef.params, args, node.args):
            self.number(a, arg)
            if _shape(a) != p.shape:
                want = f"have shape {_shape_text(p.shape)}" if p.shape else "be a scalar"
                got = _shape_text(_shape(a)) if _shape(a) else "a scalar"
                raise self.error(f"argument '{p.name}' of '{fdef.name}' must {want}, "
                                 f"got {got}", arg.span)
        key = (index, tuple(_key(a) for a in args))
        if key in self.calls:
            values.append(self.calls[key])
            return
        frame = Frame({p.name: a for p, a in zip(fdef.params, args)}, fdef.name)
        tasks.append(("remember", self.calls, key))
        tasks.append(("eval", fdef.body, Scope(frame, index)))

    # -- operations --------------------------------------------------------------------
    def number(self, v, node: S.Node):
        if type(v) is Dual:
            return v
        if _is_cond(v):
            raise self.error("a comparison can only be the condition of where(...)",
                             node.span)
        if isinstance(v, _SliceValue):
            raise self.error("a slice ':' can only be an index, as in x[1:3]", node.span)
        assert not isinstance(v, _Recurrence)
        return v

    def cond(self, v, node: S.Node):
        if not _is_cond(v):
            raise self.error("expected a comparison", node.span)
        return v

    def integer(self, v, node: S.Node, what: str = "an index") -> int:
        """``v`` as a Python integer: a constant integer (no derivative), else an error at
        ``node``."""
        k = R.as_int(v.v) if isinstance(v, Dual) and not v.d else None
        if k is None:
            raise self.error(f"{what} must be a constant integer", node.span)
        return k

    def elementwise(self, f: Callable, args: list, node: S.Node):
        if not any(isinstance(a, np.ndarray) for a in args):
            return f(*args)
        try:
            shape = np.broadcast_shapes(*(_shape(a) for a in args))
        except ValueError:
            shapes = ", ".join(_shape_text(_shape(a)) or "scalar" for a in args)
            raise self.error(f"the shapes do not broadcast: {shapes}", node.span) from None
        self.charge(node, math.prod(shape))
        arrays = [np.broadcast_to(_as_array(a), shape) for a in args]
        out = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            out[idx] = f(*(a[idx] for a in arrays))
        return _finish(out)

    def arith(self, op: str, a, b, node: S.Node):
        if type(a) is Dual and type(b) is Dual and op != "@":
            return R.binary(op, a, b)
        if op == "@":
            return self.matmul(a, b, node)
        return self.elementwise(lambda x, y: R.binary(op, x, y), [a, b], node)

    def matmul(self, a, b, node: S.Node):
        sa, sb = _shape(a), _shape(b)
        if not sa or not sb:
            raise self.error("'@' needs arrays on both sides", node.span)
        left = a.reshape(1, -1) if len(sa) == 1 else a
        right = b.reshape(-1, 1) if len(sb) == 1 else b
        if left.shape[-1] != right.shape[-2]:
            raise self.error(f"cannot multiply {_shape_text(sa)} @ {_shape_text(sb)}",
                             node.span)
        try:
            batch = np.broadcast_shapes(left.shape[:-2], right.shape[:-2])
        except ValueError:
            raise self.error(f"cannot multiply {_shape_text(sa)} @ {_shape_text(sb)}",
                             node.span) from None
        n, k, m = left.shape[-2], left.shape[-1], right.shape[-1]
        self.charge(node, 2 * math.prod(batch) * n * k * m)
        lb = np.broadcast_to(left, batch + (n, k))
        rb = np.broadcast_to(right, batch + (k, m))
        out = np.empty(batch + (n, m), dtype=object)
        for bi in np.ndindex(*batch):
            for i in range(n):
                for j in range(m):
                    acc = R.binary("*", lb[bi + (i, 0)], rb[bi + (0, j)])
                    for t in range(1, k):
                        acc = R.binary("+", acc, R.binary("*", lb[bi + (i, t)],
                                                          rb[bi + (t, j)]))
                    out[bi + (i, j)] = acc
        if len(sa) == 1:
            out = out[..., 0, :]
        if len(sb) == 1:
            out = out[..., 0]
        return out if out.shape else out[()]

    def apply(self, node: S.Node, values: list, tasks: list) -> None:
        if isinstance(node, S.Binary):
            b, a = values.pop(), values.pop()
            values.append(self.arith(node.op, self.number(a, node.left),
                                     self.number(b, node.right), node))
        elif isinstance(node, S.Compare):
            b, a = values.pop(), values.pop()
            rel = _RELATIONS[node.op]
            values.append(self.elementwise(lambda x, y: R.note_decision(x.v, y.v) or
                                           bool(rel(x.v, y.v)),
                                           [self.number(a, node.left),
                                            self.number(b, node.right)], node))
        elif isinstance(node, S.BoolOp):
            b, a = values.pop(), values.pop()
            f = (lambda x, y: bool(x and y)) if node.op == "and" else \
                (lambda x, y: bool(x or y))
            values.append(self.elementwise(f, [self.cond(a, node.left),
                                               self.cond(b, node.right)], node))
        elif isinstance(node, S.Not):
            a = self.cond(values.pop(), node.operand)
            values.append(self.elementwise(lambda x: not x, [a], node))
        elif isinstance(node, S.Unary):
            a = self.number(values.pop(), node.operand)
            values.append(a if node.op == "+" else self.elementwise(R.neg, [a], node))
        elif isinstance(node, S.Transpose):
            values.append(self.transpose(self.number(values.pop(), node.operand),
                                         node.operand))
        elif isinstance(node, S.Index):
            idx = values[len(values) - len(node.indices):]
            del values[len(values) - len(node.indices):]
            base = values.pop()
            if isinstance(base, _Recurrence):
                self.read_recurrence(node, base, idx, tasks, values)
            else:
                values.append(self.index(node, base, idx, node.indices))
        elif isinstance(node, S.Slice):
            stop = self.integer(values.pop(), node.stop, "a slice end") \
                if node.stop is not None else None
            start = self.integer(values.pop(), node.start, "a slice end") \
                if node.start is not None else None
            values.append(_SliceValue(start, stop))
        elif isinstance(node, S.ArrayLit):
            items = values[len(values) - len(node.items):]
            del values[len(values) - len(node.items):]
            values.append(self.literal(node, items))
        else:  # pragma: no cover
            raise AssertionError(type(node).__name__)

    def transpose(self, a, node: S.Node):
        if len(_shape(a)) > 2:
            raise self.error(f"cannot transpose {_shape_text(_shape(a))}: it has more "
                             "than two dimensions", node.span)
        return a.T.copy() if len(_shape(a)) == 2 else a

    def index(self, node: S.Index, base, idx: list, nodes: Sequence[S.Node], first: int = 0):
        """``base[idx]``: integers and slices, one per leading axis (``first``: the axis
        that ``idx[0]`` indexes in what the source wrote, for messages)."""
        base = self.number(base, node.base)
        shape = _shape(base)
        if not shape:
            raise self.error("cannot index a scalar", node.span)
        if len(idx) > len(shape):
            raise self.error("too many indices", node.span)
        key: list[int | slice] = []
        for axis, (v, n, length) in enumerate(zip(idx, nodes, shape)):
            if isinstance(v, _SliceValue):
                assert isinstance(n, S.Slice)
                lo = 0 if v.start is None else v.start
                hi = length if v.stop is None else v.stop
                for end, end_node in ((lo, n.start), (hi, n.stop)):
                    if not 0 <= end <= length:
                        assert end_node is not None
                        raise self.error(f"slice end {end} is out of range for axis "
                                         f"{axis + first} of length {length}", end_node.span)
                if hi <= lo:
                    raise self.error(f"the slice {lo}:{hi} of axis {axis + first} has no "
                                     "element", n.span)
                key.append(slice(lo, hi))
                continue
            k = self.integer(v, n)
            if not 0 <= k < length:
                raise self.error(f"index {k} is out of range for axis {axis + first}", n.span)
            key.append(k)
        out = base[tuple(key)]
        return out.copy() if isinstance(out, np.ndarray) else out

    def literal(self, node: S.ArrayLit, items: list):
        for item, n in zip(items, node.items):
            self.number(item, n)
        shapes = {_shape(v) for v in items}
        if len(shapes) != 1:
            raise self.error("the rows of an array literal must all have the same shape",
                             node.span)
        inner = shapes.pop()
        out = np.empty((len(items), *inner), dtype=object)
        for i, v in enumerate(items):
            out[i] = v
        return out

    # -- builtins ----------------------------------------------------------------------
    def builtin(self, name: str, node: S.Call, args: list, keywords: dict[str, object]):
        if name == "where":
            c = self.cond(args[0], node.args[0])
            a = self.number(args[1], node.args[1])
            b = self.number(args[2], node.args[2])
            return self.elementwise(lambda k, x, y: x if k else y, [c, a, b], node)
        args = [self.number(a, n) for a, n in zip(args, node.args)]
        if name in ("zeros", "ones"):
            return self.filled(name, node, args)
        if "axis" in keywords:
            return self.along_axis(name, node, args, keywords["axis"])
        if name in R.UNARY_NAMES and len(args) == 1:
            return self.elementwise(lambda x: R.unary(name, x), args, node)
        if name == "log":
            return self.elementwise(
                lambda x, b: R.binary("/", R.unary("log", x), R.unary("log", b)), args, node)
        if name == "pow":
            return self.arith("^", args[0], args[1], node)
        if name == "atan2":
            return self.elementwise(R.atan2, args, node)
        if name == "hypot":
            return self.elementwise(R.hypot, args, node)
        if name in ("max", "min"):
            largest = name == "max"
            if len(args) == 1:
                return R.pick_extremum(list(_as_array(args[0]).flat), largest)
            return self.elementwise(lambda *xs: R.pick_extremum(list(xs), largest), args,
                                    node)
        if name in ("sum", "mean", "prod", "norm"):
            return self.reduce(name, list(_as_array(args[0]).flat))
        if name == "dot":
            if _shape(args[0]) != _shape(args[1]):
                raise self.error("dot needs two arrays of the same shape", node.span)
            products = [R.binary("*", x, y) for x, y in
                        zip(_as_array(args[0]).flat, _as_array(args[1]).flat)]
            return self.reduce("sum", products)
        if name in ("logsumexp", "softmax"):
            return self.last_axis(name, args[0])
        assert name == "transpose", name
        return self.transpose(args[0], node.args[0])

    def filled(self, name: str, node: S.Call, args: list) -> np.ndarray:
        """zeros(n), ones(m, n): an array of a size, every element the constant."""
        dims = []
        for a, n in zip(args, node.args):
            d = self.integer(a, n, "a size")
            if d < 1:
                raise self.error(f"a size must be a positive integer, got {d}", n.span)
            dims.append(d)
        if math.prod(dims) > MAX_ELEMENTS:
            raise self.error(f"{name}(...) of more than {MAX_ELEMENTS:,} elements",
                             node.span)
        self.charge(node, math.prod(dims))
        out = np.empty(tuple(dims), dtype=object)
        fill = R.ZERO if name == "zeros" else R.ONE
        for idx in np.ndindex(*dims):
            out[idx] = R.const(fill)
        return out

    def reduce(self, name: str, xs: list[Dual]) -> Dual:
        if name == "norm":
            xs = [R.binary("*", x, x) for x in xs]
        acc = xs[0]
        op = "*" if name == "prod" else "+"
        for x in xs[1:]:
            acc = R.binary(op, acc, x)
        if name == "mean":
            return R.binary("/", acc, R.const(R.mpf(len(xs))))
        if name == "norm":
            return R.unary("sqrt", acc)
        return acc

    def row(self, name: str, xs: list[Dual]):
        """One row's reduction (a list of values for softmax)."""
        if name in ("max", "min"):
            return R.pick_extremum(xs, name == "max")
        if name == "logsumexp":
            return R.logsumexp(xs)
        if name == "softmax":
            return R.softmax(xs)
        return self.reduce(name, xs)

    def along_axis(self, name: str, node: S.Call, args: list, axis_value) -> object:
        """``sum(A, axis=k)`` and the like, as NumPy computes them: the reduction of the
        elements along axis k, in index order, for every position of the others."""
        kw = next(k for k in node.keywords if k.name == "axis")
        if len(args) != 1:
            raise self.error(f"'{name}' with axis= takes one array: {name}(A, axis=k)",
                             kw.span)
        arr = args[0]
        k = self.integer(axis_value, kw.value, "axis")
        if not isinstance(arr, np.ndarray):
            raise self.error(f"axis {k} is out of range for a scalar", kw.span)
        if not -arr.ndim <= k < arr.ndim:
            raise self.error(f"axis {k} is out of range for an array of {arr.ndim} "
                             f"dimension{'s' if arr.ndim > 1 else ''}", kw.span)
        moved = np.moveaxis(arr, k % arr.ndim, -1)
        rows = moved.reshape(-1, moved.shape[-1])
        if name == "softmax":
            out = np.empty(rows.shape, dtype=object)
            for i, r in enumerate(rows):
                out[i, :] = self.row(name, list(r))
            return np.moveaxis(out.reshape(moved.shape), -1, k % arr.ndim).copy()
        out = np.empty(rows.shape[0], dtype=object)
        for i, r in enumerate(rows):
            out[i] = self.row(name, list(r))
        out = out.reshape(moved.shape[:-1])
        return out if out.shape else out[()]

    def last_axis(self, name: str, a):
        arr = _as_array(a)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        rows = arr.reshape(-1, arr.shape[-1])
        if name == "logsumexp":
            out = np.empty(rows.shape[0], dtype=object)
            for i, row in enumerate(rows):
                out[i] = R.logsumexp(list(row))
            out = out.reshape(arr.shape[:-1])
        else:
            out = np.empty(rows.shape, dtype=object)
            for i, row in enumerate(rows):
                out[i, :] = R.softmax(list(row))
            out = out.reshape(arr.shape)
            if not isinstance(a, np.ndarray):
                out = out.reshape(())
        return out if out.shape else out[()]

    # -- iteration (generators run by ``run``: each yields an expression in a scope, or
    # another generator, and receives its value) ------------------------------------
    def reduce_loop(self, node: S.Reduce, scope: Scope) -> Loop:
        """``sum(body for i = a..b, j = c..d)``: the body at every index, the first range
        outermost, added (multiplied) in that order starting from 0 (1)."""
        op = "+" if node.op == "sum" else "*"
        acc = R.const(R.ZERO if node.op == "sum" else R.ONE)
        ranges = node.ranges
        n = len(ranges)
        envs: list[Mapping[str, object]] = [scope.extras] * n   # what range lv sees
        cur, last = [0] * n, [0] * n
        lv, entering = 0, True
        while True:
            if entering:
                self.tick(node)
                r = ranges[lv]
                inner = Scope(scope.frame, scope.limit, envs[lv])
                cur[lv] = self.integer((yield (r.start, inner)), r.start,
                                       "the start of a range")
                last[lv] = self.integer((yield (r.stop, inner)), r.stop,
                                        "the end of a range")
                if last[lv] - cur[lv] >= MAX_STEPS:
                    raise self.too_much(r)
                entering = False
            if cur[lv] > last[lv]:
                if lv == 0:
                    return acc
                lv -= 1
                cur[lv] += 1
                continue
            env = {**envs[lv], ranges[lv].var: self.int_dual(cur[lv])}
            if lv + 1 < n:
                lv += 1
                envs[lv] = env
                entering = True
                continue
            self.tick(node)
            value = yield (node.body, Scope(scope.frame, scope.limit, env))
            acc = self.arith(op, acc, self.number(value, node.body), node)
            cur[lv] += 1

    def eval_indexed(self, node: S.Name, group: _Group, statements: tuple[int, ...],
                     frame: Frame, tasks: list, values: list, ref: bool) -> None:
        """A name that an IndexedBinding defines: the array (computed once per frame), or,
        as ``ref``, a recurrence itself, to be read element by element."""
        if group.elementwise:
            done = frame.bindings.get(("elementwise", statements[0]))
            if isinstance(done, np.ndarray):
                values.append(done)
            else:
                tasks.append(("resume", self.elementwise_loop(statements[0], frame, node),
                              False))
            return
        seq = frame.bindings.get(("recurrence", statements))
        if ref and isinstance(seq, _Recurrence):
            values.append(seq)
            return
        tasks.append(("resume", self.recurrence_value(group, statements, frame, node, ref),
                      False))

    def elementwise_loop(self, index: int, frame: Frame, use: S.Name) -> Loop:
        """``y[i, j] = body for i = 0..a, j = 0..b``: the array of the body's values."""
        st = self.module.statements[index]
        assert isinstance(st, S.IndexedBinding)
        memo, key = frame.bindings, ("elementwise", index)
        if memo.get(key) is _PENDING:
            raise self.error(f"'{st.name}' is read while it is being computed", use.span)
        memo[key] = _PENDING
        scope = Scope(frame, index)
        shape = []
        for r in st.ranges:
            if self.integer((yield (r.start, scope)), r.start, "the start of a range") != 0:
                raise self.error("the ranges of an array defined element by element start "
                                 "at 0", r.start.span)
            last = self.integer((yield (r.stop, scope)), r.stop, "the end of a range")
            if last < 0:
                raise self.error(f"this range is empty, so '{st.name}' would have no "
                                 "elements", r.span)
            shape.append(last + 1)
        if math.prod(shape) > MAX_ELEMENTS:
            raise self.error(f"'{st.name}' would have more than {MAX_ELEMENTS:,} elements",
                             st.name_span)
        items = []
        inner: tuple[int, ...] | None = None
        for idx in np.ndindex(*shape):
            self.tick(st)
            env = {r.var: self.int_dual(k) for r, k in zip(st.ranges, idx)}
            v = self.number((yield (st.value, Scope(frame, index, env))), st.value)
            if inner is None:
                inner = _shape(v)
            elif _shape(v) != inner:
                raise self.error(f"the elements of '{st.name}' must all have one shape: "
                                 f"{_describe_shape(inner)} at 0, "
                                 f"{_describe_shape(_shape(v))} at {list(idx)}", st.value.span)
            items.append(v)
        out = np.empty(tuple(shape) + (inner or ()), dtype=object)
        for idx, v in zip(np.ndindex(*shape), items):
            out[idx] = v
        memo[key] = out
        return out

    def step_offset(self, st: S.IndexedBinding, var: str) -> tuple[int, S.Node | None]:
        """A step's index ``t``, ``t + k`` or ``t - k``: (sign, k's expression)."""
        idx = st.indices[0]
        if isinstance(idx, S.Name) and idx.id == var:
            return 1, None
        if isinstance(idx, S.Binary) and idx.op in ("+", "-") and not idx.implicit:
            if isinstance(idx.left, S.Name) and idx.left.id == var:
                return (1 if idx.op == "+" else -1), idx.right
            if idx.op == "+" and isinstance(idx.right, S.Name) and idx.right.id == var:
                return 1, idx.left
        raise self.error(f"the index of a step must be its range variable plus a constant, "
                         f"as in {st.name}[{var}+1]", idx.span)

    def recurrence(self, group: _Group, statements: tuple[int, ...], frame: Frame,
                   use: S.Name) -> Loop:
        """The recurrence that ``statements`` define, in ``frame`` (memoised): the element
        each statement defines, checked to follow each other from element 0."""
        memo, key = frame.bindings, ("recurrence", statements)
        done = memo.get(key)
        if isinstance(done, _Recurrence):
            return done
        if done is _PENDING:
            raise self.error(f"'{group.name}' is read where its own elements are "
                             "counted", use.span)
        memo[key] = _PENDING
        defs: list[tuple[int, int, int, int, str | None]] = []
        for i in statements:
            st = self.module.statements[i]
            assert isinstance(st, S.IndexedBinding)
            scope = Scope(frame, i)
            if len(st.indices) != 1:
                raise self.error(f"an element of '{st.name}' is defined with one index "
                                 f"({st.name}[0], {st.name}[t+1])", st.indices[1].span)
            if not st.ranges:
                k = self.integer((yield (st.indices[0], scope)), st.indices[0])
                if k < 0:
                    raise self.error(f"index {k} is out of range", st.indices[0].span)
                defs.append((k, k, i, 0, None))
                continue
            if len(st.ranges) != 1:
                raise self.error("a step of a recurrence has one range",
                                 st.ranges[1].span)
            r = st.ranges[0]
            sign, k_node = self.step_offset(st, r.var)
            offset = 0 if k_node is None else \
                sign * self.integer((yield (k_node, scope)), k_node)
            lo = self.integer((yield (r.start, scope)), r.start, "the start of a range")
            hi = self.integer((yield (r.stop, scope)), r.stop, "the end of a range")
            if hi >= lo:
                defs.append((lo + offset, hi + offset, i, offset, r.var))
        defs.sort()
        following = 0
        for first, last, i, _, var in defs:
            st = self.module.statements[i]
            assert isinstance(st, S.IndexedBinding)
            # a step's place is its range's start; a start's, its index
            span = st.ranges[0].start.span if var is not None else st.indices[0].span
            if first < following:
                raise self.error(f"{group.name}[{first}] is defined twice", span)
            if first > following:
                raise self.error(f"{group.name}[{following}] is not defined: the steps of "
                                 f"'{group.name}' must continue the start, from "
                                 f"{group.name}[{following}]", span)
            following = last + 1
        if not defs:
            st = self.module.statements[statements[0]]
            raise self.error(f"'{group.name}' has no elements: its ranges are empty",
                             st.name_span)
        if following > MAX_STEPS:
            last = self.module.statements[defs[-1][2]]
            assert isinstance(last, S.IndexedBinding)
            raise self.too_much(last.ranges[0].stop if last.ranges else last)
        seq = _Recurrence(group.name, frame, defs, following)
        memo[key] = seq
        return seq

    def recurrence_value(self, group: _Group, statements: tuple[int, ...], frame: Frame,
                         use: S.Name, ref: bool) -> Loop:
        if not ref:
            raise self.not_whole(group.name, use.span)
        seq = yield self.recurrence(group, statements, frame, use)
        assert isinstance(seq, _Recurrence)
        return seq

    def not_whole(self, name: str, span: Span) -> ChainccError:
        return self.error(f"'{name}' is a recurrence: it is read element by element "
                          f"({name}[T], {name}[k], {name}[t] inside a range)", span)

    def read_recurrence(self, node: S.Index, seq: _Recurrence, idx: list, tasks: list,
                        values: list) -> None:
        """``h[k, ...]``: element k (computed now, with those before it, if it is not yet),
        then the further indices."""
        if isinstance(idx[0], _SliceValue):
            raise self.not_whole(seq.name, node.indices[0].span)
        k = self.integer(idx[0], node.indices[0])
        if not 0 <= k < seq.size:
            raise self.error(f"index {k} is outside the elements of '{seq.name}' (0 to "
                             f"{seq.size - 1})", node.indices[0].span)
        if k < len(seq.elements):
            v = seq.elements[k]
            values.append(self.index(node, v, idx[1:], node.indices[1:], 1)
                          if len(idx) > 1 else v)
            return
        if seq.busy is not None:
            if self.computing and self.computing[-1] is seq:
                raise self.error(f"the step that computes {seq.name}[{seq.busy}] reads "
                                 f"{seq.name}[{k}]: a step may read {seq.name}[t] and "
                                 f"earlier elements, not {seq.name}[t+1] or later",
                                 node.span)
            raise self.error(f"{seq.name}[{k}] is read while it is being computed: two "
                             "states of a loop may not read each other's t+1", node.span)

        def element() -> Loop:
            v = yield self.fill(seq, k)
            return self.index(node, v, idx[1:], node.indices[1:], 1) if len(idx) > 1 else v
        tasks.append(("resume", element(), False))

    def fill(self, seq: _Recurrence, k: int) -> Loop:
        """Compute the elements of ``seq`` up to k, in order; returns element k."""
        while len(seq.elements) <= k:
            j = len(seq.elements)
            _, _, i, offset, var = seq.definition(j)
            st = self.module.statements[i]
            assert isinstance(st, S.IndexedBinding)
            self.tick(st)
            env = _NO_EXTRAS if var is None else {var: self.int_dual(j - offset)}
            seq.busy = j
            self.computing.append(seq)
            v = self.number((yield (st.value, Scope(seq.frame, i, env))), st.value)
            self.computing.pop()
            seq.busy = None
            if seq.elements and _shape(v) != _shape(seq.elements[0]):
                raise self.error(f"{seq.name}[{j}] is {_describe_shape(_shape(v))} but "
                                 f"{seq.name}[0] is {_describe_shape(_shape(seq.elements[0]))}"
                                 ": a recurrence's state keeps its shape", st.value.span)
            seq.elements.append(v)
        return seq.elements[k]

    def fixpoint_loop(self, node: S.Call, scope: Scope) -> Loop:
        """``fixpoint(z -> Φ(z), start, tol=, maxiter=)``: z ← Φ(z) on dual numbers from
        the start until the largest change of a value is at most tol·(1 + |z|) (within
        maxiter iterations, else an error), and then on until the derivatives the
        values carry change as little: the derivative of the limit."""
        lam = node.args[0]
        if not isinstance(lam, S.Lambda):
            raise self.error("the first argument of fixpoint is the function to iterate, "
                             "written 'z -> …'", lam.span)
        start = self.number((yield (node.args[1], scope)), node.args[1])
        tol, maxiter = R.mpf(FIXPOINT_TOL), FIXPOINT_MAXITER
        for kw in node.keywords:
            v = yield (kw.value, scope)
            if kw.name == "maxiter":
                maxiter = self.integer(v, kw.value, "maxiter")
                if maxiter < 1:
                    raise self.error("maxiter must be at least 1", kw.value.span)
            elif not (isinstance(v, Dual) and not v.d and R.finite(v.v) and v.v >= 0):
                raise self.error("tol must be a constant number, 0 or more", kw.value.span)
            else:
                tol = v.v
        z = start
        values_converged_at = None
        iteration = 0
        while True:
            iteration += 1
            self.tick(node)
            env = {**scope.extras, lam.param: z}
            new = self.number((yield (lam.body, Scope(scope.frame, scope.limit, env))),
                              lam.body)
            if _shape(new) != _shape(start):
                raise self.error(f"the function of fixpoint gives "
                                 f"{_describe_shape(_shape(new))} for a start of "
                                 f"{_describe_shape(_shape(start))}", lam.body.span)
            values_ok, derivatives_ok = _changes_within(z, new, tol)
            z = new
            if values_ok and derivatives_ok:
                return z
            if values_ok and values_converged_at is None:
                values_converged_at = iteration
            if values_converged_at is None and iteration >= maxiter:
                if self.checking:
                    return z
                raise NotConverged(f"fixpoint in '{scope.frame.function}' did not converge "
                                   f"within {maxiter} iteration{'s' if maxiter > 1 else ''}",
                                   node.span, self.source)
            if values_converged_at is not None and iteration >= values_converged_at + maxiter:
                if self.checking:
                    return z
                raise NotConverged(f"fixpoint in '{scope.frame.function}': the value "
                                   f"converged but its derivative did not within "
                                   f"{maxiter} more iterations", node.span, self.source)


def _describe_shape(shape: tuple[int, ...]) -> str:
    return f"of shape {_shape_text(shape)}" if shape else "a scalar"


def _changes_within(old, new, tol) -> tuple[bool, bool]:
    """Whether every element's value, and every derivative it carries, moved by at most
    tol·(1 + |new|) (False where a change is nan)."""
    values_ok = derivatives_ok = True
    for a, b in zip(_as_array(old).flat, _as_array(new).flat):
        if not abs(b.v - a.v) <= tol * (1 + abs(b.v)):
            values_ok = False
        for k in {*a.d, *b.d}:
            da, db = a.d.get(k, R.ZERO), b.d.get(k, R.ZERO)
            if not abs(db - da) <= tol * (1 + abs(db)):
                derivatives_ok = False
    return values_ok, derivatives_ok


# -- entry points ---------------------------------------------------------------------------
def _source(source: str | Source) -> Source:
    if isinstance(source, Source):
        return source
    if isinstance(source, str):
        return Source("<string>", source)
    raise TypeError(f"a source must be a str or a chaincc Source, not {type(source).__name__}")


@lru_cache(maxsize=256)
def _module(source: Source) -> S.Module:
    module = parse(source)
    seen: dict[str, S.FuncDef] = {}
    for st in module.statements:
        if isinstance(st, S.FuncDef):
            if st.name in seen:
                raise ChainccError(f"function '{st.name}' is already defined at line "
                                   f"{seen[st.name].span.line}", st.name_span, source)
            seen[st.name] = st
    if not seen:
        raise ChainccError("no function defined in this file (write one like "
                           "'f(x) = x^2')", Span(source.name, 1, 1, 1, 2), source)
    return module


def _defs(module: S.Module) -> list[tuple[int, S.FuncDef]]:
    return [(i, st) for i, st in enumerate(module.statements) if isinstance(st, S.FuncDef)]


def _find(module: S.Module, source: Source, entry: str | None) -> tuple[int, S.FuncDef]:
    defs = _defs(module)
    if entry is None:
        return defs[-1]
    for i, st in defs:
        if st.name == entry:
            return i, st
    names = ", ".join(st.name for _, st in defs)
    raise ChainccError(f"no function '{entry}' in {source.name} (it defines {names})")


def functions(source: str | Source) -> tuple[str, ...]:
    """Every function of the source, in file order."""
    return tuple(st.name for _, st in _defs(_module(_source(source))))


def signature(source: str | Source, entry: str | None = None) -> Signature:
    """The entry function's name, parameter names and shapes."""
    src = _source(source)
    _, fdef = _find(_module(src), src, entry)
    return Signature(fdef.name, tuple(p.name for p in fdef.params),
                     tuple(p.shape for p in fdef.params))


def _evaluate_body(interp: _Interpreter, index: int, fdef: S.FuncDef, values: list) -> object:
    frame = Frame({p.name: v for p, v in zip(fdef.params, values)}, fdef.name)
    out = interp.run(fdef.body, Scope(frame, index))
    if _is_cond(out):
        raise interp.error("a comparison can only be the condition of where(...)",
                           fdef.body.span)
    return out


def _ones(fdef: S.FuncDef) -> list:
    return [Dual(R.ONE) if not p.shape else
            np.array([Dual(R.ONE) for _ in range(math.prod(p.shape))],
                     dtype=object).reshape(p.shape) for p in fdef.params]


@lru_cache(maxsize=256)
def _check_functions(source: Source, first: int, stop: int) -> None:
    """The functions ``first`` to ``stop - 1`` (in file order) evaluate at 1 for every
    parameter, so a source error in any of them is raised, the first in file order, as
    compiling the file would."""
    module = _module(source)
    interp = _Interpreter(module, source, checking=True)
    for index, fdef in _defs(module)[first:stop]:
        _evaluate_body(interp, index, fdef, _ones(fdef))


def _bind(fdef: S.FuncDef, args: Mapping | Sequence) -> list[np.ndarray | float]:
    names = [p.name for p in fdef.params]
    if isinstance(args, Mapping):
        extra = [k for k in args if k not in names]
        missing = [n for n in names if n not in args]
        if extra or missing:
            raise TypeError(f"{fdef.name}({', '.join(names)}): "
                            + (f"missing {', '.join(missing)}" if missing else "")
                            + ("; " if extra and missing else "")
                            + (f"unknown {', '.join(map(str, extra))}" if extra else ""))
        raw = [args[n] for n in names]
    else:
        raw = list(args)
        if len(raw) != len(names):
            raise TypeError(f"{fdef.name} takes {len(names)} arguments, got {len(raw)}")
    out = []
    for p, v in zip(fdef.params, raw):
        a = np.asarray(v, dtype=float)
        if a.shape != p.shape:
            raise ValueError(f"argument '{p.name}' of {fdef.name} must have shape "
                             f"{p.shape}, got {a.shape}")
        out.append(a)
    return out


def _run_entry(source: str | Source, args, entry: str | None, directions):
    """Evaluate the entry with its parameters seeded: element j of the flattened
    parameters gets the tangent {j: 1}, or, with ``directions``, every element of
    parameter k gets {k: its direction}."""
    src = _source(source)
    module = _module(src)
    index, fdef = _find(module, src, entry)
    # every function is checked, and the first source error in file order is raised:
    # the functions before the entry here, the entry by its evaluation, and those after
    # it once that is done (the entry, which may run long loops, is evaluated once)
    position = [i for i, _ in _defs(module)].index(index)
    count = len(_defs(module))
    _check_functions(src, 0, position)
    try:
        raw = _bind(fdef, args)
        dirs = None if directions is None else _bind(fdef, directions)
    except (TypeError, ValueError):
        _check_functions(src, position, count)     # a source error comes first
        raise
    R.reset_counts()            # what the entry's evaluation meets, not the checks'
    values: list[object] = []
    j = 0
    for k, (p, a) in enumerate(zip(fdef.params, raw)):
        flat = []
        for e, x in enumerate(a.reshape(-1)):
            tangent = {j: R.ONE} if dirs is None else \
                {k: R.mpf(float(dirs[k].reshape(-1)[e]))}
            flat.append(R.from_float(float(x), tangent))
            j += 1
        values.append(flat[0] if not p.shape else
                      np.array(flat, dtype=object).reshape(p.shape))
    try:
        out = _as_array(_evaluate_body(_Interpreter(module, src), index, fdef, values))
    except NotConverged:
        _check_functions(src, position + 1, count)     # a source error comes first
        raise
    counts = R.save_counts()
    _check_functions(src, position + 1, count)
    R.restore_counts(counts)
    value = np.array([R.as_float(d) for d in out.flat]).reshape(out.shape)
    return fdef, out, (float(value) if value.shape == () else value)


def _float_or_array(block: np.ndarray):
    return float(block) if block.shape == () else block


def evaluate(source: str | Source, args: Mapping[str, object] | Sequence[object],
             entry: str | None = None):
    """The entry function's value and derivative per parameter at ``args`` (see the
    module docstring)."""
    fdef, out, value = _run_entry(source, args, entry, None)
    grads: dict[str, object] = {}
    k = 0
    for p in fdef.params:
        n = math.prod(p.shape)
        block = np.array([[R.to_f64(d.d.get(j, R.ZERO)) for j in range(k, k + n)]
                          for d in out.flat]).reshape(out.shape + p.shape)
        k += n
        grads[p.name] = _float_or_array(block)
    return value, grads


def directional(source: str | Source, args: Mapping[str, object] | Sequence[object],
                directions: Mapping[str, object] | Sequence[object],
                entry: str | None = None):
    """The value, and per parameter the derivative along ``directions[name]`` (in the
    parameter's shape): Σ_e ∂value/∂x_e · direction_e over that parameter's elements, in
    the value's shape. One pass whatever the parameters' sizes (``evaluate`` carries a
    gradient entry per element), for checking large functions."""
    fdef, out, value = _run_entry(source, args, entry, directions)
    return value, {p.name: _float_or_array(np.array(
        [R.to_f64(d.d.get(k, R.ZERO)) for d in out.flat]).reshape(out.shape))
        for k, p in enumerate(fdef.params)}
