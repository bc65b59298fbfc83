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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from . import reference_math as R
from . import syntax as S
from .diagnostics import ChainccError
from .parser import parse
from .reference_math import Dual
from .source import Source, Span

__all__ = ["Signature", "directional", "evaluate", "functions", "signature"]

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
}

_RELATIONS: dict[str, Callable[[object, object], bool]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


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


# -- scopes ------------------------------------------------------------------------------
@dataclass(eq=False)
class Frame:
    """One evaluation of a function body: its parameters' values, and the bindings
    evaluated in it so far (by statement index)."""

    locals: dict[str, object]
    function: str
    bindings: dict[int, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Scope:
    frame: Frame
    limit: int                     # statements before this index are visible


class _Interpreter:
    def __init__(self, module: S.Module, source: Source) -> None:
        self.module = module
        self.source = source
        self.by_name: dict[str, list[int]] = {}
        for i, st in enumerate(module.statements):
            self.by_name.setdefault(st.name, []).append(i)
        self.lengths = sorted({len(n) for n in (*self.by_name, *BUILTINS, *CONSTANTS)})
        self.calls: dict[tuple, object] = {}

    def error(self, message: str, span: Span | None) -> ChainccError:
        return ChainccError(message, span, self.source)

    # -- names -----------------------------------------------------------------------
    def resolve(self, name: str, scope: Scope) -> tuple[str, object] | None:
        """("value", v) | ("binding", index) | ("function", index) | ("builtin", name)."""
        if name in scope.frame.locals:
            return "value", scope.frame.locals[name]
        for i in reversed(self.by_name.get(name, ())):
            if i < scope.limit:
                kind = "function" if isinstance(self.module.statements[i], S.FuncDef) \
                    else "binding"
                return kind, i
        if name in BUILTINS:
            return "builtin", name
        if name in CONSTANTS:
            return "value", R.const(CONSTANTS[name])
        return None

    def split(self, name: str, scope: Scope) -> list[str] | None:
        """``name`` split wholly into names in scope, the longest name first at each
        position (backtracking when the rest does not split)."""
        lengths = sorted({*self.lengths, *(len(n) for n in scope.frame.locals)},
                         reverse=True)
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
                self.apply(task[1], values)
            elif kind == "builtin":
                node = task[2]
                args = values[len(values) - len(node.args):]
                del values[len(values) - len(node.args):]
                values.append(self.builtin(task[1], node, args))
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
        if isinstance(node, S.Binary) and (node.word_base or node.word_exponent):
            node = self.word_power(node, scope)
        if isinstance(node, S.Num):
            values.append(R.const(R.mpf(node.text)))
        elif isinstance(node, S.Name):
            self.eval_name(node, scope, tasks, values)
        elif isinstance(node, S.Call):
            self.eval_call(node, scope, tasks, values)
        elif isinstance(node, (S.Binary, S.Compare, S.BoolOp)):
            tasks += [("apply", node), ("eval", node.right, scope), ("eval", node.left, scope)]
        elif isinstance(node, (S.Unary, S.Not, S.Transpose)):
            tasks += [("apply", node), ("eval", node.operand, scope)]
        elif isinstance(node, S.Index):
            tasks.append(("apply", node))
            tasks += [("eval", i, scope) for i in reversed(node.indices)]
            tasks.append(("eval", node.base, scope))
        elif isinstance(node, S.ArrayLit):
            tasks.append(("apply", node))
            tasks += [("eval", i, scope) for i in reversed(node.items)]
        else:  # pragma: no cover
            raise AssertionError(type(node).__name__)

    def unknown(self, node: S.Name, scope: Scope) -> ChainccError:
        return self.error(f"unknown name '{node.id}'", node.span)

    def eval_name(self, node: S.Name, scope: Scope, tasks: list, values: list) -> None:
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
        if prefix:
            tasks.append(("product", len(prefix) + 1, node))
        if kind in ("value", "binding"):
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
                want = str(lo) if lo == hi else f"{lo} or {hi}" if hi else f"at least {lo}"
                raise self.error(f"'{name}' takes {want} argument(s), got {n}", node.span)
            if kind == "function":
                tasks.append(("call", payload, node))
            else:
                tasks.append(("builtin", payload, node))
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
        if _is_cond(v):
            raise self.error("a comparison can only be the condition of where(...)",
                             node.span)
        return v

    def cond(self, v, node: S.Node):
        if not _is_cond(v):
            raise self.error("expected a comparison", node.span)
        return v

    def elementwise(self, f: Callable, args: list, node: S.Node):
        if not any(isinstance(a, np.ndarray) for a in args):
            return f(*args)
        try:
            shape = np.broadcast_shapes(*(_shape(a) for a in args))
        except ValueError:
            shapes = ", ".join(_shape_text(_shape(a)) or "scalar" for a in args)
            raise self.error(f"the shapes do not broadcast: {shapes}", node.span) from None
        arrays = [np.broadcast_to(_as_array(a), shape) for a in args]
        out = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            out[idx] = f(*(a[idx] for a in arrays))
        return _finish(out)

    def arith(self, op: str, a, b, node: S.Node):
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

    def apply(self, node: S.Node, values: list) -> None:
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
            values.append(self.index(node, values.pop(), idx))
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

    def index(self, node: S.Index, base, idx: list):
        base = self.number(base, node.base)
        shape = _shape(base)
        if not shape:
            raise self.error("cannot index a scalar", node.span)
        if len(idx) > len(shape):
            raise self.error("too many indices", node.span)
        ints = []
        for axis, (v, n) in enumerate(zip(idx, node.indices)):
            if not (isinstance(v, Dual) and not v.d and R.finite(v.v)
                    and v.v == R.M.floor(v.v)):
                raise self.error("an index must be a constant integer", n.span)
            k = int(v.v)
            if not 0 <= k < shape[axis]:
                raise self.error(f"index {k} is out of range for axis {axis}", n.span)
            ints.append(k)
        out = base[tuple(ints)]
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
    def builtin(self, name: str, node: S.Call, args: list):
        if name == "where":
            c = self.cond(args[0], node.args[0])
            a = self.number(args[1], node.args[1])
            b = self.number(args[2], node.args[2])
            return self.elementwise(lambda k, x, y: x if k else y, [c, a, b], node)
        args = [self.number(a, n) for a, n in zip(args, node.args)]
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


@lru_cache(maxsize=256)
def _check_all(source: Source) -> None:
    """Every function evaluates (at 1 for every parameter), so a source error anywhere in
    the file is raised, the first in file order, as compiling the file would."""
    module = _module(source)
    interp = _Interpreter(module, source)
    for index, fdef in _defs(module):
        values = [Dual(R.ONE) if not p.shape else
                  np.array([Dual(R.ONE) for _ in range(math.prod(p.shape))],
                           dtype=object).reshape(p.shape) for p in fdef.params]
        _evaluate_body(interp, index, fdef, values)


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
    _check_all(src)
    R.reset_counts()            # what the entry's evaluation meets, not the check's
    index, fdef = _find(module, src, entry)
    raw = _bind(fdef, args)
    dirs = None if directions is None else _bind(fdef, directions)
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
    out = _as_array(_evaluate_body(_Interpreter(module, src), index, fdef, values))
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
