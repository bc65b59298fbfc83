"""The generated CUDA kernels through Numba's real CUDA compiler (NVVM) to PTX, and PTX
through ptxas, with no GPU: what the simulator cannot show, that the kernels type and
compile for a device, and that float32 kernels hold no float64 instruction.

Run by tests/test_cuda.py in a separate pytest process, with CUDA_HOME pointing at a CUDA
toolkit (NVVM and libdevice). numba-cuda asks the driver for the device's compute
capability while compiling device functions and overloads, and NVRTC for the supported
architectures; with no driver here, both answers are given for a fixed sm_80 below.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import types as pytypes
from pathlib import Path

import pytest

CC = (8, 0)
ROOT = Path(__file__).resolve().parents[2]
F64 = re.compile(r"^\s*(?:@%p\d+\s+)?[a-z][a-z0-9_.]*\.f64\b", re.M)
SAMPLES = ("seed", "rosenbrock", "logistic", "swish", "chain", "nested", "rnn")
EXTRA = {
    "special": "f(x, y) = cbrt(x) + floor(3x)·y + ceil(y)·x + sign(x)·y + abs(x)y + erf(y)"
               " + max(x, y) + softplus(y) + atan2(y, x) + where(x > 0.5 and y < 1, x, -2.5y)"
               " + (x² + 1)^1.5 + expm1(y) + 1e-3/(1 + y²)",
    "softmax": "f(x[3], t) = softmax(t·x)",
}


def _offline_compiler() -> None:
    import numba.cuda.cuda_paths as paths
    import numba.cuda.cudadrv.nvrtc as nvrtc
    import numba.cuda.dispatcher as dispatcher
    try:
        paths._get_nvrtc_path()
    except Exception:
        paths._get_nvrtc_path = lambda: None
    dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=CC)
    nvrtc.get_supported_ccs = lambda: (CC,)


try:
    from numba import cuda
    from numba.cuda import types as nbtypes
    _offline_compiler()
except (ImportError, AttributeError) as e:        # another numba-cuda layout: not testable
    pytest.skip(f"numba-cuda's compiler cannot be driven offline here: {e}",
                allow_module_level=True)

import chaincc  # noqa: E402
from chaincc.backends.numba_cuda import kernel_name  # noqa: E402
from chaincc.cuda import cuda_kernel_module  # noqa: E402

SOURCES = {**{n: (ROOT / "samples" / f"{n}.txt").read_text(encoding="utf-8")
              for n in SAMPLES}, **EXTRA}


def signature(fn, dtype: str, which: str) -> tuple:
    """(n, inputs..., outputs...): the first scalar parameter a broadcast scalar, the
    others per point; outputs (n,) or (n, size)."""
    t = getattr(nbtypes, dtype)
    ins, shared = [], False
    for s in fn.shapes:
        if not s and not shared:
            ins.append(t)
            shared = True
        else:
            ins.append(t[:, ::1] if s else t[::1])
    outputs = [fn.out_shape] + ([fn.out_shape + s for s in fn.shapes] if which else [])
    return (nbtypes.int64, *ins, *(t[:, ::1] if s else t[::1] for s in outputs))


def ptx_of(name: str, dtype: str, value: bool = False) -> list[str]:
    """PTX of the value-and-gradient batch kernel, of the device function alone (as
    another kernel would call it), of the value-and-gradient reduce kernel (shared
    memory, per-block sums) and, with ``value``, of the value batch kernel."""
    fn = chaincc.compile(SOURCES[name])
    module, _ = cuda_kernel_module(fn.unit, dtype)
    k = kernel_name(fn.name)
    kernels = [("_value_and_grad", "vg")] + ([("", "")] if value else [])
    out = []
    for suffix, which in kernels:
        kernel = getattr(module, f"{k}{suffix}_batch")
        ptx, _ = cuda.compile_ptx(kernel.py_func, signature(fn, dtype, which), cc=CC)
        out.append(ptx)
    t = getattr(nbtypes, dtype)
    red = getattr(module, f"{k}_value_and_grad_reduce")
    ptx, _ = cuda.compile_ptx(red.py_func, signature(fn, dtype, "")[:-1] + (t[:, ::1],),
                              cc=CC)
    out.append(ptx)
    dev = getattr(module, f"{k}_value_and_grad")
    ptx, _ = cuda.compile_ptx(dev.py_func, tuple(t[::1] if s else t for s in fn.shapes),
                              device=True, cc=CC)
    return out + [ptx]


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_float64_kernels_compile(name):
    for ptx in ptx_of(name, "float64", value=name == "seed"):
        assert ".entry" in ptx or ".func" in ptx
        assert F64.search(ptx), "a float64 kernel computes in float64"


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_float32_kernels_have_no_float64_instruction(name):
    for ptx in ptx_of(name, "float32", value=name == "seed"):
        bad = F64.findall(ptx)
        assert not bad, f"float64 instructions in a float32 kernel: {bad[:5]}"
        assert ".f32" in ptx


@pytest.mark.skipif(shutil.which("ptxas") is None and not os.environ.get("CUDA_HOME"),
                    reason="no ptxas")
def test_ptx_assembles(tmp_path):
    ptxas = shutil.which("ptxas") or str(Path(os.environ["CUDA_HOME"]) / "bin" / "ptxas")
    if not Path(ptxas).exists():
        pytest.skip("no ptxas")
    for dtype in ("float64", "float32"):
        for k, ptx in enumerate(ptx_of("logistic", dtype, value=True)):
            path = tmp_path / f"k{dtype}{k}.ptx"
            path.write_text(ptx)
            r = subprocess.run([ptxas, f"-arch=sm_{CC[0]}{CC[1]}", str(path), "-o",
                                str(tmp_path / "k.cubin")], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr


def test_literal_outputs_keep_the_kernel_type():
    # a constant gradient (d/dy of x + 2y is 2) must be a float32 literal in float32 code
    fn = chaincc.compile("f(x, y) = x + 2y")
    module, _ = cuda_kernel_module(fn.unit, "float32")
    text = Path(module.__file__).read_text()
    assert "np.float32(2.0)" in text
    ptx, _ = cuda.compile_ptx(module.f_value_and_grad_batch.py_func,
                              signature(fn, "float32", "vg"), cc=CC)
    assert not F64.findall(ptx)
    assert len(re.findall(r"st\.global\.f32", ptx)) >= 3
