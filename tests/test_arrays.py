"""Arrays and neural-network layers.

The oracles are independent of chaincc's lowering: each sample and each array example of
LANGUAGE.md is rebuilt here in SymPy (Matrix algebra over element symbols, NumPy object
arrays where NumPy broadcasting is the specification), differentiated with ``sympy.diff``
/ ``Matrix.jacobian`` / ``sympy.hessian`` and evaluated at random points; gradients are
also checked against central finite differences. Compiled functions are shared through
cached helpers, since every new kernel costs a Numba compilation.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import chaincc
from chaincc.diagnostics import ChainccError
from chaincc.lower import MAX_OPERATIONS

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


# -- SymPy building blocks ----------------------------------------------------------------

def vec(name: str, n: int) -> sp.Matrix:
    return sp.Matrix([sp.Symbol(f"{name}_{i}") for i in range(n)])


def mat(name: str, rows: int, cols: int) -> sp.Matrix:
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}_{j}"))


def arr(name: str, *shape: int) -> np.ndarray:
    """Element symbols as a NumPy object array, for oracles where broadcasting is NumPy's."""
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = sp.Symbol(f"{name}_{'_'.join(map(str, idx))}")
    return out


def relu(u: sp.Expr) -> sp.Expr:
    return sp.Piecewise((u, u > 0), (0, True))


def sigmoid(u: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-u))


def ew(f: Callable, m):
    """``f`` elementwise over a Matrix or an object array."""
    return m.applyfunc(f) if isinstance(m, sp.MatrixBase) else np.vectorize(f, otypes=[object])(m)


def sumsq(m) -> sp.Expr:
    return sp.Add(*[e ** 2 for e in flat(m)])


def flat(v) -> list:
    """Elements in row-major order (a Matrix, an object array or one expression)."""
    if isinstance(v, sp.MatrixBase):
        return list(v)
    return list(np.asarray(v, dtype=object).reshape(-1))


def num(e: sp.Expr, subs: dict) -> float:
    return float(sp.sympify(e).xreplace(subs))


def substitution(params: list, args: list) -> dict:
    subs = {}
    for p, a in zip(params, args):
        syms = flat(p)
        vals = np.ravel(a)
        assert len(syms) == len(vals)
        subs.update({s: sp.Float(float(v)) for s, v in zip(syms, vals)})
    return subs


def sympy_value_and_grad(expr: sp.Expr, params: list, args: list):
    subs = substitution(params, args)
    grads = [np.reshape([num(sp.diff(expr, s), subs) for s in flat(p)], np.shape(a))
             for p, a in zip(params, args)]
    return num(expr, subs), grads


def sympy_value_and_jacobian(out, params: list, args: list, out_shape: tuple):
    subs = substitution(params, args)
    outs = sp.Matrix(flat(out))
    value = np.reshape([num(e, subs) for e in outs], out_shape)
    jacs = [np.reshape([num(e, subs) for e in outs.jacobian(flat(p))],
                       out_shape + np.shape(a)) for p, a in zip(params, args)]
    return value, jacs


def random_args(fn: chaincc.Function, seed: int, low: float = -1.0, high: float = 1.0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(low, high, s) if s else float(rng.uniform(low, high))
            for s in fn.shapes]


def central_differences(f: Callable, args: list) -> list:
    """∂f/∂(every element of every argument) by central differences."""
    grads = []
    for k, a in enumerate(args):
        g = np.zeros(np.shape(a))
        for idx in np.ndindex(*np.shape(a)):
            x0 = float(np.asarray(a)[idx])
            h = 1e-6 * max(1.0, abs(x0))
            vals = []
            for step in (h, -h):
                moved = [np.array(b, dtype=float, copy=True) for b in args]
                moved[k][idx] = x0 + step
                vals.append(f(*moved))
            g[idx] = (vals[0] - vals[1]) / (2 * h)
        grads.append(g)
    return grads


def assert_close(actual, expected, rtol: float = 1e-9, atol: float = 1e-11) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=float), expected, rtol=rtol, atol=atol)


# -- the samples ------------------------------------------------------------------------

def oracle_mlp():
    W1, b1, W2, b2 = mat("W1", 5, 10), vec("b1", 5), mat("W2", 2, 5), vec("b2", 2)
    x, y = vec("x", 10), vec("y", 2)
    h = ew(relu, W1 * x + b1)
    return sumsq(W2 * h + b2 - y) / 2, [W1, b1, W2, b2, x, y]     # mean of two squares


