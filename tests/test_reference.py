"""The reference interpreter (chaincc/reference.py) against independent oracles: SymPy's
``diff`` evaluated at 40 digits for every builtin, hand-computed values for the documented
conventions (non-smooth points, ``where``, IEEE specials), and the language's examples."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import sympy as sp

from chaincc import reference
from chaincc.diagnostics import ChainccError

X = sp.Symbol("x", real=True)
Y = sp.Symbol("y", real=True)


def _sympy(expr: sp.Expr, syms: tuple, point: tuple) -> tuple[float, list[float]]:
    subs = {s: sp.Float(v, 40) for s, v in zip(syms, point)}
    value = float(expr.xreplace(subs).evalf(40))
    grads = [float(sp.diff(expr, s).xreplace(subs).evalf(40)) for s in syms]
    return value, grads


def _close(a: float, b: float, rel: float = 1e-14) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


UNARY = {
    "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "asin": sp.asin, "acos": sp.acos,
    "atan": sp.atan, "sinh": sp.sinh, "cosh": sp.cosh, "tanh": sp.tanh, "asinh": sp.asinh,
    "acosh": sp.acosh, "atanh": sp.atanh, "exp": sp.exp, "expm1": lambda x: sp.exp(x) - 1,
    "log": sp.log, "ln": sp.log, "log1p": lambda x: sp.log(1 + x),
    "log2": lambda x: sp.log(x) / sp.log(2), "log10": lambda x: sp.log(x) / sp.log(10),
    "sqrt": sp.sqrt, "cbrt": lambda x: sp.sign(x) * sp.Abs(x) ** sp.Rational(1, 3),
    "abs": sp.Abs, "erf": sp.erf, "erfc": sp.erfc,
    "relu": lambda x: sp.Piecewise((x, x > 0), (0, True)),
    "sigmoid": lambda x: 1 / (1 + sp.exp(-x)), "softplus": lambda x: sp.log(1 + sp.exp(x)),
    "gelu": lambda x: x / 2 * (1 + sp.erf(x / sp.sqrt(2))),
    "lgamma": lambda x: sp.log(sp.Abs(sp.gamma(x))),
}
# points inside each domain, away from non-smooth points
POINTS = {"acosh": (1.7, 3.2), "log": (0.3, 2.5), "ln": (0.3, 2.5), "log2": (0.3, 2.5),
          "log10": (0.3, 2.5), "sqrt": (0.3, 2.5), "asin": (-0.7, 0.4), "acos": (-0.7, 0.4),
          "atanh": (-0.7, 0.4), "lgamma": (0.3, -1.5), "log1p": (-0.5, 0.6)}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_builtin_matches_sympy(name: str) -> None:
    for x in POINTS.get(name, (-1.3, 0.6)):
        got_v, got_g = reference.evaluate(f"f(x) = {name}(x)", {"x": x})
        want_v, (want_g,) = _sympy(UNARY[name](X), (X,), (x,))
        assert _close(got_v, want_v), (name, x, got_v, want_v)
        assert _close(got_g["x"], want_g), (name, x, got_g, want_g)


BINARY = {
    "atan2(y, x)": sp.atan2(Y, X), "hypot(x, y)": sp.sqrt(X**2 + Y**2),
    "pow(x, y)": X**Y, "x^y": X**Y, "log(x, y)": sp.log(X) / sp.log(Y),
    "x/y - y*x": X / Y - X * Y, "x**y**2": X ** (Y**2),
    "2^-x + x²y³ - x⁻¹": 2**-X + X**2 * Y**3 - 1 / X,
}


@pytest.mark.parametrize("text", sorted(BINARY))
def test_binary_operations_match_sympy(text: str) -> None:
    for point in ((0.7, 1.9), (2.5, 0.4), (1.3, -1.1))[:2 if "log" in text else 3]:
        got_v, got_g = reference.evaluate(f"f(x, y) = {text}", {"x": point[0], "y": point[1]})
        want_v, want_g = _sympy(BINARY[text], (X, Y), point)
        assert _close(got_v, want_v), (text, point)
        assert _close(got_g["x"], want_g[0]) and _close(got_g["y"], want_g[1]), (text, point)


def _vg(source: str, **args) -> tuple[float, dict]:
    return reference.evaluate(source, args)


def test_non_smooth_points_follow_the_documented_conventions() -> None:
    assert _vg("f(x) = relu(x)", x=0.0) == (0.0, {"x": 0.0})
    assert _vg("f(x) = abs(x)", x=0.0) == (0.0, {"x": 0.0})
    for fn in ("sign", "floor", "ceil"):
        assert _vg(f"f(x) = {fn}(x)", x=2.0)[1] == {"x": 0.0}
    # max/min: the whole derivative to the first argument attaining the extremum
    assert _vg("f(x, y) = max(x, y)", x=1.0, y=1.0)[1] == {"x": 1.0, "y": 0.0}
    assert _vg("f(x, y) = min(y, x)", x=1.0, y=1.0)[1] == {"x": 0.0, "y": 1.0}
    v, g = _vg("f(v[2,2]) = max(v) + min(v)", v=[[1.0, 3.0], [3.0, 1.0]])
    assert v == 4.0 and g["v"].tolist() == [[1.0, 1.0], [0.0, 0.0]]
    # IEEE for the rest
    assert _vg("f(x) = sqrt(x)", x=0.0) == (0.0, {"x": math.inf})
    assert _vg("f(x) = log(x)", x=0.0) == (-math.inf, {"x": math.inf})
    assert _vg("f(x) = cbrt(x)", x=0.0) == (0.0, {"x": math.inf})


def test_where_selects_value_and_derivative() -> None:
    src = "f(x) = where(x > 0, 2sqrt(x), x)"
    assert _vg(src, x=0.0) == (0.0, {"x": 1.0})
    assert _vg(src, x=-1.0) == (-1.0, {"x": 1.0})
    assert _vg(src, x=4.0) == (4.0, {"x": 0.5})
    # NaN, inf and overflow in the branch not taken, through helpers
    src = "g(t) = log(t) * exp(1000t) / t\nf(x) = where(x <= 0, x^2, g(-x)) + 3x"
    assert _vg(src, x=-2.0) == (-2.0, {"x": -1.0})
    assert _vg(src, x=0.0) == (0.0, {"x": 3.0})


def test_conditions_follow_ieee_comparisons_with_nan() -> None:
    # sqrt(-1) is NaN: every comparison with it is false except !=
    src = "f(x, y) = where({}, x, 2x)"
    cases = {"not (sqrt(y) > 0)": 1, "sqrt(y) <= 0": 2, "sqrt(y) != sqrt(y)": 1,
             "sqrt(y) == sqrt(y)": 2, "sqrt(y) < 0 or x > 0": 1, "x > 0 and sqrt(y) >= 0": 2}
    for cond, k in cases.items():
        assert _vg(src.format(cond), x=1.0, y=-1.0) == (float(k), {"x": float(k), "y": 0.0})


def test_ieee_specials_and_float64_range() -> None:
    assert _vg("f(x) = x/0", x=1.0)[0] == math.inf
    assert math.isnan(_vg("f(x) = x/0", x=0.0)[0])
    assert _vg("f(x) = exp(x)", x=800.0)[0] == math.inf
    assert math.isnan(_vg("f(x) = exp(x)/exp(x)", x=800.0)[0])     # inf/inf, as float64
    assert _vg("f(x) = exp(-x)", x=800.0)[0] == 0.0
    assert math.isnan(_vg("f(x) = acos(x)", x=1.5)[0])
    assert _vg("f(x) = acos(1.5) + x", x=1.0)[1] == {"x": 1.0}   # NaN constant, no partial
    assert _vg("f(x) = x + 9^9^9", x=1.0)[0] == math.inf
    assert _vg("f(x) = x + 1e999", x=1.0)[0] == math.inf
    assert _vg("f(x) = x + 1e-999", x=1.0)[0] == 1.0
    # a single operation rounds correctly: the reference value is the nearest float64
    assert _vg("f(x, y) = x/y", x=1.0, y=3.0)[0] == 1.0 / 3.0
    # 0.1 is exactly 1/10: 1/10 + 0.2000000000000000111 rounds to 0.3 (0.1 rounded to
    # float64 first would give 0.30000000000000004)
    assert _vg("f(x) = 0.1 + x", x=0.2)[0] == 0.3


def test_logsumexp_and_softmax_are_stable_in_high_precision() -> None:
    v, g = _vg("f(v[3]) = logsumexp(v)", v=[1000.0, 1000.0, -math.inf])
    assert v == 1000.0 + math.log(2)
    assert g["v"].tolist() == [0.5, 0.5, 0.0]
    v, j = _vg("f(M[2,2]) = softmax(M)", M=[[0.0, 0.0], [1.0, 3.0]])
    s = 1 / (1 + math.exp(2))
    assert np.allclose(v, [[0.5, 0.5], [s, 1 - s]], rtol=1e-15)
    assert j["M"].shape == (2, 2, 2, 2)
    assert np.allclose(j["M"][0, 0], [[0.25, -0.25], [0, 0]], rtol=1e-15)   # rows apart
    v, g = _vg("f(M[2,3]) = sum(logsumexp(M))", M=[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    assert math.isclose(v, 1 + 2 * math.log(3), rel_tol=1e-15)
    assert np.allclose(g["M"], 1 / 3, rtol=1e-15)


def test_arrays_broadcast_and_matrix_products_follow_numpy() -> None:
    W = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    x = np.array([0.5, -1.0, 2.0])
    u = np.array([2.0, -3.0])
    v, j = reference.evaluate("f(W[2,3], x[3], u[2]) = W' @ u + (u @ W) * x + W'[1, 1]"
                              " - transpose(W)[2, 0]", {"W": W, "x": x, "u": u})
    assert np.allclose(v, W.T @ u + (u @ W) * x + W[1, 1] - W[0, 2], rtol=1e-15)
    assert j["W"].shape == (3, 2, 3) and j["x"].shape == (3, 3) and j["u"].shape == (3, 2)
    assert np.allclose(j["x"], np.diag(u @ W), rtol=1e-15)
    assert np.allclose(j["u"], W.T * (1 + x)[:, None], rtol=1e-15)
    v, j = reference.evaluate("f(W[2,3], x[3]) = W @ x", {"W": W, "x": x})
    assert np.allclose(v, W @ x) and np.allclose(j["x"], W)
    assert np.allclose(j["W"], np.einsum("ij,k->ijk", np.eye(2), x))
    v, j = reference.evaluate("f(u[2], W[2,3]) = u @ W", {"u": u, "W": W})
    assert np.allclose(v, u @ W) and np.allclose(j["u"], W.T)
    v, g = reference.evaluate("f(a[3], b[3]) = dot(a, b) + norm(a) + prod(b) + mean(a)",
                              {"a": x, "b": x[::-1].copy()})
    want = x @ x[::-1] + np.linalg.norm(x) + np.prod(x) + x.mean()
    assert math.isclose(v, want, rel_tol=1e-15)
    assert np.allclose(g["a"], x[::-1] + x / np.linalg.norm(x) + 1 / 3, rtol=1e-14)


def test_language_examples() -> None:
    a = {"x": 1.5, "y": -0.5}
    first = _vg("f(x, y) = (x² + xy)y³", **a)
    assert first == _vg("u = x^2 + x*y\nv = y^3\nf(x, y) = u*v", **a)
    assert first == _vg("f(x, y) = (x**2 + x*y) * y**3", **a)
    assert _vg("sq(t) = t^2\ng(x) = sq(sin(x)) + 1", x=0.5) == \
        _vg("g(x) = sin(x)^2 + 1", x=0.5)
    assert _vg("f(x) = 2^3^2 + x", x=0.0)[0] == 512.0
    assert _vg("f(x) = -x^2", x=3.0)[0] == -9.0
    assert _vg("f(x) = 2^-1 * x", x=3.0)[0] == 1.5
    assert _vg("f(x) = 2e + 2ex", x=1.0)[0] == 4 * math.e
    assert _vg("f(x) = 2e3 + x", x=1.0)[0] == 2001.0
    assert _vg("f(x, y) = x(y+1) + 3(x+1) + (x+1)(y-1) + x y", x=2.0, y=3.0)[0] == \
        2 * 4 + 3 * 3 + 3 * 2 + 6
    assert _vg("f(x) = (x+1)² + x¹⁰", x=1.0)[0] == 5.0
    # longest name first, backtracking when the rest does not split
    assert _vg("f(x, xx, y) = xxy", x=2.0, xx=3.0, y=5.0)[0] == 15.0
    assert _vg("f(ab, a, bc) = abc", ab=2.0, a=3.0, bc=5.0)[0] == 15.0
    loss = "loss(W[2,3], b[2], x[3], y[2]) = sum((relu(W @ x + b) - y)^2) / 2"
    W, b, x, y = np.array([[1.0, -2, 3], [-4, 5, 6]]), np.array([0.5, -30]), \
        np.array([1.0, 2, 3]), np.array([1.0, 2])
    v, g = reference.evaluate(loss, {"W": W, "b": b, "x": x, "y": y})
    pre = W @ x + b
    r = np.maximum(pre, 0) - y
    assert math.isclose(v, (r @ r) / 2, rel_tol=1e-15)
    assert np.allclose(g["b"], r * (pre > 0), rtol=1e-15)
    assert np.allclose(g["W"], np.outer(r * (pre > 0), x), rtol=1e-15)


@pytest.mark.parametrize(("source", "message", "line", "col"), [
    ("f(x, y) = x + z", "unknown name 'z'", 1, 15),
    ("f(x) = xq", "unknown name 'xq'", 1, 8),
    ("f(x) = xsin", "unknown name 'xsin'", 1, 8),
    ("f(x) = sin + x", "'sin' is a function", 1, 8),
    ("f(x) = g(x)", "unknown function 'g'", 1, 8),
    ("g(x) = x\nf(x) = g(x, x)", "takes 1 argument", 2, 8),
    ("g(v[2]) = sum(v)\nf(x) = g(x)", "must have shape [2]", 2, 10),
    ("f(v[2]) = v[2]", "out of range", 1, 13),
    ("f(x) = x > 1", "comparison", 1, 8),
    ("f(v[2], w[3]) = v + w", "do not broadcast", 1, 17),
    ("s = 1\nx = 2", "no function", 1, 1),
    ("f(x) = x\nf(y) = y", "already defined", 2, 1),
    ("g(x) = x + q\nf(x) = x", "unknown name 'q'", 1, 12),        # every function checked
])
def test_source_errors_are_located(source: str, message: str, line: int, col: int) -> None:
    with pytest.raises(ChainccError) as info:
        reference.evaluate(source, {"x": 1.0} if "f(x" in source else
                           {"v": [1.0, 2.0], "w": [1.0, 2.0, 3.0]} if "w[3]" in source
                           else {"v": [1.0, 2.0]})
    assert message in info.value.message
    assert (info.value.line, info.value.col) == (line, col)


def test_deep_programs_need_no_recursion() -> None:
    start = time.perf_counter()
    v, g = _vg("f(x) = " + "sin(" * 10_000 + "x" + ")" * 10_000, x=0.5)
    assert 0 < v < 0.5 and 0 < g["x"] < 1
    chain = "f0(x) = x\n" + "\n".join(f"f{i}(x) = sin(f{i - 1}(x)) + 1" for i in range(1, 1000))
    v, g = _vg(chain, x=0.5)
    assert 1.5 < v < 2.0 and math.isfinite(g["x"])
    assert time.perf_counter() - start < 30


def test_api() -> None:
    src = "g(a, b) = a*b\nf(v[2], s) = s*v"
    assert reference.functions(src) == ("g", "f")
    sig = reference.signature(src)
    assert (sig.name, sig.params, sig.shapes) == ("f", ("v", "s"), ((2,), ()))
    assert reference.evaluate(src, [2.0, 3.0], entry="g") == (6.0, {"a": 3.0, "b": 2.0})
    v, j = reference.evaluate(src, {"v": [1.0, 2.0], "s": 3.0})
    assert v.tolist() == [3.0, 6.0]
    assert j["v"].tolist() == [[3.0, 0.0], [0.0, 3.0]] and j["s"].tolist() == [1.0, 2.0]
    with pytest.raises(TypeError):
        reference.evaluate(src, {"v": [1.0, 2.0]})
    with pytest.raises(ValueError):
        reference.evaluate(src, {"v": [1.0, 2.0, 3.0], "s": 1.0})
    with pytest.raises(ChainccError, match="no function 'h'"):
        reference.evaluate(src, {"x": 1.0}, entry="h")


def test_directional_derivatives_contract_the_jacobian() -> None:
    src = "f(W[2,3], x[3]) = tanh(W @ x) * sum(x)"
    rng = np.random.default_rng(3)
    point = {"W": rng.standard_normal((2, 3)), "x": rng.standard_normal(3)}
    dirs = {"W": rng.standard_normal((2, 3)), "x": rng.standard_normal(3)}
    value, jac = reference.evaluate(src, point)
    value2, along = reference.directional(src, point, dirs)
    assert np.array_equal(value, value2)
    assert np.allclose(along["W"], np.einsum("ijk,jk->i", jac["W"], dirs["W"]), rtol=1e-14)
    assert np.allclose(along["x"], jac["x"] @ dirs["x"], rtol=1e-14)


def test_values_keep_the_sign_of_zero() -> None:
    def value(src: str, x: float) -> float:
        return reference.evaluate(src, {"x": x})[0]

    assert value("f(x) = atan2(ceil(x), ceil(x))", -0.5) == -math.pi     # ceil(-0.5) is -0
    assert value("f(x) = 1/ceil(x)", -0.5) == -math.inf
    assert value("f(x) = 1/(0*x)", -2.0) == -math.inf
    assert value("f(x) = ceil(x)^-1", -0.5) == -math.inf
    assert value("f(x) = 1/relu(x)", -0.5) == math.inf                  # relu gives +0
    assert value("f(x) = 1/(x - x)", 1.0) == math.inf                    # x - x is +0
    assert value("f(x) = 1/(x*1e-300*1e-300)", -1.0) == -math.inf        # underflow: -0
    for src in ("f(x) = x", "f(x) = sin(x) + x*0", "f(x) = sqrt(x)", "f(x) = -(-x)"):
        v = value(src, -0.0)
        assert v == 0.0 and math.copysign(1.0, v) == -1.0, src
    v = value("f(x) = -x + x*0", 0.0)
    assert v == 0.0 and math.copysign(1.0, v) == 1.0                     # -0 + +0 is +0


def test_a_constant_zero_factor_drops_its_contribution() -> None:
    """docs/language.md: the adjoint drops contributions that are zero as formulas (a
    factor 0), so a nan partial further on does not reach the argument; a factor that is
    a parameter, 0 at this point, is no formula's zero and passes the nan on. The
    reference (forward mode) and the kernels (reverse mode) agree on both."""
    import chaincc
    for src, want_nan in (("f(a, b) = relu(acosh(erf(a)*0)) + b", False),
                          ("f(a, b) = relu(acosh(0*erf(a))) + b", False),
                          ("f(a, b) = relu(acosh(erf(a)*b))", True)):
        _, grads = reference.evaluate(src, {"a": 0.3, "b": 0.0})
        _, (ga, _) = chaincc.compile(src).value_and_grad(0.3, 0.0)
        assert math.isnan(grads["a"]) == math.isnan(ga) == want_nan, src
        if not want_nan:
            assert grads["a"] == ga == 0.0
    # the value is still computed as written: inf·0 is nan
    value, _ = reference.evaluate("f(x) = x*0", {"x": math.inf})
    assert math.isnan(value)
