"""Compile latency: each case in a new process with an empty disk cache (cold), then in
another new process that finds everything in that cache (warm), on chaincc's default CPU
backend (LLVM) and, with ``--numba``, on the Numba kernels as well (``CHAINCC_CPU_BACKEND
=numba``), side by side.

    python benchmarks/bench_latency.py [--numba] [--repeats 3] [--cases seed,lstm]

Per case: ``import chaincc`` (s); in the cold process, importing what a compile loads on
first use (NumPy, SymPy, llvmlite); then the compile and the first call (s): the value and
gradient at a point, or the Hessian for the ``hessian`` cases. Medians over repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from rnn import rnn_source  # noqa: E402


def layer(n: int) -> str:
    return f"f(W[{n},{n}], b[{n}], x[{n}]) = sum(tanh(W @ x + b)^2)\n"


def gmm_prior(k: int, d: int) -> str:
    """The log density of a K-component diagonal Gaussian mixture at a point x, with the
    means, log standard deviations and mixture logits as parameters: one line per
    component (the language has no axis= reductions yet)."""
    lines = []
    for c in range(k):
        lines.append(f"l{c} = a[{c}] - sum(s[{c}]) - 0.5*sum(((x - m[{c}]) / exp(s[{c}]))^2)")
    comps = ", ".join(f"l{c}" for c in range(k))
    lines.append(f"f(m[{k},{d}], s[{k},{d}], a[{k}], x[{d}]) = logsumexp([{comps}]) - "
                 f"logsumexp(a) + 0.1*sum(m^2) + 0.1*sum(s^2)")
    return "\n".join(lines) + "\n"


CASES = {
    "seed": ("f(x, y) = (x² + xy)y³\n", "vg"),
    "logistic": ((ROOT / "samples" / "logistic.txt").read_text(), "vg"),
    "lstm": ((ROOT / "samples" / "lstm.txt").read_text(), "vg"),
    "layer64": (layer(64), "vg"),
    "mlp_hessian": ((ROOT / "samples" / "mlp.txt").read_text(), "hessian"),
    "rnn1000": (rnn_source(1000), "vg"),
    "gmm_prior": (gmm_prior(16, 12), "vg"),
}

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import chaincc
t1 = time.perf_counter()
import numpy as np
src, what, preload = json.loads(sys.stdin.read())
if preload:     # what a compile imports on first use: the compiler (SymPy) and LLVM
    import sympy, llvmlite.binding, chaincc.api, chaincc.pipeline, chaincc.backends.llvm
t1b = time.perf_counter()
fn = chaincc.compile(src)
args = [np.linspace(0.1, 0.9, max(1, int(np.prod(s)))).reshape(s) if s else 0.3
        for s in fn.shapes]
if what == "hessian":
    fn.hessian(*args)
else:
    fn.value_and_grad(*args)
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "libraries": t1b - t1, "first": t2 - t1b,
                  "ops": fn.op_counts()["value_and_grad"],
                  "sympy": "sympy" in sys.modules, "numba": "numba" in sys.modules}))
"""


def child(src: str, what: str, cache: str, backend: str, preload: bool) -> dict:
    env = dict(os.environ, CHAINCC_CACHE_DIR=cache, CHAINCC_CPU_BACKEND=backend)
    out = subprocess.run([sys.executable, "-c", CHILD],
                         input=json.dumps([src, what, preload]),
                         capture_output=True, text=True, env=env, check=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(src: str, what: str, backend: str, repeats: int) -> dict:
    cold, warm = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(child(src, what, cache, backend, True))
            warm.append(child(src, what, cache, backend, False))

    def med(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows)
    return {"ops": cold[0]["ops"], "import": med(cold, "import"),
            "libraries": med(cold, "libraries"), "cold": med(cold, "first"),
            "warm": med(warm, "first") + med(warm, "libraries"),
            "warm_sympy": warm[0]["sympy"], "warm_numba": warm[0]["numba"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--numba", action="store_true", help="also measure the Numba kernels")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cases", default=",".join(CASES))
    args = ap.parse_args()
    backends = ["llvm", "numba"] if args.numba else ["llvm"]
    print(f"Compile latency, new processes, medians of {args.repeats}. import: `import "
          "chaincc`; libraries: then NumPy, SymPy and llvmlite (which a compile imports on "
          "first use); first: compile and first call after those; warm: a new process "
          "with the cache filled, from after `import chaincc` to the first result (NumPy "
          "included)")
    print(f"{'case':<12} {'v+g ops':>8} {'backend':>8} {'import s':>9} {'libraries s':>12} "
          f"{'cold first s':>13} {'warm first s':>13}  warm process loads")
    for name in args.cases.split(","):
        src, what = CASES[name]
        for b in backends:
            r = measure(src, what, b, args.repeats)
            loads = ", ".join(m for m in ("sympy", "numba") if r[f"warm_{m}"]) or "neither"
            print(f"{name:<12} {r['ops']:>8} {b:>8} {r['import']:>9.3f} "
                  f"{r['libraries']:>12.3f} {r['cold']:>13.3f} {r['warm']:>13.3f}  {loads}",
                  flush=True)


if __name__ == "__main__":
    main()
