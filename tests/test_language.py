"""The examples of LANGUAGE.md, compiled: each one's value and gradient agree with a SymPy
expression of its stated meaning (``sympy.diff`` evaluated numerically), and every
lowering and name-resolution error names its line and column and shows a caret.

Several definitions share one source, picked with ``entry=``, so each source costs one
kernel module."""

from __future__ import annotations

import pytest
import sympy as sp
from sympy_oracle import assert_matches, sigmoid, symbols

import chaincc
from chaincc import ChainccError

x, y, z, t, b = symbols("x y z t b")
a, ab, bc, c = symbols("a ab bc c")
beta, sigma, mu = symbols("β σ μ")
e_param, pi_param, g_param = symbols("e pi g")
P2 = [(0.7, 1.3), (-1.1, 0.4), (2.2, -0.6)]
P1 = [(0.7,), (-1.3,), (2.1,)]


def check(source: str, entry: str, expr, params, points) -> None:
    assert_matches(chaincc.compile(source, entry=entry), expr, params, points)


# --------------------------------------------------------------------- numbers

NUMBERS = """
n_2e3(x) = 2e3 + x
n_2e(x) = 2e + x
n_2ex(x) = 2ex
n_2e_minus(x) = 2e-x
n_half(x) = 0.5x + .5
n_small(x) = 1e-3x + 2.5E+4
n_int(x) = 12x + 3
"""


@pytest.mark.parametrize("entry, expr", [
    ("n_2e3", 2000 + x),
    ("n_2e", 2 * sp.E + x),
    ("n_2ex", 2 * sp.E * x),
    ("n_2e_minus", 2 * sp.E - x),          # no digit after e-: it is 2*e - x
    ("n_half", x / 2 + sp.Rational(1, 2)),
    ("n_small", x / 1000 + 25000),
    ("n_int", 12 * x + 3),
])
def test_numbers(entry, expr):
    check(NUMBERS, entry, expr, (x,), P1)


# --------------------------------------------------------------- superscripts

SUPERSCRIPTS = """
s_sq(x) = x²
s_cube(y) = y³
s_inv(x) = x⁻¹
s_ten(x) = x¹⁰
s_bracket(x) = (x+1)²
s_mixed(x, y) = x²y³
"""


@pytest.mark.parametrize("entry, expr, params", [
    ("s_sq", x**2, (x,)),
    ("s_cube", y**3, (y,)),
    ("s_inv", 1 / x, (x,)),
    ("s_ten", x**10, (x,)),
    ("s_bracket", (x + 1)**2, (x,)),
    ("s_mixed", x**2 * y**3, (x, y)),
])
def test_superscripts(entry, expr, params):
    check(SUPERSCRIPTS, entry, expr, params, P2 if len(params) == 2 else P1)


# ----------------------------------------------------------------- precedence

PRECEDENCE = """
p_tower(x) = 2^3^2 + x
p_tower_x(x) = x^3^2
p_neg_pow(x) = -x^2
p_neg_sup(x) = -x²
p_signed_exp(x) = 2^-1 x + x^-2
p_stars(x, y) = x**y + 2x^2
p_ops(x, y) = x·y + x×y - x/y
p_implicit_div(x, y) = x/2y
p_unary_plus(x) = +x - -x
p_sum_product(x, y) = x + y * x - y
"""


@pytest.mark.parametrize("entry, expr, params", [
    ("p_tower", 512 + x, (x,)),                          # 2^3^2 is 2^9
    ("p_tower_x", x**9, (x,)),
    ("p_neg_pow", -(x**2), (x,)),
    ("p_neg_sup", -(x**2), (x,)),
    ("p_signed_exp", x / 2 + x**-2, (x,)),
    ("p_stars", x**y + 2 * x**2, (x, y)),
    ("p_ops", 2 * x * y - x / y, (x, y)),
    ("p_implicit_div", x / 2 * y, (x, y)),               # same level, left to right
    ("p_unary_plus", 2 * x, (x,)),
    ("p_sum_product", x + y * x - y, (x, y)),
])
def test_precedence(entry, expr, params):
    points = [(0.7, 1.3), (1.1, 0.4), (2.2, -0.6)] if len(params) == 2 else P1
    check(PRECEDENCE, entry, expr, params, points)


