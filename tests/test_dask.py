"""Dask arrays in, Dask arrays out (chaincc/dask.py), and pickling a compiled function
(chaincc/pickling.py): Dask results equal the in-memory NumPy call, which is itself
checked against ``sympy.diff`` of a hand transcription of the formula; reductions never
hold per-point outputs; a LocalCluster of two worker processes computes a batch mean of
the value and gradient."""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import chaincc
from chaincc.calling import ArgumentError, ArgumentTypeError

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
Callback = pytest.importorskip("dask.callbacks").Callback

ROOT = Path(__file__).resolve().parent.parent
D = 3
SOURCE = f"""
z = w @ x + b
loss(w[{D}], b, x[{D}], y, lam) = softplus(z) - y z + (lam/2)(w @ w)
"""
RTOL = 1e-12


@pytest.fixture(scope="module")
def fn() -> chaincc.Function:
    return chaincc.compile(SOURCE)


@pytest.fixture(scope="module")
def fit() -> chaincc.Function:
    return chaincc.compile(SOURCE, wrt=["w", "b"])


def data(n: int, seed: int = 0) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=D)
    X = rng.normal(size=(n, D))
    y = (rng.random(n) < 0.5).astype(np.float64)
    return w, 0.25, X, y, 1e-2


def oracle(w: np.ndarray, b: float, x: np.ndarray, y: float, lam: float
           ) -> tuple[float, list[float]]:
    """Value and gradient (w..., b, x..., y, lam) from sympy.diff of the loss written out
    by hand, evaluated in 30 digits."""
    ws, xs = sp.symbols(f"w0:{D}", real=True), sp.symbols(f"x0:{D}", real=True)
    bs, ys, ls = sp.symbols("b y lam", real=True)
    z = sum(wi * xi for wi, xi in zip(ws, xs)) + bs
    expr = sp.log(1 + sp.exp(z)) - ys * z + ls / 2 * sum(wi ** 2 for wi in ws)
    params = [*ws, bs, *xs, ys, ls]
    subs = {p: sp.Float(v, 30) for p, v in zip(params, [*w, b, *x, y, lam])}
    return float(expr.evalf(30, subs=subs)), [float(sp.diff(expr, p).evalf(30, subs=subs))
                                              for p in params]


def flat_grad(g: tuple, i: int | None = None) -> list[float]:
    """A gradient (w, b, x, y, lam) at point i (or a single point) as one flat list."""
    out: list[float] = []
    for a in g:
        a = np.asarray(a)
        out += list(np.ravel(a if i is None or a.ndim == 0 else a[i]))
    return out


def close(got, want, rtol: float = RTOL) -> None:
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(want)
        for a, b in zip(got, want):
            close(a, b, rtol)
        return
    assert isinstance(got, da.Array), type(got)
    got = got.compute()
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-14)


# -- the in-memory call, against the independent oracle --------------------------------------
def test_numpy_call_matches_sympy_diff(fn) -> None:
    w, b, X, y, lam = data(40)
    value, grad = fn.value_and_grad(w, b, X, y, lam)
    vals, grads = [], []
    for i in range(len(y)):
        want_v, want_g = oracle(w, b, X[i], y[i], lam)
        assert math.isclose(value[i], want_v, rel_tol=1e-12, abs_tol=1e-14)
        np.testing.assert_allclose(flat_grad(grad, i), want_g, rtol=1e-12, atol=1e-14)
        vals.append(want_v)
        grads.append(want_g)
    mean_v, mean_g = fn.value_and_grad(w, b, X, y, lam, reduce="mean")
    assert math.isclose(mean_v, float(np.mean(vals)), rel_tol=1e-12)
    np.testing.assert_allclose(flat_grad(mean_g), np.mean(grads, axis=0), rtol=1e-12,
                               atol=1e-14)


