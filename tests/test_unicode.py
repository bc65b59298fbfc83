"""Textbook Unicode notation (docs/language.md, "Textbook notation"), compiled: every
formula's value and gradient at random points agree with its meaning written by hand as
a SymPy expression here (``sympy.diff`` evaluated numerically), and malformed forms are
errors with a caret.

Formulas share a few sources, picked with ``entry=``; the seed texts' formulas (written
there in LaTeX) appear in their Unicode form."""

from __future__ import annotations

import warnings
import zlib

import numpy as np
import pytest
import sympy as sp
from sympy_oracle import REAL, assert_matches, sigmoid

import chaincc
from chaincc import ChainccError
from chaincc.diagnostics import SourceWarning
from chaincc.parser import BARE_FUNCTIONS, FUNCTION_NAMES


def S(name: str) -> sp.Symbol:
    return sp.Symbol(name, **REAL)


x, y, z, n, m, v = S("x"), S("y"), S("z"), S("n"), S("m"), S("v")
a, b, c = S("a"), S("b"), S("c")
beta, mu, sigma = S("β"), S("μ"), S("σ")

ANY = (-2.0, 2.0)
POS = (0.3, 2.5)
UNIT = (-0.85, 0.85)


def cbrt(e):
    return sp.sign(e) * sp.Abs(e) ** sp.Rational(1, 3)


def points(entry: str, params, domain, count: int = 3) -> list[tuple[float, ...]]:
    """Random points (seeded by the entry's name) in ``domain``: one (lo, hi) for every
    parameter, or one per parameter."""
    rng = np.random.default_rng(zlib.crc32(entry.encode()))
    ranges = domain if isinstance(domain[0], tuple) else [domain] * len(params)
    return [tuple(float(rng.uniform(lo, hi)) for lo, hi in ranges) for _ in range(count)]


def check(source: str, entry: str, expr, params, domain) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SourceWarning)     # tested in test_warnings.py
        fn = chaincc.compile(source, entry=entry)
    assert_matches(fn, expr, params, points(entry, params, domain))


def cases(source: str, table: list[tuple]) -> list:
    return [pytest.param(source, *row, id=row[0]) for row in table]


# ----------------------------------------------------------------- operators

OPERATORS = """
o_minus(x, y) = x − y
o_times(x, y) = x × y
o_div(x, y) = x ÷ y
o_dot(x, y) = x ⋅ y
o_ast(x, y) = x ∗ y
o_bullet(x, y) = x ∙ y
o_middot(x, y) = x·y + 1
o_neg(x) = −x²
o_negneg(x, y) = −x − −y
o_mixed(x, y) = 2x × 3y ÷ (x − y)
o_minus_pow(x) = 2^−x
o_precedence(x, y) = x − y × x ÷ y
o_le(x, y) = where(x ≤ y, x, y²)
o_ge(x, y) = where(x ≥ y, x y, x + y)
o_ne(x, y) = where(x ≠ y, x − y, 0)
o_and(x, y) = where(x > 0 ∧ y > 0, x y, 0)
o_or(x, y) = where(x > 0 ∨ y > 0, x + y, x − y)
o_not(x, y) = where(¬(x ≤ y), x, y)
o_logic(x, y) = where(x ≥ 0 ∧ ¬(y ≥ 0) ∨ x ≤ −1, x y, x + y)
"""
OPERATOR_CASES = [
    ("o_minus", x - y, (x, y), ANY),
    ("o_times", x * y, (x, y), ANY),
    ("o_div", x / y, (x, y), POS),
    ("o_dot", x * y, (x, y), ANY),
    ("o_ast", x * y, (x, y), ANY),
    ("o_bullet", x * y, (x, y), ANY),
    ("o_middot", x * y + 1, (x, y), ANY),
    ("o_neg", -(x**2), (x,), ANY),
    ("o_negneg", -x + y, (x, y), ANY),
    ("o_mixed", 6 * x * y / (x - y), (x, y), ((0.2, 1.0), (1.5, 2.5))),
    ("o_minus_pow", 2**-x, (x,), ANY),
    ("o_precedence", x - y * x / y, (x, y), POS),
    ("o_le", sp.Piecewise((x, x <= y), (y**2, True)), (x, y), ANY),
    ("o_ge", sp.Piecewise((x * y, x >= y), (x + y, True)), (x, y), ANY),
    ("o_ne", sp.Piecewise((x - y, sp.Ne(x, y)), (0, True)), (x, y), ANY),
    ("o_and", sp.Piecewise((x * y, sp.And(x > 0, y > 0)), (0, True)), (x, y), ANY),
    ("o_or", sp.Piecewise((x + y, sp.Or(x > 0, y > 0)), (x - y, True)), (x, y), ANY),
    ("o_not", sp.Piecewise((x, sp.Not(x <= y)), (y, True)), (x, y), ANY),
    ("o_logic", sp.Piecewise((x * y, sp.Or(sp.And(x >= 0, sp.Not(y >= 0)), x <= -1)),
                             (x + y, True)), (x, y), ANY),
]

