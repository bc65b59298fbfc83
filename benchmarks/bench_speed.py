"""Value and full gradient of five functions over millions of points, side by side:
chaincc against hand-written kernels, JAX, torch.compile and the memory floor.

    .venv/bin/python benchmarks/bench_speed.py [--points 2000000] [--repeats 9]
    .venv/bin/python benchmarks/bench_speed.py --quick       # a small run, in seconds

The functions (every parameter an array of one value per point, float64, uniform in
[-1.5, 1.5] except the logistic loss's label y, uniform in [0, 1]):

    seed        f(x, y) = (x² + xy)y³
    rosenbrock  f(x, y) = (1 - x)² + 100(y - x²)²
    logistic    the cross-entropy of logistic regression with two features
                (samples/logistic.txt): z = w1 x1 + w2 x2 + b,
                loss(w1, w2, b, x1, x2, y) = -(y log σ(z) + (1 - y) log(1 - σ(z)))
    mlp         a 2-3-1 tanh network's squared error, its 13 weights parameters too:
                a_j = w1j x1 + w2j x2 + b_j, loss = (Σ v_j tanh(a_j) + c - y)²
    trig        f(x, y) = sin(cos(x) tan(y/4)) + cos(xy)

The tools, each computing the value and the gradient with respect to every parameter:

    chaincc        chaincc's default CPU kernels (LLVM), ``value_and_grad(..., out=...)``
    chaincc-fast   the same with ``math="fast"``: libm calls through glibc's vector math
                   (libmvec) where the loop vectorises, within 4 ulp
    chaincc-numba  the same with CHAINCC_CPU_BACKEND=numba (chaincc's Numba kernels)
    numba          hand-written ``@njit(parallel=True)`` kernels with hand-derived gradients
    chaincc-c      chaincc's generated C (``chaincc compile``), gcc -O3 -march=native
                   -fopenmp, its ``..._value_and_grad_batch`` called through ctypes
    chaincc-c-fast the same C generated with ``--math fast`` (GCC vectorises the batch
                   loop with glibc's vector maths)
    c              hand-written C (bench_speed_hand.c), gcc -O3 -march=native -fopenmp,
                   called through ctypes
    c-fast         the same C with -ffast-math added (gcc then calls glibc's vector math,
                   libmvec; with -fno-builtin-sin -fno-builtin-cos, as gcc cannot vectorise
                   the sincos it would otherwise fuse sin and cos into)
    jax            ``jit(vmap(value_and_grad(f, argnums=all)))`` (JAX returns new arrays)
    torch          ``torch.compile`` of ``vmap(grad_and_value(f, argnums=all))`` with the
                   results copied into the output tensors inside the compiled function
                   (torch eager where torch.compile fails, and in a --quick run)
    floor          the memory floor: a C kernel (OpenMP) that reads the same inputs and
                   writes the same number of output bytes, copying

Every tool but JAX writes into preallocated outputs. For each function every tool runs
in a new process of its own, with empty caches (CHAINCC_CACHE_DIR and
TORCHINDUCTOR_CACHE_DIR set to new temporary folders). The processes start one after
another, and each times its first call, at full size, from the moment the tool's package
is imported: building the kernel, compiling it and one run (for C, gcc's build of
bench_speed_hand.c). After one more, untimed, call the ``--repeats`` timed calls follow in
``--rounds`` rounds: in each round every tool runs a block of calls in turn, with a pause
between blocks so that the idle threads of one tool (Numba's, OpenMP's) have stopped
spinning before the next starts, and a change in the machine's load falls on all tools
alike. The table gives the median in millions of points per second. The
outputs of every tool are compared with chaincc's on a sample of 20,000 points: hand
Numba, hand C and chaincc's Numba kernels must agree to 1e-12 relative, the others are
reported (a value smaller than 1e-3 of its output's largest magnitude is compared on that
scale, so that a gradient that crosses zero, where terms cancel, is not counted).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HAND_C = HERE / "bench_speed_hand.c"
C_FLAGS = ["-O3", "-march=native", "-fopenmp", "-fPIC", "-shared"]
FAST_FLAGS = ["-ffast-math", "-fno-builtin-sin", "-fno-builtin-cos"]
SAMPLE = 20_000
STRICT = 1e-12                      # hand kernels and chaincc's Numba kernels
LOOSE = 1e-6                        # fast math, JAX, torch: only a sanity bound
PAUSE = 0.25                        # seconds between two tools' blocks of calls

MLP = """\
# a 2-3-1 tanh network's squared error, every weight a scalar parameter
a1 = w11 x1 + w21 x2 + b1
a2 = w12 x1 + w22 x2 + b2
a3 = w13 x1 + w23 x2 + b3
o = v1 tanh(a1) + v2 tanh(a2) + v3 tanh(a3) + c
loss(w11, w12, w13, w21, w22, w23, b1, b2, b3, v1, v2, v3, c, x1, x2, y) = (o - y)^2
"""

SOURCES = {
    "seed": "f(x, y) = (x² + xy)y³\n",
    "rosenbrock": "f(x, y) = (1 - x)² + 100(y - x²)²\n",
    "logistic": (ROOT / "samples" / "logistic.txt").read_text(encoding="utf-8"),
    "mlp": MLP,
    "trig": "f(x, y) = sin(cos(x) * tan(y/4)) + cos(x y)\n",
}
PARAMS = {
    "seed": ("x", "y"),
    "rosenbrock": ("x", "y"),
    "logistic": ("w1", "w2", "b", "x1", "x2", "y"),
    "mlp": ("w11", "w12", "w13", "w21", "w22", "w23", "b1", "b2", "b3", "v1", "v2", "v3",
            "c", "x1", "x2", "y"),
    "trig": ("x", "y"),
}
FUNCTIONS = tuple(SOURCES)

TOOLS = {
    "chaincc": "chaincc (LLVM, default)",
    "chaincc-fast": "chaincc, math=\"fast\" (libmvec)",
    "chaincc-numba": "chaincc, CHAINCC_CPU_BACKEND=numba",
    "numba": "hand Numba @njit(parallel=True)",
    "chaincc-c": "chaincc's C, gcc -O3 -march=native",
    "chaincc-c-fast": "chaincc's C --math fast, gcc -O3",
    "c": "hand C -O3 -march=native",
    "c-fast": "hand C -O3 -march=native -ffast-math",
    "jax": "JAX jit(vmap(value_and_grad))",
    "torch": "torch.compile",
    "floor": "memory floor (C copy)",
}
# the package each tool needs, or None for gcc
NEEDS = {"chaincc": "chaincc", "chaincc-fast": "chaincc", "chaincc-numba": "numba",
         "numba": "numba", "c": None, "c-fast": None, "chaincc-c": None,
         "chaincc-c-fast": None, "jax": "jax", "torch": "torch",
         "floor": None}


# ---------------------------------------------------------------------------------------
# the functions, written once per point for the tools that differentiate them (JAX, torch)

def point_value(name: str, m: Any) -> Callable:
    """The function of one point, with ``m`` the array library (jax.numpy or torch)."""
    def seed(x, y):
        return (x * x + x * y) * y ** 3

    def rosenbrock(x, y):
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2

    def logistic(w1, w2, b, x1, x2, y):
        s = 1 / (1 + m.exp(-(w1 * x1 + w2 * x2 + b)))
        return -(y * m.log(s) + (1 - y) * m.log(1 - s))

    def mlp(w11, w12, w13, w21, w22, w23, b1, b2, b3, v1, v2, v3, c, x1, x2, y):
        o = (v1 * m.tanh(w11 * x1 + w21 * x2 + b1) + v2 * m.tanh(w12 * x1 + w22 * x2 + b2)
             + v3 * m.tanh(w13 * x1 + w23 * x2 + b3) + c)
        return (o - y) ** 2

    def trig(x, y):
        return m.sin(m.cos(x) * m.tan(y / 4)) + m.cos(x * y)

    return {"seed": seed, "rosenbrock": rosenbrock, "logistic": logistic, "mlp": mlp,
            "trig": trig}[name]


def numba_kernels() -> dict[str, Callable]:
    """Hand-written parallel Numba kernels: inputs, then the value and gradient arrays."""
    import math

    from numba import njit, prange

    @njit(parallel=True)
    def seed(x, y, f, gx, gy):
        for i in prange(x.shape[0]):
            xi, yi = x[i], y[i]
            y2 = yi * yi
            y3 = y2 * yi
            u = xi * xi + xi * yi
            f[i] = u * y3
            gx[i] = (2.0 * xi + yi) * y3
            gy[i] = xi * y3 + 3.0 * u * y2

    @njit(parallel=True)
    def rosenbrock(x, y, f, gx, gy):
        for i in prange(x.shape[0]):
            xi = x[i]
            a = 1.0 - xi
            b = y[i] - xi * xi
            f[i] = a * a + 100.0 * b * b
            gx[i] = -2.0 * a - 400.0 * xi * b
            gy[i] = 200.0 * b

    @njit(parallel=True)
    def logistic(w1, w2, b, x1, x2, y, f, gw1, gw2, gb, gx1, gx2, gy):
        for i in prange(w1.shape[0]):
            z = w1[i] * x1[i] + w2[i] * x2[i] + b[i]
            s = 1.0 / (1.0 + math.exp(-z))
            ls = math.log(s)
            l1s = math.log(1.0 - s)
            yi = y[i]
            d = s - yi
            f[i] = -(yi * ls + (1.0 - yi) * l1s)
            gw1[i] = d * x1[i]
            gw2[i] = d * x2[i]
            gb[i] = d
            gx1[i] = d * w1[i]
            gx2[i] = d * w2[i]
            gy[i] = l1s - ls

    @njit(parallel=True)
    def mlp(w11, w12, w13, w21, w22, w23, b1, b2, b3, v1, v2, v3, c, x1, x2, y,
            f, g11, g12, g13, g21, g22, g23, gb1, gb2, gb3, gv1, gv2, gv3, gc, gx1, gx2, gy):
        for i in prange(x1.shape[0]):
            p, q = x1[i], x2[i]
            t1 = math.tanh(w11[i] * p + w21[i] * q + b1[i])
            t2 = math.tanh(w12[i] * p + w22[i] * q + b2[i])
            t3 = math.tanh(w13[i] * p + w23[i] * q + b3[i])
            r = v1[i] * t1 + v2[i] * t2 + v3[i] * t3 + c[i] - y[i]
            d = 2.0 * r
            e1 = d * v1[i] * (1.0 - t1 * t1)
            e2 = d * v2[i] * (1.0 - t2 * t2)
            e3 = d * v3[i] * (1.0 - t3 * t3)
            f[i] = r * r
            g11[i] = e1 * p
            g12[i] = e2 * p
            g13[i] = e3 * p
            g21[i] = e1 * q
            g22[i] = e2 * q
            g23[i] = e3 * q
            gb1[i] = e1
            gb2[i] = e2
            gb3[i] = e3
            gv1[i] = d * t1
            gv2[i] = d * t2
            gv3[i] = d * t3
            gc[i] = d
            gx1[i] = e1 * w11[i] + e2 * w12[i] + e3 * w13[i]
            gx2[i] = e1 * w21[i] + e2 * w22[i] + e3 * w23[i]
            gy[i] = -d

    @njit(parallel=True)
    def trig(x, y, f, gx, gy):
        for i in prange(x.shape[0]):
            xi, yi = x[i], y[i]
            cx = math.cos(xi)
            sx = math.sin(xi)
            t = math.tan(0.25 * yi)
            u = cx * t
            cu = math.cos(u)
            xy = xi * yi
            sxy = math.sin(xy)
            f[i] = math.sin(u) + math.cos(xy)
            gx[i] = -cu * sx * t - yi * sxy
            gy[i] = 0.25 * cu * cx * (1.0 + t * t) - xi * sxy

    return {"seed": seed, "rosenbrock": rosenbrock, "logistic": logistic, "mlp": mlp,
            "trig": trig}


def make_inputs(name: str, n: int) -> list[np.ndarray]:
    """The same inputs in every process: one array per parameter."""
    rng = np.random.default_rng(20240614)
    return [rng.uniform(0.0, 1.0, n) if (name == "logistic" and p == "y")
            else rng.uniform(-1.5, 1.5, n) for p in PARAMS[name]]


def sample_index(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, SAMPLE)).astype(np.int64))


# ---------------------------------------------------------------------------------------
# the worker: one tool, one or more functions, in its own process

Runner = Callable[[], None]


def _chaincc(name: str, xs: list, outs: list, math: str = "default") -> Runner:
    import chaincc

    fn = chaincc.compile(SOURCES[name], math=math)
    assert fn.params == PARAMS[name], fn.params
    target = (outs[0], tuple(outs[1:]))

    def run() -> None:
        fn.value_and_grad(*xs, out=target)
    run()
    return run


def _numba(name: str, xs: list, outs: list) -> Runner:
    kernel = numba_kernels()[name]

    def run() -> None:
        kernel(*xs, *outs)
    run()
    return run


def _gcc(work: Path, fast: bool) -> Path:
    lib = work / ("hand_fast.so" if fast else "hand.so")
    if lib.exists():                      # built for an earlier function in this process
        return lib
    flags = C_FLAGS + (FAST_FLAGS if fast else [])
    subprocess.run(["gcc", *flags, "-o", str(lib), str(HAND_C), "-lm"], check=True)
    return lib


def _pointer_array(arrays: list):
    import ctypes
    return (ctypes.c_void_p * len(arrays))(*(a.ctypes.data for a in arrays))


def _c(name: str, xs: list, outs: list, work: Path, fast: bool) -> Runner:
    import ctypes

    lib = ctypes.CDLL(str(_gcc(work, fast)))
    kernel = getattr(lib, "speed_" + name)
    kernel.restype = None
    n = ctypes.c_size_t(len(xs[0]))
    if name == "mlp":                     # 33 arrays: passed as two arrays of pointers
        args = (n, _pointer_array(xs), _pointer_array(outs))
    else:
        args = (n, *(ctypes.c_void_p(a.ctypes.data) for a in xs + outs))

    def run() -> None:
        kernel(*args)
    run()
    return run


def _chaincc_c(name: str, xs: list, outs: list, work: Path, fast: bool) -> Runner:
    """chaincc's generated C for the function, built as the hand C is."""
    import ctypes

    import chaincc
    from chaincc.backends.c import function_names, kind_of

    fn = chaincc.compile(SOURCES[name], math="fast" if fast else "default")
    header, source = fn.c_source(name)
    (work / f"{name}.h").write_text(header, encoding="utf-8")
    (work / f"{name}.c").write_text(source, encoding="utf-8")
    lib = work / f"{name}{'_fast' if fast else ''}.so"
    subprocess.run(["gcc", *C_FLAGS, "-o", str(lib), str(work / f"{name}.c"), "-lm"],
                   check=True)
    fwd = fn.compiled.forward
    batch = function_names([(fwd.name, kind_of(fwd))])[0][3]
    kernel = getattr(ctypes.CDLL(str(lib)), batch)
    kernel.restype = None
    args = (ctypes.c_size_t(len(xs[0])), *(ctypes.c_void_p(a.ctypes.data) for a in xs + outs))

    def run() -> None:
        kernel(*args)
    run()
    return run