# -- Dask results equal the NumPy call ------------------------------------------------------
@pytest.mark.parametrize("reduce", [None, "sum", "mean"])
def test_value_grad_value_and_grad(fn, fit, reduce) -> None:
    w, b, X, y, lam = data(1003)
    # uneven chunks, different in each argument; x's own axis split (rechunked to one)
    dX = da.from_array(X, chunks=((100, 303, 600), (1, 2)))
    dy = da.from_array(y, chunks=250)
    for f in (fn, fit):
        v = f(w, b, dX, dy, lam, reduce=reduce)
        g = f.grad(w, b, dX, dy, lam, reduce=reduce)
        vg = f.value_and_grad(w, b, dX, dy, lam, reduce=reduce)
        want_v, want_g = f.value_and_grad(w, b, X, y, lam, reduce=reduce)
        close(v, want_v)
        close(g, want_g)
        close(vg[0], want_v)
        close(vg[1], want_g)
        if reduce is None:
            assert v.chunks == ((100, 150, 153, 97, 250, 250, 3),)   # both args' boundaries
            assert g[0].chunks[1] == (D,)


@pytest.mark.parametrize("reduce", [None, "sum", "mean"])
def test_every_argument_chunked_and_broadcast(fn, reduce) -> None:
    """Per-point weights, bias and inputs, all Dask arrays with their own chunks, and
    two batch dimensions, one broadcast from a NumPy array."""
    rng = np.random.default_rng(3)
    W = rng.normal(size=(4, 301, D))
    B = rng.normal(size=(301,))                   # broadcast over the first batch axis
    X = rng.normal(size=(4, 301, D))
    y = (rng.random((4, 1)) < 0.5).astype(float)  # NumPy, broadcast over the second
    dW = da.from_array(W, chunks=(3, 100, 2))
    dB = da.from_array(B, chunks=77)
    dX = da.from_array(X, chunks=(1, 150, D))
    got = fn.value_and_grad(dW, dB, dX, y, 0.5, reduce=reduce)
    want = fn.value_and_grad(W, B, X, y, 0.5, reduce=reduce)
    close(got[0], want[0])
    close(got[1], want[1])


def test_jacobian_vjp_hessian(fn) -> None:
    vec = chaincc.compile("g(x[2], s) = [x[0]^2 * s, sin(x[1]) + s]")
    rng = np.random.default_rng(4)
    x = rng.normal(size=(57, 2))
    s = rng.normal(size=57)
    ct = rng.normal(size=(57, 2))
    dx, ds = da.from_array(x, chunks=(20, 1)), da.from_array(s, chunks=25)
    close(vec(dx, ds), vec(x, s))
    close(vec.jacobian(dx, ds), vec.jacobian(x, s))
    close(vec.jacobian(dx, ds, mode="forward"), vec.jacobian(x, s, mode="forward"))
    close(vec.vjp(dx, ds, da.from_array(ct, chunks=10)), vec.vjp(x, s, ct))
    w, b, X, y, lam = data(500)
    dX = da.from_array(X, chunks=(128, D))
    close(fn.hessian(w, b, dX, y, lam, reduce="mean"), fn.hessian(w, b, X, y, lam,
                                                                  reduce="mean"))
    d = rng.normal(size=2 * D + 3)
    close(fn.hvp(w, b, dX, y, lam, direction=d, reduce="sum"),
          fn.hvp(w, b, X, y, lam, direction=d, reduce="sum"))


def test_no_batch_dimensions(fn) -> None:
    """A Dask array for an array parameter alone: one point, as a Dask array."""
    w, b, X, y, lam = data(1)
    got = fn.value_and_grad(da.from_array(w, chunks=1), b, X[0], y[0], lam, reduce="mean")
    want = fn.value_and_grad(w, b, X[0], y[0], lam)
    close(got[0], np.asarray(want[0]))
    close(got[1], [np.asarray(a) for a in want[1]])


@pytest.mark.parametrize("reduce", [None, "sum", "mean"])
def test_empty_batch(fn, reduce) -> None:
    w, b, _, _, lam = data(1)
    X, y = np.zeros((0, D)), np.zeros(0)
    got = fn.value_and_grad(w, b, da.from_array(X), da.from_array(y), lam, reduce=reduce)
    want = fn.value_and_grad(w, b, X, y, lam, reduce=reduce)
    close(got[0], np.asarray(want[0]))
    close(got[1], [np.asarray(a) for a in want[1]])