# ------------------------------------------------------ roots and fractions

ROOTS = """
r_sqrt(x) = √x
r_paren(x) = √(x + 1)
r_cbrt(x) = ∛x
r_fourth(x) = ∜x
r_times(x, y) = √x·y
r_2x(x) = √2x
r_square(x) = √x²
r_nested(x) = √√x
r_bar(x) = √|x|
r_hyp(x, y) = √(x² + y²)/2
r_mix(x) = 2√x + √x/x
r_cbrt_paren(x) = ∛(x − 1)
r_exp(x) = √e^x
r_chain(x) = √(1 + √x)
r_coef(x, y) = 3√(x y)
r_group_then(x, y) = √(x + 1)y
r_pow_after_group(x) = √(x)³
r_fraction(x) = 1/√(2π) e^(−x²/2)
"""
ROOT_CASES = [
    ("r_sqrt", sp.sqrt(x), (x,), POS),
    ("r_paren", sp.sqrt(x + 1), (x,), POS),
    ("r_cbrt", cbrt(x), (x,), ANY),
    ("r_fourth", x ** sp.Rational(1, 4), (x,), POS),
    ("r_times", sp.sqrt(x) * y, (x, y), POS),
    ("r_2x", sp.sqrt(2 * x), (x,), POS),
    ("r_square", sp.sqrt(x**2), (x,), ANY),
    ("r_nested", x ** sp.Rational(1, 4), (x,), POS),
    ("r_bar", sp.sqrt(sp.Abs(x)), (x,), ANY),
    ("r_hyp", sp.sqrt(x**2 + y**2) / 2, (x, y), ANY),
    ("r_mix", 2 * sp.sqrt(x) + sp.sqrt(x) / x, (x,), POS),
    ("r_cbrt_paren", cbrt(x - 1), (x,), ANY),
    ("r_exp", sp.sqrt(sp.exp(x)), (x,), ANY),
    ("r_chain", sp.sqrt(1 + sp.sqrt(x)), (x,), POS),
    ("r_coef", 3 * sp.sqrt(x * y), (x, y), POS),
    ("r_group_then", sp.sqrt(x + 1) * y, (x, y), POS),
    ("r_pow_after_group", sp.sqrt(x) ** 3, (x,), POS),
    ("r_fraction", sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi), (x,), ANY),
]

FRACTIONS = """
v_half(x) = ½x²
v_third(x) = ⅓x³
v_quarters(x) = ¼x + ¾ + ⅔x² − ⅕
v_eighths(x) = ⅛x + ⅜x² + ⅝ + ⅞x³
v_sixths(x) = ⅙ x ⅚
v_divide(x) = x/½
v_power(x) = ½^x
v_small(x) = ⅒x + ⅑ + ⅐x
v_fifths(x) = ⅖x − ⅗ + ⅘x²
v_in_sum(x, y) = ½(x + y)²
"""
FRACTION_CASES = [
    ("v_half", x**2 / 2, (x,), ANY),
    ("v_third", x**3 / 3, (x,), ANY),
    ("v_quarters", x / 4 + sp.Rational(3, 4) + sp.Rational(2, 3) * x**2 - sp.Rational(1, 5),
     (x,), ANY),
    ("v_eighths", x / 8 + sp.Rational(3, 8) * x**2 + sp.Rational(5, 8)
     + sp.Rational(7, 8) * x**3, (x,), ANY),
    ("v_sixths", 5 * x / 36, (x,), ANY),
    ("v_divide", 2 * x, (x,), ANY),
    ("v_power", sp.Rational(1, 2) ** x, (x,), ANY),
    ("v_small", x / 10 + sp.Rational(1, 9) + x / 7, (x,), ANY),
    ("v_fifths", sp.Rational(2, 5) * x - sp.Rational(3, 5) + sp.Rational(4, 5) * x**2,
     (x,), ANY),
    ("v_in_sum", (x + y) ** 2 / 2, (x, y), ANY),
]

