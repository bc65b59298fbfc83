"""Building the generated C with the system compiler and calling it through ctypes.

``Function.compile_c()`` lands here: the shared library is cached under
``cache_dir()/c/KEY`` (KEY hashes the C text, the compiler and its flags), so a second
build of the same function costs one ``dlopen``.
"""

from __future__ import annotations

import ctypes
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
from .calling import Call
from .diagnostics import ChainccError
from .frontend import Frontend
from .version import __version__

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


class CExecutor:
    """Runs the C functions of one compiled function (loaded from ``library``; their
    names ``c_names``: value, value batch, value and gradient, its batch) through
    ctypes. The C batch functions take every input per point, so shared inputs are
    repeated; sums over a batch add the per-point results in float64."""

    target = "c"
    dtype = np.dtype(np.float64)
    kinds = frozenset({"value", "vg"})

    def __init__(self, library: Path, c_names: Sequence[str],
                 shapes: Sequence[tuple[int, ...]], out_shape: tuple[int, ...]) -> None:
        self._lib = ctypes.CDLL(str(library))
        ins = [_DOUBLE_P if s else ctypes.c_double for s in shapes]
        self._scalar = not out_shape
        ret = ctypes.c_double if self._scalar else None
        value = [] if self._scalar else [_DOUBLE_P]
        k = len(shapes)
        f, fb, fg, fgb = (getattr(self._lib, c) for c in c_names)
        f.restype, f.argtypes = ret, ins + value
        fg.restype, fg.argtypes = ret, ins + value + [_DOUBLE_P]
        fb.restype, fb.argtypes = None, [ctypes.c_size_t] + [_DOUBLE_P] * (k + 1)
        fgb.restype, fgb.argtypes = None, [ctypes.c_size_t] + [_DOUBLE_P] * (2 * k + 1)
        self._kernels = {"value": (f, fb), "vg": (fg, fgb)}

    @staticmethod
    def device_view(value: object) -> None:
        return None

    def point(self, kind: str, call: Call) -> np.ndarray:
        # a scalar value is returned, an array one written; derivatives go to one
        # buffer, parameter after parameter
        sizes = call.sizes
        bufs = ([] if self._scalar else [np.empty(sizes[0])]) + \
            ([np.empty(sum(sizes[1:]))] if kind == "vg" else [])
        r = self._kernels[kind][0](*(_arg(x) for x in call.args), *(_ptr(b) for b in bufs))
        return np.concatenate([[r] if self._scalar else [], *bufs])

    def points(self, kind: str, call: Call, targets: list) -> list:
        n = call.n
        ins = [(np.full(n, x) if isinstance(x, float) else np.tile(x, n)) if s else x
               for x, s in zip(call.args, call.shared)]
        outs = [np.empty(n * size) if t is None else t for t, size in zip(targets, call.sizes)]
        self._kernels[kind][1](n, *(_ptr(a) for a in ins + outs))
        return outs

    def sum(self, kind: str, call: Call) -> np.ndarray:
        outs = self.points(kind, call, [None] * len(call.sizes))
        return np.concatenate([o.reshape(call.n, -1).sum(axis=0) for o in outs])


class CFunction(Frontend):
    """A function compiled to C and loaded with ctypes, called like :class:`Function`
    (the same calling convention, ``frontend.py``).

    ``fn(*args, **kwargs)`` is the value, ``fn.grad`` the gradient, ``fn.value_and_grad``
    both, ``fn.jacobian`` for an array value; scalars give floats, and arguments with
    leading batch dimensions broadcast as NumPy does and give arrays (``reduce="sum"`` or
    ``"mean"`` sums them over the batch; ``out=`` takes arrays to write into). The C has
    no vjp, hessian or hvp.
    """

    target = "c"

    def __init__(self, library: Path, fn, c_names: Sequence[str]) -> None:
        self.library = library
        self.name: str = fn.name
        self.params: tuple[str, ...] = tuple(fn.params)
        self.shapes: tuple[tuple[int, ...], ...] = tuple(fn.shapes)
        self.out_shape: tuple[int, ...] = tuple(fn.out_shape)
        self.line: int = fn.line
        self._op_counts = fn.op_counts()
        self._executor = CExecutor(library, c_names, self.shapes, self.out_shape)

    def __repr__(self) -> str:
        return f"<chaincc.CFunction {self.name}({', '.join(self.params)}) from {self.library}>"

    def op_counts(self) -> dict[str, int]:
        return dict(self._op_counts)


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
    from .backends.c import c_sources, function_names, kind_of
    compiled = unit.compiled
    prefix = "chaincc_unit"
    header, source = c_sources(__version__, unit.source.name,
                               [(c.forward, c.fused) for c in compiled], prefix)
    lib = build_library(header, source, prefix)
    names = function_names([(c.forward.name, kind_of(c.forward)) for c in compiled])
    return {name: CFunction(lib, unit.function(name), c_names)
            for name, c_names in zip(unit.names, names)}
