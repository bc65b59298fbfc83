"""Scoping of bindings, helpers and parameters (docs/language.md: a binding's names are
looked up where it is used; a parameter shadows a binding, a function or a constant).

Each case is checked three ways at two points: the compiled function, the reference
interpreter (chaincc/reference.py) and a hand transcription of its meaning in SymPy,
differentiated with ``sympy.diff`` and evaluated at 40 digits. The errors: a
helper that uses a name in scope only in its caller is an error at that use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pytest
import sympy as sp

import chaincc
from chaincc import reference
from chaincc.diagnostics import ChainccError

Shape = tuple[int, ...]
DIGITS = 40


def sigmoid(z):
    return 1 / (1 + sp.exp(-z))


def tanh_all(m: sp.Matrix) -> sp.Matrix:
    return m.applyfunc(sp.tanh)


def sig_all(m: sp.Matrix) -> sp.Matrix:
    return m.applyfunc(sigmoid)


def total(m: sp.Matrix) -> sp.Expr:
    return sp.Add(*m)


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    params: tuple[tuple[str, Shape], ...]
    # the SymPy transcription, one argument per parameter; a recurrent one also takes
    # ``stage``, which names each step's state (so ``sympy.diff`` sees one step at a time)
    meaning: Callable[..., sp.Expr]
    points: tuple[dict, ...]
    entry: str | None = None


def S(*names: str) -> tuple[tuple[str, Shape], ...]:
    return tuple((n, ()) for n in names)


def _rnn_vec(W, U, b, h0, *xs, stage):
    h = h0
    for x in xs:
        h = stage(tanh_all(W * h + U * x + b))
    return total(h.applyfunc(lambda e: e ** 2))


def _gru(h, x, Wz, Uz, Wr, Ur, Wn, Un):
    z = sigmoid(Wz * x + Uz * h + sp.Rational(1, 10))
    r = sigmoid(Wr * x + Ur * h - sp.Rational(1, 5))
    n = sp.tanh(Wn * x + Un * (r * h) + sp.Rational(3, 10))
    return (1 - z) * n + z * h


def _gru_scalar(Wz, Uz, Wr, Ur, Wn, Un, h0, *xs, stage):
    h = h0
    for x in xs:
        h = stage(_gru(h, x, Wz, Uz, Wr, Ur, Wn, Un))
    return h


def _gru_vec(Wz, Uz, Wr, Ur, Wn, Un, h0, *xs, stage):
    h = h0
    for x in xs:
        z = stage(sig_all(Wz * x + Uz * h + sp.Matrix([sp.Rational(1, 10)] * 2)))
        r = stage(sig_all(Wr * x + Ur * h))
        n = stage(tanh_all(Wn * x + Un * r.multiply_elementwise(h)))
        h = stage((sp.ones(2, 1) - z).multiply_elementwise(n) + z.multiply_elementwise(h))
    return total(h)


GRU_SCALAR = """\
z = sigmoid(Wz*x + Uz*h + 0.1)
r = sigmoid(Wr*x + Ur*h - 0.2)
n = tanh(Wn*x + Un*(r*h) + 0.3)
gru(h, x, Wz, Uz, Wr, Ur, Wn, Un) = (1 - z)*n + z*h
f(Wz, Uz, Wr, Ur, Wn, Un, h0, x1, x2, x3, x4, x5) = \
gru(gru(gru(gru(gru(h0, x1, Wz, Uz, Wr, Ur, Wn, Un), x2, Wz, Uz, Wr, Ur, Wn, Un), \
x3, Wz, Uz, Wr, Ur, Wn, Un), x4, Wz, Uz, Wr, Ur, Wn, Un), x5, Wz, Uz, Wr, Ur, Wn, Un)
""".replace("\\\n", "")

GRU_VECTOR = """\
z = sigmoid(Wz*x + Uz @ h + 0.1)
r = sigmoid(Wr*x + Ur @ h)
n = tanh(Wn*x + Un @ (r*h))
cell(h[2], x, Wz[2], Uz[2,2], Wr[2], Ur[2,2], Wn[2], Un[2,2]) = (1 - z)*n + z*h
step(h[2], x, Wz[2], Uz[2,2], Wr[2], Ur[2,2], Wn[2], Un[2,2]) = \
cell(h, x, Wz, Uz, Wr, Ur, Wn, Un)
f(Wz[2], Uz[2,2], Wr[2], Ur[2,2], Wn[2], Un[2,2], h0[2], x1, x2, x3, x4, x5) = sum(\
step(step(step(step(step(h0, x1, Wz, Uz, Wr, Ur, Wn, Un), x2, Wz, Uz, Wr, Ur, Wn, Un), \
x3, Wz, Uz, Wr, Ur, Wn, Un), x4, Wz, Uz, Wr, Ur, Wn, Un), x5, Wz, Uz, Wr, Ur, Wn, Un))
""".replace("\\\n", "")

RNN_VECTOR = """\
pre = W @ h + U*x + b
cell(W[2,2], U[2], b[2], h[2], x) = tanh(pre)
loss(W[2,2], U[2], b[2], h0[2], x1, x2, x3, x4, x5) = sum(cell(W, U, b, cell(W, U, b, \
cell(W, U, b, cell(W, U, b, cell(W, U, b, h0, x1), x2), x3), x4), x5)^2)
""".replace("\\\n", "")


def _chain_source(n: int) -> str:
    lines = ["s = h/2 + 1", "c0(h) = s"]
    lines += [f"c{i}(h) = c{i - 1}(s) + s" for i in range(1, n + 1)]
    lines.append(f"f(x) = c{n}(x)")
    return "\n".join(lines)


def _chain_meaning(n: int) -> Callable[[sp.Expr], sp.Expr]:
    def c(i: int, h: sp.Expr) -> sp.Expr:
        s = h / 2 + 1
        return s if i == 0 else c(i - 1, s) + s
    return lambda x: c(n, x)


GRU_POINT = dict(Wz=0.5, Uz=-0.7, Wr=0.9, Ur=0.4, Wn=-1.1, Un=0.8, h0=0.2,
                 x1=0.3, x2=-0.5, x3=1.2, x4=0.1, x5=-0.9)
GRU_VEC_POINT = dict(Wz=[0.5, -0.2], Uz=[[0.3, -0.7], [0.2, 0.4]], Wr=[0.9, 0.1],
                     Ur=[[0.4, 0.3], [-0.6, 0.2]], Wn=[-1.1, 0.7], Un=[[0.8, -0.3], [0.5, 0.9]],
                     h0=[0.2, -0.4], x1=0.3, x2=-0.5, x3=1.2, x4=0.1, x5=-0.9)
RNN_POINT = dict(W=[[0.5, -0.3], [0.8, 0.2]], U=[0.7, -1.1], b=[0.1, -0.2], h0=[0.3, 0.4],
                 x1=0.3, x2=-0.5, x3=1.2, x4=0.1, x5=-0.9)


def _scaled(point: dict, k: float) -> dict:
    return {n: (np.asarray(v) * k).tolist() for n, v in point.items()}


CASES = [
    Case("issue-example", "s = 2h\ncell(h) = s\nf(a) = cell(cell(a))", S("a"),
         lambda a: 4 * a, ({"a": 1.0}, {"a": -0.3})),
    Case("helper-called-with-many-arguments", "s = h^2\ng(h) = s + 1\n"
         "f(x, y) = g(x) * g(y) + g(x + y)", S("x", "y"),
         lambda x, y: (x**2 + 1) * (y**2 + 1) + (x + y)**2 + 1,
         ({"x": 0.7, "y": -1.3}, {"x": 2.0, "y": 0.5})),
    Case("helper-nested-three-deep", "s = sin(h)\ng(h) = s*h\nf(x) = g(g(g(x)))", S("x"),
         lambda x: (lambda g: g(g(g(x))))(lambda h: sp.sin(h) * h),
         ({"x": 1.1}, {"x": -2.3})),
    Case("binding-of-binding", "u = 2h\nv = u + h^2\ng(h) = v*u\nf(x) = g(x) + g(x + 1)",
         S("x"), lambda x: (lambda g: g(x) + g(x + 1))(lambda h: (2*h + h**2) * 2*h),
         ({"x": 0.4}, {"x": -1.7})),
    Case("binding-chain", "a1 = h + 1\na2 = a1*a1\na3 = a2 - a1\ng(h) = a3\n"
         "f(x) = g(x) * g(2x)", S("x"),
         lambda x: (lambda g: g(x) * g(2*x))(lambda h: (h + 1)**2 - (h + 1)),
         ({"x": 0.4}, {"x": -1.2})),
    Case("helpers-of-helpers", "s = 2h\ninner(h) = s + 1\n"
         "outer(h) = inner(h) * inner(h + 1)\nf(x) = outer(x) + outer(x^2)", S("x"),
         lambda x: (lambda o: o(x) + o(x**2))(lambda h: (2*h + 1) * (2*h + 3)),
         ({"x": 0.6}, {"x": -0.9})),
    Case("outer-passes-another-value", "s = h^2\ninner(h) = s\nouter(h) = inner(3h) + s\n"
         "f(x) = outer(x) + outer(x + 1)", S("x"),
         lambda x: 10 * x**2 + 10 * (x + 1)**2, ({"x": 0.6}, {"x": -2.5})),
    Case("read-directly-and-through-helper", "s = 3x\ng(x) = s + x\nf(x) = s + g(2x)",
         S("x"), lambda x: 11 * x, ({"x": 0.6}, {"x": -2.5})),
    Case("direct-and-helper-with-swapped-arguments", "s = a*b\ng(a, b) = s\n"
         "f(a, b) = s + g(b, a + 1) + g(a, a)", S("a", "b"),
         lambda a, b: a*b + b*(a + 1) + a*a, ({"a": 0.6, "b": -1.5}, {"a": 2.0, "b": 3.0})),
    Case("array-helper", "s = W @ h\ncell(W[2,2], h[2]) = tanh(s)\n"
         "f(W[2,2], x[2]) = sum(cell(W, cell(W, x)))", (("W", (2, 2)), ("x", (2,))),
         lambda W, x: total(tanh_all(W * tanh_all(W * x))),
         ({"W": [[0.5, -0.3], [0.8, 0.2]], "x": [0.7, -1.1]},
          {"W": [[-1.5, 0.3], [0.1, 1.2]], "x": [0.2, 0.4]})),
    Case("array-binding-broadcast", "m = mean(v)\nc(v[3]) = v - m\n"
         "f(v[3], w[3]) = sum(c(v)^2) + dot(c(w), c(v))", (("v", (3,)), ("w", (3,))),
         lambda v, w: (lambda c: total(c(v).applyfunc(lambda e: e**2))
                       + c(w).dot(c(v)))(lambda u: u - sp.ones(3, 1) * total(u) / 3),
         ({"v": [0.5, -0.3, 2.0], "w": [1.0, 0.1, -0.4]},
          {"v": [-1.5, 0.3, 0.1], "w": [0.2, 0.4, 0.9]})),
    Case("parameter-shadows-binding", "s = 5\nf(s, x) = s^2 + x", S("s", "x"),
         lambda s, x: s**2 + x, ({"s": 0.5, "x": 2.0}, {"s": -3.0, "x": 1.0})),
    Case("helper-parameter-shadows-binding", "s = 5\ng(s) = 2s\nf(x) = g(x) + s*x",
         S("x"), lambda x: 2*x + 5*x, ({"x": 0.5}, {"x": -3.0})),
    Case("binding-named-like-a-helper-parameter", "x = 2\ng(x) = x^3\nf(y) = g(y) + x*y",
         S("y"), lambda y: y**3 + 2*y, ({"y": 0.5}, {"y": -1.5})),
    Case("parameter-shadows-constant-e", "f(e, x) = e*x + pi", S("e", "x"),
         lambda e, x: e*x + sp.pi, ({"e": 0.5, "x": 2.0}, {"e": -3.0, "x": 1.0})),
    Case("helper-parameter-shadows-pi", "g(pi) = pi^2\nf(x) = g(x) + pi*x", S("x"),
         lambda x: x**2 + sp.pi*x, ({"x": 0.5}, {"x": -3.0})),
    Case("binding-shadows-constant", "pi = 3\nf(x) = pi*x + e", S("x"),
         lambda x: 3*x + sp.E, ({"x": 0.5}, {"x": -3.0})),
    Case("parameter-shadows-function", "g(t) = t^2\nf(g, x) = g(x) + g", S("g", "x"),
         lambda g, x: g*x + g, ({"g": 0.5, "x": 2.0}, {"g": -3.0, "x": 1.5})),
    Case("parameter-shadows-builtin", "f(sin, x) = sin(x) + sin", S("sin", "x"),
         lambda s, x: s*x + s, ({"sin": 0.5, "x": 2.0}, {"sin": -3.0, "x": 1.5})),
    Case("redefined-binding", "s = 2x\nf(x) = s\ns = 3x\ng(x) = s + f(x)", S("x"),
         lambda x: 5*x, ({"x": 0.5}, {"x": -3.0})),
    Case("redefined-binding-earlier-function", "s = 2x\nf(x) = s\ns = 3x\ng(x) = s + f(x)",
         S("x"), lambda x: 2*x, ({"x": 0.5}, {"x": -3.0}), entry="f"),
    Case("redefinition-uses-helper", "s = h\nc(h) = s\ns = 10*c(x)\nf(x) = s + c(x^2)",
         S("x"), lambda x: 10*x + x**2, ({"x": 0.5}, {"x": -3.0})),
    Case("rnn-scalar-3-steps", "pre = W*h + U*x + b\ncell(h, x, W, U, b) = tanh(pre)\n"
         "f(W, U, b, h0, x1, x2, x3) = "
         "cell(cell(cell(h0, x1, W, U, b), x2, W, U, b), x3, W, U, b)",
         S("W", "U", "b", "h0", "x1", "x2", "x3"),
         lambda W, U, b, h0, x1, x2, x3, stage: (lambda c: c(c(c(h0, x1), x2), x3))(
             lambda h, x: stage(sp.tanh(W*h + U*x + b))),
         ({"W": 0.5, "U": -0.7, "b": 0.1, "h0": 0.3, "x1": 1.0, "x2": -0.5, "x3": 0.8},
          {"W": -1.2, "U": 0.4, "b": -0.3, "h0": -0.6, "x1": 0.2, "x2": 1.5, "x3": -0.1})),
    Case("rnn-vector-5-steps", RNN_VECTOR,
         (("W", (2, 2)), ("U", (2,)), ("b", (2,)), ("h0", (2,)), *S("x1", "x2", "x3",
                                                                     "x4", "x5")),
         _rnn_vec, (RNN_POINT, _scaled(RNN_POINT, -0.8))),
    Case("gru-scalar-5-steps", GRU_SCALAR,
         S("Wz", "Uz", "Wr", "Ur", "Wn", "Un", "h0", "x1", "x2", "x3", "x4", "x5"),
         _gru_scalar, (GRU_POINT, _scaled(GRU_POINT, 1.3))),
    Case("gru-vector-5-steps", GRU_VECTOR,
         (("Wz", (2,)), ("Uz", (2, 2)), ("Wr", (2,)), ("Ur", (2, 2)), ("Wn", (2,)),
          ("Un", (2, 2)), ("h0", (2,)), *S("x1", "x2", "x3", "x4", "x5")),
         _gru_vec, (GRU_VEC_POINT, _scaled(GRU_VEC_POINT, -0.9))),
    Case("same-arguments-from-different-callers", "s = h*h\ng(h) = s\nf1(x) = g(x)\n"
         "f(x, y) = f1(x) + g(y) + f1(y)", S("x", "y"),
         lambda x, y: x**2 + 2*y**2, ({"x": 0.5, "y": 2.0}, {"x": -3.0, "y": 1.5})),
    Case("binding-calls-helper", "g(t) = t^2\ns = g(h) + h\nc(h) = s\nf(x) = c(x) * c(2x)",
         S("x"), lambda x: (x**2 + x) * (4*x**2 + 2*x), ({"x": 0.5}, {"x": -3.0})),
    Case("binding-with-constant", "s = e*h\nc(h) = s\nf(x) = c(x) + c(-x)*x", S("x"),
         lambda x: sp.E*x - sp.E*x**2, ({"x": 0.5}, {"x": -3.0})),
    Case("split-name-into-parameter-and-binding", "s = 2h\nc(h) = hs\n"
         "f(x) = c(x) + c(x + 1)", S("x"), lambda x: 2*x**2 + 2*(x + 1)**2,
         ({"x": 0.5}, {"x": -3.0})),
    Case("binding-as-product-head", "s = h + 1\nc(h) = s(h - 1)\nf(x) = c(c(x))", S("x"),
         lambda x: (x**2 - 1)**2 - 1, ({"x": 0.5}, {"x": -3.0})),
    Case("where-in-helper", "s = h - 1\nc(h) = where(s > 0, s^2, -s)\n"
         "f(x) = c(x) + c(x + 2) + c(c(x))", S("x"),
         lambda x: (lambda c: c(x) + c(x + 2) + c(c(x)))(
             lambda h: sp.Piecewise(((h - 1)**2, h - 1 > 0), (-(h - 1), True))),
         ({"x": 0.3}, {"x": 2.6})),
    Case("max-min-in-helper", "s = 2h\nc(h, k) = max(s, k) - min(s, k)\n"
         "f(x, y) = c(x, y) * c(y, x)", S("x", "y"),
         lambda x, y: sp.Abs(2*x - y) * sp.Abs(2*y - x),
         ({"x": 0.3, "y": 1.1}, {"x": 2.0, "y": -0.5})),
    Case("binding-passed-as-argument", "s = h/2\nc(h) = s + 1\nd(h) = c(s)\n"
         "f(x) = d(d(x))", S("x"), lambda x: (x/4 + 1)/4 + 1, ({"x": 0.3}, {"x": 2.0})),
    Case("vector-valued-helper", "s = 2v\nc(v[2]) = s + v\nf(v[2]) = sum(c(c(v)))",
         (("v", (2,)),), lambda v: 9 * total(v), ({"v": [0.3, -1.0]}, {"v": [2.0, 0.5]})),
    Case("binding-in-array-literal", "s = h^2\nc(h) = [s, h]\nf(x) = dot(c(x), c(2x))",
         S("x"), lambda x: 4*x**4 + 2*x**2, ({"x": 0.3}, {"x": -2.0})),
    Case("binding-indexed", "s = [h, 2h, 3h]\nc(h) = s[2]\nf(x) = c(x) * c(x + 1)",
         S("x"), lambda x: 9*x*(x + 1), ({"x": 0.3}, {"x": -2.0})),
    Case("same-binding-in-two-frames", "s = x^2\ng(x) = s\nf(x, y) = g(y) + s",
         S("x", "y"), lambda x, y: y**2 + x**2, ({"x": 0.3, "y": 1.5}, {"x": -2.0, "y": 0.1})),
    Case("binding-needs-two-helper-parameters", "s = k*h\nc(h, k) = s\n"
         "f(x) = c(x, 3) + c(3, x) + c(x, x)", S("x"), lambda x: 6*x + x**2,
         ({"x": 0.3}, {"x": -2.0})),
    Case("chain-of-20-helpers", _chain_source(20), S("x"), _chain_meaning(20),
         ({"x": 0.3}, {"x": -2.0})),
]


# -- the SymPy oracle ------------------------------------------------------------------------
def _symbols(params) -> tuple[list, list[sp.Symbol]]:
    """One SymPy argument per parameter (a symbol, or a Matrix of symbols: vectors are
    columns) and every element symbol in row-major order."""
    args, flat = [], []
    for name, shape in params:
        if not shape:
            s = sp.Symbol(name, real=True)
            args.append(s)
            flat.append(s)
            continue
        elems = [sp.Symbol(f"{name}_{'_'.join(map(str, i))}", real=True)
                 for i in np.ndindex(*shape)]
        flat += elems
        rows, cols = (shape[0], 1) if len(shape) == 1 else shape
        args.append(sp.Matrix(rows, cols, elems))
    return args, flat


class Stages:
    """Intermediate results as fresh symbols, each defined by an expression of the
    parameters and earlier stages."""

    def __init__(self) -> None:
        self.defs: list[tuple[sp.Symbol, sp.Expr]] = []

    def __call__(self, e):
        if isinstance(e, sp.MatrixBase):
            return e.applyfunc(self)
        s = sp.Symbol(f"stage{len(self.defs)}", real=True)
        self.defs.append((s, e))
        return s


@cache
def _transcription(case_id: str) -> tuple[list[sp.Symbol], list[tuple]]:
    """The element symbols, and each stage (the result last) as (symbol, its free
    symbols, its expression, and its partial derivative in each free symbol)."""
    case = next(c for c in CASES if c.id == case_id)
    args, flat = _symbols(case.params)
    stages = Stages()
    try:
        expr = sp.sympify(case.meaning(*args, stage=stages))
    except TypeError:
        expr = sp.sympify(case.meaning(*args))
    steps = []
    for sym, e in [*stages.defs, (sp.Symbol("result"), expr)]:
        free = sorted(e.free_symbols, key=str)
        steps.append((sym, free, e, [sp.diff(e, u) for u in free]))
    return flat, steps


def sympy_oracle(case: Case, point: dict) -> tuple[float, dict[str, np.ndarray]]:
    """Value and gradient of the transcription at ``point``: each stage's partials from
    ``sympy.diff``, composed by the chain rule at 40 digits."""
    flat, steps = _transcription(case.id)
    raw = [v for name, _ in case.params for v in np.ravel(np.asarray(point[name], float))]
    value = {s: sp.Float(v, DIGITS) for s, v in zip(flat, raw)}
    grad = {s: {s: sp.Integer(1)} for s in flat}
    for sym, free, e, partials in steps:
        at = {u: value[u] for u in free}
        value[sym] = e.xreplace(at).evalf(DIGITS)
        total_d: dict = {}
        for u, de in zip(free, partials):
            du = de.xreplace(at).evalf(DIGITS)
            for p, g in grad[u].items():
                total_d[p] = total_d.get(p, 0) + du * g
        grad[sym] = total_d
    out_v = float(value[sym])
    out_g = [float(grad[sym].get(s, 0)) for s in flat]
    grads, k = {}, 0
    for name, shape in case.params:
        n = int(np.prod(shape))
        grads[name] = np.array(out_g[k:k + n]).reshape(shape)
        k += n
    return out_v, grads


def _assert_close(got, want, what: str, rel: float) -> None:
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, what
    assert np.allclose(got, want, rtol=rel, atol=rel * 1e-3), f"{what}: {got} != {want}"


def _args(case: Case, point: dict) -> list:
    return [np.asarray(point[n], float) if s else float(point[n]) for n, s in case.params]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_reference_matches_sympy(case: Case) -> None:
    for point in case.points:
        want_v, want_g = sympy_oracle(case, point)
        got_v, got_g = reference.evaluate(case.source, point, entry=case.entry)
        _assert_close(got_v, want_v, f"{case.id}: value at {point}", 1e-12)
        for name, _ in case.params:
            _assert_close(got_g[name], want_g[name], f"{case.id}: d/d{name} at {point}",
                          1e-12)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_compiled_matches_reference_and_sympy(case: Case) -> None:
    fn = chaincc.compile(case.source, entry=case.entry)
    assert fn.params == tuple(n for n, _ in case.params)
    for point in case.points:
        want_v, want_g = sympy_oracle(case, point)
        ref_v, ref_g = reference.evaluate(case.source, point, entry=case.entry)
        got_v, got_g = fn.value_and_grad(*_args(case, point))
        for want, label in ((want_v, "SymPy"), (ref_v, "reference")):
            _assert_close(got_v, want, f"{case.id}: value at {point} vs {label}", 1e-9)
        for (name, _), g in zip(case.params, got_g):
            for want, label in ((want_g[name], "SymPy"), (ref_g[name], "reference")):
                _assert_close(g, want, f"{case.id}: d/d{name} at {point} vs {label}", 1e-9)


# -- errors: a helper sees only its own parameters ---------------------------------------------
ERRORS = [
    # (source, line, column of the use)
    ("g(y) = y + a\nf(a) = g(a)", 1, 12),
    ("s = a*2\ng(y) = s*y\nf(a) = g(a)", 1, 5),
    ("s = 2h\ncell(h) = s\nf(a) = s + cell(a)", 1, 6),
    ("s = t + 1\nt = 2x\nf(x) = s", 1, 5),
    ("g(x) = x + k\nk = 2\nf(x) = g(x)", 1, 12),
    ("u = w*2\ns = u + h\ncell(h) = s\nf(w) = cell(w)", 1, 5),
]


@pytest.mark.parametrize(("source", "line", "col"), ERRORS)
def test_name_in_scope_only_in_the_caller_is_an_error_at_its_use(source, line, col) -> None:
    for run in (lambda: chaincc.compile(source),
                lambda: reference.evaluate(source, {"a": 1.0} if "f(a)" in source else
                                           {"x": 1.0} if "f(x)" in source else {"w": 1.0})):
        with pytest.raises(ChainccError) as info:
            run()
        assert (info.value.line, info.value.col) == (line, col), str(info.value)
        assert "unknown name" in info.value.message
