"""The Python API: ``chaincc.compile`` and the compiled ``Function``, which binds
arguments, picks the kernels (Numba for most programs, LLVM for large ones) and shapes
their results. The compiler's stages are in pipeline.py; the cache-backed kernels of a
source in unit.py."""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType

import numpy as np
import sympy as sp

from . import __version__, adjoint, cache
from .calling import bind, prepare, run_chunks, split_outputs
from .ir import Program
from .pipeline import Compiled, differentiate, pipeline
from .source import Source
from .unit import Unit

__all__ = ["Compiled", "Function", "Unit", "compile", "compile_unit", "differentiate",
           "pipeline"]


class Function:
    """A compiled function with its exact derivatives.

    ``fn(*args, **kwargs)`` is the value; ``fn.grad`` one gradient entry per parameter, in
    that parameter's shape; ``fn.value_and_grad`` both from one fused pass. Scalars give
    floats; arguments with extra leading (batch) dimensions give per-point results with
    the batch shape in front, or with ``reduce="sum"``/``"mean"`` their sum or mean over
    the batch, reduced inside the kernel.
    """

    def __init__(self, unit: Unit, index: int) -> None:
        self.unit = unit
        self.index = index
        info = unit.meta["functions"][index]
        self.name: str = info["name"]
        self.params: tuple[str, ...] = tuple(info["params"])
        self.shapes: tuple[tuple[int, ...], ...] = tuple(tuple(s) for s in info["shapes"])
        self.out_shape: tuple[int, ...] = tuple(info["out_shape"])
        self._kernel: str = info["kernel"]
        self._op_counts: dict[str, int] = dict(info["op_counts"])
        self.line: int = info["line"]
        self._derived: dict[str, tuple[Program, ModuleType]] = {}
        self._loops: dict[tuple[str, tuple[bool, ...]], ModuleType] = {}
        self._natives: dict[tuple[str, str], object] = {}
        self._backend: dict[str, bool] = {}
        self._statements: tuple[int, int] = tuple(info["statements"])

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
        """The fused program: value and gradient (value and Jacobian when the value is
        an array)."""
        return self.compiled.fused

    def op_counts(self) -> dict[str, int]:
        return dict(self._op_counts)

    # -- C (chaincc/backends/c.py, chaincc/cbuild.py) ----------------------------------
    def c_source(self, prefix: str | None = None) -> tuple[str, str]:
        """``(header, source)``: this function as C99 needing only <math.h> and
        <stddef.h>; the source includes the header as ``PREFIX.h`` (default: the
        function's C name)."""
        from .backends.c import c_sources, function_names, kind_of
        fwd, fused = self.compiled.forward, self.compiled.fused
        if prefix is None:
            prefix = function_names([(fwd.name, kind_of(fwd))])[0][0]
        return c_sources(__version__, self.unit.source.name, [(fwd, fused)], prefix)

    def compile_c(self):
        """Build :meth:`c_source` with the system C compiler (cached) and load it: a
        callable with this function's interface, running the C code through ctypes."""
        from .cbuild import compile_c
        return compile_c(self)

    # -- the chain rule shown (chaincc/explain.py, chaincc/graph.py) ---------------------
    def explain(self, at: dict | None = None, format: str = "unicode",
                full: bool = False) -> str:
        """The chain rule worked out: intermediates, local partials, adjoints; with
        ``at={"x": 1, "y": 2}`` every line's value there, ending with the gradient.
        ``format`` is ``unicode``, ``ascii``, ``latex`` or ``markdown``."""
        from .explain import explain
        return explain(self.forward_program, at, format, full, self._source_names())

    def graph(self, at: dict | None = None) -> str:
        """The computational graph as Graphviz DOT text (forward and adjoint edges)."""
        from .graph import to_dot
        return to_dot(self.forward_program, at, self._source_names())

    def _repr_latex_(self) -> str:
        from .explain import latex_summary
        return latex_summary(self.forward_program, self._source_names())

    def _source_names(self) -> frozenset[str]:
        """The names the source defines, which names made up by explain must avoid."""
        from .parser import parse
        if not self.unit.source.text.strip():
            return frozenset()
        return frozenset(st.name for st in parse(self.unit.source).statements)

    # -- running kernels -------------------------------------------------------------
    def _program(self, which: str) -> Program:
        if which == "value":
            return self.compiled.forward
        if which == "vg":
            return self.compiled.fused
        return self._derive(which)[0]

    def _fname(self, which: str) -> str:
        return {"value": self._kernel, "vg": f"{self._kernel}_value_and_grad"}.get(
            which, f"{self._kernel}_{which}")

    def _scalar_kernel(self, which: str):
        module = self.unit.module if which in ("value", "vg") else self._derive(which)[1]
        return getattr(module, self._fname(which))

    def _evaluate(self, which: str, outputs: list[tuple[int, ...]], params, shapes,
                  values: list, reduce: str | None, out: list | None = None) -> list:
        """Run one program's kernels (scalar, batch or reduce) and shape the outputs,
        written into ``out`` (arrays of the right shapes) when given."""
        if reduce not in (None, "sum", "mean"):
            raise ValueError(f"reduce must be None, 'sum' or 'mean', got {reduce!r}")
        batch, xs, shared = prepare(values, params, shapes)
        sizes = [math.prod(s) for s in outputs]
        if out is not None:
            out = _check_out(out, batch, outputs, reduce)
        if self._native(which):
            return self._evaluate_native(which, batch, xs, shapes, shared, sizes, outputs,
                                         reduce, out)
        if batch is None:
            r = self._scalar_kernel(which)(*xs)
            return split_outputs([r] if sum(sizes) == 1 else list(r), outputs)
        n = math.prod(batch)
        fname = self._fname(which)
        loops = self._loops.get((which, shared))
        if loops is None:
            loops = self.unit.loop_module(self.index, which, lambda: self._program(which),
                                          fname, shared)
            self._loops[(which, shared)] = loops
        if reduce is not None:
            from .backends.numba_cpu import REDUCE_CHUNKS
            acc = np.zeros((REDUCE_CHUNKS, sum(sizes)))
            kernel = getattr(loops, f"{fname}_sum")
            run_chunks(n, REDUCE_CHUNKS, lambda lo, hi, c: kernel(lo, hi, *xs, acc, c))
            total = acc.sum(axis=0)
            if reduce == "mean" and n:
                total /= n
            return split_outputs(list(total), outputs)
        outs = [np.empty(n * size) for size in sizes] if out is None else \
            [o.reshape(-1) for o in out]
        wrapper = getattr(loops, f"{fname}_batch", None)
        if wrapper is not None and n >= 65536:
            wrapper(n, *xs, *outs)
        else:
            kernel = getattr(loops, f"{fname}_points")
            run_chunks(n, None, lambda lo, hi, c: kernel(lo, hi, *xs, *outs))
        return out or [o.reshape(batch + s) for o, s in zip(outs, outputs)]

    def _native(self, which: str) -> bool:
        """Whether this program runs on the LLVM backend (large programs); decided once
        per program, off the per-call path."""
        if which not in self._backend:
            from .native import NATIVE_STATEMENTS
            if which in ("value", "vg"):
                size = self._statements[0 if which == "value" else 1]
            else:
                size = len(self._derive(which)[0].body)
            self._backend[which] = size > NATIVE_STATEMENTS
        return self._backend[which]

    def _evaluate_native(self, which, batch, xs, shapes, shared, sizes, outputs, reduce,
                         out=None):
        from . import native
        from .backends.numba_cpu import REDUCE_CHUNKS
        n = 1 if batch is None else math.prod(batch)

        def kernel(kind: str):
            key = (which, kind)
            if key not in self._natives:
                self._natives[key] = self.unit.native_kernel(
                    self.index, which, lambda: self._program(which), self._fname(which),
                    kind)
            return self._natives[key]

        if batch is None or reduce is None:
            outs = native.run(kernel, n, xs, shapes, shared, sizes, None)
            if batch is None:
                return split_outputs([v for o in outs for v in o], outputs)
            if out is not None:
                for o, r in zip(out, outs):
                    o.reshape(-1)[:] = r
                return out
            return [o.reshape(batch + s) for o, s in zip(outs, outputs)]
        total = native.run(kernel, n, xs, shapes, shared, sizes, REDUCE_CHUNKS)[0]
        if reduce == "mean" and n:
            total /= n
        return split_outputs(list(total), outputs)

    def _run(self, which: str, args: tuple, kwargs: dict, reduce: str | None,
             out: list | None = None) -> list:
        values = bind(self.params, self.name, args, kwargs)
        outputs = [self.out_shape]
        if which != "value":
            if self.out_shape:
                outputs += [self.out_shape + s for s in self.shapes]
            else:
                outputs += list(self.shapes)
        return self._evaluate(which, outputs, self.params, self.shapes, values, reduce, out)

    def _scalar_only(self, what: str) -> None:
        if self.out_shape:
            raise TypeError(f"{self.name} is vector-valued (its value has shape "
                            f"{self.out_shape}), so it has a Jacobian rather than a "
                            f"gradient: use {self.name}.jacobian(...) or .vjp(...)"
                            if what == "grad" else
                            f"{what} needs a scalar-valued function; {self.name}'s value "
                            f"has shape {self.out_shape}")

    def __call__(self, *args, reduce: str | None = None, out=None, **kwargs):
        """The value. ``out``: an array of the batch shape to write it into."""
        return self._run("value", args, kwargs, reduce,
                         None if out is None else [out])[0]

    def value_and_grad(self, *args, reduce: str | None = None, out=None, **kwargs):
        """(value, gradients). ``out``: ``(value_array, (grad_arrays...))`` of the batch
        shapes to write into and return, so repeated batch calls allocate nothing."""
        self._scalar_only("grad")
        flat = None
        if out is not None:
            try:
                value_out, grads_out = out
                flat = [value_out, *grads_out]
            except (TypeError, ValueError):
                raise TypeError("out must be (value_array, (grad_array, ...))") from None
        r = self._run("vg", args, kwargs, reduce, flat)
        return r[0], tuple(r[1:])

    def grad(self, *args, reduce: str | None = None, **kwargs) -> tuple:
        return self.value_and_grad(*args, reduce=reduce, **kwargs)[1]

    def jacobian(self, *args, **kwargs) -> tuple:
        """One array per parameter, shaped (output shape + parameter shape)."""
        return tuple(self._run("vg", args, kwargs, None)[1:])

    # -- derived programs, compiled on first use ------------------------------------------
    def _derive(self, kind: str) -> tuple[Program, ModuleType]:
        if kind not in self._derived:
            from .backends.numba_cpu import scalar_module_source
            c = self.compiled
            prog = {"vjp": lambda: adjoint.vjp(c.forward),
                    "hessian": lambda: adjoint.hessian(c.fused),
                    "hvp": lambda: adjoint.hvp(c.fused)}[kind]()
            text = scalar_module_source(__version__, self.unit.source.name,
                                        [(prog, self._fname(kind))])
            module = cache.load_module(cache.store_module(text))
            assert module is not None
            self._derived[kind] = (prog, module)
        return self._derived[kind]

    def _run_derived(self, kind: str, values: list) -> list:
        prog = self._derive(kind)[0]
        return self._evaluate(kind, [o.shape for o in prog.outputs],
                              [p.name.lstrip("_") for p in prog.params],
                              [p.shape for p in prog.params], values, None)

    def vjp(self, *args, cotangent=None, **kwargs) -> tuple:
        """``cotangent · J`` per parameter (the cotangent has the value's shape): the
        reverse-mode product, one sweep."""
        if cotangent is None:
            if not args:
                raise TypeError("vjp needs the cotangent: fn.vjp(*args, cotangent)")
            *args, cotangent = args
        values = bind(self.params, self.name, tuple(args), kwargs) + [cotangent]
        return tuple(self._run_derived("vjp", values)[1:])

    def hessian(self, *args, **kwargs) -> np.ndarray:
        """The Hessian as one matrix over the flattened parameters (row-major within each
        parameter, parameters in order), by differentiating the fused gradient program
        again."""
        self._scalar_only("hessian")
        values = bind(self.params, self.name, args, kwargs)
        return self._run_derived("hessian", values)[0]

    def hvp(self, *args, direction=None, **kwargs) -> tuple:
        """Hessian-vector product, one entry per parameter. ``direction`` has one entry
        per parameter (each in that parameter's shape) or is one flat vector over all
        parameters."""
        self._scalar_only("hvp")
        if direction is None:
            if not args:
                raise TypeError("hvp needs a direction: fn.hvp(*args, direction)")
            *args, direction = args
        values = bind(self.params, self.name, tuple(args), kwargs)
        return tuple(self._run_derived("hvp", values + [self._flat_direction(direction)]))

    def _flat_direction(self, direction) -> np.ndarray:
        total = sum(math.prod(s) for s in self.shapes)
        if isinstance(direction, (tuple, list)) and len(direction) == len(self.params) \
                and len(self.params) != total:
            parts = [np.asarray(d, dtype=np.float64).reshape(-1) for d in direction]
            direction = np.concatenate(parts) if parts else np.zeros(0)
        d = np.asarray(direction, dtype=np.float64)
        if d.shape[-1:] != (total,):
            raise ValueError(f"direction must have one entry per parameter or {total} "
                             f"values in all, got shape {d.shape}")
        return d


