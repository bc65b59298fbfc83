"""The operation registry (chaincc/ops.py) and IEEE constant folding.

A constant folds to the bits the kernels compute for the same operation on a parameter:
each op is folded at many points (special values, huge, tiny, out of domain) and compared
bit for bit with the compiled kernels (chaincc's own elementary functions), and the C
library's meaning (``Op.libm64``) with the C backend. Oracles: the compiled kernels
themselves for bits, NumPy for IEEE arithmetic, mpmath for lgamma, digamma and gelu.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import shutil
import struct
import time

import mpmath
import numpy as np
import pytest
import sympy as sp

import chaincc
from chaincc import native
from chaincc.api import compile_unit
from chaincc.builtins import BUILTINS
from chaincc.diagnostics import ChainccError
from chaincc.evaluate import evaluate
from chaincc.functions import as_float
from chaincc.lower import lower_module
from chaincc.ops import OPS
from chaincc.parser import parse
from chaincc.source import Source

INF, NAN = math.inf, math.nan
SPECIAL = [0.0, -0.0, INF, -INF, NAN, 1.7976931348623157e308, -1.7976931348623157e308,
           5e-324, -5e-324, 2.2250738585072014e-308, 1e-300, -1e-300, 1.0, -1.0, 0.5, -0.5,
           1.5, -1.5, 2.0, -2.0, 3.0, -3.0, 0.1, -0.1, 10.0, 30.0, -30.0, 100.0, 700.0,
           710.0, -710.0, -745.5, 1e10, -1e10, 1e300, 1e-8, -1e-8, 2.5, -2.5, 171.7]
_rng = np.random.default_rng(20261201)
POINTS = np.array(SPECIAL + list(_rng.standard_normal(40) * 3)
                  + list(10.0 ** _rng.uniform(-20, 20, 20) * _rng.choice([-1, 1], 20)))

UNARY = [op for op in OPS if op.arity == 1 and op.builtin]
BINARY = [op for op in OPS if op.arity == 2 and op.builtin]
PAIRS = [(a, b) for a in SPECIAL[:24:2] + [0.3, -4.0] for b in SPECIAL[1:24:2] + [0.7, -2.2]]


def bits(v: float) -> int | str:
    """The float64's bits; every nan counts as one value (payloads are not specified)."""
    v = float(v)
    return "nan" if v != v else struct.unpack("<q", struct.pack("<d", v))[0]


def literal(v: float) -> str:
    """Source text for a float (no literal is -0, so there is none for it)."""
    if v != v:
        return "(0/0)"
    v = float(v)
    if math.isinf(v):
        return "inf" if v > 0 else "(-inf)"
    return repr(v) if v >= 0 else f"(-{repr(-v)})"


def kernel_source() -> str:
    """Three vector-valued kernels (one compile each): every unary op of x, every binary
    op of (x, y), and x raised to each exponent."""
    binary = [f"{op.name}(x, y)" for op in BINARY] + ["max(x, y)", "min(x, y)", "x^y"]
    binary += [f"x {o} y" for o in "+-*/"]
    return (f"k_unary(x) = [{', '.join(f'{op.name}(x)' for op in UNARY)}]\n"
            f"k_binary(x, y) = [{', '.join(binary)}]\n"
            f"k_pow(x) = [{', '.join(f'x^({e})' for e in EXPONENTS)}]\n")


def kernels(unit, name: str, *args: np.ndarray) -> np.ndarray:
    """Each output of a vector kernel at every point: shape (outputs, points)."""
    return np.asarray(unit.function(name)(*args)).reshape(len(args[0]), -1).T


EXPONENTS = ["2", "3", "-1", "-3", "0.5", "-0.5", "1/3", "2.5", "8", "-9"]
# the outputs of k_binary, in order
BINARY_NAMES = [op.name for op in BINARY] + ["max", "min", "pow", "add", "sub", "mul", "div"]
SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}


@pytest.fixture(scope="module")
def unit():
    return compile_unit(kernel_source(), name="ops.txt")


