"""Loops on the CUDA target end to end: run by tests/test_iteration_cuda.py in a separate
pytest process under the Numba CUDA simulator (NUMBA_ENABLE_CUDASIM=1) and, where one is
present, on a GPU. Not collected by the main run (its name does not start with
``test_``).

Every case is compiled with each sum and recurrence as a loop. The oracles are the
unrolled program of the same function (tests/iteration_cases.py) and the looped source's
CPU kernels (LLVM's), both in float64. The simulator runs each thread as a Python
thread: the cases are small.
"""

from __future__ import annotations

import numpy as np
import pytest
from iteration_cases import history_sum, nested_sum, rnn_scalar
from numba import cuda

import chaincc
import chaincc.iterate as iterate
from chaincc.backends.numba_cuda import kernel_name
from chaincc.cuda import CudaExecutor, launch_config, reduce_config

SIM = cuda.config.ENABLE_CUDASIM
CASES = [rnn_scalar(3), history_sum(3), nested_sum(3)]
POINTS = 80              # more points than the simulator's grid has threads
F32_TOL = 1e-4

if not SIM and not cuda.is_available():
    pytest.skip("no GPU and NUMBA_ENABLE_CUDASIM is not set", allow_module_level=True)


@pytest.fixture(autouse=True)
def loops(monkeypatch):
    monkeypatch.setattr(iterate, "UNROLL_ITERATIONS", 0)


def on_host(a) -> np.ndarray:
    return a.copy_to_host() if getattr(a, "__cuda_ndarray__", False) else np.asarray(a)


def close(got, want, rtol: float = 1e-12) -> None:
    got, want = on_host(got), np.asarray(want, dtype=float)
    assert got.shape == want.shape
    scale = np.maximum(1.0, np.abs(want))
    assert np.all(np.abs(got - want) <= rtol * scale), np.max(np.abs(got - want) / scale)


def close_all(got, want, rtol: float = 1e-12) -> None:
    (v1, g1), (v2, g2) = got, want
    close(v1, v2, rtol)
    assert len(g1) == len(g2)
    for a, b in zip(g1, g2):
        close(a, b, rtol)


