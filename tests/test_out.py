"""``out=`` on every batch call: the results are written into the caller's arrays (and
those arrays returned), bit for bit what the call returns without ``out=``; an input that
is also an output is read before it is overwritten; outputs that overlap are an error."""

from __future__ import annotations

import numpy as np
import pytest

import chaincc
from chaincc import native

SRC = "f(x[2], w) = sin(w·x[0]) + x[1]²·w³"
VEC = "g(x[2], w) = [w·x[0]², sin(x[1]) + w, x[0]·x[1]]"
N = 33


@pytest.fixture(scope="module", params=["llvm", "numba"])
def fns(request):
    with native.using(request.param):
        f, g = chaincc.compile(SRC), chaincc.compile(VEC)
        for fn in (f, g):
            fn._native("value")
            fn._native("vg")
    return f, g


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, 2)), rng.normal(size=N)


def _same(got, want) -> None:
    assert got.shape == want.shape and np.array_equal(got, want)


def test_jacobian_out(fns) -> None:
    _, g = fns
    x, w = _data()
    want = g.jacobian(x, w)
    out = (np.empty((N, 3, 2)), np.empty((N, 3)))
    got = g.jacobian(x, w, out=out)
    assert got[0] is out[0] and got[1] is out[1]
    for a, b in zip(got, want):
        _same(a, b)
    fwd = (np.empty((N, 3, 2)), np.empty((N, 3)))
    got = g.jacobian(x, w, mode="forward", out=fwd)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_vjp_jvp_hessian_hvp_out(fns) -> None:
    f, g = fns
    x, w = _data(1)
    ct = np.random.default_rng(2).normal(size=(N, 3))
    want = g.vjp(x, w, ct)
    out = (np.empty((N, 2)), np.empty(N))
    got = g.vjp(x, w, ct, out=out)
    assert got[0] is out[0]
    for a, b in zip(got, want):
        _same(a, b)

    t = np.array([0.5, -1.0, 2.0])
    want = f.jvp(x, w, t)
    out = (np.empty(N), np.empty(N))
    got = f.jvp(x, w, t, out=out)
    assert got[0] is out[0] and got[1] is out[1]
    for a, b in zip(got, want):
        _same(a, b)

    want = f.hessian(x, w)
    out = np.empty((N, 3, 3))
    got = f.hessian(x, w, out=out)
    assert got is out
    _same(got, want)

    want = f.hvp(x, w, t)
    out = (np.empty((N, 2)), np.empty(N))
    got = f.hvp(x, w, t, out=out)
    assert got[0] is out[0] and got[1] is out[1]
    for a, b in zip(got, want):
        _same(a, b)


def test_out_checks(fns) -> None:
    f, g = fns
    x, w = _data()
    with pytest.raises(chaincc.ChainccError, match="out"):
        g.jacobian(x, w, out=(np.empty((N, 3, 2)), np.empty((N, 2))))   # wrong shape
    with pytest.raises(chaincc.ChainccError, match="out"):
        f.hessian(x, w, reduce="sum", out=np.empty((3, 3)))          # reduce: no out
    with pytest.raises(chaincc.ChainccError, match="out"):
        g.jacobian(x, w, out=3)


def test_an_input_that_is_also_an_output_is_read_first(fns) -> None:
    f, _ = fns
    x, w = _data(3)
    want = f(x, w)
    w2 = w.copy()
    got = f(x, w2, out=w2)               # w is read at every point before it is written
    assert got is w2
    _same(got, want)
    v, (gx, gw) = f.value_and_grad(x, w)
    w3 = w.copy()
    f.value_and_grad(x, w3, out=(np.empty(N), (np.empty((N, 2)), w3)))
    _same(w3, gw)


def test_overlapping_outputs_are_an_error() -> None:
    f = chaincc.compile(SRC + "\n# on LLVM\n")
    x, w = _data(4)
    buf = np.empty(2 * N)
    if not f._native("vg"):
        pytest.skip("the Numba backend writes overlapping outputs in its own order")
    with pytest.raises(chaincc.ChainccError, match="overlap"):
        f.value_and_grad(x, w, out=(buf[:N], (np.empty((N, 2)), buf[N - 1:2 * N - 1])))
