"""The default maths of the LLVM kernels: chaincc's own elementary functions
(chaincc/backends/vecmath), which LLVM vectorises with the loop over points. A batch, a
reduction and a scalar call give the same bits per point (the vector and scalar versions
are the same operations), huge trigonometric arguments go to libm, and the results stay
within a few ulp of libm's (math="libm")."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chaincc
from chaincc.backends import llvm, machine, vecmath
from chaincc.backends.vecmath import library  # noqa: F401  (vecmath.library)

SOURCE = "f(x, y) = exp(x)·tanh(y) + log1p(x²) + sin(y)·cos(x) + tan(x/4) + log(y² + 1)"
OWN = ("exp", "tanh", "log1p", "sin", "cos", "tan", "log")


def _points(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x, y = rng.uniform(-20, 20, n), rng.uniform(-30, 30, n)
    # every 97th point has a huge argument, which the trigonometric functions hand to libm
    y[::97] = rng.choice([-1, 1], len(y[::97])) * 10.0 ** rng.uniform(14, 300, len(y[::97]))
    x[5], y[6], x[7] = math.inf, -math.inf, math.nan
    return x, y


def test_the_functions_used_here_are_chaincc_s_own() -> None:
    assert set(OWN) <= set(vecmath.FUNCTIONS)


def test_batch_reduction_and_scalar_calls_agree_bitwise() -> None:
    fn = chaincc.compile(SOURCE)
    x, y = _points(10_007, np.random.default_rng(3))
    v, (gx, gy) = fn.value_and_grad(x, y)
    for i in [*range(0, 200), *range(10_007 - 60, 10_007)]:
        sv, (sx, sy) = fn.value_and_grad(float(x[i]), float(y[i]))
        assert np.array_equal([sv, sx, sy], [v[i], gx[i], gy[i]], equal_nan=True), i
    ok = np.isfinite(v) & np.isfinite(gx) & np.isfinite(gy)
    total, (tx, ty) = fn.value_and_grad(x[ok], y[ok], reduce="sum")
    assert math.isclose(total, math.fsum(v[ok]), rel_tol=1e-12)
    assert math.isclose(tx, math.fsum(gx[ok]), rel_tol=1e-12)
    assert math.isclose(ty, math.fsum(gy[ok]), rel_tol=1e-12)


def test_results_are_within_a_few_ulp_of_libm_s() -> None:
    fn = chaincc.compile(SOURCE)
    x, y = _points(10_007, np.random.default_rng(4))
    own = fn(x, y)
    libm = fn.with_math("libm")(x, y)
    both = np.isfinite(libm)
    assert np.array_equal(np.isnan(own), np.isnan(libm))
    assert np.array_equal(own[~both & ~np.isnan(own)], libm[~both & ~np.isnan(libm)])
    # a sum of terms each within 1 ulp: within a few ulp of the largest term
    with np.errstate(over="ignore", invalid="ignore"):
        scale = np.abs(np.exp(x) * np.tanh(y)) + np.log1p(x * x) + 3 + \
            np.log(y * y + 1) + np.abs(np.tan(x / 4))
    err = np.abs(own[both] - libm[both]) / np.spacing(scale[both])
    assert err.max() <= 8, err.max()
    assert (own != libm).any()              # not libm's bits: chaincc's own functions


def test_the_batch_loop_calls_the_vector_versions() -> None:
    fn = chaincc.compile(SOURCE)
    widths = machine.vector_widths()
    ir = llvm.module_ir(fn.program, "f", "points", (False, False), True, (), widths)
    assert "@chaincc_exp(" in ir and "@exp(" not in ir
    optimised = machine.optimised_ir(ir)
    # the guarded functions are called in their vector versions; the others are inlined
    # and vectorised with the loop
    assert any(f"@chaincc_sin_v{w}(" in optimised for w in widths)
    assert f"<{widths[0]} x double>" in optimised or f"<{widths[-1]} x double>" in optimised


@pytest.mark.parametrize("mode", ["points", "sum", "point"])
def test_large_programs_call_the_scalar_versions(mode: str) -> None:
    fn = chaincc.compile(SOURCE)
    shared = None if mode == "point" else (False, False)
    ir = llvm.module_ir(fn.program, "f", mode, shared, False, (), machine.vector_widths())
    assert "@chaincc_exp(" in ir and "_v4(" not in ir and "_v8(" not in ir


def test_math_libm_calls_libm() -> None:
    fn = chaincc.compile(SOURCE)
    ir = llvm.module_ir(fn.program, "f", "points", (False, False), True, (), None)
    assert "@exp(" in ir and "chaincc_" not in ir


# arguments where chaincc's own function and glibc's libm round differently (found by
# searching; each own result is the nearer one or as near)
DIFFER = {"exp": 2.647182064237736, "tanh": 0.9701743429550608, "sin": 2.4429502533413934,
          "log": 1.141952485211641}


@pytest.mark.parametrize("name", sorted(DIFFER))
def test_constants_fold_to_the_kernels_bits(name: str) -> None:
    """A constant is folded with the function the kernels call, so ``name(c)`` written
    as a constant and computed by a kernel give the same bits (docs/language.md)."""
    from chaincc import libm
    c = DIFFER[name]
    assert vecmath.library.functions()[name](c) != libm.call(name, c)
    folded = chaincc.compile(f"f(x) = x + {name}({c!r})")
    computed = chaincc.compile(f"f(x, c) = x + {name}(c)")
    assert folded(0.0) == computed(0.0, c) == computed(np.array([0.0]), c)[0]
    # with math="libm" the kernel calls libm (a constant is still folded as by default)
    assert computed.with_math("libm")(0.0, c) == libm.call(name, c) != folded(0.0)


def test_loops_that_call_elementary_functions_ask_for_wide_vectors() -> None:
    widths = machine.vector_widths()
    calls = chaincc.compile("f(x, y) = exp(x)·tanh(y)").program
    plain = chaincc.compile("f(x, y) = (x² + xy)y³").program
    wide = '"prefer-vector-width"="512"'
    for mode in ("points", "sum"):
        ir = llvm.module_ir(calls, "f", mode, (False, False), True, (), widths)
        assert (wide in ir) == (8 in widths)
        assert wide not in llvm.module_ir(plain, "f", mode, (False, False), True, (), widths)
        assert wide not in llvm.module_ir(calls, "f", mode, (False, False), True, (), None)


def test_tiny_arguments_give_the_function_s_own_bits_quickly() -> None:
    """Below ``tiny`` a function gives x (or 1) without computing on subnormals; the
    results are those of the same functions without that shortcut."""
    import dataclasses
    rng = np.random.default_rng(11)
    x = np.concatenate([np.exp(rng.uniform(-700, -10, 3000)), -np.exp(rng.uniform(-700, -10,
                                                                               3000))])
    x = np.concatenate([x, [0.0, -0.0, 5e-324, -5e-324, 2.0 ** -28, 2.0 ** -54]])
    from chaincc.backends.vecmath import probe
    for name, fn in sorted(vecmath.FUNCTIONS.items()):
        if fn.tiny is None:
            continue
        with_shortcut = probe.evaluate(name, x)
        plain = dataclasses.replace(fn, tiny=None)
        vecmath.FUNCTIONS[name] = plain
        probe._kernel.cache_clear()
        try:
            without = probe.evaluate(name, x)
        finally:
            vecmath.FUNCTIONS[name] = fn
            probe._kernel.cache_clear()
        assert np.array_equal(with_shortcut.view(np.int64), without.view(np.int64)), name
