"""Running the LLVM backend's kernels: pointer and stride tables over the prepared
arguments, chunks on threads (ctypes releases the GIL), and the same output layout as
the Numba kernels (one flat array per output, n points × its size)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .calling import run_chunks

# Programs with more statements than this use the LLVM backend: Numba's front end costs
# about a millisecond per statement, LLVM alone a tenth of that.
NATIVE_STATEMENTS = 2000
# ... or more choices between values than this (where, max, min, relu, sign): Numba's
# compile time grows faster than linearly in them (a 1,559-operation kernel with 300 of them
# took 29 s, against 0.6 s on LLVM).
NATIVE_SELECTIONS = 64


def _inputs(xs: Sequence, shapes: Sequence[tuple[int, ...]], shared: Sequence[bool]):
    """Base pointers and strides (in elements) of every input element."""
    keep, bases, strides = [], [], []
    for x, shape, sh in zip(xs, shapes, shared):
        a = np.ascontiguousarray(np.atleast_1d(np.asarray(x, dtype=np.float64)))
        keep.append(a)
        size = math.prod(shape)
        for k in range(size):
            bases.append(a.ctypes.data + 8 * k)
            strides.append(0 if sh else size)
    return keep, bases, strides


def _table(ctype, values: list):
    return (ctype * max(1, len(values)))(*values)


def run(kernel: Callable[[str], object], n: int, xs: Sequence,
        shapes: Sequence[tuple[int, ...]], shared: Sequence[bool], sizes: Sequence[int],
        reduce_chunks: int | None) -> list[np.ndarray]:
    """Outputs at n points (one flat array per output), or with ``reduce_chunks`` the
    outputs summed over the points (one array of every output's elements)."""
    import ctypes
    keep, bases, strides = _inputs(xs, shapes, shared)
    inptr = _table(ctypes.c_void_p, bases)
    instride = _table(ctypes.c_int64, strides)
    if reduce_chunks is not None:
        acc = np.zeros((reduce_chunks, sum(sizes)))
        k = kernel("sum")
        run_chunks(n, reduce_chunks, lambda lo, hi, c: k.call(
            lo, hi, inptr, instride, acc[c].ctypes.data))
        del keep
        return [acc.sum(axis=0)]
    outs = [np.empty(n * size) for size in sizes]
    obases, ostrides = [], []
    for o, size in zip(outs, sizes):
        for e in range(size):
            obases.append(o.ctypes.data + 8 * e)
            ostrides.append(size)
    outptr = _table(ctypes.c_void_p, obases)
    outstride = _table(ctypes.c_int64, ostrides)
    k = kernel("points")
    run_chunks(n, None, lambda lo, hi, c: k.call(lo, hi, inptr, instride, outptr,
                                                 outstride))
    del keep
    return outs
