"""Slices (``x[a:b]``, ``W[i, :]``), ``axis=k`` on the reductions and softmax, and
``zeros``/``ones``: compiled values and gradients against oracles that share no code with
chaincc (SymPy expressions built here by hand from element symbols, differentiated with
``sympy.diff``; NumPy for the values), and the errors, located with their carets."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import sympy as sp

import chaincc
from chaincc.diagnostics import ChainccError


def arr(name: str, *shape: int) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = sp.Symbol(f"{name}_{'_'.join(map(str, idx))}")
    return out


@functools.cache
def compiled(text: str) -> chaincc.Function:
    return chaincc.compile(text)


def check(text: str, expr: sp.Expr, params: list[np.ndarray], seeds=(0, 1, 2),
          low: float = -1.5, high: float = 1.5) -> None:
    """The function of ``text`` has the value and gradient of ``expr`` (in the element
    symbols ``params``) at random points."""
    fn = compiled(text)
    assert list(fn.shapes) == [p.shape for p in params]
    grads = [np.vectorize(lambda s: sp.diff(expr, s), otypes=[object])(p) for p in params]
    for seed in seeds:
        rng = np.random.default_rng(seed)
        args = [rng.uniform(low, high, p.shape) for p in params]
        subs = {s: sp.Float(float(v)) for p, a in zip(params, args)
                for s, v in zip(p.reshape(-1), a.reshape(-1))}
        value, got = fn.value_and_grad(*args)
        assert value == pytest.approx(float(expr.xreplace(subs)), rel=1e-12, abs=1e-12)
        for g, want in zip(got, grads):
            expected = np.reshape([float(sp.sympify(e).xreplace(subs))
                                   for e in want.reshape(-1)], want.shape)
            np.testing.assert_allclose(g, expected, rtol=1e-10, atol=1e-12)


def total(values) -> sp.Expr:
    return sp.Add(*np.asarray(values, dtype=object).reshape(-1))


# ------------------------------------------------------------------------- axis=


def test_sum_along_axis_0() -> None:
    A = arr("A", 2, 3)
    expr = total([(A[0, j] + A[1, j]) ** 2 for j in range(3)])
    check("f(A[2,3]) = sum(sum(A, axis=0)^2)", expr, [A])


def test_sum_along_the_last_axis_and_negative_axes() -> None:
    A = arr("A", 2, 3)
    rows = [A[i, 0] + A[i, 1] + A[i, 2] for i in range(2)]
    expr = rows[0] ** 2 + 3 * rows[1] ** 2
    check("f(A[2,3]) = sum(sum(A, axis=-1)^2 * [1, 3])", expr, [A])
    check("f(A[2,3]) = sum(sum(A, axis=1)^2 * [1, 3])", expr, [A])
    cols = [A[0, j] + A[1, j] for j in range(3)]
    check("f(A[2,3]) = sum(sum(A, axis=-2) * [1, 2, 3])",
          cols[0] + 2 * cols[1] + 3 * cols[2], [A])


def test_mean_prod_max_min_along_axes() -> None:
    A = arr("A", 2, 3)
    means = [(A[i, 0] + A[i, 1] + A[i, 2]) / 3 for i in range(2)]
    prods = [A[0, j] * A[1, j] for j in range(3)]
    maxes = [sp.Max(A[0, j], A[1, j]) for j in range(3)]
    mins = [sp.Min(A[i, 0], A[i, 1], A[i, 2]) for i in range(2)]
    expr = (means[0] + 2 * means[1] + total(prods) + maxes[0] + 2 * maxes[1] - maxes[2]
            - mins[0] * mins[1])
    check("f(A[2,3]) = sum(mean(A, axis=1)*[1, 2]) + sum(prod(A, axis=0)) "
          "+ sum(max(A, axis=0)*[1, 2, -1]) - prod(min(A, axis=-1))", expr, [A])


def test_logsumexp_and_softmax_along_axis_0() -> None:
    A = arr("A", 3, 2)
    C = np.array([[1.0, -2.0], [0.5, 3.0], [-1.0, 2.0]])
    lse = [sp.log(sp.Add(*[sp.exp(A[i, j]) for i in range(3)])) for j in range(2)]
    soft = np.empty((3, 2), dtype=object)
    for j in range(2):
        column = sp.Add(*[sp.exp(A[i, j]) for i in range(3)])
        for i in range(3):
            soft[i, j] = sp.exp(A[i, j]) / column
    expr = lse[0] * 2 + lse[1] + total(soft * C)
    literal = "[[1, -2], [0.5, 3], [-1, 2]]"
    check(f"f(A[3,2]) = 2logsumexp(A, axis=0)[0] + logsumexp(A, axis=0)[1] "
          f"+ sum(softmax(A, axis=0) * {literal})", expr, [A])
    # NumPy values of the axis-0 results themselves
    fn = compiled("g(A[3,2]) = softmax(A, axis=0)")
    h = compiled("h(A[3,2]) = logsumexp(A, axis=0)")
    a = np.random.default_rng(5).normal(size=(3, 2))
    e = np.exp(a - a.max(axis=0))
    np.testing.assert_allclose(fn(a), e / e.sum(axis=0), rtol=1e-14)
    np.testing.assert_allclose(h(a), np.log(np.exp(a).sum(axis=0)), rtol=1e-14)


def test_softmax_along_the_last_axis_is_the_default() -> None:
    a = np.random.default_rng(6).normal(size=(2, 4))
    np.testing.assert_array_equal(compiled("f(A[2,4]) = softmax(A, axis=-1)")(a),
                                  compiled("f(A[2,4]) = softmax(A)")(a))
    np.testing.assert_array_equal(compiled("f(A[2,4]) = logsumexp(A, axis=1)")(a),
                                  compiled("f(A[2,4]) = logsumexp(A)")(a))


def test_axes_of_a_three_dimensional_parameter() -> None:
    T = arr("T", 2, 3, 2)
    middle = np.empty((2, 2), dtype=object)
    for i in range(2):
        for k in range(2):
            middle[i, k] = sp.Add(*[T[i, j, k] for j in range(3)])
    check("f(T[2,3,2]) = sum(sum(T, axis=1)^2)", total(middle ** 2), [T], seeds=(0,))
    t = np.random.default_rng(7).normal(size=(2, 3, 2))
    for axis in (0, 1, 2, -1, -3):
        fn = compiled(f"f(T[2,3,2]) = sum(T, axis={axis})")
        np.testing.assert_allclose(fn(t), t.sum(axis=axis), rtol=1e-14)
        fn = compiled(f"f(T[2,3,2]) = softmax(T, axis={axis})")
        e = np.exp(t - t.max(axis=axis, keepdims=True))
        np.testing.assert_allclose(fn(t), e / e.sum(axis=axis, keepdims=True), rtol=1e-14)


def test_axis_reaches_a_call_read_from_a_split_word() -> None:
    # 'asum' is no name here: it is a·sum(...), and the keyword goes with the call
    a = np.random.default_rng(9).normal(size=(2, 3))
    fn = compiled("f(a, A[2,3]) = asum(A, axis=0)")
    np.testing.assert_allclose(fn(1.5, a), 1.5 * a.sum(axis=0), rtol=1e-14)


def test_axis_given_by_a_size() -> None:
    A = arr("A", 2, 3)
    expr = total([(A[0, j] + A[1, j]) ** 2 for j in range(3)])
    check("k = 1 - 1\nf(A[2,3]) = sum(sum(A, axis=k)^2)", expr, [A], seeds=(0,))


# ------------------------------------------------------------------------ slices


def test_row_and_column_slices() -> None:
    W, x = arr("W", 3, 3), arr("x", 3)
    expr = total(W[1, :] * x) + total(W[:, 2])
    check("g(W[3,3], x[3]) = sum(W[1, :]*x) + sum(W[:, 2])", expr, [W, x])


def test_ranges_of_a_vector() -> None:
    x = arr("x", 5)
    check("h(x[5]) = sum(x[1:4]^2)", total(x[1:4] ** 2), [x])
    check("h(x[5]) = sum(x[:2]*x[3:]) + sum(x[:]) + x[4:][0]",
          total(x[:2] * x[3:]) + total(x) + x[4], [x])


def test_slices_of_a_matrix_with_sizes() -> None:
    n = 4
    W, v = arr("W", n, n), arr("v", n)
    block = W[1:n - 1, :2]                   # 2×2
    expr = total((block @ v[2:]) ** 2) + total(W[n - 1, 1:])
    check(f"n = {n}\nf(W[n,n], v[n]) = sum((W[1:n-1, :2] @ v[2:n])^2) + sum(W[n-1, 1:])",
          expr, [W, v], seeds=(0, 1))
    w = np.random.default_rng(8).normal(size=(n, n))
    fn = compiled("n = 4\nf(W[n,n]) = W[1:3, 1:][:, 2:] + W[:2, 3:]")
    np.testing.assert_array_equal(fn(w), w[1:3, 1:][:, 2:] + w[:2, 3:])


# ----------------------------------------------------------------- zeros, ones


def test_zeros_and_ones() -> None:
    x = arr("x", 3)
    expr = total([(x[i] + 1) ** 2 for i in range(3)]) + 2 * total(x)
    check("n = 3\nf(x[n]) = sum((x + ones(n))^2) + sum(ones(2, n) @ x) + sum(zeros(n)*x)",
          expr, [x])
    fn = compiled("m = 2\nf(x) = zeros(m, 3) + ones(1, 3)*x + zeros(1)")
    np.testing.assert_array_equal(fn(2.0), np.full((2, 3), 2.0))
    assert compiled("f(x) = sum(ones(2.0, 3) + x)")(1.0) == 12.0


# ------------------------------------------------------------------------ errors


@pytest.mark.parametrize(("text", "line", "col", "width", "message"), [
    ("h(x[5]) = sum(x[1:9])", 1, 19, 1, "slice end 9 is out of range for axis 0 of x[5]"),
    ("h(x[5]) = sum(x[-1:])", 1, 17, 2, "slice end -1 is out of range for axis 0 of x[5]"),
    ("h(W[2,5]) = sum(W[0, 2:6])", 1, 24, 1,
     "slice end 6 is out of range for axis 1 of W[2,5]"),
    ("h(x[5]) = sum(x[3:2])", 1, 17, 3, "the slice 3:2 of axis 0 of x[5] has no element"),
    ("h(x[5]) = sum(x[2:2])", 1, 17, 3, "the slice 2:2 of axis 0 of x[5] has no element"),
    ("h(x[5], a) = sum(x[0:a])", 1, 22, 1, "a slice end must be a constant integer"),
    ("h(x[5]) = sum(x[0.5:])", 1, 17, 3, "a slice end must be a constant integer"),
    ("h(x) = x[1:]", 1, 8, 5, "cannot index x (a scalar)"),
    ("f(A[2,3]) = sum(A, axis=2)", 1, 20, 6, "axis 2 is out of range for A[2,3]"),
    ("f(A[2,3]) = sum(A, axis=-3)", 1, 20, 7, "axis -3 is out of range for A[2,3]"),
    ("f(x) = softmax(x, axis=0)", 1, 19, 6, "axis 0 is out of range for x (a scalar)"),
    ("f(A[2,3], k) = sum(A, axis=k)", 1, 28, 1,
     "axis must be a constant integer (axis=0, axis=-1)"),
    ("f(A[2,3]) = sum(A, axis=0.5)", 1, 25, 3, "axis must be a constant integer"),
    ("f(A[2,3]) = norm(A, axis=0)", 1, 21, 6, "'norm' takes no keyword arguments"),
    ("f(A[2,3]) = sum(sin(A, axis=0))", 1, 24, 6, "'sin' takes no keyword arguments"),
    ("f(A[2,3]) = sum(A, keepdims=1)", 1, 20, 10,
     "'sum' takes no keyword argument 'keepdims' (its one keyword argument is axis=k)"),
    ("f(A[2,3]) = max(A, A, axis=0)[0,0]", 1, 23, 6,
     "'max' with axis= takes one array: max(A, axis=k)"),
    ("g(t) = t\nf(x) = g(x, scale=2)", 2, 13, 7, "'g' takes no keyword arguments"),
    ("v = 2\nf(x) = v(x, a=1)", 2, 8, 1, "'v' is not a function"),
    ("f(x) = x(x, a=1)", 1, 8, 1, "'x' is not a function"),
    ("f(x) = sum(zeros(0))", 1, 18, 1,
     "the sizes of zeros(…) are positive integers (numbers or sizes), got 0 (a scalar)"),
    ("f(x) = sum(ones(2.5))", 1, 17, 3, "the sizes of ones(…) are positive integers"),
    ("f(x) = sum(ones(x))", 1, 17, 1, "the sizes of ones(…) are positive integers"),
    ("f(x) = sum(ones([2]))", 1, 17, 3, "the sizes of ones(…) are positive integers"),
    ("f(x) = sum(zeros(2, axis=0))", 1, 21, 6, "'zeros' takes no keyword arguments"),
    ("f(x) = sum(zeros(1000, 1000))", 1, 12, 17, "more than 100,000 scalar operations"),
    ("f(x) = zeros()", 1, 8, 7, "'zeros' takes at least 1 argument, got 0"),
])
def test_errors(text: str, line: int, col: int, width: int, message: str) -> None:
    with pytest.raises(ChainccError) as info:
        chaincc.compile(text)
    err = info.value
    assert (err.line, err.col) == (line, col), str(err)
    assert message in err.message, str(err)
    rendered = str(err).split("\n")
    assert rendered[1] == "    " + text.split("\n")[line - 1]
    assert rendered[2] == "    " + " " * (col - 1) + "^" + "~" * (width - 1)