# ------------------------------------------------------------------- bars

BARS = """
b_abs(x) = |x|
b_diff(x, y) = |x − y|
b_two(x, y) = |x| + |y|
b_scaled(x, y) = 2|x| + 3|y|
b_nested(x) = ||x| − 1|
b_nested_right(x, y) = |x − |y||
b_product(x, y) = |x||y|
b_square(x) = |x|²
b_power(x) = |x|^3
b_in_function(x) = sin|x|
b_norm(x, y) = ‖[x, y]‖
b_norm_square(x, y, z) = ‖[x, y, z]‖²
b_times_norm(x, y) = x‖[x, y]‖
b_dot_between(x, y) = |x|·2|y|
b_in_call(x, y) = max(|x|, |y|)
b_abs_of_sum(x, y) = |x + y| − |x| − |y|
"""
BAR_CASES = [
    ("b_abs", sp.Abs(x), (x,), ANY),
    ("b_diff", sp.Abs(x - y), (x, y), ANY),
    ("b_two", sp.Abs(x) + sp.Abs(y), (x, y), ANY),
    ("b_scaled", 2 * sp.Abs(x) + 3 * sp.Abs(y), (x, y), ANY),
    ("b_nested", sp.Abs(sp.Abs(x) - 1), (x,), ANY),
    ("b_nested_right", sp.Abs(x - sp.Abs(y)), (x, y), ANY),
    ("b_product", sp.Abs(x) * sp.Abs(y), (x, y), ANY),
    ("b_square", sp.Abs(x) ** 2, (x,), ANY),
    ("b_power", sp.Abs(x) ** 3, (x,), ANY),
    ("b_in_function", sp.sin(sp.Abs(x)), (x,), ANY),
    ("b_norm", sp.sqrt(x**2 + y**2), (x, y), ANY),
    ("b_norm_square", x**2 + y**2 + z**2, (x, y, z), ANY),
    ("b_times_norm", x * sp.sqrt(x**2 + y**2), (x, y), ANY),
    ("b_dot_between", 2 * sp.Abs(x) * sp.Abs(y), (x, y), ANY),
    ("b_in_call", sp.Max(sp.Abs(x), sp.Abs(y)), (x, y), ANY),
    ("b_abs_of_sum", sp.Abs(x + y) - sp.Abs(x) - sp.Abs(y), (x, y), ANY),
]

# ------------------------------------------------ functions without brackets

