"""The calling convention's parts, written once for every target: binding arguments to
parameters, checking that each is a real number or an array of them and converting it to
the target's dtype, NumPy broadcasting of batch dimensions, the ``out=`` and ``reduce=``
checks, and shaping kernel outputs. Also the thread pool the CPU batch kernels run on."""

from __future__ import annotations

import math
import numbers
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from .diagnostics import ChainccError
from .lazy_numpy import np

REDUCE = (None, "sum", "mean")


def __getattr__(name: str) -> object:
    if name == "FLOAT64":      # the default dtype, made when first asked for (lazy_numpy)
        return np.dtype(np.float64)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ArgumentError(ChainccError):
    """A call's arguments do not fit the function: shapes, batch dimensions, ``out=``,
    ``reduce=``."""


class ArgumentTypeError(ArgumentError, TypeError):
    """A call's argument of the wrong kind (not a real number or an array of them), or
    arguments that do not bind to the parameters."""


def bind(params: Sequence[str], fname: str, args: tuple, kwargs: dict) -> list:
    """Arguments in parameter order, by position or by name, as Python calls bind them."""
    if len(args) > len(params):
        raise ArgumentTypeError(f"{fname}() takes {len(params)} argument"
                                f"{'s' if len(params) != 1 else ''} ({', '.join(params)}) "
                                f"but {len(args)} were given")
    if not kwargs and len(args) == len(params):
        return list(args)
    out: list = list(args) + [None] * (len(params) - len(args))
    given = [True] * len(args) + [False] * (len(params) - len(args))
    index = {p: i for i, p in enumerate(params)}
    for k, v in kwargs.items():
        if k not in index:
            raise ArgumentTypeError(f"{fname}() got an unexpected argument '{k}'; its "
                                    f"parameters are {', '.join(params) or 'none'}")
        i = index[k]
        if given[i]:
            raise ArgumentTypeError(f"{fname}() got multiple values for parameter '{k}'")
        out[i], given[i] = v, True
    missing = [p for p, g in zip(params, given) if not g]
    if missing:
        raise ArgumentTypeError(f"{fname}() missing value for parameter"
                                f"{'s' if len(missing) > 1 else ''} "
                                f"{', '.join(repr(m) for m in missing)}")
    return out


def check_reduce(reduce: object) -> None:
    if not (reduce is None or (isinstance(reduce, str) and reduce in REDUCE)):
        raise ArgumentError(f"reduce must be None, 'sum' or 'mean', got {reduce!r}")


# -- one argument: a real number, or an array of them --------------------------------------
def _not_real(v: object, name: str) -> ArgumentTypeError:
    if isinstance(v, np.ndarray):
        what = f"an array of {v.dtype}"
    else:
        what = "None" if v is None else type(v).__name__
        if isinstance(v, (str, bytes)) and len(v) <= 20:
            what += f" {v!r}"
    if isinstance(v, (str, bytes, bytearray)) or getattr(v, "dtype", None) is not None \
            and v.dtype.kind in "SU":
        hint = "; text is not converted, pass float(...) of it"
    elif isinstance(v, (complex, np.complexfloating)) or getattr(v, "dtype", None) \
            is not None and v.dtype.kind == "c":
        hint = "; chaincc computes with real numbers and never drops an imaginary part " \
            "(pass .real explicitly if that is what you mean)"
    elif isinstance(v, Decimal):
        hint = "; convert it with float(...)"
    else:
        hint = ""
    return ArgumentTypeError(f"parameter '{name}' must be a real number or an array of "
                             f"them, got {what}{hint}")


def _to_float(v: object, name: str) -> float:
    try:
        return float(v)                                       # type: ignore[arg-type]
    except OverflowError:
        raise ArgumentError(f"parameter '{name}' is out of the float64 range") from None
    except (TypeError, ValueError):
        raise _not_real(v, name) from None


