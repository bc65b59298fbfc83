"""Building the generated C with the system compiler and calling it through ctypes.

``Function.compile_c()`` lands here: the shared library is cached under
``cache_dir()/c/KEY`` (KEY hashes the C text, the compiler and its flags), so a second
build of the same function costs one ``dlopen``.
"""

from __future__ import annotations

import ctypes
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import cache
from .calling import bind, prepare, split_outputs
from .diagnostics import ChainccError

# -ffp-contract=off: no fused multiply-add, so results match the other backends bitwise
# on every target (GCC contracts by default where the hardware has FMA).
CFLAGS = ("-std=c99", "-O2", "-fPIC", "-shared", "-ffp-contract=off")
_DOUBLE_P = ctypes.POINTER(ctypes.c_double)


def find_compiler() -> list[str]:
    """The C compiler command: ``$CC`` if set, else ``cc``, ``gcc`` or ``clang``."""
    if os.environ.get("CC"):
        return shlex.split(os.environ["CC"])
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return [path]
    raise ChainccError("no C compiler found (install gcc or clang, or set CC)")


def build_library(header: str, source: str, prefix: str) -> Path:
    """Compile ``prefix.h``/``prefix.c`` into a cached shared library; returns its path."""
    cc = find_compiler()
    suffix = ".dll" if sys.platform == "win32" else ".so"
    key = cache.digest(header, source, prefix, *cc, *CFLAGS, sys.platform)
    root = cache.cache_dir() / "c"
    final = root / key
    lib = final / f"{prefix}{suffix}"
    if lib.exists():
        return lib
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=root, prefix=".build-"))
    try:
        (work / f"{prefix}.h").write_text(header, encoding="utf-8")
        (work / f"{prefix}.c").write_text(source, encoding="utf-8")
        cmd = [*cc, *CFLAGS, "-o", f"{prefix}{suffix}", f"{prefix}.c", "-lm"]
        done = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the C compiler failed on generated code ({' '.join(cmd)}):\n"
                               f"{done.stderr}")
        try:
            os.replace(work, final)          # readers see a finished folder or none
        except OSError:
            if not lib.exists():             # another process won the race if it exists
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return lib


