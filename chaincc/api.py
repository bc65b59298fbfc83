"""The Python API: ``chaincc.compile`` and the compiled ``Function``.

The pipeline, one value per stage::

    text -parse-> Module -lower-> forward Program -adjoint-> fused Program -numba-> kernels
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType

import numpy as np
import sympy as sp

from . import __version__, cache
from .adjoint import value_and_grad
from .calling import bind, is_scalar, prepare_batch
from .ir import Program
from .optimize import count_ops
from .source import Source


@dataclass(frozen=True)
class Compiled:
    """One function's programs: the forward pass and the fused value-and-gradient."""

    forward: Program
    fused: Program

    def op_counts(self) -> dict[str, int]:
        return {"forward": count_ops(self.forward), "value_and_grad": count_ops(self.fused)}


def _numba_version() -> str:
    import numba
    return numba.__version__


def pipeline(src: Source) -> list[Compiled]:
    """Parse, lower and differentiate every function of a source."""
    from .lower import lower_module
    from .parser import parse
    return [Compiled(f, value_and_grad(f)) for f in lower_module(parse(src), src)]


def _kernel_text(src_name: str, compiled: list[Compiled]) -> str:
    from .backends.numba_cpu import module_source
    stamps = []
    for c in compiled:
        oc = c.op_counts()
        ps = ", ".join(p.name for p in c.forward.params)
        stamps.append(f"{c.forward.name}({ps}) at line {c.forward.line}: forward "
                      f"{oc['forward']} ops, value+grad {oc['value_and_grad']} ops")
    return module_source(__version__, src_name, [(c.forward, c.fused) for c in compiled],
                         stamps)


class Unit:
    """A compiled source: every function in it, sharing one kernel module."""

    def __init__(self, source: Source, compiled: list[Compiled] | None, meta: dict) -> None:
        self.source = source
        self._compiled = compiled
        self.meta = meta
        self._module: ModuleType | None = None

    @classmethod
    def build(cls, source: Source) -> Unit:
        key = cache.digest(__version__, _numba_version(), source.name, source.text)
        meta = cache.read_meta(key)
        if meta is not None and cache.module_path(meta["module"]).exists():
            return cls(source, None, meta)
        compiled = pipeline(source)
        return cls.from_compiled(source, compiled, key)

    @classmethod
    def from_compiled(cls, source: Source, compiled: list[Compiled],
                      key: str | None = None) -> Unit:
        from .backends.numba_cpu import kernel_name
        module_key = cache.store_module(_kernel_text(source.name, compiled))
        meta = {"module": module_key, "functions": [
            {"name": c.forward.name, "kernel": kernel_name(c.forward.name),
             "params": [p.name for p in c.forward.params], "line": c.forward.line,
             "op_counts": c.op_counts()} for c in compiled]}
        if key is not None:
            cache.write_meta(key, meta)
        return cls(source, compiled, meta)

    @property
    def compiled(self) -> list[Compiled]:
        if self._compiled is None:
            self._compiled = pipeline(self.source)
        return self._compiled

    @property
    def module(self) -> ModuleType:
        if self._module is None:
            self._module = cache.load_module(self.meta["module"])
            assert self._module is not None, "kernel module vanished from the cache"
        return self._module

    @property
    def names(self) -> list[str]:
        return [f["name"] for f in self.meta["functions"]]

    def function(self, entry: str | None = None) -> Function:
        names = self.names
        if entry is None:
            entry = names[-1]
        if entry not in names:
            raise KeyError(f"no function '{entry}' in {self.source.name}; it defines "
                           f"{', '.join(names)}")
        return Function(self, names.index(entry))


class Function:
    """A compiled function with its exact gradient.

    ``fn(*args, **kwargs)`` is the value; ``fn.grad`` one gradient entry per parameter;
    ``fn.value_and_grad`` both from one fused pass. Scalars give floats, arrays broadcast
    as NumPy does and give arrays.
    """

    def __init__(self, unit: Unit, index: int) -> None:
        self.unit = unit
        self.index = index
        info = unit.meta["functions"][index]
        self.name: str = info["name"]
        self.params: tuple[str, ...] = tuple(info["params"])
        self._kernel: str = info["kernel"]
        self._op_counts: dict[str, int] = dict(info["op_counts"])
        self.line: int = info["line"]

    def __repr__(self) -> str:
        return f"<chaincc.Function {self.name}({', '.join(self.params)})>"

    @property
    def compiled(self) -> Compiled:
        return self.unit.compiled[self.index]

    @property
    def forward_program(self) -> Program:
        return self.compiled.forward

    @property
    def program(self) -> Program:
        """The fused value-and-gradient Program."""
        return self.compiled.fused

    def op_counts(self) -> dict[str, int]:
        return dict(self._op_counts)

    @cached_property
    def _kernels(self) -> dict[str, object]:
        m, k = self.unit.module, self._kernel
        return {"value": getattr(m, k), "value_batch": getattr(m, f"{k}_batch"),
                "vg": getattr(m, f"{k}_value_and_grad"),
                "vg_batch": getattr(m, f"{k}_value_and_grad_batch")}

    def _run(self, which: str, args: tuple, kwargs: dict) -> list:
        values = bind(self.params, self.name, args, kwargs)
        n_out = 1 if which == "value" else 1 + len(self.params)
        if all(is_scalar(v) for v in values):
            from .calling import as_float
            xs = [as_float(v, p) for v, p in zip(values, self.params)]
            r = self._kernels[which](*xs)
            return [float(r)] if n_out == 1 else [float(v) for v in r]
        shape, xs = prepare_batch(values, self.params)
        n = int(np.prod(shape, dtype=np.int64))
        outs = [np.empty(n) for _ in range(n_out)]
        self._kernels[which + "_batch"](n, *xs, *outs)
        return [o.reshape(shape) for o in outs]

    def __call__(self, *args, **kwargs):
        return self._run("value", args, kwargs)[0]

    def value_and_grad(self, *args, **kwargs):
        r = self._run("vg", args, kwargs)
        return r[0], tuple(r[1:])

    def grad(self, *args, **kwargs) -> tuple:
        return self.value_and_grad(*args, **kwargs)[1]


def _as_source(source: str | Path | Source, name: str | None) -> Source:
    if isinstance(source, Source):
        return source
    if isinstance(source, Path):
        return Source(name or str(source), source.read_text(encoding="utf-8"))
    return Source(name or "<string>", source)


def compile(source: str | Path | Source | sp.Expr, *, entry: str | None = None,
            params: list | tuple | None = None, name: str | None = None) -> Function:
    """Compile a source text, a file (``pathlib.Path``), or a SymPy expression with
    ``params=[...]`` into a :class:`Function` with its exact gradient."""
    if isinstance(source, sp.Basic):
        from .sympy_input import lower_sympy
        if params is None:
            raise TypeError("compiling a SymPy expression needs params=[...] (its symbols, "
                            "in the order the function takes them)")
        fwd = lower_sympy(source, params, name or "f")
        compiled = [Compiled(fwd, value_and_grad(fwd))]
        src = Source(name or "<sympy>", "")
        return Unit.from_compiled(src, compiled).function()
    if params is not None:
        raise TypeError("params=... is only for SymPy expressions; a source text names "
                        "its parameters itself")
    return Unit.build(_as_source(source, name)).function(entry)


def compile_unit(source: str | Path | Source, name: str | None = None) -> Unit:
    """Every function of a source (the CLI's view of a file)."""
    return Unit.build(_as_source(source, name))
