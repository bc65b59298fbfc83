"""target="cuda": the GPU path, tested without a GPU.

Everything that needs numba.cuda runs in a child process, so this process (and every CPU
test beside it) never imports numba.cuda or sees NUMBA_ENABLE_CUDASIM:
- tests/cuda/cases.py, the CUDA path end to end against the CPU kernels, under the Numba
  CUDA simulator, and again on a real GPU where there is one;
- tests/cuda/ptx_cases.py, the kernels through NVVM to PTX (and ptxas) where a CUDA
  toolkit is installed;
- the errors asked for target="cuda" where it cannot run, and import hygiene.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chaincc
from chaincc.backends.numba_cuda import module_source
from chaincc.source import Source

ROOT = Path(__file__).resolve().parent.parent
HAS_NUMBA_CUDA = subprocess.run([sys.executable, "-c", "import numba_cuda"],
                                capture_output=True).returncode == 0
needs_numba_cuda = pytest.mark.skipif(not HAS_NUMBA_CUDA, reason="numba-cuda not installed "
                                      "(pip install chaincc[cuda])")


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def pytest_child(path: str, env: dict[str, str]) -> None:
    r = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W",
             "ignore::numba.NumbaWarning", path], env)
    assert r.returncode == 0, r.stdout[-8000:] + r.stderr[-4000:]
    assert " passed" in r.stdout and " failed" not in r.stdout


def gpu_present() -> bool:
    if not HAS_NUMBA_CUDA:
        return False
    r = run([sys.executable, "-c", "from numba import cuda; print(cuda.is_available())"],
            child_env(), timeout=120)
    return r.stdout.strip().endswith("True")


def cuda_toolkit() -> Path | None:
    """A CUDA toolkit with NVVM and libdevice (what Numba needs to make PTX)."""
    nvcc = shutil.which("nvcc")
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda",
                 nvcc and str(Path(nvcc).resolve().parent.parent)):
        if root and list(Path(root).glob("nvvm/libdevice/libdevice*.bc")):
            return Path(root)
    return None


# -- the CUDA path: simulator, real GPU, PTX ------------------------------------------------
@needs_numba_cuda
def test_cuda_path_on_the_simulator():
    pytest_child("tests/cuda/cases.py", child_env(NUMBA_ENABLE_CUDASIM="1"))


@needs_numba_cuda
def test_cuda_path_on_a_gpu():
    if not gpu_present():
        pytest.skip("no GPU here: the simulator run covers the CUDA path")
    pytest_child("tests/cuda/cases.py", child_env())


@needs_numba_cuda
def test_kernels_compile_to_ptx_and_float32_stays_single_precision():
    toolkit = cuda_toolkit()
    if toolkit is None:
        pytest.skip("no CUDA toolkit with NVVM here")
    pytest_child("tests/cuda/ptx_cases.py", child_env(CUDA_HOME=str(toolkit)))


# -- without a GPU ------------------------------------------------------------------------
NO_GPU = """
import chaincc
try:
    chaincc.compile("f(x, y) = x*y", target="cuda")
except chaincc.ChainccError as e:
    assert isinstance(e, RuntimeError)
    print(e)
else:
    print("COMPILED")
"""


@needs_numba_cuda
def test_no_gpu_gives_a_clear_error():
    r = run([sys.executable, "-c", NO_GPU], child_env(CUDA_VISIBLE_DEVICES=""))
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert "no usable NVIDIA GPU" in text
    assert "pip install chaincc[cuda]" in text and "NUMBA_ENABLE_CUDASIM=1" in text


def test_missing_numba_cuda_gives_a_clear_error():
    code = "import sys; sys.modules['numba_cuda'] = None\n" + NO_GPU
    r = run([sys.executable, "-c", code], child_env(NUMBA_ENABLE_CUDASIM="1"))
    assert r.returncode == 0, r.stderr
    assert "needs the numba-cuda package" in r.stdout
    assert "pip install chaincc[cuda]" in r.stdout


def test_cpu_work_never_imports_numba_cuda():
    code = """