FUNCTIONS = """
f_sin(x) = sin x
f_ln(x) = ln x
f_exp(x) = exp x
f_sin_2x(x) = sin 2x
f_sin_cos(x, y) = sin x cos y
f_sin_sq(x) = sin²x
f_pythagoras(x) = cos²x + sin²x
f_asin(x) = sin⁻¹ x
f_acos(x) = cos⁻¹x
f_atan(x) = tan⁻¹ x
f_atanh(x) = tanh⁻¹ x
f_ascii_sq(x) = sin^2 x
f_ascii_inverse(x) = sin^-1 x
f_brace_sq(x) = cos^{2}(x)
f_brace_inverse(x) = cos^{-1} x
f_pow_call(x) = sin²(x + 1)
f_arg_power(x) = sin x²
f_arg_caret(x) = sin x^2
f_arg_sign(x) = exp −x²
f_nested(x) = sin cos x
f_ln_sin(x) = ln sin x
f_space_ends(x, y) = sin x y
f_slash_ends(x) = sin x/2
f_plus_ends(x) = sin x + 1
f_dot_ends(x) = sin 2x·x
f_coefficient(x) = 2sin x + 1
f_word(x, y) = tanh 3xy
f_log2(x) = log₂ x
f_log10(x) = log₁₀ x
f_log_ascii(x) = log_2(x) + log_e x
f_sigmoid(x) = sigmoid 2x
f_relu(x) = relu x − relu −x
f_sqrt_word(x) = sqrt x + abs x
f_bar_argument(x, y) = sin |x − y|
f_exp_pow(x) = exp(x)² + exp²(x)
f_call_then(x, y) = sin (x + 1)y
f_function_ends(x) = sin 2cos x
f_group_arg(x, y) = sin 2(x + y)
f_transpose_arg(x) = exp xᵀ
f_tan_pi(x) = tan πx/4
"""
FUNCTION_CASES = [
    ("f_sin", sp.sin(x), (x,), ANY),
    ("f_ln", sp.log(x), (x,), POS),
    ("f_exp", sp.exp(x), (x,), ANY),
    ("f_sin_2x", sp.sin(2 * x), (x,), ANY),
    ("f_sin_cos", sp.sin(x) * sp.cos(y), (x, y), ANY),
    ("f_sin_sq", sp.sin(x) ** 2, (x,), ANY),
    ("f_pythagoras", sp.cos(x) ** 2 + sp.sin(x) ** 2, (x,), ANY),
    ("f_asin", sp.asin(x), (x,), UNIT),
    ("f_acos", sp.acos(x), (x,), UNIT),
    ("f_atan", sp.atan(x), (x,), ANY),
    ("f_atanh", sp.atanh(x), (x,), UNIT),
    ("f_ascii_sq", sp.sin(x) ** 2, (x,), ANY),
    ("f_ascii_inverse", sp.asin(x), (x,), UNIT),
    ("f_brace_sq", sp.cos(x) ** 2, (x,), ANY),
    ("f_brace_inverse", sp.acos(x), (x,), UNIT),
    ("f_pow_call", sp.sin(x + 1) ** 2, (x,), ANY),
    ("f_arg_power", sp.sin(x**2), (x,), ANY),
    ("f_arg_caret", sp.sin(x**2), (x,), ANY),
    ("f_arg_sign", sp.exp(-(x**2)), (x,), ANY),
    ("f_nested", sp.sin(sp.cos(x)), (x,), ANY),
    ("f_ln_sin", sp.log(sp.sin(x)), (x,), (0.3, 2.8)),
    ("f_space_ends", sp.sin(x) * y, (x, y), ANY),
    ("f_slash_ends", sp.sin(x) / 2, (x,), ANY),
    ("f_plus_ends", sp.sin(x) + 1, (x,), ANY),
    ("f_dot_ends", sp.sin(2 * x) * x, (x,), ANY),
    ("f_coefficient", 2 * sp.sin(x) + 1, (x,), ANY),
    ("f_word", sp.tanh(3 * x * y), (x, y), UNIT),
    ("f_log2", sp.log(x) / sp.log(2), (x,), POS),
    ("f_log10", sp.log(x) / sp.log(10), (x,), POS),
    ("f_log_ascii", sp.log(x) / sp.log(2) + sp.log(x), (x,), POS),
    ("f_sigmoid", sigmoid(2 * x), (x,), ANY),
    ("f_relu", sp.Max(0, x) - sp.Max(0, -x), (x,), ANY),
    ("f_sqrt_word", sp.sqrt(x) + sp.Abs(x), (x,), POS),
    ("f_bar_argument", sp.sin(sp.Abs(x - y)), (x, y), ANY),
    ("f_exp_pow", 2 * sp.exp(x) ** 2, (x,), ANY),
    ("f_call_then", sp.sin(x + 1) * y, (x, y), ANY),
    ("f_function_ends", sp.sin(2) * sp.cos(x), (x,), ANY),
    ("f_group_arg", sp.sin(2 * (x + y)), (x, y), ANY),
    ("f_transpose_arg", sp.exp(x), (x,), ANY),
    ("f_tan_pi", sp.tan(sp.pi * x) / 4, (x,), (-0.4, 0.4)),
]

# ----------------------------------------------- exponents, superscripts, words

