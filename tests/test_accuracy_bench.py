"""benchmarks/accuracy.py, on a few points: it runs, measures every math mode, and the
default modes' figures hold chaincc's own functions to 1 ulp (an end-to-end check of the
kernels' functions against mpmath, through chaincc.compile)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_accuracy_table_on_a_few_points() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "accuracy.py"),
                          "--points", "400", "--functions", "exp,tanh,sin,pow,atan2",
                          "--workers", "1"], capture_output=True, text=True, timeout=600,
                         check=True).stdout
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in out.splitlines() if line.startswith("| ") and "---" not in line}
    assert set(rows) >= {"exp", "tanh", "sin", "pow", "atan2"}
    for name in ("exp", "tanh", "sin", "pow"):
        default_max, fast_max, libm_max = (float(rows[name][k]) for k in (0, 2, 4))
        assert default_max <= 1.0 and fast_max <= 4.0 and libm_max <= 4.0, (name, rows[name])
    assert all(float(c) > 0 for c in rows["exp"][6:9])          # three speeds
