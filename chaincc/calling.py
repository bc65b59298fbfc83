"""Binding call arguments to parameters, and NumPy broadcasting for the batch kernels."""

from __future__ import annotations

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


def prepare_batch(values: list, names: Sequence[str]) -> tuple[tuple[int, ...], list]:
    """Broadcast the arguments: (output shape, kernel arguments).

    Scalars stay scalars (the kernel specialises on them); arrays become contiguous
    float64 vectors of the output's size, copied only when they must be.
    """
    arrays: list = []
    for v, name in zip(values, names):
        if is_scalar(v):
            arrays.append(as_float(v, name))
            continue
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"parameter '{name}' must be a real number or an array of them, "
                            f"got {type(v).__name__}") from None
        arrays.append(a)
    shapes = [a.shape for a in arrays if isinstance(a, np.ndarray)]
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        desc = ", ".join(f"{n} {a.shape}" for n, a in zip(names, arrays)
                         if isinstance(a, np.ndarray))
        raise ValueError(f"arguments cannot be broadcast together: {desc}") from None
    out: list = []
    for a in arrays:
        if isinstance(a, np.ndarray):
            if a.size == 1:
                out.append(float(a.reshape(-1)[0]))
                continue
            if a.shape != shape:
                a = np.broadcast_to(a, shape)
            out.append(np.ascontiguousarray(a).reshape(-1))
        else:
            out.append(a)
    return shape, out