def oracle_twolayer():
    W1, b1, W2, b2 = mat("W1", 4, 3), vec("b1", 4), mat("W2", 1, 4), sp.Symbol("b2")
    x, y = vec("x", 3), sp.Symbol("y")
    a = ew(sp.tanh, W1 * x + b1)
    return (y - sigmoid((W2 * a)[0] + b2)) ** 2 / 2, [W1, b1, W2, b2, x, y]


def oracle_lstm():
    params: list = []
    for gate in "ifog":
        params += [mat(f"W{gate}", 2, 2), mat(f"U{gate}", 2, 2), vec(f"b{gate}", 2)]
    x, h, c, target = vec("x", 2), vec("h", 2), vec("c", 2), vec("target", 2)

    def gate(k: int, f: Callable) -> sp.Matrix:
        W, U, b = params[3 * k:3 * k + 3]
        return ew(f, W * x + U * h + b)

    i, f, o, g = gate(0, sigmoid), gate(1, sigmoid), gate(2, sigmoid), gate(3, sp.tanh)
    c1 = f.multiply_elementwise(c) + i.multiply_elementwise(g)
    h1 = o.multiply_elementwise(ew(sp.tanh, c1))
    return sumsq(h1 - target), params + [x, h, c, target]


def oracle_attention():
    q, K, V, t = vec("q", 2), mat("K", 3, 2), mat("V", 3, 2), vec("t", 2)
    s = q.T * K.T / sp.sqrt(2)                       # a row of 3 scores
    w = ew(sp.exp, s)
    a = w / sum(w)
    return sumsq(a * V - t.T), [q, K, V, t]


def oracle_residual():
    W, b, x, t = mat("W", 3, 3), vec("b", 3), vec("x", 3), vec("t", 3)
    y = x + ew(sp.tanh, W * x + b)
    return sumsq(y - t) / 2, [W, b, x, t]


def oracle_gnn():
    A = sp.Matrix([[0, 1, 1, 0], [1, 0, 1, 0], [1, 1, 0, 1], [0, 0, 1, 0]])
    X, Ws, Wn, r, y = mat("X", 4, 2), mat("Ws", 2, 2), mat("Wn", 2, 2), vec("r", 2), \
        sp.Symbol("y")
    H = ew(sp.tanh, X * Ws + A * X * Wn)
    return (sum(H * r) - y) ** 2 / 2, [X, Ws, Wn, r, y]


def oracle_maxpool():
    X, W, y = mat("X", 4, 4), mat("W", 2, 2), sp.Symbol("y")
    P = sp.Matrix(2, 2, lambda i, j: sp.Max(X[2 * i, 2 * j], X[2 * i, 2 * j + 1],
                                            X[2 * i + 1, 2 * j], X[2 * i + 1, 2 * j + 1]))
    return (sum(P.multiply_elementwise(W)) - y) ** 2 / 2, [X, W, y]


def oracle_vae():
    Wm, bm, Wv, bv = mat("Wm", 2, 3), vec("bm", 2), mat("Wv", 2, 3), vec("bv", 2)
    D, c, x, eps = mat("D", 3, 2), vec("c", 3), vec("x", 3), vec("eps", 2)
    mu, logvar = Wm * x + bm, Wv * x + bv
    sigma = ew(lambda u: sp.exp(u / 2), logvar)
    z = mu + sigma.multiply_elementwise(eps)
    recon = sumsq(ew(sigmoid, D * z + c) - x)
    kl = -sum(1 + logvar[k] - mu[k] ** 2 - sigma[k] ** 2 for k in range(2)) / 2
    return recon + kl, [Wm, bm, Wv, bv, D, c, x, eps]


SAMPLE_ORACLES = {"mlp": oracle_mlp, "twolayer": oracle_twolayer, "lstm": oracle_lstm,
                  "attention": oracle_attention, "residual": oracle_residual,
                  "gnn": oracle_gnn, "maxpool": oracle_maxpool, "vae": oracle_vae}


@functools.cache
def sample(name: str) -> chaincc.Function:
    return chaincc.compile(SAMPLES / f"{name}.txt")


