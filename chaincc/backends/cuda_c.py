"""CUDA C backend: ``chaincc compile --emit cuda`` writes ``NAME.cu``, the C backend's
functions as CUDA, with the C output's names and signatures (``extern "C"``)::

    __device__ double f(double x, double y);
    __device__ double f_value_and_grad(double x, double y, double *grad);
    __global__ void f_batch(size_t n, const double *x, const double *y, double *value);
    __global__ void f_value_and_grad_batch(size_t n, const double *x, const double *y,
                                           double *value, double *grad_x, double *grad_y);

Pointers are device pointers. A batch kernel runs a grid-stride loop, so any launch
(``f_batch<<<blocks, threads>>>(n, ...)``) covers all n points, one thread per point at a
time. Everything but the qualifiers, the loop and the names CUDA itself takes comes
from ``c.py``: its printer, naming and statement lists.

A function whose loops keep a tape needs scratch memory per point. Its batch functions
are then host functions with the C signatures, returning a ``cudaError_t``::

    cudaError_t f_value_and_grad_batch(size_t n, const double *x, ..., double *grad_x);

Each allocates one scratch block per thread of the grid it launches (sized to fit in
half the free device memory, not one per point), launches the grid-stride kernel,
which gives thread k the k-th block for all its points, waits for it and frees the
memory. Where no scratch memory can be had, every output is NaN and the call returns
``cudaErrorMemoryAllocation``. The ``__device__`` functions take theirs from the device
heap (``malloc``), per call, with NaN outputs where it is exhausted.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import Program
from .c import (
    INDENT,
    RESTRICT,
    SCRATCH_CALLS,
    FunctionWriter,
    _decl,
    comment_text,
    function_names,
    kind_of,
    local_names,
    needs_scratch,
)
from .c_loops import SCRATCH, nan_fill, scratch_size
from .c_names import FILE_SCOPE_RESERVED, MACRO_PREFIX, RESERVED

_VECTOR_TYPES = [f"{t}{k}" for t in ("char", "uchar", "short", "ushort", "int", "uint", "long",
                                     "ulong", "longlong", "ulonglong", "float", "double")
                 for k in (1, 2, 3, 4)]
# what a kernel reads (a parameter of that name would hide it)
_BUILTINS = frozenset("threadIdx blockIdx blockDim gridDim warpSize".split())
# CUDA's own device functions and types, declared in every .cu by nvcc's headers
_CUDA_NAMES = frozenset("""
rcbrt rhypot rnorm rnorm3d rnorm4d norm norm3d norm4d normcdf normcdfinv erfinv erfcinv erfcx
sincospi cyl_bessel_i0 cyl_bessel_i1 saturate fdivide min max umin umax llmin llmax ullmin
ullmax dim3 texture surface atomicAdd atomicSub atomicExch atomicMin atomicMax atomicInc
atomicDec atomicCAS atomicAnd atomicOr atomicXor clock64 cudaError_t cudaStream_t
cudaEvent_t cudaMalloc cudaFree cudaMemcpy cudaDeviceSynchronize half half2
""".split()) | frozenset(_VECTOR_TYPES) | frozenset(f"make_{t}" for t in _VECTOR_TYPES)
CUDA_RESERVED = RESERVED | _BUILTINS
CUDA_FILE_SCOPE_RESERVED = FILE_SCOPE_RESERVED | _BUILTINS | _CUDA_NAMES \
    | frozenset(n + "f" for n in _CUDA_NAMES)

GRID_STRIDE = ["const ptrdiff_t _stride = (ptrdiff_t)blockDim.x * gridDim.x;",
               "for (ptrdiff_t _i = (ptrdiff_t)blockIdx.x * blockDim.x + threadIdx.x; _i < _n;"
               " _i += _stride) {"]
# what the host functions of a function with scratch memory call: no parameter may hide it
HOST_CALLS = frozenset("""
cudaMalloc cudaFree cudaMemGetInfo cudaGetLastError cudaDeviceSynchronize cudaError_t
cudaSuccess cudaErrorMemoryAllocation
""".split()) | SCRATCH_CALLS
# threads per block of the host functions' launches, and their most blocks
THREADS = 128
MAX_BLOCKS = 65535
KERNEL = MACRO_PREFIX + "kernel_"      # the kernels behind host functions: no user name


class CudaWriter(FunctionWriter):
    """The C writer with ``__device__``/``__global__`` definitions and a grid-stride loop
    in place of the OpenMP loop; where the function needs scratch memory, its batch
    functions are host functions launching kernels (see the module's docstring)."""

    def __init__(self, fwd: Program, fused: Program | None, names, **kw) -> None:
        super().__init__(fwd, fused, names, **kw)
        self.hosted = needs_scratch(fwd, fused)

    def prototypes(self, restrict: str = "") -> list[str]:
        kernels = {self.n.functions[1], self.n.functions[3]}
        out = []
        for decl in super().prototypes(restrict):
            head, params = " ".join(decl.split()).split("(", 1)
            ret, name = head.rsplit(" ", 1)
            if name in kernels and self.hosted:
                head = "cudaError_t"
            else:
                head = f"{'__global__' if name in kernels else '__device__'} {ret}"
            out.append(_decl(head, name, params[:-2].split(", ")))
        return out

    def _grid_stride(self, lines: list[str]) -> list[str]:
        start = lines.index("#ifdef _OPENMP")
        loop = next(i for i in range(start, len(lines)) if lines[i].lstrip().startswith("for "))
        indent = lines[loop][:len(lines[loop]) - len(lines[loop].lstrip())]
        return lines[:start] + [indent + line for line in GRID_STRIDE] + lines[loop + 1:]

    def _batch_body(self, prog: Program, derivs: bool) -> list[str]:
        return self._grid_stride(super()._batch_body(prog, derivs))

    def _batch_looped(self, prog: Program, derivs: bool) -> list[str]:
        if not prog.buffers:
            return self._grid_stride(super()._batch_looped(prog, derivs))
        i1, i2 = INDENT, INDENT * 2
        head, point, outs = self._point_parts(prog, derivs, i2)
        size = max(1, scratch_size(prog))
        return [*head, f"{i1}const ptrdiff_t _n = (ptrdiff_t){self.n.count};",
                f"{i1}const ptrdiff_t _thread = (ptrdiff_t)blockIdx.x * blockDim.x + "
                f"threadIdx.x;",
                f"{i1}double *const {SCRATCH} = _scratch_all == NULL ? NULL : "
                f"_scratch_all + _thread * {size};",
                f"{i1}const ptrdiff_t _stride = (ptrdiff_t)blockDim.x * gridDim.x;",
                f"{i1}for (ptrdiff_t _i = _thread; _i < _n; _i += _stride) {{",
                f"{i2}if ({SCRATCH} == NULL) {{  /* no scratch memory: NaN */",
                *(line for a, n in outs for line in nan_fill(a, n, i2 + INDENT)),
                f"{i2}{INDENT}continue;",
                f"{i2}}}",
                *point,
                f"{i1}}}"]

    def _host(self, prog: Program, derivs: bool) -> list[str]:
        """The host function: scratch memory for the grid, the launch, the wait."""
        name = self.n.functions[3 if derivs else 1]
        args = [self.n.count, *self.n.params, self.n.value,
                *(self.n.derivs if derivs else ())]
        size = scratch_size(prog)
        i1, i2 = INDENT, INDENT * 2
        lines = [f"{i1}if ({self.n.count} == 0) {{", f"{i2}return cudaSuccess;", f"{i1}}}",
                 f"{i1}size_t _threads = {THREADS};",
                 f"{i1}size_t _blocks = ({self.n.count} + _threads - 1) / _threads;",
                 f"{i1}if (_blocks > {MAX_BLOCKS}) {{", f"{i2}_blocks = {MAX_BLOCKS};", f"{i1}}}"]
        if prog.buffers:
            # fewer blocks, then fewer threads, until the grid's scratch memory fits
            fewer = [f"{i2}if (_blocks > 1) {{", f"{i2}{INDENT}_blocks /= 2;",
                     f"{i2}}} else {{", f"{i2}{INDENT}_threads /= 2;", f"{i2}}}"]
            args.append("_scratch_all")
            lines += [
                f"{i1}/* one scratch block per thread, in at most half the free memory */",
                f"{i1}const size_t _each = {max(1, size)} * sizeof(double);",
                f"{i1}size_t _free = 0, _total = 0;",
                f"{i1}if (cudaMemGetInfo(&_free, &_total) == cudaSuccess) {{",
                f"{i1}{INDENT}while (_blocks * _threads > 1 && "
                f"_blocks * _threads * _each > _free / 2) {{",
                *(INDENT + line for line in fewer),
                f"{i2}}}",
                f"{i1}}}",
                f"{i1}double *_scratch_all = NULL;",
                f"{i1}while (cudaMalloc((void **)&_scratch_all, _blocks * _threads * _each) "
                f"!= cudaSuccess) {{",
                f"{i2}_scratch_all = NULL;",
                f"{i2}if (_blocks * _threads == 1) {{", f"{i2}{INDENT}break;", f"{i2}}}",
                *fewer,
                f"{i1}}}",
                f"{i1}(void)cudaGetLastError();  /* a failed allocation is not the launch's */"]
        lines += [*_call(f"{i1}{KERNEL}{name}<<<(unsigned)_blocks, (unsigned)_threads>>>",
                         args, i2),
                  f"{i1}cudaError_t _err = cudaGetLastError();",
                  f"{i1}if (_err == cudaSuccess) {{", f"{i2}_err = cudaDeviceSynchronize();",
                  f"{i1}}}"]
        if prog.buffers:
            lines += [f"{i1}if (_scratch_all != NULL) {{", f"{i2}(void)cudaFree(_scratch_all);",
                      f"{i1}}} else if (_err == cudaSuccess) {{",
                      f"{i2}_err = cudaErrorMemoryAllocation;", f"{i1}}}"]
        return [*lines, f"{i1}return _err;"]

    def definitions(self) -> list[str]:
        if not self.hosted:
            return super().definitions()
        protos = self.prototypes(RESTRICT + " ")
        parts = [(protos[0], self._scalar_body(self.fwd, False))]
        batches = [(self.fwd, False)]
        if self.fused is not None:
            parts.append((protos[1], self._scalar_body(self.fused, True)))
            batches.append((self.fused, True))
        out = []
        for proto, body in parts:
            out += ["", proto[:-1], "{", *body, "}"]
        for (prog, derivs), proto in zip(batches, protos[len(parts):]):
            params = self._batch(RESTRICT + " ", derivs)
            if prog.buffers:
                params.append(f"double *{RESTRICT} _scratch_all")
            name = KERNEL + self.n.functions[3 if derivs else 1]
            out += ["", _decl("__global__ void", name, params)[:-1], "{",
                    *self._batch_loop(prog, derivs), "}",
                    "", proto[:-1], "{", *self._host(prog, derivs), "}"]
        return out


def _call(head: str, args: list[str], indent: str) -> list[str]:
    """``head(args);``, the arguments on lines of their own (at ``indent``) where it is
    long."""
    text = f"{head}({', '.join(args)});"
    if len(text) <= 100:
        return [text]
    lines, line = [head + "("], indent
    for k, a in enumerate(args):
        piece = a + (");" if k == len(args) - 1 else ",")
        if line.strip() and len(line) + len(piece) + 1 > 100:
            lines.append(line.rstrip())
            line = indent
        line += piece + " "
    return [*lines, line.rstrip()]


def cuda_source(version: str, file: str,
                functions: Sequence[tuple[Program, Program | None]]) -> str:
    """The text of ``NAME.cu`` for every function of a source."""
    kinds = [kind_of(fwd) for fwd, _ in functions]
    all_names = function_names([(fwd.name, k) for (fwd, _), k in zip(functions, kinds)],
                               CUDA_FILE_SCOPE_RESERVED)
    writers = [CudaWriter(fwd, vg, local_names(fwd, fn, k, CUDA_RESERVED | HOST_CALLS
                                               if needs_scratch(fwd, vg) else CUDA_RESERVED))
               for (fwd, vg), fn, k in zip(functions, all_names, kinds)]
    lines = [f"/* generated by chaincc {version} from {comment_text(file)}; do not edit */",
             "/* CUDA C++ for nvcc. Pointers are device pointers; each __global__ batch kernel",
             " * loops over its points with a grid stride, so any launch configuration covers",
             " * all n of them: f_batch<<<blocks, threads>>>(n, ...). */"]
    if any(w.hosted for w in writers):
        lines += ["/* A function whose loops need scratch memory has host batch functions instead",
                  " * (same arguments, returning a cudaError_t): each allocates the memory per",
                  " * thread of the grid it launches, waits for the grid and frees it. */"]
    lines += ["#include <math.h>", "#include <stddef.h>", "",
             f"#ifndef {RESTRICT}", f"#define {RESTRICT} __restrict__", "#endif", "",
             'extern "C" {']
    for w in writers:
        lines += ["", *w.summary(file), *w.definitions()]
    lines += ["", '}  /* extern "C" */']
    return "\n".join(lines) + "\n"