def test_tower_is_512():
    assert chaincc.compile(PRECEDENCE, entry="p_tower")(0.0) == 512.0


# ----------------------------------------------------- implicit multiplication

IMPLICIT = """
m_2x(x) = 2x
m_2_x(x) = 2 x
m_3paren(x) = 3(x+1)
m_parens(x, y) = (x+1)(y-1)
m_name_paren(x, y) = x(y+1)
m_2sin(x) = 2sin(x)
m_xy(x, y) = xy
m_x_y(x, y) = x y
m_xyz(x, y, z) = xyz + 2xy z
m_longest(a, ab, b, c) = abc
m_backtrack(ab, a, bc) = abc
m_whole_name(x, y, xy) = xy
m_split_binding(x) = kx
m_call_times(x) = x sq(x)
"""
IMPLICIT = "k = 3\nsq(t) = t^2\n" + IMPLICIT


@pytest.mark.parametrize("entry, expr, params", [
    ("m_2x", 2 * x, (x,)),
    ("m_2_x", 2 * x, (x,)),
    ("m_3paren", 3 * (x + 1), (x,)),
    ("m_parens", (x + 1) * (y - 1), (x, y)),
    ("m_name_paren", x * (y + 1), (x, y)),
    ("m_2sin", 2 * sp.sin(x), (x,)),
    ("m_xy", x * y, (x, y)),
    ("m_x_y", x * y, (x, y)),
    ("m_xyz", 3 * x * y * z, (x, y, z)),
    ("m_longest", ab * c, (a, ab, b, c)),                # ab·c, not a·b·c
    ("m_backtrack", a * bc, (ab, a, bc)),                # ab leaves 'c': back up to a·bc
    ("m_whole_name", symbols("xy")[0], (x, y, symbols("xy")[0])),
    ("m_split_binding", 3 * x, (x,)),
    ("m_call_times", x**3, (x,)),
])
def test_implicit_multiplication(entry, expr, params):
    points = [tuple(0.3 + 0.45 * i + 0.2 * j for i in range(len(params))) for j in range(3)]
    check(IMPLICIT, entry, expr, params, points)


# ------------------------------------------------------------------ constants

CONSTANTS = """
c_pi(x) = pi x + π
c_e(x) = e^x + 2e
c_inf(x) = atan(inf) x + min(x, inf) + max(x, -inf)
"""


@pytest.mark.parametrize("entry, expr", [
    ("c_pi", sp.pi * x + sp.pi),
    ("c_e", sp.exp(x) + 2 * sp.E),
    ("c_inf", sp.pi / 2 * x + 2 * x),
])
def test_constants(entry, expr):
    check(CONSTANTS, entry, expr, (x,), P1)


# ------------------------------------------- bindings, helpers, shadowing, entry

SCOPES = """
# the two spellings of one f, from LANGUAGE.md
f_direct(x, y) = (x² + xy)y³

u = x^2 + x*y                # bindings may name parameters of the function
v = y^3                      # defined after them; they are substituted into it
f(x, y) = u*v

sq(t) = t^2
g(x) = sq(sin(x)) + 1        # helper call, inlined

k = 2
early(x) = k x
k = 5                        # a later binding applies only to what follows it
late(x) = k x

e_param(e) = e^2 + 2e        # a parameter shadows the constant e
pi_param(pi) = 2pi
y = 7
y_param(y) = y^2             # ... a binding
g_param(g, x) = g(x) + 2g    # ... a function: g(x) is g times x here
helper_shadow(x) = g(x)
"""


@pytest.mark.parametrize("entry, expr, params", [
    ("f_direct", (x**2 + x * y) * y**3, (x, y)),
    ("f", (x**2 + x * y) * y**3, (x, y)),
    ("g", sp.sin(x)**2 + 1, (x,)),
    ("early", 2 * x, (x,)),
    ("late", 5 * x, (x,)),
    ("e_param", e_param**2 + 2 * e_param, (e_param,)),
    ("pi_param", 2 * pi_param, (pi_param,)),
    ("y_param", y**2, (y,)),
    ("g_param", g_param * x + 2 * g_param, (g_param, x)),
    ("helper_shadow", sp.sin(x)**2 + 1, (x,)),
])
def test_scopes(entry, expr, params):
    check(SCOPES, entry, expr, params, P2 if len(params) == 2 else P1)