def folded(body_by_name: dict[str, str]) -> dict[str, float]:
    """Each constant body lowered (not compiled): the number it folds to."""
    names = list(body_by_name)
    text = "\n".join(f"{n}(x) = {body_by_name[n]}" for n in names) + "\n"
    progs = lower_module(parse(Source("fold.txt", text)), None)
    out = {}
    for n, p in zip(names, progs):
        (e,) = p.outputs[0].exprs
        v = as_float(e)
        assert v is not None and not e.free_symbols, (n, e)
        out[n] = v
    return out


def test_every_op_has_one_complete_entry() -> None:
    for op in OPS:
        assert [op.libm, op.formula, op.expand].count(None) == 2, op.name
        assert (op.name in BUILTINS) == op.builtin, op.name
    # every elementwise builtin comes from the registry (or is + - * / ^ spelled as a call)
    elementwise = {n for n, b in BUILTINS.items() if b.kind == "elementwise"}
    assert elementwise - {n for op in OPS for n in op.names} == {"sqrt", "pow"}


def test_float64_meaning_is_the_kernels_bit_for_bit(unit) -> None:
    for op, batch in zip(UNARY, kernels(unit, "k_unary", POINTS)):
        for x, got in zip(POINTS, batch):
            assert bits(op.f64(x)) == bits(got), (op.name, x, op.f64(x), got)
    xs, ys = (np.array(v) for v in zip(*PAIRS))
    for op, got in zip(BINARY, kernels(unit, "k_binary", xs, ys)):
        for x, y, g in zip(xs, ys, got):
            assert bits(op.f64(x, y)) == bits(g), (op.name, x, y)


def test_constants_fold_to_the_kernels_bits(unit) -> None:
    pts = [float(p) for p in POINTS if not (p == 0 and math.copysign(1, p) < 0)]
    bodies = {f"u{i}_{k}": f"{op.name}({literal(x)})"
              for i, op in enumerate(UNARY) for k, x in enumerate(pts)}
    xs, ys = (list(v) for v in zip(*[(a, b) for a, b in PAIRS
                                     if math.copysign(1, a) > 0 or a != 0
                                     if math.copysign(1, b) > 0 or b != 0]))
    for name in BINARY_NAMES:
        for k, (x, y) in enumerate(zip(xs, ys)):
            if name == "pow" and (y in (0.5, -0.5) or (y.is_integer() and 0 < abs(y) <= 8)):
                continue      # c^2, c^-0.5: as x^2 and x^-0.5 compute them (EXPONENTS)
            text = f"{literal(x)} {SYMBOL[name]} {literal(y)}" if name in SYMBOL else \
                f"{name}({literal(x)}, {literal(y)})"
            bodies[f"b_{name}_{k}"] = text
    for i, e in enumerate(EXPONENTS):
        for k, x in enumerate(pts[:50]):
            bodies[f"p{i}_{k}"] = f"{literal(x)}^({e})"
    got = folded(bodies)
    for i, (op, kernel) in enumerate(zip(UNARY, kernels(unit, "k_unary", np.array(pts)))):
        for k, x in enumerate(pts):
            assert bits(got[f"u{i}_{k}"]) == bits(kernel[k]), (op.name, x)
    for name, kernel in zip(BINARY_NAMES, kernels(unit, "k_binary", np.array(xs),
                                                  np.array(ys))):
        for k, (x, y) in enumerate(zip(xs, ys)):
            if f"b_{name}_{k}" in got:
                assert bits(got[f"b_{name}_{k}"]) == bits(kernel[k]), (name, x, y)
    for i, (e, kernel) in enumerate(zip(EXPONENTS, kernels(unit, "k_pow",
                                                           np.array(pts[:50])))):
        for k, x in enumerate(pts[:50]):
            assert bits(got[f"p{i}_{k}"]) == bits(kernel[k]), (e, x)