POWERS = """
p_e(x) = e^x
p_e_brace(x) = e^{x}
p_e_brace_word(x, y) = e^{xy}
p_e_word(x, y) = e^xy
p_x2y(x, y) = x^2y
p_e2x(x) = e^2x
p_brace_sum(x) = e^{2x + 1}
p_div(x, y) = x/2y
p_sup_name(x, n) = xⁿ
p_sup_sum(x, n) = x⁽ⁿ⁺¹⁾
p_sup_product(x, n) = x²ⁿ
p_sup_negative(x, n) = x⁻ⁿ
p_sup_greek(x, β) = xᵝ
p_sup_word(x, y) = eˣʸ
p_sup_exp(x) = eˣ + e⁻ˣ
p_tanh_def(x) = (eˣ − e⁻ˣ)/(eˣ + e⁻ˣ)
p_kinetic(m, v) = ½mv²
p_word_base(x, y) = xy^2 + 3xy²
p_word_both(a, b, c) = ab^bc
p_label(x) = x⁽³⁾
p_stars(x, y) = x**2y
p_transpose(x, y) = [x, y] @ [[1, 2], [3, 4]]ᵀ @ [y, x]
p_whole_name(x, xy) = e^xy
"""
POWER_CASES = [
    ("p_e", sp.exp(x), (x,), ANY),
    ("p_e_brace", sp.exp(x), (x,), ANY),
    ("p_e_brace_word", sp.exp(x * y), (x, y), UNIT),
    ("p_e_word", sp.exp(x) * y, (x, y), ANY),
    ("p_x2y", x**2 * y, (x, y), ANY),
    ("p_e2x", sp.E**2 * x, (x,), ANY),
    ("p_brace_sum", sp.exp(2 * x + 1), (x,), UNIT),
    ("p_div", x / 2 * y, (x, y), ANY),
    ("p_sup_name", x**n, (x, n), POS),
    ("p_sup_sum", x ** (n + 1), (x, n), POS),
    ("p_sup_product", x ** (2 * n), (x, n), POS),
    ("p_sup_negative", x**-n, (x, n), POS),
    ("p_sup_greek", x**beta, (x, beta), POS),
    ("p_sup_word", sp.exp(x * y), (x, y), UNIT),
    ("p_sup_exp", sp.exp(x) + sp.exp(-x), (x,), ANY),
    ("p_tanh_def", (sp.exp(x) - sp.exp(-x)) / (sp.exp(x) + sp.exp(-x)), (x,), ANY),
    ("p_kinetic", m * v**2 / 2, (m, v), ANY),
    ("p_word_base", 4 * x * y**2, (x, y), ANY),
    ("p_word_both", a * b**b * c, (a, b, c), POS),
    ("p_label", x**3, (x,), ANY),
    ("p_stars", x**2 * y, (x, y), ANY),
    ("p_transpose", 3 * x**2 + 5 * x * y + 2 * y**2, (x, y), ANY),
    ("p_whole_name", sp.exp(S("xy")), (x, S("xy")), ANY),
]

# ------------------------------------------------------- subscripts, accents

x_1, x_2, h_t, W_ih = S("x_1"), S("x_2"), S("h_t"), S("W_ih")
h_prev, alpha_1, y_hat, x_12 = S("h_{t-1}"), S("α_1"), S("ŷ"), S("x_12")
SUBSCRIPTS = """
s_unicode(x₁, x₂) = x₁² + x₂
s_mixed(x₁, x_2) = x_1 x₂ + x_{1}
s_braces(x_1, h_t) = x_{1} h_{t}
s_word(W_ih, x) = W_{ih}x + Wᵢₕ
s_previous(h_{t-1}, x) = tanh(hₜ₋₁ + x) + h_{t − 1}
s_greek(α₁) = α_1²
s_hat(y, ŷ) = (y − ŷ)²
s_hat_combining(y, ŷ) = ŷ − y
s_ends_name(x₁, y) = x₁y
s_many_digits(x_12) = x_{12}²
"""
SUBSCRIPT_CASES = [
    ("s_unicode", x_1**2 + x_2, (x_1, x_2), ANY),
    ("s_mixed", x_1 * x_2 + x_1, (x_1, x_2), ANY),
    ("s_braces", x_1 * h_t, (x_1, h_t), ANY),
    ("s_word", W_ih * x + W_ih, (W_ih, x), ANY),
    ("s_previous", sp.tanh(h_prev + x) + h_prev, (h_prev, x), ANY),
    ("s_greek", alpha_1**2, (alpha_1,), ANY),
    ("s_hat", (y - y_hat) ** 2, (y, y_hat), ANY),
    ("s_hat_combining", y_hat - y, (y, y_hat), ANY),     # ŷ written as y + U+0302
    ("s_ends_name", x_1 * y, (x_1, y), ANY),
    ("s_many_digits", x_12**2, (x_12,), ANY),
]

