"""Derivatives with respect to some parameters only (``wrt=``): the others are data.

Oracle: the loss transcribed by hand into SymPy and differentiated with ``sympy.diff``.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import chaincc
from chaincc.calling import ArgumentError, ArgumentTypeError
from chaincc.executor import UnsupportedOperation, require, with_wrt

# a logistic loss with an L2 penalty: w and b are fitted, x and y are data
SRC = """
z = w @ x + b
loss(w[3], b, x[3], y, lam) = softplus(z) - y*z + lam*(w @ w)
"""


def _sympy_loss():
    w = sp.symbols("w0:3")
    b, y, lam = sp.symbols("b y lam")
    x = sp.symbols("x0:3")
    z = sum(wi * xi for wi, xi in zip(w, x)) + b
    f = sp.log(1 + sp.exp(z)) - y * z + lam * sum(wi ** 2 for wi in w)
    return f, w, b, x, y, lam


def _point(rng):
    return dict(w=rng.normal(size=3), b=float(rng.normal()), x=rng.normal(size=3),
                y=float(rng.integers(0, 2)), lam=0.1)


def _subs(args, w, b, x, y, lam):
    s = {b: args["b"], y: args["y"], lam: args["lam"]}
    s.update(zip(w, args["w"]))
    s.update(zip(x, args["x"]))
    return s


@pytest.mark.parametrize("seed", range(3))
def test_gradient_hessian_and_hvp_over_the_fitted_parameters(seed: int) -> None:
    rng = np.random.default_rng(seed)
    args = _point(rng)
    f, w, b, x, y, lam = _sympy_loss()
    at = _subs(args, w, b, x, y, lam)
    wrt_syms = [*w, b]
    grad = [float(sp.diff(f, s).subs(at)) for s in wrt_syms]
    hess = np.array([[float(sp.diff(f, s, t).subs(at)) for t in wrt_syms]
                     for s in wrt_syms])
    fn = chaincc.compile(SRC, wrt=["w", "b"])
    value, (gw, gb) = fn.value_and_grad(**args)
    assert value == pytest.approx(float(f.subs(at)), rel=1e-12)
    assert np.allclose(np.append(gw, gb), grad, rtol=1e-12, atol=1e-14)
    H = fn.hessian(**args)
    assert H.shape == (4, 4)
    assert np.allclose(H, hess, rtol=1e-11, atol=1e-13)
    d = rng.normal(size=4)
    hw, hb = fn.hvp(**args, direction=d)
    assert np.allclose(np.append(hw, hb), hess @ d, rtol=1e-11, atol=1e-13)
    hw2, hb2 = fn.hvp(**args, direction=(d[:3], d[3]))     # one entry per parameter
    assert np.allclose(np.append(hw2, hb2), hess @ d)


def test_the_order_of_wrt_is_the_order_of_the_results() -> None:
    args = _point(np.random.default_rng(7))
    full = chaincc.compile(SRC)
    g = dict(zip(full.params, full.grad(**args)))
    gb, glam, gw = full.grad(**args, wrt=["b", "lam", "w"])
    assert gb == g["b"] and glam == g["lam"] and np.array_equal(gw, g["w"])
    # a single name, and every parameter in order (the unspecialised kernels)
    assert full.grad(**args, wrt="lam") == (g["lam"],)
    assert all(np.array_equal(a, b) for a, b in
               zip(full.grad(**args, wrt=list(full.params)), full.grad(**args)))
    # a per-call wrt overrides the function's own
    fn = chaincc.compile(SRC, wrt=["w"])
    assert fn.grad(**args, wrt=["y"]) == (g["y"],)


def test_specialised_kernels_run_fewer_operations() -> None:
    from pathlib import Path
    src = Path(__file__).resolve().parent.parent / "samples" / "mlp.txt"
    full = chaincc.compile(src)
    fitted = chaincc.compile(src, wrt=["W1", "b1", "W2", "b2"])
    assert fitted.op_counts()["forward"] == full.op_counts()["forward"]
    assert fitted.op_counts()["value_and_grad"] < full.op_counts()["value_and_grad"]
    rng = np.random.default_rng(1)
    args = dict(W1=rng.normal(size=(5, 10)), b1=rng.normal(size=5),
                W2=rng.normal(size=(2, 5)), b2=rng.normal(size=2), x=rng.normal(size=10),
                y=rng.normal(size=2))
    v0, g0 = full.value_and_grad(**args)
    v, g = fitted.value_and_grad(**args)
    assert v == v0 and len(g) == 4
    assert all(np.array_equal(a, b) for a, b in zip(g, g0[:4]))


def test_hessian_and_hvp_of_the_batch_mean() -> None:
    rng = np.random.default_rng(3)
    fn = chaincc.compile(SRC, wrt=["w", "b"])
    w, b = rng.normal(size=3), 0.3
    X, Y = rng.normal(size=(50, 3)), rng.integers(0, 2, size=50).astype(float)
    per = [fn.hessian(w, b, X[i], Y[i], 0.1) for i in range(50)]
    assert np.allclose(fn.hessian(w, b, X, Y, 0.1, reduce="mean"), np.mean(per, axis=0),
                       rtol=1e-12, atol=1e-14)
    assert np.allclose(fn.hessian(w, b, X, Y, 0.1, reduce="sum"), np.sum(per, axis=0),
                       rtol=1e-12, atol=1e-13)
    d = rng.normal(size=4)
    hw, hb = fn.hvp(w, b, X, Y, 0.1, direction=d, reduce="mean")
    assert np.allclose(np.append(hw, hb), np.mean(per, axis=0) @ d, rtol=1e-11)
    # the gradient of the mean, too
    gw, gb = fn.grad(w, b, X, Y, 0.1, reduce="mean")
    each = [fn.grad(w, b, X[i], Y[i], 0.1) for i in range(50)]
    assert np.allclose(gw, np.mean([e[0] for e in each], axis=0))


def test_jacobian_and_vjp_over_some_parameters() -> None:
    src = "f(a, b[2], c) = [a*b[0], sin(b[1])*c, a*c]"
    a, b, c = sp.symbols("a b0:2 c")[0], sp.symbols("b0:2"), sp.Symbol("c")
    exprs = [a * b[0], sp.sin(b[1]) * c, a * c]
    at = {a: 0.5, b[0]: -1.25, b[1]: 0.75, c: 2.0}
    fn = chaincc.compile(src)
    jc, jb = fn.jacobian(0.5, [-1.25, 0.75], 2.0, wrt=["c", "b"])
    assert np.allclose(jc, [float(sp.diff(e, c).subs(at)) for e in exprs])
    assert np.allclose(jb, [[float(sp.diff(e, s).subs(at)) for s in b] for e in exprs])
    cot = np.array([1.0, -2.0, 0.5])
    vc, = fn.vjp(0.5, [-1.25, 0.75], 2.0, cotangent=cot, wrt=["c"])
    assert vc == pytest.approx(cot @ jc)


@pytest.mark.parametrize("wrt, error, text", [
    (["v"], ArgumentError, "loss has no parameter 'v' (wrt=); its parameters are w, b"),
    ([], ArgumentError, "wrt names no parameter"),
    (["w", "w"], ArgumentError, "wrt names 'w' twice"),
    ([1], ArgumentTypeError, "wrt must name parameters as str"),
    (3, ArgumentTypeError, "wrt must be a parameter name or a list of them"),
])
def test_a_wrong_wrt_is_refused(wrt, error, text) -> None:
    with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")):
        chaincc.compile(SRC, wrt=wrt)
    fn = chaincc.compile(SRC)
    with pytest.raises(error):
        fn.grad(**_point(np.random.default_rng(0)), wrt=wrt)


def test_targets_that_do_not_specialise_say_so() -> None:
    class Gpu:
        target = "cuda"
        kinds = frozenset({"value", "vg"})

    require(Gpu(), "vg", "grad", "f")
    with pytest.raises(UnsupportedOperation, match="wrt=.*only run on the CPU"):
        require(Gpu(), with_wrt("vg", (1,)), "grad", "f")
    cfn = chaincc.compile("f(x, y) = x*y").compile_c()
    assert cfn.grad(2.0, 3.0) == (3.0, 2.0)
    with pytest.raises(UnsupportedOperation, match="target='c'"):
        cfn.grad(2.0, 3.0, wrt=["x"])
