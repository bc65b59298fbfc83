"""The Python API: ``chaincc.compile`` of text, files and SymPy expressions; calling
conventions, broadcasting, dtypes and layouts; errors naming parameters; the on-disk cache
across processes; and 10,000-deep nesting."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import chaincc
from chaincc import ChainccError
from chaincc.api import pipeline
from chaincc.lower import lower_module
from chaincc.parser import parse
from chaincc.source import Source

TEXT = "f(x, y) = x^2 y + sin(x y) + exp(-y^2) / (1 + x^2) + softplus(x - y) + max(x, y)"
XS, YS = sp.symbols("x y", real=True)
ORACLE = (XS ** 2 * YS + sp.sin(XS * YS) + sp.exp(-YS ** 2) / (1 + XS ** 2)
          + sp.log(1 + sp.exp(XS - YS)) + sp.Max(XS, YS))


@pytest.fixture(scope="module")
def fn() -> chaincc.Function:
    return chaincc.compile(TEXT)


def oracle(expr: sp.Expr, syms: tuple, pt: tuple[float, ...]) -> list[float]:
    subs = {s: sp.Float(v, 30) for s, v in zip(syms, pt)}
    return [float(sp.N(e.xreplace(subs), 30))
            for e in [expr] + [sp.diff(expr, s) for s in syms]]


def assert_close(got: list[float], want: list[float], rel: float = 1e-13) -> None:
    for g, w in zip(got, want):
        assert math.isclose(g, w, rel_tol=rel, abs_tol=rel), (got, want)


# --------------------------------------------------------------------- calling

def test_value_and_grad_against_sympy(fn) -> None:
    assert fn.params == ("x", "y")
    for pt in ((0.3, -1.2), (1.5, 0.7), (-2.0, 0.25)):
        v, g = fn.value_and_grad(*pt)
        assert isinstance(g, tuple) and len(g) == 2
        assert_close([v, *g], oracle(ORACLE, (XS, YS), pt))
        assert fn(*pt) == v
        assert fn.grad(*pt) == g


def test_positional_keyword_and_mixed_calls(fn) -> None:
    want = fn.value_and_grad(0.3, -1.2)
    assert fn.value_and_grad(x=0.3, y=-1.2) == want
    assert fn.value_and_grad(y=-1.2, x=0.3) == want
    assert fn.value_and_grad(0.3, y=-1.2) == want
    assert fn(y=-1.2, x=0.3) == want[0]
    assert fn.grad(0.3, y=-1.2) == want[1]


def test_op_counts(fn) -> None:
    oc = fn.op_counts()
    assert set(oc) == {"forward", "value_and_grad"}
    assert all(type(v) is int for v in oc.values())
    assert 0 < oc["forward"] < oc["value_and_grad"]
    assert oc == fn.compiled.op_counts()


def test_scalars_give_floats(fn) -> None:
    want = fn.value_and_grad(1.5, 2.0)
    for args in ((1.5, 2), (np.float64(1.5), np.int64(2)), (np.array(1.5), np.float32(2.0)),
                 (np.float32(1.5), np.array(2))):
        v, g = fn.value_and_grad(*args)
        assert type(v) is float and all(type(e) is float for e in g)
        assert (v, g) == want
        assert type(fn(*args)) is float


def test_broadcasting_matches_numpy(fn) -> None:
    x = np.linspace(-1.0, 1.0, 3).reshape(3, 1)
    y = np.linspace(-2.0, 2.0, 4)
    v, (gx, gy) = fn.value_and_grad(x, y)
    for out in (v, gx, gy, fn(x, y)):
        assert isinstance(out, np.ndarray) and out.shape == (3, 4) and out.dtype == np.float64
    for i in range(3):
        for j in range(4):
            s = fn.value_and_grad(float(x[i, 0]), float(y[j]))
            assert (v[i, j], gx[i, j], gy[i, j]) == (s[0], *s[1])
    v2, (gx2, gy2) = fn.value_and_grad(x, 0.5)
    assert v2.shape == gx2.shape == gy2.shape == (3, 1)
    assert v2[1, 0] == fn(float(x[1, 0]), 0.5)
    assert fn(0.5, y).shape == (4,)
    assert fn(np.array([0.5]), 1.0).shape == (1,)
    assert fn(np.ones((1, 1)), y).shape == (1, 4)
    assert fn(np.ones((2, 1, 3)), np.ones((5, 1))).shape == (2, 5, 3)


def test_layouts_and_dtypes_give_the_same_numbers(fn) -> None:
    rng = np.random.default_rng(1)
    m = rng.uniform(-2, 2, size=(6, 5))
    n = rng.uniform(-2, 2, size=(5, 6))
    want = fn.value_and_grad(np.ascontiguousarray(m.T), n)
    for x in (m.T, np.asfortranarray(m.T), np.ascontiguousarray(m.T)):
        got = fn.value_and_grad(x, n)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    base = rng.uniform(-2, 2, size=40)
    strided = base[::4]
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(fn(strided, 0.3), fn(strided.copy(), 0.3))
    np.testing.assert_array_equal(fn(base[::-3], base[1::-1].sum()),
                                  fn(base[::-3].copy(), float(base[1::-1].sum())))
    ints = np.arange(-3, 4)
    np.testing.assert_array_equal(fn(ints, ints[::-1]), fn(ints.astype(float),
                                                           ints[::-1].astype(float)))
    f32 = rng.uniform(-2, 2, size=(3, 4)).astype(np.float32)
    v32, g32 = fn.value_and_grad(f32, f32.T[:4, :3].T.copy())
    v64, g64 = fn.value_and_grad(f32.astype(np.float64), f32.T[:4, :3].T.astype(np.float64))
    assert v32.dtype == np.float64 and g32[0].dtype == np.float64
    np.testing.assert_array_equal(v32, v64)
    np.testing.assert_array_equal(g32[1], g64[1])


def test_empty_arrays_give_empty_outputs(fn) -> None:
    v, (gx, gy) = fn.value_and_grad(np.zeros(0), 1.0)
    assert v.shape == gx.shape == gy.shape == (0,)
    assert v.dtype == np.float64
    assert fn(np.zeros((0, 3)), np.ones(3)).shape == (0, 3)
    assert fn.grad(np.zeros((2, 0)), np.zeros((1, 1)))[1].shape == (2, 0)


def test_batch_agrees_with_the_scalar_kernel(fn) -> None:
    rng = np.random.default_rng(7)
    x = rng.uniform(-3, 3, 2000)
    y = rng.uniform(-3, 3, 2000)
    y[:50] = x[:50]                                  # ties in max(x, y)
    v, (gx, gy) = fn.value_and_grad(x, y)
    pairs = [fn.value_and_grad(a, b) for a, b in zip(x.tolist(), y.tolist())]
    scalar = np.array([[p[0], *p[1]] for p in pairs])
    for k, batch in enumerate((v, gx, gy)):
        diff = np.abs(batch - scalar[:, k])
        assert np.all(diff <= np.spacing(np.abs(scalar[:, k]))), (k, diff.max())
    np.testing.assert_array_equal(fn(x, y), v)


def test_argument_errors_name_the_parameters(fn) -> None:
    with pytest.raises(TypeError, match="'y'"):
        fn(1.0)
    with pytest.raises(TypeError, match="'x', 'y'"):
        fn.grad()
    with pytest.raises(TypeError, match=r"x, y.*3"):
        fn(1.0, 2.0, 3.0)
    with pytest.raises(TypeError, match="'z'"):
        fn(1.0, z=2.0)
    with pytest.raises(TypeError, match="'x'"):
        fn(1.0, x=2.0)
    with pytest.raises(TypeError, match="'x'"):
        fn("one", 2.0)
    with pytest.raises(ValueError) as err:
        fn.value_and_grad(np.ones(3), np.ones(4))
    msg = str(err.value)
    assert "x" in msg and "y" in msg and "(3,)" in msg and "(4,)" in msg


# ----------------------------------------------------------------- what compiles

def test_entry_picks_a_function() -> None:
    text = "g(x) = 3x\nh(x, y) = g(x) * y\n"
    assert chaincc.compile(text).name == "h"
    g = chaincc.compile(text, entry="g")
    assert (g.name, g.params) == ("g", ("x",))
    assert g.value_and_grad(2.0) == (6.0, (3.0,))
    unit = chaincc.compile_unit(text)
    assert unit.names == ["g", "h"]
    assert unit.function("h").value_and_grad(2.0, 5.0) == (30.0, (15.0, 6.0))
    with pytest.raises(KeyError, match="g, h"):
        chaincc.compile(text, entry="k")


def test_path_source_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "model.txt"
    good.write_text("# a model\nf(x, y) = x y²\n", encoding="utf-8")
    f = chaincc.compile(good)
    assert f.value_and_grad(2.0, 3.0) == (18.0, (9.0, 12.0))
    bad = tmp_path / "bad.txt"
    bad.write_text("f(x) = x^2\ng(x, y) = x + z\n", encoding="utf-8")
    with pytest.raises(ChainccError) as err:
        chaincc.compile(bad)
    assert err.value.file == str(bad)
    assert str(err.value).startswith(f"{bad}:2:15: error: unknown name 'z'")
    with pytest.raises(ChainccError) as err:
        chaincc.compile("f(x) = x + z")
    assert str(err.value).startswith("<string>:1:12:")


def test_sympy_expression() -> None:
    x, y = sp.symbols("x y")
    expr = x ** 2 * y + sp.sin(x) * sp.exp(y)
    f = chaincc.compile(expr, params=[x, y])
    assert f.params == ("x", "y")
    for pt in ((0.3, -1.2), (1.5, 0.7)):
        v, g = f.value_and_grad(*pt)
        assert_close([v, *g], oracle(expr, (x, y), pt))
    assert f.grad(y=0.7, x=1.5) == f.grad(1.5, 0.7)
    g = chaincc.compile(expr, params=["y", "x"])
    assert g.params == ("y", "x")
    assert g(0.7, 1.5) == f(1.5, 0.7)
    with pytest.raises(TypeError, match="params"):
        chaincc.compile(expr)


def test_sympy_piecewise_max_min() -> None:
    x, y = sp.symbols("x y", real=True)
    pw = sp.Piecewise((x ** 2 * y, x < 0), (sp.sin(x) + y, x < 1), (sp.exp(x - y), True))
    f = chaincc.compile(pw, params=[x, y])
    for pt in ((-0.5, 2.0), (0.5, 2.0), (1.5, 2.0)):
        v, g = f.value_and_grad(*pt)
        assert_close([v, *g], oracle(pw, (x, y), pt))
    mm = sp.Max(x, y ** 2) + 2 * sp.Min(x, sp.cos(y), 0)
    h = chaincc.compile(mm, params=[x, y])
    for pt in ((0.3, 0.1), (-0.5, 0.4), (0.1, 2.0), (-2.0, 3.0)):
        v, g = h.value_and_grad(*pt)
        assert_close([v, *g], oracle(mm, (x, y), pt))


def test_sympy_unsupported_function_is_an_error() -> None:
    x, y = sp.symbols("x y")
    with pytest.raises(ChainccError, match="gamma"):
        chaincc.compile(sp.gamma(x) + y, params=[x, y])
    with pytest.raises(ChainccError, match="'z'"):
        chaincc.compile(x + sp.Symbol("z"), params=[x])


# ------------------------------------------------------------ the disk cache

CACHE_SCRIPT = textwrap.dedent("""
    import json, time
    import numpy as np
    from numba import njit
    import chaincc

    @njit
    def _warm(a):          # Numba's own one-time start-up, outside the timing
        return np.sqrt(a) + 1.0
    _warm(1.0)

    lines = ["h0 = tanh(w*x + b)"]
    lines += [f"h{t} = tanh(w*h{t - 1} + u*x + b + 0.01*{t})" for t in range(1, 30)]
    lines.append("f(x, w, u, b) = h29^2 + 0.5*(w^2 + u^2)")
    t = time.perf_counter()
    fn = chaincc.compile("\\n".join(lines))
    v, g = fn.value_and_grad(0.3, 0.8, -0.4, 0.1)
    scalar = time.perf_counter() - t
    t = time.perf_counter()
    vb, gb = fn.value_and_grad(np.linspace(-1, 1, 7), 0.8, -0.4, 0.1)
    batch = time.perf_counter() - t
    kernels = [fn._scalar_kernel("vg")]
    kernels += [getattr(m, fn._fname("vg") + "_points") for m in fn._loops.values()]
    hits = sum(sum(k.stats.cache_hits.values()) for k in kernels)
    misses = sum(sum(k.stats.cache_misses.values()) for k in kernels)
    print(json.dumps({"scalar": scalar, "batch": batch, "value": v, "grad": list(g),
                      "batch_value": vb.tolist(), "hits": hits, "misses": misses,
                      "pipeline_ran": fn.unit._compiled is not None}))
