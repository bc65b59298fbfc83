"""The CPU executor: runs a compiled function's kernels on the CPU, as Numba kernels (a
scalar kernel per program, batch and reduce kernels per sharing pattern) or, for large
programs, as LLVM kernels (``native.py``), with their code in the disk cache.

It implements :class:`~chaincc.executor.Executor` for every program kind; the derived
programs (``vjp``, ``hessian``, ``hvp``) are made and compiled on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from types import ModuleType
from typing import TYPE_CHECKING

from . import cache, progress
from .calling import Call, parallel_kernels_safe, run_chunks
from .executor import split_kind, with_wrt
from .lazy_numpy import np
from .version import __version__

if TYPE_CHECKING:
    from .ir import Program
    from .unit import Unit

# batch calls at least this large run through the kernel module's own prange loop
PRANGE_POINTS = 65536


class CpuExecutor:
    """The kernels of function ``index`` of ``unit`` (its scalar kernel named
    ``kernel``; ``statements`` the sizes of its forward and fused programs)."""

    target = "cpu"
    kinds = frozenset({"value", "vg", "vjp", "hessian", "hvp", "jvp", "jacfwd"})
    specialises = True          # runs kinds with ``@``: derivatives over some parameters
    math = "default"            # or "fast" (libmvec) or "libm": Function.with_math

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float64)

    def __init__(self, unit: Unit, index: int, kernel: str,
                 statements: Sequence[int], selections: Sequence[int] = (0, 0)) -> None:
        self.unit = unit
        self.index = index
        self.kernel = kernel
        self._statements = tuple(statements)
        self._selections = tuple(selections)
        self._derived: dict[str, Program] = {}
        self._derived_modules: dict[str, ModuleType] = {}
        self.loops: dict[tuple[str, tuple[bool, ...]], ModuleType] = {}
        self._natives: dict[tuple, object] = {}
        self._kernels: dict[str, object] = {}    # per kind: its kernels by mode and pattern
        self._backend: dict[str, bool] = {}
        self._scalar: dict[str, object] = {}
        self._hot: dict[str, object] = {}       # scalar kernels called (compiled) once
        self._warm: set[tuple] = set()          # batch kernels called once

    @staticmethod
    def device_view(value: object) -> None:
        return None

    # -- programs and kernels -----------------------------------------------------------
    def program(self, kind: str) -> Program:
        c = self.unit.compiled[self.index]
        if kind == "value":
            return c.forward
        if kind == "vg":
            return c.fused
        return self._derive(kind)

    def fname(self, kind: str) -> str:
        """The kernel's name for a program kind."""
        base, wrt = split_kind(kind)
        if wrt is not None:
            return f"{self.kernel}_{base}_wrt_{'_'.join(map(str, wrt))}"
        return {"value": self.kernel, "vg": f"{self.kernel}_value_and_grad"}.get(
            kind, f"{self.kernel}_{kind}")

    def scalar_kernel(self, kind: str):
        kernel = self._scalar.get(kind)
        if kernel is None:
            module = (self.unit.scalar_module(self.index) if kind in ("value", "vg")
                      else self._derived_module(kind))
            kernel = self._scalar[kind] = getattr(module, self.fname(kind))
        return kernel

    def _derive(self, kind: str) -> Program:
        """A derived program (a Jacobian, VJP, JVP, Hessian, HVP, or a gradient over some
        parameters), made on first use."""
        prog = self._derived.get(kind)
        if prog is None:
            from . import adjoint, forward
            c = self.unit.compiled[self.index]
            base, wrt = split_kind(kind)
            names = None if wrt is None else tuple(c.forward.params[i].name for i in wrt)
            fused = (lambda: c.fused) if wrt is None else \
                (lambda: self.program(with_wrt("vg", wrt)))
            with progress.reporting(self.unit.progress):
                prog = {"vg": lambda: (adjoint.jacobian(c.forward, names)
                                       if c.forward.output("value").shape
                                       else adjoint.value_and_grad(c.forward, wrt=names)),
                        "vjp": lambda: adjoint.vjp(c.forward, names),
                        "jvp": lambda: forward.jvp(c.forward, names),
                        "jacfwd": lambda: forward.jacobian(c.forward, names),
                        "hessian": lambda: adjoint.hessian(fused(), names),
                        "hvp": lambda: adjoint.hvp(fused(), names)}[base]()
            self._derived[kind] = prog
        return prog

    def _derived_module(self, kind: str) -> ModuleType:
        """A derived program's Numba scalar kernel module (the Numba backend only)."""
        module = self._derived_modules.get(kind)
        if module is None:
            from .backends.numba_cpu import scalar_module_source
            with progress.reporting(self.unit.progress), \
                    progress.stage(progress.KERNEL_SOURCE, 1):
                text = scalar_module_source(__version__, self.unit.source.name,
                                            [(self._derive(kind), self.fname(kind))])
            _, module = cache.stored_module(text)
            self._derived_modules[kind] = module
        return module

    def native(self, kind: str) -> bool:
        """Whether this program runs on the LLVM backend (every program, unless
        ``CHAINCC_CPU_BACKEND=numba``); decided once per program, off the per-call path."""
        if kind not in self._backend:
            from .native import BACKEND, uses_llvm
            if BACKEND == "llvm":
                self._backend[kind] = True
            elif kind in ("value", "vg"):
                i = 0 if kind == "value" else 1
                # one Numba module holds both programs' scalar kernels: the deeper
                # program's loops decide for both
                depth = max(self.unit.detail(self.index)["depths"])
                self._backend[kind] = uses_llvm(self._statements[i], self._selections[i],
                                                depth)
            else:
                from .backends.numba_cpu import loop_depth, statement_count
                from .optimize import count_selections
                prog = self._derive(kind)
                self._backend[kind] = uses_llvm(statement_count(prog), count_selections(prog),
                                                loop_depth(prog))
        return self._backend[kind]

    def _native_kernel(self, kind: str):
        """The LLVM kernels of a program kind, as ``kernels(mode, shared)``: made once per
        kind, off the per-call path."""
        found = self._kernels.get(kind)
        if found is None:
            found = self._kernels[kind] = self._make_native_kernel(kind)
        return found

    def _make_native_kernel(self, kind: str):
        def kernel(mode: str, shared: tuple[bool, ...] | None):
            key = (kind, mode, shared)
            found = self._natives.get(key)
            if found is None:
                with self.unit._lock:
                    found = self._natives.get(key)
                    if found is None:
                        found = self._natives[key] = self.unit.native_kernel(
                            self.index, kind, lambda: self.program(kind), self.fname(kind),
                            mode, shared, self.math)
            return found
        return kernel

    def _loop_module(self, kind: str, shared: tuple[bool, ...]) -> ModuleType:
        loops = self.loops.get((kind, shared))
        if loops is None:
            loops = self.unit.loop_module(self.index, kind, lambda: self.program(kind),
                                          self.fname(kind), shared)
            self.loops[(kind, shared)] = loops
        return loops

    # -- the Executor interface ---------------------------------------------------------
    def point(self, kind: str, call: Call) -> Sequence[float]:
        if self.native(kind):
            from . import native
            return native.point(self._native_kernel(kind), call.args, call.sizes)
        kernel = self._hot.get(kind)
        if kernel is None:
            # the first call compiles the kernel (or loads its machine code)
            kernel = self.scalar_kernel(kind)
            with progress.task(self.unit.progress, progress.KERNELS, 1):
                r = kernel(*call.args)
            self._hot[kind] = kernel
        else:
            r = kernel(*call.args)
        return (r,) if sum(call.sizes) == 1 else r

    def points(self, kind: str, call: Call, targets: list) -> list:
        n, xs = call.n, call.args
        if self.native(kind):
            from . import native
            return native.run(self._native_kernel(kind), n, xs, call.shared, call.sizes,
                              None, targets)
        outs = [np.empty(n * size) if t is None else t for t, size in zip(targets, call.sizes)]
        loops = self._loop_module(kind, call.shared)
        fname = self.fname(kind)
        wrapper = getattr(loops, f"{fname}_batch", None)
        if wrapper is not None and n >= PRANGE_POINTS and parallel_kernels_safe():
            with self._first_call((kind, call.shared, "batch")):
                wrapper(n, *xs, *outs)
        else:
            kernel = getattr(loops, f"{fname}_points")
            with self._first_call((kind, call.shared, "points")):
                run_chunks(n, None, lambda lo, hi, c: kernel(lo, hi, *xs, *outs))
        return outs

    def sum(self, kind: str, call: Call) -> np.ndarray:
        from .calling import REDUCE_CHUNKS
        n, xs = call.n, call.args
        if self.native(kind):
            from . import native
            return native.run(self._native_kernel(kind), n, xs, call.shared, call.sizes,
                              REDUCE_CHUNKS)[0]
        acc = np.zeros((REDUCE_CHUNKS, sum(call.sizes)))
        kernel = getattr(self._loop_module(kind, call.shared), f"{self.fname(kind)}_sum")
        with self._first_call((kind, call.shared, "sum")):
            run_chunks(n, REDUCE_CHUNKS, lambda lo, hi, c: kernel(lo, hi, *xs, acc, c))
        return acc.sum(axis=0)

    def _first_call(self, key: tuple) -> AbstractContextManager:
        """The first call of a Numba batch kernel, which compiles it, as a stage."""
        if key in self._warm:
            return nullcontext()
        self._warm.add(key)
        return progress.task(self.unit.progress, progress.KERNELS, 1)
