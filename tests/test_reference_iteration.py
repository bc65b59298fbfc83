"""The reference interpreter (chaincc/reference.py) on iteration: sizes, sums and products
over an index, arrays defined element by element, recurrences, slices and axes, zeros and
ones, and fixed points (docs/language.md, "Iteration").

Oracles that share no code with the interpreter's iteration: the same function written
out step by step as text generated here (one binding per step, sums as ``0 + a + b + …``),
evaluated through the interpreter's straight-line path; SymPy expressions built here by
hand, differentiated with ``sympy.diff`` and evaluated at random points; NumPy for values
of slices and axes; closed forms, NumPy's linear algebra (the implicit function theorem)
and finite differences of an independent solver for fixed points."""

from __future__ import annotations

import math
import time

import mpmath
import numpy as np
import pytest
import sympy as sp

from chaincc import reference
from chaincc import reference_math as R
from chaincc.diagnostics import ChainccError


def _args(rng: np.random.Generator, shapes, scale: float = 1.0) -> list:
    return [float(rng.uniform(-scale, scale)) if not s else rng.uniform(-scale, scale, s)
            for s in shapes]


def _same(looped: str, unrolled: str, args: list) -> None:
    """The looped source and its written-out form: the same values and derivatives, to
    the last bit (the same operations in the same order)."""
    v1, g1 = reference.evaluate(looped, args)
    v2, g2 = reference.evaluate(unrolled, args)
    np.testing.assert_array_equal(v1, v2)
    assert g1.keys() == g2.keys()
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k], err_msg=k)


