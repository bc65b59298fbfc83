"""The calling convention checks its inputs the same way on every target: arguments that
are not real numbers (None, text, bytes, Decimal, complex numbers, masked arrays) are
refused with a ChainccError naming the parameter, in scalar and batch calls alike; the
mean over an empty batch is NaN; ``compile`` explains a missing entry or a source of the
wrong type; a target says from one place which operations it lacks. And the modules of
the API, the calling convention and the targets import each other without cycles.

The oracles are NumPy's own conversions and hand-written expected values."""

from __future__ import annotations

import ast
import math
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chaincc
from chaincc import native
from chaincc.calling import ArgumentError, ArgumentTypeError
from chaincc.executor import UnsupportedOperation

ROOT = Path(__file__).resolve().parents[1]
SRC = "f(x, y) = (x² + xy)y³\n"
ARRAY_SRC = "g(v[3], s) = s * sum(v^2)\n"
HAS_CC = bool(os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc"))

# what is not a real number: none of it may reach a kernel, or be converted silently
NOT_REAL = {
    "None": None, "str": "3", "bytes": b"1", "Decimal": Decimal("1.5"),
    "complex": 1 + 0j, "numpy complex": np.complex128(2.0), "complex64": np.complex64(1),
    "numpy str": np.str_("3"), "dict": {"x": 1}, "object": object(),
}
NOT_REAL_ARRAYS = {
    "list of str": ["1", "2"], "str array": np.array(["1", "2"]),
    "bytes array": np.array([b"1", b"2"]), "complex array": np.array([1.0, 2.0 + 0j]),
    "masked array": np.ma.array([1.0, 2.0], mask=[False, True]),
    "list with None": [1.0, None], "Decimal list": [Decimal(1), Decimal(2)],
    "datetime array": np.array(["2020-01-01", "2021-01-01"], dtype="datetime64[D]"),
}


@pytest.fixture(scope="module")
def fn():
    return chaincc.compile(SRC)


@pytest.fixture(scope="module")
def cfn(fn):
    if not HAS_CC:
        pytest.skip("no C compiler")
    return fn.compile_c()


@pytest.fixture(scope="module")
def big():
    """The same function on the LLVM backend (forced by the statement threshold)."""
    saved = native.NATIVE_STATEMENTS
    native.NATIVE_STATEMENTS = 0
    try:
        f = chaincc.compile(SRC + "# on the LLVM backend\n")
        assert f._native("vg") and f._native("value")
        yield f
    finally:
        native.NATIVE_STATEMENTS = saved


def _error(call, *args, **kwargs) -> chaincc.ChainccError:
    """The ChainccError that ``call(*args, **kwargs)`` raises."""
    with pytest.raises(chaincc.ChainccError) as info:
        call(*args, **kwargs)
    return info.value


# -- arguments that are not real numbers --------------------------------------------------
@pytest.mark.parametrize("what", sorted(NOT_REAL))
def test_scalar_that_is_not_a_real_number_is_refused(fn, big, what):
    bad = NOT_REAL[what]
    calls = {"scalar": lambda f: f(bad, 2.0),
             "gradient": lambda f: f.grad(1.0, y=bad),
             "batch": lambda f: f.value_and_grad(np.ones(3), bad),
             "reduce": lambda f: f(bad, np.ones(4), reduce="mean"),
             "hessian": lambda f: f.hessian(bad, 1.0)}
    messages = set()
    for f in (fn, big):
        for name, call in calls.items():
            err = _error(call, f)
            assert isinstance(err, ArgumentTypeError) and isinstance(err, TypeError), name
            param = "'y'" if name in ("gradient", "batch") else "'x'"
            assert f"parameter {param} must be a real number" in str(err), (name, str(err))
            messages.add(str(err).replace("'y'", "'x'"))
    assert len(messages) == 1, messages       # one message, whatever the call and kernel


@pytest.mark.parametrize("what", sorted(NOT_REAL_ARRAYS))
def test_array_that_is_not_real_numbers_is_refused(fn, what):
    bad = NOT_REAL_ARRAYS[what]
    for call in (lambda: fn(bad, 2.0), lambda: fn.value_and_grad(1.0, bad),
                 lambda: fn.grad(bad, np.ones(2), reduce="sum")):
        err = _error(call)
        assert isinstance(err, TypeError), str(err)
        assert "parameter 'x'" in str(err) or "parameter 'y'" in str(err)


def test_text_in_batch_calls_is_refused_as_in_scalar_calls(fn):
    """NumPy would parse "3" to 3.0 when converting a batch; chaincc refuses it in both
    kinds of call."""
    assert np.asarray("3", dtype=np.float64) == 3.0          # what must not happen here
    for call in (lambda: fn("3", 2.0), lambda: fn(np.linspace(0, 1, 5), "3"),
                 lambda: fn(["1", "2"], 2.0), lambda: fn(np.array(["1.5"]), 2.0)):
        err = _error(call)
        assert isinstance(err, TypeError) and "text is not converted" in str(err)


def test_complex_values_never_lose_their_imaginary_part(fn):
    for bad in (1j, np.complex128(1.0), np.array([1.0 + 2.0j, 3.0]),
                np.zeros(4, dtype=np.complex64)):
        err = _error(fn.value_and_grad, bad, 2.0)
        assert "never drops an imaginary part" in str(err)


def test_masked_arrays_are_refused_as_arguments_and_outputs(fn):
    x = np.ma.array([1.0, 2.0, 3.0], mask=[False, True, False])
    assert "masked array" in str(_error(lambda: fn(x, 2.0)))
    assert "masked array" in str(_error(lambda: fn(np.ma.masked, 2.0)))
    out = np.ma.zeros(3)
    assert "out array" in str(_error(lambda: fn(np.ones(3), 2.0, out=out)))
    # the data alone, as the message says, is fine
    np.testing.assert_array_equal(fn(x.data, 2.0), fn(np.array([1.0, 2.0, 3.0]), 2.0))


def test_numbers_out_of_float64_range_are_refused(fn):
    for bad in (10 ** 400, [1.0, 10 ** 400]):
        err = _error(fn, bad, 1.0)
        assert isinstance(err, ArgumentError) and "out of the float64 range" in str(err)


def test_real_numbers_of_every_kind_are_accepted(fn):
    """Python and NumPy reals, ints, bools, Fractions and 0-d arrays are real numbers:
    each gives what the same float gives."""
    want = fn(1.5, 2.0)
    for x in (1.5, np.float64(1.5), np.float32(1.5), Fraction(3, 2), np.array(1.5)):
        assert fn(x, 2) == want and type(fn(x, 2)) is float
    assert fn(True, np.int8(2)) == fn(1.0, 2.0)
    np.testing.assert_array_equal(fn([1, 2], 3), [fn(1.0, 3.0), fn(2.0, 3.0)])
    np.testing.assert_array_equal(fn(np.array([True, False]), 3),
                                  [fn(1.0, 3.0), fn(0.0, 3.0)])


REALS = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=64,
                            min_value=-1e3, max_value=1e3),
                  st.integers(-1000, 1000), st.booleans(),
                  st.fractions(max_denominator=100).filter(lambda q: abs(q) < 1000))