def _check_out(out: list, batch, outputs: list[tuple[int, ...]], reduce) -> list:
    """Caller-provided output arrays: float64, C-contiguous, of the result shapes."""
    if batch is None or reduce is not None:
        raise ValueError("out= is for batch calls without reduce (the results are then "
                         "arrays)")
    if len(out) != len(outputs):
        raise ValueError(f"out needs {len(outputs)} arrays, got {len(out)}")
    for o, s in zip(out, outputs):
        want = tuple(batch) + tuple(s)
        if not (isinstance(o, np.ndarray) and o.dtype == np.float64 and o.shape == want
                and o.flags.c_contiguous and o.flags.writeable):
            got = f"{o.dtype} {o.shape}" if isinstance(o, np.ndarray) else type(o).__name__
            raise ValueError(f"each out array must be a writable C-contiguous float64 "
                             f"array of shape {want}, got {got}")
    return list(out)


def _as_source(source: str | Path | Source, name: str | None) -> Source:
    if isinstance(source, Source):
        return source
    if isinstance(source, Path):
        return Source(name or str(source), source.read_text(encoding="utf-8"))
    return Source(name or "<string>", source)


def compile(source: str | Path | Source | sp.Expr, *, entry: str | None = None,
            params: list | tuple | None = None, name: str | None = None,
            target: str = "cpu", dtype: object = None) -> Function:
    """Compile a source text, a file (``pathlib.Path``), or a SymPy expression with
    ``params=[...]`` into a :class:`Function` with its exact gradient.

    ``target="cuda"`` evaluates on an NVIDIA GPU (see ``chaincc/cuda.py``), in float64 or
    with ``dtype=numpy.float32`` in single precision."""
    if target != "cpu" or dtype is not None:
        from .cuda import retarget
        return retarget(compile(source, entry=entry, params=params, name=name), target, dtype)
    if isinstance(source, sp.Basic):
        from .sympy_input import lower_sympy
        if params is None:
            raise TypeError("compiling a SymPy expression needs params=[...] (its symbols, "
                            "in the order the function takes them)")
        fwd = lower_sympy(source, params, name or "f")
        compiled = [differentiate(fwd)]
        src = Source(name or "<sympy>", "")
        return Unit.from_compiled(src, compiled).function()
    if params is not None:
        raise TypeError("params=... is only for SymPy expressions; a source text names "
                        "its parameters itself")
    return Unit.build(_as_source(source, name)).function(entry)


def compile_unit(source: str | Path | Source, name: str | None = None) -> Unit:
    """Every function of a source (the CLI's view of a file)."""
    return Unit.build(_as_source(source, name))
