"""The C backend: strict C99 and C++ compiles, agreement with chaincc's kernels calling the
C library's functions (``math="libm"``; bitwise, and to 1e-13 relative in any case), golden
files, identifiers that never collide, and the ``Function.c_source`` / ``compile_c`` API.

Re-bless the golden files under tests/golden/c/ after an intended change to the generated C:

    CHAINCC_BLESS=1 .venv/bin/python -m pytest tests/test_c_backend.py
"""

from __future__ import annotations

import functools
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from randsource import random_source

import chaincc
from chaincc import __version__
from chaincc.api import compile_unit, pipeline
from chaincc.backends.c import CPrinter, c_sources, function_names, local_names
from chaincc.backends.c_names import FILE_SCOPE_RESERVED, RESERVED, is_plain, place
from chaincc.cbuild import CFunction, compile_unit_c
from chaincc.optimize import assigns
from chaincc.source import Source

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "samples").glob("*.txt"))
GOLDEN = ROOT / "tests" / "golden" / "c"
BLESS = os.environ.get("CHAINCC_BLESS") == "1"
C_FLAGS = ["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]
CXX_FLAGS = ["g++", "-x", "c++", "-Wall", "-Wextra", "-Werror"]

pytestmark = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("g++")),
                                reason="needs gcc and g++")


# ------------------------------------------------------------------- helpers
def sample_source(path: Path) -> Source:
    return Source(f"samples/{path.name}", path.read_text(encoding="utf-8"))


def c_text(source: Source, prefix: str) -> tuple[str, str]:
    return c_sources(__version__, source.name,
                     [(c.forward, c.fused) for c in pipeline(source)], prefix)


def strict_compile(tmp: Path, header: str, source: str, prefix: str) -> None:
    """gcc -std=c99 -pedantic (with and without OpenMP) and g++, warnings as errors."""
    (tmp / f"{prefix}.h").write_text(header, encoding="utf-8")
    (tmp / f"{prefix}.c").write_text(source, encoding="utf-8")
    for cmd in (C_FLAGS, C_FLAGS + ["-fopenmp"], CXX_FLAGS):
        done = subprocess.run([*cmd, "-c", f"{prefix}.c", "-o", f"{prefix}.o"], cwd=tmp,
                              capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(cmd)}:\n{done.stderr}"


