"""A compiled source: its functions' metadata, its kernel modules and machine code, and
the disk cache behind them, so a second compile of the same source in a new process
redoes no work."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

from . import __version__, cache
from .ir import Program
from .pipeline import Compiled, pipeline
from .source import Source

if TYPE_CHECKING:
    from .api import Function


def _numba_version() -> str:
    import numba
    return numba.__version__


def _kernel_text(src_name: str, compiled: list[Compiled]) -> str:
    """The scalar kernels of every function (batch kernels are made per call pattern)."""
    from .backends.numba_cpu import kernel_name, scalar_module_source
    progs = []
    names = frozenset(c.forward.name for c in compiled)
    for c in compiled:
        k = kernel_name(c.forward.name, names)
        progs += [(c.forward, k), (c.fused, f"{k}_value_and_grad")]
    return scalar_module_source(__version__, src_name, progs)


class Unit:
    """A compiled source: every function in it, sharing one kernel module."""

    def __init__(self, source: Source, compiled: list[Compiled] | None, meta: dict,
                 key: str | None = None) -> None:
        self.source = source
        self._compiled = compiled
        self.meta = meta
        self.key = key                 # the disk cache's key for this source, if any
        self._module: ModuleType | None = None

    @classmethod
    def build(cls, source: Source) -> Unit:
        key = cache.digest(__version__, str(cache.FORMAT), cache.generator_digest(),
                           _numba_version(), source.name, source.text)
        meta = cache.read_meta(key)
        if meta is not None and cache.module_path(meta["module"]).exists():
            return cls(source, None, meta, key)
        compiled = pipeline(source)
        return cls.from_compiled(source, compiled, key)

    @classmethod
    def from_compiled(cls, source: Source, compiled: list[Compiled],
                      key: str | None = None) -> Unit:
        from .backends.numba_cpu import kernel_name
        names = frozenset(c.forward.name for c in compiled)
        module_key = cache.store_module(_kernel_text(source.name, compiled))
        meta = {"module": module_key, "functions": [
            {"name": c.forward.name, "kernel": kernel_name(c.forward.name, names),
             "params": [p.name for p in c.forward.params],
             "shapes": [list(p.shape) for p in c.forward.params],
             "out_shape": list(c.forward.output("value").shape), "line": c.forward.line,
             "statements": [len(c.forward.body), len(c.fused.body)],
             "op_counts": c.op_counts()} for c in compiled]}
        if key is not None:
            cache.write_meta(key, meta)
        return cls(source, compiled, meta, key)

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

    def loop_module(self, index: int, which: str, prog: Callable[[], Program],
                    fname: str, shared: tuple[bool, ...]) -> ModuleType:
        """Batch and reduce kernels for one program and one sharing pattern, found in
        the disk cache by (source, function, program, pattern) when they were made
        before, so a new process does not redo the pipeline for them."""
        from .backends.numba_cpu import batch_module_source
        pattern = "".join("s" if s else "p" for s in shared)
        index_key = cache.digest(self.key, str(index), which, pattern) if self.key else None
        entry = cache.read_meta(index_key) if index_key else None
        if entry is not None:
            module = cache.load_module(entry["module"])
            if module is not None:
                return module
        text = batch_module_source(__version__, self.source.name, prog(), fname, shared,
                                   reduce=True)
        module_key = cache.store_module(text)
        if index_key:
            cache.write_meta(index_key, {"module": module_key})
        module = cache.load_module(module_key)
        assert module is not None
        return module

    def native_kernel(self, index: int, which: str, prog: Callable[[], Program],
                      fname: str, kind: str):
        """An LLVM-backend kernel, its machine code found in the disk cache when it was
        made before (by source, function, program and kind)."""
        from .backends import llvm
        index_key = cache.digest(self.key, str(index), which, kind) if self.key else None
        entry = cache.read_meta(index_key) if index_key else None
        obj = cache.read_object(entry["object"]) if entry else None
        if obj is None:
            obj = llvm.compile_object(llvm.module_ir(prog(), fname, kind))
            object_key = cache.store_object(obj)
            if index_key:
                cache.write_meta(index_key, {"object": object_key})
        return llvm.Kernel(obj, f"{fname}_{kind}", kind)

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
        from .api import Function
        return Function(self, names.index(entry))