def test_llvm_backend_computes_the_same_bits(unit, monkeypatch) -> None:
    monkeypatch.setattr(native, "NATIVE_STATEMENTS", -1)
    llvm = compile_unit(kernel_source(), name="ops-llvm.txt")
    assert llvm.function("k_unary")._native("value")
    for op, got in zip(UNARY, kernels(llvm, "k_unary", POINTS)):
        assert [bits(op.f64(x)) for x in POINTS] == [bits(g) for g in got], op.name


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="no C compiler")
def test_c_backend_computes_the_same_bits(unit) -> None:
    from chaincc.cbuild import compile_unit_c
    c = compile_unit_c(unit)
    got_all = np.asarray(c["k_unary"](POINTS)).reshape(len(POINTS), -1).T
    for op, got in zip(UNARY, got_all):
        if op.expand is None:             # the C library's functions, as the C calls them
            assert [bits(op.libm64(x)) for x in POINTS] == [bits(g) for g in got], op.name
        else:
            np.testing.assert_allclose(got, [op.f64(x) for x in POINTS], rtol=1e-14)


# -- IEEE folding: issue reproducers -------------------------------------------------------
IEEE_CASES = [             # body, x, value, gradient
    ("x + log(0)", 1.0, -INF, 1.0),
    ("acos(1.5) + x", 1.0, NAN, 1.0),
    ("x + sqrt(-1)", 2.0, NAN, 1.0),
    ("x + 1/0", 2.0, INF, 1.0),
    ("x/0", 1.0, INF, INF),
    ("x + max(0/0, 1)", 0.5, 1.5, 1.0),
    ("x + max(1, 0/0)", 0.5, NAN, 1.0),
    ("x + min(0/0, 1)", 0.5, 1.5, 1.0),
    ("x + 9^9^9", 1.0, INF, 1.0),
    ("x + 2^(2^40)", 1.0, INF, 1.0),
    ("x + erfc(2^1024)", 1.0, 1.0, 1.0),
    ("x + " + "9" * 5000, 1.0, INF, 1.0),
    ("x + 1" + "0" * 400 + "e-400", 1.0, 2.0, 1.0),
    ("x * 1e-999", 3.0, 0.0, 0.0),
    ("x + 0.1 + 0.2", 0.0, 0.1 + 0.2, 1.0),
    ("x + 1/ceil(-0.5)", 0.0, -INF, 1.0),
]


def test_ieee_folding() -> None:
    """The folding reproducers of issue 10, as one vector-valued function."""
    start = time.monotonic()
    fn = chaincc.compile(f"f(x) = [{', '.join(c[0] for c in IEEE_CASES)}]")
    assert time.monotonic() - start < 30
    for i, (body, x, value, grad) in enumerate(IEEE_CASES):
        v = np.asarray(fn(x))[i]
        (jac,) = fn.jacobian(x)
        assert bits(v) == bits(value), (body, v)
        assert bits(np.asarray(jac).reshape(-1)[i]) == bits(grad), (body, jac)


def test_max_and_min_of_nan_fold_as_the_kernels_compute_them() -> None:
    # kernels: acc = acc >= a ? acc : a, left to right
    k = chaincc.compile("k(x, y) = max(x, y)")
    m = chaincc.compile("m(x, y) = min(x, y)")
    cases = [(NAN, 1.0), (1.0, NAN), (NAN, NAN), (INF, NAN), (NAN, -INF), (2.0, 2.0)]
    got = folded({f"c{i}": f"max({literal(a)}, {literal(b)}) + min({literal(a)}, "
                  f"{literal(b)})" for i, (a, b) in enumerate(cases)})
    for i, (a, b) in enumerate(cases):
        assert bits(got[f"c{i}"]) == bits(k(a, b) + m(a, b)), (a, b)
    assert k(NAN, 1.0) == 1.0 and math.isnan(k(1.0, NAN))


def test_constant_work_is_bounded() -> None:
    for src in ("f(x) = x + 9^9^9^9", "f(x) = x * 10^(10^(10^10))",
                "f(x) = x + " + "1" * 20000 + ".5"):
        start = time.monotonic()
        prog = lower_module(parse(Source("t.txt", src + "\n")), None)[0]
        assert time.monotonic() - start < 2, src
        assert all(len(str(e)) < 40 for a in prog.body for e in a.expr.args)


