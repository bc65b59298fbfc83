"""The derivative table against an oracle: every built-in function and operator, compiled
through ``chaincc.compile_unit``, checked for value and gradient against ``sympy.diff``
evaluated to 30 digits; then the non-smooth points and IEEE conventions of LANGUAGE.md."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import sympy as sp

import chaincc
from chaincc.functions import Where

# The oracle's symbols are real, so sympy.diff gives sign(x) for |x|' and Heaviside for
# max/min; chaincc's own symbols carry no assumptions.
X, Y, Z = sp.symbols("x y z", real=True)
ORACLE_SYMBOLS = {"x": X, "y": Y, "z": Z}
REL = 1e-12


@dataclass(frozen=True)
class Case:
    name: str                    # function name in the compiled source
    params: str                  # "x" or "x, y" ...
    body: str                    # chaincc source of the body
    oracle: sp.Expr              # the same function in SymPy, over X, Y, Z
    points: tuple[tuple[float, ...], ...]


def _pts(*vs: float) -> tuple[tuple[float, ...], ...]:
    return tuple((v,) for v in vs)


ANY = _pts(-2.3, -0.4, 0.3, 1.7)
UNIT = _pts(-0.9, -0.2, 0.35, 0.8)
POS = _pts(0.01, 0.7, 3.5, 1000.0)


def _sigmoid(e: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-e))


UNARY: list[tuple[str, sp.Expr, tuple]] = [
    ("sin", sp.sin(X), ANY),
    ("cos", sp.cos(X), ANY),
    ("tan", sp.tan(X), _pts(-1.2, -0.3, 0.4, 1.1)),
    ("asin", sp.asin(X), UNIT),
    ("acos", sp.acos(X), UNIT),
    ("atan", sp.atan(X), _pts(-30.0, -0.4, 0.3, 7.0)),
    ("sinh", sp.sinh(X), ANY),
    ("cosh", sp.cosh(X), ANY),
    ("tanh", sp.tanh(X), ANY),
    ("asinh", sp.asinh(X), _pts(-40.0, -0.4, 0.3, 7.0)),
    ("acosh", sp.acosh(X), _pts(1.05, 2.0, 10.0)),
    ("atanh", sp.atanh(X), UNIT),
    ("exp", sp.exp(X), _pts(-20.0, -0.4, 0.3, 5.0)),
    ("expm1", sp.exp(X) - 1, _pts(-3.0, -1e-8, 1e-6, 0.3, 5.0)),
    ("log", sp.log(X), POS),
    ("ln", sp.log(X), POS),
    ("log1p", sp.log(1 + X), _pts(-0.9, -1e-7, 0.5, 20.0)),
    ("log2", sp.log(X, 2), POS),
    ("log10", sp.log(X, 10), POS),
    ("sqrt", sp.sqrt(X), POS),
    ("cbrt", sp.sign(X) * sp.Abs(X) ** sp.Rational(1, 3), _pts(-8.0, -0.3, 0.02, 27.0)),
    ("abs", sp.Abs(X), _pts(-2.5, -0.3, 0.7, 4.0)),
    ("sign", sp.sign(X), _pts(-2.5, -0.3, 0.7, 4.0)),
    ("floor", sp.floor(X), _pts(-2.5, -0.3, 0.7, 4.2)),
    ("ceil", sp.ceiling(X), _pts(-2.5, -0.3, 0.7, 4.2)),
    ("erf", sp.erf(X), _pts(-2.0, -0.4, 0.3, 1.5)),
    ("erfc", sp.erfc(X), _pts(-2.0, -0.4, 0.3, 1.5, 4.0)),
    ("relu", sp.Piecewise((X, X > 0), (0, True)), _pts(-2.5, -0.3, 0.7, 4.0)),
    ("sigmoid", _sigmoid(X), _pts(-4.0, -0.4, 0.3, 4.0)),
    ("softplus", sp.log(1 + sp.exp(X)), _pts(-4.0, -0.4, 0.3, 4.0)),
    ("lgamma", sp.log(sp.Abs(sp.gamma(X))), _pts(-2.5, -0.3, 0.7, 4.2, 30.0)),
    ("gelu", X * (1 + sp.erf(X / sp.sqrt(2))) / 2, _pts(-4.0, -0.4, 0.3, 4.0)),
]

XY_ANY = ((0.3, -1.2), (-0.7, 0.4), (1.5, 2.5), (-2.0, -0.6))
XY_POS = ((0.3, 1.2), (2.7, 0.4), (1.5, -2.5), (0.9, -0.6))
XYZ = ((0.3, -1.2, 0.5), (-0.7, 0.4, 1.1), (1.5, 2.5, -0.2), (-2.0, -0.6, -3.0))

OTHERS: list[Case] = [
    Case("f_atan2", "y, x", "atan2(y, x)", sp.atan2(Y, X),
         ((0.5, 1.0), (0.5, -1.0), (-0.5, -1.0), (-0.5, 1.0), (2.0, 0.1))),
    Case("f_pow", "x, y", "pow(x, y)", X ** Y, XY_POS),
    Case("f_hypot", "x, y", "hypot(x, y)", sp.sqrt(X ** 2 + Y ** 2), XY_ANY),
    Case("f_min2", "x, y", "min(x, y)", sp.Min(X, Y), XY_ANY),
    Case("f_max2", "x, y", "max(x, y)", sp.Max(X, Y), XY_ANY),
    Case("f_min3", "x, y, z", "min(x, y, z)", sp.Min(X, Y, Z), XYZ),
    Case("f_max3", "x, y, z", "max(x, y, z)", sp.Max(X, Y, Z), XYZ),
    Case("f_where", "x, y", "where(x < y, x*y, sin(x))",
         sp.Piecewise((X * Y, X < Y), (sp.sin(X), True)), XY_ANY),
    Case("f_where_bool", "x, y", "where(x > 0 and not y > 1 or x < -1.5, x^2 y, cos(y))",
         sp.Piecewise((X ** 2 * Y, ((X > 0) & (Y <= 1)) | (X < -1.5)), (sp.cos(Y), True)),
         XY_ANY),
    Case("f_logb", "x, y", "log(x, y)", sp.log(X) / sp.log(Y), ((0.3, 2.0), (5.0, 0.5))),
    Case("f_add", "x, y", "x + y", X + Y, XY_ANY),
    Case("f_add3", "x, y, z", "x + y + z", X + Y + Z, XYZ),
    Case("f_sub", "x, y", "x - y", X - Y, XY_ANY),
    Case("f_lin", "x, y", "3x - 2.5y + 1", 3 * X - sp.Rational(5, 2) * Y + 1, XY_ANY),
    Case("f_mul", "x, y", "x * y", X * Y, XY_ANY),
    Case("f_mul3", "x, y, z", "x y z", X * Y * Z, XYZ),
    Case("f_div", "x, y", "x / y", X / Y, XY_ANY),
    Case("f_rdiv", "x", "2 / x", 2 / X, ANY),
    Case("f_div_sum", "x, y, z", "(x + z) / (y - z)", (X + Z) / (Y - Z), XYZ),
    Case("f_neg", "x", "-x", -X, ANY),
    Case("f_neg_prod", "x, y", "-(x*y)", -(X * Y), XY_ANY),
    Case("f_sq", "x", "x^2", X ** 2, ANY),
    Case("f_cube", "x", "x³", X ** 3, ANY),
    Case("f_pow10", "x", "x^10", X ** 10, ANY),
    Case("f_inv", "x", "x^-1", 1 / X, ANY),
    Case("f_inv2", "x", "x^(-2)", X ** -2, ANY),
    Case("f_inv9", "x", "x**-9", X ** -9, ANY),
    Case("f_half", "x", "x^0.5", sp.sqrt(X), POS),
    Case("f_mhalf", "x", "x^(-1/2)", X ** sp.Rational(-1, 2), POS),
    Case("f_frac", "x", "x^2.5", X ** sp.Rational(5, 2), POS),
    Case("f_third", "x", "x^(1/3)", X ** sp.Rational(1, 3), POS),
    Case("f_varexp", "x, y", "x^y", X ** Y, XY_POS),
    Case("f_expbase", "x", "2^x", 2 ** X, ANY),
    Case("f_ebase", "x", "e^x", sp.exp(X), ANY),
    Case("f_powsum", "x, y", "(x + y)^3 - (x y)^-1", (X + Y) ** 3 - (X * Y) ** -1, XY_ANY),
]

CASES: list[Case] = [Case(f"f_{n}", "x", f"{n}(x)", e, p) for n, e, p in UNARY] + OTHERS
SOURCE = "\n".join(f"{c.name}({c.params}) = {c.body}" for c in CASES)


def oracle_eval(expr: sp.Expr, names: list[str], point: tuple[float, ...]) -> float:
    subs = {ORACLE_SYMBOLS[n]: sp.Float(v, 40) for n, v in zip(names, point)}
    return float(sp.N(expr.xreplace(subs), 30))


def oracle_grad(expr: sp.Expr, names: list[str]) -> list[sp.Expr]:
    out = []
    for n in names:
        d = sp.diff(expr, ORACLE_SYMBOLS[n])
        # floor and ceiling have no SymPy derivative; away from the integers it is 0
        d = d.replace(lambda e: isinstance(e, sp.Derivative), lambda e: sp.Integer(0))
        out.append(d)
    return out


def close(got: float, want: float, rel: float = REL) -> bool:
    return math.isclose(got, want, rel_tol=rel, abs_tol=1e-300)


@pytest.fixture(scope="module")
def unit() -> chaincc.api.Unit:
    return chaincc.compile_unit(SOURCE, name="rules.txt")


def test_every_builtin_is_covered() -> None:
    from chaincc.builtins import BUILTINS
    bodies = " ".join(c.body for c in CASES)
    scalar_kinds = ("elementwise", "where", "extremum")   # array reductions: elsewhere
    scalar = [n for n, b in BUILTINS.items() if b.kind in scalar_kinds]
    assert len(scalar) >= 36
    assert [n for n in scalar if f"{n}(" not in bodies] == []


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_value_and_gradient_match_sympy(unit, case: Case) -> None:
    fn = unit.function(case.name)
    names = [p.strip() for p in case.params.split(",")]
    assert fn.params == tuple(names)
    grads = oracle_grad(case.oracle, names)
    for pt in case.points:
        value, grad = fn.value_and_grad(*pt)
        assert type(value) is float and len(grad) == len(names)
        want = oracle_eval(case.oracle, names, pt)
        assert close(value, want), (case.body, pt, value, want)
        for n, g, d in zip(names, grad, grads):
            want_g = oracle_eval(d, names, pt)
            assert close(g, want_g), (case.body, pt, n, g, want_g)


def test_forward_kernel_agrees_with_fused(unit) -> None:
    for name, pt in (("f_sin", (0.3,)), ("f_pow", (2.7, 0.4)), ("f_max3", (0.3, -1.2, 0.5)),
                     ("f_where_bool", (0.3, 0.4)), ("f_softplus", (-4.0,))):
        fn = unit.function(name)
        assert fn(*pt) == fn.value_and_grad(*pt)[0]


# ------------------------------------------------------- non-smooth points and IEEE

SPECIAL = """
relu0(x) = relu(x)
abs0(x) = abs(x)
sign0(x) = sign(x)
floor0(x) = floor(x)
ceil0(x) = ceil(x)
max2(x, y) = max(x, y)
min2(x, y) = min(x, y)
max3(x, y, z) = max(x, y, z)
min3(x, y, z) = min(x, y, z)
wlt(x) = where(x < 1, x^2, 3x)
wle(x) = where(x <= 1, x^2, 3x)
wsqrt(x) = where(x > 0, sqrt(x), 0)
sqrt0(x) = sqrt(x)
log0(x) = log(x)
recip(x) = 1/x
sqrtsq(x) = sqrt(x^2)
unused(x, y) = x^2
square(x) = x^2
stepsum(x) = sign(x) + floor(x) + ceil(x)
consts(x) = sigmoid(e) + softplus(-pi) + relu(pi) + cbrt(-pi) + max(pi, e) + min(pi, 3, 2) + x
"""


@pytest.fixture(scope="module")
def special() -> chaincc.api.Unit:
    return chaincc.compile_unit(SPECIAL, name="special.txt")


def vg(unit, name: str, *args: float) -> tuple[float, tuple[float, ...]]:
    return unit.function(name).value_and_grad(*args)


def test_relu_and_abs_at_zero(special) -> None:
    assert vg(special, "relu0", 0.0) == (0.0, (0.0,))
    assert vg(special, "relu0", -0.0)[1] == (0.0,)
    assert vg(special, "abs0", 0.0) == (0.0, (0.0,))
    assert vg(special, "abs0", -3.0) == (3.0, (-1.0,))


@pytest.mark.parametrize("name", ["sign0", "floor0", "ceil0", "stepsum"])
def test_piecewise_constant_has_zero_derivative_everywhere(special, name: str) -> None:
    fn = special.function(name)
    for x in (-2.0, -1.5, -0.0, 0.0, 0.5, 1.0, 3.0):
        assert fn.grad(x) == (0.0,)
    # no adjoint statement at all: the fused program is the forward program
    assert fn.program.body == fn.forward_program.body
    assert fn.program.output("grad_x").exprs == (0,)


def test_step_values(special) -> None:
    assert [special.function("sign0")(v) for v in (-2.0, 0.0, 3.0)] == [-1.0, 0.0, 1.0]
    assert special.function("floor0")(-1.5) == -2.0
    assert special.function("ceil0")(-1.5) == -1.0


@pytest.mark.parametrize("name, args, grad", [
    ("max2", (1.0, 1.0), (1.0, 0.0)),
    ("min2", (1.0, 1.0), (1.0, 0.0)),
    ("max2", (1.0, 2.0), (0.0, 1.0)),
    ("min2", (1.0, 2.0), (1.0, 0.0)),
    ("max3", (0.0, 2.0, 2.0), (0.0, 1.0, 0.0)),
    ("max3", (2.0, 2.0, 2.0), (1.0, 0.0, 0.0)),
    ("max3", (2.0, 2.0, 1.0), (1.0, 0.0, 0.0)),
    ("max3", (2.0, 1.0, 2.0), (1.0, 0.0, 0.0)),
    ("max3", (0.0, 1.0, 3.0), (0.0, 0.0, 1.0)),
    ("min3", (5.0, 1.0, 1.0), (0.0, 1.0, 0.0)),
    ("min3", (1.0, 5.0, 1.0), (1.0, 0.0, 0.0)),
    ("min3", (3.0, 2.0, -1.0), (0.0, 0.0, 1.0)),
])
def test_extremum_ties_go_to_first(special, name: str, args: tuple, grad: tuple) -> None:
    value, g = vg(special, name, *args)
    assert value == (max(args) if name.startswith("max") else min(args))
    assert g == grad


def test_extremum_ties_in_batch(special) -> None:
    fn = special.function("max3")
    x = np.array([0.0, 2.0, 2.0])
    y = np.array([2.0, 2.0, 1.0])
    z = np.array([2.0, 2.0, 2.0])
    _, (gx, gy, gz) = fn.value_and_grad(x, y, z)
    assert gx.tolist() == [0.0, 1.0, 1.0]
    assert gy.tolist() == [1.0, 0.0, 0.0]
    assert gz.tolist() == [0.0, 0.0, 0.0]


def test_where_differentiates_the_branch_it_picked(special) -> None:
    assert vg(special, "wlt", 1.0) == (3.0, (3.0,))      # 1 < 1 is false: 3x
    assert vg(special, "wle", 1.0) == (1.0, (2.0,))      # 1 <= 1 holds: x^2
    assert vg(special, "wlt", 0.5) == (0.25, (1.0,))
    assert vg(special, "wle", 2.0) == (6.0, (3.0,))
    assert vg(special, "wsqrt", 4.0) == (2.0, (0.25,))


def test_where_ignores_the_unpicked_branch_derivative(special) -> None:
    # the unpicked branch's partial is nan at x = -1 (0.5 / sqrt(-1)); it must not leak
    assert vg(special, "wsqrt", -1.0) == (0.0, (0.0,))
    v, (g,) = vg(special, "wsqrt", 4.0)
    assert v == 2.0 and g == 0.25


def test_ieee_special_values_do_not_raise(special) -> None:
    v, (g,) = vg(special, "sqrt0", 0.0)
    assert v == 0.0 and g == math.inf
    v, (g,) = vg(special, "log0", 0.0)
    assert v == -math.inf and g == math.inf
    v, (g,) = vg(special, "log0", -1.0)
    assert math.isnan(v) and g == -1.0
    assert math.isnan(special.function("log0")(-1.0))
    v, (g,) = vg(special, "recip", 0.0)
    assert v == math.inf and g == -math.inf
    assert special.function("recip")(0.0) == math.inf
    v, (g,) = vg(special, "sqrt0", -4.0)
    assert math.isnan(v) and math.isnan(g)
    # the batch kernels follow the same conventions, without raising
    vals, (gs,) = special.function("log0").value_and_grad(np.array([-1.0, 0.0, 1.0]))
    assert math.isnan(vals[0]) and vals[1] == -math.inf and vals[2] == 0.0
    assert gs.tolist()[1:] == [math.inf, 1.0]
    assert special.function("recip")(np.array([0.0, -0.0, 2.0])).tolist() == \
        [math.inf, -math.inf, 0.5]


def test_sqrt_of_square_is_not_abs(special) -> None:
    fn = special.function("sqrtsq")
    v, (g,) = fn.value_and_grad(0.0)
    # d/dx sqrt(x^2) at 0 = (0.5 / 0) * (2 * 0) = inf * 0 = nan in IEEE float64
    assert v == 0.0 and math.isnan(g)
    assert fn.value_and_grad(-3.0) == (3.0, (-1.0,))
    ops = {type(a.expr) for a in fn.program.body}
    assert sp.Abs not in ops and sp.Pow in ops


def test_unused_parameter_has_exact_zero_gradient(special) -> None:
    fn = special.function("unused")
    v, (gx, gy) = fn.value_and_grad(1.5, 7.0)
    assert (v, gx) == (2.25, 3.0)
    assert gy == 0.0 and type(gy) is float and math.copysign(1.0, gy) == 1.0
    assert fn.program.output("grad_y").exprs == (0,)
    # nothing is computed for y: the same statements as for a function of x alone
    assert fn.program.body == special.function("square").program.body
    _, (gxs, gys) = fn.value_and_grad(np.arange(3.0), 2.0)
    assert gys.tolist() == [0.0, 0.0, 0.0]


def _is_zero_adjoint(expr: sp.Basic) -> bool:
    if expr.is_Number:
        return True
    if isinstance(expr, Where):
        return expr.args[1] == 0 and expr.args[2] == 0
    if isinstance(expr, sp.Mul):
        return any(a == 0 for a in expr.args)
    return False


def test_no_statement_computes_a_zero(unit, special) -> None:
    for u in (unit, special):
        for c in u.compiled:
            bad = [a for a in c.fused.body if _is_zero_adjoint(a.expr)]
            assert not bad, (c.fused.name, bad)
            assert len({a.target for a in c.fused.body}) == len(c.fused.body)


def test_constant_arguments_fold(special) -> None:
    """chaincc's own functions of pi and e fold to numbers at compile time."""
    fn = special.function("consts")
    want = (1 / (1 + math.exp(-math.e)) + math.log1p(math.exp(-math.pi)) + math.pi
            - math.pi ** (1 / 3) + math.pi + 2.0)
    v, (g,) = fn.value_and_grad(0.5)
    assert math.isclose(v, want + 0.5, rel_tol=1e-15) and g == 1.0
    assert len(fn.forward_program.body) == 1           # x + one folded constant


def test_comparisons_with_a_nan_constant_follow_ieee() -> None:
    # asin(2) folds to NaN: ordered comparisons with it are false, != is true
    fn = chaincc.compile("f(x, y) = max(asin(2), x) + min(y, asin(1e300)) + "
                         "where(asin(2) < x, 1, x) + where(asin(2) != x, x, 0)")
    value, grad = fn.value_and_grad(1.0, 2.0)
    assert math.isnan(value)
    assert grad == (3.0, 0.0)
