"""Compile time against program size: each family of tests/test_code_size.py at growing
sizes, and a chain of functions each calling the one before, every point in a new process
with an empty cache (cold compile plus the first value-and-gradient call).

    python benchmarks/bench_compile_growth.py [--sizes 10,20,40,80] [--chain 100,300,1000]

Prints, per family and size, the value+grad operation count, the seconds, and the seconds
per thousand operations: linear growth keeps the last column flat.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

FAMILIES = {
    "logsumexp": "f(v[{n}]) = logsumexp(v)",
    "softmax": "f(v[{n}]) = sum(softmax(v)·v)",
    "max_min": "f(v[{n}]) = max(v) - min(v)",
    "norm_prod": "f(v[{n}]) = norm(v) + prod(v) + mean(v)",
    "where_chain": "f(v[{n}]) = sum(where(v > 0, max(v, 0.5·v, sin(v)), min(v, cos(v))))",
}

CHILD = """
import json, sys, time
import numpy as np
t0 = time.perf_counter()
import chaincc
src, n, chain = json.loads(sys.argv[1])
fn = chaincc.compile(src)
args = [np.linspace(-1, 1, n)] if not chain else [0.5]
fn.value_and_grad(*args)
print(json.dumps([time.perf_counter() - t0, fn.op_counts()["value_and_grad"]]))
"""


def chain_source(k: int) -> str:
    lines = ["f0(x) = x + 1"] + [f"f{i}(x) = f{i - 1}(x)·2 + sin(x)" for i in range(1, k)]
    return "\n".join(lines) + "\n"


def run(src: str, n: int, chain: bool) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as cache:
        env = {"CHAINCC_CACHE_DIR": cache, "PATH": "/usr/bin:/bin"}
        r = subprocess.run([sys.executable, "-c", CHILD, json.dumps([src, n, chain])],
                           capture_output=True, text=True, env=env, timeout=1800)
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-2000:])
        seconds, ops = json.loads(r.stdout.strip().splitlines()[-1])
        return seconds, ops


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,20,40,80")
    ap.add_argument("--chain", default="100,300,1000")
    a = ap.parse_args()
    print(f"{'family':<12} {'n':>6} {'vg ops':>8} {'seconds':>8} {'s/1k ops':>9}")
    for name, template in FAMILIES.items():
        for n in map(int, a.sizes.split(",")):
            s, ops = run(template.format(n=n), n, False)
            print(f"{name:<12} {n:>6} {ops:>8} {s:>8.2f} {1000 * s / max(ops, 1):>9.2f}",
                  flush=True)
    for k in map(int, a.chain.split(",")):
        s, ops = run(chain_source(k), 0, True)
        print(f"{'chain':<12} {k:>6} {ops:>8} {s:>8.2f} {1000 * s / max(ops, 1):>9.2f}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
