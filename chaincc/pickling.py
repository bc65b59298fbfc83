"""Pickling a compiled function as its source and options, and compiling it again where
it is unpickled (a Dask worker, a ``multiprocessing`` child).

A :class:`~chaincc.function.Function` pickles (``Function.__reduce__``) as a plain tuple:
its source's name, text and syntax and its entry point, or, for a function compiled
from a SymPy expression, its lowered forward program (SymPy objects, pickled by SymPy,
never text to parse or evaluate); then its ``wrt``, target, dtype and ``math``. Never kernels:
unpickling compiles again, which finds the kernels in the process's disk cache when
this or another process made them before. Each process compiles a pickled function once;
later unpickles of the same state share that function.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .version import __version__

if TYPE_CHECKING:
    from .function import Function

FORMAT = 2
_KEEP = 32                           # functions kept per process, so each compiles once
_rebuilt: dict[tuple, Function] = {}
_lock = threading.Lock()


def state_of(fn: Function) -> tuple:
    """What ``fn`` pickles as: a tuple of strings, tuples and (for a function compiled
    from a SymPy expression) its forward program."""
    source = fn.unit.source
    dtype = fn._executor.dtype.name
    math = getattr(fn, "math", "default")
    if fn.unit.key is None:              # compiled from a SymPy expression
        return ("sympy", FORMAT, source.name, fn.compiled.forward, fn.wrt, fn.target, dtype,
                math)
    return ("source", FORMAT, source.name, source.text, source.syntax, fn.name, fn.wrt,
            fn.target, dtype, math)


def unpickle(state: tuple) -> Function:
    """The function a pickled ``state`` describes: compiled again, once per process."""
    with _lock:
        fn = _rebuilt.get(state)
    if fn is not None:
        return fn
    fn = _rebuild(state)
    with _lock:
        fn = _rebuilt.setdefault(state, fn)
        while len(_rebuilt) > _KEEP:
            del _rebuilt[next(iter(_rebuilt))]
    return fn


def _rebuild(state: tuple) -> Function:
    from .source import Source
    from .unit import Unit
    kind, fmt, *rest = state
    if fmt != FORMAT:
        raise ValueError(f"a chaincc.Function pickled in format {fmt!r}; this chaincc "
                         f"({__version__}) reads format {FORMAT}")
    if kind == "sympy":
        from .pipeline import differentiate
        name, forward, wrt, target, dtype, math = rest
        fn = Unit.from_compiled(Source(name, ""), [differentiate(forward)]).function()
    else:
        assert kind == "source", kind
        name, text, syntax, entry, wrt, target, dtype, math = rest
        fn = Unit.build(Source(name, text, syntax)).function(entry)
    if wrt is not None:
        fn = fn.with_wrt(wrt)
    if math != "default":
        fn = fn.with_math(math)
    if target != "cpu":
        from .cuda import retarget
        fn = retarget(fn, target, dtype)
    return fn
