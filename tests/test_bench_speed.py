"""benchmarks/bench_speed.py: its hand-written C kernels against SymPy's derivatives, its
comparison of outputs, and a --quick run of the whole script (peers that are not
installed are skipped by the script and must be reported as skipped)."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from sympy_oracle import expected_fast, sigmoid, symbols

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_speed  # noqa: E402

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not found")


def _oracles() -> dict[str, tuple[sp.Expr, tuple[sp.Symbol, ...]]]:
    x, y = symbols("x y")
    w1, w2, b, x1, x2, yl = symbols("w1 w2 b x1 x2 y")
    s = sigmoid(w1 * x1 + w2 * x2 + b)
    ws = symbols("w11 w12 w13 w21 w22 w23 b1 b2 b3 v1 v2 v3 c x1 x2 y")
    w11, w12, w13, w21, w22, w23, b1, b2, b3, v1, v2, v3, c, p, q, t = ws
    o = (v1 * sp.tanh(w11 * p + w21 * q + b1) + v2 * sp.tanh(w12 * p + w22 * q + b2)
         + v3 * sp.tanh(w13 * p + w23 * q + b3) + c)
    return {
        "seed": ((x ** 2 + x * y) * y ** 3, (x, y)),
        "rosenbrock": ((1 - x) ** 2 + 100 * (y - x ** 2) ** 2, (x, y)),
        "logistic": (-(yl * sp.log(s) + (1 - yl) * sp.log(1 - s)), (w1, w2, b, x1, x2, yl)),
        "mlp": ((o - t) ** 2, ws),
        "trig": (sp.sin(sp.cos(x) * sp.tan(y / 4)) + sp.cos(x * y), (x, y)),
    }


@needs_gcc
def test_hand_c_kernels_match_sympy(tmp_path: Path) -> None:
    lib = ctypes.CDLL(str(bench_speed._gcc(tmp_path, fast=False)))
    n = 40
    for name, (expr, params) in _oracles().items():
        assert tuple(p.name for p in params) == bench_speed.PARAMS[name]
        xs = [x[:n].copy() for x in bench_speed.make_inputs(name, 1000)]
        outs = [np.full(n, np.nan) for _ in range(len(xs) + 1)]
        # the script's own calling code, on the library built above
        kernel = getattr(lib, "speed_" + name)
        kernel.restype = None
        if name == "mlp":
            kernel(ctypes.c_size_t(n), bench_speed._pointer_array(xs),
                   bench_speed._pointer_array(outs))
        else:
            kernel(ctypes.c_size_t(n), *(ctypes.c_void_p(a.ctypes.data) for a in xs + outs))
        for i in range(n):
            value, grad = expected_fast(expr, params, [float(x[i]) for x in xs])
            want = np.array([value, *grad])
            got = np.array([o[i] for o in outs])
            assert np.allclose(got, want, rtol=1e-11, atol=1e-12), (name, i, got, want)


@needs_gcc
def test_floor_copies_every_output(tmp_path: Path) -> None:
    n = 1500                                        # not a multiple of the block size
    xs = [np.arange(n, dtype=float) + 10_000 * j for j in range(3)]
    outs = [np.full(n, np.nan) for _ in range(4)]
    bench_speed._floor("seed", xs, outs, tmp_path)
    for j, o in enumerate(outs):
        assert np.array_equal(o, xs[j % 3])


def test_relative_error() -> None:
    want = np.array([[1.0, -2.0, 1e-20, 4.0], [3.0, 3.0, 3.0, 3.0]])
    assert bench_speed.relative_error(want.copy(), want) == 0.0
    off = want.copy()
    off[1, 2] *= 1 + 1e-9
    assert 0.5e-9 < bench_speed.relative_error(off, want) < 2e-9
    # next to zero an error is measured against 1e-3 of the row's largest magnitude
    near_zero = want.copy()
    near_zero[0, 2] = 4e-15
    assert bench_speed.relative_error(near_zero, want) == pytest.approx(1e-12)
    nan = want.copy()
    nan[0, 0] = np.nan
    assert bench_speed.relative_error(nan, want) == np.inf


def test_missing_peer_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(bench_speed.NEEDS, "jax", "no_such_package_for_chaincc")
    assert bench_speed.available("jax") == "no_such_package_for_chaincc is not installed"
    assert bench_speed.available("numba") is None


def test_quick_run() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_speed.py"),
                           "--quick", "--repeats", "7"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "20,000 points" in out and "median of 7 calls" in out
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1]
            for line in out.splitlines() if line.startswith("| ")}
    assert list(rows)[0] == "tool"
    header = [c.strip() for c in rows.pop("tool")]
    assert header == list(bench_speed.FUNCTIONS)
    for tool, label in bench_speed.TOOLS.items():
        if bench_speed.available(tool) is None:
            cells = rows[label]
            assert len(cells) == 5
            for cell in cells:
                assert re.fullmatch(r"\s*\d+\.\d \(\d+\.\d\d\)\s*", cell), (tool, cell)
        else:
            assert label not in rows
            assert f"{tool}: skipped" in out
    # every tool but the reference and the floor was compared with chaincc
    for tool in ("numba", "c", "jax", "torch"):
        if bench_speed.available(tool) is None:
            assert re.search(rf"^{tool}: largest relative difference from chaincc "
                             r"\d\.\de[-+]\d\d", out, re.M), out
    assert "FAILED" not in out
