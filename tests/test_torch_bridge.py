"""chaincc.torch.function: compiled functions inside PyTorch autograd.

The oracle is PyTorch's own autograd of the same formulas written in torch operations
(no chaincc code involved), compared to 1e-12 in float64.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chaincc  # noqa: E402
import chaincc.torch as ct  # noqa: E402
from chaincc.calling import ArgumentError, ArgumentTypeError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
F64 = torch.float64
TOL = {"rtol": 1e-12, "atol": 1e-12}

SEED = "f(x, y) = (x² + xy)y³"
MLP = (ROOT / "samples" / "mlp.txt").read_text()
VEC = "g(x[3], s) = [x[0]^2 * s, sin(x[1]) + s x[2], exp(x[2] / 3) * x[0]]"


@pytest.fixture(scope="module")
def seed():
    return chaincc.compile(SEED)


@pytest.fixture(scope="module")
def mlp():
    return chaincc.compile(MLP)


@pytest.fixture(scope="module")
def vec():
    return chaincc.compile(VEC)


def leaves(*arrays):
    return [torch.tensor(a, dtype=F64, requires_grad=True) for a in arrays]


def twins(*tensors):
    """Fresh leaves with the same values, for the oracle's own graph."""
    return [t.detach().clone().requires_grad_(t.requires_grad) for t in tensors]


def close(a, b):
    torch.testing.assert_close(a, b, **TOL)


def seed_torch(x, y):
    return (x**2 + x * y) * y**3


def mlp_torch(W1, b1, W2, b2, x, y):
    """Per-sample loss of samples/mlp.txt for x (..., 10), y (..., 2)."""
    h = torch.relu(x @ W1.T + b1)
    return ((h @ W2.T + b2 - y) ** 2).mean(-1)


def vec_torch(x, s):
    return torch.stack([x[..., 0] ** 2 * s, torch.sin(x[..., 1]) + s * x[..., 2],
                        torch.exp(x[..., 2] / 3) * x[..., 0]], -1)


def mlp_weights(rng):
    return (rng.normal(size=(5, 10)) / 3, rng.normal(size=5) / 3,
            rng.normal(size=(2, 5)) / 2, rng.normal(size=2) / 2)


# -- scalar-valued ----------------------------------------------------------------------------
def test_scalar_function_at_random_points(seed):
    tf = ct.function(seed)
    rng = np.random.default_rng(1)
    for _ in range(5):
        x, y = leaves(*rng.normal(size=2) * 2)
        v = tf(x, y)
        v.backward()
        x2, y2 = twins(x, y)
        ref = seed_torch(x2, y2)
        ref.backward()
        assert v.shape == () and v.dtype == F64
        close(v, ref.detach())
        close(x.grad, x2.grad)
        close(y.grad, y2.grad)


def test_seed_example_values(seed):
    x, y = leaves(1.0, 2.0)
    v = ct.function(seed)(x, y)
    v.backward()
    assert (v.item(), x.grad.item(), y.grad.item()) == (24.0, 32.0, 44.0)


def test_batched_per_point_with_grad_output_and_broadcasting(seed):
    """Per-point values; x has batch (4, 1) and y batch (3,): the gradients are summed
    back over the dimensions each input was broadcast along."""
    rng = np.random.default_rng(2)
    x, y = leaves(rng.normal(size=(4, 1)), rng.normal(size=3))
    w = torch.tensor(rng.normal(size=(4, 3)), dtype=F64)
    v = ct.function(seed)(x, y)
    (v * w).sum().backward()
    x2, y2 = twins(x, y)
    ref = seed_torch(x2, y2)
    (ref * w).sum().backward()
    assert v.shape == (4, 3)
    close(v, ref.detach())
    close(x.grad, x2.grad)
    close(y.grad, y2.grad)


def test_keyword_arguments(seed):
    x, y = leaves(0.7, -1.3)
    v = ct.function(seed)(y=y, x=x)
    v.backward()
    x2, y2 = twins(x, y)
    seed_torch(x2, y2).backward()
    close(x.grad, x2.grad)
    close(y.grad, y2.grad)