def assert_agree(a, b, bitwise: bool = True) -> None:
    """Same NaNs and infinities, finite values within 1e-13 relative, and (where asked)
    the same bits."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b))
    fin = np.isfinite(a) & np.isfinite(b)
    assert np.array_equal(a[~fin & ~np.isnan(a)], b[~fin & ~np.isnan(b)])
    scale = np.maximum(np.abs(a[fin]), np.abs(b[fin]))
    assert np.all(np.abs(a[fin] - b[fin]) <= 1e-13 * scale)
    if bitwise:
        assert np.array_equal(a, b, equal_nan=True)


def bitwise_expected(fn) -> bool:
    """Whether the Numba and C kernels of ``fn`` should agree bit for bit: everywhere
    but where a power of two is raised to a variable power (see EXP2_OPS below)."""
    for prog in (fn.compiled.forward, fn.compiled.fused):
        for a in assigns(prog):
            e = a.expr
            if isinstance(e, sp.Pow) and e.base.is_Number and not e.exp.is_Number \
                    and math.frexp(abs(float(e.base)))[0] == 0.5:
                return False
    return True


def outputs(fn, args) -> list:
    """Value then one derivative per parameter (gradient, or Jacobian for array values)."""
    if fn.out_shape:
        return [fn(*args), *fn.jacobian(*args)]
    value, grad = fn.value_and_grad(*args)
    return [value, *grad]


def points(fn, rng: np.random.Generator, batch: tuple[int, ...] = ()) -> list:
    return [rng.uniform(-1.5, 1.5, size=batch + s) if (s or batch)
            else float(rng.uniform(-1.5, 1.5)) for s in fn.shapes]


@functools.cache
def built(name: str, text: str) -> tuple:
    """(unit, {name: C function}) for a source, built once per session; its functions
    with math="libm" call the C library as the C does, so they agree bit for bit."""
    unit = compile_unit(Source(name, text))
    return unit, compile_unit_c(unit)


# ------------------------------------------------------------------- samples
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_sample_compiles_as_strict_c99_and_cxx(path: Path, tmp_path: Path) -> None:
    header, source = c_text(sample_source(path), path.stem)
    strict_compile(tmp_path, header, source, path.stem)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_sample_matches_golden_files(path: Path) -> None:
    header, source = c_text(sample_source(path), path.stem)
    for suffix, text in ((".h", header), (".c", source)):
        golden = GOLDEN / f"{path.stem}{suffix}"
        if BLESS:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text, encoding="utf-8")
            continue
        assert golden.exists(), f"no golden file {golden.name}: run CHAINCC_BLESS=1 " \
            f".venv/bin/python -m pytest tests/test_c_backend.py"
        assert golden.read_text(encoding="utf-8") == text, \
            f"{golden.name} differs; re-bless if the change is intended"


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_sample_agrees_with_numba_bitwise(path: Path) -> None:
    src = sample_source(path)
    unit, cfns = built(src.name, src.text)
    rng = np.random.default_rng(7)
    for name in unit.names:
        fn, cf = unit.function(name).with_math("libm"), cfns[name]
        assert (cf.params, cf.shapes, cf.out_shape) == (fn.params, fn.shapes, fn.out_shape)
        bitwise = bitwise_expected(fn)
        for _ in range(4):
            args = points(fn, rng)
            for a, b in zip(outputs(fn, args), outputs(cf, args)):
                assert_agree(a, b, bitwise)
            assert_agree(fn(*args), cf(*args), bitwise)
        # the C batch functions give each point the scalar function's bits
        args = points(fn, rng, (5,))
        batch = outputs(cf, args)
        for i in range(5):
            for b, o in zip(batch, outputs(cf, [a[i] for a in args])):
                assert_agree(b[i], o)


@pytest.mark.parametrize("stem", ["seed", "rosenbrock", "logistic", "swish"])
def test_batch_agrees_with_numba_batch(stem: str) -> None:
    path = ROOT / "samples" / f"{stem}.txt"
    if not path.exists():
        pytest.skip(f"no sample {stem}")
    src = sample_source(path)
    unit, cfns = built(src.name, src.text)
    fn = unit.function().with_math("libm")
    args = points(fn, np.random.default_rng(3), (257,))
    args[-1] = 0.25                         # a shared (broadcast) argument as well
    for a, b in zip(outputs(fn, args), outputs(cfns[fn.name], args)):
        assert_agree(a, b, bitwise_expected(fn))


# ------------------------------------------------------------------- staged batch loops
def _vectorised_loops(tmp: Path, source: str) -> int:
    """How many loops gcc -O3 reports vectorised in ``source`` (header beside it)."""
    (tmp / "k.c").write_text(source, encoding="utf-8")
    done = subprocess.run(["gcc", "-std=c99", "-O3", "-fopt-info-vec-optimized", "-c", "k.c",
                           "-o", "k.o"], cwd=tmp, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stderr.count("loop vectorized")


def test_batch_loops_are_staged_around_libm_calls(tmp_path: Path, monkeypatch) -> None:
    logistic = sample_source(ROOT / "samples" / "logistic.txt")
    header, source = c_text(logistic, "k")
    (tmp_path / "k.h").write_text(header, encoding="utf-8")
    batch = source[source.index("void loss_value_and_grad_batch"):]
    assert "/* libm calls */" in batch and "/* arithmetic, vectorisable */" in batch
    staged = _vectorised_loops(tmp_path, source)
    assert staged >= 4                   # the arithmetic stages of both batch functions
    # without staging (too many block arrays allowed: none) the loops stay whole, and
    # the compiler vectorises none of them, since each calls exp and log
    import chaincc.backends.c_staged as c_staged
    monkeypatch.setattr(c_staged, "MAX_ARRAYS", 0)
    _, plain = c_text(logistic, "k")
    assert "/* libm calls */" not in plain and "for (ptrdiff_t _i = 0; _i < _n; ++_i)" in plain
    assert _vectorised_loops(tmp_path, plain) == 0
    # a program without calls keeps one plain loop
    _, seed = c_text(sample_source(ROOT / "samples" / "seed.txt"), "seed")
    assert "/* libm calls */" not in seed


# ------------------------------------------------------------------- libm, op by op
LIBM_OPS = ["sin(x)", "cos(x)", "tan(x)", "asin(x/8)", "acos(x/8)", "atan(x)", "sinh(x)",
            "cosh(x)", "tanh(x)", "asinh(x)", "acosh(1 + abs(x))", "atanh(x/8)", "exp(x)",
            "expm1(x)", "log(abs(x))", "log1p(abs(x))", "log2(abs(x))", "log10(abs(x))",
            "sqrt(abs(x))", "cbrt(x)", "erf(x)", "erfc(x)", "pow(abs(x), y)", "x^1.5",
            "abs(x)^(1/3)", "x^9", "x^-7", "atan2(x, y)", "hypot(x, y)", "sigmoid(x)",
            "softplus(x)", "relu(x)", "floor(x)", "ceil(x)", "sign(x)", "pow(10, x)",
            "pow(3, x)", "log(abs(x), 3)"]
# LLVM's library-call simplifier (so Numba, with no fast-math flag) rewrites pow(2^k, x)
# as exp2(k·x); GCC keeps the call to pow. glibc's pow and exp2 are each within an ulp
# but not correctly rounded, so they differ in the last bit at a few points in a thousand,
# and where k·x is itself rounded (8^x) at about one point in seven.
EXP2_OPS = ["pow(2, x)", "pow(4, x)", "pow(0.5, x)", "pow(8, x)"]
LIBM = "v(x, y) = [" + ", ".join(LIBM_OPS + EXP2_OPS) + "]\n"


def test_every_libm_function_agrees_bitwise_except_powers_of_two() -> None:
    import ctypes
    import ctypes.util
    unit, cfns = built("libm.txt", LIBM)
    fn, cf = unit.function().with_math("libm"), cfns["v"]
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.uniform(-8, 8, 3000), np.linspace(-700, 700, 201),
                        [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, np.inf, -np.inf, np.nan]])
    y = rng.uniform(-3, 3, x.size)
    k = len(LIBM_OPS)
    outs = list(zip([fn(x, y), *fn.jacobian(x, y)], [cf(x, y), *cf.jacobian(x, y)]))
    for a, b in outs:
        shape = (x.size, len(LIBM_OPS + EXP2_OPS), -1)
        a, b = a.reshape(shape), b.reshape(shape)
        assert_agree(a[:, :k], b[:, :k])
        assert_agree(a[:, k:], b[:, k:], bitwise=False)
    # the reason, checked: Numba computes 2^x as glibc's exp2, the C as glibc's pow
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    libm.exp2.restype = libm.pow.restype = ctypes.c_double
    libm.exp2.argtypes, libm.pow.argtypes = [ctypes.c_double], [ctypes.c_double] * 2
    a, b = outs[0][0][:, k], outs[0][1][:, k]
    differ = np.nonzero((a != b) & ~np.isnan(a))[0]
    assert differ.size > 0
    for i in differ[:20]:
        assert a[i] == libm.exp2(x[i]) and b[i] == libm.pow(2.0, x[i])


# ------------------------------------------------------------------- random expressions
RANDOM = random_source(seed=20240611, count=36)


def test_random_expressions_compile_strictly(tmp_path: Path) -> None:
    header, source = c_text(Source("random.txt", RANDOM), "random")
    strict_compile(tmp_path, header, source, "random")


def test_random_expressions_agree_with_numba_bitwise() -> None:
    unit, cfns = built("random.txt", RANDOM)
    rng = np.random.default_rng(11)
    pts = rng.uniform(-2.0, 2.0, size=(24, 3))
    pts[::4] = np.round(pts[::4])            # integers: ties of min/max, where, floor edges
    pts[1] = (0.0, 0.0, 0.0)
    exact = 0
    for name in unit.names:
        fn, cf = unit.function(name).with_math("libm"), cfns[name]
        bitwise = bitwise_expected(fn)
        exact += bitwise
        for p in pts:
            for a, b in zip(outputs(fn, list(p)), outputs(cf, list(p))):
                assert_agree(a, b, bitwise)
        batch = outputs(cf, [pts[:, 0], pts[:, 1], pts[:, 2]])
        for i, p in enumerate(pts):
            for b, o in zip(batch, outputs(cf, list(p))):
                assert_agree(b[i], o)
    assert exact >= len(unit.names) - 3


# ------------------------------------------------------------------- constants
def test_literals_round_trip_and_are_valid_c() -> None:
    pr = CPrinter({})
    for v in (0.1, 1 / 3, 2.0, 1e-5, 5e-324, 1.7976931348623157e308, 2.5e4, 1e300,
              0.7071067811865476, 123456789.123456789, 1e16):
        for w in (v, -v):
            text = pr.number(w)
            assert re.fullmatch(r"\(?-?(\d+\.\d*(e[+-]\d+)?|\d+e[+-]\d+)\)?", text), text
            assert (text.startswith("(") and text.endswith(")")) == (w < 0)
            assert float(text.strip("()")) == w
    assert pr.number(float("inf")) == "INFINITY"
    assert pr.number(float("-inf")) == "(-INFINITY)"
    assert pr.number(float("nan")) == "NAN"


CONSTANTS = """\
k(x) = 0.1x + 1e-300 + 1.7976931348623157e308/(x^2 + 1) + 5e-324 x + 1/3 - 2.5E+4 x^2 + pi e
s(x) = sqrt(x) + log(x) + x + inf
z() = 3
u(x, y) = x
"""


def test_constants_special_values_and_degenerate_signatures(tmp_path: Path) -> None:
    header, source = c_text(Source("constants.txt", CONSTANTS), "constants")
    strict_compile(tmp_path, header, source, "constants")
    assert "0.1 * x" in source and "1e-300" in source and "INFINITY" in source
    assert "double z(void);" in header
    assert "(void)y;" in source
    unit, cfns = built("constants.txt", CONSTANTS)
    for name, pts in (("k", [0.3, -2.0, 1e-3]), ("s", [0.0, -1.0, 2.0, float("inf")]),
                      ("u", [1.5])):
        fn, cf = unit.function(name).with_math("libm"), cfns[name]
        for p in pts:
            args = [p] * len(fn.params)
            for a, b in zip(outputs(fn, args), outputs(cf, args)):
                assert_agree(a, b)
    assert cfns["z"]() == 3.0 and cfns["z"].value_and_grad() == (3.0, ())
    assert cfns["u"].grad(2.0, 5.0) == (1.0, 0.0)


def test_odd_file_names_cannot_break_the_comments(tmp_path: Path) -> None:
    name = "we*/ird??/ /*na\tme???.txt"
    header, source = c_text(Source(name, "f(x) = x^2\n"), "odd")
    strict_compile(tmp_path, header, source, "odd")
    assert header.splitlines()[0].count("*/") == 1 and "??" not in header + source


# ------------------------------------------------------------------- identifiers
COLLISIONS = """\
y0(x) = 2x
main(double, int) = double·int + 1
h(double, int, y0, j1, exp2, main) = double + 2int + 3y0 + 4j1 + 5exp2 + 6main
g(n, value, grad, grad_n, errno, NAN, INFINITY, size_t) = n + 2value + 3grad + 4grad_n + \
5errno + 6NAN + 7INFINITY + 8size_t
exp(x) = 3x
q(exp, x) = sigmoid(x) + exp
σ(β, μ, beta) = β² μ + beta
f(x) = 4x
f_batch(x) = 5x
j1(a__b, x_, CHAINCC_RESTRICT, linux, free) = a__b + 2x_ + 3CHAINCC_RESTRICT + 4linux + 5free
"""


def test_colliding_names_are_renamed_and_compile(tmp_path: Path) -> None:
    header, source = c_text(Source("names.txt", COLLISIONS), "names")
    strict_compile(tmp_path, header, source, "names")
    for line in ("renamed for C: y0 -> y0_", "main -> main_", "double -> double_",
                 "int -> int_", "j1 -> j1_", "exp2 -> exp2_", "exp -> exp_", "σ -> sigma",
                 "β -> beta_", "errno -> errno_", "NAN -> NAN_", "size_t -> size_t_",
                 "a__b -> a_b", "CHAINCC_RESTRICT -> vCHAINCC_RESTRICT", "linux -> linux_"):
        assert line in header, line
    assert "double y0_(double x);" in header
    assert "void g_value_and_grad_batch(size_t n_," in header
    assert "double *grad_n_" in header                     # the user's grad_n keeps its name
    assert "double q(double exp_, double x);" in header
    assert "exp(-x)" in source                               # libm's exp is still reachable
    code = re.sub(r"/\*.*?\*/", "", header + source, flags=re.S)   # names only in comments
    assert code.isascii()


def test_colliding_names_give_the_right_numbers() -> None:
    unit, cfns = built("names.txt", COLLISIONS)
    rng = np.random.default_rng(5)
    for name in unit.names:
        fn, cf = unit.function(name).with_math("libm"), cfns[name]
        args = points(fn, rng)
        for a, b in zip(outputs(fn, args), outputs(cf, args)):
            assert_agree(a, b)
    h = cfns["h"]
    assert h.value_and_grad(1, 2, 3, 4, 5, 6) == (1 + 4 + 9 + 16 + 25 + 36,
                                                   (1.0, 2.0, 3.0, 4.0, 5.0, 6.0))
    assert cfns["main"](3, 4) == 13.0
    assert cfns["σ"].grad(β=2.0, μ=3.0, beta=1.0) == (12.0, 4.0, 1.0)
    assert cfns["f"](1.0) == 4.0 and cfns["f_batch"](1.0) == 5.0


NAME_POOL = ["double", "int", "y0", "j1", "exp2", "main", "x", "x_", "x__", "β", "beta",
             "beta_", "σ", "σ_", "µ", "u00B5", "n", "value", "grad", "f", "f_batch",
             "f_value_and_grad", "CHAINCC_H", "vCHAINCC_H", "a__b", "a_b", "ℓ", "x1", "𝑥",
             "exp", "errno", "NAN", "linux", "free", "beta_2"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(NAME_POOL), unique=True, min_size=1, max_size=12))
def test_placed_names_are_distinct_valid_and_unreserved(names: list[str]) -> None:
    params = place(names, lambda c: c not in RESERVED)
    assert len(set(params)) == len(names)
    for user, c in zip(names, params):
        assert is_plain(c) and c.isascii() and not c.startswith("_")
        if is_plain(user):
            assert c == user                    # a name that can stay does
    funcs = function_names([(n, "grad") for n in names])
    ids = [i for f in funcs for i in f]
    assert len(set(ids)) == len(ids)
    assert not set(ids) & FILE_SCOPE_RESERVED
    assert all(i == u or i not in names for f, u in zip(funcs, names) for i in f)
    # placing twice gives the same identifiers (the generated code is deterministic)
    assert place(names, lambda c: c not in RESERVED) == params


def test_batch_argument_names_yield_to_parameters() -> None:
    (c,) = pipeline(Source("t.txt", "f(n, value, grad_n) = n value grad_n"))
    names = local_names(c.forward, function_names([("f", "grad")])[0], "grad")
    assert names.params == ("n", "value", "grad_n")
    assert names.count == "n_" and names.value == "value_"
    assert names.derivs == ("grad_n_", "grad_value", "grad_grad_n")


# ------------------------------------------------------------------- arrays
ARRAYS = "v(W[2,3], x[3]) = tanh(W @ x)\ns(W[2,3], x[3], c) = sum(tanh(W @ x)^2) c\n"


def test_array_parameters_and_array_values(tmp_path: Path) -> None:
    header, source = c_text(Source("arrays.txt", ARRAYS), "arrays")
    strict_compile(tmp_path, header, source, "arrays")
    assert "void v(const double *W, const double *x, double *value);" in header
    assert "void v_value_and_jacobian(const double *W, const double *x, double *value, " \
           "double *jacobian);" in header
    unit, cfns = built("arrays.txt", ARRAYS)
    rng = np.random.default_rng(2)
    for name in ("v", "s"):
        fn, cf = unit.function(name).with_math("libm"), cfns[name]
        for batch in ((), (6,)):
            args = points(fn, rng, batch)
            for a, b in zip(outputs(fn, args), outputs(cf, args)):
                assert_agree(a, b)
    with pytest.raises(TypeError, match="Jacobian"):
        cfns["v"].grad(np.zeros((2, 3)), np.zeros(3))


# ------------------------------------------------------------------- the Python API
SEED = "f(x, y) = (x² + xy)y³\n"


@pytest.fixture(scope="module")
def seed_fn():
    return chaincc.compile(SEED, name="seed.txt")


def test_c_source_gives_header_and_source(seed_fn) -> None:
    header, source = seed_fn.c_source()
    assert header.startswith(f"/* generated by chaincc {__version__} from seed.txt; "
                             f"do not edit */")
    assert "#ifndef CHAINCC_F_H" in header and 'extern "C" {' in header
    assert "double f_value_and_grad(double x, double y, double *grad);" in header
    assert '#include "f.h"' in source
    assert set(re.findall(r"#include <(\w+\.h)>", header + source)) == {"math.h", "stddef.h"}
    assert seed_fn.c_source("mine")[1].count('#include "mine.h"') == 1
    assert seed_fn.c_source() == seed_fn.c_source()


def test_compile_c_has_the_function_interface(seed_fn) -> None:
    cf = seed_fn.compile_c()
    assert isinstance(cf, CFunction)
    assert cf.params == ("x", "y") and cf.op_counts() == seed_fn.op_counts()
    assert cf(1, 2) == 24.0 and type(cf(1, 2)) is float
    assert cf.value_and_grad(1, 2) == (24.0, (32.0, 44.0))
    assert cf.grad(y=2, x=1) == (32.0, 44.0)
    x = np.linspace(-1, 1, 4)
    y = np.array([[0.5], [2.0], [-1.0]])
    value, (gx, gy) = cf.value_and_grad(x, y)
    assert value.shape == gx.shape == gy.shape == (3, 4)
    for a, b in zip((value, gx, gy), (lambda r: (r[0], *r[1]))(seed_fn.value_and_grad(x, y))):
        assert_agree(a, b)
    total, _ = cf.value_and_grad(x, y, reduce="sum")
    assert total == pytest.approx(float(value.sum()), rel=1e-13)
    assert cf(np.float32(1.0), np.array(2.0)) == 24.0
    with pytest.raises(TypeError):
        cf(1.0)
    with pytest.raises(TypeError):
        cf(1.0, 2.0, z=3.0)
    assert seed_fn.compile_c().library == cf.library            # built once, then cached


def test_compile_c_agrees_with_sympy() -> None:
    x, y = sp.symbols("x y")
    expr = sp.exp(-x**2) * sp.sin(3 * y) / (1 + x**2 + y**2)
    fn = chaincc.compile(expr, params=[x, y])
    cf = fn.compile_c()
    for px, py in ((0.3, -1.2), (1.5, 0.25)):
        at = {x: px, y: py}
        value, grad = cf.value_and_grad(px, py)
        assert value == pytest.approx(float(expr.evalf(30, subs=at)), rel=1e-14)
        for g, s in zip(grad, (x, y)):
            assert g == pytest.approx(float(sp.diff(expr, s).evalf(30, subs=at)), rel=1e-13)
