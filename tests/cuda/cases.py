"""The CUDA path end to end: run by tests/test_cuda.py in a separate pytest process, under
the Numba CUDA simulator (NUMBA_ENABLE_CUDASIM=1) and, where one is present, on a GPU.
Not collected by the main run (its name does not start with ``test_``), so the simulator
never touches the CPU tests.

The oracle is the CPU kernel of the same source (``chaincc.compile(src)``).
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

import numpy as np
import pytest
from numba import cuda

import chaincc
from chaincc.cuda import CudaFunction, launch_config, reduce_config

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted(glob.glob(str(ROOT / "samples" / "*.txt")))
SIM = cuda.config.ENABLE_CUDASIM
POINTS = 200
F32_TOL = 1e-4           # README "GPU": float32 error relative to each output's scale
# every function whose CUDA spelling differs from the CPU one (cbrt, floor, ceil), and
# the branches and literals the printer writes
SPECIAL = ("f(x, y) = cbrt(x) + floor(3x)·y + ceil(y)·x + sign(x)·y + abs(x)y + erf(y)"
           " + max(x, y) + relu(x)·y + softplus(y) + log1p(x²) + atan2(y, x) + hypot(x, y)"
           " + where(x > 0.5 and y < 1, x, -2.5y) + (x² + 1)^1.5 + expm1(y) + 1e-3/(1 + y²)")

if not SIM and not cuda.is_available():
    pytest.skip("no GPU and NUMBA_ENABLE_CUDASIM is not set", allow_module_level=True)

_functions: dict = {}


def compiled(src: str, target: str = "cpu", dtype=np.float64):
    key = (src, target, np.dtype(dtype).name)
    if key not in _functions:
        _functions[key] = chaincc.compile(src, target=target, dtype=dtype)
    return _functions[key]


def points(fn, n: int, seed: int = 0, lo: float = -2.0, hi: float = 2.0) -> list:
    rng = np.random.default_rng(seed)
    return [rng.uniform(lo, hi, size=(n,) + s) for s in fn.shapes]


def everything(fn, args: list) -> list:
    """Value and every derivative (gradient, or Jacobian for a vector value)."""
    if fn.out_shape:
        return [fn(*args), *fn.jacobian(*args)]
    v, g = fn.value_and_grad(*args)
    return [v, *g]


def on_host(a) -> np.ndarray:
    return a.copy_to_host() if getattr(a, "__cuda_ndarray__", False) else np.asarray(a)


def assert_agree(got: list, want: list, rtol: float) -> None:
    """Entrywise within ``rtol``, with an absolute floor of ``rtol`` times the output's
    largest magnitude for entries that cancel to (near) zero."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = on_host(g), np.asarray(w)
        assert g.shape == w.shape
        scale = float(np.max(np.abs(w))) if w.size else 0.0
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * scale)


@pytest.fixture(scope="module")
def sources() -> dict[str, str]:
    return {Path(p).stem: Path(p).read_text(encoding="utf-8") for p in SAMPLES}


def test_samples_exist():
    names = {Path(p).stem for p in SAMPLES}
    assert {"seed", "chain", "nested", "swish", "logistic", "rosenbrock", "rnn"} <= names


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: Path(p).stem)
def test_sample_agrees_with_cpu_float64(path):
    src = Path(path).read_text(encoding="utf-8")
    cpu, gpu = compiled(src), compiled(src, "cuda")
    assert isinstance(gpu, CudaFunction) and gpu.params == cpu.params
    assert gpu.op_counts() == cpu.op_counts()
    args = points(cpu, POINTS)
    got, want = everything(gpu, args), everything(cpu, args)
    assert all(on_host(a).dtype == np.float64 for a in got)
    assert_agree(got, want, 1e-12)
    assert_agree([gpu(*args)], want[:1], 1e-12)      # the value kernel alone


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: Path(p).stem)
def test_sample_float32_within_documented_tolerance(path):
    src = Path(path).read_text(encoding="utf-8")
    # a fixed point's tolerance must be one float32 can meet (docs/language.md): a
    # sample's 1e-13 is float64's, and float32 iterations may cycle a unit apart below it
    src = re.sub(r"tol=[0-9.e+-]+", "tol=1e-6", src)
    cpu, gpu = compiled(src), compiled(src, "cuda", np.float32)
    args = [a.astype(np.float32) for a in points(cpu, POINTS, seed=1)]
    got = everything(gpu, args)
    assert all(on_host(a).dtype == np.float32 for a in got)
    want = everything(cpu, [a.astype(np.float64) for a in args])
    assert_agree(got, want, F32_TOL)


