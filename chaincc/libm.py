"""The C library's math functions, called directly (through ctypes), so that a value
computed in Python has the bits a compiled kernel gets from the same libm call.

Python's ``math`` module raises on overflow and domain errors and has its own ``lgamma``
and ``erf``; NumPy has its own vectorised ``exp`` and ``log``. Neither is guaranteed to
match the libm that Numba, LLVM and C kernels call, so constant folding uses this.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from collections.abc import Callable

_LIB = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")

# libm functions chaincc's kernels call, by arity
UNARY = frozenset("""
sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh exp expm1 log log1p log2 log10
sqrt cbrt erf erfc lgamma fabs floor ceil
""".split())
BINARY = frozenset("atan2 hypot pow".split())
# those with vector variants in glibc's libmvec (x86-64; glibc 2.35 or later for all of
# them), which math="fast" calls for several points at once where a loop vectorises: up
# to 4 ulp (glibc's bound; benchmarks/accuracy.py measures them) where libm is within 1
LIBMVEC = frozenset("""
acos acosh asin asinh atan atan2 atanh cbrt cos cosh erf erfc exp expm1 hypot log log10
log1p log2 pow sin sinh tan tanh
""".split())

_CACHE: dict[str, Callable[..., float]] = {}


def function(name: str) -> Callable[..., float]:
    """libm's ``double name(double, ...)`` as a Python callable on floats."""
    f = _CACHE.get(name)
    if f is None:
        assert name in UNARY or name in BINARY, f"not a libm function chaincc uses: {name}"
        c = getattr(_LIB, name)
        c.restype = ctypes.c_double
        c.argtypes = [ctypes.c_double] * arity(name)
        f = _CACHE[name] = c
    return f


def arity(name: str) -> int:
    return 2 if name in BINARY else 1


def call(name: str, *args: float) -> float:
    return float(function(name)(*(float(a) for a in args)))


def divide(a: float, b: float) -> float:
    """IEEE division: ``1/0`` is inf, ``0/0`` is nan (Python raises)."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
