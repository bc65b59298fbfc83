"""Hints in diagnostics: "did you mean" for unknown names (the names in scope at that
point), and the chaincc form of Python-style input, each with its exact text and the
columns its caret covers."""

from __future__ import annotations

import itertools
import random
import time

import numpy as np
import pytest
import sympy as sp

import chaincc
from chaincc import ChainccError
from chaincc.builtins import BUILTINS
from chaincc.hints import ALIASES, closest, distance


def error(text: str) -> ChainccError:
    with pytest.raises(ChainccError) as info:
        chaincc.compile(text, name="m.txt")
    return info.value


def located(text: str) -> tuple[int, int, int, str]:
    """(line, column, caret width, message) of the error ``text`` raises, after checking
    that the rendered caret sits under those columns of the quoted line."""
    err = error(text)
    rendered = str(err).split("\n")
    assert rendered[0] == f"m.txt:{err.line}:{err.col}: error: {err.message}"
    assert rendered[1] == "    " + text.split("\n")[err.line - 1]
    caret = rendered[2][4:]
    width = len(caret.strip())
    assert caret == " " * (err.col - 1) + "^" + "~" * (width - 1)
    return err.line, err.col, width, err.message


# ------------------------------------------------------------ did you mean -----

NAMES = [
    ("f(x) = sigmod(x)", (1, 8, 6),
     "unknown function 'sigmod' (did you mean 'sigmoid'?)"),
    ("f(x) = sigmoid(x) + sigmod(x)", (1, 21, 6),
     "unknown function 'sigmod' (did you mean 'sigmoid'?)"),
    ("f(x) = tanhh(x)", (1, 8, 5), "unknown function 'tanhh' (did you mean 'tanh'?)"),
    ("f(x) = sinn(x)", (1, 8, 4), "unknown function 'sinn' (did you mean 'sin'?)"),
    ("f(x) = Sin(x)", (1, 8, 3), "unknown function 'Sin' (did you mean 'sin'?)"),
    ("f(x) = softmx(x)", (1, 8, 6), "unknown function 'softmx' (did you mean 'softmax'?)"),
    ("f(alpha) = alph + 1", (1, 12, 4), "unknown name 'alph' (did you mean 'alpha'?)"),
    ("f(x) = X + 1", (1, 8, 1), "unknown name 'X' (did you mean 'x'?)"),
    ("scale = 2\nf(x) = x*scael", (2, 10, 5), "unknown name 'scael' (did you mean 'scale'?)"),
    ("square_it(t) = t^2\nf(x) = sqare_it(x)", (2, 8, 8),
     "unknown function 'sqare_it' (did you mean 'square_it'?)"),
    ("f(x) = x*pii", (1, 10, 3), "unknown name 'pii' (did you mean 'pi'?)"),
    ("f(x) = arcsin(x)", (1, 8, 6), "unknown function 'arcsin' (did you mean 'asin'?)"),
    ("f(x) = maximum(x, 1)", (1, 8, 7), "unknown function 'maximum' (did you mean 'max'?)"),
    ("f(x) = expit(x)", (1, 8, 5), "unknown function 'expit' (did you mean 'sigmoid'?)"),
    # nothing close: the plain message
    ("f(x) = zz", (1, 8, 2), "unknown name 'zz'"),
    ("f(x) = q(x)", (1, 8, 1), "unknown function 'q'"),
    ("f(x) = banana", (1, 8, 6), "unknown name 'banana'"),
    # only names in scope at that point are suggested: 'later' comes after, and a
    # parameter of another function is not in scope
    ("f(x) = x + later1\nlater = 1", (1, 12, 6), "unknown name 'later1'"),
    ("g(alpha) = alpha\nf(x) = alph", (2, 8, 4), "unknown name 'alph'"),
]


@pytest.mark.parametrize("text, where, message", NAMES)
def test_unknown_names_suggest_the_closest_name_in_scope(text, where, message) -> None:
    line, col, width, got = located(text)
    assert (line, col, width) == where
    assert got == message


def test_the_innermost_name_wins_a_tie() -> None:
    # 'rate1' and 'rate2' are both one edit from 'rate3'; the parameter shadows
    _, _, _, message = located("rate1 = 1\nf(rate2) = rate3")
    assert message == "unknown name 'rate3' (did you mean 'rate2'?)"