def test_special_functions_agree():
    cpu, gpu = compiled(SPECIAL), compiled(SPECIAL, "cuda")
    args = points(cpu, POINTS, seed=2, lo=0.1, hi=2.0)
    assert_agree(everything(gpu, args), everything(cpu, args), 1e-12)
    g32 = compiled(SPECIAL, "cuda", np.float32)
    args32 = [a.astype(np.float32) for a in args]
    assert_agree(everything(g32, args32), everything(cpu, [a.astype(float) for a in args32]),
                 F32_TOL)


def test_grid_stride_loop_covers_more_points_than_threads():
    blocks, threads = launch_config(cuda, POINTS)
    if SIM:
        assert blocks * threads < POINTS      # so each thread takes several points
    gpu = compiled("f(x) = x² + 1", "cuda")
    x = np.arange(5000.0)
    np.testing.assert_array_equal(gpu(x), x * x + 1)


def test_scalars_broadcast_and_give_floats(sources):
    src = sources["logistic"]
    cpu, gpu = compiled(src), compiled(src, "cuda")
    point = (0.5, -0.3, 0.1, 1.0, 0.5, 1.0)
    v, g = gpu.value_and_grad(*point)
    assert isinstance(v, float) and all(isinstance(x, float) for x in g)
    assert_agree([v, *g], list(everything(cpu, list(point))), 1e-12)
    # arrays for some parameters, scalars (one value for every point) for the others
    x1, x2 = np.random.default_rng(4).uniform(-2, 2, (2, 7, 3))
    got = everything(gpu, [0.5, -0.3, 0.1, x1, x2, 1.0])
    want = everything(cpu, [0.5, -0.3, 0.1, x1, x2, 1.0])
    assert on_host(got[0]).shape == (7, 3)
    assert_agree(got, want, 1e-12)
    # host arrays broadcast as NumPy does
    w = np.linspace(-1, 1, 7)[:, None]
    b = np.linspace(0, 1, 3)
    assert_agree([gpu(w, -0.3, b, 1.0, 0.5, 0.0)], [cpu(w, -0.3, b, 1.0, 0.5, 0.0)], 1e-12)
    assert gpu(w, -0.3, b, 1.0, 0.5, 0.0).shape == (7, 3)


def test_keyword_arguments_and_empty_batches(sources):
    gpu, cpu = compiled(sources["seed"], "cuda"), compiled(sources["seed"])
    assert gpu(y=2.0, x=1.0) == cpu(1.0, 2.0) == 24.0
    v, (gx, gy) = gpu.value_and_grad(np.zeros(0), 1.0)
    assert v.shape == gx.shape == gy.shape == (0,)
    with pytest.raises(TypeError, match="missing"):
        gpu(1.0)


def test_device_arrays_in_device_arrays_out_with_no_host_copy(sources, monkeypatch):
    src = sources["rosenbrock"]
    cpu, gpu = compiled(src), compiled(src, "cuda")
    x, y = points(cpu, POINTS, seed=5)
    dx, dy = cuda.to_device(x), cuda.to_device(y)
    copies = []
    monkeypatch.setattr(cuda, "to_device", lambda *a, **k: copies.append("to_device"))
    monkeypatch.setattr(type(dx), "copy_to_host", lambda *a, **k: copies.append("to_host"))
    v, (gx, gy) = gpu.value_and_grad(dx, dy)
    assert copies == []
    assert all(getattr(a, "__cuda_ndarray__", False) for a in (v, gx, gy))
    monkeypatch.undo()
    assert_agree([v, gx, gy], everything(cpu, [x, y]), 1e-12)
    # a device array and a scalar together stay on the device too
    out = gpu(dx, 3.0)
    assert getattr(out, "__cuda_ndarray__", False)
    assert_agree([out], [cpu(x, 3.0)], 1e-12)


