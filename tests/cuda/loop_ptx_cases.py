"""Loop kernels through Numba's real CUDA compiler (NVVM) to PTX, with no GPU: the device
function (with its written outputs' and scratch arguments), the batch and the reduce
kernels (with their per-thread scratch memory) of programs with loops type and compile
for a device, and in float32 hold no float64 instruction (the loop index used as a
number included).

Run by tests/test_iteration_cuda.py in a separate pytest process with CUDA_HOME set, as
tests/cuda/ptx_cases.py is (whose offline set-up this module shares).
"""

from __future__ import annotations

import pytest
from iteration_cases import nested_sum, rnn_scalar, sum_in_step
from ptx_cases import CC, F64, cuda, nbtypes, signature

import chaincc
import chaincc.iterate as iterate
from chaincc.backends.numba_cuda import kernel_name
from chaincc.cuda import cuda_kernel_module

# sin and cos are left out: libdevice's float32 versions hold float64 instructions
CASES = [rnn_scalar(4), nested_sum(3), sum_in_step(4)]


@pytest.fixture(autouse=True)
def loops(monkeypatch):
    monkeypatch.setattr(iterate, "UNROLL_ITERATIONS", 0)


def ptx_of(case, dtype: str) -> list[str]:
    fn = chaincc.compile(case.looped, name=f"{case.name}_ptx.txt")
    assert fn.program.has_loops
    module, _ = cuda_kernel_module(fn.unit, dtype)
    k = f"{kernel_name(fn.name)}_value_and_grad"
    t = getattr(nbtypes, dtype)
    scratch = module.SCRATCH
    column = (t[:, ::1],)
    assert scratch[f"{k}_batch"] and scratch[f"{k}_reduce"] and scratch[k]
    batch = signature(fn, dtype, "vg") + column
    reduce = signature(fn, dtype, "")[:-1] + (t[:, ::1],) + column
    # the parameters, the arrays of the outputs the program writes, the scratch memory
    written = tuple(t[::1] for o in fn.program.outputs if o.written)
    assert written
    device = tuple(t[::1] if s else t for s in fn.shapes) + written + (t[::1],)
    return [cuda.compile_ptx(getattr(module, f"{k}_batch").py_func, batch, cc=CC)[0],
            cuda.compile_ptx(getattr(module, f"{k}_reduce").py_func, reduce, cc=CC)[0],
            cuda.compile_ptx(getattr(module, k).py_func, device, device=True, cc=CC)[0]]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_float64_loop_kernels_compile(case):
    for ptx in ptx_of(case, "float64"):
        assert ".entry" in ptx or ".func" in ptx
        assert F64.search(ptx)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_float32_loop_kernels_have_no_float64_instruction(case):
    for ptx in ptx_of(case, "float32"):
        bad = F64.findall(ptx)
        assert not bad, f"float64 instructions in a float32 kernel: {bad[:5]}"
        assert ".f32" in ptx


def test_fixed_point_loop_kernels_compile():
    """A loop that ends where it converges (``break``), in every kernel."""
    fn = chaincc.compile("f(a, b) = fixpoint(z -> cos(a·z) + b, 0, tol=1e-3)\n",
                         name="fixpoint_ptx.txt")
    module, _ = cuda_kernel_module(fn.unit, "float64")
    k = kernel_name(fn.name)
    t = nbtypes.float64
    for name in (k, f"{k}_value_and_grad"):
        ptx, _ = cuda.compile_ptx(getattr(module, f"{name}_batch").py_func,
                                  signature(fn, "float64", "vg" if name != k else ""), cc=CC)
        assert ".entry" in ptx
        ptx, _ = cuda.compile_ptx(getattr(module, name).py_func, (t, t), device=True, cc=CC)
        assert ".func" in ptx
