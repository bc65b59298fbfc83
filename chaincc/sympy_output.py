"""A compiled function's formulas as plain SymPy: ``Function.sympy()`` and
``chaincc eval --symbolic``.

The formulas are read off chaincc's own fused program (value and gradient, or value and
Jacobian), statement by statement in program order, so they are the derivatives chaincc
computes, not SymPy's. Each statement is first written in plain SymPy: chaincc's own
function classes (``functions.py``) and SymPy codegen's ``expm1``/``log1p``/``log2``/
``log10``/``hypot`` become expressions of SymPy's core functions, so that the result can
be printed, simplified, lambdified and differentiated with SymPy alone. Then either every
statement is substituted into the statements that use it (the default: one expression
per output element), or the statements are kept as assignments (``cse=True``: the shared
subexpressions as chaincc computes them).

Symbols: a scalar parameter ``x`` is ``Symbol("x", real=True)``; an element of an array
parameter ``W`` is ``IndexedBase("W", real=True)[i, j]`` (printed ``W[i, j]``; pass the
``IndexedBase`` to ``sympy.lambdify`` and call it with a NumPy array). Shapes: a scalar
is an expression, a vector a column ``Matrix`` (n×1), a matrix a ``Matrix``, and a block
of rank three or more (the Jacobian of a matrix-valued function with respect to an array,
for instance) an ``ImmutableDenseNDimArray``.

Every statement is walked with an explicit stack. Substituting statements into each
other can make an expression far larger than the program (a value used twice is written
twice), so the size and depth of the result are counted before anything is built, and a
function whose formulas would be larger than ``MAX_OPERATIONS`` operations or deeper
than ``MAX_DEPTH`` levels (where SymPy's own printers and ``diff`` recurse past Python's
limit) is refused with a ``ChainccError`` that points to ``cse=True``; so is a ``where``
whose condition holds another ``where``'s value (SymPy's ``Piecewise`` would rewrite it by
solving inequalities, in unbounded time) and one where SymPy's own rewriting reaches a
value it refuses (``x - x`` is 0 to SymPy, so ``where(sqrt(x - x - 1) > y, ...)``
compares ``I``).
Operations the program keeps unevaluated (``x - x``, ``0*x``, ``x >= x``) stay so where
their arguments are the program's own symbols, so the ``cse=True`` form comes out in
these cases.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Sequence
from itertools import product
from typing import TYPE_CHECKING, Any

import sympy as sp
from sympy.codegen.cfunctions import expm1, hypot, log1p, log2, log10
from sympy.functions.elementary.piecewise import ExprCondPair

from .diagnostics import ChainccError
from .functions import (
    Cbrt,
    Digamma,
    Gelu,
    Lgamma,
    LogSumExp,
    Maximum,
    Minimum,
    NegativeZero,
    Relu,
    Sigmoid,
    Softplus,
    Where,
)
from .ir import Program
from .logic import Not, Or

if TYPE_CHECKING:
    from .function import Function

__all__ = ["MAX_DEPTH", "MAX_OPERATIONS", "formulas", "formulas_text", "parameter_symbols",
           "plain"]

# Largest substituted formulas (operations over every output element, counted as printed:
# a shared subexpression once per use) and deepest nesting that ``formulas`` builds.
MAX_OPERATIONS = 20_000
MAX_DEPTH = 100

Shaped = Any          # an expression, a Matrix or an ImmutableDenseNDimArray


# -- chaincc's classes in plain SymPy ----------------------------------------------------
def _extremum(cls: type) -> Callable[..., sp.Expr]:
    """``Max``/``Min`` of the arguments, nested ones merged, built without SymPy's search
    for redundant arguments (which factors the difference of every pair, walking whole
    formulas each time). A numeric NaN argument is resolved as the kernels compare
    (``acc >= a ? acc : a`` from the left: a NaN loses every comparison, so the argument
    after it wins and a NaN last is the result), since SymPy's ``Max`` refuses NaN."""
    def merge(a: sp.Basic, b: sp.Basic) -> sp.Basic:
        items = [*(a.args if isinstance(a, cls) else (a,)),
                 *(b.args if isinstance(b, cls) else (b,))]
        if all(i.is_Number for i in items):
            return cls(*items)
        return cls(*items, evaluate=False)

    def make(*args: sp.Basic) -> sp.Basic:
        acc = args[0]
        for a in args[1:]:
            acc = a if acc is sp.nan or a is sp.nan else merge(acc, a)
        return acc
    make.__name__ = cls.__name__
    return make