def test_bad_arguments(fn) -> None:
    w, b, X, y, lam = data(100)
    dX = da.from_array(X, chunks=(10, D))
    with pytest.raises(ArgumentError, match="out="):
        fn(w, b, dX, y, lam, out=np.empty(100))
    with pytest.raises(ArgumentError, match=r"parameter 'x' must have shape \(3,\)"):
        fn(w, b, dX[:, :2], y, lam)
    with pytest.raises(ArgumentError, match="cannot be broadcast"):
        fn(w, b, dX, y[:99], lam)
    with pytest.raises(ArgumentError, match="unknown chunk sizes"):
        fn(w, b, dX[da.from_array(y, chunks=10) > 0.5], 1.0, lam, reduce="mean")
    with pytest.raises(ArgumentTypeError, match="Dask array of complex128"):
        fn(w, b, dX * 1j, y, lam)
    with pytest.raises(ArgumentError, match="reduce must be"):
        fn(w, b, dX, y, lam, reduce="max")


# -- the graphs: one kernel call per block, no per-point outputs in a reduction --------------
class Recorder(Callback):
    """Every task's key and the shapes of what it returned (synchronous scheduler)."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[tuple[str, list[tuple[int, ...]]]] = []

    def _posttask(self, key, result, dsk, state, worker_id) -> None:
        parts = result if isinstance(result, tuple) else (result,)
        name = key[0] if isinstance(key, tuple) else key
        self.tasks.append((str(name), [np.shape(p) for p in parts
                                       if isinstance(p, np.ndarray)]))


def test_reduction_never_holds_per_point_outputs(fit) -> None:
    n, chunk = 20_000, 1_000
    w, b, _, _, lam = data(1)
    X = da.random.default_rng(5).normal(size=(n, D), chunks=(chunk, D))
    y = (da.random.default_rng(6).random(size=n, chunks=chunk) < 0.5).astype(float)
    v, g = fit.value_and_grad(w, b, X, y, lam, reduce="mean")
    rec = Recorder()
    with rec, dask.config.set(scheduler="sync"):
        got = dask.compute(v, *g)
    want = fit.value_and_grad(w, b, *dask.compute(X, y), lam, reduce="mean")
    np.testing.assert_allclose(got[0], want[0], rtol=RTOL)
    np.testing.assert_allclose(np.concatenate([np.ravel(a) for a in got[1:]]),
                               np.concatenate([np.ravel(a) for a in want[1]]), rtol=RTOL)
    kernels = [shapes for name, shapes in rec.tasks
               if name.split("-")[0] == "chaincc_loss_vg_sum"]
    assert len(kernels) == n // chunk                   # one kernel call per block
    assert all(s == [(1, 1 + D + 1)] for s in kernels)  # a partial: value, w, b
    largest = max(math.prod(s) for _, shapes in rec.tasks for s in shapes)
    assert largest == chunk * D                         # the input blocks, nothing larger
    assert largest < n


def test_one_kernel_call_per_block(fn) -> None:
    w, b, X, y, lam = data(1000)
    dX = da.from_array(X, chunks=(100, D))
    v, g = fn.value_and_grad(w, b, dX, y, lam)
    rec = Recorder()
    with rec, dask.config.set(scheduler="sync"):
        dask.compute(v, *g)
    kernels = [shapes for name, shapes in rec.tasks if name.split("-")[0] == "chaincc_loss_vg"]
    assert len(kernels) == 10
    assert all(s[0] == (100,) for s in kernels)        # the value, then each gradient


# -- pickling --------------------------------------------------------------------------------
def sympy_function() -> chaincc.Function:
    x, y = sp.symbols("x y")
    expr = sp.Piecewise((x * y, x > 0), (sp.sin(y), True)) + sp.Max(x, y) * sp.exp(-x)
    return chaincc.compile(expr, params=[x, y], name="h")


def functions() -> dict[str, chaincc.Function]:
    two = "g(x) = x^3\nf(x, y) = g(x) y + cos(x y)"
    return {"text": chaincc.compile(SOURCE),
            "wrt": chaincc.compile(SOURCE, wrt=["b", "w"]),
            "entry": chaincc.compile(two, entry="g"),
            "last": chaincc.compile(two),
            "latex": chaincc.compile(r"J = \frac{1}{2}(y - \hat{y})^2", syntax="latex"),
            "sympy": sympy_function()}


def evaluate(fns: dict[str, chaincc.Function]) -> dict[str, tuple]:
    """Each function's value and gradient at fixed batches (results as bytes)."""
    rng = np.random.default_rng(7)
    out = {}
    for key, f in fns.items():
        args = [rng.normal(size=(9, *s)) for s in f.shapes]
        v, g = f.value_and_grad(*args)
        out[key] = (repr(f), f.wrt, v.tobytes(), [np.asarray(a).tobytes() for a in g])
    return out