@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_mlp_batch_loss_with_reduce(mlp, reduce):
    """Array parameters (W1[5,10], ...), a batch of 257 samples, the batch loss reduced
    inside the kernel, with a grad_output that is not 1."""
    rng = np.random.default_rng(3)
    ws = leaves(*mlp_weights(rng))
    x = torch.tensor(rng.normal(size=(257, 10)), dtype=F64)
    y = torch.tensor(rng.normal(size=(257, 2)), dtype=F64)
    loss = ct.function(mlp, reduce=reduce)(*ws, x, y)
    (2.5 * loss).backward()
    ws2 = twins(*ws)
    per = mlp_torch(*ws2, x, y)
    ref = per.mean() if reduce == "mean" else per.sum()
    (2.5 * ref).backward()
    assert loss.shape == ()
    close(loss, ref.detach())
    for a, b in zip(ws, ws2):
        assert a.grad.shape == a.shape
        close(a.grad, b.grad)


def test_reduce_given_per_call_overrides_the_default(mlp):
    rng = np.random.default_rng(4)
    ws = [torch.tensor(w) for w in mlp_weights(rng)]
    x, y = torch.tensor(rng.normal(size=(9, 10))), torch.tensor(rng.normal(size=(9, 2)))
    tf = ct.function(mlp, reduce="mean")
    close(tf(*ws, x, y, reduce="sum"), mlp_torch(*ws, x, y).sum())
    assert tf(*ws, x, y, reduce=None).shape == (9,)


def test_reduce_with_a_batched_input_that_requires_grad(mlp):
    """A gradient with respect to the batched input x under reduce="mean": one gradient
    per sample (of the mean loss), alongside the weights' reduced ones."""
    rng = np.random.default_rng(5)
    ws = leaves(*mlp_weights(rng))
    x, = leaves(rng.normal(size=(33, 10)))
    y = torch.tensor(rng.normal(size=(33, 2)), dtype=F64)
    loss = ct.function(mlp)(*ws, x, y, reduce="mean")
    loss.backward()
    ws2, (x2,) = twins(*ws), twins(x)
    ref = mlp_torch(*ws2, x2, y).mean()
    ref.backward()
    close(loss, ref.detach())
    close(x.grad, x2.grad)
    for a, b in zip(ws, ws2):
        close(a.grad, b.grad)


def test_parameters_not_requiring_grad_are_data(mlp, monkeypatch):
    """Only the tensors that require a gradient are differentiated (wrt= those), and the
    others get none."""
    calls = []
    real = type(mlp).value_and_grad

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("wrt"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(mlp), "value_and_grad", spy)
    rng = np.random.default_rng(6)
    W1, b1, W2, b2 = mlp_weights(rng)
    W1t, b2t = leaves(W1, b2)
    b1t, W2t = torch.tensor(b1), torch.tensor(W2)
    x, y = torch.tensor(rng.normal(size=(16, 10))), torch.tensor(rng.normal(size=(16, 2)))
    loss = ct.function(mlp, reduce="mean")(W1t, b1t, W2t, b2t, x, y)
    loss.backward()
    assert calls == [["W1", "b2"]]
    assert b1t.grad is None and W2t.grad is None and x.grad is None
    W1r, b2r = twins(W1t, b2t)
    mlp_torch(W1r, b1t, W2t, b2r, x, y).mean().backward()
    close(W1t.grad, W1r.grad)
    close(b2t.grad, b2r.grad)


