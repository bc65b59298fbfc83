"""Accuracy of every elementary function in chaincc's kernels: the largest and the mean
error in ulps against the exact value (mpmath at 120 bits, which shares no code with
libm or chaincc), by default (glibc's scalar libm) and with ``math="fast"`` (glibc's
vector libm, libmvec, where a batch loop vectorises), with the speed of each.

    python benchmarks/accuracy.py [--points 1000000] [--functions exp,log] [--workers 2]

Points are drawn per function across its domain (uniform, or log-uniform where the
domain spans many decades), with a fixed seed.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

# name: (chaincc formula, mpmath function name, sampling)
# sampling: ("u", lo, hi) uniform; ("l", lo, hi) log-uniform over |x|, random sign if lo<0
FUNCTIONS = {
    "exp": ("exp(x)", "exp", ("u", -745.0, 709.0)),
    "expm1": ("expm1(x)", "expm1", ("u", -40.0, 709.0)),
    "log": ("log(x)", "log", ("l", 1e-307, 1e308)),
    "log1p": ("log1p(x)", "log1p", ("l", 1e-300, 1e300)),
    "sin": ("sin(x)", "sin", ("u", -1e4, 1e4)),
    "cos": ("cos(x)", "cos", ("u", -1e4, 1e4)),
    "tan": ("tan(x)", "tan", ("u", -1e4, 1e4)),
    "tanh": ("tanh(x)", "tanh", ("u", -20.0, 20.0)),
    "sinh": ("sinh(x)", "sinh", ("u", -709.0, 709.0)),
    "cosh": ("cosh(x)", "cosh", ("u", -709.0, 709.0)),
    "atan": ("atan(x)", "atan", ("l", -1e300, 1e300)),
    "asinh": ("asinh(x)", "asinh", ("l", -1e300, 1e300)),
    "cbrt": ("cbrt(x)", "cbrt", ("l", -1e300, 1e300)),
    "erf": ("erf(x)", "erf", ("u", -6.0, 6.0)),
    "pow": ("x^y", "power", ("pow",)),
}


def sample(kind: tuple, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    if kind[0] == "u":
        return [rng.uniform(kind[1], kind[2], n)]
    if kind[0] == "l":
        lo, hi = abs(kind[1]), abs(kind[2])
        x = np.exp(rng.uniform(math.log(min(lo, hi) if kind[1] > 0 else 1e-300),
                               math.log(max(lo, hi)), n))
        if kind[1] < 0:
            x *= rng.choice([-1.0, 1.0], n)
        return [x]
    # pow: bases log-uniform over 1e-3..1e3, exponents uniform in [-40, 40]
    return [np.exp(rng.uniform(math.log(1e-3), math.log(1e3), n)), rng.uniform(-40, 40, n)]


def exact_ulps(args: tuple) -> tuple[float, float, float, float]:
    """(max, mean) ulp error of ``got_default`` and ``got_fast`` over a slice."""
    import mpmath
    mpmath.mp.prec = 120
    name, xs, got = args
    f = getattr(mpmath, FUNCTIONS[name][1]) if name != "cbrt" else \
        (lambda v: mpmath.sign(v) * mpmath.cbrt(abs(v)))    # the real cube root
    worst, total = [0.0, 0.0], [0.0, 0.0]
    for i in range(len(xs[0])):
        e = f(*(mpmath.mpf(float(x[i])) for x in xs))
        ef = float(e)
        ulp = math.ulp(abs(ef)) if ef != 0 and math.isfinite(ef) else 5e-324
        for k in (0, 1):
            g = float(got[k][i])
            if math.isnan(g) and math.isnan(ef) or g == ef and not math.isfinite(g):
                continue
            if not math.isfinite(g) or not math.isfinite(ef):
                err = math.inf
            else:
                err = float(abs(mpmath.mpf(g) - e)) / ulp
            worst[k] = max(worst[k], err)
            total[k] += err
    return worst[0], total[0], worst[1], total[1]


def speed(fn, xs: list[np.ndarray], out: np.ndarray) -> float:
    fn(*xs, out=out)
    times = []
    for _ in range(7):
        t = time.perf_counter()
        fn(*xs, out=out)
        times.append(time.perf_counter() - t)
    return len(xs[0]) / statistics.median(times) / 1e6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--functions", default=",".join(FUNCTIONS))
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    import chaincc
    from chaincc.backends import machine
    isas = machine.vector_isas()
    print(f"{args.points:,} points per function; exact: mpmath at 120 bits; "
          f"libmvec ABIs on this machine: {', '.join(isas) or 'none'}")
    print("| function | default max ulp | default mean ulp | fast max ulp | fast mean ulp "
          "| default M/s | fast M/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(2026)
    with ProcessPoolExecutor(args.workers) as pool:
        for name in args.functions.split(","):
            formula, _, kind = FUNCTIONS[name]
            params = "x, y" if name == "pow" else "x"
            src = f"f({params}) = {formula}"
            default = chaincc.compile(src)
            fast = chaincc.compile(src, math="fast")
            xs = sample(kind, args.points, rng)
            out = np.empty(args.points)
            got = (default(*xs), fast(*xs))
            s_default, s_fast = speed(default, xs, out), speed(fast, xs, out)
            parts = max(1, args.workers * 8)
            cuts = np.array_split(np.arange(args.points), parts)
            jobs = [(name, [x[c] for x in xs], [g[c] for g in got]) for c in cuts]
            w0 = t0 = w1 = t1 = 0.0
            for a, b, c, d in pool.map(exact_ulps, jobs):
                w0, t0, w1, t1 = max(w0, a), t0 + b, max(w1, c), t1 + d
            n = args.points
            print(f"| {name} | {w0:.2f} | {t0 / n:.3f} | {w1:.2f} | {t1 / n:.3f} | "
                  f"{s_default:.0f} | {s_fast:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
