"""Random expressions: one tree rendered both as chaincc source (in varied spellings) and as
a SymPy expression; gradients checked against sympy.diff evaluated to 30 digits and against
central finite differences, through the compiled kernels and at Program level."""

from __future__ import annotations

import math

import mpmath
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chaincc
from chaincc.api import pipeline
from chaincc.ir import Program
from chaincc.source import Source

X, Y, Z = sp.symbols("x y z", real=True)
NAMES = ("x", "y", "z")
SYMS = dict(zip(NAMES, (X, Y, Z)))
BOUND = 30.0          # points where an intermediate exceeds this are ill-conditioned: skipped

# A tree is a tuple: ("leaf", text) or (op, style, *children); style picks a spelling.
LEAVES = ("x", "y", "z", "x", "y", "z", "1", "2", "3", "0.5", "1.5")
UNARY = ("neg", "sin", "cos", "tanh", "atan", "sigmoid", "softplus", "exp", "asinh", "erf",
         "logsq", "sqrtsq", "sq", "cube", "recip", "inv")
BINARY = ("add", "sub", "mul", "div", "divsafe", "varpow", "atan2")
FUNCS = ("sin", "cos", "tanh", "atan", "sigmoid", "softplus", "exp", "asinh", "erf")


def trees(max_depth: int) -> st.SearchStrategy:
    @st.composite
    def build(draw, depth: int):
        op = "leaf" if depth == 0 else draw(st.sampled_from(UNARY + BINARY + ("leaf",)))
        if op == "leaf":
            return ("leaf", draw(st.sampled_from(LEAVES)))
        style = draw(st.integers(0, 2))
        kids = [draw(build(depth - 1)) for _ in range(2 if op in BINARY else 1)]
        return (op, style, *kids)
    return build(max_depth)


def render(t: tuple) -> str:
    if t[0] == "leaf":
        return t[1]
    op, style, *kids = t
    k = [f"({render(c)})" for c in kids]
    if op in FUNCS:
        return f"{op}{k[0]}"
    match op:
        case "neg":
            return f"-{k[0]}"
        case "logsq":
            return f"log(1 + {k[0]}^2)" if style else f"ln(1 + {k[0]}²)"
        case "sqrtsq":
            return f"sqrt(1 + {k[0]}**2)"
        case "sq":
            return (f"{k[0]}^2", f"{k[0]}²", f"{k[0]}**2")[style]
        case "cube":
            return (f"{k[0]}^3", f"{k[0]}³", f"pow({k[0]}, 3)")[style]
        case "recip":
            return f"1/(1 + {k[0]}^2)" if style else f"(1 + {k[0]}²)⁻¹"
        case "inv":
            return f"{k[0]}^-1" if style else f"1 / {k[0]}"
        case "add":
            return f"{k[0]} + {k[1]}"
        case "sub":
            return f"{k[0]} - {k[1]}"
        case "mul":
            return (f"{k[0]} * {k[1]}", f"{k[0]}{k[1]}", f"{k[0]} · {k[1]}")[style]
        case "div":
            return f"{k[0]} / {k[1]}"
        case "divsafe":
            return f"{k[0]} / (1 + {k[1]}^2)"
        case "varpow":
            return f"(1 + {k[0]}^2)^{k[1]}"
        case "atan2":
            return f"atan2{k[0][:-1]}, {k[1][1:]}" if style else f"atan2({k[0]}, {k[1]})"
    raise AssertionError(op)


def to_sympy(t: tuple) -> sp.Expr:
    if t[0] == "leaf":
        return SYMS.get(t[1]) or sp.Rational(t[1])
    op, _, *kids = t
    a = [to_sympy(c) for c in kids]
    unary = {"neg": lambda u: -u, "sin": sp.sin, "cos": sp.cos, "tanh": sp.tanh,
             "atan": sp.atan, "sigmoid": lambda u: 1 / (1 + sp.exp(-u)),
             "softplus": lambda u: sp.log(1 + sp.exp(u)), "exp": sp.exp, "asinh": sp.asinh,
             "erf": sp.erf, "logsq": lambda u: sp.log(1 + u ** 2),
             "sqrtsq": lambda u: sp.sqrt(1 + u ** 2), "sq": lambda u: u ** 2,
             "cube": lambda u: u ** 3, "recip": lambda u: 1 / (1 + u ** 2),
             "inv": lambda u: 1 / u}
    if op in unary:
        return unary[op](a[0])
    binary = {"add": lambda u, v: u + v, "sub": lambda u, v: u - v, "mul": lambda u, v: u * v,
              "div": lambda u, v: u / v, "divsafe": lambda u, v: u / (1 + v ** 2),
              "varpow": lambda u, v: (1 + u ** 2) ** v, "atan2": sp.atan2}
    return binary[op](*a)


