"""Loops in the generated C99 and CUDA C: every iteration case (tests/iteration_cases.py)
compiled as loops, built with the system C compiler and run (scalar functions and batch
loops, with and without OpenMP) against the unrolled program compiled by chaincc; the C
compiles strictly (C99 and C++, warnings as errors), does not grow with the trip count,
and gives NaN outputs where its scratch memory cannot be allocated; the CUDA C has the
same loops, with scratch memory per thread of the grid."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from iteration_cases import Case, all_cases, rnn_scalar, rnn_vector
from test_c_backend import C_FLAGS, CXX_FLAGS, assert_agree, strict_compile

import chaincc
import chaincc.iterate as iterate
from chaincc import __version__
from chaincc.backends.c import c_sources, function_names, kind_of
from chaincc.backends.cuda_c import cuda_source
from chaincc.cbuild import CFunction
from chaincc.ir import Loop
from chaincc.pipeline import pipeline
from chaincc.source import Source

pytestmark = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("g++")),
                                reason="needs gcc and g++")

ROOT = Path(__file__).resolve().parent.parent
T = 10
CASES = all_cases(T)
LARGE = all_cases(10_000)


@pytest.fixture(autouse=True)
def loops(monkeypatch):
    """Every sum and recurrence compiled as a loop, however short."""
    monkeypatch.setattr(iterate, "UNROLL_ITERATIONS", 0)


def swap_case(steps: int = 11) -> Case:
    """Two values that trade places every step: each one's next value is the other's
    current value, so the C must read both before it writes either."""
    looped = (f"T = {steps}\na[0] = x\nb[0] = y\na[t+1] = b[t]   for t = 0..T-1\n"
              "b[t+1] = a[t]   for t = 0..T-1\nf(x, y, w) = b[T] + a[T]·w\n")
    lines = ["a0 = x", "b0 = y"]
    for t in range(steps):
        lines += [f"a{t + 1} = b{t}", f"b{t + 1} = a{t}"]
    unrolled = "\n".join(lines) + f"\nf(x, y, w) = b{steps} + a{steps}*w\n"
    return Case(f"swap_{steps}", looped, unrolled,
                lambda r: [r.uniform(-1, 1), r.uniform(-1, 1), r.uniform(-1, 1)])


ALL = [*CASES, swap_case()]


def _close(a, b, tol: float = 1e-12) -> None:
    """Within ``tol``, relative where the values are large."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    scale = np.maximum(1.0, np.abs(b))
    assert np.all(np.abs(a - b) <= tol * scale), np.max(np.abs(a - b) / scale)