# ------------------------------------------------ the seed texts, in Unicode

W1, W2, b1, b2 = S("W_1"), S("W_2"), S("b_1"), S("b_2")
SEEDS = """
seed(x, y) = (x² + xy)y³
J(y, ŷ) = ½(y − ŷ)²
σ(t) = sigmoid(t)
swish(x, β) = xσ(βx)
two_layer(W₁, b₁, W₂, b₂, x, y) = ½(y − σ(W₂ tanh(W₁x + b₁) + b₂))²
normal(x, μ, σ) = exp(−(x − μ)²/(2σ²)) / (σ√(2π))
logistic(x) = 1/(1 + e^−x)
softplus_text(x) = ln(1 + eˣ)
polynomial(x) = ½x² − ⅓x³ + ¼x⁴
circle(x) = where(−1 ≤ x ∧ x ≤ 1, √(1 − x²), 0)
"""
SEED_CASES = [
    ("seed", (x**2 + x * y) * y**3, (x, y), ANY),
    ("J", (y - y_hat) ** 2 / 2, (y, y_hat), ANY),
    ("swish", x * sigmoid(beta * x), (x, beta), ANY),
    ("two_layer", (y - sigmoid(W2 * sp.tanh(W1 * x + b1) + b2)) ** 2 / 2,
     (W1, b1, W2, b2, x, y), ANY),
    ("normal", sp.exp(-(x - mu) ** 2 / (2 * sigma**2)) / (sigma * sp.sqrt(2 * sp.pi)),
     (x, mu, sigma), ((-2.0, 2.0), (-1.0, 1.0), (0.5, 2.0))),
    ("logistic", 1 / (1 + sp.exp(-x)), (x,), ANY),
    ("softplus_text", sp.log(1 + sp.exp(x)), (x,), ANY),
    ("polynomial", x**2 / 2 - x**3 / 3 + x**4 / 4, (x,), ANY),
    ("circle", sp.Piecewise((sp.sqrt(1 - x**2), sp.And(-1 <= x, x <= 1)), (0, True)),
     (x,), (-1.5, 1.5)),
]

# The domino chain of seed 003: h = 2x, g = h², f = √g; and f(g(h(x))) with h = x²,
# g = h + 1, f = 2g. Bindings apply to every later statement, so each has its own source.
CHAIN = "h = 2x\ng = h²\nf(x) = √g\n"
CHAIN2 = "h = x²\ng = h + 1\nf(x) = 2g\n"
# Names that hide a built-in are themselves: not applied without brackets.
SHADOW = """
exp = 3
sh_binding(x) = exp x
sh_param(sin, x) = sin x
sh_power(sin, x) = sin²x
w = cos(x)
sh_call(cos, x) = w
sh_log(log_2, x) = log_2 x
"""
SHADOW_CASES = [
    ("sh_binding", 3 * x, (x,), ANY),
    ("sh_param", S("sin") * x, (S("sin"), x), ANY),
    ("sh_power", S("sin") ** 2 * x, (S("sin"), x), ANY),
    ("sh_call", S("cos") * x, (S("cos"), x), ANY),     # cos(x) with brackets: a product
    ("sh_log", S("log_2") * x, (S("log_2"), x), ANY),
]

ALL = (cases(OPERATORS, OPERATOR_CASES) + cases(ROOTS, ROOT_CASES)
       + cases(FRACTIONS, FRACTION_CASES) + cases(BARS, BAR_CASES)
       + cases(FUNCTIONS, FUNCTION_CASES) + cases(POWERS, POWER_CASES)
       + cases(SUBSCRIPTS.replace("ŷ − y", "y\u0302 − y"), SUBSCRIPT_CASES)
       + cases(SEEDS, SEED_CASES) + cases(SHADOW, SHADOW_CASES))