MP_UNARY = {"neg": lambda u: -u, "sin": mpmath.sin, "cos": mpmath.cos, "tanh": mpmath.tanh,
            "atan": mpmath.atan, "sigmoid": lambda u: 1 / (1 + mpmath.exp(-u)),
            "softplus": lambda u: mpmath.log(1 + mpmath.exp(u)), "exp": mpmath.exp,
            "asinh": mpmath.asinh, "erf": mpmath.erf, "logsq": lambda u: mpmath.log(1 + u * u),
            "sqrtsq": lambda u: mpmath.sqrt(1 + u * u), "sq": lambda u: u * u,
            "cube": lambda u: u ** 3, "recip": lambda u: 1 / (1 + u * u),
            "inv": lambda u: 1 / u}
MP_BINARY = {"add": lambda u, v: u + v, "sub": lambda u, v: u - v, "mul": lambda u, v: u * v,
             "div": lambda u, v: u / v, "divsafe": lambda u, v: u / (1 + v * v),
             "varpow": lambda u, v: (1 + u * u) ** v, "atan2": mpmath.atan2}


def well_conditioned(t: tuple, env: dict) -> bool:
    """Whether every intermediate value stays within BOUND (and away from poles)."""
    ok = True

    def ev(node: tuple):
        nonlocal ok
        if node[0] == "leaf":
            return env[node[1]] if node[1] in env else mpmath.mpf(node[1])
        args = [ev(c) for c in node[2:]]
        f = MP_UNARY.get(node[0]) or MP_BINARY[node[0]]
        try:
            v = f(*args)
        except (ZeroDivisionError, ValueError, OverflowError):
            ok = False
            return mpmath.mpf(0)
        if not isinstance(v, mpmath.mpf) or not mpmath.isfinite(v) or abs(v) > BOUND:
            ok = False
            return mpmath.mpf(0)
        # atan2 jumps by 2π across y = 0 where x < 0 (and -0.0 picks the side)
        if node[0] == "atan2" and abs(args[0]) < 1e-3 and args[1] < 1e-3:
            ok = False
        return v

    with mpmath.workdps(30):
        ev(t)
    return ok


class Oracle:
    """Value and gradient of a SymPy expression, evaluated in 30-digit arithmetic."""

    def __init__(self, expr: sp.Expr) -> None:
        exprs = [expr] + [sp.diff(expr, s) for s in (X, Y, Z)]
        # SymPy folds 1/(x - x) to zoo: nowhere finite, nothing to compare
        self.f = None if any(e.has(sp.zoo, sp.nan, sp.oo) for e in exprs) else \
            sp.lambdify((X, Y, Z), exprs, modules="mpmath")

    def __call__(self, pt: tuple[float, ...]) -> list[float] | None:
        if self.f is None:
            return None
        with mpmath.workdps(30):
            try:
                vals = self.f(*(mpmath.mpf(v) for v in pt))
            except (ZeroDivisionError, ValueError, OverflowError):
                return None
        out = []
        for v in vals:
            # a derivative this large means a pole within reach of float64 rounding
            if isinstance(v, mpmath.mpc) or not mpmath.isfinite(v) or abs(v) > 1e8:
                return None
            out.append(float(v))
        return out


def near(got: float, want: float, rel: float) -> bool:
    return abs(got - want) <= rel * max(1.0, abs(want))


