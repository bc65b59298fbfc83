"""A compiled source: its functions' metadata, its kernel modules and machine code, and
the disk cache behind them, so a second compile of the same source in a new process
redoes no work."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

from . import __version__, cache, progress
from .diagnostics import ChainccError, SourceWarning
from .source import Source

if TYPE_CHECKING:
    from .function import Function
    from .ir import Program
    from .pipeline import Compiled


def _kernel_text(src_name: str, compiled: list[Compiled], index: int) -> str:
    """The scalar kernels of one function (batch kernels are made per call pattern)."""
    from .backends.numba_cpu import kernel_name, scalar_module_source
    names = frozenset(c.forward.name for c in compiled)
    c = compiled[index]
    k = kernel_name(c.forward.name, names)
    return scalar_module_source(__version__, src_name,
                                [(c.forward, k), (c.fused, f"{k}_value_and_grad")])


_DETAIL = ("statements", "selections", "depths", "op_counts")


class Unit:
    """A compiled source: every function in it, sharing one kernel module."""

    def __init__(self, source: Source, compiled: list[Compiled] | None, meta: dict,
                 key: str | None = None) -> None:
        self.source = source
        self._compiled = compiled
        self.meta = meta
        self.key = key                 # the disk cache's key for this source, if any
        # True when the metadata came from the disk cache (the pipeline has not run)
        self.cached = compiled is None
        self._modules: dict[int, ModuleType] = {}
        self._lock = threading.RLock()
        # where the progress of work done later (kernels compiled at first calls) goes
        self.progress: progress.Setting = None

    @staticmethod
    def cache_key(source: Source) -> str:
        """The disk cache's key for a source: its name and text, the chaincc package's
        code, the cache format, the Numba and llvmlite versions, and how loops are
        compiled where that was changed from the defaults (``iterate.settings``)."""
        import sys
        iterate = sys.modules.get("chaincc.iterate")    # (not imported: the defaults)
        loops = iterate.settings() if iterate is not None else ""
        return cache.digest(*cache.versions(), cache.package_digest(), source.name,
                            source.text, source.syntax, *([loops] if loops else []))

    @classmethod
    def build(cls, source: Source) -> Unit:
        key = cls.cache_key(source)
        meta = cache.read_meta(key, required=("functions",))
        if meta is not None:
            # the functions' kernel modules are used with their metadata
            cache.touch_modules(f.get("module") for f in meta["functions"])
            return cls(source, None, meta, key)
        from .pipeline import pipeline
        found: list[SourceWarning] = []
        compiled = pipeline(source, found)
        return cls.from_compiled(source, compiled, key, found)

    @classmethod
    def from_compiled(cls, source: Source, compiled: list[Compiled],
                      key: str | None = None,
                      warnings: list[SourceWarning] | None = None) -> Unit:
        """A unit of lowered functions. What needs a function's fused program (its
        operation counts and scalar kernels) is added per function, when first asked
        for (see ``detail``)."""
        from .backends.numba_cpu import kernel_name
        names = frozenset(c.forward.name for c in compiled)
        meta = {"functions": [
            {"name": c.forward.name, "kernel": kernel_name(c.forward.name, names),
             "params": [p.name for p in c.forward.params],
             "shapes": [list(p.shape) for p in c.forward.params],
             "out_shape": list(c.forward.output("value").shape), "line": c.forward.line}
            for c in compiled],
            # the source's warnings, kept so that a compile from the cache reports them too
            "warnings": [[w.message, w.span.line, w.span.col, w.span.end_line,
                          w.span.end_col] for w in warnings or ()]}
        if key is not None:
            cache.write_meta(key, meta)
        return cls(source, compiled, meta, key)

    @property
    def compiled(self) -> list[Compiled]:
        if self._compiled is None:
            with self._lock, progress.reporting(self.progress):
                if self._compiled is None:
                    from .pipeline import pipeline
                    self._compiled = pipeline(self.source)
        return self._compiled

    def detail(self, index: int) -> dict:
        """Function ``index``'s statement and operation counts (and how deep its loops
        nest): from the disk cache's metadata when a process made them before, else from
        its fused program (then written back to the metadata). The key of its Numba
        scalar kernel module is added when that module is first made
        (``scalar_module``): the LLVM kernels need none."""
        info = self.meta["functions"][index]
        if all(k in info for k in _DETAIL):
            return info
        with self._lock, progress.reporting(self.progress):
            info = self.meta["functions"][index]
            if all(k in info for k in _DETAIL):
                return info
            from .backends.numba_cpu import loop_depth, statement_count
            from .optimize import count_selections
            c = self.compiled[index]
            info = {**info,
                    "statements": [statement_count(c.forward), statement_count(c.fused)],
                    "selections": [count_selections(c.forward), count_selections(c.fused)],
                    "depths": [loop_depth(c.forward), loop_depth(c.fused)],
                    "op_counts": c.op_counts()}
            self._publish(index, info)
            return info

    def _publish(self, index: int, info: dict) -> None:
        functions = list(self.meta["functions"])
        functions[index] = info
        self.meta = {**self.meta, "functions": functions}
        if self.key is not None:
            cache.write_meta(self.key, self.meta)

    def scalar_module(self, index: int) -> ModuleType:
        """Function ``index``'s scalar kernels, imported once; rebuilt from the source
        when the cached module is missing or damaged."""
        module = self._modules.get(index)
        if module is not None:
            return module
        info = self.detail(index)
        module = cache.load_module(info["module"]) if "module" in info else None
        if module is None:
            with progress.reporting(self.progress), \
                    progress.stage(progress.KERNEL_SOURCE, 1):
                text = _kernel_text(self.source.name, self.compiled, index)
            key, module = cache.stored_module(text)
            if key != info.get("module"):       # first made, or by another version
                with self._lock:
                    self._publish(index, {**self.meta["functions"][index], "module": key})
        self._modules[index] = module
        return module

    def loop_module(self, index: int, which: str, prog: Callable[[], Program],
                    fname: str, shared: tuple[bool, ...]) -> ModuleType:
        """Batch and reduce kernels for one program and one sharing pattern, found in
        the disk cache by (source, function, program, pattern) when they were made
        before, so a new process does not redo the pipeline for them."""
        from .backends.numba_cpu import batch_module_source
        pattern = "".join("s" if s else "p" for s in shared)
        index_key = cache.digest(self.key, str(index), which, pattern) if self.key else None
        entry = cache.read_meta(index_key, required=("module",)) if index_key else None
        if entry is not None:
            module = cache.load_module(entry["module"])
            if module is not None:
                return module
        with progress.reporting(self.progress):
            p = prog()
            with progress.stage(progress.KERNEL_SOURCE, 1):
                text = batch_module_source(__version__, self.source.name, p, fname, shared,
                                           reduce=True)
        module_key, module = cache.stored_module(text)
        if index_key and (entry is None or entry["module"] != module_key):
            cache.write_meta(index_key, {"module": module_key})
        return module

    def native_kernel(self, index: int, which: str, prog: Callable[[], Program],
                      fname: str, mode: str, shared: tuple[bool, ...] | None = None,
                      math: str = "default"):
        """An LLVM-backend kernel (``mode`` "point", "points" or "sum"; ``shared`` the
        sharing pattern of a batch kernel), its machine code found in the disk cache when
        it was made before (by source, function, program, mode and pattern) and matches
        its hash. ``math``: "default" (chaincc's own elementary functions, ``vecmath``),
        "fast" (libm calls may use libmvec's vector variants) or "libm" (libm's)."""
        from .backends import machine
        pattern = "" if shared is None else "".join("s" if s else "p" for s in shared)
        vector = machine.vector_isas() if math == "fast" else ()
        parts = [self.key, str(index), which, mode, pattern]
        if vector:                                # math="fast": other machine code
            parts.append("vector:" + "".join(vector))
        elif math == "libm":
            parts.append("math:libm")
        index_key = cache.digest(*parts) if self.key else None
        entry = cache.read_meta(index_key, required=("object",)) if index_key else None
        obj = cache.read_object(entry["object"]) if entry else None
        if obj is None:
            from .backends import llvm
            with progress.reporting(self.progress):
                program = prog()
                with progress.stage(progress.KERNELS, 1):
                    how = llvm.plan(program)
                    own = None if vector or math == "libm" else machine.vector_widths()
                    obj = llvm.compile_object(llvm.module_ir(program, fname, mode, shared,
                                                             how.inline, vector, own), how)
            object_key = cache.store_object(obj)
            if index_key and (entry is None or entry["object"] != object_key):
                cache.write_meta(index_key, {"object": object_key})
        return machine.Kernel(obj, f"{fname}_{mode}", mode)

    @property
    def warnings(self) -> tuple[SourceWarning, ...]:
        """The source's warnings (forms read one way that a reader might read another),
        in source order."""
        from .source import Span
        return tuple(SourceWarning(message, Span(self.source.name, *where), self.source)
                     for message, *where in self.meta.get("warnings", ()))

    @property
    def names(self) -> list[str]:
        return [f["name"] for f in self.meta["functions"]]

    def function(self, entry: str | None = None) -> Function:
        """The function named ``entry`` (default: the last one the source defines)."""
        from .function import Function
        names = self.names
        if not names:
            raise UnknownFunction(f"{self.source.name} defines no function")
        if entry is None:
            entry = names[-1]
        if entry not in names:
            raise UnknownFunction(f"no function {entry!r} in {self.source.name}; it "
                                  f"defines {', '.join(names)}")
        return Function(self, names.index(entry))


class UnknownFunction(ChainccError, KeyError):
    """``entry=`` names no function of the source (also a KeyError)."""
