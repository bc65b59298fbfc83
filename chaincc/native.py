"""Running the LLVM backend's kernels (``backends/llvm.py``): the CPU's kernels for every
program unless ``CHAINCC_CPU_BACKEND=numba`` asks for Numba's.

A call passes one pointer per parameter and per output (the per-point strides are
constants of the kernel, one kernel per sharing pattern), so the per-call work in Python
does not grow with the size of the arrays; batches run in chunks on threads (ctypes
releases the GIL), with the same output layout as the Numba kernels (one flat array per
output, n points × its size)."""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Callable, Iterator, Sequence

from .calling import ArgumentError, run_chunks
from .lazy_numpy import np

# Which kernels run CPU programs: "llvm" (every program: compiled in milliseconds, cached
# as machine code, run without importing Numba) or "numba" (Numba's kernels, except for
# the programs over the thresholds below, which still go to LLVM).
BACKEND = os.environ.get("CHAINCC_CPU_BACKEND", "llvm")
if BACKEND not in ("llvm", "numba"):
    BACKEND = "llvm"
# With Numba: programs with more statements than this use LLVM (Numba's front end costs
# about a millisecond per statement, LLVM alone a tenth of that) ...
NATIVE_STATEMENTS = 2000
# ... or more choices between values than this (where, max, min, relu, sign): Numba's
# compile time grows faster than linearly in them (a 1,559-operation kernel with 300 of them
# took 29 s, against 0.6 s on LLVM).
NATIVE_SELECTIONS = 64

Kernels = Callable[[str, tuple[bool, ...] | None], object]


@contextlib.contextmanager
def using(backend: str) -> Iterator[None]:
    """Run CPU programs whose backend is decided inside the block (at a function's first
    call of each program kind) on ``backend``: "llvm" or "numba"."""
    global BACKEND
    assert backend in ("llvm", "numba"), backend
    saved, BACKEND = BACKEND, backend
    try:
        yield
    finally:
        BACKEND = saved


def uses_llvm(statements: int, selections: int, depth: int = 0) -> bool:
    """Whether a program of this size (statements counted as written: a loop's body
    once), and with loops nested ``depth`` deep, runs on the LLVM backend. Python, and so
    Numba, takes loops nested only so deep (``numba_cpu.MAX_LOOP_DEPTH``)."""
    if BACKEND == "llvm":
        return True
    from .backends.numba_cpu import MAX_LOOP_DEPTH
    return statements > NATIVE_STATEMENTS or selections > NATIVE_SELECTIONS or \
        depth > MAX_LOOP_DEPTH


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def point(kernels: Kernels, xs: Sequence, sizes: Sequence[int]) -> Sequence[float]:
    """The outputs at one point, every output's elements one after another."""
    total = sum(sizes)
    out = (ctypes.c_double * max(1, total))()
    if all(isinstance(x, float) for x in xs):
        inputs = (ctypes.c_double * max(1, len(xs)))(*xs)
    else:
        flat = np.concatenate([np.asarray(x, dtype=np.float64).reshape(-1) for x in xs])
        inputs = flat.ctypes.data_as(ctypes.c_void_p)
    kernels("point", None).call(inputs, out)
    return out[:total]


def _pointers(arrays: Sequence[np.ndarray]):
    return (ctypes.c_void_p * max(1, len(arrays)))(*(_address(a) for a in arrays))


def run(kernels: Kernels, n: int, xs: Sequence, shared: Sequence[bool],
        sizes: Sequence[int], reduce_chunks: int | None,
        targets: Sequence[np.ndarray | None] | None = None) -> list[np.ndarray]:
    """Outputs at n points (one flat array per output, written into ``targets`` where
    given), or with ``reduce_chunks`` the outputs summed over the points (one array of
    every output's elements)."""
    inputs = [np.array([x]) if isinstance(x, float) else x for x in xs]
    pattern = tuple(shared)
    if reduce_chunks is not None:
        acc = np.zeros((reduce_chunks, max(1, sum(sizes))))
        k = kernels("sum", pattern)
        inptr = _pointers(inputs)
        run_chunks(n, reduce_chunks, lambda lo, hi, c: k.call(
            lo, hi, inptr, _address(acc[c])))
        return [acc.sum(axis=0)[:sum(sizes)]]
    outs = [np.empty(n * size) if t is None else t
            for t, size in zip(targets or [None] * len(sizes), sizes)]
    _separate(inputs, outs, targets)
    k = kernels("points", pattern)
    inptr, outptr = _pointers(inputs), _pointers(outs)
    run_chunks(n, None, lambda lo, hi, c: k.call(lo, hi, inptr, outptr))
    return outs


def _separate(inputs: list, outs: list, targets) -> None:
    """The kernels promise LLVM that outputs overlap nothing: an input that shares
    memory with an ``out=`` array is copied first (so ``fn(x, out=x)`` reads the old x),
    and ``out=`` arrays that overlap each other are an error."""
    if not targets or all(t is None for t in targets):
        return
    given = [t for t in targets if t is not None]
    for i, x in enumerate(inputs):
        if any(np.may_share_memory(x, t) for t in given):
            inputs[i] = x.copy()
    for i, a in enumerate(given):
        for b in given[i + 1:]:
            if np.may_share_memory(a, b):
                raise ArgumentError("out arrays must not overlap one another")