def test_last_function_is_the_entry():
    fn = chaincc.compile(SCOPES)
    assert fn.name == "helper_shadow"
    assert fn.params == ("x",)
    other = chaincc.compile(SCOPES, entry="f")
    assert other.name == "f" and other(1, 2) == 24.0


def test_unknown_entry_names_the_functions():
    with pytest.raises(KeyError, match="no function 'nope'.*f_direct"):
        chaincc.compile(SCOPES, entry="nope")


def test_every_function_is_checked_not_only_the_entry():
    text = "helper(x) = x + q\nmain(x) = x^2\n"
    for entry in (None, "main"):
        with pytest.raises(ChainccError) as info:
            chaincc.compile(text, entry=entry, name="two.txt")
        assert (info.value.line, info.value.col) == (1, 17)
        assert "unknown name 'q'" in str(info.value)


# ------------------------------------------------------------- built-in functions

POS = [(0.7,), (1.9,), (3.4,)]                 # domain x > 0
UNIT = [(-0.6,), (0.2,), (0.85,)]              # domain |x| < 1
ANY = [(-1.7,), (0.35,), (2.6,)]
BUILTIN_CASES = {
    "sin": (sp.sin(x), ANY), "cos": (sp.cos(x), ANY), "tan": (sp.tan(x), [(-1.2,), (0.3,)]),
    "asin": (sp.asin(x), UNIT), "acos": (sp.acos(x), UNIT), "atan": (sp.atan(x), ANY),
    "sinh": (sp.sinh(x), ANY), "cosh": (sp.cosh(x), ANY), "tanh": (sp.tanh(x), ANY),
    "asinh": (sp.asinh(x), ANY), "acosh": (sp.acosh(x), [(1.2,), (2.5,)]),
    "atanh": (sp.atanh(x), UNIT), "exp": (sp.exp(x), ANY), "expm1": (sp.exp(x) - 1, ANY),
    "log": (sp.log(x), POS), "ln": (sp.log(x), POS), "log1p": (sp.log(1 + x), UNIT),
    "log2": (sp.log(x) / sp.log(2), POS), "log10": (sp.log(x) / sp.log(10), POS),
    "sqrt": (sp.sqrt(x), POS), "cbrt": (sp.sign(x) * sp.Abs(x)**sp.Rational(1, 3), ANY),
    "abs": (sp.Abs(x), ANY), "sign": (sp.sign(x), ANY), "floor": (sp.floor(x), ANY),
    "ceil": (sp.ceiling(x), ANY), "erf": (sp.erf(x), ANY), "erfc": (sp.erfc(x), ANY),
    "relu": (sp.Max(0, x), ANY), "sigmoid": (sigmoid(x), ANY),
    "softplus": (sp.log(1 + sp.exp(x)), ANY),
}
BUILTINS_SRC = "\n".join(f"b_{n}(x) = {n}(x)" for n in BUILTIN_CASES) + "\n"


@pytest.mark.parametrize("name", list(BUILTIN_CASES))
def test_builtin_one_argument(name):
    expr, points = BUILTIN_CASES[name]
    check(BUILTINS_SRC, f"b_{name}", expr, (x,), points)


MULTI = """
log_base(x, b) = log(x, b)
atan2_(y, x) = atan2(y, x)
pow_(x, y) = pow(x, y)
hypot_(x, y) = hypot(x, y)
min2(x, y) = min(x, y)
max2(x, y) = max(x, y)
min3(x, y, z) = min(x, y, z)
max3(x, y, z) = max(x, y, z)
"""
P3 = [(0.3, -1.2, 2.0), (1.7, 0.4, -0.9), (-0.5, 2.2, 1.1)]


