"""Runs one of chaincc's own elementary functions (``vecmath``) over arrays, in its
scalar version and in a vectorised loop, for tests and benchmarks/accuracy.py."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import cache

import numpy as np

from .. import machine
from . import FUNCTIONS, definitions, symbol, variant_attribute


@cache
def widths() -> tuple[int, ...]:
    """The vector widths this machine's kernels use (``machine.vector_widths``)."""
    return machine.vector_widths()


def _module(name: str, vectorise: bool) -> str:
    fn = FUNCTIONS[name]
    lines, kept, fallback = definitions([name], widths() if vectorise else ())
    lines += [f"declare double @{f}({', '.join(['double'] * FUNCTIONS[f].arity)}) #98"
              for f in sorted(fallback)]
    lines.append("attributes #98 = { nounwind willreturn memory(none) }")
    params = ", ".join(f"double* noalias nocapture readonly %in{j}" for j in range(fn.arity))
    loads, args = [], []
    for j in range(fn.arity):
        loads += [f"  %p{j} = getelementptr inbounds double, double* %in{j}, i64 %i",
                  f"  %v{j} = load double, double* %p{j}, align 8"]
        args.append(f"double %v{j}")
    attr = f' #{99}' if vectorise and kept else ""
    out = [*lines,
           f"define void @run(i64 %n, double* noalias nocapture %out, {params}) nounwind {{",
           "entry:", "  %empty = icmp sle i64 %n, 0", "  br i1 %empty, label %done, label %loop",
           "loop:", "  %i = phi i64 [0, %entry], [%next, %loop]", *loads,
           f"  %r = call double @{symbol(name)}({', '.join(args)}){attr}",
           "  %q = getelementptr inbounds double, double* %out, i64 %i",
           "  store double %r, double* %q, align 8", "  %next = add nsw i64 %i, 1",
           "  %more = icmp slt i64 %next, %n",
           f"  br i1 %more, label %loop, label %done{'' if vectorise else ', !llvm.loop !0'}",
           "done:", "  ret void", "}"]
    if vectorise and kept:
        out.append(f'attributes #99 = {{ "vector-function-abi-variant"='
                   f'"{variant_attribute(name, widths())}" }}')
        out.append(f"@llvm.compiler.used = appending global [{len(kept)} x ptr] "
                   f"[{', '.join('ptr @' + k for k in kept)}], section \"llvm.metadata\"")
    else:
        out += ['!0 = distinct !{!0, !1, !2}', '!1 = !{!"llvm.loop.vectorize.enable", i1 false}',
                '!2 = !{!"llvm.loop.unroll.disable"}']
    return "\n".join(out)


@cache
def _kernel(name: str, vectorise: bool) -> tuple[machine.Loaded, Callable[..., None]]:
    """The loaded loop (kept with its entry point, which lives as long as it does) and
    ``run(n, out, *inputs)``."""
    loaded = machine.Loaded(machine.compile_object(_module(name, vectorise),
                                                   machine.Plan(3, 3, True)))
    prototype = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p,
                                 *[ctypes.c_void_p] * FUNCTIONS[name].arity)
    return loaded, prototype(loaded.address("run"))


def evaluate(name: str, *xs: np.ndarray, vectorise: bool = True) -> np.ndarray:
    """The function at every point of ``xs`` (float64 arrays of one length), through a
    loop LLVM vectorises (``vectorise``) or one it must not."""
    arrays = [np.ascontiguousarray(x, dtype=np.float64) for x in xs]
    out = np.empty(len(arrays[0]))
    _kernel(name, vectorise)[1](len(out), out.ctypes.data, *(a.ctypes.data for a in arrays))
    return out


def assembly(name: str) -> str:
    """The vectorised loop's IR after optimisation (to check it calls the vector
    versions)."""
    return machine.optimised_ir(_module(name, True))
