"""Accuracy of every elementary function in chaincc's kernels: the largest and the mean
error in ulps against the exact value (mpmath at 120 bits, which shares no code with
libm or chaincc), with the speed of each, in every ``math`` mode: "default" (chaincc's own
vectorisable functions where it has them, chaincc/backends/vecmath; libm's otherwise),
"fast" (glibc's vector libm, libmvec, where a batch loop vectorises) and "libm" (the C
library's scalar functions).

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
    "asin": ("asin(x)", "asin", ("u", -1.0, 1.0)),
    "acos": ("acos(x)", "acos", ("u", -1.0, 1.0)),
    "acosh": ("acosh(x)", "acosh", ("l", 1.0, 1e300)),
    "atanh": ("atanh(x)", "atanh", ("u", -1.0, 1.0)),
    "erfc": ("erfc(x)", "erfc", ("u", -6.0, 27.3)),
    "log2": ("log2(x)", "log2", ("l", 1e-307, 1e308)),
    "log10": ("log10(x)", "log10", ("l", 1e-307, 1e308)),
    "lgamma": ("lgamma(x)", "lgamma", ("u", 0.01, 100.0)),
    "atan2": ("atan2(x, y)", "atan2", ("two", -1e3, 1e3)),
    "hypot": ("hypot(x, y)", "hypot", ("two", -1e3, 1e3)),
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
    if kind[0] == "two":
        return [rng.uniform(kind[1], kind[2], n), rng.uniform(kind[1], kind[2], n)]
    # pow: bases log-uniform over 1e-3..1e3, exponents uniform in [-40, 40]
    return [np.exp(rng.uniform(math.log(1e-3), math.log(1e3), n)), rng.uniform(-40, 40, n)]


def _special() -> dict:
    import mpmath
    return {"cbrt": lambda v: mpmath.sign(v) * mpmath.cbrt(abs(v)),   # the real cube root
            "log2": lambda v: mpmath.log(v, 2), "log10": mpmath.log10,
            "lgamma": lambda v: mpmath.log(abs(mpmath.gamma(v))),     # C's lgamma
            "atan2": mpmath.atan2, "hypot": mpmath.hypot}


def exact_ulps(args: tuple) -> list[tuple[float, float]]:
    """(max, total) ulp error of each mode's results over a slice of the points."""
    import mpmath
    mpmath.mp.prec = 120
    name, xs, got = args
    special = _special()
    f = special.get(name) or getattr(mpmath, FUNCTIONS[name][1])
    worst, total = [0.0] * len(got), [0.0] * len(got)
    for i in range(len(xs[0])):
        e = f(*(mpmath.mpf(float(x[i])) for x in xs))
        ef = float(e)
        ulp = math.ulp(abs(ef)) if ef != 0 and math.isfinite(ef) else 5e-324
        for k in range(len(got)):
            g = float(got[k][i])
            if math.isnan(g) and math.isnan(ef) or g == ef and not math.isfinite(g):
                continue
            if not math.isfinite(g) or not math.isfinite(ef):
                err = math.inf
            else:
                err = float(abs(mpmath.mpf(g) - e) / ulp)
            worst[k] = max(worst[k], err)
            total[k] += err
    return list(zip(worst, total))


MODES = ("default", "fast", "libm")


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
    head = " | ".join(f"{m} max ulp | {m} mean ulp" for m in MODES)
    speeds = " | ".join(f"{m} M/s" for m in MODES)
    print(f"| function | {head} | {speeds} |")
    print("|---|" + "---:|" * (3 * len(MODES)))
    rng = np.random.default_rng(2026)
    with ProcessPoolExecutor(args.workers) as pool:
        for name in args.functions.split(","):
            formula, _, kind = FUNCTIONS[name]
            params = "x, y" if kind[0] in ("pow", "two") else "x"
            src = f"f({params}) = {formula}"
            fns = [chaincc.compile(src, math=m) for m in MODES]
            xs = sample(kind, args.points, rng)
            out = np.empty(args.points)
            got = [fn(*xs) for fn in fns]
            rates = [speed(fn, xs, out) for fn in fns]
            parts = max(1, args.workers * 8)
            cuts = np.array_split(np.arange(args.points), parts)
            jobs = [(name, [x[c] for x in xs], [g[c] for g in got]) for c in cuts]
            worst, total = [0.0] * len(MODES), [0.0] * len(MODES)
            for res in pool.map(exact_ulps, jobs):
                for k, (w, t) in enumerate(res):
                    worst[k], total[k] = max(worst[k], w), total[k] + t
            n = args.points
            cells = " | ".join(f"{w:.2f} | {t / n:.3f}" for w, t in zip(worst, total))
            print(f"| {name} | {cells} | {' | '.join(f'{r:.0f}' for r in rates)} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
