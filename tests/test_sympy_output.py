"""``fn.sympy()`` and ``chaincc eval --symbolic``: formulas out as plain SymPy.

Oracles: ``sympy.diff`` of the value formula (SymPy's own derivative, sharing nothing with
chaincc's adjoint) evaluated at random points; ``sympy.lambdify`` of the formulas against
chaincc's compiled kernels; and SymPy expressions written by hand in this file.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import sympy as sp

import chaincc
from chaincc.cli import main
from chaincc.diagnostics import ChainccError
from chaincc.sympy_output import parameter_symbols

# name -> source; every function is smooth away from ties and zero of its arguments
SOURCES = {
    "seed": "f(x, y) = (x² + xy)y³",
    "trig": "f(x, y) = sin(x)exp(y) + log(1 + x^2)/(2 + cos(y)) - tanh(x y)",
    "arrays": "f(W[2,3], b[2], x[3]) = sum(tanh(W @ x + b)^2) + dot(x, x)",
    "where": "f(x, y) = where(x > y, x^2*y, sin(y) - x) + where(x < 0 ∧ y < 0, x, y)",
    "maxmin": "f(x, y, z) = max(x, y, z)² + min(x y, z) + max(x, 0.1)",
    "activations": "f(x[3]) = sum(relu(x)) + sigmoid(x[0]) x[1] + softplus(x[2] - x[0])",
    "helper": "sq(t) = t^2\nf(x, y) = sq(sin(x)) + sq(x y) + sq(sq(y))",
    "vector": "g(x[2], s) = [x[0]^2*s, sin(x[1]) + s, max(x[0], s)]",
    "matrix": "h(W[2,2], x[2]) = W * (x[0] + x[1]) + 1",
    "special": "f(x, y) = gelu(x) + cbrt(y) + expm1(x) + log1p(x^2) + log2(1 + y^2) "
               "+ log10(2 + x^2) + hypot(x, y) + lgamma(2 + y^2)",
    "more": "f(x, y) = erf(x) + erfc(y) + atan2(y, x) + abs(x - y) + asinh(y) + atan(x y) "
            "+ sign(y) x + cosh(y)",
    "softmax": "f(x[3]) = logsumexp(x) + softmax(x)[1] + norm(x) + mean(x)^2",
}


def _point(fn, rng: np.random.Generator) -> list:
    return [rng.uniform(-1.5, 1.5, size=s) if s else float(rng.uniform(-1.5, 1.5))
            for s in fn.shapes]


def _numbers(fn, args: list) -> dict:
    """Each parameter's SymPy element symbol -> its value as a SymPy Float."""
    env = {}
    for sym, shape, a in zip(parameter_symbols(fn), fn.shapes, args):
        if not shape:
            env[sym] = sp.Float(a, 17)
            continue
        for idx in np.ndindex(*shape):
            env[sym[idx]] = sp.Float(float(a[idx]), 17)
    return env


def _elements(fn, p: int) -> list:
    """The SymPy symbols of parameter p's elements, row-major."""
    sym, shape = parameter_symbols(fn)[p], fn.shapes[p]
    return [sym] if not shape else [sym[idx] for idx in np.ndindex(*shape)]


def _flat(v) -> list:
    if isinstance(v, sp.MatrixBase):
        return list(v)
    if isinstance(v, sp.NDimArray):
        return list(v.reshape(len(v)).tolist())
    return [v]


def _value(e, env: dict) -> float:
    return float(sp.N(e.xreplace(env), 20))