def real_scalar(v: object, name: str) -> float | None:
    """``v`` as a float if it is one real number (a Python or NumPy real or bool, or a
    0-d array of one), None if it is something else that may be an array; an
    ArgumentTypeError for None, text, bytes, Decimal, complex numbers and other
    non-numbers."""
    if type(v) is float:
        return v                                              # type: ignore[return-value]
    if isinstance(v, np.ndarray):
        return _to_float(real_array(v, name, np.dtype(np.float64)), name) \
            if v.ndim == 0 else None
    if isinstance(v, (numbers.Real, np.bool_)):
        return _to_float(v, name)
    if v is None or isinstance(v, (str, bytes, bytearray, complex, Decimal, np.generic,
                                   numbers.Number)):
        raise _not_real(v, name)
    return None


def real_array(v: object, name: str, dtype: np.dtype) -> np.ndarray:
    """``v`` as an array of ``dtype``: real numbers, integers or bools only; never text
    (which NumPy would parse), complex numbers (whose imaginary part it would drop) or a
    masked array (whose mask it would ignore)."""
    if isinstance(v, np.ma.MaskedArray):
        raise ArgumentTypeError(f"parameter '{name}' is a masked array, whose mask chaincc "
                                f"would ignore; pass numpy.ma.filled(a, value) or a.data")
    if v is None or isinstance(v, (str, bytes, bytearray, complex, Decimal)):
        raise _not_real(v, name)
    try:
        a = np.asarray(v)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"parameter '{name}' must be a real number or an array of "
                                f"them (nested lists of equal lengths work), got "
                                f"{type(v).__name__}") from None
    kind = a.dtype.kind
    if kind == "O":
        for e in a.flat:
            if real_scalar(e, name) is None:
                raise _not_real(e, name)
        try:
            return a.astype(dtype)
        except OverflowError:
            raise ArgumentError(f"parameter '{name}' is out of the float64 range") from None
    if kind not in "fiub":
        raise _not_real(a, name)
    return a if a.dtype == dtype else a.astype(dtype)


def shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


# -- a call's arguments, prepared for a kernel ----------------------------------------------
@dataclass(frozen=True, slots=True)
class Call:
    """One call's arguments, ready for a kernel.

    ``args[j]`` is a float (a scalar shared by every point), a flat array of parameter
    j's size (shared), or a flat array of ``n`` × that size (per point, point after
    point); arrays are host arrays in the target's dtype or device arrays in place.
    ``n`` is 1 for a call without batch dimensions (every argument shared).
    """

    n: int
    args: tuple
    shared: tuple[bool, ...]
    shapes: tuple[tuple[int, ...], ...]      # the parameters' shapes
    outputs: tuple[tuple[int, ...], ...]     # the outputs' shapes (one point's)
    sizes: tuple[int, ...]                   # each output's values per point
    on_device: bool = False


def batch_of(have: tuple[int, ...], shape: tuple[int, ...], name: str) -> tuple[int, ...]:
    """The batch dimensions of an argument of shape ``have`` for parameter ``name`` of
    ``shape``: its leading dimensions, when its trailing ones are ``shape``."""
    k = len(shape)
    if len(have) < k or have[len(have) - k:] != shape:
        want = f"shape {shape_text(shape)} (or a batch of them, shape (..., " \
            f"{', '.join(map(str, shape))}))" if shape else "a scalar or an array of them"
        raise ArgumentError(f"parameter '{name}' must have {want}, got an array of shape "
                            f"{shape_text(have)}")
    return have[:len(have) - k]


def scalar_call(values: Sequence, shapes: Sequence[tuple[int, ...]],
                outputs: Sequence[tuple[int, ...]]) -> Call | None:
    """The call when every parameter is a scalar given as a Python float, made without
    NumPy (a warm ``chaincc eval`` never imports it); None otherwise."""
    if any(shapes) or not all(type(v) is float for v in values):
        return None
    return Call(1, tuple(values), (True,) * len(values), tuple(shapes), tuple(outputs),
                tuple(math.prod(s) for s in outputs))