def test_out_arrays_on_the_device_and_the_host(sources):
    src = sources["rosenbrock"]
    cpu, gpu = compiled(src), compiled(src, "cuda")
    x, y = points(cpu, 40, seed=9)
    want = everything(cpu, [x, y])
    dv, dgx, dgy = (cuda.device_array(40) for _ in range(3))
    v, (gx, gy) = gpu.value_and_grad(cuda.to_device(x), y, out=(dv, (dgx, dgy)))
    assert v is dv and gx is dgx and gy is dgy       # written in place, nothing allocated
    assert_agree([dv, dgx, dgy], want, 1e-12)
    hv = np.empty(40)
    assert gpu(x, y, out=hv) is hv
    assert_agree([hv], want[:1], 1e-12)
    with pytest.raises(ValueError, match="float64 array of shape"):
        gpu(x, y, out=np.empty(40, dtype=np.float32))
    with pytest.raises(ValueError, match="batch calls"):
        gpu(1.0, 2.0, out=hv)


def test_cuda_array_interface_objects_are_read_in_place(sources, monkeypatch):
    """CuPy arrays and PyTorch CUDA tensors arrive through __cuda_array_interface__ and
    numba.cuda.as_cuda_array (which the simulator lacks: a stand-in maps the interface
    onto host memory, as the simulator's device memory is)."""
    src = sources["seed"]
    cpu, gpu = compiled(src), compiled(src, "cuda")
    x, y = points(cpu, 50, seed=6)

    class Tensor:                            # what a CuPy array or a torch tensor offers
        def __init__(self, a):
            self._dev = cuda.to_device(a)
            self.__cuda_array_interface__ = getattr(
                self._dev, "__cuda_array_interface__", a.__array_interface__)

    viewed = []
    if SIM:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        def as_cuda_array(obj, sync=True):
            viewed.append(obj)
            return FakeCUDAArray(obj._dev._ary)
        monkeypatch.setattr(cuda, "as_cuda_array", as_cuda_array, raising=False)
    tx, ty = Tensor(x), Tensor(y)
    v, g = gpu.value_and_grad(tx, ty)
    assert getattr(v, "__cuda_ndarray__", False)
    if SIM:
        assert viewed == [tx, ty]
    assert_agree([v, *g], everything(cpu, [x, y]), 1e-12)


def test_array_parameters_shared_and_per_point(sources):
    src = sources["twolayer"]            # J(W1[4,3], b1[4], W2[1,4], b2, x[3], y)
    cpu, gpu = compiled(src), compiled(src, "cuda")
    rng = np.random.default_rng(7)
    W1, b1, W2 = rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=(1, 4))
    X, Y = rng.normal(size=(30, 3)), rng.normal(size=30)
    args = [W1, b1, W2, 0.1, X, Y]       # weights shared, data per point
    got, want = everything(gpu, args), everything(cpu, args)
    assert [on_host(a).shape for a in got] == [(30,), (30, 4, 3), (30, 4), (30, 1, 4),
                                               (30,), (30, 3), (30,)]
    assert_agree(got, want, 1e-12)
    # no batch dimension at all: one point, a float value
    one = everything(gpu, [W1, b1, W2, 0.1, X[0], Y[0]])
    assert isinstance(one[0], float) and one[1].shape == (4, 3)
    assert_agree(one, everything(cpu, [W1, b1, W2, 0.1, X[0], Y[0]]), 1e-12)
    # shared array parameters may be device arrays as well
    dW1 = cuda.to_device(W1)
    assert_agree(everything(gpu, [dW1, b1, W2, 0.1, cuda.to_device(X), Y]), want, 1e-12)


