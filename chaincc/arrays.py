"""Array values during lowering: NumPy object arrays whose elements are scalar operands.

The graph is scalarised: every array element is its own SymPy operand, and each array
operation emits one statement per element (or one n-ary statement per reduction). That is
what keeps the adjoint pass and every backend scalar; it serves small dense models.
Shape mismatches raise ``ShapeError``; the lowerer turns them into located diagnostics.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy as sp

from .arith import binary
from .arith import total as add_all
from .functions import LogSumExp, maximum, minimum

Emit = Callable[[sp.Basic], sp.Expr]


class ShapeError(Exception):
    """Operands whose shapes do not fit; the message is completed by the caller."""


def shape_of(v) -> tuple[int, ...]:
    return v.shape if isinstance(v, np.ndarray) else ()


def shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(map(str, shape)) + "]" if shape else ""


def obj(v) -> np.ndarray:
    """An object array view of a scalar or an array value."""
    if isinstance(v, np.ndarray):
        return v
    a = np.empty((), dtype=object)
    a[()] = v
    return a


def wrap(a: np.ndarray):
    """An object array of shape () back to its scalar."""
    return a[()] if a.shape == () else a


def elementwise(f: Callable[..., sp.Basic], args: list, emit: Emit, *,
                raw: bool = False) -> object:
    """``f`` applied element by element, broadcasting as NumPy does."""
    arrays = [obj(a) for a in args]
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        raise ShapeError("broadcast") from None
    arrays = [np.broadcast_to(a, shape) for a in arrays]
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        r = f(*(a[idx] for a in arrays))
        out[idx] = r if raw else emit(r)
    return wrap(out)


def matmul(a, b, emit: Emit):
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb or len(sa) > 2 or len(sb) > 2:
        raise ShapeError("matmul")
    A = a if len(sa) == 2 else a.reshape(1, -1)
    B = b if len(sb) == 2 else b.reshape(-1, 1)
    if A.shape[1] != B.shape[0]:
        raise ShapeError("matmul")
    out = np.empty((A.shape[0], B.shape[1]), dtype=object)
    for i in range(A.shape[0]):
        for j in range(B.shape[1]):
            terms = [emit(binary("*", A[i, k], B[k, j])) for k in range(A.shape[1])]
            out[i, j] = emit(add_all(terms))
    if len(sa) == 1:
        out = out[0]
    if len(sb) == 1:
        out = out[..., 0]
    return wrap(out)


def flat(v) -> list:
    return list(obj(v).reshape(-1))


def total(v, emit: Emit) -> sp.Expr:
    return emit(add_all(flat(v)))


def reduce_all(name: str, v, emit: Emit):
    """sum, mean, prod, norm, max, min over every element (row-major order)."""
    return reduce_row(name, flat(v), emit)


def reduce_row(name: str, xs: list, emit: Emit):
    """sum, mean, prod, norm, max, min of the operands ``xs``, in their order."""
    if name == "sum":
        return emit(add_all(xs))
    if name == "mean":
        return emit(binary("/", emit(add_all(xs)), sp.Integer(len(xs))))
    if name == "prod":
        acc = xs[0]
        for x in xs[1:]:                 # pairwise, so each factor's adjoint is one product
            acc = emit(binary("*", acc, x))
        return acc
    if name == "norm":
        return emit(sp.sqrt(emit(add_all([emit(binary("^", x, sp.Integer(2))) for x in xs]))))
    if name == "max":
        return emit(maximum(*xs))
    if name == "min":
        return emit(minimum(*xs))
    raise AssertionError(name)


def along_last(f: Callable[[list], object], v) -> object:
    """Apply ``f`` (a list of operands → scalar or list) to each row along the last axis."""
    a = obj(v)
    if a.shape == ():
        r = f([a[()]])
        return r[0] if isinstance(r, list) else r
    rows = a.reshape(-1, a.shape[-1])
    results = [f(list(row)) for row in rows]
    if isinstance(results[0], list):
        out = np.empty(rows.shape, dtype=object)
        for i, r in enumerate(results):
            out[i, :] = r
        return out.reshape(a.shape)
    out = np.empty(len(results), dtype=object)
    out[:] = results
    return wrap(out.reshape(a.shape[:-1]))


def along_axis(f: Callable[[list], object], v, axis: int) -> object:
    """Apply ``f`` (a list of operands → scalar or list) along ``axis`` (0 ≤ axis <
    ndim): a reduction drops the axis (``sum(A, axis=0)`` of a 2×3 matrix has 3
    elements), a row-wise map (softmax) keeps it."""
    a = obj(v)
    moved = np.moveaxis(a, axis, -1)
    out = along_last(f, moved)
    if shape_of(out) == moved.shape:
        return np.moveaxis(out, -1, axis).copy()
    return out


def logsumexp_row(xs: list, emit: Emit) -> sp.Expr:
    """log Σ exp(x) computed as m + log Σ exp(x - m), with m the largest x. The rule for
    LogSumExp sends softmax weights to the x's and nothing through m, so the gradient is
    exact rather than a cancellation."""
    if len(xs) == 1:
        return xs[0]
    m = emit(maximum(*xs))
    return emit(LogSumExp(m, *xs))


def softmax_row(xs: list, emit: Emit) -> list:
    """exp(x - m) / Σ exp(xj - m), m the largest x: each weight exact in relative terms
    however large the x are (exp(x - logsumexp) rounds logsumexp's own log Σ away)."""
    if len(xs) == 1:
        return [emit(binary("/", emit(sp.exp(emit(binary("-", xs[0], xs[0])))),
                            emit(sp.exp(emit(binary("-", xs[0], xs[0]))))))]
    m = emit(maximum(*xs))
    es = [emit(sp.exp(emit(binary("-", x, m)))) for x in xs]
    total = emit(add_all(es))
    return [emit(binary("/", e, total)) for e in es]


def dot(a, b, emit: Emit) -> sp.Expr:
    if shape_of(a) != shape_of(b):
        raise ShapeError("dot")
    return emit(add_all([emit(binary("*", x, y)) for x, y in zip(flat(a), flat(b))]))


def transpose(v):
    a = obj(v)
    if a.ndim > 2:
        raise ShapeError("transpose")
    return wrap(a.T.copy()) if a.ndim == 2 else v


def literal(items: list):
    """``[a, b]`` of scalars, or ``[[..], [..]]`` of equal-shaped arrays."""
    shapes = {shape_of(x) for x in items}
    if len(shapes) != 1:
        raise ShapeError("literal")
    inner = shapes.pop()
    out = np.empty((len(items), *inner), dtype=object)
    for i, x in enumerate(items):
        out[i] = x
    return out