def _floor(name: str, xs: list, outs: list, work: Path) -> Runner:
    import ctypes

    lib = ctypes.CDLL(str(_gcc(work, False)))
    kernel = lib.speed_floor
    kernel.restype = None
    args = (ctypes.c_size_t(len(xs[0])), ctypes.c_size_t(len(xs)), _pointer_array(xs),
            ctypes.c_size_t(len(outs)), _pointer_array(outs))

    def run() -> None:
        kernel(*args)
    run()
    return run


def _jax(name: str, xs: list, outs: list) -> tuple[Runner, Callable[[], list]]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    args = [jax.device_put(x) for x in xs]
    jax.block_until_ready(args)
    f = point_value(name, jnp)
    vg = jax.jit(jax.vmap(jax.value_and_grad(f, argnums=tuple(range(len(xs))))))
    result: list = []

    def run() -> None:
        result[:] = [jax.block_until_ready(vg(*args))]
    run()

    def outputs() -> list:
        value, grads = result[0]
        return [np.asarray(value), *(np.asarray(g) for g in grads)]
    return run, outputs


def _torch(name: str, xs: list, outs: list, compiled: bool) -> tuple[Runner, str]:
    import torch

    args = [torch.from_numpy(x) for x in xs]
    targets = [torch.from_numpy(o) for o in outs]
    grad_value = torch.func.vmap(torch.func.grad_and_value(
        point_value(name, torch), argnums=tuple(range(len(xs)))))

    def step(args: list, targets: list) -> None:
        grads, value = grad_value(*args)
        targets[0].copy_(value)
        for t, g in zip(targets[1:], grads):
            t.copy_(g)

    how = "eager"
    if compiled:
        try:
            fast = torch.compile(step)
            fast(args, targets)
            step, how = fast, "torch.compile"
        except Exception as e:                # noqa: BLE001 -- reported in the table
            how = f"eager (torch.compile failed: {type(e).__name__}: {str(e)[:80]})"

    def run() -> None:
        step(args, targets)
    run()
    return run, how