def test_vector_valued_function_jacobian():
    src = "f(x[3], t) = softmax(t·x)"
    cpu, gpu = compiled(src), compiled(src, "cuda")
    x, t = np.random.default_rng(8).normal(size=(20, 3)), np.linspace(0.5, 2, 20)
    assert_agree([gpu(x, t), *gpu.jacobian(x, t)], [cpu(x, t), *cpu.jacobian(x, t)], 1e-12)
    with pytest.raises(TypeError, match="Jacobian"):
        gpu.grad(x, t)


def test_argument_errors(sources):
    gpu = compiled(sources["seed"], "cuda")
    with pytest.raises(TypeError, match="float32 device array .* float64"):
        gpu(cuda.to_device(np.ones(3, dtype=np.float32)), 1.0)
    with pytest.raises(ValueError, match="batch shape"):
        gpu(cuda.to_device(np.ones(3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        gpu(np.ones(3), np.ones(4))
    with pytest.raises(TypeError, match="real number"):
        gpu("one", 1.0)
    with pytest.raises(ValueError, match="reduce must be"):
        gpu.value_and_grad(np.ones(3), 1.0, reduce="max")
    with pytest.raises(ValueError, match="without reduce"):
        gpu(np.ones(3), 1.0, reduce="sum", out=np.empty(3))
    with pytest.raises(NotImplementedError, match="CPU"):
        gpu.hessian(1.0, 2.0)


def test_repr_and_kernel_cache(sources):
    gpu = compiled(sources["seed"], "cuda", np.float32)
    assert repr(gpu) == "<chaincc.Function f(x, y) target='cuda' float32>"
    again = chaincc.compile(sources["seed"], target="cuda", dtype=np.float32)
    assert again._module is gpu._module       # one generated module per program and dtype


@pytest.mark.skipif(not SIM, reason="the benchmark's own GPU run covers this on a GPU")
def test_benchmark_runs_end_to_end():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_cuda.py"),
                        "--points", "1000", "--repeats", "1"],
                       capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("seed", "rosenbrock", "logistic", "copy"):
        assert name in r.stdout
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cuda_float32_accuracy.py"),
                        "--points", "50", "--via", "cuda", str(ROOT / "samples" / "swish.txt")],
                       capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert float(r.stdout.split()[-2]) < F32_TOL          # the worst normwise error


# -- reduce="sum"/"mean": summed on the device ---------------------------------------------
def _reduce_args(name: str, fn, n: int, seed: int) -> list:
    """Weights shared by every point (one value or array), data per point."""
    rng = np.random.default_rng(seed)
    shared = {"logistic": 3, "mlp": 4}.get(name, 0)
    return [rng.uniform(-1, 1, size=s if j < shared else (n,) + s)
            for j, s in enumerate(fn.shapes)]


def _vg(fn, args: list, **kw) -> list:
    v, g = fn.value_and_grad(*args, **kw)
    return [v, *g]


def assert_reduced(got: list, per_point: list, reduce: str, rtol: float) -> None:
    """``got`` is the sum (or mean) over the batch of ``per_point``, each output shaped
    like one point's, within ``rtol`` of the sum of the terms' magnitudes (the rounding
    bound of a sum, whatever the order of its additions)."""
    assert len(got) == len(per_point)
    for g, p in zip(got, per_point):
        p = np.asarray(p, dtype=np.float64)
        want, mag = p.sum(axis=0), np.abs(p).sum(axis=0)
        if reduce == "mean" and len(p):
            want, mag = want / len(p), mag / len(p)
        if not want.shape:
            assert isinstance(g, float)
        assert np.shape(g) == want.shape
        np.testing.assert_allclose(g, want, rtol=rtol, atol=rtol * float(np.max(mag, initial=0)))


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("name", ["seed", "logistic", "mlp"])
def test_reduce_agrees_with_cpu_and_per_point_sums(sources, name, reduce):
    src = sources[name]
    cpu, gpu = compiled(src), compiled(src, "cuda")
    args = _reduce_args(name, cpu, POINTS, seed=10)
    per_point = _vg(cpu, args)
    got = _vg(gpu, args, reduce=reduce)
    assert_reduced(got, per_point, reduce, 1e-12)
    assert_reduced(got, _vg(gpu, args), reduce, 1e-12)    # the CUDA per-point results
    want = _vg(cpu, args, reduce=reduce)
    assert_reduced(want, per_point, reduce, 1e-12)
    assert [np.shape(g) for g in got] == [np.shape(w) for w in want]
    assert_reduced([gpu(*args, reduce=reduce)], per_point[:1], reduce, 1e-12)
    grads = gpu.grad(*args, reduce=reduce)
    assert_reduced(list(grads), per_point[1:], reduce, 1e-12)
    # float32: per-thread and per-block sums in float32
    g32 = compiled(src, "cuda", np.float32)
    a32 = [a.astype(np.float32) for a in args]
    got32 = _vg(g32, a32, reduce=reduce)
    assert all(isinstance(g, float) or g.dtype == np.float32 for g in got32)
    assert_reduced(got32, _vg(cpu, [a.astype(np.float64) for a in a32]), reduce, F32_TOL)


def test_reduce_reads_device_arrays_and_copies_back_only_block_sums(sources, monkeypatch):
    src = sources["mlp"]
    cpu, gpu = compiled(src), compiled(src, "cuda")
    args = _reduce_args("mlp", cpu, 60, seed=11)
    dev = [cuda.to_device(a) for a in args]          # shared weights and data on the device
    copied = []
    real = type(dev[0]).copy_to_host

    def copy_to_host(self, *a, **k):
        copied.append(tuple(self.shape))
        return real(self, *a, **k)
    monkeypatch.setattr(type(dev[0]), "copy_to_host", copy_to_host)
    got = _vg(gpu, dev, reduce="mean")
    outputs = 1 + sum(int(np.prod(s)) for s in cpu.shapes)
    blocks, _ = reduce_config(cuda)
    assert copied == [(blocks, outputs)]             # never the per-point results
    monkeypatch.undo()
    assert isinstance(got[0], float) and got[1].shape == (5, 10)
    assert_reduced(got, _vg(cpu, args), "mean", 1e-12)
    assert_agree(got, _vg(cpu, args, reduce="mean"), 1e-12)


@pytest.mark.parametrize("n", [0, 1, 5])
def test_reduce_small_and_empty_batches_match_cpu(sources, n):
    src = sources["logistic"]
    cpu, gpu = compiled(src), compiled(src, "cuda")
    args = _reduce_args("logistic", cpu, n, seed=12)
    for reduce in ("sum", "mean"):
        want, got = _vg(cpu, args, reduce=reduce), _vg(gpu, args, reduce=reduce)
        assert_agree(got, want, 1e-12)
        assert all(isinstance(g, float) for g in got)
        if n == 0:                # as on the CPU: the sum of nothing is 0, its mean NaN
            empty = 0.0 if reduce == "sum" else float("nan")
            assert np.array_equal(got, [empty] * 7, equal_nan=True)
            assert np.array_equal(want, [empty] * 7, equal_nan=True)
    # one point without a batch dimension: reduce changes nothing
    point = [0.5, -0.3, 0.1, 1.0, 0.5, 1.0]
    assert _vg(gpu, point, reduce="mean") == approx_list(_vg(cpu, point, reduce="mean"))


def approx_list(xs: list) -> list:
    return [pytest.approx(x, rel=1e-12) for x in xs]


def test_reduce_of_a_vector_value():
    src = "f(x[3], t) = softmax(t·x)"
    cpu, gpu = compiled(src), compiled(src, "cuda")
    x, t = np.random.default_rng(13).normal(size=(40, 3)), np.linspace(0.5, 2, 40)
    got = gpu(x, t, reduce="sum")
    assert got.shape == (3,)
    assert_agree([got], [cpu(x, t, reduce="sum")], 1e-12)
    assert abs(got.sum() - 40) < 1e-12