_MAX = _extremum(sp.Max)
_MIN = _extremum(sp.Min)


def _cbrt(a: sp.Expr) -> sp.Expr:
    """The real cube root, as SymPy's ``real_root(a, 3)`` writes it."""
    return sp.sign(a) * sp.Abs(a) ** sp.Rational(1, 3)


class _ConditionOnWhere(Exception):
    """A ``where`` whose condition holds another ``where``'s value: SymPy's Piecewise
    would rewrite that condition by solving inequalities (``as_set``), which can take
    unbounded time."""


def _where(c: sp.Basic, a: sp.Expr, b: sp.Expr) -> sp.Expr:
    if c.has(sp.Piecewise):
        raise _ConditionOnWhere
    return sp.Piecewise((a, c), (b, True))


_PLAIN: dict[type, Callable[..., sp.Expr]] = {
    Relu: lambda a: _MAX(a, sp.Integer(0)),
    Sigmoid: lambda a: 1 / (1 + sp.exp(-a)),
    Softplus: lambda a: sp.log(1 + sp.exp(a)),
    Cbrt: _cbrt,
    Gelu: lambda a: a * (1 + sp.erf(a / sp.sqrt(2))) / 2,
    Lgamma: sp.loggamma,
    Digamma: lambda a: sp.polygamma(0, a),
    Where: _where,
    Maximum: _MAX,
    Minimum: _MIN,
    sp.Max: _MAX,                               # rebuilt the same way once substituted
    sp.Min: _MIN,
    LogSumExp: lambda _shift, *xs: sp.log(sp.Add(*(sp.exp(x) for x in xs))),
    expm1: lambda a: sp.exp(a) - 1,
    log1p: lambda a: sp.log(1 + a),
    log2: lambda a: sp.log(a) / sp.log(2),
    log10: lambda a: sp.log(a) / sp.log(10),
    hypot: lambda *xs: sp.sqrt(sp.Add(*(x ** 2 for x in xs))),
    Not: sp.Not,
    Or: sp.Or,
}


def _is_chaincc(node: sp.Basic) -> bool:
    return type(node).__module__.startswith("chaincc.")


def _rebuild(node: sp.Basic, args: list[sp.Basic]) -> sp.Basic:
    """``node``'s operation on new arguments; unevaluated where the program keeps it so
    (``x - x``, ``0*x``, ``x >= x``: chaincc's arithmetic leaves what IEEE float64 computes
    differently from SymPy's rewriting as written)."""
    try:
        kept = node.func(*node.args) != node
    except (TypeError, ValueError):
        kept = True
    if kept:
        try:
            return node.func(*args, evaluate=False)
        except TypeError:
            pass
    return node.func(*args)