def batch(case, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    many = [case.args(rng) for _ in range(n)]
    return [np.stack([np.asarray(m[k], dtype=float) for m in many])
            for k in range(len(many[0]))]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_loops_agree_with_the_unrolled_program_and_the_cpu(case, monkeypatch):
    gpu = chaincc.compile(case.looped, name=f"{case.name}_cuda.txt", target="cuda")
    unrolled = chaincc.compile(case.unrolled, name=f"{case.name}_cuda_unrolled.txt")
    cpu = chaincc.compile(case.looped, name=f"{case.name}_cuda_cpu.txt")
    assert gpu.program.has_loops and not unrolled.program.has_loops
    # scratch memory is per thread of the grid, not per point
    shapes = []
    make = CudaExecutor._scratch
    monkeypatch.setattr(CudaExecutor, "_scratch", lambda self, kernel, threads: shapes.append(
        (kernel, threads)) or make(self, kernel, threads))
    xs = batch(case, POINTS, 1)
    got = gpu.value_and_grad(*xs)
    blocks, threads = launch_config(cuda, POINTS)
    assert shapes == [("vg_batch", blocks * threads)]
    assert gpu._executor.scratch["vg_batch"] > 0
    if SIM:
        assert blocks * threads < POINTS      # threads reuse their scratch for other points
    close_all(got, unrolled.value_and_grad(*xs))
    close_all(got, cpu.value_and_grad(*xs))
    close(gpu(*xs), unrolled(*xs))
    # one point; the first parameter shared by every point of a batch
    point = case.args(np.random.default_rng(2))
    close_all(gpu.value_and_grad(*point), unrolled.value_and_grad(*point))
    shared = [point[0], *xs[1:]]
    close_all(gpu.value_and_grad(*shared), unrolled.value_and_grad(*shared))
    # summed on the device, with the outputs the program writes element by element
    shapes.clear()
    summed = gpu.value_and_grad(*xs, reduce="sum")
    assert shapes == [("vg_reduce", np.prod(reduce_config(cuda)))]
    v, g = unrolled.value_and_grad(*xs)
    close_all(summed, (v.sum(), [d.sum(axis=0) for d in g]))


def test_float32_loops_within_tolerance():
    case = CASES[0]
    gpu = chaincc.compile(case.looped, name=f"{case.name}_cuda32.txt", target="cuda",
                          dtype=np.float32)
    unrolled = chaincc.compile(case.unrolled, name=f"{case.name}_cuda32_unrolled.txt")
    xs = [x.astype(np.float32) for x in batch(case, 40, 3)]
    v, g = gpu.value_and_grad(*xs)
    assert on_host(v).dtype == np.float32
    want = unrolled.value_and_grad(*[x.astype(float) for x in xs])
    for a, b in zip([v, *g], [want[0], *want[1]]):
        b = np.asarray(b)
        np.testing.assert_allclose(on_host(a), b, rtol=F32_TOL,
                                   atol=F32_TOL * float(np.max(np.abs(b))))


def test_device_function_writes_into_its_callers_memory():
    """A user's kernel calls the value-and-gradient device function, passing it the
    array of the gradient the program writes element by element and its scratch
    memory, per thread; the other outputs come back as a tuple."""
    case = CASES[0]                       # rnn_scalar: w, u, x[3] -> loss
    gpu = chaincc.compile(case.looped, name=f"{case.name}_cuda_device.txt", target="cuda")
    unrolled = chaincc.compile(case.unrolled, name=f"{case.name}_cuda_device_unrolled.txt")
    module = gpu._module
    name = f"{kernel_name(gpu.name)}_value_and_grad"
    device, size = getattr(module, name), module.SCRATCH[name]

    @cuda.jit
    def kernel(w, u, x, out, gx, scratch):
        i = cuda.grid(1)
        if i < out.shape[0]:
            r = device(w[i], u[i], x[i], gx[i], scratch[i])
            for k in range(out.shape[1]):
                out[i, k] = r[k]

    w, u, x = batch(case, 8, 4)
    out, gx = np.zeros((8, 3)), np.full((8, 3), np.nan)
    kernel[1, 8](w, u, x, out, gx, np.full((8, size), np.nan))
    v, (gw, gu, want_gx) = unrolled.value_and_grad(w, u, x)
    close(out, np.column_stack([v, gw, gu]))
    close(gx, want_gx)


FIXPOINT = "f(a, b) = fixpoint(z -> cos(a·z) + b, 0, tol=1e-3, maxiter=200)\n"


def fixpoint_by_hand(a: float, b: float) -> float:
    """z ← cos(a·z) + b from 0 until no change exceeds 1e-3·(1 + |z|)."""
    z = 0.0
    for _ in range(200):
        new = np.cos(a * z) + b
        if abs(new - z) <= 1e-3 * (1 + abs(z)):
            return new
        z = new
    return float("nan")


def test_fixed_point_loops_stop_where_they_converge():
    gpu = chaincc.compile(FIXPOINT, name="fixpoint_cuda.txt", target="cuda")
    cpu = chaincc.compile(FIXPOINT, name="fixpoint_cuda_cpu.txt")
    a, b = np.linspace(0.1, 0.5, 9), np.linspace(-0.5, 0.5, 9)
    values, grads = gpu.value_and_grad(a, b)
    close(values, [fixpoint_by_hand(p, q) for p, q in zip(a, b)])
    close(gpu(a, b), values)
    for k, (p, q) in enumerate(zip(a, b)):
        close_all((on_host(values)[k], [on_host(g)[k] for g in grads]),
                  cpu.value_and_grad(p, q))


def test_large_scratch_memory_runs_on_fewer_threads(monkeypatch):
    """Where the grid's scratch memory would pass the budget, the kernels run on fewer
    blocks (each thread taking more points), with the same results."""
    import chaincc.cuda as target
    case = CASES[1]
    gpu = chaincc.compile(case.looped, name=f"{case.name}_cuda_budget.txt", target="cuda")
    unrolled = chaincc.compile(case.unrolled, name=f"{case.name}_cuda_budget_unrolled.txt")
    xs = batch(case, POINTS, 6)
    want = unrolled.value_and_grad(*xs)
    size = gpu._executor.scratch["vg_batch"]
    blocks, threads = launch_config(cuda, POINTS)
    assert blocks > 1
    monkeypatch.setattr(target, "SCRATCH_BYTES", size * threads * 8)   # one block's worth
    shapes = []
    make = CudaExecutor._scratch
    monkeypatch.setattr(CudaExecutor, "_scratch", lambda self, kernel, n: shapes.append(
        (kernel, n)) or make(self, kernel, n))
    close_all(gpu.value_and_grad(*xs), want)
    v, g = want
    close_all(gpu.value_and_grad(*xs, reduce="sum"), (v.sum(), [d.sum(axis=0) for d in g]))
    assert shapes == [("vg_batch", threads), ("vg_reduce", reduce_config(cuda)[1])]
