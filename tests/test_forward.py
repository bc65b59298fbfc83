"""Forward mode: ``fn.jvp`` and ``fn.jacobian(mode="forward"|"auto")``.

Oracles: the reference interpreter's directional derivative (its own dual numbers, no
code shared with the compiler), a SymPy transcription differentiated with ``sympy.diff``,
and the reverse-mode Jacobian.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import chaincc
from chaincc import reference
from chaincc.calling import ArgumentError
from chaincc.executor import UnsupportedOperation

SOURCES = [
    "f(x, y) = (x^2 + x*y)*y^3",
    "f(x, y[2]) = [x*y[0], sin(x)*y[1], where(x > 0, sqrt(x), y[0]^2)]",
    "f(a, b) = max(a, b^2) + min(sin(a), b)*relu(a - b)",
    "f(v[3]) = softmax(v)",
    "f(v[3], w[3]) = logsumexp(v*w) + sigmoid(dot(v, w))",
    "g(t) = tanh(2t)\nf(x, y) = [g(x), g(y), g(x*y), x/y]",
    "f(W[2,2], x[2]) = tanh(W @ x)",
]


def _args(fn, rng):
    return [rng.normal(size=s) if s else float(rng.normal()) for s in fn.shapes]


@pytest.mark.parametrize("src", SOURCES)
def test_jvp_is_the_reference_directional_derivative(src: str) -> None:
    rng = np.random.default_rng(abs(hash(src)) % 1000)
    fn = chaincc.compile(src)
    for _ in range(3):
        args = _args(fn, rng)
        tans = _args(fn, rng)
        value, tangent = fn.jvp(*args, tans)
        ref_value, ref = reference.directional(src, args, tans)
        want = sum(np.asarray(ref[p], dtype=float) for p in fn.params)
        assert np.allclose(value, ref_value, rtol=1e-12, atol=1e-14)
        assert np.allclose(tangent, want, rtol=1e-11, atol=1e-13), (tangent, want)


@pytest.mark.parametrize("src", SOURCES)
def test_forward_and_reverse_jacobians_agree(src: str) -> None:
    rng = np.random.default_rng(5)
    fn = chaincc.compile(src)
    args = _args(fn, rng)
    rev = fn.jacobian(*args)
    for mode in ("forward", "auto"):
        fwd = fn.jacobian(*args, mode=mode)
        assert len(fwd) == len(rev)
        for a, b in zip(fwd, rev):
            assert np.shape(a) == np.shape(b)
            assert np.allclose(a, b, rtol=1e-12, atol=1e-14)


def test_against_sympy_by_hand() -> None:
    x, y = sp.symbols("x y")
    outs = [sp.sin(x) * y, x ** 2 / y, sp.exp(x - y)]
    fn = chaincc.compile("f(x, y) = [sin(x)*y, x^2/y, exp(x - y)]")
    at = {x: 0.3, y: -1.7}
    tx, ty = 0.25, -2.0
    want = [float((sp.diff(o, x) * tx + sp.diff(o, y) * ty).subs(at)) for o in outs]
    value, tangent = fn.jvp(0.3, -1.7, tangents=[tx, ty])
    assert np.allclose(value, [float(o.subs(at)) for o in outs], rtol=1e-14)
    assert np.allclose(tangent, want, rtol=1e-13)
    jx, jy = fn.jacobian(0.3, -1.7, mode="forward")
    assert np.allclose(jx, [float(sp.diff(o, x).subs(at)) for o in outs], rtol=1e-13)
    assert np.allclose(jy, [float(sp.diff(o, y).subs(at)) for o in outs], rtol=1e-13)


def test_where_selects_the_tangent_of_the_branch_it_picked() -> None:
    fn = chaincc.compile("f(x) = where(x > 0, 2sqrt(x), x)")
    assert fn.jvp(0.0, 1.0) == (0.0, 1.0)           # sqrt'(0) = inf is not picked
    assert fn.jvp(-1.0, 1.0) == (-1.0, 1.0)         # nor sqrt(-1) = nan
    assert fn.jvp(4.0, 1.0) == (4.0, 0.5)


def test_jvp_over_some_parameters_and_batches() -> None:
    src = "f(W[2,2], x[2]) = tanh(W @ x)"
    fn = chaincc.compile(src)
    rng = np.random.default_rng(2)
    W, x, dW = rng.normal(size=(2, 2)), rng.normal(size=2), rng.normal(size=(2, 2))
    v1, t1 = fn.jvp(W, x, tangents=[dW], wrt=["W"])
    v2, t2 = fn.jvp(W, x, tangents=[dW, np.zeros(2)])
    assert np.array_equal(v1, v2) and np.allclose(t1, t2, rtol=1e-14)
    X = rng.normal(size=(7, 2))
    vb, tb = fn.jvp(W, X, tangents=dW.reshape(-1), wrt="W")     # a flat direction
    assert tb.shape == (7, 2)
    for i in range(7):
        assert np.allclose(tb[i], fn.jvp(W, X[i], tangents=[dW], wrt=["W"])[1])
    jW, = fn.jacobian(W, x, wrt=["W"], mode="forward")
    assert jW.shape == (2, 2, 2)
    assert np.allclose(np.tensordot(jW, dW, axes=2), t1)


def test_auto_picks_forward_where_outputs_outnumber_inputs() -> None:
    wide = chaincc.compile("f(x) = [x, x^2, x^3, sin(x)]")
    assert wide._wrt_kind("jacfwd", None) == "jacfwd"
    rev = wide.jacobian(0.5)
    assert np.allclose(wide.jacobian(0.5, mode="auto")[0], rev[0])
    assert "jacfwd" in wide._cpu._derived          # the forward program was made
    narrow = chaincc.compile("f(x, y, z) = [x*y*z]")
    narrow.jacobian(1.0, 2.0, 3.0, mode="auto")
    assert "jacfwd" not in narrow._cpu._derived


def test_the_tangent_sweep_shares_the_forward_values() -> None:
    from chaincc import forward
    fn = chaincc.compile("f(x, y) = exp(sin(x*y)) + exp(sin(x*y))^2")
    prog = forward.jvp(fn.forward_program)
    exps = [a for a in prog.body if isinstance(a.expr, sp.exp)]
    sins = [a for a in prog.body if isinstance(a.expr, sp.sin)]
    assert len(exps) == 1 and len(sins) == 1         # computed once, for both sweeps


def test_wrong_calls_are_refused() -> None:
    fn = chaincc.compile("f(x, y) = x*y")
    with pytest.raises(ArgumentError, match="mode must be"):
        fn.jacobian(1.0, 2.0, mode="sideways")
    with pytest.raises(ArgumentError, match="tangents must have one entry"):
        fn.jvp(1.0, 2.0, tangents=[1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="jvp needs the tangents"):
        fn.jvp()
    cfn = fn.compile_c()
    with pytest.raises(UnsupportedOperation, match="jvp"):
        cfn.jvp(1.0, 2.0, tangents=[1.0, 0.0])
