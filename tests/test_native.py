"""The LLVM backend that CPU programs run on: calling libm's elementary functions
(``math="libm"``), it must agree bit for bit with the Numba kernels
(``CHAINCC_CPU_BACKEND=numba``), in every calling mode, and keep its machine code in the
disk cache."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import chaincc
from chaincc import native

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from rnn import rnn_source  # noqa: E402

MIXED = """
g(x[3], W[2,3], b[2], s) = sum(tanh(W @ x + b) * s) + max(x) + logsumexp(x) +
    where(s > 0, sqrt(s), 0)
"""


@pytest.fixture(scope="module")
def pair():
    """The same function on both backends."""
    with native.using("numba"):
        big = chaincc.compile(MIXED)
        assert not big._native("vg") and not big._native("value")
    with native.using("llvm"):
        small = chaincc.compile(MIXED + "\n# the same function, on the LLVM backend\n",
                                math="libm")
        assert small._native("vg") and small._native("value")
    yield big, small


def _args(rng, n=None):
    lead = () if n is None else (n,)
    return [rng.normal(size=lead + (3,)), rng.normal(size=(2, 3)), rng.normal(size=2),
            rng.normal(size=lead)]


def test_scalar_calls_agree_bitwise(pair):
    numba_fn, llvm_fn = pair
    rng = np.random.default_rng(0)
    for _ in range(20):
        args = _args(rng)
        args[3] = float(args[3])
        v1, g1 = numba_fn.value_and_grad(*args)
        v2, g2 = llvm_fn.value_and_grad(*args)
        assert v1 == v2 and numba_fn(*args) == llvm_fn(*args)
        for a, b in zip(g1, g2):
            assert np.array_equal(a, b)


def test_batches_and_reductions_agree(pair):
    numba_fn, llvm_fn = pair
    rng = np.random.default_rng(1)
    args = _args(rng, 20_000)                     # big enough to run on several threads
    v1, g1 = numba_fn.value_and_grad(*args)
    v2, g2 = llvm_fn.value_and_grad(*args)
    assert np.array_equal(v1, v2)
    for a, b in zip(g1, g2):
        assert a.shape == b.shape and np.array_equal(a, b)
    for mode in ("sum", "mean"):
        r1 = numba_fn.value_and_grad(*args, reduce=mode)
        r2 = llvm_fn.value_and_grad(*args, reduce=mode)
        assert r2[0] == pytest.approx(r1[0], rel=1e-12)
        for a, b in zip(r1[1], r2[1]):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)
    one = llvm_fn.value_and_grad(*[a[7] if a.ndim and a.shape[0] == 20_000 else a
                                   for a in args])
    assert one[0] == v2[7]


@pytest.mark.parametrize("steps, opt", [(300, 1), (400, 0)])
def test_large_program_runs_native_and_is_exact(steps: int, opt: int):
    from chaincc.backends import llvm
    fn = chaincc.compile(rnn_source(steps))
    assert fn._native("vg") and fn.op_counts()["value_and_grad"] > native.NATIVE_STATEMENTS
    assert llvm.plan(fn.compiled.fused).opt == opt   # O1 IR, or beyond 4,000 statements O0
    rng = np.random.default_rng(2)
    x = rng.uniform(-0.8, 0.8, len(fn.params))
    value, grad = fn.value_and_grad(*x)
    # a batch gives each point the scalar call's bits
    bv, bg = fn.value_and_grad(*(np.array([v, v]) for v in x))
    assert bv.tolist() == [value, value] and [g[1] for g in bg] == list(grad)
    # forward recurrence and its hand-written reverse sweep, in NumPy
    w, u, xs = x[0], x[1], x[2:]
    hs = [0.0]
    for xt in xs:
        hs.append(np.tanh(w * hs[-1] + u * xt))
    assert value == pytest.approx(hs[-1] ** 2, rel=1e-14)
    adj, gw, gu, gx = 2 * hs[-1], 0.0, 0.0, np.zeros(len(xs))
    for t in range(len(xs), 0, -1):
        a = adj * (1 - hs[t] ** 2)
        gw, gu, gx[t - 1] = gw + a * hs[t - 1], gu + a * xs[t - 1], a * u
        adj = a * w
    assert grad[0] == pytest.approx(gw, rel=1e-10)
    assert grad[1] == pytest.approx(gu, rel=1e-10)
    np.testing.assert_allclose(grad[2:], gx, rtol=1e-10, atol=1e-300)


def test_machine_code_comes_from_the_disk_cache(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT / 'benchmarks')!r})
        from rnn import rnn_source
        import chaincc
        t = time.perf_counter()
        fn = chaincc.compile(rnn_source(200))
        v, g = fn.value_and_grad(*([0.3] * len(fn.params)))
        print(time.perf_counter() - t, v, fn.unit._compiled is not None)
    """)
    env = dict(os.environ, CHAINCC_CACHE_DIR=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, check=True).stdout.split() for _ in range(2)]
    assert runs[0][1] == runs[1][1]
    # the second process neither lowers the source again nor runs LLVM: the object file
    # written by the first is loaded as it is
    assert runs[0][2] == "True" and runs[1][2] == "False"
    assert len(list(tmp_path.glob("*/objects/*.o"))) == 1


def test_thread_count_from_the_environment(monkeypatch) -> None:
    """CHAINCC_NUM_THREADS, then NUMBA_NUM_THREADS, sets the batch kernels' threads;
    a value that is not a positive integer is ignored."""
    from chaincc.calling import threads
    monkeypatch.setenv("CHAINCC_NUM_THREADS", "3")
    monkeypatch.setenv("NUMBA_NUM_THREADS", "5")
    assert threads() == 3
    monkeypatch.setenv("CHAINCC_NUM_THREADS", "-2; rm -rf /")
    assert threads() == 5
    monkeypatch.delenv("NUMBA_NUM_THREADS")
    monkeypatch.delenv("CHAINCC_NUM_THREADS")
    assert threads() >= 1
    # the batch result does not depend on it
    fn = chaincc.compile("f(x, y) = sin(x)·y²")
    x = np.linspace(-2, 2, 50_000)
    monkeypatch.setenv("CHAINCC_NUM_THREADS", "1")
    one = fn.value_and_grad(x, 0.5, reduce="sum")
    monkeypatch.setenv("CHAINCC_NUM_THREADS", "4")
    four = fn.value_and_grad(x, 0.5, reduce="sum")
    assert one[0] == four[0] and one[1] == four[1]