def _osa(a: str, b: str) -> int:
    """Optimal string alignment distance, the whole table (the textbook recurrence)."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def test_banded_distance_matches_the_full_table() -> None:
    rng = random.Random(5)
    for _ in range(3000):
        a = "".join(rng.choice("abc") for _ in range(rng.randrange(0, 8)))
        b = "".join(rng.choice("abc") for _ in range(rng.randrange(0, 8)))
        for limit in (0, 1, 2, 3):
            want = _osa(a, b)
            assert distance(a, b, limit) == (want if want <= limit else limit + 1), (a, b)


def test_closest_rules() -> None:
    assert closest("sigmod", ["x", "sigmoid", "sign"]) == "sigmoid"
    assert closest("xz", ["x", "z"]) is None              # two letters: no guess
    assert closest("Xz", ["xz"]) == "xz"                  # but case still counts
    assert closest("sgimoid", ["sigmoid"]) == "sigmoid"   # a swap is one edit
    assert closest("sigmoidal", ["sigmoid"]) == "sigmoid"   # two edits for long names
    assert closest("tan", ["tan"]) is None                # the name itself is not a hint
    assert closest("a" * 65, ["a" * 64]) is None
    # every alias names a real builtin
    assert all(v in BUILTINS for v in ALIASES.values())


def test_closest_is_bounded_on_hostile_scopes() -> None:
    rng = random.Random(0)
    word = "a" * 40
    near = []
    for _ in range(30_000):           # every one within two edits
        s = list(word)
        s[rng.randrange(40)] = rng.choice("bcdefg")
        s[rng.randrange(40)] = rng.choice("bcdefg")
        near.append("".join(s))
    start = time.perf_counter()
    assert closest(word, near) in near
    assert time.perf_counter() - start < 10


# ----------------------------------------------------------- Python style -----

PYTHON = [
    ("f(x) = math.sin(x)", (1, 8, 8),
     "'math.sin' is Python: chaincc's built-in functions need no module prefix; write sin(x)"),
    ("f(x) = np.exp(x)", (1, 8, 6),
     "'np.exp' is Python: chaincc's built-in functions need no module prefix; write exp(x)"),
    ("f(x) = numpy.log(x) + 1", (1, 8, 9),
     "'numpy.log' is Python: chaincc's built-in functions need no module prefix; "
     "write log(x)"),
    ("f(x) = torch.tanh(x)", (1, 8, 10),
     "'torch.tanh' is Python: chaincc's built-in functions need no module prefix; "
     "write tanh(x)"),
    ("f(a[3], b[3]) = np.dot(a, b)", (1, 17, 6),
     "'np.dot' is Python: chaincc's built-in functions need no module prefix; "
     "write dot(a, b)"),
    ("f(x[3]) = np.linalg.norm(x)", (1, 11, 14),
     "'np.linalg.norm' is Python: chaincc's built-in functions need no module prefix; "
     "write norm(x)"),
    ("f(x) = np.arcsin(x)", (1, 8, 9),
     "'np.arcsin' is Python: chaincc's built-in functions need no module prefix; "
     "write asin(x)"),
    ("f(x) = np.maximum(x, 1)", (1, 8, 10),
     "'np.maximum' is Python: chaincc's built-in functions need no module prefix; "
     "write max(x, 1)"),
    ("f(x) = np.square(x + 1)", (1, 8, 9),
     "'np.square' is Python: chaincc's built-in functions need no module prefix; "
     "write (x + 1)^2"),
    ("f(x) = np.sine(x)", (1, 8, 7),
     "'np.sine' is Python: chaincc has no module prefixes and no built-in function "
     "'sine' (did you mean 'sin'?)"),
    ("f(x) = math.pi*x", (1, 8, 7),
     "'math.pi' is Python: chaincc's constants need no module prefix; write pi"),
    ("f(A[2,2]) = sum(A.T)", (1, 17, 3),
     "'.T' is NumPy's transpose: write A' or transpose(A)"),
    ("f(A[2,2], B[2,2]) = sum((A @ B).T)", (1, 25, 9),
     "'.T' is NumPy's transpose: write (A @ B)' or transpose(A @ B)"),
    ("f(x[3]) = x.sum()", (1, 11, 5), "'x.sum(...)' is a Python method call: write sum(x)"),
    ("f(x[3]) = x.dot(x)", (1, 11, 5),
     "'x.dot(...)' is a Python method call: write dot(x, x)"),
    ("f(A[2,2]) = sum(A.matmul(A))", (1, 17, 8),
     "'A.matmul(...)' is a Python method call: write A @ A"),
    ("f(x) = a.b", (1, 9, 1),
     "unexpected character '.': chaincc names have no attributes or modules ('a.b' is not "
     "a name)"),
    ("f = lambda x: x^2", (1, 5, 9),
     "'lambda' is Python: chaincc has no lambda; write f(x) = x^2"),
    ("g = lambda x, y: x*y", (1, 5, 12),
     "'lambda' is Python: chaincc has no lambda; write g(x, y) = x*y"),
    ("def f(x):\n    return x**2", (1, 1, 9),
     "'def' is Python: chaincc defines a function without 'def', ':' or 'return'; "
     "write f(x) = x**2"),
    ("def f(x: float) -> float:\n    # squared\n    return x * x", (1, 1, 25),
     "'def' is Python: chaincc defines a function without 'def', ':' or 'return'; "
     "write f(x) = x * x"),
    ("def f(x) = x^2", (1, 1, 3),
     "'def' is Python: chaincc defines a function without it; write f(x) = x^2"),
    ("f(x) = return x^2", (1, 8, 6),
     "unknown name 'return': a chaincc function has no 'return'; its value is the "
     "expression after '='; write f(x) = x^2"),
    ("return x^2", (1, 1, 6),
     "a chaincc function has no 'return': its value is the expression after '=' in its "
     "definition, as in 'f(x) = x^2'"),
    ("import numpy as np\nf(x) = x", (1, 1, 6),
     "chaincc has no imports: sin, exp, dot, softmax and the other built-in functions "
     "need none"),
    ("let y = 2\nf(x) = x*y", (1, 1, 3), "a binding is written without 'let'; write y = 2"),
    ("f(x) = x if x > 0 else 0", (1, 10, 2),
     "unknown name 'if': chaincc writes 'a if c else b' as where(c, a, b); "
     "write where(x > 0, x, 0)"),
    ("f(x) = 1 + (x^2 if x < 0 else sin(x))", (1, 17, 2),
     "unknown name 'if': chaincc writes 'a if c else b' as where(c, a, b); "
     "write where(x < 0, x^2, sin(x))"),
    ("f(x) = abs(x) if x else 0", (1, 15, 2),
     "unknown name 'if': chaincc writes 'a if c else b' as where(c, a, b); "
     "write where(x != 0, abs(x), 0)"),
    ("f(x) = x > 0 ? x : 0", (1, 14, 1),
     "unexpected character '?': chaincc writes 'c ? a : b' as where(c, a, b); "
     "write where(x > 0, x, 0)"),
    ("f(x) = where(x > 0 && x < 1, x, 0)", (1, 20, 2), "unexpected '&&': chaincc writes 'and'"),
    ("f(x) = where(!(x > 0), x, 0)", (1, 14, 1),
     "unexpected character '!': chaincc writes 'not' ('!=' is 'not equal')"),
    ("f(x) = x^^2", (1, 9, 2), "'^^' is not an operator: a power is written a^b (or a**b)"),
    ("f(x) = x // 2", (1, 10, 2),
     "'//' is not an operator: chaincc has no integer division; write floor(a/b)"),
    ("f(x) = x === 2", (1, 10, 3),
     "'===' is not an operator: a comparison is written '=='"),
    ("f(x) = x % 2", (1, 10, 1),
     "unexpected character '%': chaincc has no remainder operator; write x - 2*floor(x/2) "
     "for Python's x % 2"),
    ("f(x) == x^2", (1, 6, 2),
     "expected '=' after the parameter list of 'f', found '=='; a definition is written "
     "with one '='; write f(x) = x^2"),
    ("y == 2\nf(x) = x*y", (1, 3, 2),
     "expected '=' after 'y', found '=='; a definition is written with one '='; "
     "write y = 2"),
    ("f(x) := x^2", (1, 6, 2),
     "unexpected ':=': a definition is written with '='; write f(x) = x^2"),
    ("f(x): x^2", (1, 5, 1),
     "unexpected character ':': a definition is written with '='; write f(x) = x^2"),
    ("f(x[3]) = sum(x[(0:2)])", (1, 19, 1),
     "unexpected character ':': a slice (a:b) may only be an index of an array, as in "
     "x[1:3] or W[:, 0]"),
    ("f(x) = where(x = 0, 1, x)", (1, 16, 1),
     "expected ',' or ')' to close the '(' at line 1, column 13, found '='; a comparison "
     "is written '==' ('=' defines a function or a binding)"),
    ("f(x) = True", (1, 8, 4),
     "unknown name 'True': chaincc has no booleans as values; a condition is a comparison "
     "inside where(...)"),
]


@pytest.mark.parametrize("text, where, message", PYTHON)
def test_python_style_gets_the_chaincc_form(text, where, message) -> None:
    line, col, width, got = located(text)
    assert got == message
    assert (line, col, width) == where


def test_whole_rendered_text() -> None:
    assert str(error("# model\nf(x) = np.exp(x) + 1\n")) == (
        "m.txt:2:8: error: 'np.exp' is Python: chaincc's built-in functions need no module "
        "prefix; write exp(x)\n"
        "    f(x) = np.exp(x) + 1\n"
        "           ^~~~~~")


@pytest.mark.parametrize("text", [
    "f(x) = x . y",          # a lone '.', not after a name: no guess
    "f(x) = x $ 1",
])
def test_no_hint_where_the_intent_is_unclear(text) -> None:
    err = error(text)
    assert err.message == f"unexpected character '{text[9]}'"


def test_suggested_forms_compile_to_what_python_means() -> None:
    # the form each hint writes is chaincc for the Python it replaces: values and
    # derivatives against SymPy built by hand
    x = sp.Symbol("x")
    rng = np.random.default_rng(3)
    cases = [
        ("f(x) = where(x > 0, x, 0)", sp.Piecewise((x, x > 0), (0, True)), None),
        # floor is a step: its derivative is 0 away from the jumps (docs/language.md)
        ("f(x) = x - 2*floor(x/2)", x - 2 * sp.floor(x / 2), sp.Integer(1)),
        ("f(x) = (x + 1)^2", (x + 1) ** 2, None),
        ("f(x) = asin(x/3)", sp.asin(x / 3), None),
        ("f(x) = x**2", x ** 2, None),                  # '**' works as it is
    ]
    for text, expr, derivative in cases:
        fn = chaincc.compile(text)
        d = sp.diff(expr, x) if derivative is None else derivative
        for v in rng.uniform(-2.5, 2.5, size=4):
            value, (g,) = fn.value_and_grad(float(v))
            assert value == pytest.approx(float(expr.subs(x, v)), rel=1e-12, abs=1e-12)
            assert g == pytest.approx(float(d.subs(x, v)), rel=1e-12, abs=1e-12)


def test_hints_ignore_comments() -> None:
    fn = chaincc.compile("# np.exp(x) && def f(x): return x ? 1 : 2\nf(x) = x^2")
    assert fn(3.0) == 9.0


@pytest.mark.parametrize("text", [
    "f(x) = " + "x." * 200_000,
    "f(x) = " + "(" * 50 + "x" * 200 + ")" * 50 + ".T",
    "f(x) = x" + " " * 500_000 + "? 1 : 2",
    "f(x[3]) = x.matmul(" + "x" * 250 + ")",
    "f(x) = " + "x if " * 20_000 + "x",
    "f(x) = np." + "q" * 256 + "(x)",
    "def f(x):\n" + "\n" * 200_000 + "return " + "x + " * 20_000 + "x",
])
def test_hints_on_hostile_lines_are_short_and_quick(text) -> None:
    start = time.perf_counter()
    err = error(text)
    assert time.perf_counter() - start < 20
    assert len(err.message) < 400


def test_every_hint_caret_is_on_its_line() -> None:
    for text, where, _ in itertools.chain(PYTHON, NAMES):
        line, col, width = where
        src = text.split("\n")[line - 1]
        assert col - 1 + width <= len(src)