def _setup(tool: str, name: str, xs: list, outs: list, work: Path,
           quick: bool) -> tuple[Runner, Callable[[], list] | None, str]:
    """Build ``tool``'s kernel of function ``name`` and run it once: the runner, where its
    results are when not in ``outs``, and a note for the table."""
    if tool in ("chaincc", "chaincc-numba", "chaincc-fast"):
        return _chaincc(name, xs, outs, "fast" if tool == "chaincc-fast" else "default"), \
            None, ""
    if tool == "numba":
        return _numba(name, xs, outs), None, ""
    if tool in ("c", "c-fast"):
        return _c(name, xs, outs, work, tool == "c-fast"), None, ""
    if tool in ("chaincc-c", "chaincc-c-fast"):
        return _chaincc_c(name, xs, outs, work, tool == "chaincc-c-fast"), None, ""
    if tool == "floor":
        return _floor(name, xs, outs, work), None, ""
    if tool == "jax":
        run, outputs = _jax(name, xs, outs)
        return run, outputs, ""
    if tool == "torch":
        run, note = _torch(name, xs, outs, compiled=not quick)
        return run, None, note
    raise AssertionError(tool)


def worker(tool: str, names: list[str], n: int, quick: bool, outdir: Path) -> None:
    """Serve the driver, one function after another: build ``tool``'s kernel (the first
    call timed), answer ``READY first_s import_s note``, then time blocks of calls on
    request (``RUN k`` → the k times), and on ``NEXT`` save a sample of the outputs and go
    on to the next function. The protocol has stdout to itself; anything the tools print
    goes to stderr."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    packages = {"chaincc": ["chaincc"], "chaincc-fast": ["chaincc"],
                "chaincc-numba": ["chaincc"], "chaincc-c": ["chaincc"],
                "chaincc-c-fast": ["chaincc"],
                "numba": ["numba"], "jax": ["jax", "jax.numpy"], "torch": ["torch"]}
    t = time.perf_counter()
    for p in packages.get(tool, []):
        __import__(p)
    import_s = time.perf_counter() - t
    work = Path(tempfile.mkdtemp(prefix="chaincc-bench-speed-"))
    try:
        for name in names:
            xs = make_inputs(name, n)
            outs = [np.full(n, np.nan) for _ in range(len(xs) + 1)]   # pages touched
            t = time.perf_counter()
            run, outputs, note = _setup(tool, name, xs, outs, work, quick)
            first_s = time.perf_counter() - t
            run()                                                    # warm-up
            proto.write(json.dumps({"first_s": first_s, "import_s": import_s,
                                    "note": note}) + "\n")
            while (line := sys.stdin.readline().split()) and line[0] == "RUN":
                times = []
                for _ in range(int(line[1])):
                    t = time.perf_counter()
                    run()
                    times.append(time.perf_counter() - t)
                proto.write(json.dumps(times) + "\n")
            idx = sample_index(n)
            np.save(outdir / f"{tool}-{name}.npy",
                    np.stack([o[idx] for o in (outputs() if outputs else outs)]))
            del run, outputs, xs, outs
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# the driver

def available(tool: str) -> str | None:
    """Why ``tool`` cannot run here, or None."""
    if NEEDS[tool] is None:
        return None if shutil.which("gcc") else "gcc not found"
    if importlib.util.find_spec(NEEDS[tool]) is None:
        return f"{NEEDS[tool]} is not installed"
    return None


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """The largest error of ``got`` relative to ``want``, row by row (one output each); an
    element smaller than 1e-3 of its row's largest magnitude is measured on that scale."""
    worst = 0.0
    for g, w in zip(got, want):
        scale = np.maximum(np.abs(w), 1e-3 * float(np.max(np.abs(w))))
        scale[scale == 0] = 1.0
        err = np.abs(g - w) / scale
        worst = max(worst, float(np.max(err)) if np.all(np.isfinite(err)) else np.inf)
    return worst


