"""Generated code is linear in the program: every writer's output is bounded by a constant
times the Program's statements (no expression is printed inline more than once), for every
builtin, reduction and array operation, at growing sizes. A writer that printed a chain of
maxima inline doubled its output with every element (a 2.45 GB kernel module for a
25-element logsumexp).

Sizes, not timings, are asserted here; benchmarks/bench_compile_growth.py times them.
"""

from __future__ import annotations

import pytest

import chaincc
from chaincc.backends import llvm
from chaincc.backends.numba_cpu import batch_module_source, scalar_module_source

# Each family at size n: elementwise builtins, reductions, array algebra.
FAMILIES = {
    "logsumexp": "f(v[{n}]) = logsumexp(v)",
    "softmax": "f(v[{n}]) = sum(softmax(v)·v)",
    "max_min": "f(v[{n}]) = max(v) - min(v) + max(v[0], v[1], {rest})",
    "norm_prod": "f(v[{n}]) = norm(v) + prod(v) + mean(v)",
    "dot_matvec": "f(A[{n},3], v[3], w[{n}]) = dot(A @ v, w)",
    "elementwise": ("f(v[{n}]) = sum(sin(v) + cos(v) + tanh(v) + exp(-v^2) + sigmoid(v) "
                    "+ softplus(v) + relu(v) + abs(v) + cbrt(v) + erf(v) + atan(v) "
                    "+ sqrt(v^2 + 1) + log1p(v^2) + hypot(v, 1) + atan2(v, 2) + sign(v) "
                    "+ where(v > 0, v, -v))"),
    "chain": "f(v[{n}]) = sum(where(v > 0, max(v, 0.5·v, sin(v)), min(v, cos(v))))",
}


def _source(template: str, n: int) -> str:
    rest = ", ".join(f"v[{i}]" for i in range(2, n))
    return template.format(n=n, rest=rest)


def _sizes(src: str) -> tuple[int, dict[str, int]]:
    fn = chaincc.compile(src)
    fwd, fused = fn.forward_program, fn.program
    statements = len(fwd.body) + len(fused.body) + sum(p.size for p in fwd.params)
    header, c = fn.c_source()
    sizes = {
        "numba scalar": len(scalar_module_source("0", "t", [(fwd, "f"), (fused, "f_vg")])),
        "numba batch": len(batch_module_source("0", "t", fused, "f_vg",
                                               (False,) * len(fused.params), reduce=True)),
        "c": len(header) + len(c),
        "llvm": len(llvm.module_ir(fused, "f_vg", "points", (False,) * len(fused.params))),
    }
    return statements, sizes


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_code_grows_linearly(family):
    template = FAMILIES[family]
    small_n, big_n = 8, 32
    s_small, small = _sizes(_source(template, small_n))
    s_big, big = _sizes(_source(template, big_n))
    for writer in small:
        # a constant per statement: a few hundred characters covers every printed form
        assert big[writer] <= 600 * s_big + 20_000, (writer, big[writer], s_big)
        # quadrupling the size at most about quadruples the code (plus fixed text)
        growth = (big[writer] - small[writer]) / max(1, s_big - s_small)
        assert growth <= 600, (writer, small[writer], big[writer], s_small, s_big)


def test_kernels_full_of_selections_go_to_llvm():
    """With the Numba backend chosen: Numba's compile time grows faster than linearly in
    branches, so a kernel with many choices between values still runs on the LLVM backend
    (which emits selects), a small one stays on Numba, and both give the same numbers."""
    import numpy as np

    from chaincc import native
    with native.using("numba"):
        big = chaincc.compile(_source(FAMILIES["chain"], 40))
        small = chaincc.compile(_source(FAMILIES["chain"], 3))
        assert big._native("vg") and not small._native("vg")
    v = np.linspace(-1.0, 1.0, 40)
    value, (grad,) = big.value_and_grad(v)
    want = sum(max(x, 0.5 * x, np.sin(x)) if x > 0 else min(x, np.cos(x)) for x in v)
    assert abs(value - want) <= 1e-12 * max(1.0, abs(want))
    assert grad.shape == (40,) and np.all(np.isfinite(grad))