def _compiled(fn, args: list) -> tuple[np.ndarray, list[np.ndarray]]:
    if fn.out_shape:
        return np.asarray(fn(*args), dtype=float), [np.asarray(j) for j in fn.jacobian(*args)]
    v, g = fn.value_and_grad(*args)
    return np.asarray(v), [np.asarray(x) for x in g]


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_formulas_match_the_kernels_and_sympy_diff(name: str) -> None:
    fn = chaincc.compile(SOURCES[name])
    value, derivs = fn.sympy()
    assert len(derivs) == len(fn.params)
    f = sp.lambdify(parameter_symbols(fn), [value, *derivs], modules=["scipy", "numpy"])
    # SymPy's own derivative of each value element with respect to each parameter
    # element, beside chaincc's
    pairs = []
    for k, out in enumerate(_flat(value)):
        for p, d in enumerate(derivs):
            size = math.prod(fn.shapes[p])
            row = _flat(d)[k * size:(k + 1) * size]
            pairs += [(sp.diff(out, s), mine) for s, mine in zip(_elements(fn, p), row)]
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    for _ in range(2):
        args = _point(fn, rng)
        want_v, want_d = _compiled(fn, args)
        with np.errstate(all="ignore"):          # numpy.select computes every branch
            got_v, *got_d = f(*args)
        np.testing.assert_allclose(np.ravel(got_v), want_v.ravel(), rtol=1e-12, atol=1e-12)
        for g, w in zip(got_d, want_d):
            np.testing.assert_allclose(np.ravel(g), w.ravel(), rtol=1e-11, atol=1e-12)
        env = _numbers(fn, args)
        for oracle, mine in pairs:
            assert _value(mine, env) == pytest.approx(_value(oracle, env), rel=1e-10,
                                                      abs=1e-12)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_cse_form_evaluates_to_the_same(name: str) -> None:
    fn = chaincc.compile(SOURCES[name])
    assignments, (value, derivs) = fn.sympy(cse=True)
    assert assignments and all(e.args for _, e in assignments)   # no bare copies
    targets = [s for s, _ in assignments]
    assert len(set(targets)) == len(targets)
    args = _point(fn, np.random.default_rng(7))
    env = _numbers(fn, args)
    arrays = {p for p, shape in zip(fn.params, fn.shapes) if shape}
    for s, e in assignments:
        used = e.atoms(sp.Indexed) | {a for a in e.atoms(sp.Symbol) if a.name not in arrays}
        assert used <= set(env), f"{s} uses a symbol before its assignment"
        env[s] = sp.Float(_value(e, env), 17)
    want_v, want_d = _compiled(fn, args)
    np.testing.assert_allclose([_value(e, env) for e in _flat(value)], want_v.ravel(),
                               rtol=1e-12, atol=1e-12)
    for d, w in zip(derivs, want_d):
        np.testing.assert_allclose([_value(e, env) for e in _flat(d)], w.ravel(),
                                   rtol=1e-11, atol=1e-12)


def test_hand_written_formulas() -> None:
    x, y = sp.symbols("x y", real=True)
    fn = chaincc.compile("f(x, y) = (x² + xy)y³")
    value, (gx, gy) = fn.sympy()
    hand = (x**2 + x * y) * y**3
    assert sp.expand(value - hand) == 0
    assert sp.expand(gx - sp.diff(hand, x)) == 0
    assert sp.expand(gy - sp.diff(hand, y)) == 0

    fn = chaincc.compile("f(x) = sigmoid(x) + softplus(2x) + gelu(x)")
    value, (g,) = fn.sympy()
    (x,) = parameter_symbols(fn)
    hand = 1 / (1 + sp.exp(-x)) + sp.log(1 + sp.exp(2 * x)) + x / 2 * (1 + sp.erf(x / sp.sqrt(2)))
    for t in (-1.3, 0.2, 2.5):
        assert float(value.subs(x, t)) == pytest.approx(float(hand.subs(x, t)), rel=1e-14)
        assert float(g.subs(x, t)) == pytest.approx(float(sp.diff(hand, x).subs(x, t)),
                                                    rel=1e-13)


def test_plain_sympy_only() -> None:
    src = ("f(x, y, W[2,2]) = relu(x) + sigmoid(y) + softplus(x) + cbrt(y) + gelu(x) "
           "+ lgamma(2 + x^2) + where(x > y ∨ ¬(y > 1), x, y) + max(x, y) + min(x, y) "
           "+ logsumexp(W @ [x, y]) + expm1(x) + log1p(y^2) + log2(2 + x^2) "
           "+ log10(2 + y^2) + hypot(x, y) + x*ceil(-0.5)")
    fn = chaincc.compile(src)
    value, derivs = fn.sympy()
    _, (cvalue, cderivs) = assignments_and_outputs = fn.sympy(cse=True)
    exprs = [value, *derivs, cvalue, *cderivs] + [e for _, e in assignments_and_outputs[0]]
    for e in exprs:
        for node in sp.preorder_traversal(e):
            module = type(node).__module__
            assert not module.startswith(("chaincc", "sympy.codegen")), type(node)
    assert value.has(sp.loggamma, sp.Max, sp.Min, sp.Piecewise, sp.erf)