NON_REALS = st.one_of(st.none(), st.text(max_size=4), st.binary(max_size=4),
                      st.decimals(allow_nan=False, places=2, min_value=-9, max_value=9),
                      st.complex_numbers(max_magnitude=10),
                      st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=3),
                      st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))


@settings(max_examples=60, deadline=None)
@given(x=REALS, y=REALS)
def test_reals_give_the_float_result(fn, x, y):
    fx, fy = float(x), float(y)
    assert fn.value_and_grad(x, y) == fn.value_and_grad(fx, fy)
    want = (fx * fx + fx * fy) * fy ** 3
    assert math.isclose(fn(x, y), want, rel_tol=1e-12, abs_tol=1e-300)


@settings(max_examples=60, deadline=None)
@given(bad=NON_REALS, batch=st.booleans())
def test_anything_else_is_a_type_error_naming_the_parameter(fn, bad, batch):
    other = np.ones(2) if batch else 1.0
    err = _error(lambda: fn(other, bad))
    assert isinstance(err, ArgumentTypeError) and "parameter 'y'" in str(err)


# -- reduce ---------------------------------------------------------------------------------
def test_mean_over_no_points_is_nan_and_sum_is_zero(fn, big):
    empty = np.zeros(0)
    for f in (fn, big):
        v, (gx, gy) = f.value_and_grad(empty, 2.0, reduce="mean")
        assert math.isnan(v) and math.isnan(gx) and math.isnan(gy)
        assert math.isnan(f(empty, 2.0, reduce="mean"))
        assert f.value_and_grad(empty, 2.0, reduce="sum") == (0.0, (0.0, 0.0))
    g = chaincc.compile(ARRAY_SRC)
    v, (gv, gs) = g.value_and_grad(np.zeros((0, 3)), 1.0, reduce="mean")
    assert math.isnan(v) and gv.shape == (3,) and np.isnan(gv).all() and math.isnan(gs)
    # one point or more: the mean as NumPy takes it
    xs = np.array([0.5, -1.0, 2.0])
    assert fn(xs, 2.0, reduce="mean") == pytest.approx(np.mean(fn(xs, 2.0)), rel=1e-15)