def prepare(values: Sequence, names: Sequence[str], shapes: Sequence[tuple[int, ...]],
            outputs: Sequence[tuple[int, ...]], fname: str, dtype: np.dtype | None = None,
            device_view: Callable[[object], object | None] | None = None
            ) -> tuple[tuple[int, ...] | None, Call]:
    """Arguments for parameters of fixed shapes, with leading batch dimensions: the batch
    shape (None when no argument has batch dimensions) and the prepared call.

    Host arguments broadcast as NumPy does. Device arrays (where ``device_view`` finds
    them) are used in place, so they must be in ``dtype`` and have the full batch shape,
    or none for a shared array parameter. ``dtype``: float64 unless given.
    """
    if dtype is None:
        dtype = np.dtype(np.float64)
    got: list = []                       # (value, batch shape, on device) per parameter
    for v, name, shape in zip(values, names, shapes):
        d = device_view(v) if device_view is not None else None
        if d is not None:
            if d.dtype != dtype:
                raise ArgumentTypeError(
                    f"parameter '{name}' is a {d.dtype} device array but {fname} was "
                    f"compiled for {dtype.name}; convert it, or compile with "
                    f"dtype=numpy.{d.dtype}")
            a = d
        else:
            if not shape:
                f = real_scalar(v, name)
                if f is not None:
                    got.append((f, (), False))
                    continue
            a = real_array(v, name, dtype)
        b = batch_of(tuple(a.shape), shape, name)
        if d is not None and not b and not shape:
            raise ArgumentError(f"parameter '{name}': pass a scalar as a Python number, "
                                f"not as a 0-d device array")
        got.append((a, b, d is not None))
    batches = {b for _, b, _ in got if b}
    try:
        batch = () if not batches else next(iter(batches)) if len(batches) == 1 else \
            np.broadcast_shapes(*(b for _, b, _ in got))
    except ValueError:
        desc = ", ".join(f"{p} {shape_text(b)}" for p, (_, b, _) in zip(names, got) if b)
        raise ArgumentError(f"batch dimensions cannot be broadcast together: {desc}") \
            from None
    on_device = any(dev for _, _, dev in got)
    n = math.prod(batch)
    args: list = []
    for (a, b, dev), name, shape in zip(got, names, shapes):
        if isinstance(a, float):
            args.append(a)
            continue
        size = math.prod(shape)
        if not b:                                    # shared by every point
            args.append(a.reshape(size) if dev else np.ascontiguousarray(a).reshape(size))
        elif dev:
            if b != batch:
                raise ArgumentError(
                    f"parameter '{name}': a device array with batch shape {shape_text(b)} "
                    f"is not broadcast; give it the batch shape {shape_text(batch)}, or "
                    f"pass a scalar or a host array")
            args.append(a.reshape(n * size))
        else:
            if b != batch:
                a = np.broadcast_to(a, batch + shape)
            args.append(np.ascontiguousarray(a).reshape(n * size))
    shared = tuple(not b for _, b, _ in got)
    call = Call(n, tuple(args), shared, tuple(shapes), tuple(outputs),
                tuple(math.prod(s) for s in outputs), on_device)
    return (batch if not all(shared) else None), call


def check_out(out: Sequence, batch: tuple[int, ...] | None, outputs: Sequence[tuple],
              reduce: str | None, dtype: np.dtype,
              device_view: Callable[[object], object | None] | None = None) -> list:
    """Caller-provided output arrays, checked (``dtype``, C-contiguous, writable, of the
    result shapes), as flat views for the kernels to write; None where the caller gave
    None (the kernel then writes a new array)."""
    if batch is None or reduce is not None:
        raise ArgumentError("out= is for batch calls without reduce (the results are then "
                            "arrays)")
    if len(out) != len(outputs):
        raise ArgumentError(f"out needs {len(outputs)} arrays, got {len(out)}")
    where = " (on the host or the device)" if device_view is not None else ""
    flat: list = []
    for o, s in zip(out, outputs):
        if o is None:                       # not asked for: the kernel's own array
            flat.append(None)
            continue
        want = tuple(batch) + tuple(s)
        d = device_view(o) if device_view is not None else None
        if d is not None:
            ok = d.dtype == dtype and tuple(d.shape) == want
        else:
            ok = isinstance(o, np.ndarray) and not isinstance(o, np.ma.MaskedArray) \
                and o.dtype == dtype and o.shape == want and o.flags.c_contiguous \
                and o.flags.writeable
        if not ok:
            a = d if d is not None else o
            got = f"{a.dtype} {shape_text(tuple(a.shape))}" if hasattr(a, "shape") and \
                hasattr(a, "dtype") else type(o).__name__
            raise ArgumentError(f"each out array must be a writable C-contiguous "
                                f"{dtype.name} array of shape {shape_text(want)}{where}, "
                                f"got {got}")
        flat.append((d if d is not None else o).reshape(math.prod(want)))
    return flat