class CFunction:
    """A function compiled to C and loaded with ctypes, called like :class:`Function`.

    ``fn(*args, **kwargs)`` is the value, ``fn.grad`` the gradient, ``fn.value_and_grad``
    both, ``fn.jacobian`` for an array value; scalars give floats, and arguments with
    leading batch dimensions broadcast as NumPy does and give arrays (``reduce="sum"`` or
    ``"mean"`` sums them over the batch).
    """

    def __init__(self, library: Path, fn, c_names: Sequence[str]) -> None:
        self.library = library
        self.name: str = fn.name
        self.params: tuple[str, ...] = tuple(fn.params)
        self.shapes: tuple[tuple[int, ...], ...] = tuple(fn.shapes)
        self.out_shape: tuple[int, ...] = tuple(fn.out_shape)
        self.line: int = fn.line
        self._op_counts = fn.op_counts()
        self._lib = ctypes.CDLL(str(library))
        ins = [_DOUBLE_P if s else ctypes.c_double for s in self.shapes]
        scalar = not self.out_shape
        ret = ctypes.c_double if scalar else None
        value = [] if scalar else [_DOUBLE_P]
        k = len(self.params)
        f, fb, fg, fgb = (getattr(self._lib, c) for c in c_names)
        f.restype, f.argtypes = ret, ins + value
        fg.restype, fg.argtypes = ret, ins + value + [_DOUBLE_P]
        fb.restype, fb.argtypes = None, [ctypes.c_size_t] + [_DOUBLE_P] * (k + 1)
        fgb.restype, fgb.argtypes = None, [ctypes.c_size_t] + [_DOUBLE_P] * (2 * k + 1)
        self._kernels = {"value": (f, fb), "vg": (fg, fgb)}

    def __repr__(self) -> str:
        return f"<chaincc.CFunction {self.name}({', '.join(self.params)}) from {self.library}>"

    def op_counts(self) -> dict[str, int]:
        return dict(self._op_counts)

    def _run(self, which: str, args: tuple, kwargs: dict, reduce: str | None) -> list:
        if reduce not in (None, "sum", "mean"):
            raise ValueError(f"reduce must be None, 'sum' or 'mean', got {reduce!r}")
        values = bind(self.params, self.name, args, kwargs)
        outputs = [self.out_shape]
        if which == "vg":
            outputs += [self.out_shape + s for s in self.shapes]
        sizes = [math.prod(s) for s in outputs]
        one, many = self._kernels[which]
        batch, xs, shared = prepare(values, self.params, self.shapes)
        if batch is None:
            # a scalar value is returned, an array one written; derivatives go to one
            # buffer, parameter after parameter
            bufs = ([] if self.out_shape == () else [np.empty(sizes[0])]) + \
                ([np.empty(sum(sizes[1:]))] if which == "vg" else [])
            r = one(*(_arg(x) for x in xs), *(_ptr(b) for b in bufs))
            flat = np.concatenate([[] if self.out_shape else [r], *bufs])
            return split_outputs(list(flat), outputs)
        n = math.prod(batch)
        # the C batch functions take every input per point
        ins = [(np.full(n, x) if isinstance(x, float) else np.tile(x, n)) if s else x
               for x, s in zip(xs, shared)]
        outs = [np.empty(n * size) for size in sizes]
        many(n, *(_ptr(a) for a in ins + outs))
        if reduce is not None:
            total = [o.reshape(n, -1).sum(axis=0) / (n if reduce == "mean" and n else 1)
                     for o in outs]
            return split_outputs(list(np.concatenate(total)), outputs)
        return [o.reshape(batch + s) for o, s in zip(outs, outputs)]

    def _scalar_only(self) -> None:
        if self.out_shape:
            raise TypeError(f"{self.name} is vector-valued (its value has shape "
                            f"{self.out_shape}), so it has a Jacobian rather than a "
                            f"gradient: use {self.name}.jacobian(...)")

    def __call__(self, *args, reduce: str | None = None, **kwargs):
        return self._run("value", args, kwargs, reduce)[0]

    def value_and_grad(self, *args, reduce: str | None = None, **kwargs):
        self._scalar_only()
        r = self._run("vg", args, kwargs, reduce)
        return r[0], tuple(r[1:])

    def grad(self, *args, reduce: str | None = None, **kwargs) -> tuple:
        return self.value_and_grad(*args, reduce=reduce, **kwargs)[1]

    def jacobian(self, *args, **kwargs) -> tuple:
        """One array per parameter, shaped (output shape + parameter shape)."""
        return tuple(self._run("vg", args, kwargs, None)[1:])


def _ptr(a: np.ndarray):
    return a.ctypes.data_as(_DOUBLE_P)


def _arg(x):
    return x if isinstance(x, float) else _ptr(x)


def compile_c(fn) -> CFunction:
    """Build ``fn`` (a :class:`chaincc.Function`) as C and load it."""
    from .backends.c import function_names, kind_of
    fwd = fn.compiled.forward
    prefix = "chaincc_fn"
    header, source = fn.c_source(prefix)
    lib = build_library(header, source, prefix)
    return CFunction(lib, fn, function_names([(fwd.name, kind_of(fwd))])[0])


def compile_unit_c(unit) -> dict[str, CFunction]:
    """Every function of a :class:`chaincc.api.Unit` as C, built into one library."""
    from . import __version__
    from .backends.c import c_sources, function_names, kind_of
    compiled = unit.compiled
    prefix = "chaincc_unit"
    header, source = c_sources(__version__, unit.source.name,
                               [(c.forward, c.fused) for c in compiled], prefix)
    lib = build_library(header, source, prefix)
    names = function_names([(c.forward.name, kind_of(c.forward)) for c in compiled])
    return {name: CFunction(lib, unit.function(name), c_names)
            for name, c_names in zip(unit.names, names)}