def test_without_grad_only_the_value_kernel_runs(mlp, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("value_and_grad called where no gradient is needed")

    monkeypatch.setattr(type(mlp), "value_and_grad", refuse)
    rng = np.random.default_rng(7)
    ws = leaves(*mlp_weights(rng))
    x, y = torch.tensor(rng.normal(size=(5, 10))), torch.tensor(rng.normal(size=(5, 2)))
    with torch.no_grad():
        v = ct.function(mlp, reduce="mean")(*ws, x, y)
    assert not v.requires_grad
    close(v, mlp_torch(*ws, x, y).mean().detach())


def test_float64_inputs_are_not_copied(mlp, monkeypatch):
    seen = []
    real = type(mlp).value_and_grad

    def spy(self, *args, **kwargs):
        seen.extend(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(mlp), "value_and_grad", spy)
    rng = np.random.default_rng(8)
    ws = leaves(*mlp_weights(rng))
    x, y = torch.tensor(rng.normal(size=(6, 10))), torch.tensor(rng.normal(size=(6, 2)))
    ct.function(mlp, reduce="sum")(*ws, x, y)
    for arg, t in zip(seen, [*ws, x, y]):
        assert isinstance(arg, np.ndarray) and arg.ctypes.data == t.data_ptr()


def test_float32_inputs(seed):
    """float32 tensors are computed in float64; the value comes back in float32 and each
    gradient in its input's dtype."""
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(2, 8))
    x = torch.tensor(a, dtype=torch.float32, requires_grad=True)
    y = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    v = ct.function(seed)(x, y)
    v.sum().backward()
    assert v.dtype == F64 and x.grad.dtype == torch.float32 and y.grad.dtype == F64
    x2 = torch.tensor(x.detach().numpy().astype(np.float64), requires_grad=True)
    y2, = twins(y)
    seed_torch(x2, y2).sum().backward()
    close(y.grad, y2.grad)
    torch.testing.assert_close(x.grad, x2.grad.float())
    x3 = x.detach().clone().requires_grad_()
    v3 = ct.function(seed)(x3, y.detach().float())
    assert v3.dtype == torch.float32
    torch.testing.assert_close(v3, v.detach().float())


def test_non_contiguous_and_integer_inputs(seed):
    rng = np.random.default_rng(10)
    base = torch.tensor(rng.normal(size=(6, 4)), dtype=F64, requires_grad=True)
    x = base.T                                     # not contiguous
    y = torch.arange(4, dtype=torch.int64).reshape(4, 1)   # broadcast along x's rows
    v = ct.function(seed)(x, y)
    v.sum().backward()
    base2, = twins(base)
    seed_torch(base2.T, y.double()).sum().backward()
    close(v, seed_torch(base.detach().T, y.double()))
    close(base.grad, base2.grad)


# -- vector-valued -----------------------------------------------------------------------------
def test_vector_valued_with_grad_output(vec):
    rng = np.random.default_rng(11)
    x, s = leaves(rng.normal(size=3), 0.8)
    w = torch.tensor(rng.normal(size=3), dtype=F64)
    v = ct.function(vec)(x, s)
    (v * w).sum().backward()
    x2, s2 = twins(x, s)
    ref = vec_torch(x2, s2)
    (ref * w).sum().backward()
    assert v.shape == (3,)
    close(v, ref.detach())
    close(x.grad, x2.grad)
    close(s.grad, s2.grad)


def test_vector_valued_batched(vec):
    rng = np.random.default_rng(12)
    x, s = leaves(rng.normal(size=(5, 3)), rng.normal(size=(5,)))
    w = torch.tensor(rng.normal(size=(5, 3)), dtype=F64)
    v = ct.function(vec)(x, s)
    (v * w).sum().backward()
    x2, s2 = twins(x, s)
    (vec_torch(x2, s2) * w).sum().backward()
    close(x.grad, x2.grad)
    close(s.grad, s2.grad)


@pytest.mark.parametrize("reduce", ["mean", "sum"])
@pytest.mark.parametrize("x_grad", [False, True])
def test_vector_valued_reduced(vec, reduce, x_grad):
    """The batch's summed or mean value; a shared s, and x per sample with or without a
    gradient of its own."""
    rng = np.random.default_rng(13)
    x = torch.tensor(rng.normal(size=(7, 3)), dtype=F64, requires_grad=x_grad)
    s, = leaves(0.3)
    w = torch.tensor(rng.normal(size=3), dtype=F64)
    v = ct.function(vec)(x, s, reduce=reduce)
    (v * w).sum().backward()
    x2, s2 = twins(x, s)
    per = vec_torch(x2, s2)
    ref = per.mean(0) if reduce == "mean" else per.sum(0)
    (ref * w).sum().backward()
    assert v.shape == (3,)
    close(v, ref.detach())
    close(s.grad, s2.grad)
    if x_grad:
        close(x.grad, x2.grad)


