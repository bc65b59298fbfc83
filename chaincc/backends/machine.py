"""LLVM machine code for chaincc's kernels: IR (``llvm.py``) compiled to an object file,
and object files (from the compiler or the disk cache) loaded and called through ctypes.

Only llvmlite is imported here: a process that runs kernels it finds in the disk cache
needs neither SymPy nor Numba."""

from __future__ import annotations

import contextlib
import ctypes
import sys
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """How to compile a kernel (``llvm.plan`` picks one by program size)."""

    opt: int            # the IR optimisation level
    codegen: int        # the code generator's optimisation level
    inline: bool        # the body inlined into the kernel's loop


_initialised = False
_lock = threading.RLock()


def _llvm():
    global _initialised
    import llvmlite.binding as llvm
    if not _initialised:
        with _compiler_lock():
            if not _initialised:
                llvm.initialize_native_target()
                llvm.initialize_native_asmprinter()
                _initialised = True
    return llvm


def _target_machine(codegen: int):
    llvm = _llvm()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(),
                                        opt=codegen, jit=True)


@contextlib.contextmanager
def _compiler_lock():
    """llvmlite parses into one global LLVM context, which is not safe to use from
    several threads at once: chaincc's own lock, and Numba's too once Numba is loaded
    (its compiler shares the context). A process that only runs cached kernels never
    imports Numba."""
    with _lock:
        if "numba" in sys.modules:
            from numba.core.compiler_lock import global_compiler_lock
            with global_compiler_lock:
                yield
        else:
            yield


def _optimised(ir_text: str, how: Plan):
    """The IR parsed, verified and optimised for this machine (under the compiler lock),
    with the target machine that compiles it."""
    llvm = _llvm()
    mod = llvm.parse_assembly(ir_text)
    mod.verify()
    tm = _target_machine(how.codegen)
    pto = llvm.create_pipeline_tuning_options(speed_level=how.opt)
    if how.opt >= 2:
        pto.loop_vectorization = True
        pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod, tm


def compile_object(ir_text: str, how: Plan = Plan(1, 1, False)) -> bytes:
    """Optimise and compile the IR to an object file for this machine."""
    with _compiler_lock():
        mod, tm = _optimised(ir_text, how)
        return tm.emit_object(mod)


def optimised_ir(ir_text: str, how: Plan = Plan(3, 3, True)) -> str:
    """The IR as ``compile_object`` optimises it (to see what LLVM made of a kernel)."""
    with _compiler_lock():
        return str(_optimised(ir_text, how)[0])


_isas: tuple[str, ...] | None = None


def vector_isas() -> tuple[str, ...]:
    """The x86-64 vector ABIs whose libmvec variants this machine can call (b: SSE4.1,
    d: AVX2, e: AVX-512), with libmvec loaded; () where there is none (another
    architecture, or no glibc libmvec)."""
    global _isas
    if _isas is None:
        import platform
        found: tuple[str, ...] = ()
        if platform.machine().lower() in ("x86_64", "amd64"):
            llvm = _llvm()
            try:
                llvm.load_library_permanently("libmvec.so.1")
            except RuntimeError:
                pass
            else:
                features = llvm.get_host_cpu_features()
                found = tuple(isa for isa, feature in
                              (("b", "sse4.1"), ("d", "avx2"), ("e", "avx512f"))
                              if features.get(feature))
        _isas = found
    return _isas


PROTOTYPES = {
    "point": ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p),
    "points": ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
                               ctypes.c_void_p),
    "sum": ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
                            ctypes.c_void_p),
}


class Loaded:
    """Machine code from ``compile_object`` (or the disk cache), loaded to run.

    Object files read from the disk cache are checked against their hash before they
    get here (``cache.read_object``): LLVM's loader trusts the bytes it is given."""

    def __init__(self, obj: bytes) -> None:
        assert obj, "empty object file"
        llvm = _llvm()
        if b"_ZGV" in obj:                 # math="fast": calls libmvec
            vector_isas()
        with _compiler_lock():
            self._engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""),
                                                      _target_machine(1))
            self._engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
            self._engine.finalize_object()

    def address(self, symbol: str) -> int:
        with _compiler_lock():
            address = self._engine.get_function_address(symbol)
        assert address, f"object file has no symbol {symbol}"
        return address


class Kernel(Loaded):
    """One loaded kernel; calls release the GIL."""

    def __init__(self, obj: bytes, symbol: str, mode: str) -> None:
        super().__init__(obj)
        self.mode = mode
        self.call = PROTOTYPES[mode](self.address(symbol))


def vector_widths() -> tuple[int, ...]:
    """Lanes of the vector versions of chaincc's own elementary functions that kernels
    offer LLVM's loop vectoriser on this machine: the widest vector of doubles it has and
    half that (the vectorised loop's epilogue)."""
    features = _llvm().get_host_cpu_features()
    if features.get("avx512f"):
        return (8, 4)
    if features.get("avx"):
        return (4, 2)
    return (2,)