def test_there_are_at_least_100_formulas() -> None:
    assert len(ALL) >= 100


@pytest.mark.parametrize(("source", "entry", "expr", "params", "domain"), ALL)
def test_formula(source: str, entry: str, expr, params, domain) -> None:
    check(source, entry, expr, params, domain)


def test_combining_hat_is_the_precomposed_name() -> None:
    fn = chaincc.compile("f(y, y\u0302) = y\u0302 − y")
    assert fn.params == ("y", "ŷ")


@pytest.mark.parametrize(("source", "expr", "at", "value", "slope"), [
    (CHAIN, sp.sqrt((2 * x) ** 2), 3.0, 6.0, 2.0),       # the seed's f = 6, ∂f/∂x = 2
    (CHAIN2, 2 * (x**2 + 1), 1.5, 6.5, 6.0),             # ∂f/∂x = 4x
])
def test_seed_domino_chains(source: str, expr, at: float, value: float, slope: float) -> None:
    fn = chaincc.compile(source)
    assert fn.value_and_grad(at) == (value, (slope,))
    assert_matches(fn, expr, (x,), points(source, (x,), POS))


def test_seed_example_value() -> None:
    """The seed's worked example at (1, 2): 24 and (32, 44)."""
    assert chaincc.compile(SEEDS, entry="seed").value_and_grad(1, 2) == (24.0, (32.0, 44.0))


def test_every_builtin_of_one_argument_applies_without_brackets() -> None:
    from chaincc.builtins import BUILTINS
    one = {k for k, b in BUILTINS.items() if b.kind == "elementwise" and b.min_args == 1}
    assert BARE_FUNCTIONS == one
    assert FUNCTION_NAMES == set(BUILTINS)


def test_reference_interpreter_reads_the_same_formulas() -> None:
    """``chaincc check``'s oracle parses the same tree; word powers are split the same
    way (xy² is x·y², e^xy is e^x·y)."""
    from chaincc.reference import evaluate
    for source, entry, point in [(POWERS, "p_word_base", [1.5, -0.5]),
                                 (POWERS, "p_e_word", [0.5, 2.0]),
                                 (POWERS, "p_kinetic", [2.0, 3.0]),
                                 (BARS, "b_nested", [-0.25]),
                                 (FUNCTIONS, "f_sin_cos", [0.5, 1.0])]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SourceWarning)
            fn = chaincc.compile(source, entry=entry)
        value, grads = evaluate(source, point, entry=entry)
        got_value, got_grad = fn.value_and_grad(*point)
        assert got_value == pytest.approx(value, rel=1e-14)
        assert list(got_grad) == pytest.approx([grads[p] for p in fn.params], rel=1e-14)


# ------------------------------------------------------------------ errors