def test_vjp_reduce(vec):
    """fn.vjp(..., reduce=...) is the sum or mean over the batch of the per-point VJPs."""
    rng = np.random.default_rng(14)
    x, s, c = rng.normal(size=(6, 3)), 1.1, rng.normal(size=3)
    gx, gs = vec.vjp(x, s, cotangent=c)
    sx, ss = vec.vjp(x, s, cotangent=c, reduce="sum")
    mx, ms = vec.vjp(x, s, cotangent=c, reduce="mean")
    np.testing.assert_allclose(sx, gx.sum(0), rtol=1e-13)
    np.testing.assert_allclose(ms, gs.mean(), rtol=1e-13)
    np.testing.assert_allclose(mx, gx.mean(0), rtol=1e-13)
    assert ss == pytest.approx(gs.sum(), rel=1e-13)


# -- gradcheck, double backward, nn.Module ---------------------------------------------------------
def test_gradcheck(seed, mlp, vec):
    rng = np.random.default_rng(15)
    tf, tm, tv = ct.function(seed), ct.function(mlp), ct.function(vec)
    assert torch.autograd.gradcheck(tf, tuple(leaves(rng.normal(size=4),
                                                     rng.normal(size=4))))
    ws = leaves(*mlp_weights(rng))
    xy = leaves(rng.normal(size=(3, 10)), rng.normal(size=(3, 2)))
    assert torch.autograd.gradcheck(lambda *a: tm(*a, reduce="mean"), (*ws, *xy))
    assert torch.autograd.gradcheck(tm, (*ws, *xy))
    assert torch.autograd.gradcheck(tv, tuple(leaves(rng.normal(size=(2, 3)), 0.4)))
    assert torch.autograd.gradcheck(lambda *a: tv(*a, reduce="mean"),
                                    tuple(leaves(rng.normal(size=(2, 3)), 0.4)))


def test_double_backward_is_refused(seed):
    x, y = leaves(1.0, 2.0)
    v = ct.function(seed)(x, y)
    (gx,) = torch.autograd.grad(v, x, create_graph=True)
    assert gx.item() == 32.0
    with pytest.raises(RuntimeError, match="no double backward"):
        gx.backward()
    with pytest.raises(RuntimeError, match="no double backward"):
        torch.autograd.functional.hessian(ct.function(seed), (x, y))


def test_inside_an_nn_module_with_sgd(mlp):
    """Three SGD steps on a module whose loss is the compiled function, side by side with
    the same module written in torch operations."""
    rng = np.random.default_rng(16)
    init = mlp_weights(rng)
    x, y = torch.tensor(rng.normal(size=(64, 10))), torch.tensor(rng.normal(size=(64, 2)))

    class Net(torch.nn.Module):
        def __init__(self, loss):
            super().__init__()
            self.ws = torch.nn.ParameterList(torch.nn.Parameter(torch.tensor(w))
                                             for w in init)
            self.loss = loss

        def forward(self, x, y):
            return self.loss(*self.ws, x, y)

    ours = Net(ct.function(mlp, reduce="mean"))
    ref = Net(lambda *a: mlp_torch(*a).mean())
    opts = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (ours, ref)]
    for _ in range(3):
        losses = []
        for m, opt in zip((ours, ref), opts):
            opt.zero_grad()
            loss = m(x, y)
            loss.backward()
            losses.append(loss.detach())
            opt.step()
        close(*losses)
        for a, b in zip(ours.ws, ref.ws):
            close(a, b)


# -- errors ----------------------------------------------------------------------------------------
def test_errors_are_chainccs(seed, mlp):
    tf, tm = ct.function(seed), ct.function(mlp)
    x = torch.tensor(1.0, dtype=F64, requires_grad=True)
    with pytest.raises(ArgumentTypeError, match="takes 2 arguments"):
        tf(x, x, x)
    with pytest.raises(ArgumentTypeError, match="missing value for parameter 'y'"):
        tf(x)
    with pytest.raises(ArgumentTypeError, match="unexpected argument 'z'"):
        tf(x, z=x)
    rng = np.random.default_rng(17)
    ws = [torch.tensor(w) for w in mlp_weights(rng)]
    with pytest.raises(ArgumentError, match="parameter 'W1' must have shape"):
        tm(torch.zeros(10, 5, dtype=F64, requires_grad=True), *ws[1:],
           torch.zeros(10, dtype=F64), torch.zeros(2, dtype=F64))
    with pytest.raises(ArgumentError, match="cannot be broadcast"):
        tm(*ws, torch.zeros(3, 10, dtype=F64), torch.zeros(4, 2, dtype=F64))
    with pytest.raises(ArgumentError, match="reduce must be"):
        tf(x, x, reduce="max")
    with pytest.raises(ArgumentError, match="reduce must be"):
        ct.function(seed, reduce="avg")
    with pytest.raises(ArgumentTypeError, match="complex"):
        tf(torch.tensor(1 + 2j), x)
    with pytest.raises(ArgumentTypeError, match="compiled function"):
        ct.function(SEED)
    with pytest.raises(ArgumentTypeError, match="dense"):
        tf(torch.tensor([1.0, 0.0], dtype=F64).to_sparse(), x)