def check_function(fn: chaincc.Function, tree: tuple, points: list) -> int:
    """Compare fn against the oracle and finite differences; returns points checked."""
    oracle = Oracle(to_sympy(tree))
    checked = 0
    for pt in points:
        if not well_conditioned(tree, dict(zip(NAMES, map(mpmath.mpf, pt)))):
            continue
        want = oracle(pt)
        if want is None:
            continue
        value, grad = fn.value_and_grad(*pt)
        assert near(value, want[0], 1e-9), (render(tree), pt, value, want[0])
        for i, (g, w) in enumerate(zip(grad, want[1:])):
            assert near(g, w, 1e-9), (render(tree), pt, NAMES[i], g, w)
            h = 1e-6
            lo, hi = list(pt), list(pt)
            lo[i] -= h
            hi[i] += h
            if not all(well_conditioned(tree, dict(zip(NAMES, map(mpmath.mpf, q))))
                       for q in (lo, hi)):
                continue
            fd = (fn.value_and_grad(*hi)[0] - fn.value_and_grad(*lo)[0]) / (2 * h)
            if math.isfinite(fd):
                assert near(g, fd, 1e-5), (render(tree), pt, NAMES[i], g, fd)
        checked += 1
    return checked


coord = st.floats(-1.5, 1.5, allow_nan=False, allow_infinity=False)
point = st.tuples(coord, coord, coord)
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW)
@given(tree=trees(5), points=st.lists(point, min_size=2, max_size=2))
def test_random_expression_gradient(tree: tuple, points: list) -> None:
    fn = chaincc.compile(f"f(x, y, z) = {render(tree)}")
    check_function(fn, tree, points)


@settings(max_examples=3, deadline=None, suppress_health_check=SLOW)
@given(forest=st.lists(trees(5), min_size=10, max_size=10),
       points=st.lists(point, min_size=2, max_size=2))
def test_ten_random_functions_in_one_source(forest: list, points: list) -> None:
    text = "\n".join(f"g{i}(x, y, z) = {render(t)}" for i, t in enumerate(forest))
    unit = chaincc.compile_unit(text)
    assert unit.names == [f"g{i}" for i in range(10)]
    for i, t in enumerate(forest):
        check_function(unit.function(f"g{i}"), t, points)


def test_fixed_expressions_are_checked() -> None:
    """The checker itself rejects a wrong gradient and accepts the right one."""
    tree = ("mul", 0, ("sin", 0, ("leaf", "x")), ("sq", 1, ("leaf", "y")))
    assert render(tree) == "(sin(x)) * ((y)²)"
    fn = chaincc.compile(f"f(x, y, z) = {render(tree)}")
    assert check_function(fn, tree, [(0.3, -1.2, 0.0), (1.1, 0.4, 0.7)]) == 2
    wrong = ("mul", 0, ("cos", 0, ("leaf", "x")), ("sq", 1, ("leaf", "y")))
    with pytest.raises(AssertionError):
        check_function(fn, wrong, [(0.3, -1.2, 0.0)])


# ------------------------------------------------------------ Program level, no Numba

def run_program(prog: Program, pt: tuple[float, ...]) -> dict[str, sp.Expr]:
    """Evaluate a Program statement by statement in 30-digit arithmetic."""
    env: dict[sp.Basic, sp.Expr] = {}
    for p, v in zip(prog.params, pt):
        env[p.symbols[0]] = sp.Float(v, 30)
    for a in prog.body:
        env[a.target] = sp.N(a.expr.xreplace(env), 30)
    return {o.name: sp.N(sp.sympify(o.exprs[0]).xreplace(env), 30) for o in prog.outputs}


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW)
@given(tree=trees(8), pt=point)
def test_program_level_gradient(tree: tuple, pt: tuple) -> None:
    text = f"f(x, y, z) = {render(tree)}"
    (compiled,) = pipeline(Source("<random>", text))
    prog = compiled.fused
    assert [o.name for o in prog.outputs] == ["value", "grad_x", "grad_y", "grad_z"]
    for a in prog.body:                   # one operation per statement, assign-once
        assert all(not arg.args or isinstance(arg, (sp.Mul, sp.Pow, sp.Rel))
                   for arg in a.expr.args), a
    if not well_conditioned(tree, dict(zip(NAMES, map(mpmath.mpf, pt)))):
        return
    want = Oracle(to_sympy(tree))(pt)
    if want is None:
        return
    got = run_program(prog, pt)
    for name, w in zip(("value", "grad_x", "grad_y", "grad_z"), want):
        g = got[name]
        assert g.is_number and g.is_finite, (text, name, g)
        assert near(float(g), w, 1e-9), (text, pt, name, float(g), w)