class Worker:
    """A worker process of one tool, with empty caches of its own."""

    def __init__(self, tool: str, names: list[str], args: argparse.Namespace,
                 outdir: Path) -> None:
        self.tool, self.timeout = tool, args.timeout
        self.scratch = Path(tempfile.mkdtemp(prefix="chaincc-bench-cache-"))
        env = dict(os.environ, CHAINCC_CACHE_DIR=str(self.scratch / "chaincc"),
                   TORCHINDUCTOR_CACHE_DIR=str(self.scratch / "inductor"))
        env.pop("CHAINCC_CPU_BACKEND", None)
        if tool == "chaincc-numba":
            env["CHAINCC_CPU_BACKEND"] = "numba"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", tool,
               "--functions", ",".join(names), "--points", str(args.points),
               "--outdir", str(outdir)] + (["--quick"] if args.quick else [])
        self.log = open(self.scratch / "stderr.txt", "w+b")   # noqa: SIM115
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, cwd=ROOT)

    def ask(self, command: str | None) -> Any:
        """Send ``command`` (None: only read) and return the answer, parsed."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if command is not None:
            self.proc.stdin.write(command.encode() + b"\n")
            self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            raise RuntimeError(self.error(f"no answer within {self.timeout} s"
                                          if not ready else "ended without an answer"))
        return json.loads(line)

    def error(self, default: str) -> str:
        self.log.flush()
        self.log.seek(0)
        lines = self.log.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else default

    def close(self) -> None:
        """Let the process save its last sample and end (or end it)."""
        try:
            if self.proc.poll() is None:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=self.timeout)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def measure(tools: list[str], names: list[str], args: argparse.Namespace,
            outdir: Path) -> tuple[dict, dict]:
    """For each function: every tool's first call, one after another; then the timed
    calls in ``--rounds`` rounds, each round a block of calls per tool in turn, with a
    pause between blocks so that one tool's idle threads have stopped spinning before the
    next starts. A quick run keeps one process per tool for all the functions."""
    results: dict[tuple[str, str], dict] = {}
    failed: dict[tuple[str, str], str] = {}
    blocks = [len(b) for b in np.array_split(np.arange(args.repeats), args.rounds)]
    live: dict[str, Worker] = {}
    try:
        for i, f in enumerate(names):
            ready = []
            for tool in tools:
                print(f"[{f}: {tool}]", file=sys.stderr, flush=True)
                try:
                    if args.quick and tool in live:
                        r = live[tool].ask("NEXT")
                    else:
                        live[tool] = Worker(tool, names[i:] if args.quick else [f], args,
                                            outdir)
                        r = live[tool].ask(None)
                    results[tool, f] = dict(r, times=[])
                    ready.append(tool)
                except RuntimeError as e:
                    failed[tool, f] = str(e)
                    if tool in live:
                        live.pop(tool).close()
            for size in blocks:
                for tool in list(ready):
                    time.sleep(0.0 if args.quick else PAUSE)
                    try:
                        results[tool, f]["times"] += live[tool].ask(f"RUN {size}")
                    except RuntimeError as e:
                        failed[tool, f] = str(e)
                        ready.remove(tool)
                        results.pop((tool, f))
                        live.pop(tool).close()
            if not args.quick:
                for tool in ready:
                    live.pop(tool).close()
    finally:
        for w in live.values():
            w.close()
    for (tool, f), r in list(results.items()):
        path = outdir / f"{tool}-{f}.npy"
        if path.exists():
            r["sample"] = np.load(path)
        else:
            failed[tool, f] = "no outputs saved"
            del results[tool, f]
    return results, failed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, help="points per call (default 2,000,000; "
                    "20,000 with --quick)")
    ap.add_argument("--repeats", type=int, default=9, help="timed calls per tool and "
                    "function (at least 7; the median is reported)")
    ap.add_argument("--rounds", type=int, default=3, help="the blocks the timed calls of "
                    "each tool are split into, interleaved with the other tools' blocks")
    ap.add_argument("--quick", action="store_true", help="a small run to see that everything "
                    "works: 20,000 points, one process per tool (so only the first "
                    "function's first call includes the tool's start-up), torch eager "
                    "instead of torch.compile")
    ap.add_argument("--tools", default=",".join(TOOLS),
                    help=f"comma-separated, of {', '.join(TOOLS)}")
    ap.add_argument("--functions", default=",".join(FUNCTIONS),
                    help=f"comma-separated, of {', '.join(FUNCTIONS)}")
    ap.add_argument("--timeout", type=int, default=900,
                    help="seconds to wait for any one answer of a tool's process")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--outdir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    names = [f for f in args.functions.split(",") if f]
    tools = [t for t in args.tools.split(",") if t]
    if args.points is None:
        args.points = 20_000 if args.quick else 2_000_000
    if args.worker:
        worker(args.worker, names, args.points, args.quick, Path(args.outdir))
        return 0
    if args.repeats < 7:
        ap.error("--repeats must be at least 7")
    if not 1 <= args.rounds <= args.repeats:
        ap.error("--rounds must be between 1 and --repeats")
    if args.points < 1:
        ap.error("--points must be positive")
    if bad := [t for t in tools if t not in TOOLS] + [f for f in names if f not in SOURCES]:
        ap.error(f"unknown tool or function: {', '.join(bad)}")
    if not names:
        ap.error("no function to measure")
    if "chaincc" not in tools:
        tools.insert(0, "chaincc")                # the reference every tool is checked on
    skipped = {t: why for t in tools if (why := available(t))}
    tools = [t for t in tools if t not in skipped]
    with tempfile.TemporaryDirectory(prefix="chaincc-bench-speed-") as tmp:
        results, failed = measure(tools, names, args, Path(tmp))
    return report(args, tools, names, results, failed, skipped)


def report(args: argparse.Namespace, tools: list[str], names: list[str],
           results: dict, failed: dict, skipped: dict) -> int:
    n = args.points
    import platform
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    print(f"value + full gradient, {n:,} points, float64; {os.cpu_count()} cores ({cpu}); "
          f"median of {args.repeats} calls each; M points/s (first call, s)")
    width = 17
    print(f"| {'tool':<38} |" + "".join(f" {f:>{width}} |" for f in names))
    print(f"| {'-' * 38} |" + "".join(f" {'-' * (width - 1)}: |" for _ in names))
    status = 0
    problems: list[str] = []
    notes: list[str] = []
    for tool in tools:
        cells = []
        for f in names:
            r = results.get((tool, f))
            if r is None:
                cells.append("failed")
                problems.append(f"{tool} on {f}: {failed.get((tool, f), 'no result')}")
                status = 1
                continue
            med = statistics.median(r["times"])
            cells.append(f"{n / med / 1e6:.1f} ({r['first_s']:.2f})")
            if r["note"] and r["note"] != "torch.compile":
                line = f"{tool} on {f}: {r['note']}"
                notes.append(line if not args.quick else f"{tool}: {r['note']} (--quick)")
            ref = results.get(("chaincc", f))
            if tool in ("chaincc", "floor") or ref is None:
                continue
            err = relative_error(r["sample"], ref["sample"])
            bound = STRICT if tool in ("chaincc-numba", "numba", "c") else LOOSE
            if not err <= bound:
                problems.append(f"{tool} on {f}: outputs differ from chaincc's by {err:.1e} "
                                f"relative (bound {bound:.0e})")
                status = 1
            r["err"] = err
        print(f"| {TOOLS[tool]:<38} |" + "".join(f" {c:>{width}} |" for c in cells))
    print()
    for tool in tools:
        errs = [results[tool, f].get("err") for f in names if (tool, f) in results]
        errs = [e for e in errs if e is not None]
        imports = [results[tool, f]["import_s"] for f in names if (tool, f) in results]
        if errs or imports:
            print(f"{tool}: largest relative difference from chaincc "
                  f"{max(errs):.1e}; " if errs else f"{tool}: ", end="")
            print(f"import {statistics.median(imports):.2f} s" if imports else "")
    for line in dict.fromkeys(notes):
        print(line)
    for tool, why in skipped.items():
        print(f"{tool}: skipped ({why})")
    for line in problems:
        print(f"FAILED {line}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