import sys, numpy as np, chaincc
f = chaincc.compile("f(x, y) = (x² + xy)y³")
assert f.value_and_grad(1.0, 2.0) == (24.0, (32.0, 44.0))
f.value_and_grad(np.ones(3), 2.0)
loaded = [m for m in sys.modules if m.startswith(("numba.cuda", "numba_cuda"))]
assert not loaded, loaded
print("ok")
"""
    r = run([sys.executable, "-c", code], child_env())
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr


@needs_numba_cuda
def test_benchmark_exits_cleanly_without_a_gpu():
    if gpu_present():
        pytest.skip("a GPU is here: the benchmark would run for real")
    r = run([sys.executable, "benchmarks/bench_cuda.py"], child_env(CUDA_VISIBLE_DEVICES=""))
    assert r.returncode == 0, r.stderr
    assert "no CUDA GPU" in r.stdout


# -- in this process: argument checks and the generated text --------------------------------
def test_target_and_dtype_are_checked():
    src = "f(x) = x²"
    with pytest.raises(ValueError, match="unknown target 'tpu'"):
        chaincc.compile(src, target="tpu")
    with pytest.raises(TypeError, match="CPU target computes in float64"):
        chaincc.compile(src, dtype=np.float32)
    with pytest.raises(TypeError, match="float64 or numpy.float32"):
        chaincc.compile(src, target="cuda", dtype=np.int32)
    assert chaincc.compile(src, target="cpu", dtype=np.float64)(3.0) == 9.0


def _module_text(src: str, dtype: str) -> str:
    unit = chaincc.compile_unit(Source("<test>", src))
    return module_source("test", "<test>", [(c.forward, c.fused) for c in unit.compiled],
                         dtype)


LITERALS = re.compile(r"(?<![\w.])(?:\d+\.\d*|\.\d+|\d+e[-+]?\d+)(?![\w.])")


@pytest.mark.parametrize("name", ["logistic", "swish", "rnn", "twolayer"])
def test_float32_module_has_only_float32_literals(name):
    src = (ROOT / "samples" / f"{name}.txt").read_text(encoding="utf-8")
    text32 = _module_text(src, "float32")
    code = "\n".join(line for line in text32.splitlines() if not line.lstrip().startswith("#"))
    wrapped = re.sub(r"np\.float32\([^()]*\)", "C", code)
    assert not LITERALS.findall(wrapped), LITERALS.findall(wrapped)[:5]
    assert "np.float32(" in code
    # the float64 module is the same program with plain literals
    plain = re.sub(r"np\.float32\((-[^()]*)\)", r"(\1)", text32)
    plain = re.sub(r"np\.float32\(([^()]*)\)", r"\1", plain)
    assert plain.replace("float32", "float64") == _module_text(src, "float64")


def test_generated_names_avoid_module_globals():
    text = _module_text("cuda(math, np, types) = math·np + types", "float64")
    assert "def _f_cuda(" in text and "def _f_cuda_value_and_grad_batch(" in text
    assert "def cuda(" not in text and "(math," not in text


# -- chaincc compile --emit cuda ------------------------------------------------------------
CUDA_NAMES = "normcdf(threadIdx, blockDim, float2, warpSize) = threadIdx + 2blockDim + " \
    "3float2 + 4warpSize\nrcbrt(x) = 2x\n"
SPECIAL = ("f(x, y) = cbrt(x) + floor(3x)·y + ceil(y)·x + sign(x)·y + abs(x)y + erf(y)"
           " + max(x, y) + softplus(y) + atan2(y, x) + where(x > 0.5 and y < 1, x, -2.5y)"
           " + (x² + 1)^1.5 + expm1(y) + 1e-3/(1 + y²) + log(x, 2) + hypot(x, y)\n"
           "v(W[2,3], x[3]) = softmax(W @ x)\n")


def _cu(name: str, text: str) -> str:
    from chaincc.backends.cuda_c import cuda_source
    unit = chaincc.compile_unit(Source(f"{name}.txt", text))
    return cuda_source(chaincc.__version__, f"{name}.txt",
                       [(c.forward, c.fused) for c in unit.compiled])


def _prototype_names(text: str) -> list[str]:
    return re.findall(r"^(?:__device__ |__global__ )?(?:double|void) (\w+)\(", text, re.M)


def test_emit_cuda_writes_the_c_functions_as_cuda(tmp_path):
    from chaincc.cli import main
    sample = ROOT / "samples" / "logistic.txt"
    assert main(["compile", str(sample), "--emit", "c,cuda", "-o", str(tmp_path)]) == 0
    cu = (tmp_path / "logistic.cu").read_text()
    header = (tmp_path / "logistic.h").read_text()
    assert cu.startswith(f"/* generated by chaincc {chaincc.__version__} from ")
    # the same four functions, the same names and parameters as the C output
    assert _prototype_names(cu) == _prototype_names(header) == [
        "loss", "loss_value_and_grad", "loss_batch", "loss_value_and_grad_batch"]
    assert "__device__ double loss_value_and_grad(double w1, double w2, double b, double x1," \
        in cu
    assert "__global__ void loss_value_and_grad_batch(size_t n," in cu
    # a grid-stride loop in every kernel, and no OpenMP
    assert cu.count("_i += _stride)") == 2 and "omp" not in cu
    assert 'extern "C" {' in cu


def test_cuda_names_are_renamed():
    cu = _cu("cudanames", CUDA_NAMES)
    names = _prototype_names(cu)
    assert "normcdf" not in names and "rcbrt" not in names
    assert "normcdf_" in names and "rcbrt_" in names
    # what the kernels read must not be hidden by a parameter; a type name may be
    for name in ("threadIdx", "blockDim", "warpSize"):
        assert f"double {name}," not in cu and f"double *CHAINCC_RESTRICT {name}," not in cu
        assert f"{name} -> {name}_" in re.sub(r"\s*\n \*\s*", " ", cu)
    assert "double float2," in cu


def _nvcc() -> str | None:
    toolkit = cuda_toolkit()
    found = shutil.which("nvcc") or (toolkit and str(toolkit / "bin" / "nvcc"))
    return found if found and Path(found).exists() else None


def test_cu_files_compile_with_nvcc(tmp_path):
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("no nvcc here")
    sys.path.insert(0, str(ROOT / "tests"))
    from test_c_backend import COLLISIONS  # double, int, y0, j1, exp2, main, ...
    texts = {"names": COLLISIONS, "cudanames": CUDA_NAMES, "special": SPECIAL,
             "logistic": (ROOT / "samples" / "logistic.txt").read_text(encoding="utf-8")}
    jobs = []
    for name, text in texts.items():
        (tmp_path / f"{name}.cu").write_text(_cu(name, text))
        jobs.append((name, subprocess.Popen(
            [nvcc, "-c", f"{name}.cu", "-o", f"{name}.o", "-Werror", "all-warnings",
             "-Xcompiler", "-Wall,-Wextra"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    for name, job in jobs:
        out, _ = job.communicate(timeout=300)
        assert job.returncode == 0, f"{name}.cu:\n{out}"
        assert (tmp_path / f"{name}.o").stat().st_size > 0