@pytest.mark.parametrize("name", SAMPLE_ORACLES)
def test_sample_matches_sympy(name: str) -> None:
    fn = sample(name)
    expr, params = SAMPLE_ORACLES[name]()
    assert [len(flat(p)) for p in params] == [int(np.prod(s)) for s in fn.shapes]
    assert fn.out_shape == ()
    for seed in (1, 2):
        args = random_args(fn, seed)
        value, grads = fn.value_and_grad(*args)
        want_value, want_grads = sympy_value_and_grad(expr, params, args)
        assert value == pytest.approx(want_value, rel=1e-11, abs=1e-13)
        for p, g, w, shape in zip(fn.params, grads, want_grads, fn.shapes):
            assert np.shape(g) == shape, p
            assert_close(g, w, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", SAMPLE_ORACLES)
def test_sample_matches_finite_differences(name: str) -> None:
    fn = sample(name)
    args = random_args(fn, seed=3)
    value, grads = fn.value_and_grad(*args)
    assert fn(*args) == pytest.approx(value, rel=1e-13, abs=1e-15)   # forward kernel agrees
    for g, fd in zip(grads, central_differences(fn, args)):
        assert_close(g, fd, rtol=1e-6, atol=1e-7)


def test_mlp_has_67_weights_and_biases() -> None:
    fn = sample("mlp")
    assert fn.params == ("W1", "b1", "W2", "b2", "x", "y")
    assert fn.shapes == ((5, 10), (5,), (2, 5), (2,), (10,), (2,))
    assert sum(int(np.prod(s)) for s in fn.shapes[:4]) == 67
    # an inactive hidden unit gates its whole row of W1 (and its bias) to zero gradient
    args = random_args(fn, seed=4)
    W1, b1, _, _, x, _ = args
    inactive = W1 @ x + b1 <= 0
    assert inactive.any() and not inactive.all()
    gW1, gb1 = fn.grad(*args)[:2]
    assert np.all(gW1[inactive] == 0) and np.all(gb1[inactive] == 0)
    assert np.all(gW1[~inactive] != 0)


def test_maxpool_routes_each_window_to_its_maximum() -> None:
    fn = sample("maxpool")
    X, W, y = random_args(fn, seed=5)
    gX = fn.grad(X, W, y)[0]
    value = fn(X, W, y)
    pooled = X.reshape(2, 2, 2, 2).max(axis=(1, 3))
    delta = float(np.sum(pooled * W) - y)
    assert value == pytest.approx(delta ** 2 / 2)
    want = np.zeros((4, 4))
    for i in range(2):
        for j in range(2):
            win = X[2 * i:2 * i + 2, 2 * j:2 * j + 2]
            a, b = np.unravel_index(np.argmax(win), (2, 2))
            want[2 * i + a, 2 * j + b] = delta * W[i, j]
    assert np.count_nonzero(gX) == 4
    assert_close(gX, want, rtol=1e-13)
    # ties: the whole adjoint goes to the first maximum in row-major order
    X = np.zeros((4, 4))
    X[0:2, 2:4] = [[0.0, 2.0], [2.0, 1.0]]                    # X[0,3] and X[1,2] tie
    gX = fn.grad(X, np.ones((2, 2)), 0.0)[0]
    want = np.zeros((4, 4))
    want[0, 0] = want[2, 0] = want[2, 2] = want[0, 3] = 2.0   # all-zero windows: first
    assert_close(gX, want, rtol=0, atol=0)


# -- the array part of LANGUAGE.md ------------------------------------------------------

LANG = """
vlit(a, b, c) = [a, b, c] * [1, 2, 3]
mlit(a, b, c, d) = [[a, b], [c, d]] @ [[1, 2], [3, 4]]
ix(x[3], W[2,3]) = x[2] * W[1, 0] + x[0]^2
bc(W[2,3], x[3], s) = sin(W * x + s)^2 - W / x
col(W[2,3], c[2,1]) = W * c + exp(c)
pair(W[2,3], x[3]) = atan2(W, x) + max(W, x) + hypot(W, 2) + where(W > x, W, x^2)
mm(A[2,3], B[3,2]) = A @ B
vm(v[2], M[2,3]) = v @ M
mv(M[2,3], u[3]) = M @ u
tr(A[2,3]) = A'
trf(A[2,3]) = transpose(A) @ A
smv(x[3]) = softmax(x)
smm(M[2,3]) = softmax(M)
lsem(M[2,3]) = logsumexp(M)
lin(W[2,3], x[3]) = W @ x
r_sum(M[2,3]) = sum(sin(M))
r_mean(M[2,3]) = mean(M^3)
r_prod(x[4]) = prod(x)
r_dot(a[3], b[3]) = dot(a, b^2)
r_norm(M[2,2]) = norm(M)
r_lse(x[4]) = logsumexp(x)
r_max(M[2,3]) = max(M)
r_min(M[2,3]) = min(M)
r_emax(a[3], b[3]) = sum(max(a, b) + min(a, b))
loss(W[2,3], b[2], x[3], y[2]) = sum((relu(W @ x + b) - y)^2) / 2
"""


def lang_oracles() -> dict[str, Callable]:
    """For each function of LANG: (the same math in SymPy, its parameters)."""
    def bc():
        W, x, s = arr("W", 2, 3), arr("x", 3), sp.Symbol("s")
        return ew(sp.sin, W * x + s) ** 2 - W / x, [W, x, s]

    def col():
        W, c = arr("W", 2, 3), arr("c", 2, 1)
        return W * c + ew(sp.exp, c), [W, c]

    def pair():
        W, x = arr("W", 2, 3), arr("x", 3)
        Wb, xb = np.broadcast_arrays(W, x)
        out = np.empty((2, 3), dtype=object)
        for idx in np.ndindex(2, 3):
            w, v = Wb[idx], xb[idx]
            out[idx] = (sp.atan2(w, v) + sp.Max(w, v) + sp.sqrt(w ** 2 + 4)
                        + sp.Piecewise((w, w > v), (v ** 2, True)))
        return out, [W, x]

    def softmax(row):
        w = [sp.exp(e) for e in row]
        return [e / sp.Add(*w) for e in w]

    def lse(row):
        return sp.log(sp.Add(*[sp.exp(e) for e in row]))

    def mm():
        A, B = mat("A", 2, 3), mat("B", 3, 2)
        return A * B, [A, B]

    def vm():
        v, M = vec("v", 2), mat("M", 2, 3)
        return v.T * M, [v, M]

    def mv():
        M, u = mat("M", 2, 3), vec("u", 3)
        return M * u, [M, u]

    def smm():
        M = mat("M", 2, 3)
        return sp.Matrix([softmax(M.row(i)) for i in range(2)]), [M]

    a, b, c, d, s = sp.symbols("a b c d s")
    A = mat("A", 2, 3)
    M23, M22, x3, x4 = mat("M", 2, 3), mat("M", 2, 2), vec("x", 3), vec("x", 4)
    W = mat("W", 2, 3)
    va, vb = vec("a", 3), vec("b", 3)
    return {
        "vlit": lambda: (sp.Matrix([a, 2 * b, 3 * c]), [a, b, c]),
        "mlit": lambda: (sp.Matrix([[a, b], [c, d]]) * sp.Matrix([[1, 2], [3, 4]]),
                         [a, b, c, d]),
        "ix": lambda: (x3[2] * W[1, 0] + x3[0] ** 2, [x3, W]),
        "bc": bc, "col": col, "pair": pair, "mm": mm, "vm": vm, "mv": mv,
        "tr": lambda: (A.T, [A]),
        "trf": lambda: (A.T * A, [A]),
        "smv": lambda: (sp.Matrix(softmax(list(x3))), [x3]),
        "smm": smm,
        "lsem": lambda: (sp.Matrix([lse(M23.row(i)) for i in range(2)]), [M23]),
        "lin": lambda: (W * x3, [W, x3]),
        "r_sum": lambda: (sum(ew(sp.sin, M23)), [M23]),
        "r_mean": lambda: (sum(ew(lambda e: e ** 3, M23)) / 6, [M23]),
        "r_prod": lambda: (sp.Mul(*x4), [x4]),
        "r_dot": lambda: (va.dot(ew(lambda e: e ** 2, vb)), [va, vb]),
        "r_norm": lambda: (sp.sqrt(sumsq(M22)), [M22]),
        "r_lse": lambda: (lse(list(x4)), [x4]),
        "r_max": lambda: (sp.Max(*M23), [M23]),
        "r_min": lambda: (sp.Min(*M23), [M23]),
        "r_emax": lambda: (sum(sp.Max(p, q) + sp.Min(p, q) for p, q in zip(va, vb)),
                           [va, vb]),
        "loss": lambda: (sumsq(ew(relu, W * x3 + vec("b", 2)) - vec("y", 2)) / 2,
                         [W, vec("b", 2), x3, vec("y", 2)]),
    }


@functools.cache
def lang_unit() -> chaincc.Unit:
    return chaincc.compile_unit(LANG, name="arrays.txt")


def lang(name: str) -> chaincc.Function:
    return lang_unit().function(name)


LANG_NAMES = list(lang_oracles())


@pytest.mark.parametrize("name", LANG_NAMES)
def test_language_arrays_against_sympy(name: str) -> None:
    fn = lang(name)
    out, params = lang_oracles()[name]()
    assert [len(flat(p)) for p in params] == [int(np.prod(s)) for s in fn.shapes]
    args = random_args(fn, seed=11, low=-1.5, high=1.5)
    if fn.out_shape:
        want_value, want_jacs = sympy_value_and_jacobian(out, params, args, fn.out_shape)
        assert_close(fn(*args), want_value)
        jacs = fn.jacobian(*args)
        for j, w, shape in zip(jacs, want_jacs, fn.shapes):
            assert j.shape == fn.out_shape + shape
            assert_close(j, w)
    else:
        want_value, want_grads = sympy_value_and_grad(out, params, args)
        value, grads = fn.value_and_grad(*args)
        assert value == pytest.approx(want_value, rel=1e-11, abs=1e-13)
        for g, w in zip(grads, want_grads):
            assert_close(g, w)


def _softmax(m: np.ndarray) -> np.ndarray:
    e = np.exp(m - m.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


NUMPY_MEANING: dict[str, Callable] = {
    "vlit": lambda a, b, c: np.array([a, 2 * b, 3 * c]),
    "mlit": lambda a, b, c, d: np.array([[a, b], [c, d]]) @ np.array([[1, 2], [3, 4]]),
    "bc": lambda W, x, s: np.sin(W * x + s) ** 2 - W / x,
    "col": lambda W, c: W * c + np.exp(c),
    "pair": lambda W, x: (np.arctan2(W, x) + np.maximum(W, x) + np.hypot(W, 2)
                          + np.where(W > x, W, x ** 2)),
    "mm": lambda A, B: A @ B,
    "vm": lambda v, M: v @ M,
    "mv": lambda M, u: M @ u,
    "tr": lambda A: A.T,
    "trf": lambda A: A.T @ A,
    "smv": _softmax,
    "smm": _softmax,
    "lsem": lambda M: np.log(np.exp(M).sum(axis=-1)),
    "lin": lambda W, x: W @ x,
}


@pytest.mark.parametrize("name", NUMPY_MEANING)
def test_language_arrays_follow_numpy(name: str) -> None:
    fn = lang(name)
    args = random_args(fn, seed=12, low=-2.0, high=2.0)
    want = NUMPY_MEANING[name](*args)
    assert fn.out_shape == want.shape
    assert_close(fn(*args), want, rtol=1e-13, atol=1e-14)


def test_max_and_min_ties_go_to_the_first_in_row_major_order() -> None:
    M = np.array([[1.0, 3.0, 0.0], [3.0, 3.0, 0.0]])
    value, (g,) = lang("r_max").value_and_grad(M)
    assert value == 3.0
    assert_close(g, [[0, 1, 0], [0, 0, 0]], rtol=0, atol=0)
    value, (g,) = lang("r_min").value_and_grad(M)
    assert value == 0.0
    assert_close(g, [[0, 0, 1], [0, 0, 0]], rtol=0, atol=0)
    # elementwise max(a, b) and min(a, b): a tie sends the adjoint to the first argument
    a = np.array([1.0, 2.0, -1.0])
    ga, gb = lang("r_emax").grad(a, np.array([1.0, 0.0, 5.0]))
    assert_close(ga, [2, 1, 1], rtol=0, atol=0)
    assert_close(gb, [0, 1, 1], rtol=0, atol=0)


def test_logsumexp_and_softmax_do_not_overflow() -> None:
    x = np.array([1000.0, 1000.5, -3.0, 999.0])
    value, (g,) = lang("r_lse").value_and_grad(x)
    m = x.max()
    assert value == pytest.approx(m + np.log(np.exp(x - m).sum()), rel=1e-15)
    assert_close(g, _softmax(x), rtol=1e-12, atol=1e-300)   # exp(x - value), value ≈ 1000
    M = np.array([[800.0, 801.0, 0.0], [-900.0, -901.0, -899.0]])
    assert_close(lang("smm")(M), _softmax(M), rtol=1e-12, atol=1e-300)


def test_language_loss_example_against_finite_differences() -> None:
    fn = lang("loss")
    assert fn.params == ("W", "b", "x", "y") and fn.shapes == ((2, 3), (2,), (3,), (2,))
    args = random_args(fn, seed=13)
    args[1] = np.array([0.7, 0.9])          # both units active: no kink near the point
    _, grads = fn.value_and_grad(*args)
    for g, fd in zip(grads, central_differences(lambda *a: fn.value_and_grad(*a)[0], args)):
        assert_close(g, fd, rtol=1e-6, atol=1e-7)


# -- shape diagnostics ------------------------------------------------------------------

SHAPE_ERRORS = [
    ("f(W[2,3], x[4]) = sum(W @ x)", 1, 23, ["cannot multiply W[2,3] @ x[4]"]),
    ("f(A[2,3], B[2,3]) =\n    sum(A @ B)", 2, 9, ["cannot multiply A[2,3] @ B[2,3]"]),
    ("f(x[3], s) = sum(x @ s)", 1, 18, ["'@' needs arrays", "x[3]", "s (a scalar)"]),
    ("f(a[2], b[3]) = sum(a + b)", 1, 21, ["cannot add a[2] + b[3]", "broadcast"]),
    ("f(A[2,3], B[3,2]) = sum(A * B)", 1, 25, ["A[2,3]", "B[3,2]", "broadcast"]),
    ("f(a[2], b[3]) = sum(atan2(a, b))", 1, 21, ["broadcast", "a[2]", "b[3]"]),
    ("f(x[3], y[2]) = dot(x, y)", 1, 17, ["x[3]", "y[2]"]),
    ("f(x[3]) = x[3]", 1, 13, ["index 3 is out of range", "x[3]"]),
    ("f(W[2,3]) = W[1, 3]", 1, 18, ["index 3 is out of range for axis 1", "W[2,3]"]),
    ("f(x[3], k) = x[k]", 1, 16, ["index must be a constant integer"]),
    ("f(x[3]) = x[1.5]", 1, 13, ["index must be a constant integer"]),
    ("f(x) = x[0]", 1, 8, ["cannot index x (a scalar)"]),
    ("f(x[3]) = sum([[x[0], x[1]], [x[2]]])", 1, 15, ["same shape", "[2]", "[1]"]),
    ("g(v[3]) = sum(v)\nf(x[2]) = g(x)", 2, 13,
     ["argument 'v' of 'g' must have shape [3]", "x[2]"]),
    ("g(v[3]) = sum(v)\nf(x) = g(x)", 2, 10, ["must have shape [3]", "x (a scalar)"]),
]


@pytest.mark.parametrize(("src", "line", "col", "parts"), SHAPE_ERRORS)
def test_shape_errors_are_located_and_name_both_shapes(src: str, line: int, col: int,
                                                       parts: list[str]) -> None:
    with pytest.raises(ChainccError) as info:
        chaincc.compile(src, name="model.txt")
    err = info.value
    assert (err.file, err.line, err.col) == ("model.txt", line, col)
    for part in parts:
        assert part in err.message
    text = str(err)
    assert text.startswith(f"model.txt:{line}:{col}: error: ")
    assert text.splitlines()[-1].index("^") == 4 + col - 1        # caret under the column


# -- batches and reductions -------------------------------------------------------------

def loss_batch(n: int, seed: int):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(2, 3)), rng.normal(size=2), rng.normal(size=(n, 3)),
            rng.normal(size=(n, 2)))