@pytest.mark.parametrize("entry, expr, params, points", [
    ("log_base", sp.log(x) / sp.log(b), (x, b), [(2.5, 3.0), (0.4, 10.0), (7.0, 0.5)]),
    ("atan2_", sp.atan2(y, x), (y, x), [(1.0, 2.0), (-0.5, -1.5), (2.0, -0.3)]),
    ("pow_", x**y, (x, y), [(1.5, 2.5), (0.3, -1.2), (2.0, 3.0)]),
    ("hypot_", sp.sqrt(x**2 + y**2), (x, y), P2),
    ("min2", sp.Min(x, y), (x, y), P2),
    ("max2", sp.Max(x, y), (x, y), P2),
    ("min3", sp.Min(x, y, z), (x, y, z), P3),
    ("max3", sp.Max(x, y, z), (x, y, z), P3),
])
def test_builtin_several_arguments(entry, expr, params, points):
    check(MULTI, entry, expr, params, points)


def test_max_and_min_ties_go_to_the_first_argument():
    assert chaincc.compile(MULTI, entry="max2").grad(1.0, 1.0) == (1.0, 0.0)
    assert chaincc.compile(MULTI, entry="min3").grad(2.0, 1.0, 1.0) == (0.0, 1.0, 0.0)


COMPARISONS = ["<", "<=", ">", ">=", "==", "!="]
WHERE_SRC = "".join(f"w{i}(x, y) = where(x {op} y, x^2 y, y^3 - x)\n"
                    for i, op in enumerate(COMPARISONS)) + """
w_and(x, y) = where(x > 0 and y > 0, x y, x + y)
w_or(x, y) = where(x > 0 or y > 0, x y, x + y)
w_not(x, y) = where(not x > y, x y, x + y)
w_mixed(x, y) = where(x > 0 and not y > 0 or x < -1, x y, x + y)
"""
REL = {"<": sp.Lt, "<=": sp.Le, ">": sp.Gt, ">=": sp.Ge, "==": sp.Eq, "!=": sp.Ne}
WHERE_POINTS = [(1.0, 2.0), (2.0, 1.0), (1.5, 1.5), (-1.5, -0.5), (0.5, -1.0), (-2.0, 0.5)]


@pytest.mark.parametrize("i, op", list(enumerate(COMPARISONS)))
def test_where_with_each_comparison(i, op):
    expr = sp.Piecewise((x**2 * y, REL[op](x, y)), (y**3 - x, True))
    check(WHERE_SRC, f"w{i}", expr, (x, y), WHERE_POINTS)


@pytest.mark.parametrize("entry, cond", [
    ("w_and", sp.And(x > 0, y > 0)),
    ("w_or", sp.Or(x > 0, y > 0)),
    ("w_not", sp.Not(x > y)),
    ("w_mixed", sp.Or(sp.And(x > 0, sp.Not(y > 0)), x < -1)),
])
def test_where_with_and_or_not(entry, cond):
    expr = sp.Piecewise((x * y, cond), (x + y, True))
    check(WHERE_SRC, entry, expr, (x, y), WHERE_POINTS)


# ------------------------------------------------- comments, lines, unicode names

LAYOUT = """\
# a comment line
cont(x) = x +  # note: the line ends in an operator, so it continues
    1
bracket(x) = (x
    + 2) * (3 -
    x)
a = 2; semi(x) = a x; semi2(x) = semi(x) + 1   # ';' separates statements
swish(x, β) = x·sigmoid(βx)
normal(x, μ, σ) = exp(-(x - μ)²/(2σ²)) / (σ sqrt(2π))
"""


@pytest.mark.parametrize("entry, expr, params", [
    ("cont", x + 1, (x,)),
    ("bracket", (x + 2) * (3 - x), (x,)),
    ("semi", 2 * x, (x,)),
    ("semi2", 2 * x + 1, (x,)),
    ("swish", x * sigmoid(beta * x), (x, beta)),
    ("normal", sp.exp(-(x - mu)**2 / (2 * sigma**2)) / (sigma * sp.sqrt(2 * sp.pi)),
     (x, mu, sigma)),
])
def test_layout_and_unicode_names(entry, expr, params):
    points = [tuple(0.4 + 0.3 * i - 0.5 * j for i in range(len(params))) for j in range(2)]
    points.append(tuple(1.5 + 0.1 * i for i in range(len(params))))
    check(LAYOUT, entry, expr, params, points)


def test_keyword_arguments_use_unicode_names():
    fn = chaincc.compile(LAYOUT, entry="swish")
    assert fn.params == ("x", "β")
    assert fn(x=1.0, β=2.0) == fn(1.0, 2.0)
    assert fn.grad(β=2.0, x=1.0) == fn.grad(1.0, 2.0)


