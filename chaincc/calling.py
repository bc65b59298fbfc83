"""Binding call arguments to parameters, and NumPy broadcasting for the batch kernels."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np


def bind(params: Sequence[str], fname: str, args: tuple, kwargs: dict) -> list:
    """Arguments in parameter order, by position or by name, as Python calls bind them."""
    if len(args) > len(params):
        raise TypeError(f"{fname}() takes {len(params)} argument"
                        f"{'s' if len(params) != 1 else ''} ({', '.join(params)}) "
                        f"but {len(args)} were given")
    out: list = list(args) + [None] * (len(params) - len(args))
    given = [True] * len(args) + [False] * (len(params) - len(args))
    index = {p: i for i, p in enumerate(params)}
    for k, v in kwargs.items():
        if k not in index:
            raise TypeError(f"{fname}() got an unexpected argument '{k}'; its parameters "
                            f"are {', '.join(params) or 'none'}")
        i = index[k]
        if given[i]:
            raise TypeError(f"{fname}() got multiple values for parameter '{k}'")
        out[i], given[i] = v, True
    missing = [p for p, g in zip(params, given) if not g]
    if missing:
        raise TypeError(f"{fname}() missing value for parameter"
                        f"{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(repr(m) for m in missing)}")
    return out


def is_scalar(v) -> bool:
    return isinstance(v, numbers.Real) or (isinstance(v, np.ndarray) and v.ndim == 0) \
        or isinstance(v, np.generic)


def as_float(v, name: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise TypeError(f"parameter '{name}' must be a real number or an array of them, "
                        f"got {type(v).__name__}") from None


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def prepare(values: list, names: Sequence[str], shapes: Sequence[tuple[int, ...]]
            ) -> tuple[tuple[int, ...] | None, list, tuple[bool, ...]]:
    """Arguments for parameters of fixed shapes, with leading batch dimensions.

    Returns (batch shape, kernel arguments, which are shared). The batch shape is None
    when no argument
    has batch dimensions: then the scalar kernel runs once, taking floats for scalar
    parameters and flat float64 arrays for array parameters. Otherwise each argument is
    per point — (n,) for a scalar parameter, (n * size,) row by row for an array one — or
    shared
    (a float, or a flat array), and the batch kernels broadcast the shared ones.
    """
    arrays: list = []
    batch_shapes: list[tuple[int, ...]] = []
    for v, name, shape in zip(values, names, shapes):
        if not shape and is_scalar(v):
            arrays.append(as_float(v, name))
            batch_shapes.append(())
            continue
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"parameter '{name}' must be a real number or an array of them, "
                            f"got {type(v).__name__}") from None
        k = len(shape)
        if a.ndim < k or a.shape[a.ndim - k:] != shape:
            want = f"shape {_shape_text(shape)} (or a batch of them, shape (..., " \
                f"{', '.join(map(str, shape))}))" if shape else "a scalar or an array of them"
            raise ValueError(f"parameter '{name}' must have {want}, got an array of shape "
                             f"{_shape_text(a.shape)}")
        arrays.append(a)
        batch_shapes.append(a.shape[:a.ndim - k])
    try:
        batch = np.broadcast_shapes(*batch_shapes)
    except ValueError:
        desc = ", ".join(f"{n} {_shape_text(b)}" for n, b in zip(names, batch_shapes) if b)
        raise ValueError(f"batch dimensions cannot be broadcast together: {desc}") from None
    if not any(batch_shapes):
        return None, [a if isinstance(a, float) else np.ascontiguousarray(a).reshape(-1)
                      for a in arrays], (True,) * len(arrays)
    n = math.prod(batch)
    out: list = []
    for a, b, shape in zip(arrays, batch_shapes, shapes):
        if isinstance(a, float):
            out.append(a)
            continue
        size = math.prod(shape)
        if not b:                                # shared by every point
            out.append(a if not shape else np.ascontiguousarray(a).reshape(-1))
            if not shape:
                out[-1] = float(a)
            continue
        if b != batch:
            a = np.broadcast_to(a, batch + shape)
        a = np.ascontiguousarray(a)
        out.append(a.reshape(n * size))
    return batch, out, tuple(not b for b in batch_shapes)


_pool = None


def threads() -> int:
    """Worker threads for batch kernels: Numba's thread count (NUMBA_NUM_THREADS)."""
    import numba
    return max(1, int(numba.config.NUMBA_NUM_THREADS))


def run_chunks(n: int, chunks: int | None, work) -> None:
    """Call ``work(lo, hi, c)`` for chunks covering 0..n-1, on all cores.

    The kernels release the GIL, so plain threads run them in parallel; the calling
    thread takes a share too. ``chunks`` fixed (as reductions need, so their sums do not
    depend on the core count) or None for one chunk per core.
    """
    global _pool
    workers = threads()
    if chunks is None:
        chunks = max(1, min(n // 4096, workers))
    bounds = [(c * n // chunks, (c + 1) * n // chunks, c) for c in range(chunks)]
    if workers == 1 or chunks == 1:
        for lo, hi, c in bounds:
            work(lo, hi, c)
        return

    def share(part: list) -> None:
        for lo, hi, c in part:
            work(lo, hi, c)

    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor
        _pool = ThreadPoolExecutor(max_workers=workers - 1, thread_name_prefix="chaincc")
    parts = [bounds[t::workers] for t in range(workers)]
    futures = [_pool.submit(share, part) for part in parts[1:] if part]
    share(parts[0])
    for f in futures:
        f.result()


def split_outputs(flat: Sequence[float], shapes: Sequence[tuple[int, ...]]) -> list:
    """A kernel's flat outputs as one value per output: a float, or an array of its
    shape."""
    out, k = [], 0
    for s in shapes:
        size = math.prod(s)
        part = flat[k:k + size]
        k += size
        out.append(float(part[0]) if not s else np.asarray(part, dtype=np.float64).reshape(s))
    return out
