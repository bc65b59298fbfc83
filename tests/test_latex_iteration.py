"""Sums and products over an index in LaTeX (docs/language.md, "LaTeX", "Sums and products
over an index"): each LaTeX function is compared, in value and gradient at random points,
with the same function written in the text syntax with its sum written out term by term
(no iteration on that side), and with a SymPy expression built here by hand and
differentiated with sympy.diff; malformed sums are errors with their caret in the LaTeX."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
import sympy as sp

import chaincc
from chaincc.diagnostics import ChainccError
from chaincc.latex import NotComputable, parse_latex
from chaincc.source import Source
from chaincc.syntax import Reduce

TOL = 1e-12


def latex(text: str) -> chaincc.Function:
    return chaincc.compile(text, syntax="latex")


def points(shapes: tuple[tuple[int, ...], ...], seed: int, count: int = 3) -> list[list]:
    rng = np.random.default_rng(seed)
    return [[rng.uniform(0.3, 0.9, s) if s else float(rng.uniform(0.3, 0.9))
             for s in shapes] for _ in range(count)]


def assert_same(fn, ref, shapes: tuple[tuple[int, ...], ...], seed: int) -> None:
    """``fn`` and ``ref`` agree in value and gradient (to 1e-12) at random points."""
    assert fn.params == ref.params and fn.shapes == ref.shapes == shapes
    for args in points(shapes, seed):
        value, grad = fn.value_and_grad(*args)
        want, want_grad = ref.value_and_grad(*args)
        assert value == pytest.approx(want, rel=TOL, abs=TOL)
        for got, exp in zip(grad, want_grad, strict=True):
            np.testing.assert_allclose(got, exp, rtol=TOL, atol=TOL)


def symbols_for(name: str, shape: tuple[int, ...]) -> np.ndarray:
    flat = [sp.Symbol(f"{name}_{k}", real=True) for k in range(int(np.prod(shape)))]
    return np.array(flat, dtype=object).reshape(shape)


def assert_oracle(fn, shapes: tuple[tuple[int, ...], ...],
                  meaning: Callable[..., sp.Expr], seed: int) -> None:
    """``fn`` agrees with ``meaning`` (over arrays of SymPy symbols, one per element),
    differentiated by sympy.diff, in value and gradient."""
    arrays = [symbols_for(f"p{k}", s) for k, s in enumerate(shapes)]
    expr = meaning(*arrays)
    flat = [sym for a in arrays for sym in a.flat]
    derivatives = [sp.diff(expr, sym) for sym in flat]
    for args in points(shapes, seed + 1, 2):
        subs = {sym: sp.Float(float(v), 30) for a, arg in zip(arrays, args)
                for sym, v in zip(a.flat, np.asarray(arg).flat)}
        value, grad = fn.value_and_grad(*args)
        assert value == pytest.approx(float(expr.evalf(30, subs=subs)), rel=1e-9)
        got = np.concatenate([np.asarray(g).ravel() for g in grad])
        want = [float(d.evalf(30, subs=subs)) for d in derivatives]
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def written_out(n: int, term: Callable[[int], str], op: str = " + ") -> str:
    return "(" + op.join(term(i) for i in range(n)) + ")"


# ------------------------------------------------------------------ the brief's cases


@pytest.mark.parametrize("n", [4, 20])          # 20 terms: the sum compiles as a loop
def test_squared_error(n: int) -> None:
    fn = latex(rf"$n = {n}$ and $$L(y \in \mathbb{{R}}^{{n}}, p \in \mathbb{{R}}^{{n}}) = "
               r"\frac{1}{n}\sum_{i=0}^{n-1} (y_i - p_i)^2$$")
    ref = chaincc.compile(f"L(y[{n}], p[{n}]) = 1/{n} * "
                          + written_out(n, lambda i: f"(y[{i}] - p[{i}])^2"))
    assert_same(fn, ref, ((n,), (n,)), n)
    assert_oracle(fn, ((n,), (n,)), lambda y, p: sp.Rational(1, n) * sum(
        (y[i] - p[i])**2 for i in range(n)), n)
    # the same as the text syntax's written form of the sum
    text = chaincc.compile(f"n = {n}\nL(y[n], p[n]) = 1/n * Σ_{{i=0}}^{{n-1}} (y[i] - p[i])^2")
    assert_same(fn, text, ((n,), (n,)), n + 1)


def test_nested_sum() -> None:
    fn = latex(r"f(A \in \mathbb{R}^{3 \times 3}, x \in \mathbb{R}^{3}) = "
               r"\sum_{i=0}^{2}\sum_{j=0}^{2} A_{i,j} x_i x_j")
    ref = chaincc.compile("f(A[3,3], x[3]) = " + " + ".join(
        f"A[{i},{j}]*x[{i}]*x[{j}]" for i in range(3) for j in range(3)))
    assert_same(fn, ref, ((3, 3), (3,)), 1)
    assert_oracle(fn, ((3, 3), (3,)), lambda A, x: sum(
        A[i, j] * x[i] * x[j] for i in range(3) for j in range(3)), 1)


def test_product() -> None:
    fn = latex(r"f(x \in \mathbb{R}^{4}) = \prod_{k=0}^{3} (1 + x_k^2)")
    ref = chaincc.compile("f(x[4]) = " + written_out(4, lambda k: f"(1 + x[{k}]^2)", " * "))
    assert_same(fn, ref, ((4,),), 2)
    assert_oracle(fn, ((4,),), lambda x: sp.Mul(*[1 + x[k]**2 for k in range(4)]), 2)


# ----------------------------------------------------------------- the written forms


# (LaTeX, the same function in the text syntax with the sum written out, shapes)
FORMS: list[tuple[str, str, tuple[tuple[int, ...], ...]]] = [
    # \limits, \displaystyle, an unbraced last value, '^' before '_'
    (r"$n = 3$ $f(x \in \mathbb{R}^n) = \displaystyle\sum\limits_{i=0}^{n-1} x_i^3$",
     "f(x[3]) = x[0]^3 + x[1]^3 + x[2]^3", ((3,),)),
    (r"$f(x \in \mathbb{R}^{3}) = \sum_{i=1}^2 i x_i$", "f(x[3]) = 1*x[1] + 2*x[2]",
     ((3,),)),
    (r"$f(x \in \mathbb{R}^{3}) = \sum^{2}_{i=0} x_i$", "f(x[3]) = x[0] + x[1] + x[2]",
     ((3,),)),
    (r"$f(x \in \mathbb{R}^{3}) = \sum_{i=0}^12 x_i$", "f(x[3]) = 2*x[0] + 2*x[1]", ((3,),)),
    (r"$f(x \in \mathbb{R}^{3}) = \prod\nolimits_{i=0}^{2} x_i$", "f(x[3]) = x[0]*x[1]*x[2]",
     ((3,),)),
    # the body is the product that follows, as a sign's operand
    (r"f(x \in \mathbb{R}^{3}) = \sum_{i=0}^{2} x_i^2 + 1",
     "f(x[3]) = (x[0]^2 + x[1]^2 + x[2]^2) + 1", ((3,),)),
    (r"f(x \in \mathbb{R}^{3}, c) = \sum_{i=0}^{2} x_i \cdot c / 2 - c",
     "f(x[3], c) = (x[0]*c/2 + x[1]*c/2 + x[2]*c/2) - c", ((3,), ())),
    (r"f(x \in \mathbb{R}^{3}) = -\sum_{i=0}^{2} x_i",
     "f(x[3]) = -(x[0] + x[1] + x[2])", ((3,),)),
    (r"f(x \in \mathbb{R}^{3}, c) = 2c\sum_{i=0}^{2} x_i",
     "f(x[3], c) = 2*c*(x[0] + x[1] + x[2])", ((3,), ())),
    (r"f(x \in \mathbb{R}^{3}) = \log \sum_{i=0}^{2} e^{x_i}",
     "f(x[3]) = log(exp(x[0]) + exp(x[1]) + exp(x[2]))", ((3,),)),
    (r"f(x \in \mathbb{R}^{3}) = \sum_{i=0}^{2} \left(x_i + 1\right)^{2} \sum_{j=0}^{1} x_j",
     "f(x[3]) = (x[0]+1)^2*(x[0]+x[1]) + (x[1]+1)^2*(x[0]+x[1]) + (x[2]+1)^2*(x[0]+x[1])",
     ((3,),)),
    # subscripts that are indices: i+1, 2i, accents, fonts, a run of index variables
    (r"f(x \in \mathbb{R}^{4}) = \sum_{i=0}^{2} (x_{i+1} - x_{i})^2",
     "f(x[4]) = (x[1]-x[0])^2 + (x[2]-x[1])^2 + (x[3]-x[2])^2", ((4,),)),
    (r"f(x \in \mathbb{R}^{5}) = \sum_{i=0}^{2} x_{2i}", "f(x[5]) = x[0] + x[2] + x[4]",
     ((5,),)),
    (r"f(y \in \mathbb{R}^{2}, \hat{y} \in \mathbb{R}^{2}) = "
     r"\frac12 \sum_{i=0}^{1} (y_i - \hat{y}_i)^2",
     "f(y[2], ŷ[2]) = 1/2*((y[0] - ŷ[0])^2 + (y[1] - ŷ[1])^2)", ((2,), (2,))),
    (r"f(\mathbf{w} \in \mathbb{R}^{2}, \theta) = \sum_{k=0}^{1} \mathbf{w}_k \theta^k",
     "f(w[2], θ) = w[0]*θ^0 + w[1]*θ^1", ((2,), ())),
    (r"f(A \in \mathbb{R}^{2 \times 2}) = \sum_{i=0}^{1}\sum_{j=0}^{1} A_{ij}^2",
     "f(A[2,2]) = A[0,0]^2 + A[0,1]^2 + A[1,0]^2 + A[1,1]^2", ((2, 2),)),
    (r"f(\theta \in \mathbb{R}^{2}) = \sum_{\ell=0}^{1} \ell \theta_\ell",
     "f(θ[2]) = 0*θ[0] + 1*θ[1]", ((2,),)),
    # brackets index inside a sum, with the index variable
    (r"f(x \in \mathbb{R}^{3}) = \sum_{i=0}^{1} x[i+1] x[i]",
     "f(x[3]) = x[1]*x[0] + x[2]*x[1]", ((3,),)),
    # an inner range that depends on the outer index variable
    (r"f(x \in \mathbb{R}^{3}) = \sum_{i=0}^{2}\sum_{j=i}^{2} x_i x_j",
     "f(x[3]) = x[0]*x[0] + x[0]*x[1] + x[0]*x[2] + x[1]*x[1] + x[1]*x[2] + x[2]*x[2]",
     ((3,),)),
    (r"f(W \in \mathbb{R}^{2 \times 3}, x \in \mathbb{R}^{3}) = "
     r"\sum_{i=0}^{1} \tanh\left(\sum_{j=0}^{2} W_{i,j} x_j\right)",
     "f(W[2,3], x[3]) = tanh(W[0,0]*x[0] + W[0,1]*x[1] + W[0,2]*x[2]) + "
     "tanh(W[1,0]*x[0] + W[1,1]*x[1] + W[1,2]*x[2])", ((2, 3), (3,))),
    # a subscripted name that is a parameter or an earlier binding stays that name
    (r"f(x_1, x \in \mathbb{R}^{2}) = \sum_{i=0}^{1} x_i x_1",
     "f(x_1, x[2]) = x[0]*x_1 + x[1]*x_1", ((), (2,))),
    (r"$x_i = 2$ $f(x \in \mathbb{R}^{2}) = \sum_{i=0}^{1} x_i + x[0]$",
     "x_i = 2\nf(x[2]) = (x_i + x_i) + x[0]", ((2,),)),
    # an array binding read element by element; sizes in brackets
    (r"$n = 3$ $u = \begin{bmatrix} 1 & 2 & 3 \end{bmatrix}$ "
     r"$f(x[n]) = \sum_{i=0}^{n-1} u_i x_i$", "f(x[3]) = 1*x[0] + 2*x[1] + 3*x[2]", ((3,),)),
    # a declared function whose body sums
    ("$$\\begin{aligned} f(x \\in \\mathbb{R}^{3})\\colon \\\\ s &= \\sum_{i=0}^{2} x_i "
     "\\\\ f &= s^2 \\end{aligned}$$", "f(x[3]) = (x[0] + x[1] + x[2])^2", ((3,),)),
    # math without delimiters: a line break after the sum's head continues the formula
    ("n = 3\nf(x \\in \\mathbb{R}^{n}) = \\sum_{i=0}^{n-1}\n    x_i^2\n"
     "g(x \\in \\mathbb{R}^{3}) = f(x) + 1", "f(x[3]) = x[0]^2 + x[1]^2 + x[2]^2\n"
     "g(x[3]) = f(x) + 1", ((3,),)),
    ("f(x \\in \\mathbb{R}^{3}) = \\sum\n_{i=0}^{2} x_i", "f(x[3]) = x[0] + x[1] + x[2]",
     ((3,),)),
]


@pytest.mark.parametrize("i", range(len(FORMS)))
def test_written_form(i: int) -> None:
    tex, text, shapes = FORMS[i]
    assert_same(latex(tex), chaincc.compile(text), shapes, 10 + i)


def test_sum_reads_as_a_reduce() -> None:
    module = parse_latex(Source("m.tex", r"f(x \in \mathbb{R}^{3}) = \sum_{k=0}^{2} x_k",
                                "latex"))
    body = module.statements[0].body
    assert isinstance(body, Reduce) and body.op == "sum"
    (rng,) = body.ranges
    assert rng.var == "k" and (rng.var_span.line, rng.var_span.col) == (1, 33)


def test_subscripts_outside_sums_are_names() -> None:
    # x_1 is the name x_1 wherever no sum over an index variable is around it
    fn = latex(r"f(x_1, x_i) = x_1 + 2x_i + \sum_{j=0}^{1} x_1")
    assert fn.params == ("x_1", "x_i")
    assert fn.value_and_grad(0.5, 0.25) == (2.0, (3.0, 2.0))


def test_index_variables_are_not_parameters() -> None:
    # a formula with no function head: its parameters are the names nothing defines,
    # and a sum's index variable is defined by the sum
    fn = latex(r"$n = 3$ $s = \sum_{i=0}^{n-1} (i + 1) c$")
    assert fn.params == ("c",) and fn.value_and_grad(0.5) == (3.0, (6.0,))
    # a name in a function's subscript is a parameter where the body uses it, but not
    # where only a sum's index variable of that name is used
    g = latex(r"g_{k}(x \in \mathbb{R}^{2}) = \sum_{k=0}^{1} x_k")
    assert g.params == ("x",) and g(np.array([1.0, 2.0])) == 3


@pytest.mark.parametrize("text", [
    "f(x[20]) = Σ_{i=0}^{19} x[i]^2",
    "f(y[20], p[20]) = 1/20 * Σ_{i=0}^{19} (y[i] - p[i])^2",
])
def test_explained_sums_read_back(text: str) -> None:
    fn = chaincc.compile(text)
    shapes = fn.shapes
    for written in (fn.explain(format="latex"), fn._repr_latex_()):
        assert "\\sum_{" in written
        assert_same(latex(written), fn, shapes, 3)


# ----------------------------------------------------------------------- errors

ERRORS = [
    # (LaTeX, line, column, message part, NotComputable)
    (r"f(x \in \mathbb{R}^{3}) = \sum x_i", 1, 32, "expected '_{i=…}' after '\\sum'", False),
    (r"f(x \in \mathbb{R}^{3}) = \sum", 1, 27, "expected '_{i=…}' after '\\sum'", False),
    (r"f(x \in \mathbb{R}^{3}) = \sum_i x_i", 1, 32, "expected '{' after '\\sum_'", False),
    (r"f(x \in \mathbb{R}^{3}) = \sum_{i} x_i", 1, 34,
     "expected '=' and the first value after the index variable 'i'", False),
    (r"f(x \in \mathbb{R}^{3}) = \sum_{=0}^{2} x_i", 1, 33,
     "expected an index variable after '\\sum_{'", False),
    (r"f(x \in \mathbb{R}^{3}) = \sum_{i=}^{2} x_i", 1, 35,
     "expected the first value of 'i'", False),
    (r"f(x \in \mathbb{R}^{3}) = \sum_{i=0} x_i", 1, 38,
     "expected '^' and the last value of 'i'", False),
    (r"f(x \in \mathbb{R}^{3}) = \sum_{i=0}", 1, 36, "expected '^' and the last value of 'i'",
     False),
    (r"f(x \in \mathbb{R}^{3}) = \sum_{i=0}^{} x_i", 1, 39, "expected the last value of 'i'",
     False),
    (r"f(x \in \mathbb{R}^{3}) = \prod_{i=0}^{2}", 1, 27, "'\\prod_{i=0}^{2}' has no body",
     False),
    (r"f(x \in \mathbb{R}^{3}) = (\sum_{i=0}^{2}) + 1", 1, 28, "'\\sum_{i=0}^{2}' has no body",
     False),
    (r"f(x \in \mathbb{R}^{3}) = \sum_{i=0}^{2} \cdot x_i", 1, 27, "has no body", False),
    (r"f(x \in \mathbb{R}^{3}) = \sum_{i=0}^{n/2} x_i", 1, 40,
     "'/' has no place in an integer expression", False),
    (r"f(x \in \mathbb{R}^{3}) = \sum_{i=0}^{2}_{j} x_i", 1, 41,
     "takes one '_{…}' and one '^{…}'", False),
    (r"f(x \in \mathbb{R}^{3}) = \sum_{i=(0}^{2} x_i", 1, 37, "does not close the '('",
     False),
    (r"f(x \in \mathbb{R}^{3}) = \sum_{i=0}^{\infty} x_i", 1, 39,
     "a sum or product to infinity", True),
    (r"f(x \in \mathbb{R}^{3}) = \sum_{i=0}^{2} x_i + x_i", 1, 48,
     "'x' is an array: its elements are written x[…]", False),
    (r"f(x \in \mathbb{R}^{3}) = x_t", 1, 27, "'x' is an array", False),
    (r"J = \sum_{i=0}^{2} y_i", 1, 20, "'y' is indexed (y_i) but no parameter gives its shape",
     False),
    # checked where the program is lowered, still at the LaTeX's position
    (r"f(x \in \mathbb{R}^{3}) = \sum_{i=0}^{3} x_i", 1, 44,
     "index 3 is out of range for axis 0", False),
    (r"f(x \in \mathbb{R}^{3}, m) = \sum_{i=0}^{m} x_i", 1, 42,
     "the end of a range must be an integer", False),
    (r"f(w, x \in \mathbb{R}^{3}) = \sum_{i=0}^{2} w_i x_i", 1, 45, "cannot index w", False),
    ("$$\nf(x \\in \\mathbb{R}^{3}) = \\sum_{i=0}^{2}\n$$", 2, 27, "has no body", False),
]


@pytest.mark.parametrize("tex, line, col, message, not_computable", ERRORS)
def test_error_caret(tex: str, line: int, col: int, message: str,
                     not_computable: bool) -> None:
    with pytest.raises(ChainccError) as info:
        latex(tex)
    err = info.value
    assert (err.line, err.col) == (line, col), str(err)
    assert message in err.message, str(err)
    assert isinstance(err, NotComputable) == not_computable
    text, caret = str(err).splitlines()[1:3]
    assert text == "    " + tex.split("\n")[line - 1]
    assert caret.index("^") == 4 + col - 1


# ----------------------------------------------------------------- hostile input


def test_many_nested_sums_read_iteratively() -> None:
    n = 8_000
    text = r"f(x \in \mathbb{R}^{1}) = " + r"\sum_{i=0}^{0}" * n + " x_i"
    start = time.perf_counter()
    module = parse_latex(Source("deep.tex", text, "latex"))
    assert time.perf_counter() - start < 10
    node = module.statements[0].body
    depth = 0
    while isinstance(node, Reduce):
        node, depth = node.body, depth + 1
    assert depth == n


def test_deep_bounds_and_long_chains_are_bounded() -> None:
    with pytest.raises(ChainccError, match="nested more than 12,000") as info:
        latex(r"f(x \in \mathbb{R}^{3}) = \sum_{i=0}^{" + "-" * 13_000 + "2} x_i")
    assert info.value.col == 27 + len(r"\sum_{i=0}^{") + 12_000
    # an index is as long as a name may be, and no longer
    fn = latex(r"f(x \in \mathbb{R}^{3}) = \sum_{i=0}^{0} x_{" + "i-" * 100 + "i}")
    assert fn.grad(np.array([1.0, 2.0, 3.0]))[0].tolist() == [1, 0, 0]
    with pytest.raises(ChainccError, match="at most 256 characters"):
        latex(r"f(x \in \mathbb{R}^{3}) = \sum_{i=0}^{0} x_{" + "i-" * 20_000 + "i}")
    chain = " + ".join(r"\sum_{i=0}^{2} x_i" for _ in range(500))
    fn = latex(r"f(x \in \mathbb{R}^{3}) = " + chain)
    assert fn(np.array([1.0, 2.0, 3.0])) == 3000