def test_folded_and_compiled_sigmoid_and_cbrt_agree() -> None:
    # the disagreement issue 9 found: two-branch sigmoid and copysign cbrt in folding
    g = chaincc.compile("g(x) = sigmoid(x) + cbrt(x)")
    xs = -np.linspace(0.01, 40, 200)
    got = folded({f"c{k}": f"sigmoid({literal(x)}) + cbrt({literal(x)})"
                  for k, x in enumerate(xs)})
    kernel = np.asarray(g(xs))
    assert [bits(got[f"c{k}"]) for k in range(len(xs))] == [bits(v) for v in kernel]


# -- no rewrite changes a value at a special point -------------------------------------
SPECIALS = np.array([0.0, -0.0, INF, -INF, NAN, 1.0, -2.5, 3.0, 1e-310, 1e308])


REWRITES = [               # body, the same in NumPy
    ("x/x", lambda x: x / x),
    ("x - x", lambda x: x - x),
    ("x*0", lambda x: x * 0.0),
    ("0*x", lambda x: 0.0 * x),
    ("x + 0", lambda x: x + 0.0),
    ("0 - x", lambda x: 0.0 - x),
    ("0/x", lambda x: 0.0 / x),
    ("x/3", lambda x: x / 3.0),
    ("x/0.1", lambda x: x / 0.1),
    ("x/1e-310", lambda x: x / 1e-310),
    ("x*inf", lambda x: x * INF),
    ("x + inf", lambda x: x + INF),
    ("x - inf", lambda x: x - INF),
    ("x^(0/0)", lambda x: np.power(x, NAN)),
    ("(0/0)^x", lambda x: np.power(NAN, x)),
    ("x*x/x", lambda x: x * x / x),
    ("(x + 1) - (x + 1)", lambda x: (x + 1.0) - (x + 1.0)),
    ("x*ceil(-0.5)", lambda x: x * -0.0),
]


def test_no_rewrite_changes_a_value() -> None:
    fn = compile_unit(f"f(x) = [{', '.join(b for b, _ in REWRITES)}]\n", name="rw.txt")
    with np.errstate(all="ignore"):
        want = [[numpy_fn(np.float64(x)) for x in SPECIALS] for _, numpy_fn in REWRITES]
    for (body, _), w, got in zip(REWRITES, want, kernels(fn, "f", SPECIALS)):
        assert [bits(g) for g in got] == [bits(v) for v in w], body
    scalar = fn.function("f")
    for k, x in enumerate(SPECIALS):
        got = np.asarray(scalar(float(x)))
        assert [bits(g) for g in got] == [bits(w[k]) for w in want], x


def test_evaluator_divides_as_the_kernels_do() -> None:
    # explain's evaluator prints x/3 as the kernel computes it, not as x * (1/3)
    x = sp.Symbol("x")
    fn = chaincc.compile("f(x) = x/3")
    prog = lower_module(parse(Source("t.txt", "f(x) = x/3\n")), None)[0]
    (stmt,) = prog.body
    for v in (1.0, 0.1, 7.0, 1e308, 5e-324):
        assert bits(evaluate(stmt.expr, {x: v})) == bits(fn(v)) == bits(v / 3.0)


# -- lgamma and gelu ----------------------------------------------------------------------
LGAMMA_POINTS = [0.5, 1.0, 1.5, 2.0, 2.5, 3.7, 10.0, 33.3, 171.5, 1e5, 1e-5, 1e-12,
                 -0.5, -1.5, -2.3, -7.9, -30.25, -0.001]