def plain(expr: sp.Basic, env: dict[sp.Basic, sp.Basic] | None = None) -> sp.Basic:
    """``expr`` in plain SymPy, with the atoms of ``env`` replaced by their values:
    rebuilt bottom-up with an explicit stack, each node that changed applied to its new
    arguments (so SymPy's own evaluation runs on the result)."""
    env = env or {}
    done: dict[sp.Basic, sp.Basic] = {}
    stack: list[tuple[sp.Basic, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in done:
            continue
        if isinstance(node, NegativeZero):
            done[node] = sp.Integer(0)             # SymPy's zero has no sign
            continue
        if not node.args:
            done[node] = env.get(node, node)
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in done)
            continue
        args = [done[a] for a in node.args]
        make = _PLAIN.get(type(node))
        if make is not None:
            done[node] = make(*args)
        else:
            assert not _is_chaincc(node), f"no plain SymPy for {type(node).__name__}"
            changed = any(a is not b for a, b in zip(args, node.args))
            if changed and isinstance(node, ExprCondPair) and args[1].has(sp.Piecewise):
                raise _ConditionOnWhere
            done[node] = _rebuild(node, args) if changed else node
    return done[expr]


# -- symbols -------------------------------------------------------------------------------
def _param_env(program: Program) -> tuple[dict[sp.Basic, sp.Basic], tuple[sp.Basic, ...]]:
    """The program's parameter symbols mapped to the user's (a Symbol, or the elements of
    an IndexedBase), and the user's symbol of each parameter."""
    env: dict[sp.Basic, sp.Basic] = {}
    symbols: list[sp.Basic] = []
    for p in program.params:
        if not p.shape:
            s = sp.Symbol(p.name, real=True)
            env[p.symbols[0]] = s
            symbols.append(s)
            continue
        base = sp.IndexedBase(p.name, real=True)
        for idx, s in zip(product(*(range(d) for d in p.shape)), p.symbols):
            env[s] = base[idx]
        symbols.append(base)
    return env, tuple(symbols)


def parameter_symbols(fn: Function) -> tuple[sp.Basic, ...]:
    """The symbols ``fn.sympy()`` writes its formulas in, one per parameter: a real
    ``Symbol`` for a scalar, a real ``IndexedBase`` for an array (its elements
    ``W[i, j]``)."""
    return _param_env(fn.forward_program)[1]


def _temp_names(program: Program, live: list[sp.Symbol]) -> dict[sp.Symbol, sp.Symbol]:
    """A real symbol for each live temporary: the user's binding name where the program
    labels it with one that names nothing else, else the program's own name."""
    taken = {p.name for p in program.params} | {t.name for t in live}
    count: dict[str, int] = {}
    for _, label in program.labels:
        count[label] = count.get(label, 0) + 1
    labels = {t: label for t, label in program.labels
              if label.isidentifier() and not keyword.iskeyword(label)
              and count[label] == 1 and label not in taken}
    return {t: sp.Symbol(labels.get(t, t.name), real=True) for t in live}


# -- size before building ---------------------------------------------------------------
def _live(body: Sequence[tuple[sp.Symbol, sp.Basic]], roots: Sequence[sp.Basic]
          ) -> list[int]:
    """Indices of the statements the roots need, in program order."""
    need: set[sp.Basic] = set()
    for r in roots:
        need |= r.free_symbols
    keep = []
    for i in range(len(body) - 1, -1, -1):
        target, expr = body[i]
        if target in need:
            keep.append(i)
            need |= expr.free_symbols
    return keep[::-1]


_FLAT = (sp.Add, sp.Mul)        # a sum in a sum (a product in a product) merges into it


def _measure(expr: sp.Basic, size: dict[sp.Basic, int], depth: dict[sp.Basic, int],
             top: dict[sp.Basic, type], cap: int) -> tuple[int, int]:
    """Operations and depth of ``expr`` once the temporaries in ``size``/``depth`` are
    substituted (each counted once per use, as printed; a temporary whose expression is a
    sum (``top``) adds no level inside a sum, nor a product inside a product, as SymPy
    merges them); sizes stop growing past ``cap``."""
    ops = 0
    deepest = 0
    stack: list[tuple[sp.Basic, int, type | None]] = [(expr, 0, None)]
    while stack:
        node, level, parent = stack.pop()
        if node in size:
            merged = parent is not None and parent in _FLAT and top[node] is parent
            ops = min(cap, ops + size[node])
            deepest = max(deepest, level - merged + depth[node])
        elif node.args:
            ops = min(cap, ops + 1)
            deepest = max(deepest, level + 1)
            stack.extend((a, level + 1, type(node)) for a in node.args)
    return ops, deepest


def _refused(fn: Function, program: Program, why: str, cse: bool = True) -> ChainccError:
    message = f"the formulas of {program.name} {why}"
    if cse:
        message += ("; use fn.sympy(cse=True) (or 'chaincc eval --symbolic --cse') for "
                    "the program as assignments")
    source = fn.unit.source
    if program.line >= 1 and source.line_text(program.line):
        return ChainccError(message, source.span(program.line, 1), source)
    return ChainccError(message)


_SUBSTITUTED = "once its statements are substituted into each other"


# -- shapes ---------------------------------------------------------------------------------
def _shaped(exprs: Sequence[sp.Basic], shape: tuple[int, ...]) -> Shaped:
    if not shape:
        return exprs[0]
    if len(shape) == 1:
        return sp.ImmutableMatrix(shape[0], 1, list(exprs))
    if len(shape) == 2:
        return sp.ImmutableMatrix(shape[0], shape[1], list(exprs))
    return sp.ImmutableDenseNDimArray(list(exprs), shape)


# -- the formulas -------------------------------------------------------------------------
def _fused(fn: Function, wrt: object) -> tuple[Program, tuple[str, ...]]:
    """The fused program over ``wrt`` (the function's default when None) and those
    parameters' names in order."""
    from .executor import split_kind
    kind = fn._wrt_kind("vg", wrt)
    _, idx = split_kind(kind)
    if idx is None:
        return fn.program, fn.params
    from . import adjoint
    names = tuple(fn.params[i] for i in idx)
    fwd = fn.forward_program
    prog = (adjoint.jacobian(fwd, names) if fwd.output("value").shape
            else adjoint.value_and_grad(fwd, wrt=names))
    return prog, names


def formulas(fn: Function, cse: bool = False, wrt: object = None) -> tuple:
    """``(value, (d1, d2, ...))``: the value and its derivative with respect to each
    parameter (of ``wrt``) as SymPy, in the shapes of the module docstring; with ``cse``,
    ``(assignments, (value, (d1, ...)))`` where ``assignments`` is the fused program as a
    list of ``(symbol, expression)`` in order and the outputs are in terms of them."""
    program, names = _fused(fn, wrt)
    return _formulas(fn, program, names, cse)


def _formulas(fn: Function, program: Program, names: tuple[str, ...], cse: bool) -> tuple:
    try:
        return _build(fn, program, names, cse)
    except ChainccError:
        raise
    except RecursionError:                     # SymPy's own evaluation recursed too deep
        raise _refused(fn, program, f"are nested too deeply {_SUBSTITUTED}", not cse) \
            from None
    except (TypeError, ValueError) as e:       # SymPy refused a special value (zoo, I)
        raise _refused(fn, program, f"cannot be written out in SymPy ({e})", not cse) \
            from None
    except _ConditionOnWhere:
        raise _refused(fn, program, "have a where whose condition compares another "
                       "where's value, which SymPy's Piecewise would rewrite by solving "
                       "inequalities", not cse) from None


def _build(fn: Function, program: Program, names: tuple[str, ...], cse: bool) -> tuple:
    prefix = "jac_" if program.output("value").shape else "grad_"
    outputs = [program.output("value")] + [program.output(prefix + n) for n in names]
    env, _ = _param_env(program)
    body = [(a.target, plain(a.expr)) for a in program.body]
    roots = [e for o in outputs for e in o.exprs]
    live = [body[i] for i in _live(body, roots)]
    if cse:
        names_of = _temp_names(program, [t for t, _ in live])
        assignments = []
        for t, e in live:
            value = plain(e, env)
            if value.args:
                env[t] = names_of[t]
                assignments.append((names_of[t], value))
            else:                              # a number or a symbol: used in place
                env[t] = value
        shaped = [_shaped([plain(e, env) for e in o.exprs], o.shape) for o in outputs]
        return assignments, (shaped[0], tuple(shaped[1:]))
    size: dict[sp.Basic, int] = {}
    depth: dict[sp.Basic, int] = {}
    cap = MAX_OPERATIONS + 1
    top: dict[sp.Basic, type] = {}
    for t, e in live:
        size[t], depth[t] = _measure(e, size, depth, top, cap)
        top[t] = type(e)
    total, deepest = 0, 0
    for r in roots:
        ops, deep = _measure(r, size, depth, top, cap)
        total, deepest = min(cap, total + ops), max(deepest, deep)
    if total > MAX_OPERATIONS:
        raise _refused(fn, program, f"would be more than {MAX_OPERATIONS:,} operations "
                       f"{_SUBSTITUTED}")
    if deepest > MAX_DEPTH:
        raise _refused(fn, program, f"would be nested more than {MAX_DEPTH} levels deep "
                       f"{_SUBSTITUTED}")
    for t, e in live:
        env[t] = plain(e, env)
    shaped = [_shaped([plain(e, env) for e in o.exprs], o.shape) for o in outputs]
    return shaped[0], tuple(shaped[1:])


# -- text for ``chaincc eval --symbolic`` ----------------------------------------------------
def _text(v: Shaped) -> str:
    """An expression as SymPy's text; a Matrix or array as nested lists (a vector as one
    flat list)."""
    if isinstance(v, sp.MatrixBase):
        if v.cols == 1:
            return "[" + ", ".join(sp.sstr(e) for e in v) + "]"
        return "[" + ", ".join("[" + ", ".join(sp.sstr(v[i, j]) for j in range(v.cols)) + "]"
                               for i in range(v.rows)) + "]"
    if isinstance(v, sp.NDimArray):
        return _text_nested(v.tolist())
    return sp.sstr(v)


def _text_nested(v: object) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_text_nested(x) for x in v) + "]"
    return sp.sstr(v)