def test_import_chaincc_does_not_import_torch():
    code = "import sys, chaincc; print('torch' in sys.modules, 'chaincc.torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"]


# -- the CUDA path's dispatch, on Numba's CUDA simulator ------------------------------------
CUDA_CHILD = r"""
import contextlib, numpy as np, torch
from numba import cuda
import chaincc, chaincc.torch as ct

# every tensor counts as a CUDA tensor; device memory is the simulator's
ct._is_cuda = lambda t: True
ct._device_array = lambda t: cuda.to_device(t.numpy())
ct._from_device = lambda x, device: torch.from_numpy(x.copy_to_host())
ct._gpu = lambda device: contextlib.nullcontext()

def leaf(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)

rng = np.random.default_rng(0)
seed = chaincc.compile("f(x, y) = (x² + xy)y³")
vec = chaincc.compile("g(x[3], s) = [x[0]^2 * s, sin(x[1]) + s x[2], exp(x[2] / 3) * x[0]]")
gpu_seed, gpu_vec = ct.function(seed).cuda(), ct.function(vec).cuda()
assert gpu_seed.target == "cuda" and gpu_vec.target == "cuda"

def results(fn, args, w, reduce, on_cuda):
    ct._is_cuda = lambda t: on_cuda
    ts = [leaf(a) if g else torch.tensor(a, dtype=torch.float64) for a, g in args]
    v = ct.function(fn)(*ts, reduce=reduce)
    (v * w).sum().backward()
    return [v.detach()] + [t.grad for t in ts]

def check(fn, args, w, reduce):
    # the CUDA path against the CPU path of the same bridge
    for a, b in zip(results(fn, args, w, reduce, True), results(fn, args, w, reduce, False)):
        if a is None or b is None:
            assert a is None and b is None
        else:
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)

# broadcast batches (4, 1) and (3,): expanded to (4, 3) for the device
check(seed, [(rng.normal(size=(4, 1)), True), (rng.normal(size=3), True)],
      torch.tensor(rng.normal(size=(4, 3))), None)
check(seed, [(rng.normal(size=(5,)), False), (0.7, True)], 1.5, "mean")
check(seed, [(rng.normal(size=(5,)), True), (0.7, True)], 1.5, "sum")
check(vec, [(rng.normal(size=(4, 3)), True), (rng.normal(size=4), True)],
      torch.tensor(rng.normal(size=(4, 3))), None)
check(vec, [(rng.normal(size=(4, 3)), False), (0.2, True)],
      torch.tensor(rng.normal(size=3)), "mean")
check(vec, [(rng.normal(size=(4, 3)), True), (0.2, True)],
      torch.tensor(rng.normal(size=3)), "mean")
print("ok")
"""


def test_cuda_dispatch_on_the_simulator():
    """The CUDA path (batch expansion for device arrays, gradients picked from the full
    set, the Jacobian contracted for vector-valued functions, reduce) with device memory
    mocked by Numba's CUDA simulator and compared with the CPU path; a real GPU is not
    exercised here."""
    if importlib.util.find_spec("numba_cuda") is None:
        pytest.skip("numba-cuda not installed (pip install chaincc[cuda])")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    r = subprocess.run([sys.executable, "-c", CUDA_CHILD], capture_output=True, text=True,
                       cwd=ROOT, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-8000:]
    assert r.stdout.strip().endswith("ok")


# -- the sample ------------------------------------------------------------------------------------
def test_train_mlp_example():
    spec = importlib.util.spec_from_file_location("train_mlp_torch",
                                                  ROOT / "examples" / "train_mlp_torch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    worst = module.train(steps=3, batch=128, quiet=True)
    assert 0 <= worst <= 1e-12