def test_shapes_and_symbols() -> None:
    fn = chaincc.compile("h(W[2,2], x[2], s) = W * (x[0] + s)")
    W, x, s = parameter_symbols(fn)
    assert isinstance(W, sp.IndexedBase) and isinstance(s, sp.Symbol) and s.is_real
    value, (jw, jx, js) = fn.sympy()
    assert value.shape == (2, 2) and value[0, 1] == W[0, 1] * (x[0] + s)
    assert jw.shape == (2, 2, 2, 2) and isinstance(jw, sp.NDimArray)
    assert jx.shape == (2, 2, 2) and js.shape == (2, 2)
    assert jw[0, 1, 0, 1] == x[0] + s and jw[0, 1, 1, 0] == 0
    fn = chaincc.compile("f(x[3], A[2,3]) = sum(A @ x)")
    _, (gx, ga) = fn.sympy()
    assert gx.shape == (3, 1) and ga.shape == (2, 3)
    x, A = parameter_symbols(fn)
    assert ga[1, 2] == x[2] and sp.expand(gx[0] - A[0, 0] - A[1, 0]) == 0


def test_wrt_gives_those_derivatives_only() -> None:
    src = "f(x, y, z) = x y² + sin(z) x"
    x, y, z = sp.symbols("x y z", real=True)
    full = chaincc.compile(src).sympy()[1]
    for fn, kw in ((chaincc.compile(src), {"wrt": ["z", "x"]}),
                   (chaincc.compile(src, wrt=["z", "x"]), {})):
        value, derivs = fn.sympy(**kw)
        assert len(derivs) == 2
        assert sp.expand(derivs[0] - full[2]) == 0 and sp.expand(derivs[1] - full[0]) == 0
        assert sp.expand(value - (x * y**2 + sp.sin(z) * x)) == 0


def test_cse_names_bindings_and_inlines_numbers() -> None:
    fn = chaincc.compile("u = x^2 + x*y\nv = y^3\nf(x, y) = u*v + x*ceil(-0.5)")
    assignments, (value, _) = fn.sympy(cse=True)
    names = [s.name for s, _ in assignments]
    assert "u" in names and "v" in names
    x, y = parameter_symbols(fn)
    env = {x: sp.Integer(3), y: sp.Integer(2)}
    for s, e in assignments:
        env[s] = e.xreplace(env)
    by_name = {s.name: env[s] for s, _ in assignments}
    assert (by_name["u"], by_name["v"]) == (15, 8)       # x² + xy, y³ at (3, 2)
    assert all(e.args for _, e in assignments)          # -0.0·x is 0, used in place


def test_numeric_nan_in_max_resolved_as_the_kernels_compare() -> None:
    # max(nan, x) is x and max(x, nan) is nan in chaincc; SymPy's Max refuses NaN
    for src, arg in (("f(x) = max(0/0, x) + x", 0.7), ("f(x) = max(x, 0/0) + x", 0.7)):
        fn = chaincc.compile(src)
        value, _ = fn.sympy()
        (x,) = parameter_symbols(fn)
        want = fn(arg)
        got = float(value.subs(x, arg))
        assert got == want or (math.isnan(got) and math.isnan(want))


def test_sympy_input_round_trip() -> None:
    a, b = sp.symbols("a b")
    fn = chaincc.compile(sp.exp(a) * sp.cos(b) + a**3, params=[a, b])
    value, (ga, gb) = fn.sympy()
    ar, br = sp.symbols("a b", real=True)
    assert sp.simplify(value - (sp.exp(ar) * sp.cos(br) + ar**3)) == 0
    assert sp.simplify(ga - (sp.exp(ar) * sp.cos(br) + 3 * ar**2)) == 0
    assert sp.simplify(gb + sp.exp(ar) * sp.sin(br)) == 0


def test_enormous_formulas_are_refused_quickly() -> None:
    path = "samples/attention.txt"
    fn = chaincc.compile(open(path, encoding="utf-8").read())
    start = time.perf_counter()
    with pytest.raises(ChainccError, match=r"cse=True") as err:
        fn.sympy()
    assert time.perf_counter() - start < 2.0
    assert "more than 20,000 operations" in str(err.value)
    assert ":19:1: error:" in str(err.value) and "^" in str(err.value)
    assignments, _ = fn.sympy(cse=True)             # the program itself is small
    assert len(assignments) < 200
    deep = "x"
    for _ in range(150):
        deep = f"sin({deep})"
    fn = chaincc.compile(f"f(x) = {deep}")
    with pytest.raises(ChainccError, match=r"nested more than 100 levels"):
        fn.sympy()
    assert len(fn.sympy(cse=True)[0]) > 150


