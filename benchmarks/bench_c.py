"""The generated C batch kernels against hand-written C of the same math.

    .venv/bin/python benchmarks/bench_c.py [--points 2000000] [--repeat 15] [--threads N]

For the seed example, Rosenbrock, a logistic loss and a 2-3-1 tanh MLP's squared error,
``NAME_value_and_grad_batch`` from ``chaincc compile`` and the kernel of the same signature
in bench_c_hand.c are built with the same flags (gcc -O3 -march=native -fopenmp), checked
to agree on every point, then timed alternately with the same OpenMP thread count. The
table gives medians and the generated kernel's speed as a fraction of the hand kernel's.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FLAGS = ["-O3", "-march=native", "-fopenmp", "-fPIC"]

MLP = """\
# a 2-3-1 tanh network's squared error, every weight a scalar parameter
a1 = w11 x1 + w21 x2 + b1
a2 = w12 x1 + w22 x2 + b2
a3 = w13 x1 + w23 x2 + b3
o = v1 tanh(a1) + v2 tanh(a2) + v3 tanh(a3) + c
loss(w11, w12, w13, w21, w22, w23, b1, b2, b3, v1, v2, v3, c, x1, x2, y) = (o - y)^2
"""

# (label, source name, source text, hand kernel)
CASES = [
    ("seed", "samples/seed.txt", None, "hand_seed"),
    ("rosenbrock", "samples/rosenbrock.txt", None, "hand_rosenbrock"),
    ("logistic", "samples/logistic.txt", None, "hand_logistic"),
    ("mlp 2-3-1", "mlp231.txt", MLP, "hand_mlp"),
]


def build(work: Path) -> tuple[ctypes.CDLL, dict[str, tuple[str, list[str]]]]:
    """Generate the C of every case, compile it with the hand kernels into one library."""
    from chaincc import __version__
    from chaincc.api import pipeline
    from chaincc.backends.c import c_sources, function_names, kind_of
    from chaincc.source import Source

    objects, kernels = [], {}
    for label, name, text, _ in CASES:
        text = text if text is not None else (ROOT / name).read_text(encoding="utf-8")
        (c,) = pipeline(Source(name, text))
        prefix = "gen_" + label.split()[0]
        header, source = c_sources(__version__, name, [(c.forward, c.fused)], prefix)
        (work / f"{prefix}.h").write_text(header, encoding="utf-8")
        (work / f"{prefix}.c").write_text(source, encoding="utf-8")
        objects.append(f"{prefix}.c")
        batch = function_names([(c.forward.name, kind_of(c.forward))])[0][3]
        kernels[label] = (batch, [p.name for p in c.forward.params])
    # one library per case would do as well; the symbols are distinct because the hand
    # kernels are prefixed and each generated file is compiled separately
    libs = []
    for src in [*objects, str(HERE / "bench_c_hand.c")]:
        out = work / (Path(src).stem + ".so")
        subprocess.run(["gcc", *FLAGS, "-shared", "-o", str(out), src, "-lm"], cwd=work,
                       check=True)
        libs.append(out)
    loaded = {p.stem: ctypes.CDLL(str(p)) for p in libs}
    return loaded, kernels


def inputs(label: str, params: list[str], n: int, rng: np.random.Generator) -> list:
    xs = []
    for p in params:
        if label == "logistic" and p == "y":
            xs.append(rng.uniform(0.0, 1.0, n))            # a label, as a probability
        else:
            xs.append(rng.uniform(-1.5, 1.5, n))
    return xs


def call(kernel, n: int, arrays: list[np.ndarray]) -> None:
    kernel(ctypes.c_size_t(n), *(a.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
                                 for a in arrays))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    # before libgomp starts: both kernels then run on the same number of threads
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("OMP_PROC_BIND", "false")
    n, rng = args.points, np.random.default_rng(0)
    cpu = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout
    print(f"{cpu.splitlines()[0]}; flags: {' '.join(FLAGS)}; {args.threads} threads; "
          f"{n:,} points; median of {args.repeat} runs")
    rows = []
    with tempfile.TemporaryDirectory(prefix="chaincc-bench-c-") as tmp:
        libs, kernels = build(Path(tmp))
        for label, _, _, hand_name in CASES:
            batch, params = kernels[label]
            gen = getattr(libs["gen_" + label.split()[0]], batch)
            hand = getattr(libs["bench_c_hand"], hand_name)
            for k in (gen, hand):
                k.restype = None
            xs = inputs(label, params, n, rng)
            outs_gen = [np.empty(n) for _ in range(len(params) + 1)]
            outs_hand = [np.empty(n) for _ in range(len(params) + 1)]
            call(gen, n, xs + outs_gen)
            call(hand, n, xs + outs_hand)
            worst = max(float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))
                        for a, b in zip(outs_gen, outs_hand))
            if not worst <= 1e-10:
                print(f"{label}: generated and hand kernels disagree (worst relative "
                      f"error {worst:.2e})", file=sys.stderr)
                return 1
            times: dict[str, list[float]] = {"gen": [], "hand": []}
            for _ in range(args.repeat):
                for key, k, outs in (("gen", gen, outs_gen), ("hand", hand, outs_hand)):
                    t = time.perf_counter()
                    call(k, n, xs + outs)
                    times[key].append(time.perf_counter() - t)
            g, h = statistics.median(times["gen"]), statistics.median(times["hand"])
            rows.append((label, len(params), g, h, worst))
    print(f"{'function':<12} {'params':>6} {'generated ms':>13} {'hand ms':>9} "
          f"{'generated Mpt/s':>16} {'hand Mpt/s':>11} {'gen/hand speed':>15} {'max rel diff':>13}")
    for label, k, g, h, worst in rows:
        print(f"{label:<12} {k:>6} {g * 1e3:>13.2f} {h * 1e3:>9.2f} {n / g / 1e6:>16.1f} "
              f"{n / h / 1e6:>11.1f} {h / g:>14.2f}x {worst:>13.1e}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