_pool = None
_pool_lock = threading.Lock()


_forked = False


def _forget_pool() -> None:
    """In a child made by fork: the parent's pool threads do not exist here, so the
    next batch call starts a new pool."""
    global _pool, _pool_lock, _forked
    _pool = None
    _pool_lock = threading.Lock()
    _forked = True


def parallel_kernels_safe() -> bool:
    """Whether Numba's ``parallel=True`` kernels may run in this process: not in a
    child made by fork of a process that started Numba's OpenMP threading layer (GNU
    OpenMP terminates such a child). :func:`run_chunks` is safe everywhere."""
    if not _forked:
        return True
    import numba
    try:
        return numba.threading_layer() != "omp"
    except ValueError:                       # no layer started before the fork
        return True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _get_pool(workers: int):
    global _pool
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor
            _pool = ThreadPoolExecutor(max_workers=workers - 1,
                                       thread_name_prefix="chaincc")
        return _pool


def threads() -> int:
    """Worker threads for batch kernels: CHAINCC_NUM_THREADS, else Numba's count
    (NUMBA_NUM_THREADS, read from Numba when it is loaded, without loading it otherwise),
    else the cores this process may run on."""
    for var in ("CHAINCC_NUM_THREADS", "NUMBA_NUM_THREADS"):
        raw = os.environ.get(var, "")
        if raw.strip().isdigit() and int(raw) > 0:
            return min(int(raw), 1024)
    numba = sys.modules.get("numba")
    if numba is not None:
        return max(1, int(numba.config.NUMBA_NUM_THREADS))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# Reductions sum in this many chunks whatever the core count, so they give the same bits
# on any machine.
REDUCE_CHUNKS = 64


def run_chunks(n: int, chunks: int | None, work) -> None:
    """Call ``work(lo, hi, c)`` for chunks covering 0..n-1, on all cores.

    The kernels release the GIL, so plain threads run them in parallel; the calling
    thread takes a share too. ``chunks`` fixed (as reductions need, so their sums do not
    depend on the core count) or None for one chunk per core.
    """
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

    pool = _get_pool(workers)
    parts = [bounds[t::workers] for t in range(workers)]
    futures = [pool.submit(share, part) for part in parts[1:] if part]
    share(parts[0])
    for f in futures:
        f.result()


def split_outputs(flat: Sequence[float], shapes: Sequence[tuple[int, ...]],
                  dtype: np.dtype | str = "float64") -> list:
    """A kernel's flat outputs as one value per output: a float, or an array of its
    shape in ``dtype``."""
    out, k = [], 0
    for s in shapes:
        size = math.prod(s)
        part = flat[k:k + size]
        k += size
        out.append(float(part[0]) if not s else np.asarray(part, dtype=dtype).reshape(s))
    return out


def check_wrt(params: tuple[str, ...], fname: str, wrt: object) -> tuple[str, ...]:
    """``wrt`` (a parameter name or a sequence of them) as a tuple of distinct names of
    ``params``."""
    names = (wrt,) if isinstance(wrt, str) else wrt
    try:
        names = tuple(names)  # type: ignore[arg-type]
    except TypeError:
        raise ArgumentTypeError(f"wrt must be a parameter name or a list of them, got "
                                f"{type(wrt).__name__}") from None
    if not names:
        raise ArgumentError(f"wrt names no parameter; {fname} has {', '.join(params)}")
    for n in names:
        if not isinstance(n, str):
            raise ArgumentTypeError(f"wrt must name parameters as str, got "
                                    f"{type(n).__name__}")
        if n not in params:
            raise ArgumentError(f"{fname} has no parameter {n!r} (wrt=); its parameters "
                                f"are {', '.join(params)}")
    dup = [n for i, n in enumerate(names) if n in names[:i]]
    if dup:
        raise ArgumentError(f"wrt names {dup[0]!r} twice")
    return names
