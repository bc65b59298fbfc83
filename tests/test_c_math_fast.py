"""``chaincc compile --math fast``: C whose batch loops GCC vectorises with glibc's
vector maths (libmvec), within a few ulp of the default C (libm), and C that other
compilers and C++ read as plain C99."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_c_backend import strict_compile

import chaincc
from chaincc.cli import main

pytestmark = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("g++")),
                                reason="needs gcc and g++")

SOURCE = "f(x[3], w[3]) = log1p(exp(-(w[0]*x[0] + w[1]*x[1] + w[2]*x[2]))) + tanh(x[0])\n"


def _avx2() -> bool:
    try:
        return " avx2 " in Path("/proc/cpuinfo").read_text().replace("\n", " ")
    except OSError:
        return False


def _generate(tmp: Path, math: str) -> tuple[str, str]:
    src = tmp / "lg.txt"
    src.write_text(SOURCE, encoding="utf-8")
    out = tmp / math
    argv = ["compile", str(src), "-o", str(out)] + (["--math", math] if math != "default"
                                                    else [])
    assert main(argv) == 0
    return (out / "lg.h").read_text(), (out / "lg.c").read_text()


def test_fast_declares_the_called_functions_as_vector_functions(tmp_path: Path, capsys) -> None:
    _, fast = _generate(tmp_path, "fast")
    _, plain = _generate(tmp_path, "default")
    capsys.readouterr()
    declared = [line.split()[2].split("(")[0] for line in fast.splitlines()
                if line.startswith("CHAINCC_VECTOR_MATH double")]
    assert declared == ["exp", "log1p", "tanh"]
    assert "VECTOR_MATH" not in plain
    # one loop per batch function (two), not loops staged around the calls in blocks
    assert fast.count("for (") == 2 and "[64]" not in fast
    assert plain.count("for (") > 2 and "[64]" in plain


def test_fast_c_compiles_strictly_as_c99_and_cxx(tmp_path: Path, capsys) -> None:
    header, source = _generate(tmp_path, "fast")
    capsys.readouterr()
    strict_compile(tmp_path, header, source, "lg")


@pytest.mark.skipif(not _avx2(), reason="needs an x86-64 CPU with AVX2")
def test_fast_c_calls_libmvec_and_agrees_with_the_default(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(7)
    n = 10_001
    x, w = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    results = {}
    for math in ("fast", "default"):
        header, source = _generate(tmp_path, math)
        d = tmp_path / math
        flags = ["gcc", "-std=c99", "-O3", "-march=x86-64-v3", "-fPIC", "-Wall", "-Werror"]
        subprocess.run([*flags, "-c", "lg.c", "-o", "lg.o"], cwd=d, check=True)
        symbols = subprocess.run(["nm", "lg.o"], cwd=d, capture_output=True, text=True).stdout
        assert ("_ZGVdN4v_exp" in symbols) == (math == "fast"), symbols
        subprocess.run(["gcc", "-shared", "-o", "liblg.so", "lg.o", "-lm"], cwd=d, check=True)
        lib = ctypes.CDLL(str(d / "liblg.so"))
        value, gx, gw = np.empty(n), np.empty((n, 3)), np.empty((n, 3))
        ptr = ctypes.c_void_p
        lib.f_value_and_grad_batch.argtypes = [ctypes.c_size_t] + [ptr] * 5
        lib.f_value_and_grad_batch(n, *(a.ctypes.data for a in (x, w, value, gx, gw)))
        results[math] = value, gx, gw
    capsys.readouterr()
    # the reference: chaincc's own kernels, independent of both C builds' libm
    fn = chaincc.compile(SOURCE)
    v, (ref_x, ref_w) = fn.value_and_grad(x, w)
    for got in results.values():
        np.testing.assert_allclose(got[0], v, rtol=1e-14, atol=1e-14)    # the sum cancels
        np.testing.assert_allclose(got[1], ref_x, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(got[2], ref_w, rtol=1e-12, atol=1e-15)
    assert not np.array_equal(results["fast"][0], results["default"][0])  # libmvec's bits


def test_a_fast_function_writes_fast_c() -> None:
    fn = chaincc.compile(SOURCE)
    assert "VECTOR_MATH" not in fn.c_source()[1]
    assert "CHAINCC_VECTOR_MATH double exp(double);" in fn.with_math("fast").c_source()[1]


def test_fast_batch_loops_vectorise_with_openmp(tmp_path: Path, capsys) -> None:
    """OpenMP outlines the loop and loses the pointers' restrict; "parallel for simd"
    keeps both batch loops vectorised."""
    header, source = _generate(tmp_path, "fast")
    capsys.readouterr()
    d = tmp_path / "fast"
    done = subprocess.run(["gcc", "-std=c99", "-O3", "-march=x86-64-v3", "-fopenmp",
                           "-fopt-info-vec-optimized", "-c", "lg.c", "-o", "lg.o"], cwd=d,
                          capture_output=True, text=True, check=True)
    lines = {line.split(":")[1] for line in done.stderr.splitlines()
             if "loop vectorized" in line}
    assert source.count("#pragma omp parallel for simd") == 2 and len(lines) == 2, done.stderr