""")


def test_new_process_reuses_the_disk_cache(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(CACHE_SCRIPT, encoding="utf-8")
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["CHAINCC_CACHE_DIR"] = str(cache)
    env["CHAINCC_CPU_BACKEND"] = "numba"          # Numba's own cache, as the kernels use it

    def run() -> dict:
        out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                             text=True, timeout=300, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    first, second = run(), run()
    assert (second["value"], second["grad"]) == (first["value"], first["grad"])
    assert second["batch_value"] == first["batch_value"]
    # the first process compiles everything; the second runs neither the pipeline nor
    # Numba's compiler: its kernels' machine code comes from the disk
    assert first["pipeline_ran"] and first["misses"] == 2 and first["hits"] == 0, first
    assert not second["pipeline_ran"], second
    assert second["misses"] == 0 and second["hits"] == 2, second
    modules = list(cache.rglob("chaincc_k*.py"))
    assert modules
    assert list(cache.rglob("*.nbi")) and list(cache.rglob("*.nbc"))


# -------------------------------------------------------------- deep nesting

DEPTH = 10_000


def test_deep_parentheses_compile() -> None:
    f = chaincc.compile("f(x) = " + "(" * DEPTH + "x" + ")" * DEPTH)
    assert f.value_and_grad(2.5) == (2.5, (1.0,))
    g = chaincc.compile("f(x) = " + "1*(" * DEPTH + "x" + ")" * DEPTH)
    assert g.value_and_grad(-1.25) == (-1.25, (1.0,))


def test_deep_negation_through_the_pipeline() -> None:
    (c,) = pipeline(Source("<deep>", "f(x) = " + "-(" * DEPTH + "x" + ")" * DEPTH))
    body = c.fused.body
    assert len(c.forward.body) in (0, DEPTH)
    # every adjoint is the constant ±1, folded: no adjoint statements at all
    assert body == c.forward.body
    assert c.fused.output("grad_x").exprs == (1,)       # an even number of signs
    prev: sp.Basic = sp.Symbol("x")
    for a in body:
        assert a.expr == -prev
        prev = a.target
    assert c.fused.output("value").exprs == (prev,)


def test_deep_sine_through_the_pipeline() -> None:
    (c,) = pipeline(Source("<deep>", "f(x) = " + "sin(" * DEPTH + "x" + ")" * DEPTH))
    assert len(c.forward.body) == DEPTH
    # forward sines, one cosine per sine, and a product per link but the first
    assert len(c.fused.body) == 3 * DEPTH - 1
    assert c.op_counts() == {"forward": DEPTH, "value_and_grad": 3 * DEPTH - 1}
    kinds = [type(a.expr) for a in c.fused.body]
    assert kinds.count(sp.sin) == DEPTH and kinds.count(sp.cos) == DEPTH


def test_deep_power_tower_parses_and_lowers() -> None:
    src = Source("<deep>", "f(x) = " + "2^" * DEPTH + "x")
    (prog,) = lower_module(parse(src), src)
    assert len(prog.body) == DEPTH
    prev: sp.Basic = sp.Symbol("x")
    for a in prog.body:
        assert a.expr == sp.Pow(2, prev, evaluate=False)
        prev = a.target


def test_function_names_that_extend_another_functions_name():
    # f_batch and f_value_and_grad beside f must not replace f's own kernels
    src = "f(x) = x^2\nf_batch(x) = x^3\nf_value_and_grad(x) = 2x\n"
    unit = chaincc.compile_unit(src)
    xs = np.array([1.0, 2.0, 3.0])
    assert unit.function("f").value_and_grad(2.0) == (4.0, (4.0,))
    assert unit.function("f_batch").value_and_grad(2.0) == (8.0, (12.0,))
    assert unit.function("f_value_and_grad")(2.0) == 4.0
    np.testing.assert_array_equal(unit.function("f")(xs), xs ** 2)
    np.testing.assert_array_equal(unit.function("f_batch")(xs), xs ** 3)


def test_out_arrays_receive_batch_results():
    fn = chaincc.compile("f(x, y) = (x² + xy)y³")
    x = np.linspace(0.0, 1.0, 100_000)
    out = (np.empty_like(x), (np.empty_like(x), np.empty_like(x)))
    value, grads = fn.value_and_grad(x, 2.0, out=out)
    assert value is out[0] and grads[0] is out[1][0] and grads[1] is out[1][1]
    ref_v, ref_g = fn.value_and_grad(x, 2.0)
    np.testing.assert_array_equal(value, ref_v)
    np.testing.assert_array_equal(grads[1], ref_g[1])
    only = np.empty_like(x)
    assert fn(x, 2.0, out=only) is only
    np.testing.assert_array_equal(only, ref_v)
    with pytest.raises(ValueError, match="C-contiguous float64"):
        fn.value_and_grad(x, 2.0, out=(np.empty(3), (np.empty(3), np.empty(3))))
    with pytest.raises(ValueError, match="batch calls"):
        fn.value_and_grad(1.0, 2.0, out=out)
    with pytest.raises(TypeError, match="value_array"):
        fn.value_and_grad(x, 2.0, out=np.empty(3))
