"""One training step of the 10→5→2 ReLU MLP (samples/mlp.txt) through
``chaincc.torch.function`` against plain PyTorch autograd, on the CPU in float64.

A step is ``zero_grad``, the forward pass (the batch-mean squared error), ``backward``
and ``torch.optim.SGD.step``, over a batch of 100,000 samples. Through the bridge the
forward pass is one fused value-and-gradient kernel call (``reduce="mean"``) and the
backward pass hands its gradients to PyTorch; plain PyTorch runs ``nn.Linear``, ReLU and
``nn.MSELoss`` and its own autograd. Both in one process, medians of repeated steps
after a warm-up.

    pip install -e '.[torch]'
    .venv/bin/python benchmarks/bench_torch.py [--batch 100000] [--repeats 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "mlp.txt"


def median_steps(steps: dict, repeats: int, warmup: int = 3) -> dict[str, float]:
    """The median time of each step; the steps take turns, so that a change in the
    machine's load over the run falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for r in range(warmup + repeats):
        for name, (step, prepare) in steps.items():
            prepare()
            t = time.perf_counter()
            step()
            if r >= warmup:
                times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    if args.repeats < 7:
        ap.error("--repeats must be at least 7")
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed (pip install -e '.[torch]'); nothing to measure")
        return 0
    from torch import nn

    os.environ.setdefault("CHAINCC_CACHE_DIR", tempfile.mkdtemp())
    import numba

    import chaincc
    import chaincc.torch

    torch.manual_seed(0)
    n = args.batch
    x = torch.randn(n, 10, dtype=torch.float64)
    y = torch.randn(n, 2, dtype=torch.float64)

    def model() -> nn.Sequential:
        torch.manual_seed(1)
        return nn.Sequential(nn.Linear(10, 5, dtype=torch.float64), nn.ReLU(),
                             nn.Linear(5, 2, dtype=torch.float64))

    t = time.perf_counter()
    loss = chaincc.torch.function(chaincc.compile(SAMPLE), reduce="mean")
    ours = model()
    fc1, fc2 = ours[0], ours[2]
    opt_ours = torch.optim.SGD(ours.parameters(), lr=0.01)

    def step_ours() -> None:
        opt_ours.zero_grad()
        loss(fc1.weight, fc1.bias, fc2.weight, fc2.bias, x, y).backward()
        opt_ours.step()

    step_ours()                       # compiles the wrt= kernels (cached on disk)
    compile_s = time.perf_counter() - t

    ref = model()
    mse = nn.MSELoss()
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.01)

    def step_ref() -> None:
        opt_ref.zero_grad()
        mse(ref(x), y).backward()
        opt_ref.step()

    threads = torch.get_num_threads()

    def torch_threads(k: int):
        return lambda: torch.set_num_threads(k)

    ours_name = "chaincc.torch.function (reduce='mean')"
    ref_name = f"PyTorch autograd, {threads} threads"
    steps = {ours_name: (step_ours, torch_threads(threads)),
             ref_name: (step_ref, torch_threads(threads))}
    if threads > 1:            # on a busy machine PyTorch's threads may wait for each other
        steps["PyTorch autograd, 1 thread"] = (step_ref, torch_threads(1))
    med = median_steps(steps, args.repeats)
    torch.set_num_threads(threads)
    print(f"10→5→2 MLP, one SGD step over a batch of {n:,} (float64, CPU): PyTorch "
          f"{torch.__version__}, chaincc on {numba.config.NUMBA_NUM_THREADS} threads; "
          f"medians of {args.repeats} steps")
    print(f"(chaincc compile and first step: {compile_s:.2f} s)\n")
    print(f"| {'step (zero_grad, forward, backward, SGD)':<40} | {'time':>10} | "
          f"{'speed-up':>8} |")
    print(f"| {'-' * 40} | {'-' * 9}: | {'-' * 7}: |")
    for name, s in med.items():
        print(f"| {name:<40} | {s * 1e3:>7.2f} ms | {med[ref_name] / s:>7.2f}x |")
    best = min((s, name) for name, s in med.items() if name != ours_name)
    print(f"\nthe bridge against the faster plain PyTorch ({best[1]}): "
          f"{best[0] / med[ours_name]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
