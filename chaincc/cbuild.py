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
from .calling import as_float, bind, is_scalar, prepare_batch
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
    both; scalars give floats, arrays broadcast as NumPy does and give arrays.
    """

    def __init__(self, library: Path, name: str, params: Sequence[str],
                 c_names: Sequence[str], op_counts: dict[str, int], line: int = 0) -> None:
        self.library = library
        self.name = name
        self.params = tuple(params)
        self.line = line
        self._op_counts = dict(op_counts)
        self._lib = ctypes.CDLL(str(library))
        k = len(self.params)
        f, fb, fg, fgb = (getattr(self._lib, c) for c in c_names)
        f.restype, f.argtypes = ctypes.c_double, [ctypes.c_double] * k
        fg.restype, fg.argtypes = ctypes.c_double, [ctypes.c_double] * k + [_DOUBLE_P]
        fb.restype, fb.argtypes = None, [ctypes.c_size_t] + [_DOUBLE_P] * (k + 1)
        fgb.restype, fgb.argtypes = None, [ctypes.c_size_t] + [_DOUBLE_P] * (2 * k + 1)
        self._value, self._vg, self._value_batch, self._vg_batch = f, fg, fb, fgb

    def __repr__(self) -> str:
        return f"<chaincc.CFunction {self.name}({', '.join(self.params)}) from {self.library}>"

    def op_counts(self) -> dict[str, int]:
        return dict(self._op_counts)

    def _run(self, grads: bool, args: tuple, kwargs: dict) -> list:
        values = bind(self.params, self.name, args, kwargs)
        k = len(self.params)
        if all(is_scalar(v) for v in values):
            xs = [as_float(v, p) for v, p in zip(values, self.params)]
            if not grads:
                return [float(self._value(*xs))]
            g = (ctypes.c_double * max(k, 1))()
            value = self._vg(*xs, ctypes.cast(g, _DOUBLE_P))
            return [float(value), *(float(g[i]) for i in range(k))]
        shape, xs = prepare_batch(values, self.params)
        n = int(np.prod(shape, dtype=np.int64))
        # the C batch functions take one value per point for every input
        ins = [np.full(n, x) if isinstance(x, float) else x for x in xs]
        outs = [np.empty(n) for _ in range(1 + (k if grads else 0))]
        ptrs = [a.ctypes.data_as(_DOUBLE_P) for a in ins + outs]
        (self._vg_batch if grads else self._value_batch)(n, *ptrs)
        return [o.reshape(shape) for o in outs]

    def __call__(self, *args, **kwargs):
        return self._run(False, args, kwargs)[0]

    def value_and_grad(self, *args, **kwargs):
        r = self._run(True, args, kwargs)
        return r[0], tuple(r[1:])

    def grad(self, *args, **kwargs) -> tuple:
        return self.value_and_grad(*args, **kwargs)[1]


def compile_c(fn) -> CFunction:
    """Build ``fn`` (a :class:`chaincc.Function`) as C and load it."""
    from .backends.c import function_names
    compiled = fn.compiled
    if any(p.shape for p in compiled.forward.params) or compiled.fused is None:
        raise ChainccError(f"compile_c() takes functions of scalar parameters with a scalar "
                           f"value; {fn.name} has arrays (use c_source() instead)")
    prefix = "chaincc_fn"
    header, source = fn.c_source(prefix)
    lib = build_library(header, source, prefix)
    c_names = function_names([compiled.forward.name])[0]
    return CFunction(lib, fn.name, fn.params, c_names, fn.op_counts(), fn.line)