def test_batch_gives_per_sample_values_and_gradients() -> None:
    fn = lang("loss")
    W, b, X, Y = loss_batch(7, seed=20)
    value, grads = fn.value_and_grad(W, b, X, Y)
    assert value.shape == (7,)
    assert [g.shape for g in grads] == [(7, 2, 3), (7, 2), (7, 3), (7, 2)]
    assert_close(fn(W, b, X, Y), value, rtol=1e-14)
    for k in range(7):
        v, gs = fn.value_and_grad(W, b, X[k], Y[k])
        assert value[k] == pytest.approx(v, rel=1e-14)
        for g, one in zip(grads, gs):
            assert_close(g[k], one, rtol=1e-14, atol=0)


def test_batch_dimensions_broadcast_across_arguments() -> None:
    fn = lang("loss")
    W, b, _, _ = loss_batch(1, seed=21)
    rng = np.random.default_rng(22)
    X, Y = rng.normal(size=(4, 1, 3)), rng.normal(size=(5, 2))
    value, grads = fn.value_and_grad(W, b, X, Y)
    assert value.shape == (4, 5)
    assert [g.shape for g in grads] == [(4, 5, 2, 3), (4, 5, 2), (4, 5, 3), (4, 5, 2)]
    for i in range(4):
        for j in range(5):
            v, gs = fn.value_and_grad(W, b, X[i, 0], Y[j])
            assert value[i, j] == pytest.approx(v, rel=1e-14)
            assert_close(grads[0][i, j], gs[0], rtol=1e-14, atol=0)
    # a batch of weight matrices pairs with a batch of inputs
    Ws, Xs = rng.normal(size=(3, 2, 3)), rng.normal(size=(3, 3))
    value = fn(Ws, b, Xs, Y[0])
    assert value.shape == (3,)
    for k in range(3):
        assert value[k] == pytest.approx(fn(Ws[k], b, Xs[k], Y[0]), rel=1e-14)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_reduce_gives_one_gradient_for_a_shared_weight_matrix(reduce: str) -> None:
    fn = lang("loss")
    W, b, X, Y = loss_batch(1000, seed=23)
    per_value, per_grads = fn.value_and_grad(W, b, X, Y)
    agg = np.sum if reduce == "sum" else np.mean
    value, grads = fn.value_and_grad(W, b, X, Y, reduce=reduce)
    assert isinstance(value, float)
    assert value == pytest.approx(agg(per_value), rel=1e-12)
    assert [g.shape for g in grads] == [(2, 3), (2,), (3,), (2,)]
    for g, per in zip(grads, per_grads):
        assert_close(g, agg(per, axis=0), rtol=1e-12, atol=1e-12)
    assert fn(W, b, X, Y, reduce=reduce) == pytest.approx(agg(per_value), rel=1e-12)
    for g, per in zip(fn.grad(W, b, X, Y, reduce=reduce), per_grads):
        assert_close(g, agg(per, axis=0), rtol=1e-12, atol=1e-12)


