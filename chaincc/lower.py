"""Lowering: syntax tree → forward Program, one SymPy operation per statement.

Name resolution happens here (scopes, shadowing, inlined calls, ``xy`` splitting), since
what ``xy`` or ``x(y+1)`` means depends on the names in scope. Arrays are scalarised
(see arrays.py). The walk uses an explicit stack: a 10,000-deep expression lowers without
touching Python's recursion limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import sympy as sp
from sympy.logic.boolalg import Boolean

from . import arrays as A
from . import progress
from . import syntax as S
from .arith import binary, literal
from .builtins import BUILTINS, CONSTANTS, Builtin
from .diagnostics import ChainccError, SourceWarning
from .functions import as_float, from_float, relation
from .hints import name_hint
from .ir import Output, Param, Program
from .iterate import SCALARISE_ELEMENTS, ParamRef
from .logic import Not, Or
from .optimize import Builder, program
from .parser import MAX_DIMENSIONS, word_exponent_warning
from .recurrences import RecurrenceLowering
from .source import Source, Span

# Beyond this many scalar operations a function is refused: the graph is scalarised, and
# a larger one would take minutes to compile. chaincc serves small dense models.
MAX_OPERATIONS = 100_000

# The reductions (and softmax) that take axis=k.
AXIS_FUNCTIONS = ("sum", "mean", "prod", "max", "min", "logsumexp", "softmax")

OP_VERBS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "^": "raise",
            "@": "multiply"}
RELATIONS = {"<": sp.Lt, "<=": sp.Le, ">": sp.Gt, ">=": sp.Ge, "==": sp.Eq, "!=": sp.Ne}


@dataclass
class Scope:
    """Where an expression is evaluated: a frame (the function being defined, or one
    inlined call of a helper) and the statements visible from it.

    A binding's names are looked up where it is used, so its value depends on the frame
    that uses it: the memo of evaluated bindings is keyed by the frame, and two uses share a
    value only within one frame (or two calls with the same arguments, which are one frame).
    """

    locals: dict[str, object]
    limit: int                                   # statements before this index are visible
    memo: dict = field(default_factory=dict)     # shared by one function's lowering
    frame: tuple = ("root",)                     # the call this scope belongs to
    function: str = ""                           # the function whose body this frame runs
    # the loops (and unrolled iterations) around the expression: values memoised inside
    # a loop body belong to it (an index variable may change them)
    loops: tuple = ()
    indices: frozenset = frozenset()             # the names in locals that are indices
    recur: object = None                         # inside a recurrence's step: its context


class Globals:
    """Top-level bindings and functions, each visible to the statements after it."""

    def __init__(self, module: S.Module) -> None:
        self.defs: dict[str, list[tuple[int, S.Statement]]] = {}
        for i, st in enumerate(module.statements):
            self.defs.setdefault(st.name, []).append((i, st))

    def lookup(self, name: str, limit: int) -> tuple[int, S.Statement] | None:
        for i, st in reversed(self.defs.get(name, [])):
            if i < limit:
                return i, st
        return None


def _number(node: S.Num) -> sp.Expr:
    return literal(node.text)


def _negate(x: sp.Expr) -> sp.Expr:
    """``-x``; a number is negated in float64 where that differs (``-0.0`` is the
    negative zero, not 0)."""
    v = as_float(x)
    if v is not None and (v == 0 or v != v or abs(v) == math.inf):
        return from_float(-v)
    return sp.Mul(-1, x)


def is_cond(v) -> bool:
    if isinstance(v, np.ndarray):
        return v.size > 0 and is_cond(v.flat[0])
    return isinstance(v, Boolean) and not isinstance(v, sp.Expr)


def _broadcast_size(values: list) -> int:
    """Elements of the broadcast result; 0 when the shapes do not broadcast."""
    try:
        return int(np.prod(np.broadcast_shapes(*(A.shape_of(v) for v in values))))
    except ValueError:
        return 0


def _key(v) -> tuple:
    return (A.shape_of(v), tuple(A.flat(v)))


class Lowerer(RecurrenceLowering):
    def __init__(self, module: S.Module, source: Source | None) -> None:
        self.module = module
        self.source = source
        self.globals = Globals(module)
        # One statement pool, memo and set of labels for the whole module: a helper's
        # body lowered for some arguments is shared by every later function that calls it
        # with the same arguments (a chain of functions each calling the one before lowers
        # in linear time). Statements are pure functions of their operands, so sharing is
        # exact; each function's Program keeps only the statements its value needs.
        self.builder = Builder()
        self.memo: dict = {}
        self.labels: dict[sp.Symbol, str] = {}
        self._start = 0                          # the pool's size when a function began
        self.warnings: list[SourceWarning] = []  # what lowering found ambiguous (e^xy)
        self.stage = progress.NULL                # statements emitted, as they are

    def error(self, message: str, span: Span) -> ChainccError:
        return ChainccError(message, span, self.source)

    def describe(self, node: S.Node, v) -> str:
        """How a diagnostic names an operand: its source text and its shape."""
        sp_ = node.span
        text = "expression"
        if self.source is not None and sp_.line == sp_.end_line:
            snippet = self.source.line_text(sp_.line)[sp_.col - 1:sp_.end_col - 1]
            if 0 < len(snippet) <= 40:
                text = snippet
        shape = A.shape_of(v)
        return f"{text}{A.shape_text(shape)}" if shape else f"{text} (a scalar)"

    # -- names -----------------------------------------------------------------------
    def _kind(self, name: str, scope: Scope):
        """What ``name`` means here: (kind, payload) or None."""
        if name in scope.locals:
            return "value", scope.locals[name]
        hit = self.globals.lookup(name, scope.limit)
        if hit is not None:
            if isinstance(hit[1], S.IndexedBinding):
                return "indexed", (name, scope.limit)
            return ("function" if isinstance(hit[1], S.FuncDef) else "binding"), hit
        if name in BUILTINS:
            return "builtin", BUILTINS[name]
        if name in CONSTANTS:
            return "value", CONSTANTS[name]
        return None

    def _split(self, name: str, scope: Scope) -> list[str] | None:
        """Split ``xy`` wholly into names in scope, longest name first (with backtracking).

        The split a longest-first search with backtracking finds is computed in time
        linear in ``len(name)`` times the number of distinct lengths of names in scope:
        ``ok[i]`` says whether ``name[i:]`` splits, filled from the end; the split then
        takes, at each position, the longest name whose remainder splits."""
        lengths = sorted({len(n) for n in (*scope.locals, *self.globals.defs, *BUILTINS,
                                           *CONSTANTS) if 0 < len(n) <= len(name)},
                         reverse=True)
        size = len(name)
        ok = [False] * (size + 1)
        ok[size] = True
        choice = [0] * size
        for pos in range(size - 1, -1, -1):
            for k in lengths:
                if pos + k <= size and ok[pos + k] \
                        and self._kind(name[pos:pos + k], scope) is not None:
                    ok[pos], choice[pos] = True, k
                    break
        if not ok[0]:
            return None
        parts, pos = [], 0
        while pos < size:
            parts.append(name[pos:pos + choice[pos]])
            pos += choice[pos]
        return parts

    def unknown(self, node: S.Name, scope: Scope) -> ChainccError:
        """An unknown name; when another function has a parameter of that name, say that
        a function sees only its own parameters (a helper does not see its caller's)."""
        owners = [st.name for st in self.module.statements if isinstance(st, S.FuncDef)
                  and st.name != scope.function and any(p.name == node.id for p in st.params)]
        if owners:
            return self.error(
                f"unknown name '{node.id}': it is a parameter of '{owners[0]}', and "
                f"'{scope.function}' sees only its own parameters and the bindings, functions "
                "and constants above it (pass it as an argument)", node.span)
        return self.error(f"unknown name '{node.id}'{self._hint(node, scope)}", node.span)

    def _hint(self, node: S.Name, scope: Scope, call: bool = False) -> str:
        """What follows "unknown name 'x'": the chaincc form of a Python word, or the
        closest name in scope (innermost first)."""
        visible = [n for n, defs in self.globals.defs.items() if defs[0][0] < scope.limit]
        candidates = [*scope.locals, *reversed(visible), *BUILTINS, *CONSTANTS]
        line = self.source.line_text(node.span.line) if self.source is not None else ""
        return name_hint(node.id, line, node.span.col - 1, candidates, call)

    def _callable(self, name: str, scope: Scope) -> bool:
        return self._kind(name, scope)[0] in ("function", "builtin")

    # -- expressions -------------------------------------------------------------------
    def lower_expr(self, root: S.Node, scope: Scope, builder: Builder, span: Span):
        def emit(e: sp.Basic) -> sp.Expr:
            # checked per statement: one array operation (A @ B) can emit millions alone
            if builder.counter - self._start > MAX_OPERATIONS:
                raise self.too_big(span)
            return builder.emit(e)

        values: list = []
        tasks: list[tuple] = [("eval", root, scope)]
        steps = 0
        while tasks:
            steps += 1
            if steps % 4096 == 0:
                if builder.counter - self._start > MAX_OPERATIONS:
                    raise self.too_big(span)
                self.stage.update(builder.counter)
            task = tasks.pop()
            kind = task[0]
            if kind == "eval":
                self._eval(task[1], task[2], tasks, values)
            elif kind == "apply":
                self._apply(task[1], task[2], values, emit)
            elif kind == "mul":                  # product of the top n values (split names)
                n, node = task[1], task[2]
                args = [self._number(values.pop(), node) for _ in range(n)][::-1]
                acc = args[0]
                for a in args[1:]:
                    acc = self._arith("*", acc, a, node, node, node, emit)
                values.append(acc)
            elif kind == "call":                 # inline a user function
                _, (idx, fdef), node, sc = task
                args = [values.pop() for _ in node.args][::-1]
                self._check_call(fdef, node, args)
                key = ("call", idx, tuple(_key(a) for a in args), sc.loops)
                if key in sc.memo:
                    values.append(sc.memo[key])
                    continue
                inner = Scope(dict(zip((p.name for p in fdef.params), args)), idx, sc.memo,
                              key, fdef.name, loops=sc.loops)
                # the result carries the helper's name, as a binding's does
                tasks.append(("label", fdef.name, sc, key))
                tasks.append(("eval", fdef.body, inner))
            elif kind == "label":
                v = values[-1]
                if isinstance(v, sp.Symbol) and v not in self.labels:
                    self.labels[v] = task[1]
                task[2].memo[task[3]] = v
        if builder.counter - self._start > MAX_OPERATIONS:
            raise self.too_big(span)
        assert len(values) == 1
        return values[0]

    def too_big(self, span: Span) -> ChainccError:
        return self.error(f"this function needs more than {MAX_OPERATIONS:,} scalar "
                          "operations; chaincc scalarises arrays (each element is its own "
                          "symbol), so it serves small dense models", span)

    def _number(self, v, node: S.Node):
        if isinstance(v, ParamRef):
            text = self.describe(node, None)
            raise self.error(f"{text} has {int(np.prod(v.shape)):,} elements: read it "
                             f"element by element ({text}[t]) in a loop, or reduce it "
                             "whole (sum, mean, prod, max, min, norm); an array used whole "
                             "otherwise is scalarised (each element its own symbol), which "
                             f"serves small dense models (at most {SCALARISE_ELEMENTS:,} "
                             "elements)", node.span)
        if is_cond(v):
            raise self.error("a comparison can only be the condition of where(...)",
                             node.span)
        return v

    def _check_call(self, fdef: S.FuncDef, node: S.Call, args: list) -> None:
        for p, a, arg in zip(fdef.params, args, node.args):
            self._number(a, arg)
            if A.shape_of(a) != p.shape:
                want = f"have shape {A.shape_text(p.shape)}" if p.shape else "be a scalar"
                raise self.error(f"argument '{p.name}' of '{fdef.name}' must {want}, "
                                 f"got {self.describe(arg, a)}", arg.span)

    def _word_parts(self, word: S.Node, scope: Scope) -> list[str] | None:
        """The names a word that is no name here splits into, or None."""
        assert isinstance(word, S.Name)
        if self._kind(word.id, scope) is not None:
            return None
        parts = self._split(word.id, scope)
        if parts is None or any(self._callable(p, scope) for p in parts):
            return None
        return parts

    def _word_power(self, node: S.Binary, scope: Scope) -> S.Node:
        """``xy²`` and ``e^xy`` where the word is no name here but splits into names: the
        power takes the nearest name, ``x·y²`` and ``(e^x)·y`` (``syntax.split_words``);
        the second with a warning."""
        base = self._word_parts(node.left, scope) if node.word_base else None
        exponent = self._word_parts(node.right, scope) if node.word_exponent else None
        if exponent:
            self.warnings.append(word_exponent_warning(node, exponent, self.source))
        return S.split_words(node, base, exponent) if base or exponent else node

    def _eval(self, node: S.Node, scope: Scope, tasks: list, values: list) -> None:
        if isinstance(node, S.Binary) and (node.word_base or node.word_exponent):
            node = self._word_power(node, scope)
        if isinstance(node, S.Num):
            values.append(_number(node))
        elif isinstance(node, S.Name):
            self._eval_name(node, scope, tasks, values)
        elif isinstance(node, S.Call) and node.func.id == "fixpoint" and \
                self._kind("fixpoint", scope) == ("builtin", BUILTINS["fixpoint"]):
            values.append(self._fixpoint(node, scope))
        elif isinstance(node, S.Call):
            self._eval_call(node, scope, tasks, values)
        elif isinstance(node, (S.Binary, S.Compare, S.BoolOp)):
            tasks.append(("apply", node, scope))
            tasks.append(("eval", node.right, scope))
            tasks.append(("eval", node.left, scope))
        elif isinstance(node, (S.Unary, S.Not, S.Transpose)):
            tasks.append(("apply", node, scope))
            tasks.append(("eval", node.operand, scope))
        elif isinstance(node, S.Reduce):
            values.append(self._reduce(node, scope))
        elif isinstance(node, S.Index):
            if self._special_index(node, scope, values):
                return
            tasks.append(("apply", node, scope))
            tasks.extend(("eval", i, scope) for i in reversed(node.indices))
            tasks.append(("eval", node.base, scope))
        elif isinstance(node, S.ArrayLit):
            tasks.append(("apply", node, scope))
            tasks.extend(("eval", i, scope) for i in reversed(node.items))
        elif isinstance(node, S.Slice):          # an index of x[...]: its ends, then the slice
            tasks.append(("apply", node, scope))
            tasks.extend(("eval", e, scope) for e in (node.stop, node.start) if e is not None)
        else:  # pragma: no cover - the parser builds only the nodes above
            raise AssertionError(f"unexpected node {type(node).__name__}")

    def _eval_name(self, node: S.Name, scope: Scope, tasks: list, values: list) -> None:
        k = self._kind(node.id, scope)
        if k is None:
            parts = self._split(node.id, scope)
            if parts is None or any(self._callable(p, scope) for p in parts):
                raise self.unknown(node, scope)
            tasks.append(("mul", len(parts), node))
            for p in reversed(parts):
                tasks.append(("eval", S.Name(node.span, p), scope))
            return
        what, payload = k
        if what == "value":
            values.append(payload)       # (an array read element by element: _number)
        elif what == "indexed":
            values.append(self._indexed_whole(node, payload, scope))
        elif what == "binding":
            idx, st = payload
            key = ("binding", idx, scope.frame, scope.loops)
            if key in scope.memo:
                values.append(scope.memo[key])
                return
            tasks.append(("label", st.name, scope, key))
            tasks.append(("eval", st.value, replace(scope, limit=idx)))
        else:
            raise self.error(f"'{node.id}' is a function; call it with arguments: "
                             f"{node.id}(...)", node.span)

    def _eval_call(self, node: S.Call, scope: Scope, tasks: list, values: list) -> None:
        name = node.func.id
        k = self._kind(name, scope)
        prefix: list[str] = []
        if k is None:
            parts = self._split(name, scope)
            if parts is None or any(self._callable(p, scope) for p in parts[:-1]):
                raise self.error(f"unknown function '{name}'"
                                 f"{self._hint(node.func, scope, call=True)}", node.func.span)
            prefix, name = parts[:-1], parts[-1]
            k = self._kind(name, scope)
        what, payload = k
        if what == "indexed":
            raise self.error(f"'{name}' is an array defined by indexed statements; index it: "
                             f"{name}[...]", node.func.span)
        if prefix:
            tasks.append(("mul", len(prefix) + 1, node))
        if what in ("value", "binding"):
            if len(node.args) != 1 or node.keywords:
                raise self.error(f"'{name}' is not a function", node.func.span)
            tasks.append(("mul", 2, node))
            tasks.append(("eval", node.args[0], scope))
            tasks.append(("eval", S.Name(node.func.span, name), scope))
        else:
            n = len(node.args)
            if what == "function":
                lo = hi = len(payload[1].params)
            else:
                lo, hi = payload.min_args, payload.max_args
            if n < lo or (hi is not None and n > hi):
                want = (str(lo) if hi == lo else f"{lo} or {hi}" if hi else f"at least {lo}")
                plural = "" if want.split()[-1] == "1" else "s"    # "at least 1 argument"
                raise self.error(f"'{name}' takes {want} argument{plural}, got {n}", node.span)
            if what == "function" and node.keywords:
                raise self.error(f"'{name}' takes no keyword arguments",
                                 node.keywords[0].span)
            call = S.Call(node.span, S.Name(node.func.span, name), node.args, node.keywords)
            if what == "function":
                tasks.append(("call", payload, call, scope))
            else:
                tasks.append(("apply", call, scope))
                # keyword values (axis=0) are evaluated after the arguments
                tasks.extend(("eval", k.value, scope) for k in reversed(node.keywords))
            tasks.extend(("eval", a, scope) for a in reversed(node.args))
        for p in reversed(prefix):
            tasks.append(("eval", S.Name(node.func.span, p), scope))

    # -- operations ----------------------------------------------------------------------
    def _arith(self, op: str, l, r, node: S.Node, ln: S.Node, rn: S.Node, emit):
        l, r = self._number(l, ln), self._number(r, rn)
        if op == "@":
            if not A.shape_of(l) or not A.shape_of(r):
                raise self.error(f"'@' needs arrays on both sides: {self.describe(ln, l)} "
                                 f"@ {self.describe(rn, r)}", node.span)
            sl, sr = A.shape_of(l), A.shape_of(r)
            if sl[-1] == sr[0]:
                self._fits(int(np.prod(sl)) * int(np.prod(sr[1:])), node)
            try:
                return A.matmul(l, r, emit)
            except A.ShapeError:
                raise self.error(f"cannot multiply {self.describe(ln, l)} @ "
                                 f"{self.describe(rn, r)}", node.span) from None
        def make(a, b):
            return binary(op, a, b)        # IEEE: numbers fold in float64
        if not A.shape_of(l) and not A.shape_of(r):
            return emit(make(l, r))
        self._fits(_broadcast_size([l, r]), node)
        try:
            return A.elementwise(make, [l, r], emit)
        except A.ShapeError:
            raise self.error(f"cannot {OP_VERBS[op]} {self.describe(ln, l)} {op} "
                             f"{self.describe(rn, r)}: the shapes do not broadcast",
                             node.span) from None

    def _apply(self, node: S.Node, scope: Scope, values: list, emit) -> None:
        if isinstance(node, S.Call):
            keywords = [values.pop() for _ in node.keywords][::-1]
            args = [values.pop() for _ in node.args][::-1]
            values.append(self._builtin(self._kind(node.func.id, scope)[1], node, args, emit,
                                        keywords))
        elif isinstance(node, S.Slice):
            stop = values.pop() if node.stop is not None else None
            start = values.pop() if node.start is not None else None
            values.append(slice(start, stop))
        elif isinstance(node, S.Unary):
            x = self._number(values.pop(), node.operand)
            if node.op == "+":
                values.append(x)
            else:
                values.append(A.elementwise(_negate, [x], emit)
                              if A.shape_of(x) else emit(_negate(x)))
        elif isinstance(node, S.Not):
            x = self._cond(values.pop(), node.operand)
            values.append(A.elementwise(Not, [x], emit, raw=True))
        elif isinstance(node, S.Transpose):
            x = self._number(values.pop(), node.operand)
            values.append(self._transpose(x, node.operand))
        elif isinstance(node, S.Index):
            idx = [values.pop() for _ in node.indices][::-1]
            values.append(self._index(node, values.pop(), idx))
        elif isinstance(node, S.ArrayLit):
            items = [values.pop() for _ in node.items][::-1]
            for item, it in zip(items, node.items):
                self._number(item, it)
            try:
                values.append(A.literal(items))
            except A.ShapeError:
                first = A.shape_of(items[0])
                k = next(k for k, v in enumerate(items) if A.shape_of(v) != first)
                raise self.error("the rows of an array literal must all have the same "
                                 f"shape: {self.describe(node.items[0], items[0])} and "
                                 f"{self.describe(node.items[k], items[k])}",
                                 node.span) from None
        elif isinstance(node, S.BoolOp):
            r, l = values.pop(), values.pop()
            l, r = self._cond(l, node.left), self._cond(r, node.right)
            f = sp.And if node.op == "and" else Or
            values.append(self._broadcast(f, [l, r], node, [node.left, node.right], emit))
        elif isinstance(node, S.Compare):
            r, l = values.pop(), values.pop()
            l, r = self._number(l, node.left), self._number(r, node.right)
            rel = RELATIONS[node.op]
            values.append(self._broadcast(lambda a, b, rel=rel: relation(rel, a, b), [l, r],
                                          node, [node.left, node.right], emit))
        else:
            assert isinstance(node, S.Binary)
            r, l = values.pop(), values.pop()
            values.append(self._arith(node.op, l, r, node, node.left, node.right, emit))

    def _fits(self, work: int, node: S.Node) -> None:
        """Refuse one array operation that alone exceeds the limit before building any of
        it: ``A @ B`` or a broadcast can ask for millions of statements at once."""
        if work > MAX_OPERATIONS:
            raise self.too_big(node.span)

    def _broadcast(self, f, args: list, node: S.Node, arg_nodes: list, emit, raw=True):
        self._fits(_broadcast_size(args), node)
        try:
            return A.elementwise(f, args, emit, raw=raw)
        except A.ShapeError:
            shapes = ", ".join(self.describe(n, a) for n, a in zip(arg_nodes, args))
            raise self.error(f"the shapes do not broadcast: {shapes}", node.span) from None

    def _cond(self, v, node: S.Node):
        if is_cond(v):
            return v
        raise self.error("expected a comparison", node.span)

    def _transpose(self, x, node: S.Node):
        try:
            return A.transpose(x)
        except A.ShapeError:
            raise self.error(f"cannot transpose {self.describe(node, x)}: it has more "
                             "than two dimensions", node.span) from None

    def _index(self, node: S.Index, base, idx: list):
        shape = A.shape_of(base)
        if not shape:
            raise self.error(f"cannot index {self.describe(node.base, base)}", node.span)
        if len(idx) > len(shape):
            raise self.error(f"too many indices for {self.describe(node.base, base)}",
                             node.span)
        key: list[int | slice] = []
        for i, (v, n, dim) in enumerate(zip(idx, node.indices, shape)):
            if isinstance(v, slice):
                assert isinstance(n, S.Slice)
                key.append(self._slice(node, base, v, n, i, dim))
                continue
            if not (isinstance(v, sp.Expr) and v.is_Integer):
                raise self.error("an index must be a constant integer", n.span)
            k = int(v)
            if not 0 <= k < dim:
                raise self.error(f"index {k} is out of range for axis {i} of "
                                 f"{self.describe(node.base, base)}", n.span)
            key.append(k)
        if len(key) == len(shape) and not any(isinstance(k, slice) for k in key):
            return base[tuple(key)]
        return A.wrap(np.array(base[tuple(key)], dtype=object))      # a copy

    def _slice(self, node: S.Index, base, v: slice, n: S.Slice, axis: int,
               dim: int) -> slice:
        """The slice ``a:b`` of axis ``axis`` (of length ``dim``): its ends constant
        integers in 0..dim (a negative or larger end is an error, not clipped), and at
        least one element."""
        ends = []
        for end, end_node, default in ((v.start, n.start, 0), (v.stop, n.stop, dim)):
            if end_node is None:
                ends.append(default)
                continue
            if not (isinstance(end, sp.Expr) and end.is_Integer):
                raise self.error("a slice end must be a constant integer", end_node.span)
            k = int(end)
            if not 0 <= k <= dim:
                raise self.error(f"slice end {k} is out of range for axis {axis} of "
                                 f"{self.describe(node.base, base)}", end_node.span)
            ends.append(k)
        if ends[0] >= ends[1]:
            raise self.error(f"the slice {ends[0]}:{ends[1]} of axis {axis} of "
                             f"{self.describe(node.base, base)} has no element", n.span)
        return slice(ends[0], ends[1])

    def _builtin(self, b: Builtin, node: S.Call, args: list, emit, keywords: list = ()):
        kind = b.kind
        if kind in ("reduce", "extremum") and len(args) == 1 and not node.keywords and \
                isinstance(args[0], ParamRef):
            return self.reduce_ref(b.name, args[0], node.span)
        axis = self._axis(b, node, keywords)
        if axis is not None:
            return self._along_axis(b, node, [self._number(args[0], node.args[0]), *args[1:]],
                                    axis, emit)
        if kind == "fill":
            return self._fill(b, node, args)
        if kind == "where":
            cond = self._cond(args[0], node.args[0])
            a, c = self._number(args[1], node.args[1]), self._number(args[2], node.args[2])
            if not any(A.shape_of(v) for v in (cond, a, c)):
                return emit(b.make(cond, a, c))
            return self._broadcast(b.make, [cond, a, c], node, list(node.args), emit,
                                   raw=False)
        args = [self._number(a, n) for a, n in zip(args, node.args)]
        if kind == "elementwise" or (kind == "extremum" and len(args) > 1):
            if not any(A.shape_of(a) for a in args):
                return emit(b.make(*args))
            return self._broadcast(b.make, args, node, list(node.args), emit, raw=False)
        if kind == "extremum":
            return A.reduce_all(b.name, args[0], emit)
        if kind == "reduce":
            return A.reduce_all(b.name, args[0], emit)
        if kind == "dot":
            try:
                return A.dot(args[0], args[1], emit)
            except A.ShapeError:
                raise self.error(f"dot needs two arrays of the same shape, got "
                                 f"{self.describe(node.args[0], args[0])} and "
                                 f"{self.describe(node.args[1], args[1])}",
                                 node.span) from None
        if kind == "lastaxis":
            if b.name == "logsumexp":
                return A.along_last(lambda xs: A.logsumexp_row(xs, emit), args[0])
            return A.along_last(lambda xs: A.softmax_row(xs, emit), args[0])
        assert kind == "transpose", kind
        return self._transpose(args[0], node.args[0])

    def _axis(self, b: Builtin, node: S.Call, keywords: list) -> tuple[int, S.Keyword] | None:
        """The ``axis=k`` of a call (k a constant integer, as written: it may be negative),
        or None; any other keyword, or one on another function, is an error at it."""
        found = None
        for kw, v in zip(node.keywords, keywords):
            if b.name not in AXIS_FUNCTIONS:
                raise self.error(f"'{b.name}' takes no keyword arguments", kw.span)
            if kw.name != "axis":
                raise self.error(f"'{b.name}' takes no keyword argument '{kw.name}' (its one "
                                 "keyword argument is axis=k)", kw.span)
            if not (isinstance(v, sp.Expr) and v.is_Integer):
                raise self.error("axis must be a constant integer (axis=0, axis=-1)",
                                 kw.value.span)
            found = (int(v), kw)
        return found

    def _along_axis(self, b: Builtin, node: S.Call, args: list, axis: tuple[int, S.Keyword],
                    emit):
        """``sum(A, axis=k)`` (mean, prod, max, min, logsumexp: the axis reduced) and
        ``softmax(A, axis=k)`` (along the axis)."""
        k, kw = axis
        if len(args) != 1:
            raise self.error(f"'{b.name}' with axis= takes one array: {b.name}(A, axis=k)",
                             kw.span)
        x = args[0]
        ndim = len(A.shape_of(x))
        if not -ndim <= k < ndim:
            raise self.error(f"axis {k} is out of range for "
                             f"{self.describe(node.args[0], x)}", kw.span)
        if b.name == "logsumexp":
            def f(xs):
                return A.logsumexp_row(xs, emit)
        elif b.name == "softmax":
            def f(xs):
                return A.softmax_row(xs, emit)
        else:
            def f(xs):
                return A.reduce_row(b.name, xs, emit)
        return A.along_axis(f, x, k % ndim)

    def _fill(self, b: Builtin, node: S.Call, args: list):
        """``zeros(n)``, ``ones(m, n)``: an array of that shape; each size a constant
        positive integer (a number or a size)."""
        dims = []
        for v, n in zip(args, node.args):
            if A.shape_of(v) or not (isinstance(v, sp.Expr) and v.is_Integer) or v <= 0:
                raise self.error(f"the sizes of {b.name}(…) are positive integers (numbers or "
                                 f"sizes), got {self.describe(n, v)}", n.span)
            dims.append(int(v))
        if len(dims) > MAX_DIMENSIONS:
            raise self.error(f"an array has at most {MAX_DIMENSIONS} dimensions", node.span)
        self._fits(math.prod(dims), node)
        out = np.empty(dims, dtype=object)
        out.fill(b.make())
        return out

    # -- statements --------------------------------------------------------------------
    def lower_function(self, index: int, fdef: S.FuncDef) -> Program:
        params = []
        locals_: dict[str, object] = {}
        self._iteration_reset(self.builder)
        for p in fdef.params:
            if not p.shape:
                sym = sp.Symbol(p.name)
                locals_[p.name] = sym
                params.append(Param(p.name, (), (sym,)))
                continue
            size = int(np.prod(p.shape))
            if size > SCALARISE_ELEMENTS:
                # read element by element, in loops
                locals_[p.name] = ParamRef(p.name, p.shape)
                params.append(Param(p.name, p.shape, ()))
                continue
            arr = np.empty(p.shape, dtype=object)
            for idx in np.ndindex(*p.shape):
                arr[idx] = sp.Symbol(f"{p.name}[{','.join(map(str, idx))}]")
            locals_[p.name] = arr
            self.param_arrays[id(arr)] = (p.name, p.shape)
            self.keep_alive.append(arr)
            params.append(Param(p.name, p.shape, tuple(arr.reshape(-1))))
        self._start = self.builder.counter
        root = Scope(locals_, index, self.memo, ("root", index), fdef.name)
        value = self.lower_expr(fdef.body, root, self.builder, fdef.name_span)
        value = self._number(value, fdef.body)
        out = Output("value", A.shape_of(value), tuple(A.flat(value)))
        prog = program(fdef.name, tuple(params), self.builder, (out,), fdef.span.line,
                       tuple(self.labels.items()), tuple(self.buffers))
        if len(prog.body) > MAX_OPERATIONS:
            raise self.too_big(fdef.name_span)
        return prog


def lower_module(module: S.Module, source: Source | None = None,
                 warnings: list[SourceWarning] | None = None) -> list[Program]:
    """Every function of the module as a forward Program, in file order. ``warnings``,
    when given, receives what lowering found ambiguous (``e^xy`` read as ``e^x·y``)."""
    lw = Lowerer(module, source)
    seen: dict[str, S.FuncDef] = {}
    progs = []
    with progress.stage(progress.LOWER) as lw.stage:
        for i, st in enumerate(module.statements):
            if isinstance(st, S.FuncDef):
                if st.name in seen:
                    raise lw.error(f"function '{st.name}' is already defined at line "
                                   f"{seen[st.name].span.line}", st.name_span)
                seen[st.name] = st
                progs.append(lw.lower_function(i, st))
                lw.stage.update(lw.builder.counter)
    if not progs:
        raise ChainccError("no function defined in this file (write one like "
                           "'f(x) = x^2')", Span(module.file, 1, 1, 1, 2), source)
    if warnings is not None:
        warnings.extend(lw.warnings)
    return progs