def _flat(v: Shaped) -> list[sp.Basic]:
    """The elements of a shaped value, row-major."""
    if isinstance(v, sp.MatrixBase):
        return list(v)
    if isinstance(v, sp.NDimArray):
        return list(v.reshape(len(v)).tolist())
    return [v]


def formulas_text(fn: Function, cse: bool = False) -> str:
    """``chaincc eval --symbolic``: the value and each derivative as SymPy's text, one per
    line (for a vector-valued function the Jacobian row by row, as ``eval`` prints it);
    with ``cse`` the fused program's assignments first."""
    lines = []
    program, names = _fused(fn, None)
    if cse:
        assignments, (value, derivs) = _formulas(fn, program, names, True)
        lines += [f"{s} = {sp.sstr(e)}" for s, e in assignments]
    else:
        value, derivs = _formulas(fn, program, names, False)
    shapes = [fn.shapes[fn.params.index(n)] for n in names]
    params = ", ".join(p + ("[" + ",".join(map(str, s)) + "]" if s else "")
                       for p, s in zip(fn.params, fn.shapes))
    lines.append(f"{fn.name}({params}) = {_text(value)}")
    if not fn.out_shape:
        lines += [f"∂{fn.name}/∂{p} = {_text(d)}" for p, d in zip(names, derivs)]
        return "\n".join(lines) + "\n"
    rank = len(fn.out_shape)
    ij = ",".join("ijklmn"[k] if k < 6 else f"i{k + 1}" for k in range(rank))
    count = (f"{fn.out_shape[0]} output{'s' if fn.out_shape[0] != 1 else ''}" if rank == 1
             else "×".join(map(str, fn.out_shape)))
    lines.append(f"Jacobian, row by row: ∂{fn.name}[{ij}]/∂p for each output "
                 f"{fn.name}[{ij}] ({count}) and each parameter p")
    for idx in product(*(range(d) for d in fn.out_shape)):
        out = f"{fn.name}[{','.join(map(str, idx))}]"
        for p, d, shape in zip(names, derivs, shapes):
            lines.append(f"∂{out}/∂{p} = {_text(_block(d, idx, fn.out_shape, shape))}")
    return "\n".join(lines) + "\n"


def _block(d: Shaped, idx: tuple[int, ...], out_shape: tuple[int, ...],
           shape: tuple[int, ...]) -> Shaped:
    """Row ``idx`` of a Jacobian block of shape (``out_shape`` + ``shape``), in ``shape``."""
    size = 1
    for n in shape:
        size *= n
    k = 0
    for i, n in zip(idx, out_shape):
        k = k * n + i
    return _shaped(_flat(d)[k * size:(k + 1) * size], shape)
