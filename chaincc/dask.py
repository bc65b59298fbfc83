"""Dask arrays in, Dask arrays out: every call of a compiled function (``fn(...)``,
``grad``, ``value_and_grad``, ``jacobian``, ``vjp``, ``jvp``, ``hessian``, ``hvp``) where
an argument is a ``dask.array.Array``.

The calling convention is the one of ``frontend.py``: each parameter's trailing
dimensions are its shape, leading dimensions are batch dimensions, and batch dimensions
broadcast as NumPy's do. With Dask arrays the result is lazy:

- without ``reduce``, one kernel call per block (``dask.array.apply_gufunc`` over the
  batch dimensions): each output is a Dask array of the batch shape in front of its own
  shape, chunked as the batch dimensions are;
- with ``reduce="sum"``/``"mean"``, each block's kernel call sums its points (the
  kernel's own reduction, as a NumPy call with ``reduce="sum"`` does) into one small
  partial, and the partials are added by a Dask tree reduction; the mean divides by the
  number of points. No per-point output exists at any time.

Chunks: a parameter's own dimensions are rechunked into one chunk; the batch dimensions
of the arguments are aligned by Dask (``unify_chunks``), and NumPy arguments and scalars
are shared by every block. Chunk sizes must be known (``x.compute_chunk_sizes()`` after
boolean indexing). The function itself travels to worker processes by pickle, as its
source and options (``pickling.py``), and compiles there once per process.

This module is imported only when a call gets a Dask array, and ``frontend.py`` looks for
one only when ``dask.array`` is already imported, so calls without Dask cost nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import dask.array as da
import numpy as np

from .calling import (
    ArgumentError,
    ArgumentTypeError,
    batch_of,
    check_reduce,
    prepare,
    real_array,
    real_scalar,
    shape_text,
)
from .executor import require, split_kind

if TYPE_CHECKING:
    from .frontend import Frontend


def run(fn: Frontend, op: str, kind: str, values: Sequence, reduce: str | None = None,
        out: object = None) -> list:
    """The outputs of program ``kind`` for the bound ``values``, some of them Dask
    arrays: a list of Dask arrays, lazily computed (see the module's docstring)."""
    ex = fn._executor
    require(ex, kind, op, fn.name)
    check_reduce(reduce)
    if out is not None:
        raise ArgumentError("out= is for NumPy batches; with Dask arrays the results are "
                            "Dask arrays (write them with dask.array.store or .compute())")
    names, shapes, outputs = fn._signature(kind)
    fixed: list = []           # per parameter: a float, or None where an array goes
    arrays: list[da.Array] = []
    slots: list[int] = []       # the parameter each array is for
    batches: list[tuple[int, ...]] = []
    for i, (v, name, shape) in enumerate(zip(values, names, shapes)):
        a = _argument(v, name, shape, ex.dtype)
        if isinstance(a, float):
            fixed.append(a)
            continue
        fixed.append(None)
        arrays.append(a)
        slots.append(i)
        batches.append(tuple(a.shape[:a.ndim - len(shape)]))
    try:
        batch = tuple(np.broadcast_shapes(*batches)) if batches else ()
    except ValueError:
        desc = ", ".join(f"{names[i]} {shape_text(b)}" for i, b in zip(slots, batches) if b)
        raise ArgumentError(f"batch dimensions cannot be broadcast together: {desc}") \
            from None
    # a parameter's own dimensions in one chunk; batch dimensions as the arrays have them
    arrays = [_one_chunk(a, len(shapes[i])) for a, i in zip(arrays, slots)]
    common = dict(fn=fn, kind=kind, fixed=tuple(fixed), slots=tuple(slots))
    if reduce is None or not batch:
        return _map(op, arrays, slots, shapes, outputs, len(batch), ex.dtype, common)
    total = _reduced(arrays, slots, shapes, outputs, len(batch), common)
    n = math.prod(batch)
    if reduce == "mean":
        total = total / n if n else total * np.nan       # NumPy's mean of no points: NaN
    parts, k = [], 0
    for s in outputs:
        size = math.prod(s)
        parts.append(total[k:k + size].reshape(s).astype(ex.dtype))
        k += size
    return parts


def _argument(v: object, name: str, shape: tuple[int, ...],
              dtype: np.dtype) -> float | da.Array:
    """One argument as a float (a scalar, shared by every point) or a Dask array whose
    trailing dimensions are ``shape``."""
    if isinstance(v, da.Array):
        if v.dtype.kind not in "fiub":
            raise ArgumentTypeError(f"parameter '{name}' must be a real number or an array "
                                    f"of them, got a Dask array of {v.dtype}")
        if any(math.isnan(d) for d in v.shape):
            raise ArgumentError(f"parameter '{name}' is a Dask array of unknown chunk "
                                f"sizes (shape {v.shape}); call .compute_chunk_sizes() on "
                                f"it first")
        a = v
    else:
        if not shape:
            f = real_scalar(v, name)
            if f is not None:
                return f
        a = real_array(v, name, dtype)
    batch_of(tuple(a.shape), shape, name)
    if isinstance(a, np.ndarray):
        a = da.from_array(a, chunks=a.shape or ())
    return a


def _one_chunk(a: da.Array, core: int) -> da.Array:
    """``a`` with its last ``core`` dimensions (a parameter's own) in one chunk each."""
    axes = {a.ndim - 1 - j: -1 for j in range(core) if len(a.chunks[a.ndim - 1 - j]) > 1}
    return a.rechunk(axes) if axes else a


def _token(common: dict) -> str:
    """The name of a call's tasks (their keys add a hash): ``chaincc_f_vg``."""
    return f"chaincc_{common['fn'].name}_{split_kind(common['kind'])[0]}"


def _fill(fixed: tuple, slots: tuple[int, ...], blocks: Sequence) -> list:
    values = list(fixed)
    for i, b in zip(slots, blocks):
        values[i] = b
    return values


# -- per-point outputs: one kernel call per block -----------------------------------------
def _map_block(*blocks: np.ndarray, fn: Frontend, op: str, kind: str, fixed: tuple,
               slots: tuple[int, ...], single: bool):
    """One block's outputs: the NumPy call on the block's arguments."""
    outs = fn._run(op, kind, _fill(fixed, slots, blocks))
    dtype = fn._executor.dtype
    outs = tuple(np.asarray(o, dtype=dtype) for o in outs)
    return outs[0] if single else outs


def _map(op: str, arrays: list[da.Array], slots: list[int], shapes: Sequence[tuple],
         outputs: Sequence[tuple], ndim: int, dtype: np.dtype, common: dict) -> list:
    def dims(prefix: str, shape: tuple[int, ...]) -> list[str]:
        return [f"{prefix}_{k}" for k in range(len(shape))]

    inputs = [dims(f"p{i}", shapes[i]) for i in slots]
    results = [dims(f"o{j}", s) for j, s in enumerate(outputs)]
    sizes = {d: n for ds, s in zip(results, outputs) for d, n in zip(ds, s)}

    def group(ds: list[str]) -> str:
        return f"({','.join(ds)})"

    signature = ",".join(map(group, inputs)) + "->" + ",".join(map(group, results))
    single = len(outputs) == 1
    r = da.apply_gufunc(_map_block, signature, *arrays, output_sizes=sizes,
                        output_dtypes=dtype if single else [dtype] * len(outputs),
                        allow_rechunk=True, vectorize=False, op=op, single=single,
                        token=_token(common), **common)
    return [r] if single else list(r)


# -- reductions: a small partial per block, then a tree sum ---------------------------------
def _sum_block(*blocks: np.ndarray, fn: Frontend, kind: str, fixed: tuple,
               slots: tuple[int, ...], ndim: int) -> np.ndarray:
    """One block's outputs summed over its points (float64, flat over all outputs), with
    a length-1 axis per batch dimension."""
    ex = fn._executor
    names, shapes, outputs = fn._signature(kind)
    batch, call = prepare(_fill(fixed, slots, blocks), names, shapes, outputs, fn.name,
                          ex.dtype, ex.device_view)
    assert batch is not None, "a block of a batch without batch dimensions"
    part = ex.sum(kind, call) if call.n else np.zeros(sum(call.sizes))
    return np.asarray(part, dtype=np.float64).reshape((1,) * ndim + (-1,))


def _reduced(arrays: list[da.Array], slots: list[int], shapes: Sequence[tuple],
             outputs: Sequence[tuple], ndim: int, common: dict) -> da.Array:
    """Every output summed over the batch: a Dask array, flat over all outputs."""
    loops = [f"b{d}" for d in range(ndim)]
    pairs: list = []
    for a, i in zip(arrays, slots):
        own = len(shapes[i])
        pairs += [a, tuple(loops[ndim - (a.ndim - own):]) + tuple(f"p{i}_{k}"
                                                                   for k in range(own))]
    size = sum(math.prod(s) for s in outputs)
    partials = da.blockwise(_sum_block, (*loops, "out"), *pairs, new_axes={"out": size},
                            adjust_chunks={b: 1 for b in loops}, concatenate=True,
                            dtype=np.float64, meta=np.empty((0,) * (ndim + 1)),
                            token=_token(common) + "_sum",
                            ndim=ndim, **common)
    return partials.sum(axis=tuple(range(ndim)), dtype=np.float64)

