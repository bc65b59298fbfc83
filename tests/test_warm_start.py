"""A process that finds a function in the disk cache runs it without the compiler:
``import chaincc`` loads nothing heavy, and a warm ``chaincc eval`` (or a warm
``chaincc.compile`` and call) imports neither SymPy nor Numba, and still gives the exact
value and gradient (checked by hand)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HEAVY = ("sympy", "numba", "numpy", "llvmlite", "scipy", "torch", "jax", "dask", "tqdm")

IMPORT = f"""
import sys, json
import chaincc
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))
"""

CLI = """
import sys, json, io, contextlib
from chaincc.cli import main
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    rc = main(["eval", sys.argv[1], "x=1", "y=2", "--json"])
print(json.dumps({"rc": rc, "out": json.loads(buf.getvalue()),
                  "sympy": "sympy" in sys.modules, "numba": "numba" in sys.modules}))
"""

PLAIN = """
import sys, json, io, contextlib
from chaincc.cli import main
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    rc = main(["eval", sys.argv[1], "x=1", "y=2"])
print(json.dumps({"rc": rc, "out": buf.getvalue(), "heavy": sorted(
    m for m in sys.modules if m.split('.')[0] in ("sympy", "numba", "numpy"))}))
"""

API = """
import sys, json
import numpy as np
import chaincc
fn = chaincc.compile(open(sys.argv[1]).read())
v, g = fn.value_and_grad(1.0, 2.0)
vb, gb = fn.value_and_grad(np.array([1.0, 0.5]), 2.0)
j = fn.hessian(1.0, 2.0)
print(json.dumps({"v": v, "g": list(g), "vb": vb.tolist(), "h": j.tolist(),
                  "sympy": "sympy" in sys.modules, "numba": "numba" in sys.modules}))
"""


def _run(code: str, cache: Path, *args: str) -> dict | list:
    env = dict(os.environ, CHAINCC_CACHE_DIR=str(cache))
    env.pop("CHAINCC_CPU_BACKEND", None)
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_chaincc_loads_nothing_heavy(tmp_path: Path) -> None:
    assert _run(IMPORT, tmp_path) == []


def _seed(tmp_path: Path) -> Path:
    src = tmp_path / "seed.txt"
    src.write_text("f(x, y) = (x² + xy)y³\n", encoding="utf-8")
    return src


def test_warm_cli_eval_runs_without_the_compiler(tmp_path: Path) -> None:
    src, cache = _seed(tmp_path), tmp_path / "cache"
    cold = _run(CLI, cache, str(src))
    warm = _run(CLI, cache, str(src))
    # (x² + xy)y³ at (1, 2): 24; ∂x = (2x + y)y³ = 32; ∂y = xy³ + 3(x² + xy)y² = 44
    for r in (cold, warm):
        assert r["rc"] == 0
        assert r["out"]["value"] == 24.0 and r["out"]["gradient"] == {"x": 32.0, "y": 44.0}
    assert cold["sympy"]
    assert not warm["sympy"] and not warm["numba"]


def test_a_warm_scalar_eval_does_not_import_numpy(tmp_path: Path) -> None:
    """Floats in, floats out: the warm path needs neither the compiler nor NumPy."""
    src, cache = _seed(tmp_path), tmp_path / "cache"
    cold = _run(PLAIN, cache, str(src))
    warm = _run(PLAIN, cache, str(src))
    for r in (cold, warm):
        assert r["rc"] == 0
        assert r["out"] == "f(x=1, y=2) = 24\n∂f/∂x = 32\n∂f/∂y = 44\n"
    assert "numpy" in cold["heavy"] and warm["heavy"] == []


def test_warm_api_calls_run_without_the_compiler(tmp_path: Path) -> None:
    src, cache = _seed(tmp_path), tmp_path / "cache"
    cold = _run(API, cache, str(src))
    warm = _run(API, cache, str(src))
    for r in (cold, warm):
        assert r["v"] == 24.0 and r["g"] == [32.0, 44.0]
        # x = 0.5: (0.25 + 1)·8 = 10
        assert r["vb"] == [24.0, 10.0]
        # f = x²y³ + xy⁴: f_xx = 2y³ = 16, f_xy = 6xy² + 4y³ = 56, f_yy = 6x²y + 12xy² = 60
        assert r["h"] == [[16.0, 56.0], [56.0, 60.0]]
    assert not warm["sympy"] and not warm["numba"]