@pytest.mark.parametrize("src", [
    "f(x, y) = max(log(x - x), y)",
    "f(x, y) = max(sqrt(x - x - 1), y) + min(x*0 - 2, y)^0.5",
    "f(x, y) = where(sqrt(0*x - 1) > y, x, y)",
    "f(x, y) = relu(1/(x - x)) + sign(sqrt(0*x - 1)) + y",
    "f(x, y, z) = where(where(tanh(x) > log2(x), where(z < cbrt(z), atan(z), sin(z)), x) "
    "!= x, cbrt(atan2(y + z, z + 1e-5)), exp(acos(x) + log(z, 2)))",
    # min of large arguments: SymPy's own Min factors every pair's difference (seconds)
    "s = erf(asin(y/(1 + abs(y))))\n"
    "h1(y, p, s) = min([y, log2(1 + s²)]([[y, 1e-3, p], [y, y, s]] @ [p, y, p]) "
    "@ tanh(floor(3*[[y, p, p], [s, y, s]])))\n"
    "f2(y) = floor(h1(y, where(h1(s, y, y) > s, y - y, erfc(y)), sqrt(y)))",
])
def test_special_values_give_formulas_or_a_diagnostic(src: str) -> None:
    # SymPy rewrites x - x and 0·x to 0 and then refuses to compare I or zoo, and it
    # would rewrite a where-valued condition by solving inequalities: each gives a
    # ChainccError at once, never a SymPy exception or a long wait; the program form
    # keeps the operations as written
    fn = chaincc.compile(src)
    start = time.perf_counter()
    try:
        value, derivs = fn.sympy()
        assert len(derivs) == len(fn.params)
    except ChainccError as e:
        assert "cse=True" in str(e) and str(e).startswith("<string>:")
    assert time.perf_counter() - start < 2.0
    assignments, (value, derivs) = fn.sympy(cse=True)
    kept = [e for _, e in assignments if isinstance(e, sp.Add) and len(e.args) == 2
            and e.args[0] == -e.args[1]]
    assert ("x - x" not in src) or kept              # x - x stays as written


def test_cli_symbolic(tmp_path, capsys) -> None:
    path = tmp_path / "seed.txt"
    path.write_text("f(x, y) = (x² + xy)y³\n", encoding="utf-8")
    assert main(["eval", str(path), "--symbolic"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(" = ")[0] for ln in lines] == ["f(x, y)", "∂f/∂x", "∂f/∂y"]
    x, y = sp.symbols("x y", real=True)
    hand = (x**2 + x * y) * y**3
    names = {"x": x, "y": y}
    for line, want in zip(lines, (hand, sp.diff(hand, x), sp.diff(hand, y))):
        got = sp.parse_expr(line.split(" = ", 1)[1], local_dict=names)
        assert sp.expand(got - want) == 0

    assert main(["eval", "--symbolic", "--cse", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    env = {"x": sp.Float(1), "y": sp.Float(2)}
    for line in lines:
        name, rhs = line.split(" = ", 1)
        env[name] = sp.parse_expr(rhs, local_dict=dict(env))
    assert [float(env[k]) for k in ("f(x, y)", "∂f/∂x", "∂f/∂y")] == [24.0, 32.0, 44.0]

    vec = tmp_path / "g.txt"
    vec.write_text("g(x[2], s) = [x[0]^2 * s, sin(x[1]) + s]\n", encoding="utf-8")
    assert main(["eval", str(vec), "--symbolic"]) == 0
    out = capsys.readouterr().out
    assert "g(x[2], s) = [s*x[0]**2, s + sin(x[1])]" in out
    assert "∂g[1]/∂x = [0, cos(x[1])]" in out and "∂g[0]/∂s = x[0]**2" in out


def test_cli_symbolic_usage_errors(tmp_path, capsys) -> None:
    path = tmp_path / "seed.txt"
    path.write_text("f(x, y) = x y\n", encoding="utf-8")
    assert main(["eval", str(path), "--cse"]) == 2
    assert "--cse goes with --symbolic" in capsys.readouterr().err
    assert main(["eval", str(path), "--symbolic", "x=1"]) == 1
    assert "takes no point" in capsys.readouterr().err
    assert main(["eval", str(path), "--symbolic", "--json"]) == 1
    assert "--json" in capsys.readouterr().err