def _batch(case: Case, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    many = [case.args(rng) for _ in range(n)]
    return [np.stack([np.asarray(m[k], dtype=float) for m in many])
            for k in range(len(many[0]))]


def _agree(f, g, case: Case, seed: int, tol: float = 1e-12, points: int = 3,
           batch: int = 9) -> None:
    """``f`` and ``g`` give the same values and gradients at random points, one at a time
    (the scalar functions) and as a batch (the batch functions)."""
    rng = np.random.default_rng(seed)
    for _ in range(points):
        args = case.args(rng)
        v1, g1 = f.value_and_grad(*args)
        v2, g2 = g.value_and_grad(*args)
        _close(v1, v2, tol)
        _close(f(*args), v2, tol)
        for a, b in zip(g1, g2, strict=True):
            _close(a, b, tol)
    args = _batch(case, rng, batch)
    (v1, g1), (v2, g2) = f.value_and_grad(*args), g.value_and_grad(*args)
    _close(v1, v2, tol)
    _close(f(*args), v2, tol)
    for a, b in zip(g1, g2, strict=True):
        _close(a, b, tol)


def _texts(case: Case, math: str = "default") -> tuple[str, str]:
    compiled = pipeline(Source(f"{case.name}.txt", case.looped))
    return c_sources(__version__, f"{case.name}.txt",
                     [(c.forward, c.fused) for c in compiled], "k", math)


def _cu(case: Case) -> str:
    compiled = pipeline(Source(f"{case.name}.txt", case.looped))
    return cuda_source(__version__, f"{case.name}.txt",
                       [(c.forward, c.fused) for c in compiled])


# ------------------------------------------------------------------- values and gradients
@pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
def test_c_loops_equal_the_unrolled_program(case: Case) -> None:
    f = chaincc.compile(case.looped, name=f"{case.name}.txt")
    assert any(isinstance(s, Loop) for s in f.program.body), "the case must compile to loops"
    _, source = f.c_source()
    assert re.search(r"for \(long _i\d+ = ", source)
    unrolled = chaincc.compile(case.unrolled, name=f"{case.name}_unrolled.txt")
    _agree(f.compile_c(), unrolled, case, seed=1)


@pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
def test_checkpointed_c_loops_equal_the_unrolled_program(case: Case, monkeypatch) -> None:
    """Reverse sweeps that keep every few iterations' states and recompute the others
    (as chaincc does for long loops), forced at this size."""
    monkeypatch.setattr(iterate, "CHECKPOINT_ELEMENTS", 4)
    f = chaincc.compile(case.looped, name=f"{case.name}.txt")
    names = [b.name for b in f.program.buffers]
    # (a loop whose reverse needs none of its states, a sum, keeps no tape at all)
    assert any(n.startswith("_ckpt") for n in names) or not any(
        n.startswith("_tape") for n in names)
    unrolled = chaincc.compile(case.unrolled, name=f"{case.name}_unrolled.txt")
    _agree(f.compile_c(), unrolled, case, seed=2, points=2, batch=5)


@pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
def test_c_loops_agree_with_the_llvm_loops_calling_libm(case: Case) -> None:
    """The same loops calling the same libm: the same bits as chaincc's LLVM kernels."""
    f = chaincc.compile(case.looped, name=f"{case.name}.txt").with_math("libm")
    c = f.compile_c()
    rng = np.random.default_rng(5)
    args = case.args(rng)
    (v1, g1), (v2, g2) = c.value_and_grad(*args), f.value_and_grad(*args)
    assert_agree(v1, v2)
    for a, b in zip(g1, g2, strict=True):
        assert_agree(a, b)


def test_swapped_values_read_before_they_are_written() -> None:
    case = swap_case()
    c = chaincc.compile(case.looped, name="swap.txt").compile_c()
    # 11 swaps: a[11] = y, b[11] = x
    value, grad = c.value_and_grad(0.25, -0.5, 3.0)
    assert value == 0.25 - 0.5 * 3.0
    assert grad == (1.0, 3.0, -0.5)
    _, source = chaincc.compile(case.looped, name="swap.txt").c_source()
    assert "const double _next0 = " in source


def _openmp_function(fn, tmp: Path) -> CFunction:
    """``fn``'s C built with OpenMP, loaded as a CFunction."""
    header, source = fn.c_source("k")
    (tmp / "k.h").write_text(header, encoding="utf-8")
    (tmp / "k.c").write_text(source, encoding="utf-8")
    done = subprocess.run(["gcc", "-std=c99", "-O2", "-fPIC", "-shared", "-fopenmp",
                           "-ffp-contract=off", "-o", "k.so", "k.c", "-lm"],
                          cwd=tmp, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    fwd = fn.forward_program
    return CFunction(tmp / "k.so", fn, function_names([(fwd.name, kind_of(fwd))])[0])


@pytest.mark.parametrize("name", ["rnn_vector", "history_sum", "nested_sum"])
def test_openmp_threads_each_have_their_own_scratch_memory(name: str, tmp_path: Path,
                                                            monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    case = next(c for c in CASES if c.name.startswith(name))
    f = chaincc.compile(case.looped, name=f"{case.name}.txt")
    assert f.program.buffers, "the case must keep a tape"
    _, source = f.c_source()
    batch = source[source.index("_value_and_grad_batch("):]
    # allocated once per thread, in the parallel region, before the loop over points
    assert batch.index("#pragma omp parallel\n") < batch.index("malloc(") \
        < batch.index("#pragma omp for") < batch.index("for (ptrdiff_t _i = 0;")
    assert batch.count("malloc(") == 1
    unrolled = chaincc.compile(case.unrolled, name=f"{case.name}_unrolled.txt")
    _agree(_openmp_function(f, tmp_path), unrolled, case, seed=3, points=1, batch=64)


def test_fast_math_c_with_loops(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name.startswith("lstm"))
    header, source = _texts(case, "fast")
    strict_compile(tmp_path, header, source, "k")
    # the batch loops over points hold loops and scratch memory: not "omp simd"
    assert "simd schedule" not in source
    f = chaincc.compile(case.looped, name=f"{case.name}.txt").with_math("fast")
    unrolled = chaincc.compile(case.unrolled, name=f"{case.name}_unrolled.txt")
    _agree(f.compile_c(), unrolled, case, seed=4, tol=1e-9)


# ------------------------------------------------------------------- the text
@pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
def test_c_with_loops_compiles_strictly_as_c99_and_cxx(case: Case, tmp_path: Path) -> None:
    header, source = _texts(case)
    strict_compile(tmp_path, header, source, "k")
    assert source.startswith(f"/* generated by chaincc {__version__} from {case.name}.txt")
    assert _texts(case) == (header, source)                  # deterministic


def _shape_of(text: str) -> str:
    """The text with every number one digit and comment lines joined, so that texts that
    differ only in numbers (trip counts, sizes, temporaries' numbers) are equal."""
    text = re.sub(r"\s*\n \*\s*", " ", text)
    return re.sub(r"\d+", "0", text)


@pytest.mark.parametrize("small, large", list(zip(CASES, LARGE)), ids=[c.name for c in CASES])
def test_c_does_not_grow_with_the_trip_count(small: Case, large: Case, monkeypatch) -> None:
    # the same reverse sweeps at both sizes (no checkpointing: see the test below)
    monkeypatch.setattr(iterate, "CHECKPOINT_ELEMENTS", 1 << 40)
    a, b = "".join(_texts(small)), "".join(_texts(large))
    assert _shape_of(a) == _shape_of(b)
    assert len(b) - len(a) <= 8 * len(re.findall(r"\d+", a))
    cu_a, cu_b = _cu(small), _cu(large)
    assert _shape_of(cu_a) == _shape_of(cu_b)


def test_checkpointed_c_does_not_grow_with_the_trip_count() -> None:
    """Reverse sweeps that store every √T-th state and recompute the rest (tapes above
    chaincc's limit): the same code at T = 10,000 and 40,000."""
    a, b = rnn_vector(10_000), rnn_vector(40_000)
    texts = ["".join(_texts(a)), "".join(_texts(b))]
    assert all("_scratch" in t for t in texts)
    assert _shape_of(texts[0]) == _shape_of(texts[1])
    assert _shape_of(_cu(a)) == _shape_of(_cu(b))


def test_runs_of_stores_are_loops() -> None:
    """The adjoint zeroes a short gradient array element by element; the C zeroes it in a
    loop, as it does a long one."""
    case = next(c for c in CASES if c.name.startswith("rnn_scalar"))
    f = chaincc.compile(case.looped, name="rnn.txt")
    _, source = f.c_source()
    assert "grad[2] = 0.0;" not in source
    assert re.search(r"for \(long _i\d+ = 0; _i\d+ < 10; \+\+_i\d+\) \{\n\s*grad\[_i\d+ \+ 2\] "
                     r"= 0\.0;", source)


def test_no_scratch_memory_gives_nan_outputs(tmp_path: Path) -> None:
    """Where malloc fails, the scalar function and every point of the batch give NaN."""
    case = next(c for c in CASES if c.name.startswith("rnn_scalar"))
    header, source = _texts(case)
    assert "#include <stdlib.h>" in source
    (tmp_path / "k.h").write_text(header, encoding="utf-8")
    (tmp_path / "k.c").write_text(source, encoding="utf-8")
    (tmp_path / "main.c").write_text(f"""
#include <stdio.h>
#include <stdlib.h>
#define malloc(n) ((void)(n), (void *)0)
#include "k.c"
int main(void) {{
    double x[2 * {T}], grad[2 + {T}], w[2] = {{0.5, 0.5}}, u[2] = {{0.5, 0.5}};
    double value[2], gw[2], gu[2], gx[2 * {T}];
    for (int k = 0; k < 2 * {T}; ++k) x[k] = 0.1 * k;
    printf("%g\\n", loss_value_and_grad(0.5, 0.5, x, grad));
    for (int k = 0; k < 2 + {T}; ++k) printf("%g\\n", grad[k]);
    loss_value_and_grad_batch(2, w, u, x, value, gw, gu, gx);
    for (int k = 0; k < 2; ++k) printf("%g\\n%g\\n%g\\n", value[k], gw[k], gu[k]);
    for (int k = 0; k < 2 * {T}; ++k) printf("%g\\n", gx[k]);
    printf("%g\\n", loss(0.5, 0.5, x));
    return 0;
}}
""", encoding="utf-8")
    for flags in (C_FLAGS, C_FLAGS + ["-fopenmp"]):
        done = subprocess.run([*flags, "-o", "main", "main.c", "-lm"], cwd=tmp_path,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        out = subprocess.run(["./main"], cwd=tmp_path, capture_output=True, text=True,
                             check=True).stdout.split()
        assert len(out) == 1 + (2 + T) + 6 + 2 * T + 1
        assert all(v in ("nan", "-nan") for v in out[:-1]), out
        assert out[-1] not in ("nan", "-nan")   # the value alone keeps no tape


def test_cxx_builds_the_c_with_loops(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name.startswith("sum_in_step"))
    header, source = _texts(case)
    (tmp_path / "k.h").write_text(header, encoding="utf-8")
    (tmp_path / "k.c").write_text(source, encoding="utf-8")
    done = subprocess.run([*CXX_FLAGS, "-O2", "-c", "k.c", "-o", "k.o"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_parameters_named_like_the_allocator_are_renamed(tmp_path: Path) -> None:
    text = ("n = 20\nf(free, malloc[n]) = sum(free·malloc[i]^2 for i = 0..n-1)"
            " + prod(1 + malloc[i]·free for i = 0..n-1)\n")
    compiled = pipeline(Source("alloc.txt", text))
    assert compiled[0].fused.buffers
    header, source = c_sources(__version__, "alloc.txt",
                               [(c.forward, c.fused) for c in compiled], "k")
    strict_compile(tmp_path, header, source, "k")
    assert "double free_" in source and "free(_scratch);" in source
    f = chaincc.compile(text, name="alloc.txt")
    rng = np.random.default_rng(0)
    args = [0.3, rng.normal(size=20)]
    (v1, g1), (v2, g2) = f.compile_c().value_and_grad(*args), f.value_and_grad(*args)
    _close(v1, v2)
    for a, b in zip(g1, g2, strict=True):
        _close(a, b)


def test_fixed_points_stop_when_converged_and_are_nan_when_not(tmp_path: Path) -> None:
    """A fixed point's loop ends where its test holds; its value and derivatives are
    those of the solution (the implicit function theorem), NaN where it diverges."""
    text = "f(a, b) = fixpoint(z -> a·z + b, 0)\n"
    fn = chaincc.compile(text, name="fix.txt")
    _, source = fn.c_source()
    assert "if (_done) {\n" in source and "break;" in source
    strict_compile(tmp_path, *fn.c_source("k"), "k")
    c = fn.compile_c()
    for a, b in [(0.5, 0.3), (-0.7, 2.0), (0.9, -1.0)]:
        value, (ga, gb) = c.value_and_grad(a, b)
        _close(value, b / (1 - a), 1e-10)
        _close(ga, b / (1 - a) ** 2, 1e-10)
        _close(gb, 1 / (1 - a), 1e-10)
    value, grad = c.value_and_grad(1.5, 0.3)
    assert np.isnan(value) and np.all(np.isnan(grad))
    values, (ga, gb) = c.value_and_grad(np.array([0.5, 1.5, -0.25]), 0.3)
    _close(values[[0, 2]], 0.3 / (1 - np.array([0.5, -0.25])), 1e-10)
    assert np.isnan(values[1]) and np.isnan(ga[1]) and np.isnan(gb[1])
    # the same bits as the LLVM kernels' loops calling libm
    llvm = fn.with_math("libm")
    for args in [(0.5, 0.3), (1.5, 0.3)]:
        (v1, g1), (v2, g2) = c.value_and_grad(*args), llvm.value_and_grad(*args)
        assert_agree(v1, v2)
        assert_agree(g1, g2)


def test_jacobian_of_an_array_value_with_loops() -> None:
    """An array value whose Jacobian the loops write, against NumPy by hand."""
    n = 6
    text = (f"n = {n}\ng(x[n], s) = [sum(x[i]^2·s for i = 0..n-1), "
            "prod(1 + x[i]·s for i = 0..n-1), s]\n")
    c = chaincc.compile(text, name="jac.txt").compile_c()
    rng = np.random.default_rng(6)
    for _ in range(3):
        x, s = rng.normal(size=n), float(rng.normal())
        factors = 1 + x * s
        p = np.prod(factors)
        jx = np.stack([2 * x * s, p / factors * s, np.zeros(n)])
        js = np.array([np.sum(x ** 2), np.sum(p / factors * x), 1.0])
        _close(c(x, s), [np.sum(x ** 2) * s, p, s])
        got = c.jacobian(x, s)
        _close(got[0], jx)
        _close(got[1], js)
    xs, ss = rng.normal(size=(5, n)), rng.normal(size=5)
    batch = c.jacobian(xs, ss)
    for k in range(5):
        one = c.jacobian(xs[k], float(ss[k]))
        assert np.array_equal(batch[0][k], one[0]) and np.array_equal(batch[1][k], one[1])


def test_parameters_named_like_the_outputs() -> None:
    """A parameter named ``value`` (or ``grad_value``) is read, not the output of that
    name."""
    text = "n = 20\nf(value[n], grad_value) = sum(value[i]^2·grad_value for i = 0..n-1)\n"
    c = chaincc.compile(text, name="names.txt").compile_c()
    x = np.linspace(-1, 1, 20)
    v, (gx, gs) = c.value_and_grad(x, 0.5)
    _close(v, np.sum(x ** 2) * 0.5)
    _close(gx, x)
    _close(gs, np.sum(x ** 2))


def test_large_arrays_read_only_in_loops() -> None:
    """An array too large to be scalarised (read element by element only), against the
    LLVM kernels' loops calling libm (the unrolled program would be too large)."""
    case = rnn_scalar(6000)
    f = chaincc.compile(case.looped, name="rnn6000.txt")
    assert f.program.params[2].symbols == ()
    llvm = f.with_math("libm")
    c = f.compile_c()
    rng = np.random.default_rng(8)
    args = case.args(rng)
    (v1, g1), (v2, g2) = c.value_and_grad(*args), llvm.value_and_grad(*args)
    assert_agree(v1, v2)
    for a, b in zip(g1, g2, strict=True):
        assert_agree(a, b)


def test_compile_command_writes_the_loops(tmp_path: Path, capsys) -> None:
    from chaincc.cli import main
    path = tmp_path / "rnn.txt"
    path.write_text(rnn_scalar(50).looped, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["compile", str(path), "-o", str(out), "--emit", "c,cuda"]) == 0
    header = (out / "rnn.h").read_text(encoding="utf-8")
    source = (out / "rnn.c").read_text(encoding="utf-8")
    strict_compile(out, header, source, "rnn")
    assert "for (long _i1 = 0; _i1 < 50; ++_i1) {" in source
    assert "for (long _i1 = 49; _i1 >= 0; --_i1) {" in source
    assert "malloc(50 * sizeof(double))" in source
    assert "scratch memory: 50 values per call" in re.sub(r"\s*\n \*\s*", " ", header)
    # the table counts the values the loops compute, as the header comment does
    temps = re.search(r"\((\d+) temporaries\)", header).group(1)
    row = capsys.readouterr().out.splitlines()[1]
    assert re.fullmatch(rf"loss\s.*\s{temps}\s+rnn\.h, rnn\.c, rnn\.cu", row), row
    assert "cudaError_t loss_value_and_grad_batch(" in (out / "rnn.cu").read_text()


# ------------------------------------------------------------------- CUDA C
def _prototype_names(text: str) -> list[str]:
    return re.findall(r"^(?:__device__ |__global__ )?(?:double|void|cudaError_t) (\w+)\(",
                      text, re.M)


@pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
def test_cuda_c_has_the_loops_and_scratch_memory_per_thread(case: Case) -> None:
    cu = _cu(case)
    header, source = _texts(case)
    assert cu.startswith(f"/* generated by chaincc {__version__} from {case.name}.txt")
    assert "omp" not in cu and 'extern "C" {' in cu
    assert re.search(r"for \(long _i\d+ = ", cu)
    names = _prototype_names(header)
    kernels = [n for n in _prototype_names(cu) if n.startswith("CHAINCC_kernel_")]
    # the C's four functions with the C's names: device functions, and batch functions
    # that are host functions launching kernels where the loops keep a tape
    assert [n for n in _prototype_names(cu) if n not in kernels] == names
    assert f"__device__ double {names[1]}(" in cu or f"__device__ void {names[1]}(" in cu
    if "malloc(" not in source:
        assert not kernels and cu.count("_i += _stride)") == 2
        return
    assert kernels == [f"CHAINCC_kernel_{names[2]}", f"CHAINCC_kernel_{names[3]}"]
    assert f"cudaError_t {names[3]}(size_t n," in cu
    # the host function allocates a block per thread of the grid (not per point) ...
    host = cu[cu.index(f"cudaError_t {names[3]}("):]
    assert "cudaMalloc((void **)&_scratch_all, _blocks * _threads * _each)" in host
    assert "cudaFree(_scratch_all)" in host and "_free / 2" in host
    # ... which the kernel indexes by its thread's global id, reusing it for every point
    kernel = cu[cu.index(f"__global__ void CHAINCC_kernel_{names[3]}("):]
    kernel = kernel[:kernel.index("\n}\n")]
    assert "double *CHAINCC_RESTRICT _scratch_all)" in kernel
    assert re.search(r"_scratch = _scratch_all == NULL \? NULL : _scratch_all \+ _thread \* "
                     r"\d+;", kernel)
    assert "for (ptrdiff_t _i = _thread; _i < _n; _i += _stride) {" in kernel
    assert kernel.index("_scratch_all + _thread") < kernel.index("_i += _stride")


def _nvcc() -> str | None:
    found = shutil.which("nvcc")
    return found if found and Path(found).exists() else None


def test_cu_files_with_loops_compile_with_nvcc(tmp_path: Path) -> None:
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("no nvcc here")
    texts = {case.name: _cu(case) for case in ALL}
    # a fixed point (a loop that ends when its test holds), from the samples
    implicit = ROOT / "samples" / "implicit_layer.txt"
    texts["implicit_layer"] = _cu(Case("implicit_layer", implicit.read_text("utf-8"), "",
                                       lambda r: []))
    jobs = []
    for name, text in texts.items():
        (tmp_path / f"{name}.cu").write_text(text, encoding="utf-8")
        jobs.append((name, subprocess.Popen(
            [nvcc, "-c", f"{name}.cu", "-o", f"{name}.o", "-Werror",
             "all-warnings", "-Xcompiler", "-Wall,-Wextra"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    for name, job in jobs:
        out, _ = job.communicate(timeout=300)
        assert job.returncode == 0, f"{name}.cu:\n{out}"