def test_reduce_rejects_unknown_modes() -> None:
    W, b, X, Y = loss_batch(3, seed=24)
    with pytest.raises(ValueError, match="reduce"):
        lang("loss").value_and_grad(W, b, X, Y, reduce="max")


def test_wrong_argument_shape_at_call_time() -> None:
    W, b, X, Y = loss_batch(3, seed=25)
    with pytest.raises(ValueError, match=r"parameter 'x' must have shape \(3,\)"):
        lang("loss")(W, b, X[:, :2], Y)


# -- Jacobians and vector-Jacobian products ---------------------------------------------

def test_jacobian_shapes_and_closed_forms() -> None:
    W, x = np.arange(6.0).reshape(2, 3) / 7, np.array([0.5, -1.0, 2.0])
    jW, jx = lang("lin").jacobian(W, x)
    assert jW.shape == (2, 2, 3) and jx.shape == (2, 3)
    assert_close(jx, W, rtol=0, atol=0)
    assert_close(jW, np.einsum("ij,k->ijk", np.eye(2), x), rtol=0, atol=0)
    s = _softmax(x)
    (js,) = lang("smv").jacobian(x)
    assert_close(js, np.diag(s) - np.outer(s, s), rtol=1e-14, atol=1e-16)
    (jm,) = lang("smm").jacobian(np.ones((2, 3)))
    assert jm.shape == (2, 3, 2, 3)
    # a batch of points gives a batch of Jacobians
    xs = np.random.default_rng(30).normal(size=(4, 3))
    (jb,) = lang("smv").jacobian(xs)
    assert jb.shape == (4, 3, 3)
    for k in range(4):
        assert_close(jb[k], lang("smv").jacobian(xs[k])[0], rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", ["lin", "smm", "mm"])
def test_vjp_is_cotangent_times_jacobian(name: str) -> None:
    fn = lang(name)
    args = random_args(fn, seed=31)
    cot = np.random.default_rng(32).normal(size=fn.out_shape)
    axes = len(fn.out_shape)
    want = [np.tensordot(cot, j, axes=axes) for j in fn.jacobian(*args)]
    got = fn.vjp(*args, cot)
    assert len(got) == len(fn.params)
    for g, w, shape in zip(got, want, fn.shapes):
        assert np.shape(g) == shape
        assert_close(g, w, rtol=1e-13, atol=1e-14)
    for g, w in zip(fn.vjp(*args, cotangent=cot), want):
        assert_close(g, w, rtol=1e-13, atol=1e-14)


def test_vector_valued_functions_have_no_gradient() -> None:
    fn = lang("smv")
    assert fn.out_shape == (3,)
    for call in (fn.grad, fn.value_and_grad):
        with pytest.raises(TypeError, match="jacobian"):
            call(np.ones(3))
    with pytest.raises(TypeError, match="scalar"):
        fn.hessian(np.ones(3))


# -- Hessians and Hessian-vector products -----------------------------------------------

HESS = """
f(x, y) = (x² + xy)y³
h(W[2,2], x[2]) = sum(tanh(W @ x)^2) + prod(x) * W[0, 1]
"""


@functools.cache
def hess_unit() -> chaincc.Unit:
    return chaincc.compile_unit(HESS, name="hessians.txt")


def hessian_oracle(name: str):
    if name == "f":
        x, y = sp.symbols("x y")
        return (x ** 2 + x * y) * y ** 3, [x, y]
    W, x = mat("W", 2, 2), vec("x", 2)
    return sumsq(ew(sp.tanh, W * x)) + x[0] * x[1] * W[0, 1], [W, x]


def sympy_hessian(expr: sp.Expr, params: list, args: list) -> np.ndarray:
    syms = [s for p in params for s in flat(p)]
    subs = substitution(params, args)
    return np.array([[num(e, subs) for e in row] for row in
                     sp.hessian(expr, syms).tolist()])


@pytest.mark.parametrize("name", ["f", "h"])
def test_hessian_against_sympy_and_hvp_against_h_times_v(name: str) -> None:
    fn = hess_unit().function(name)
    expr, params = hessian_oracle(name)
    n = sum(int(np.prod(s)) for s in fn.shapes)
    for seed in (40, 41):
        args = random_args(fn, seed)
        H = fn.hessian(*args)
        want = sympy_hessian(expr, params, args)
        assert H.shape == (n, n)
        assert_close(H, want, rtol=1e-10, atol=1e-12)
        v = np.random.default_rng(seed + 10).normal(size=n)
        Hv = want @ v
        got = fn.hvp(*args, v)                                # one flat direction
        assert_close(np.concatenate([np.ravel(g) for g in got]), Hv, rtol=1e-10, atol=1e-12)
        parts, k = [], 0                                      # one entry per parameter
        for s in fn.shapes:
            size = int(np.prod(s))
            parts.append(v[k:k + size].reshape(s) if s else float(v[k]))
            k += size
        got = fn.hvp(*args, direction=tuple(parts))
        for g, s in zip(got, fn.shapes):
            assert np.shape(g) == s
        assert_close(np.concatenate([np.ravel(g) for g in got]), Hv, rtol=1e-10, atol=1e-12)


def test_seed_hessian_in_closed_form() -> None:
    x, y = 1.0, 2.0
    H = hess_unit().function("f").hessian(x, y)
    # f = x²y³ + xy⁴
    want = [[2 * y ** 3, 6 * x * y ** 2 + 4 * y ** 3],
            [6 * x * y ** 2 + 4 * y ** 3, 6 * x ** 2 * y + 12 * x * y ** 2]]
    assert_close(H, want, rtol=1e-15, atol=0)


def test_sample_hessian_is_symmetric_and_matches_sympy() -> None:
    fn = sample("residual")
    expr, params = oracle_residual()
    args = random_args(fn, seed=42)
    H = fn.hessian(*args)
    assert H.shape == (18, 18)
    assert_close(H, H.T, rtol=1e-12, atol=1e-14)
    assert_close(H, sympy_hessian(expr, params, args), rtol=1e-10, atol=1e-12)


# -- the size limit ---------------------------------------------------------------------

TOO_BIG = [
    "f(W[300,300]) = sum(W^2)",                 # a parameter of 90,000 elements, used whole
    "f(A[100,100], B[100,100]) = sum(A @ B)",   # one product of 1,000,000 multiplications
    "f(x[600], y[600,1]) = sum(x * y)",         # one broadcast to 360,000 elements
]


@pytest.mark.parametrize(("src", "at"), list(zip(TOO_BIG, ["W^2", "A @ B", "x * y"])))
def test_size_limit_is_refused_quickly(src: str, at: str) -> None:
    assert min(4 * 300 * 300, 600 * 600, 100 ** 3) > MAX_OPERATIONS   # each one is over
    start = time.perf_counter()
    with pytest.raises(ChainccError) as info:
        chaincc.compile(src, name="big.txt")
    elapsed = time.perf_counter() - start
    assert elapsed < 30.0          # refused up front, not after minutes of lowering
    assert (info.value.line, info.value.col) == (1, src.index(at) + 1)
    assert "small dense models" in info.value.message


@pytest.mark.parametrize("name", SAMPLE_ORACLES)
def test_chaincc_check_passes_on_array_samples(name: str, capsys) -> None:
    from chaincc.cli import main
    code = main(["check", str(SAMPLES / f"{name}.txt"), "--points", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = out.strip().splitlines()[2:-1]
    assert [r.split()[0] for r in rows] == list(sample(name).params)
    assert all(float(r.split()[1]) <= 1e-5 for r in rows)
    assert out.strip().endswith("ok")
