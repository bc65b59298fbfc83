"""chaincc's own elementary functions callable from Python on floats: constant folding
(``ops.Float64``) computes ``exp(2)`` with the function the kernels call, so a folded
constant has the bits a kernel would compute for it.

Their scalar versions are compiled once, at O3, into one object file kept in the disk
cache (found by a digest of its IR, so a change to any function makes a new one)."""

from __future__ import annotations

import ctypes
from collections.abc import Callable

from . import FUNCTIONS, definitions, symbol

_functions: dict[str, Callable[..., float]] | None = None
_loaded: object = None


def _ir() -> str:
    names = sorted(FUNCTIONS)
    lines, _, fallback = definitions(names, ())
    from ...libm import arity
    lines = [f"declare double @{f}({', '.join(['double'] * arity(f))}) #1"
             for f in sorted(fallback)] + lines + \
        ["attributes #1 = { nounwind willreturn memory(none) }"]
    for name in names:
        n = FUNCTIONS[name].arity
        params = ", ".join(f"double %x{k}" for k in range(n))
        lines += [f"define double @fold_{name}({params}) nounwind {{", "entry:",
                  f"  %r = call double @{symbol(name)}({params})", "  ret double %r", "}"]
    return "\n".join(lines) + "\n"


def _object(ir: str) -> bytes:
    from ... import cache
    from .. import machine
    key = cache.digest("vecmath-library", ir)
    entry = cache.read_meta(key, required=("object",))
    obj = cache.read_object(entry["object"]) if entry else None
    if obj is None:
        obj = machine.compile_object(ir, machine.Plan(3, 3, False))
        cache.write_meta(key, {"object": cache.store_object(obj)})
    return obj


def functions() -> dict[str, Callable[..., float]]:
    """Each function by its libm name, on Python floats."""
    global _functions, _loaded
    if _functions is None:
        from .. import machine
        loaded = machine.Loaded(_object(_ir()))
        table = {}
        for name, fn in FUNCTIONS.items():
            proto = ctypes.CFUNCTYPE(ctypes.c_double, *[ctypes.c_double] * fn.arity)
            table[name] = proto(loaded.address(f"fold_{name}"))
        _loaded, _functions = loaded, table
    return _functions
