"""``fn.scipy(...)``: a compiled function as an objective for ``scipy.optimize.minimize``.

Oracles: the logistic loss, its gradient and its Hessian written by hand in NumPy below;
SciPy's own finite differences (``check_grad``, ``approx_fprime``); a Newton iteration
on the hand-written derivatives for the logistic optimum; the closed-form minimum of the
extended Rosenbrock function (Moré, Garbow and Hillstrom's problem 21).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize

import chaincc
from chaincc.calling import ArgumentError, ArgumentTypeError
from chaincc.scipy import Objective

ROOT = Path(__file__).resolve().parent.parent


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


logistic = _example("fit_logistic")
rosenbrock = _example("fit_rosenbrock")

D = 4          # features
LAM = 0.05


# -- the oracle: the logistic loss by hand ----------------------------------------------------
def _oracle(x: np.ndarray, X: np.ndarray, y: np.ndarray, lam: float, reduce: str = "mean"):
    """(loss, gradient, Hessian) over (w, b) of the mean (or summed) penalised loss."""
    w, b = x[:-1], x[-1]
    z = X @ w + b
    p = 1 / (1 + np.exp(-z))
    n = len(y) if reduce == "mean" else 1
    k = 1 if reduce == "mean" else len(y)
    loss = np.sum(np.logaddexp(0, z) - y * z) / n + k * lam / 2 * (w @ w)
    A = np.hstack([X, np.ones((len(y), 1))])
    grad = A.T @ (p - y) / n + k * lam * np.append(w, 0)
    hess = (A * (p * (1 - p))[:, None]).T @ A / n + k * lam * np.diag(np.append(np.ones_like(w), 0))
    return loss, grad, hess


def _newton(X: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    x = np.zeros(X.shape[1] + 1)
    for _ in range(50):
        _, g, H = _oracle(x, X, y, lam)
        step = np.linalg.solve(H, g)
        x -= step
        if np.max(np.abs(step)) < 1e-14:
            break
    return x


@pytest.fixture(scope="module")
def fn() -> chaincc.Function:
    return chaincc.compile(logistic.source(D))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    X, y, _, _ = logistic.make_data(500, D, seed=1)
    return X, y


def _objective(fn, data, reduce="mean") -> Objective:
    X, y = data
    return fn.scipy(np.zeros(D), 0.0, X, y, LAM, wrt=["w", "b"], reduce=reduce)


# -- values and derivatives against the hand-written oracle ----------------------------------
@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_value_gradient_hessian_and_hvp_match_the_hand_written_loss(fn, data, reduce) -> None:
    X, y = data
    obj = _objective(fn, data, reduce)
    rng = np.random.default_rng(4)
    for _ in range(3):
        x = rng.normal(size=D + 1)
        loss, grad, hess = _oracle(x, X, y, LAM, reduce)
        f, g = obj.fun(x)
        assert f == pytest.approx(loss, rel=1e-12)
        assert np.allclose(g, grad, rtol=1e-11, atol=1e-13)
        assert obj.value(x + 0.5) == pytest.approx(_oracle(x + 0.5, X, y, LAM, reduce)[0],
                                                   rel=1e-12)
        assert np.allclose(obj.jac(x), grad, rtol=1e-11, atol=1e-13)
        assert obj.hess(x).shape == (D + 1, D + 1)
        assert np.allclose(obj.hess(x), hess, rtol=1e-11, atol=1e-13)
        p = rng.normal(size=D + 1)
        assert np.allclose(obj.hessp(x, p), hess @ p, rtol=1e-11, atol=1e-13)


def test_derivatives_agree_with_scipys_finite_differences(fn, data) -> None:
    obj = _objective(fn, data)
    x = np.random.default_rng(5).normal(size=D + 1)
    err = scipy.optimize.check_grad(obj.value, obj.jac, x)
    assert err < 1e-6 * max(1.0, np.linalg.norm(obj.jac(x)))
    fd = scipy.optimize.approx_fprime(x, obj.jac, 1e-6)
    assert np.allclose(obj.hess(x), fd, rtol=1e-5, atol=1e-6)
    assert np.allclose(obj.hessp(x, np.eye(D + 1)[2]), fd[:, 2], rtol=1e-5, atol=1e-6)


def test_the_starting_point_and_the_data_come_from_the_arguments(fn, data) -> None:
    X, y = data
    w0, b0 = np.arange(D) / 10, -0.25
    obj = fn.scipy(w=w0, b=b0, x=X, y=y.astype(bool), lam=LAM, wrt=["w", "b"],
                   reduce="mean")
    assert obj.x0.dtype == np.float64
    assert np.array_equal(obj.x0, np.append(w0, b0))
    obj.x0[0] = 99.0                                   # x0 is a new array every time
    assert obj.x0[0] == 0.0
    assert obj.fun(obj.x0)[0] == pytest.approx(_oracle(obj.x0, X, y, LAM)[0], rel=1e-12)


# -- the fits --------------------------------------------------------------------------------
def test_trust_ncg_fits_the_logistic_regression_at_the_newton_optimum(fn, data) -> None:
    X, y = data
    result = logistic.fit(X, y, LAM, fn=fn, options={"gtol": 1e-10})
    assert result.success
    assert result.nhev > 0                           # it used the Hessian-vector products
    assert np.allclose(result.x, _newton(X, y, LAM), rtol=1e-6, atol=1e-7)
    w, b = result.params
    assert w.shape == (D,) and isinstance(b, float)
    assert np.linalg.norm(_oracle(result.x, X, y, LAM)[1]) < 1e-10


def test_the_logistic_example_runs(capsys) -> None:
    assert logistic.main(["--points", "2000", "--features", "3"]) == 0
    assert "trust-ncg: Optimization terminated successfully" in capsys.readouterr().out


def test_bfgs_finds_the_minimum_of_the_extended_rosenbrock_function() -> None:
    result = rosenbrock.fit(6, options={"gtol": 1e-9})
    assert result.success
    assert result.fun < 1e-16
    assert np.allclose(result.x, np.ones(6), rtol=0, atol=1e-7)
    assert rosenbrock.start(6).tolist() == [-1.2, 1, -1.2, 1, -1.2, 1]
    # the value at the standard starting point, by hand: 3 × (100·(1 - 1.44)² + 2.2²)
    fn = chaincc.compile(rosenbrock.source(6))
    assert fn.scipy(rosenbrock.start(6)).fun(rosenbrock.start(6))[0] == \
        pytest.approx(3 * (100 * 0.44 ** 2 + 2.2 ** 2), rel=1e-14)


@pytest.mark.parametrize("method, kernel", [
    ("trust-ncg", "hvp"), ("Newton-CG", "hvp"), ("trust-exact", "hessian"),
    ("BFGS", "value_and_grad"), ("Nelder-Mead", "value"),
])
def test_minimize_gives_each_method_what_it_uses(fn, data, method, kernel) -> None:
    obj = _objective(fn, data)
    result = obj.minimize(method=method, options={"maxiter": 2000})
    calls = obj.kernel_calls
    assert calls[kernel] > 0
    if kernel == "value":
        assert calls["value_and_grad"] == 1            # the check at x0, when it was made
    if method != "trust-exact":
        assert calls["hessian"] == 0
    assert np.allclose(result.x, _newton(*data, LAM), rtol=1e-3, atol=1e-4)


# -- the flat layout ---------------------------------------------------------------------------
def test_pack_and_unpack_are_row_major_in_wrt_order() -> None:
    fn = chaincc.compile("f(W[2,3], b[2], x[3], s) = s * sum((W @ x + b)^2)")
    rng = np.random.default_rng(2)
    W, b, x = rng.normal(size=(2, 3)), rng.normal(size=2), rng.normal(size=3)
    obj = fn.scipy(W, b, x, 0.5, wrt=["b", "W"])
    assert obj.size == 8
    assert np.array_equal(obj.x0, np.concatenate([b, W.reshape(-1)]))
    assert np.array_equal(obj.pack(b, W), obj.x0)
    assert np.array_equal(obj.pack(W=W, b=b), obj.x0)
    b2, W2 = obj.unpack(obj.x0)
    assert np.array_equal(b2, b) and np.array_equal(W2, W)
    # the gradient by hand: f = s·|r|², r = W x + b, so ∂f/∂b = 2 s r and ∂f/∂W = 2 s r xᵀ
    r = W @ x + b
    assert np.allclose(obj.jac(obj.x0), np.concatenate([r, np.outer(r, x).reshape(-1)]))
    # unpack copies: changing what it gives changes nothing else
    xs = obj.x0
    b3, _ = obj.unpack(xs)
    b3[0] = 7.0
    assert xs[0] == b[0]


def test_every_parameter_by_default_and_the_functions_own_wrt() -> None:
    src = "f(x, y) = (x² + xy)y³"
    fn = chaincc.compile(src)
    obj = fn.scipy(1, 2)
    assert np.array_equal(obj.x0, [1.0, 2.0])
    f, g = obj.fun([1, 2])
    assert f == 24.0 and g.tolist() == [32.0, 44.0]       # (x² + xy)y³ by hand
    # x²y³ + xy⁴: f_xx = 2y³, f_xy = 6xy² + 4y³, f_yy = 6x²y + 12xy²
    assert obj.hess([1, 2]).tolist() == [[16.0, 56.0], [56.0, 60.0]]
    only_y = chaincc.compile(src, wrt=["y"]).scipy(1, 2)
    assert only_y.layout.names == ("y",)
    assert only_y.fun([2.0])[1].tolist() == [44.0]
    assert chaincc.compile(src, wrt=["y"]).scipy(1, 2, wrt="x").fun([1.0])[1].tolist() == \
        [32.0]


def test_data_batches_broadcast_once(fn, data) -> None:
    X, y = data
    X2 = np.stack([X, X[::-1]])                         # batch (2, 500) against y's (500,)
    obj = fn.scipy(np.zeros(D), 0.0, X2, y, LAM, wrt=["w", "b"], reduce="mean")
    x = np.random.default_rng(6).normal(size=D + 1)
    want = _oracle(x, np.concatenate([X, X[::-1]]), np.concatenate([y, y]), LAM)
    f, g = obj.fun(x)
    assert f == pytest.approx(want[0], rel=1e-12)
    assert np.allclose(g, want[1], rtol=1e-11, atol=1e-13)


# -- the kept value and gradient ------------------------------------------------------------
def test_the_last_point_is_not_computed_again(fn, data) -> None:
    obj = _objective(fn, data)
    assert obj.kernel_calls == {"value": 0, "value_and_grad": 1, "hessian": 0, "hvp": 0}
    x = np.full(D + 1, 0.1)
    f, g = obj.fun(x)
    g[:] = 1e9                                           # the caller's copy
    assert obj.value(x.copy()) == f
    assert np.array_equal(obj.jac(x), obj.fun(x)[1]) and obj.jac(x)[0] != 1e9
    obj.hess(x)
    obj.hess(x.copy())
    assert obj.kernel_calls == {"value": 0, "value_and_grad": 2, "hessian": 1, "hvp": 0}
    obj.jac(x + 1)
    obj.hess(x + 1)
    obj.hessp(x, np.ones(D + 1))
    assert obj.kernel_calls == {"value": 0, "value_and_grad": 3, "hessian": 2, "hvp": 1}


# -- refused -----------------------------------------------------------------------------------
def _bad(fn, data, *, w=None, X=None, y=None, **kw):
    Xd, yd = data
    return fn.scipy(np.zeros(D) if w is None else w, 0.0, Xd if X is None else X,
                    yd if y is None else y, LAM, **{"wrt": ["w", "b"], "reduce": "mean", **kw})


@pytest.mark.parametrize("change, error, text", [
    (dict(wrt=["v"]), ArgumentError, "loss has no parameter 'v'"),
    (dict(reduce="max"), ArgumentError, "reduce must be None, 'sum' or 'mean'"),
    (dict(reduce=None), ArgumentError, "the data have batch shape (500,), so loss has one "
                                       "value per point; an objective is one number"),
    (dict(w=np.zeros((3, D))), ArgumentError, "the starting value of 'w' must be shape (4,), "
                                              "got an array of shape (3, 4)"),
    (dict(w="0"), ArgumentTypeError, "parameter 'w' must be a real number"),
    (dict(X=np.zeros((500, D + 1))), ArgumentError, "data parameter 'x' must have shape (4,)"),
    (dict(y=np.zeros(499)), ArgumentError, "cannot be broadcast together: x (500,), y (499,)"),
    (dict(X=np.zeros((0, D)), y=np.zeros(0)), ArgumentError, "empty batch"),
])
def test_bad_arguments_are_refused(fn, data, change, error, text) -> None:
    with pytest.raises(error) as info:
        _bad(fn, data, **change)
    assert text in str(info.value)


def test_bad_calls_are_refused(fn, data) -> None:
    obj = _objective(fn, data)
    with pytest.raises(ArgumentError, match=r"x must be a flat vector of 5 values \(the "
                                            r"parameters w, b\), got shape \(4,\)"):
        obj.fun(np.zeros(4))
    with pytest.raises(ArgumentError, match="p must be a flat vector of 5 values"):
        obj.hessp(np.zeros(5), np.zeros((5, 1)))
    with pytest.raises(ArgumentTypeError, match="complex"):
        obj.hess(np.zeros(5, complex))
    with pytest.raises(ArgumentError, match=r"the starting value of 'b' must be a scalar"):
        obj.pack(np.zeros(D), np.zeros(1))
    with pytest.raises(ArgumentTypeError, match="missing value for parameter 'b'"):
        obj.pack(np.zeros(D))
    with pytest.raises(ArgumentTypeError, match="missing value for parameter 'lam'"):
        fn.scipy(np.zeros(D), 0.0, *data, wrt=["w", "b"], reduce="mean")
    vec = chaincc.compile("g(a, b) = [a*b, a+b]")
    with pytest.raises(ArgumentTypeError, match=r"must be scalar-valued; g's value has "
                                                r"shape \(2,\)"):
        vec.scipy(1.0, 2.0)


def test_import_chaincc_does_not_import_scipy() -> None:
    code = ("import sys, chaincc\n"
            "assert 'scipy' not in sys.modules\n"
            "import chaincc.scipy\n"
            "assert 'scipy' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