def _symbols(name: str, shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = sp.Symbol(f"{name}_{'_'.join(map(str, idx))}", real=True)
    return out


def _against_sympy(source: str, expr: sp.Expr, params: list, seeds=(0, 1, 2),
                   scale: float = 1.0, rel: float = 1e-13) -> None:
    """``source``'s scalar value and gradient equal ``expr``'s (in the symbols
    ``params``: a Symbol or an object array of them per parameter) at random points."""
    for seed in seeds:
        rng = np.random.default_rng(seed)
        args = [float(rng.uniform(-scale, scale)) if isinstance(p, sp.Symbol) else
                rng.uniform(-scale, scale, p.shape) for p in params]
        subs = {}
        for p, a in zip(params, args):
            if isinstance(p, sp.Symbol):
                subs[p] = sp.Float(a, 40)
            else:
                subs.update({s: sp.Float(float(v), 40) for s, v in zip(p.flat, a.flat)})
        value, grads = reference.evaluate(source, args)
        assert math.isclose(value, float(expr.xreplace(subs).evalf(40)), rel_tol=rel,
                            abs_tol=1e-300)
        for p, g in zip(params, grads.values()):
            symbols = [p] if isinstance(p, sp.Symbol) else list(p.flat)
            want = [float(sp.diff(expr, s).xreplace(subs).evalf(40)) for s in symbols]
            np.testing.assert_allclose(np.ravel(g), want, rtol=rel, atol=1e-300)


def _error(source: str, args, line: int, col: int, *words: str) -> ChainccError:
    with pytest.raises(ChainccError) as info:
        reference.evaluate(source, args)
    err = info.value
    assert (err.line, err.col) == (line, col), str(err)
    for w in words:
        assert w in err.message, str(err)
    assert "^" in str(err)
    return err


# -- sizes ----------------------------------------------------------------------------
def test_sizes_are_numbers_and_give_shapes() -> None:
    src = "n = 3\nm = 2*(n + 1) - n\nf(x[m], W[n, m]) = x[m-1]*n + W[n-1, 0]*m"
    assert reference.signature(src).shapes == ((5,), (3, 5))
    rng = np.random.default_rng(1)
    x, W = rng.normal(size=5), rng.normal(size=(3, 5))
    value, grads = reference.evaluate(src, [x, W])
    assert value == x[4] * 3 + W[2, 0] * 5
    assert grads["x"].tolist() == [0, 0, 0, 0, 3.0]
    assert grads["W"][2, 0] == 5.0 and np.count_nonzero(grads["W"]) == 1


# -- sums and products over an index -------------------------------------------------------
def test_sums_equal_the_written_out_sum() -> None:
    n = 7
    terms = " + ".join(f"(y[{i}] - p[{i}])^2" for i in range(n))
    rng = np.random.default_rng(2)
    args = [rng.normal(size=n), rng.normal(size=n)]
    _same(f"n = {n}\nf(y[n], p[n]) = Σ_{{i=0}}^{{n-1}} (y[i] - p[i])^2 / n",
          f"f(y[{n}], p[{n}]) = (0 + {terms}) / {n}", args)
    _same(f"n = {n}\nf(y[n], p[n]) = sum((y[i] - p[i])^2 for i = 0..n-1) / n",
          f"f(y[{n}], p[{n}]) = (0 + {terms}) / {n}", args)
    # the product starts from 1, and the index is a number in arithmetic
    factors = "".join(f" * (1 + y[{k}]/({k}*2 + 1))" for k in range(n))
    _same(f"n = {n}\nf(y[n], p[n]) = prod(1 + y[k]/(2k + 1) for k = 0..n-1) + p[0]",
          f"f(y[{n}], p[{n}]) = (1{factors}) + p[0]", args)


def test_nested_ranges_run_outermost_first_and_see_the_enclosing_index() -> None:
    n = 4
    # a triangular double sum: j's range ends at the enclosing i
    acc = "0"
    for i in range(n):
        for j in range(i + 1):
            acc = f"({acc} + A[{i},{j}]*x[{j}])"
    rng = np.random.default_rng(3)
    args = [rng.normal(size=(n, n)), rng.normal(size=n)]
    _same(f"n = {n}\nf(A[n,n], x[n]) = sum(A[i,j]*x[j] for i = 0..n-1, j = 0..i)",
          f"f(A[{n},{n}], x[{n}]) = {acc}", args)
    # nested sums: each inner sum starts from 0 for every outer index
    rows = " + ".join("(0 + " + " + ".join(f"A[{i},{j}]*x[{i}]*x[{j}]" for j in range(n))
                      + ")" for i in range(n))
    _same(f"n = {n}\nf(A[n,n], x[n]) = sum(sum(A[i,j]*x[i]*x[j] for j = 0..n-1) "
          "for i = 0..n-1)", f"f(A[{n},{n}], x[{n}]) = 0 + {rows}", args)


def test_a_sum_of_vectors_and_sums_through_helpers() -> None:
    T, n = 5, 3
    rows = " + ".join(f"tanh(X[{t}] * v)" for t in range(T))
    rng = np.random.default_rng(4)
    args = [rng.normal(size=(T, n)), rng.normal(size=n)]
    _same(f"T = {T}\nn = {n}\nf(X[T,n], v[n]) = sum(sum(tanh(X[t] * v) for t = 0..T-1)^2)",
          f"f(X[{T},{n}], v[{n}]) = sum((0 + {rows})^2)", args)
    # a helper called in the body, a binding read in it, and Σ inside Σ's body
    terms = " + ".join(f"sq(X[{t},0] + c)" for t in range(T))
    _same(f"T = {T}\nn = {n}\nsq(a) = a^2\nc = v[1]\n"
          f"f(X[T,n], v[n]) = Σ_{{t=0}}^{{T-1}} sq(X[t,0] + c)",
          f"sq(a) = a^2\nc = v[1]\nf(X[{T},{n}], v[{n}]) = 0 + {terms}", args)


def test_sums_match_sympy() -> None:
    n = 3
    A, x = _symbols("A", (n, n)), _symbols("x", (n,))
    expr = sum((A[i, j] * x[i] * sp.sin(x[j]) for i in range(n) for j in range(n)),
               sp.Integer(0)) + sp.Mul(*[1 + x[k] * (k + 1) for k in range(n)])
    _against_sympy(f"n = {n}\nf(A[n,n], x[n]) = sum(A[i,j]*x[i]*sin(x[j]) for i = 0..n-1, "
                   "j = 0..n-1) + ∏_{k=0}^{n-1} (1 + x[k]·(k+1))", expr, [A, x])


def test_empty_ranges_and_index_variables() -> None:
    src = "f(x[3]) = sum(x[i] for i = 0..-1) + prod(x[i] for i = 2..1) + sum(x for i = 3..2)"
    assert reference.evaluate(src, [[1.0, 2.0, 3.0]]) == (1.0, {"x": pytest.approx([0, 0, 0])})
    # an index variable shadows a parameter of its name, and is the float64 number i
    value, grads = reference.evaluate("f(i, x[3]) = i + sum(i*x[i] + 0.5i for i = 0..2)",
                                      [10.0, [1.0, 2.0, 4.0]])
    assert value == 10.0 + (0 + 2.0 + 8.0) + 1.5
    assert grads["i"] == 1.0 and grads["x"].tolist() == [0.0, 1.0, 2.0]


def test_ten_thousand_nested_sums_need_no_recursion() -> None:
    n = 10_000
    src = "f(x) = " + "sum(" * n + "x" + " for i = 0..0)" * n
    assert reference.evaluate(src, [2.0]) == (2.0, {"x": 1.0})


# -- arrays defined element by element ----------------------------------------------------
def test_an_elementwise_definition_is_the_written_out_array() -> None:
    H, W = 6, 5
    src = (f"H = {H}\nW = {W}\ny[i, j] = Σ_{{k=0}}^{{2}} K[k]·x[i+k, j]   for i = 0..H-3, "
           "j = 0..W-1\nconv(K[3], x[H,W]) = sum(y^2) + y[1, 2]")
    terms = []
    for i in range(H - 2):
        for j in range(W):
            terms.append("(0 + " + " + ".join(f"K[{k}]*x[{i + k},{j}]" for k in range(3))
                         + ")^2")
    y12 = "(0 + " + " + ".join(f"K[{k}]*x[{1 + k},2]" for k in range(3)) + ")"
    # sum(y^2) adds the elements in row-major order, from the first
    unrolled = f"conv(K[3], x[{H},{W}]) = ({' + '.join(terms)}) + {y12}"
    rng = np.random.default_rng(5)
    _same(src, unrolled, [rng.normal(size=3), rng.normal(size=(H, W))])


def test_elementwise_elements_may_be_arrays() -> None:
    src = "n = 2\ny[i] = x[i] * v + i   for i = 0..n-1\nf(x[n], v[3]) = y"
    value, jac = reference.evaluate(src, [[1.0, 2.0], [1.0, 2.0, 3.0]])
    assert value.tolist() == [[1, 2, 3], [3, 5, 7]]
    assert jac["x"].shape == (2, 3, 2) and jac["v"].shape == (2, 3, 3)
    assert jac["x"][1, 2].tolist() == [0.0, 3.0]


# -- recurrences ----------------------------------------------------------------------------
def _rnn(T: int) -> tuple[str, str]:
    looped = (f"T = {T}\nh[0] = 0\nh[t+1] = tanh(w·h[t] + u·x[t])   for t = 0..T-1\n"
              "loss(w, u, x[T]) = h[T]²\n")
    lines = ["h0 = 0"] + [f"h{t + 1} = tanh(w*h{t} + u*x[{t}])" for t in range(T)]
    return looped, "\n".join(lines) + f"\nloss(w, u, x[{T}]) = h{T}^2\n"


def test_a_recurrence_is_its_steps_written_out() -> None:
    looped, unrolled = _rnn(30)
    rng = np.random.default_rng(6)
    _same(looped, unrolled, [0.7, -0.4, rng.normal(size=30)])


def test_directional_derivatives_through_a_recurrence() -> None:
    looped, _ = _rnn(12)
    rng = np.random.default_rng(12)
    point = [0.8, 0.6, rng.normal(size=12)]
    dirs = [0.3, -0.2, rng.normal(size=12)]
    _, grads = reference.evaluate(looped, point)
    _, along = reference.directional(looped, point, dirs)
    for (name, g), d in zip(grads.items(), dirs):
        assert math.isclose(along[name], float(np.sum(g * d)), rel_tol=1e-13, abs_tol=1e-16)


def test_a_recurrence_is_computed_once_per_frame() -> None:
    """Reading h[T] ten times, and h[t] in a sum, computes the steps once."""
    def numbers_made(body: str) -> int:
        src = f"T = 200\nh[0] = a\nh[t+1] = h[t]·a + 1   for t = 0..T-1\nf(a) = {body}"
        reference.functions(src)                  # parsed before counting
        before = R.CREATED
        reference.evaluate(src, [0.5])
        return R.CREATED - before

    once = numbers_made("h[T]")
    assert numbers_made(" + ".join(["h[T]"] * 10)) < once + 100
    assert numbers_made("h[T] + sum(h[t] for t = 0..T)") < 2 * once


def test_a_vector_state_and_reads_of_the_history() -> None:
    T, n, m = 6, 3, 2
    looped = (f"T = {T}\nn = {n}\nm = {m}\nh[0] = zeros(n)\n"
              "h[t+1] = tanh(W @ h[t] + U @ x[t] + b)   for t = 0..T-1\n"
              "f(W[n,n], U[n,m], b[n], x[T,m]) = sum(h[T]^2) + sum(h[t][1]^2 for t = 1..T)"
              " + h[2, 0]\n")
    lines = [f"h0 = [{', '.join(['0'] * n)}]"]
    lines += [f"h{t + 1} = tanh(W @ h{t} + U @ x[{t}] + b)" for t in range(T)]
    history = " + ".join(f"h{t}[1]^2" for t in range(1, T + 1))
    unrolled = "\n".join(lines) + (f"\nf(W[{n},{n}], U[{n},{m}], b[{n}], x[{T},{m}]) = "
                                   f"sum(h{T}^2) + (0 + {history}) + h2[0]\n")
    rng = np.random.default_rng(7)
    _same(looped, unrolled, [rng.normal(size=(n, n)) / 2, rng.normal(size=(n, m)),
                             rng.normal(size=n) * 0.1, rng.normal(size=(T, m))])


def _lstm(T: int, n: int, h_first: bool) -> tuple[str, str]:
    c_step = ("c[t+1] = sigmoid(Wf @ h[t] + x[t]) * c[t] + sigmoid(Wi @ h[t]) * "
              "tanh(Wc @ h[t] + x[t])   for t = 0..T-1\n")
    h_step = "h[t+1] = sigmoid(Wo @ h[t]) * tanh(c[t+1])   for t = 0..T-1\n"
    looped = (f"T = {T}\nn = {n}\nh[0] = zeros(n)\nc[0] = zeros(n)\n"
              + (h_step + c_step if h_first else c_step + h_step)
              + "loss(Wf[n,n], Wi[n,n], Wc[n,n], Wo[n,n], x[T,n]) = sum(h[T]) + sum(c[T]^2)\n")
    zeros = "[" + ", ".join(["0"] * n) + "]"
    lines = [f"h0 = {zeros}", f"c0 = {zeros}"]
    for t in range(T):
        lines.append(f"c{t + 1} = sigmoid(Wf @ h{t} + x[{t}]) * c{t} + sigmoid(Wi @ h{t}) * "
                     f"tanh(Wc @ h{t} + x[{t}])")
        lines.append(f"h{t + 1} = sigmoid(Wo @ h{t}) * tanh(c{t + 1})")
    unrolled = "\n".join(lines) + (f"\nloss(Wf[{n},{n}], Wi[{n},{n}], Wc[{n},{n}], "
                                   f"Wo[{n},{n}], x[{T},{n}]) = sum(h{T}) + sum(c{T}^2)\n")
    return looped, unrolled


@pytest.mark.parametrize("h_first", [False, True])
def test_states_of_one_loop_read_each_other(h_first: bool) -> None:
    """An LSTM: c's step reads h[t], h's step reads c[t+1], in either order of writing."""
    T, n = 5, 2
    looped, unrolled = _lstm(T, n, h_first)
    rng = np.random.default_rng(8)
    _same(looped, unrolled, [rng.normal(size=(n, n)) * 0.5 for _ in range(4)]
          + [rng.normal(size=(T, n))])


def test_a_recurrence_matches_sympy() -> None:
    T = 4
    w, a = sp.Symbol("w", real=True), sp.Symbol("a", real=True)
    x = _symbols("x", (T,))
    h = [a]
    for t in range(T):
        h.append(sp.sin(w * h[t]) + x[t] * sp.cos(t * w))
    expr = sum((h[t] ** 2 for t in range(1, T + 1)), sp.Integer(0)) + h[T] + h[1] * h[2]
    _against_sympy(f"T = {T}\nh[0] = a\nh[t+1] = sin(w·h[t]) + x[t]·cos(t·w)   for t = 0..T-1\n"
                   "f(w, a, x[T]) = sum(h[t]^2 for t = 1..T) + h[T] + h[1]·h[2]",
                   expr, [w, a, x])


def test_several_starts_and_a_step_reading_two_back() -> None:
    """h[0] = a, h[1] = b, h[t+2] = h[t+1] + h[t]: h[k] = F(k-1)·a + F(k)·b."""
    src = ("T = 20\nh[0] = a\nh[1] = b\nh[t+2] = h[t+1] + h[t]   for t = 0..T-2\n"
           "f(a, b) = h[T] + h[7]")
    fib = [0, 1]
    while len(fib) < 22:
        fib.append(fib[-1] + fib[-2])
    value, grads = reference.evaluate(src, [0.5, 0.25])
    want_a, want_b = fib[19] + fib[6], fib[20] + fib[7]
    assert (value, grads["a"], grads["b"]) == (0.5 * want_a + 0.25 * want_b, want_a, want_b)


def test_a_recurrence_is_evaluated_in_the_frame_that_uses_it() -> None:
    """A recurrence naming a helper's parameter has, in each call, that call's values."""
    src = ("T = 5\nh[0] = s\nh[t+1] = h[t]·s   for t = 0..T-1\ng(s) = h[T]\n"
           "f(a, b) = g(a) + 2g(b)")
    value, grads = reference.evaluate(src, [1.5, -0.5])
    assert value == 1.5 ** 6 + 2 * (-0.5) ** 6
    assert grads == {"a": 6 * 1.5 ** 5, "b": 12 * (-0.5) ** 5}


def test_a_hundred_thousand_steps_run_without_recursion_in_seconds() -> None:
    """h[t+1] = a·h[t] + b from h[0] = 0: h[T] = b(1 - a^T)/(1 - a)."""
    T, a, b = 100_000, 0.99999, 0.5
    src = f"T = {T}\nh[0] = 0\nh[t+1] = a·h[t] + b   for t = 0..T-1\nf(a, b) = h[T]"
    start = time.perf_counter()
    value, grads = reference.evaluate(src, {"a": a, "b": b})
    elapsed = time.perf_counter() - start
    A, B = mpmath.mpf(a), mpmath.mpf(b)
    with mpmath.workprec(200):
        h = B * (1 - A ** T) / (1 - A)
        dh_da = B * (-T * A ** (T - 1) * (1 - A) + (1 - A ** T)) / (1 - A) ** 2
        dh_db = (1 - A ** T) / (1 - A)
    assert math.isclose(value, float(h), rel_tol=1e-14)
    assert math.isclose(grads["a"], float(dh_da), rel_tol=1e-13)
    assert math.isclose(grads["b"], float(dh_db), rel_tol=1e-14)
    assert elapsed < 20, elapsed


# -- slices, axes, zeros and ones ---------------------------------------------------------
def test_slices_select_as_numpy_does() -> None:
    rng = np.random.default_rng(9)
    W, x = rng.normal(size=(4, 4)), rng.normal(size=5)
    for text, want in (("W[1, :]", W[1, :]), ("W[:, 2]", W[:, 2]), ("W[1:3, 2:]", W[1:3, 2:]),
                       ("W[:2]", W[:2]), ("x[1:4]", x[1:4]), ("x[:2]*x[3:]", x[:2] * x[3:]),
                       ("x[4:][0]", x[4]), ("x[:]", x)):
        value, _ = reference.evaluate(f"f(W[4,4], x[5]) = {text}", [W, x])
        np.testing.assert_array_equal(value, want, err_msg=text)
    # ends are integer expressions, with sizes and range variables
    xs = _symbols("x", (5,))
    expr = sum((xs[i] + xs[i + 1]) * i for i in range(4))
    _against_sympy("n = 5\nf(x[n]) = sum(sum(x[i:i+2]) * i for i = 0..n-2) + 0*sum(x[:n])",
                   expr, [xs], seeds=(0,))


def test_axis_reductions_as_numpy_computes_them() -> None:
    rng = np.random.default_rng(10)
    A = rng.normal(size=(2, 3, 2))
    for axis in (0, 1, 2, -1, -3):
        for name, want in (("sum", A.sum(axis=axis)), ("mean", A.mean(axis=axis)),
                           ("prod", A.prod(axis=axis)), ("max", A.max(axis=axis)),
                           ("min", A.min(axis=axis))):
            value, _ = reference.evaluate(f"f(A[2,3,2]) = {name}(A, axis={axis})", [A])
            np.testing.assert_allclose(value, want, rtol=1e-15, err_msg=f"{name} {axis}")
        e = np.exp(A - A.max(axis=axis, keepdims=True))
        value, _ = reference.evaluate(f"f(A[2,3,2]) = softmax(A, axis={axis})", [A])
        np.testing.assert_allclose(value, e / e.sum(axis=axis, keepdims=True), rtol=1e-15)
        value, _ = reference.evaluate(f"f(A[2,3,2]) = logsumexp(A, axis={axis})", [A])
        np.testing.assert_allclose(value, np.log(np.exp(A).sum(axis=axis)), rtol=1e-14)
    # the axis is an integer expression (a size here); ties go to the first element
    value, grads = reference.evaluate("k = 1 - 1\nf(A[2,2]) = sum(max(A, axis=k))",
                                      [[[1.0, 2.0], [1.0, 5.0]]])
    assert value == 6.0 and grads["A"].tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_axis_derivatives_match_sympy() -> None:
    A = _symbols("A", (2, 3))
    cols = [A[0, j] + A[1, j] for j in range(3)]
    means = [(A[i, 0] + A[i, 1] + A[i, 2]) / 3 for i in range(2)]
    lse = [sp.log(sp.exp(A[0, j]) + sp.exp(A[1, j])) for j in range(3)]
    soft = sp.exp(A[1, 2]) / (sp.exp(A[0, 2]) + sp.exp(A[1, 2]))
    expr = cols[0] ** 2 + 2 * cols[2] + means[1] * means[0] + lse[1] + soft \
        + A[0, 1] * A[1, 1]
    _against_sympy("f(A[2,3]) = sum(sum(A, axis=0)^2 * [1, 0, 0]) + 2sum(A, axis=0)[2] "
                   "+ prod(mean(A, axis=-1)) + logsumexp(A, axis=0)[1] "
                   "+ softmax(A, axis=0)[1, 2] + prod(A, axis=0)[1]", expr, [A])


def test_zeros_and_ones() -> None:
    src = "n = 3\nf(x[n]) = sum((x + ones(n))^2) + sum(ones(2, n) @ x) + sum(zeros(n)*x)"
    xs = _symbols("x", (3,))
    _against_sympy(src, sum(((v + 1) ** 2 for v in xs), sp.Integer(0)) + 2 * sum(xs), [xs])
    value, grads = reference.evaluate("m = 2\nf(x) = zeros(m, 3) + ones(1, 3)*x", [2.0])
    assert value.tolist() == [[2.0] * 3] * 2 and grads["x"].tolist() == [[1.0] * 3] * 2


# -- fixed points ------------------------------------------------------------------------
def test_a_fixed_point_with_a_closed_form() -> None:
    """z = a·z + b has z = b/(1-a), ∂z/∂a = b/(1-a)², ∂z/∂b = 1/(1-a): the derivative
    carried through the iterations converges to the solution's."""
    src = "f(a, b) = fixpoint(z -> a·z + b, 0)"
    for a, b in ((0.5, 1.0), (-0.7, 0.3), (0.9, -2.0)):
        value, grads = reference.evaluate(src, [a, b])
        tol = 1e-12 * 10 / (1 - abs(a))
        assert math.isclose(value, b / (1 - a), rel_tol=tol)
        assert math.isclose(grads["a"], b / (1 - a) ** 2, rel_tol=tol)
        assert math.isclose(grads["b"], 1 / (1 - a), rel_tol=tol)
    # a tighter tol, and a start that is a binding named as the parameter
    value, grads = reference.evaluate("z = 1\nf(a, b) = fixpoint(z -> a·z + b, z, tol=1e-40)",
                                      [0.5, 1.0])
    assert (value, grads) == (2.0, {"a": 4.0, "b": 2.0})


def test_a_fixed_point_matches_an_independent_solver_and_finite_differences() -> None:
    """z = cos(z)·x + y: Newton's method (mpmath.findroot) solves it at 50 digits, and its
    central differences give the derivatives."""
    src = "f(x, y) = fixpoint(z -> cos(z)·x + y, 0, tol=1e-14)"

    def solve(x, y):
        with mpmath.workdps(50):
            return mpmath.findroot(lambda z: mpmath.cos(z) * x + y - z, 0.5)

    x, y, h = mpmath.mpf("0.6"), mpmath.mpf("0.3"), mpmath.mpf("1e-12")
    value, grads = reference.evaluate(src, [0.6, 0.3])
    with mpmath.workdps(50):
        x, y = mpmath.mpf(0.6), mpmath.mpf(0.3)
        dx = (solve(x + h, y) - solve(x - h, y)) / (2 * h)
        dy = (solve(x, y + h) - solve(x, y - h)) / (2 * h)
        assert math.isclose(value, float(solve(x, y)), rel_tol=1e-13)
    assert math.isclose(grads["x"], float(dx), rel_tol=1e-12)
    assert math.isclose(grads["y"], float(dy), rel_tol=1e-12)


def test_a_vector_fixed_point_has_the_implicit_function_theorems_derivative() -> None:
    """z = tanh(W z + U x): ∂z/∂x = (I - D W)⁻¹ D U with D = diag(1 - z²), by NumPy."""
    n, m = 3, 2
    src = (f"n = {n}\nm = {m}\nf(W[n,n], U[n,m], x[m]) = "
           "fixpoint(z -> tanh(W @ z + U @ x), zeros(n), tol=1e-14, maxiter=500)")
    rng = np.random.default_rng(11)
    W, U, x = rng.normal(size=(n, n)) * 0.3, rng.normal(size=(n, m)), rng.normal(size=m)
    value, jac = reference.evaluate(src, [W, U, x])
    z = np.zeros(n)
    for _ in range(2000):
        z = np.tanh(W @ z + U @ x)
    np.testing.assert_allclose(value, z, rtol=1e-13)
    D = np.diag(1 - z ** 2)
    inverse = np.linalg.inv(np.eye(n) - D @ W)
    np.testing.assert_allclose(jac["x"], inverse @ D @ U, rtol=1e-11)
    # ∂z/∂W[j,k] = (I - D W)⁻¹ D e_j z_k
    want = np.einsum("ij,k->ijk", inverse @ D, z)
    np.testing.assert_allclose(jac["W"], want, rtol=1e-11, atol=1e-15)


def test_the_iteration_goes_on_until_the_derivatives_have_converged() -> None:
    """z ← b + 0.9·(z - floor(z)) from z = b = 2: the value is 2 from the first iteration,
    while the derivative it carries goes 1, 1.9, 2.71, … to the solution's
    ∂z/∂b = 1/(1 - 0.9) = 10 (floor has no derivative)."""
    src = "f(b) = fixpoint(z -> b + 0.9·(z - floor(z)), b, maxiter={})"
    value, grads = reference.evaluate(src.format(1000), [2.0])
    assert value == 2.0
    assert math.isclose(grads["b"], 10.0, rel_tol=1e-10)
    # the derivative needs about 260 iterations after the value's first
    _error(src.format(100), [2.0], 1, 8,
           "fixpoint in 'f': the value converged but its derivative did not within 100 "
           "more iterations")


def test_a_fixed_point_that_does_not_converge_is_an_error_naming_the_function() -> None:
    src = "g(a) = fixpoint(z -> a·z + 1, 0, maxiter=50)\nf(a) = g(a) + 1"
    err = _error(src, [1.5], 1, 8, "fixpoint in 'g' did not converge within 50 iterations")
    assert isinstance(err, reference.NotConverged)
    assert reference.evaluate(src, [0.5])[0] == pytest.approx(3.0, rel=1e-12)
    # checking the other functions of the file (at 1, where g diverges) is no error
    assert reference.evaluate(src + "\nh(x) = 2x", [3.0])[0] == 6.0


# -- errors ---------------------------------------------------------------------------------
RECURRENCE = "T = 10\nh[0] = 0\nh[t+1] = {step}   for t = 0..T-1\nf(x[T]) = {read}\n"


@pytest.mark.parametrize(("source", "line", "col", "words"), [
    (RECURRENCE.format(step="h[t+1] + x[t]", read="h[T]"), 3, 10,
     "reads h[1]: a step may read h[t] and earlier elements"),
    (RECURRENCE.format(step="h[t] + x[t+1]", read="h[T]"), 3, 19, "index 10 is out of range"),
    (RECURRENCE.format(step="h[t] + x[t]", read="h[T+1]"), 4, 13,
     "index 11 is outside the elements of 'h' (0 to 10)"),
    (RECURRENCE.format(step="h[t] + x[t]", read="h"), 4, 11, "'h' is a recurrence"),
    (RECURRENCE.format(step="h[t] + x[t]", read="h[1:3]"), 4, 13, "'h' is a recurrence"),
    (RECURRENCE.format(step="h[t] + x[t]", read="h[T] + t"), 4, 18, "unknown name 't'"),
    (RECURRENCE.format(step="h[t] + x", read="h[T]"), 3, 10,
     "h[1] is of shape [10] but h[0] is a scalar"),
    ("T = 10\nh[0] = 0\nh[t+1] = h[t]   for t = 1..T-1\nf(x) = h[T]", 3, 25,
     "the steps of 'h' must continue the start"),
    ("T = 10\nh[0] = 0\nh[1] = 2\nh[t+1] = h[t]   for t = 0..T-1\nf(x) = h[T]", 4, 25,
     "h[1] is defined twice"),
    ("h[0] = 0\nc[0] = 0\nh[t+1] = c[t+1]   for t = 0..3\nc[t+1] = h[t+1]   for t = 0..3\n"
     "f(x) = h[2]", 4, 10, "two states of a loop may not read each other's t+1"),
    ("h[0] = 0\nh[2t] = h[t]   for t = 0..3\nf(x) = h[2]", 2, 3,
     "the index of a step must be its range variable plus a constant"),
    ("y[i] = i   for i = 1..3\nf(x) = sum(y)", 1, 20, "start at 0"),
    ("n = 5\nf(x[n]) = sum(x[i] for i = 0..n)", 2, 17, "index 5 is out of range"),
    ("n = 5\nf(x[n]) = sum(x[i/2] for i = 0..n-1)", 2, 17, "must be a constant integer"),
    ("f(x) = sum(x for i = 0..x)", 1, 25, "the end of a range must be a constant integer"),
    ("f(x) = sum(x for i = 0..999999999)", 1, 18, "more than the reference interpreter"),
    ("f(x) = sum(ones(300, 300) @ ones(300, 300)) * x", 1, 12,
     "more than the reference interpreter"),
    ("f(x[5]) = sum(x[1:9])", 1, 19, "slice end 9 is out of range"),
    ("f(x[5]) = sum(x[3:3])", 1, 17, "the slice 3:3 of axis 0 has no element"),
    ("f(A[2,3]) = sum(A, axis=2)", 1, 20, "axis 2 is out of range"),
    ("f(A[2,3]) = sum(A, keepdims=1)", 1, 20, "'sum' takes axis=, not keepdims="),
    ("f(A[2,3]) = norm(A, axis=0)", 1, 21, "'norm' takes no keyword arguments"),
    ("f(A[2,3]) = max(A, A, axis=0)[0, 0]", 1, 23, "takes one array"),
    ("f(x) = sum(zeros(0))", 1, 18, "a size must be a positive integer"),
    ("f(x) = sum(ones(x))", 1, 17, "a size must be a constant integer"),
    ("f(x) = fixpoint(x, 0)", 1, 17, "written 'z -> …'"),
    ("f(x) = fixpoint(z -> z/2, 0, tol=x)", 1, 34, "tol must be a constant number"),
    ("f(x) = fixpoint(z -> [z, z], 0)", 1, 22, "the function of fixpoint gives"),
])
def test_iteration_errors_are_located(source: str, line: int, col: int, words: str) -> None:
    shapes = reference.signature(source).shapes
    _error(source, [np.ones(s) if s else 1.0 for s in shapes], line, col, words)