def test_lgamma_value_and_gradient_against_mpmath() -> None:
    """lgamma is C99's (log|Γ|, libm); its derivative ψ is written in operations every
    backend has (ops.digamma): measured error ≤ 2e-15·max(1, |ψ|), asserted ≤ 1e-14."""
    fn = chaincc.compile("f(x) = lgamma(x)")
    rng = np.random.default_rng(7)
    xs = np.concatenate([LGAMMA_POINTS, rng.uniform(-25, 60, 300),
                         10 ** rng.uniform(-8, 12, 50)])
    xs = xs[(xs > 0) | (np.abs(xs - np.round(xs)) > 1e-9)]     # no poles
    values, grads = fn.value_and_grad(xs)
    grads = np.asarray(grads).reshape(-1)
    for x, v, g in zip(xs, values, grads):
        mx = mpmath.mpf(float(x))
        want_v = float(mpmath.log(abs(mpmath.gamma(mx))))
        want_g = float(mpmath.digamma(mx))
        assert abs(v - want_v) <= 1e-14 * max(1.0, abs(want_v)), (x, v, want_v)
        assert abs(g - want_g) <= 1e-14 * max(1.0, abs(want_g)), (x, g, want_g)
    assert fn(1.0) == 0.0 and fn(2.0) == 0.0
    assert fn(0.0) == INF and fn(-3.0) == INF and math.isnan(fn(NAN))


def test_gelu_value_and_gradient_against_mpmath() -> None:
    fn = chaincc.compile("f(x) = gelu(x)")
    xs = np.array([-40.0, -6.0, -2.5, -1.0, -0.3, -1e-9, 0.0, 1e-9, 0.3, 1.0, 2.5, 6.0,
                   40.0, 1e10])
    values, grads = fn.value_and_grad(xs)
    grads = np.asarray(grads).reshape(-1)
    for x, v, g in zip(xs, values, grads):
        mx = mpmath.mpf(float(x))
        cdf = (1 + mpmath.erf(mx / mpmath.sqrt(2))) / 2
        want_v = float(mx * cdf)
        want_g = float(cdf + mx * mpmath.exp(-mx ** 2 / 2) / mpmath.sqrt(2 * mpmath.pi))
        assert abs(v - want_v) <= 4e-16 * max(abs(x), 1e-300) + 1e-300, (x, v, want_v)
        assert abs(g - want_g) <= 1e-15 * max(1.0, abs(want_g)), (x, g, want_g)
    # the formula as the kernels write it: x*0.5*(1 + erf(x/sqrt 2)), with chaincc's own
    # erf by default and libm's with math="libm"
    from chaincc.backends.vecmath import library
    own_erf = library.functions()["erf"]
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    libm.erf.restype, libm.erf.argtypes = ctypes.c_double, [ctypes.c_double]
    with_libm = fn.with_math("libm")
    for x in xs:
        assert fn(float(x)) == x * 0.5 * (1.0 + own_erf(x / math.sqrt(2.0)))
        assert with_libm(float(x)) == x * 0.5 * (1.0 + libm.erf(x / math.sqrt(2.0)))


def test_unknown_names_are_still_errors() -> None:
    with pytest.raises(ChainccError):
        chaincc.compile("f(x) = digamma(x)")


def test_values_are_still_shared_between_statements() -> None:
    # keeping x/x and x - x as written does not stop value numbering
    prog = lower_module(parse(Source("t.txt", "f(x) = sin(x)/sin(x) + (x+1)*(x+1) "
                                     "- (x+1) + sin(x)\n")), None)[0]
    calls = [a for a in prog.body if isinstance(a.expr, sp.sin)]
    adds = [a for a in prog.body if a.expr == sp.Symbol("x") + 1]
    assert len(calls) == 1 and len(adds) == 1


def test_a_written_negative_zero_is_negative():
    """``-0.0`` (and ``-0``) is IEEE's negative zero: 1/(-0.0) is -inf."""
    assert chaincc.compile("f(x) = x + 1/(-0.0)")(1.0) == -math.inf
    assert math.copysign(1.0, chaincc.compile("f(x) = x*(-0)")(1.0)) == -1.0
    assert chaincc.compile("f(x) = x - (-2)")(1.0) == 3.0
