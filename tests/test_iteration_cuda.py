"""Loops on target="cuda", tested without a GPU.

As in tests/test_cuda.py, what needs numba.cuda runs in a child process:
- tests/cuda/loop_cases.py, looped programs end to end on the Numba CUDA simulator (and
  on a GPU where there is one), against the unrolled program and the CPU kernels;
- tests/cuda/loop_ptx_cases.py, their kernels through NVVM to PTX where a CUDA toolkit
  is installed.
Here, in this process: the generated text (per-thread scratch memory, not per point; its
size does not grow with the batch, and the code not with the trip count).
"""

from __future__ import annotations

import re

import pytest
from iteration_cases import history_sum, rnn_scalar
from test_cuda import child_env, cuda_toolkit, gpu_present, needs_numba_cuda, pytest_child

import chaincc.iterate as iterate
from chaincc.backends import numba_cpu
from chaincc.backends.numba_cuda import module_source
from chaincc.diagnostics import ChainccError
from chaincc.pipeline import pipeline
from chaincc.source import Source


@pytest.fixture
def loops(monkeypatch):
    monkeypatch.setattr(iterate, "UNROLL_ITERATIONS", 0)


@needs_numba_cuda
def test_loops_on_the_simulator():
    pytest_child("tests/cuda/loop_cases.py", child_env(NUMBA_ENABLE_CUDASIM="1"))


@needs_numba_cuda
def test_loops_on_a_gpu():
    if not gpu_present():
        pytest.skip("no GPU here: the simulator run covers the CUDA path")
    pytest_child("tests/cuda/loop_cases.py", child_env())


@needs_numba_cuda
def test_loop_kernels_compile_to_ptx():
    toolkit = cuda_toolkit()
    if toolkit is None:
        pytest.skip("no CUDA toolkit with NVVM here")
    pytest_child("tests/cuda/loop_ptx_cases.py", child_env(CUDA_HOME=str(toolkit)))


def _module(text: str, dtype: str = "float64") -> str:
    compiled = pipeline(Source("t.txt", text))
    return module_source("test", "t.txt", [(c.forward, c.fused) for c in compiled], dtype)


def _functions(text: str) -> dict[str, str]:
    """Each function of a generated module, by name: its text up to the next one."""
    parts = re.split(r"\n(?=@cuda\.jit)", text)
    return {re.search(r"def (\w+)\(", p).group(1): p for p in parts if "def " in p}


def test_scratch_memory_is_per_thread_and_code_does_not_grow(loops):
    texts = {T: _module(history_sum(T).looped) for T in (40, 400)}
    # the same kernels but for bounds and sizes
    assert re.sub(r"\d+", "N", texts[40]) == re.sub(r"\d+", "N", texts[400])
    kernels = _functions(texts[400])
    for name in ("f_value_and_grad_batch", "f_value_and_grad_reduce"):
        text = kernels[name]
        assert "_scratch" in text.split("\n")[1]            # the kernel's last argument
        # every access is at the thread's own column, which the grid-stride loop reuses
        accesses = re.findall(r"_scratch\[([^\]]*)\]", text)
        assert accesses and all(a.endswith(", _slot") for a in accesses)
        assert "_slot = cuda.grid(1)" in text
        assert "local.array" not in text and "np.empty" not in text
    sizes = dict(re.findall(r'SCRATCH\["(\w+)"\] = (\d+)', texts[400]))
    fused = pipeline(Source("t.txt", history_sum(400).looped))[0].fused
    buffers = sum(b.size for b in fused.buffers)
    assert int(sizes["f_value_and_grad_batch"]) == buffers
    # the reduce kernel adds room for the gradient the program writes, and its sum
    assert int(sizes["f_value_and_grad_reduce"]) == buffers + 2 * 400
    # the device function: the gradient it writes and its buffers in the caller's memory
    assert "def f_value_and_grad(a, w, x, grad_x, _scratch):" in kernels["f_value_and_grad"]
    assert int(sizes["f_value_and_grad"]) == buffers


def test_straight_line_programs_take_no_scratch():
    text = _module("f(x, y) = sin(x)·y")
    assert "_scratch" not in text and 'SCRATCH["' not in text


def test_float32_loops_print_the_index_as_float32(loops):
    text = _module(rnn_scalar(4).looped.replace("u·x[t]", "u·x[t]·t"), "float32")
    assert re.search(r"(_i\d+)f = np\.float32\(\1\)", text)


def test_loops_nested_too_deep_for_python_are_an_error(loops):
    depth = numba_cpu.MAX_LOOP_DEPTH + 1
    indices = ", ".join(f"i{k} = 0..1" for k in range(depth))
    with pytest.raises(ChainccError, match="CUDA kernels nest at most"):
        _module(f"f(x) = sum(x·i0 for {indices})\n")
