"""The Python API: ``chaincc.compile`` and ``chaincc.compile_unit``.

A compiled function is a :class:`~chaincc.function.Function` (``function.py``), whose
calls follow the one calling convention of ``frontend.py`` and run on a target's
executor (``cpu.py``, ``cuda.py``, ``cbuild.py``). The compiler's stages are in
pipeline.py; the cache-backed kernels of a source in unit.py."""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import progress as _progress
from .calling import ArgumentTypeError
from .function import Function
from .source import SYNTAXES, Source
from .unit import Unit

if TYPE_CHECKING:
    import sympy as sp

    from .pipeline import Compiled, differentiate, pipeline

__all__ = ["Compiled", "Function", "Unit", "compile", "compile_unit", "differentiate",
           "pipeline"]


def __getattr__(name: str) -> object:
    """The compiler's stages, imported on first use (a process that runs cached kernels
    never imports the compiler, nor SymPy)."""
    if name in ("Compiled", "differentiate", "pipeline"):
        from . import pipeline as stages
        return getattr(stages, name)
    raise AttributeError(f"module 'chaincc.api' has no attribute {name!r}")


def _is_sympy(value: object) -> bool:
    """Whether ``value`` is a SymPy expression (without importing SymPy: a caller who has
    one has imported it)."""
    sympy = sys.modules.get("sympy")
    return sympy is not None and isinstance(value, sympy.Basic)


def _as_source(source: object, name: object, syntax: object = None) -> Source:
    """A source from what the user passed: text, a path, or a Source; ``syntax`` is
    "text" or "latex" (default: a Source's own, "latex" for a ``.tex`` path, else
    "text")."""
    if name is not None and not isinstance(name, str):
        raise ArgumentTypeError(f"name must be a str, got {type(name).__name__}")
    if syntax is not None and syntax not in SYNTAXES:
        raise ArgumentTypeError(f"syntax must be one of {', '.join(map(repr, SYNTAXES))}, "
                                f"not {syntax!r}")
    if isinstance(source, Source):
        return source if syntax is None else replace(source, syntax=syntax)
    if isinstance(source, os.PathLike):
        from .source import read_source
        return read_source(Path(source), name, syntax)
    if isinstance(source, str):
        return Source(name or "<string>", source, syntax or "text")
    hint = "; decode it first (data.decode('utf-8'))" \
        if isinstance(source, (bytes, bytearray)) else ""
    raise ArgumentTypeError(f"chaincc needs source text (a str), a pathlib.Path or a SymPy "
                            f"expression with params=[...], got "
                            f"{'None' if source is None else type(source).__name__}{hint}")


def compile(source: str | Path | Source | sp.Expr, *, entry: str | None = None,
            params: list | tuple | None = None, name: str | None = None,
            target: str = "cpu", dtype: object = None,
            wrt: str | list | tuple | None = None, syntax: str | None = None,
            progress: _progress.Setting = False, math: str = "default") -> Function:
    """Compile a source text, a file (``pathlib.Path``), or a SymPy expression with
    ``params=[...]`` into a :class:`Function` with its exact gradient.

    ``target="cuda"`` evaluates on an NVIDIA GPU (see ``chaincc/cuda.py``), in float64 or
    with ``dtype=numpy.float32`` in single precision. ``wrt=["W", "b"]``: gradients,
    Jacobians, Hessians and HVPs over those parameters only (in that order), with kernels
    specialised for them; the other parameters are data (CPU target).
    ``syntax="latex"`` reads the source as LaTeX math (docs/language.md, "LaTeX"); a
    ``.tex`` path is LaTeX unless ``syntax="text"`` says otherwise.
    ``progress=True`` shows the compile's progress on stderr (a bar per stage, once the
    compile has run for about 2 s), and that of the kernels compiled at the function's
    first calls; a callable is called as ``progress(stage, done, total)`` instead.
    ``math="fast"`` lets batch kernels call glibc's vector math (libmvec): faster on exp,
    log, sin, cos, tan, tanh, pow..., within 4 ulp instead of 1; ``math="libm"`` calls
    the C library's scalar functions, as the generated C does (CPU target; see
    :meth:`Function.with_math`)."""
    if math != "default" and (target != "cpu" or dtype is not None):
        raise ArgumentTypeError(f"math={math!r} is for the CPU target")
    with _progress.reporting(_checked_progress(progress)):
        fn = _compile(source, entry, params, name, target, dtype, wrt, syntax, 4)
    if math != "default":
        fn = fn.with_math(math)
    if progress:
        fn.unit.progress = progress
    return fn


def _compile(source: str | Path | Source | sp.Expr, entry: str | None,
             params: list | tuple | None, name: str | None, target: str, dtype: object,
             wrt: str | list | tuple | None, syntax: str | None, stacklevel: int) -> Function:
    """:func:`compile`; the source's warnings point ``stacklevel`` frames up."""
    if wrt is not None:
        whole = _compile(source, entry, params, name, target, dtype, None, syntax,
                         stacklevel + 1)
        return whole.with_wrt(wrt)
    if target != "cpu" or dtype is not None:
        from .cuda import retarget
        return retarget(_compile(source, entry, params, name, "cpu", None, None, syntax,
                                 stacklevel + 1), target, dtype)
    if _is_sympy(source):
        from .pipeline import differentiate
        from .sympy_input import lower_sympy
        if params is None:
            raise ArgumentTypeError("compiling a SymPy expression needs params=[...] (its "
                                    "symbols, in the order the function takes them)")
        if name is not None and not isinstance(name, str):
            raise ArgumentTypeError(f"name must be a str, got {type(name).__name__}")
        fwd = lower_sympy(source, params, name or "f")
        compiled = [differentiate(fwd)]
        src = Source(name or "<sympy>", "")
        return Unit.from_compiled(src, compiled).function()
    if params is not None:
        raise ArgumentTypeError("params=... is only for SymPy expressions; a source text "
                                "names its parameters itself")
    unit = Unit.build(_as_source(source, name, syntax))
    _warn(unit, stacklevel)
    return unit.function(entry)


def compile_unit(source: str | Path | Source, name: str | None = None,
                 syntax: str | None = None, progress: _progress.Setting = False) -> Unit:
    """Every function of a source (the CLI's view of a file); ``syntax`` and
    ``progress`` as for :func:`compile`."""
    with _progress.reporting(_checked_progress(progress)):
        unit = Unit.build(_as_source(source, name, syntax))
    if progress:
        unit.progress = progress
    _warn(unit, 3)
    return unit


def _checked_progress(progress: object) -> _progress.Setting:
    if progress is None or isinstance(progress, bool) or callable(progress):
        return progress
    raise ArgumentTypeError(f"progress must be True, False or a callable (stage, done, "
                            f"total), got {type(progress).__name__}")


def _warn(unit: Unit, stacklevel: int) -> None:
    """Emit each of the source's warnings (a ``SourceWarning``: located, with a caret),
    pointing at the caller of ``compile`` (``stacklevel`` frames above this one's
    caller)."""
    for w in unit.warnings:
        warnings.warn(w, stacklevel=stacklevel)