ERRORS = [
    ("f(x) = √", 1, 8, "expected an expression after '√', found end of file"),
    ("f(x) = (√)", 1, 10, "expected an expression, found ')'"),
    ("f(x) = |x", 1, 8, "'|' was never closed (an absolute value is |x| or abs(x))"),
    ("f(x) = ‖x", 1, 8, "'‖' was never closed (a norm is ‖v‖ or norm(v))"),
    ("f(x) = sin", 1, 8, "'sin' is a function; call it with arguments"),
    ("f(x) = sin + x", 1, 8, "'sin' is a function"),
    ("f(x) = x₁₂₃", 1, 9, "the subscript '₁₂₃' is ambiguous: one number or several "
     "indices (w₁₂ is often row 1, column 2)? write x_123 for a name"),
    ("f(x) = 2½", 1, 8, "'2½' is ambiguous: write 2 + ½ for the mixed number or 2·½ for "
     "the product"),
    ("f(x) = sin²", 1, 12, "expected the argument of 'sin²' (as in sin² x or sin²(x)), "
     "found end of file"),
    ("f(x) = sin⁻² x", 1, 8, "'sin⁻²' is ambiguous: only ⁻¹ (the inverse function) may "
     "follow a function's name; write sin(x)^-2 for a power of its value"),
    ("f(x) = exp⁻¹ x", 1, 8, "'exp⁻¹': chaincc has no built-in inverse of 'exp'; for the "
     "reciprocal write 1/exp(x)"),
    ("f(a, b, c) = |a|b|c|", 1, 18, "ambiguous '|': with the '|' at line 1, column 16 it "
     "could also be read as one absolute value inside another; write abs(…) for one of "
     "them, or put '·' before the '|' that opens"),
    ("f(x, y) = |x|2|y|", 1, 15, "ambiguous '|': with the '|' at line 1, column 13"),
    ("f(x) = (x|)", 1, 10, "unmatched '|' (it opens or closes an absolute value: |x| or "
     "abs(x))"),
    ("f(x) = |x)", 1, 10, "closing ')' does not match the '|' at line 1, column 8"),
    ("f(x) = ‖x|", 1, 10, "closing '|' does not match the '‖' at line 1, column 8"),
    ("f(x, y) = max(|x, y|)", 1, 17, "expected '|' to close the '|' at line 1, column 15, "
     "found ','"),
    ("f(x) = x_{}", 1, 9, "empty subscript '_{}'"),
    ("f(x) = x_{a,b}", 1, 12, "unexpected ',' in a subscript"),
    ("f(x) = x_{a", 1, 10, "'{' was never closed (a subscript in braces ends with '}')"),
    ("f(x) = ₁x", 1, 8, "a subscript ('₁') must follow a name, as in x₁"),
    ("f(x) = x⁽ⁿ", 1, 9, "'⁽' was never closed"),
    ("f(x) = x⁽⁽ⁿ⁾⁾", 1, 10, "superscript brackets do not nest"),
    ("f(x) = xⁿ⁺¹", 1, 10, "superscript sign '⁺' may only open an exponent; put a sum in "
     "superscript brackets: x⁽ⁿ⁺¹⁾"),
    ("f(x) = x⁽⁾", 1, 9, "empty superscript brackets"),
    ("f(x) = {x}", 1, 8, "braces group an exponent (e^{x}) or a subscript (h_{t-1}); use "
     "'(' and ')' here"),
    ("f(x) = e^{x", 1, 10, "'{' was never closed"),
    ("f(abs, x) = |x|", 1, 13, "'|x|' stands for the built-in 'abs', but 'abs' is a "
     "parameter here; rename the parameter"),
    ("cbrt = 2\nf(x) = ∛x", 2, 8, "'∛x' stands for the built-in 'cbrt', but 'cbrt' is "
     "defined above; rename that definition"),
    ("u = sin x\nf(x, sin) = u", 1, 5, "'sin' without brackets stands for the built-in "
     "'sin', but this binding may be used in 'f', whose parameter 'sin' hides it; rename "
     "the parameter"),
    ("f(x, asin) = sin⁻¹ x", 1, 14, "'sin⁻¹' without brackets stands for the built-in "
     "'asin', but 'asin' is a parameter here"),
    ("f(x) = x ≤", 1, 10, "expected an expression after '≤', found end of file"),
    ("f(x) = x < 1 ≤ 2", 1, 14, "comparisons cannot be chained"),
    ("f(x) = x + ¬ x", 1, 12, "'¬' cannot follow '+' without parentheses; write '(¬ ...)'"),
]


@pytest.mark.parametrize(("text", "line", "col", "message"), ERRORS)
def test_malformed_forms_are_located_errors(text: str, line: int, col: int,
                                            message: str) -> None:
    with pytest.raises(ChainccError) as info:
        chaincc.compile(text, name="m.txt")
    err = info.value
    assert (err.line, err.col) == (line, col), str(err)
    assert message in err.message, err.message
    rendered = str(err).split("\n")
    assert rendered[0] == f"m.txt:{line}:{col}: error: {err.message}"
    assert rendered[1] == "    " + text.split("\n")[line - 1]
    assert rendered[2].startswith("    " + " " * (col - 1) + "^")


def test_bars_nested_deeply_are_refused_at_the_limit() -> None:
    deep = 12_001
    with pytest.raises(ChainccError) as info:
        chaincc.compile("f(x) = " + "|" * deep + "x" + "|" * deep)
    assert "nested more than 12,000 levels deep" in info.value.message