def unpickle_and_evaluate(blob: bytes) -> dict[str, tuple]:
    return evaluate(pickle.loads(blob))


def test_pickle_round_trip_in_process() -> None:
    fns = functions()
    blob = pickle.dumps(fns)
    assert len(blob) < 8000                  # sources and options, no kernels
    back = pickle.loads(blob)
    for key, f in fns.items():
        assert type(back[key]) is type(f)
        assert (back[key].name, back[key].params, back[key].shapes, back[key].wrt) == \
            (f.name, f.params, f.shapes, f.wrt)
    assert evaluate(back) == evaluate(fns)
    # a second unpickle in the same process shares the function compiled by the first
    assert pickle.loads(pickle.dumps(fns["text"])) is back["text"]


def test_pickle_round_trip_in_a_spawned_process() -> None:
    fns = functions()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        got = pool.apply(unpickle_and_evaluate, (pickle.dumps(fns),))
    assert got == evaluate(fns)


def test_pickle_keeps_the_cuda_target() -> None:
    """Under the Numba CUDA simulator, in a child process (as tests/test_cuda.py runs
    every CUDA test): a float32 CUDA function pickles and unpickles as one."""
    if subprocess.run([sys.executable, "-c", "import numba_cuda"],
                      capture_output=True).returncode != 0:
        pytest.skip("numba-cuda not installed (pip install chaincc[cuda])")
    script = textwrap.dedent("""
        import pickle, numpy as np, chaincc
        f = chaincc.compile("f(x, y) = x*sin(y) + x^2", target="cuda", dtype=np.float32)
        g = pickle.loads(pickle.dumps(f))
        assert (g.target, g.dtype, type(g).__name__) == ("cuda", np.float32, "CudaFunction")
        x = np.linspace(-1, 1, 50)
        a, b = f.value_and_grad(x, 0.5), g.value_and_grad(x, 0.5)
        assert a[0].dtype == b[0].dtype == np.float32
        assert a[0].tobytes() == b[0].tobytes()
        assert all(p.tobytes() == q.tobytes() for p, q in zip(a[1], b[1]))
        print("ok")
        """)
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr[-4000:]


def test_calls_without_dask_never_import_it() -> None:
    script = textwrap.dedent("""
        import sys, numpy as np, chaincc
        f = chaincc.compile("f(x, y) = x*sin(y) + x^2")
        f.value_and_grad(np.linspace(0, 1, 10), 2.0, reduce="mean")
        f(1.0, 2.0)
        print(sorted(m for m in sys.modules if m.split(".")[0] == "dask"
                     or m == "chaincc.dask"))
        """)
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-4000:]
    assert r.stdout.strip() == "[]"


# -- a distributed cluster of two worker processes -------------------------------------------
def rebuilt_functions() -> list[str]:
    """On a worker: the functions it has unpickled (and so compiled) so far."""
    from chaincc import pickling
    return sorted(f.name for f in pickling._rebuilt.values())


def test_local_cluster_of_two_worker_processes(fit) -> None:
    distributed = pytest.importorskip("distributed")
    n, chunk = 400_000, 25_000
    w, b, _, _, lam = data(1)
    X = da.random.default_rng(8).normal(size=(n, D), chunks=(chunk, D))
    y = (da.random.default_rng(9).random(size=n, chunks=chunk) < 0.5).astype(float)
    # workers inherit this process's environment, $CHAINCC_CACHE_DIR included (conftest.py)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        v, g = fit.value_and_grad(w, b, X, y, lam, reduce="mean")
        got = client.compute([v, *g], sync=True)
        Xn, yn = client.compute([X, y], sync=True)
        built = client.run(rebuilt_functions)
    want = fit.value_and_grad(w, b, Xn, yn, lam, reduce="mean")
    np.testing.assert_allclose(got[0], want[0], rtol=RTOL)
    np.testing.assert_allclose(np.concatenate([np.ravel(a) for a in got[1:]]),
                               np.concatenate([np.ravel(a) for a in want[1]]), rtol=RTOL)
    assert len(built) == 2
    assert any(names == ["loss"] for names in built.values())   # compiled on a worker