# ------------------------------------------------------------------- errors


def compile_error(text: str, name: str = "model.txt") -> ChainccError:
    with pytest.raises(ChainccError) as info:
        chaincc.compile(text, name=name)
    return info.value


def assert_located(err: ChainccError, text: str, line: int, col: int, message: str,
                   name: str = "model.txt") -> None:
    assert (err.line, err.col) == (line, col), str(err)
    assert message in err.message
    rendered = str(err).split("\n")
    assert rendered[0] == f"{name}:{line}:{col}: error: {err.message}"
    src_line = text.split("\n")[line - 1]
    assert rendered[1] == "    " + src_line
    assert rendered[2].startswith("    " + " " * (col - 1) + "^")
    assert rendered[2][4:].strip(" ^~") == ""


def test_language_md_unknown_name_example():
    text = "# model\n\nf(x, y) = x + z\n"
    err = compile_error(text)
    assert_located(err, text, 3, 15, "unknown name 'z'")
    assert str(err) == ("model.txt:3:15: error: unknown name 'z'\n"
                        "    f(x, y) = x + z\n"
                        "                  ^")


def test_columns_count_characters_not_bytes():
    text = "f(β, σ) = β + σ + ζ\n"
    assert_located(compile_error(text), text, 1, 19, "unknown name 'ζ'")


@pytest.mark.parametrize("text, line, col, message", [
    ("f(x) = foo(x)\n", 1, 8, "unknown function 'foo'"),
    ("f(x) = sin + x\n", 1, 8, "'sin' is a function"),
    ("g(t) = t\n\nf(x) = x + g\n", 3, 12, "'g' is a function"),
    ("f(x) = sin(x, x)\n", 1, 8, "'sin' takes 1 argument, got 2"),
    ("f(x) = atan2(x)\n", 1, 8, "'atan2' takes 2 arguments, got 1"),
    ("f(x) = where(x < 1, 2)\n", 1, 8, "'where' takes 3 arguments, got 2"),
    ("f(x) = log(x, 2, 3)\n", 1, 8, "'log' takes 1 or 2 arguments, got 3"),
    ("f(x) = max()\n", 1, 8, "'max' takes at least 1 argument, got 0"),
    ("g(a, b) = a + b\nf(x) = 1 + g(x)\n", 2, 12, "'g' takes 2 arguments, got 1"),
    ("sq(t) = t^2\nf(x) = sq(x, x)\n", 2, 8, "'sq' takes 1 argument, got 2"),
    ("f(x) = (x < 1) + 2\n", 1, 9, "a comparison can only be the condition of where"),
    ("f(x) = x < 1\n", 1, 8, "a comparison can only be the condition of where"),
    ("f(x) = sin(x > 0)\n", 1, 12, "a comparison can only be the condition of where"),
    ("f(x) = where(x < 1, x > 0, x)\n", 1, 21, "a comparison can only be the condition"),
    ("f(x) = where(x, 1, 2)\n", 1, 14, "comparison"),
    ("f(x) = where(x + 1, 1, 2)\n", 1, 14, "comparison"),
    ("f(x) = x\nf(y) = y\n", 2, 1, "function 'f' is already defined at line 1"),
    ("f(x, y) = xz\n", 1, 11, "unknown name 'xz'"),
    ("f(x, y) = xsin\n", 1, 11, "unknown name 'xsin'"),
    ("f(x, y) = 2 + x y w\n", 1, 19, "unknown name 'w'"),
    ("u = q + 1\nf(x) = u\n", 1, 5, "unknown name 'q'"),
    ("f(x) = x\ng(y) = f + y\n", 2, 8, "'f' is a function"),
    ("f(x) = x + later\nlater = 1\n", 1, 12, "unknown name 'later'"),
    ("f(x) = g(x)\ng(t) = t\n", 1, 8, "unknown function 'g'"),
])
def test_lowering_errors(text, line, col, message):
    assert_located(compile_error(text), text, line, col, message)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "a = 1\nb = a + 2\n"])
def test_file_without_function_is_an_error_at_1_1(text):
    err = compile_error(text)
    assert (err.line, err.col) == (1, 1)
    assert str(err).startswith("model.txt:1:1: error: no function")