@pytest.mark.parametrize("reduce", ["max", "", 0, True, ["sum"]])
def test_reduce_must_be_sum_or_mean(fn, reduce):
    err = _error(lambda: fn(np.ones(2), 1.0, reduce=reduce))
    assert "reduce must be None, 'sum' or 'mean'" in str(err)


# -- compile() ------------------------------------------------------------------------------
def test_missing_entry_names_the_functions():
    err = _error(lambda: chaincc.compile("g(x) = 3x\nh(x, y) = g(x) * y\n", entry="k"))
    assert isinstance(err, KeyError)                 # as before, for callers catching it
    assert "no function 'k'" in str(err) and "it defines g, h" in str(err)


@pytest.mark.parametrize("source", [None, 3, 2.5, b"f(x) = x", ["f(x) = x"], object()])
def test_source_of_the_wrong_type_is_a_clear_error(source):
    for compile_ in (chaincc.compile, chaincc.compile_unit):
        err = _error(compile_, source)
        assert isinstance(err, TypeError)
        assert "needs source text (a str), a pathlib.Path or a SymPy expression" in str(err)
        assert type(source).__name__ in str(err) or "None" in str(err)
    if isinstance(source, bytes):
        assert "decode" in str(_error(lambda: chaincc.compile(source)))


def test_source_as_a_path_like(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text(SRC, encoding="utf-8")

    class Where:                                   # any os.PathLike, not only pathlib
        def __fspath__(self) -> str:
            return str(path)
    assert chaincc.compile(Where())(1.0, 2.0) == 24.0
    assert "name must be a str" in str(_error(lambda: chaincc.compile(SRC, name=3)))


# -- what a target lacks --------------------------------------------------------------------
def test_c_target_says_from_one_place_what_it_lacks(fn, cfn):
    msgs = {}
    for op, call in (("vjp", lambda: cfn.vjp(1.0, 2.0, 1.0)),
                     ("hessian", lambda: cfn.hessian(1.0, 2.0)),
                     ("hvp", lambda: cfn.hvp(1.0, 2.0, direction=[1.0, 0.0])),
                     ("hvp", lambda: cfn.hvp())):       # before looking at the arguments
        with pytest.raises(UnsupportedOperation) as info:
            call()
        assert isinstance(info.value, NotImplementedError)
        assert isinstance(info.value, chaincc.ChainccError)
        msgs[op] = str(info.value)
        assert f"f.{op}() is not available with target='c'" in msgs[op]
        assert "compile for the CPU" in msgs[op]
    assert len({m.replace(op, "OP") for op, m in msgs.items()}) == 1
    assert fn.hessian(1.0, 2.0).shape == (2, 2)        # the CPU target has it


def test_c_target_validates_as_the_cpu_does(fn, cfn):
    for bad in ("3", None, 1j, np.ma.array([1.0])):
        assert str(_error(cfn, bad, 2.0)) == str(_error(fn, bad, 2.0))
    assert math.isnan(cfn(np.zeros(0), 2.0, reduce="mean"))
    assert cfn.value_and_grad(np.zeros(0), 2.0, reduce="sum") == (0.0, (0.0, 0.0))
    # out= works on the C target as well
    x = np.linspace(-1, 1, 6)
    out = (np.empty(6), (np.empty(6), np.empty(6)))
    v, (gx, gy) = cfn.value_and_grad(x, 2.0, out=out)
    assert v is out[0] and gx is out[1][0]
    want = fn.value_and_grad(x, 2.0)
    np.testing.assert_array_equal(v, want[0])
    np.testing.assert_array_equal(gy, want[1][1])


CUDA_CHECKS = """
import math, numpy as np, chaincc
from decimal import Decimal
fn = chaincc.compile("f(x, y) = (x² + xy)y³", target="cuda")
cpu = chaincc.compile("f(x, y) = (x² + xy)y³")
for bad in (None, "3", b"1", Decimal(1), 1j, np.array(["1"]), np.array([1j]),
            np.ma.array([1.0], mask=[True])):
    for call in (lambda f: f(bad, 2.0), lambda f: f(np.ones(3), bad)):
        errs = []
        for f in (fn, cpu):
            try:
                call(f)
            except chaincc.ChainccError as e:
                assert isinstance(e, TypeError), e
                errs.append(str(e))
        assert len(errs) == 2 and errs[0] == errs[1], errs
assert math.isnan(fn(np.zeros(0), 2.0, reduce="mean"))
assert fn.value_and_grad(np.zeros(0), 2.0, reduce="sum") == (0.0, (0.0, 0.0))
for op, call in (("vjp", lambda: fn.vjp(1.0, 2.0, 1.0)), ("hessian", lambda: fn.hessian()),
                 ("hvp", lambda: fn.hvp(1.0, 2.0, [1.0, 0.0]))):
    try:
        call()
    except NotImplementedError as e:
        assert isinstance(e, chaincc.ChainccError)
        assert f"f.{op}() is not available with target='cuda'" in str(e), e
    else:
        raise AssertionError(op)
print("ok")
"""


def test_cuda_target_validates_as_the_cpu_does():
    """On Numba's CUDA simulator, in a child process (so this one never loads
    numba.cuda)."""
    if subprocess.run([sys.executable, "-c", "import numba_cuda"],
                      capture_output=True).returncode != 0:
        pytest.skip("numba-cuda not installed")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    r = subprocess.run([sys.executable, "-c", CUDA_CHECKS], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr


# -- no import cycles between the API, the calling convention and the targets ------------
LAYER = ["api", "function", "unit", "frontend", "calling", "executor", "cpu", "native",
         "cuda", "cbuild"]


def _imports(module: str) -> set[str]:
    """The chaincc modules that ``module`` imports, anywhere in it (also inside
    functions), except for type checking only."""
    tree = ast.parse((ROOT / "chaincc" / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(a.name for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)
    visit(tree)
    return found


def test_api_unit_and_targets_import_without_cycles():
    graph = {m: _imports(m) & set(LAYER) for m in LAYER}
    state: dict[str, str] = {}

    def walk(m: str, path: list[str]) -> None:
        if state.get(m) == "done":
            return
        assert state.get(m) != "open", "import cycle: " + " -> ".join(path + [m])
        state[m] = "open"
        for d in sorted(graph[m]):
            walk(d, path + [m])
        state[m] = "done"
    for m in LAYER:
        walk(m, [])
    # the layers: the calling convention knows no target, the targets no API
    assert not graph["calling"] and graph["executor"] == {"calling"}
    assert graph["frontend"] == {"calling", "executor"}
    for target in ("cpu", "cuda", "cbuild", "native"):
        assert not graph[target] & {"api", "unit"}, (target, graph[target])
    assert "api" not in graph["function"] | graph["unit"]
