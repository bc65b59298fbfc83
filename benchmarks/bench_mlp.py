"""The 10→5→2 ReLU MLP with mean squared error: value and gradient of the batch-mean loss
over 1,000,000 samples (``reduce="mean"``) against PyTorch and JAX on the CPU, per-sample
gradients against JAX ``jit(vmap(grad))``, and the compile time.

    pip install -e '.[bench]'        # torch==2.13.0 (CPU wheel) and jax
    .venv/bin/python benchmarks/bench_mlp.py [--samples 1000000] [--repeats 11]

All in float64, on every core. Medians of repeated runs, after a warm-up call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

MLP = """
# 10 → 5 → 2 ReLU network, mean squared error over its two outputs
loss(W1[5,10], b1[5], W2[2,5], b2[2], x[10], y[2]) = mean((W2 @ relu(W1 @ x + b1) + b2 - y)^2)
"""


def median_time(f, repeats: int) -> float:
    f()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=11)
    args = ap.parse_args()
    n = args.samples
    rng = np.random.default_rng(0)
    W1, b1 = rng.normal(size=(5, 10)) / 3, rng.normal(size=5) / 3
    W2, b2 = rng.normal(size=(2, 5)) / 2, rng.normal(size=2) / 2
    x, y = rng.normal(size=(n, 10)), rng.normal(size=(n, 2))
    weights = (W1, b1, W2, b2)

    os.environ.setdefault("CHAINCC_CACHE_DIR", tempfile.mkdtemp())
    import chaincc
    t = time.perf_counter()
    fn = chaincc.compile(MLP)
    fn.value_and_grad(*weights, x[:4], y[:4], reduce="mean")
    compile_reduce = time.perf_counter() - t
    t = time.perf_counter()
    fn.value_and_grad(*weights, x[:4], y[:4])
    compile_batch = time.perf_counter() - t
    ops = fn.op_counts()

    import numba
    threads = numba.get_num_threads()
    rows = []
    ref_v, ref_g = fn.value_and_grad(*weights, x, y, reduce="mean")
    t_cc = median_time(lambda: fn.value_and_grad(*weights, x, y, reduce="mean"),
                       args.repeats)
    rows.append(("chaincc reduce='mean'", t_cc))

    try:
        import torch
        torch.set_num_threads(threads)
        tw = [torch.tensor(w, requires_grad=True) for w in weights]
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def torch_step():
            for w in tw:
                w.grad = None
            h = torch.relu(tx @ tw[0].T + tw[1])
            loss = ((h @ tw[2].T + tw[3] - ty) ** 2).mean(dim=1)
            loss.mean().backward()
            return loss

        torch_step()
        assert np.allclose(tw[0].grad.numpy(), ref_g[0], rtol=1e-9, atol=1e-12)
        rows.append((f"PyTorch {torch.__version__} loss.mean().backward()",
                     median_time(torch_step, args.repeats)))
    except ImportError:
        rows.append(("PyTorch (not installed)", float("nan")))

    per_sample = []
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        def single(W1, b1, W2, b2, x, y):
            return jnp.mean((W2 @ jax.nn.relu(W1 @ x + b1) + b2 - y) ** 2)

        def batch_mean(W1, b1, W2, b2, x, y):
            return jnp.mean(jax.vmap(single, in_axes=(None,) * 4 + (0, 0))(
                W1, b1, W2, b2, x, y))

        jw = [jnp.asarray(w) for w in weights]
        jx, jy = jnp.asarray(x), jnp.asarray(y)
        vg = jax.jit(jax.value_and_grad(batch_mean, argnums=(0, 1, 2, 3)))
        v, g = vg(*jw, jx, jy)
        assert np.allclose(np.asarray(g[0]), ref_g[0], rtol=1e-9, atol=1e-12)
        rows.append((f"JAX {jax.__version__} jit(value_and_grad)",
                     median_time(lambda: jax.block_until_ready(vg(*jw, jx, jy)),
                                 args.repeats)))
        ps = jax.jit(jax.vmap(jax.grad(single, argnums=(0, 1, 2, 3)),
                              in_axes=(None,) * 4 + (0, 0)))
        g_ps = ps(*jw, jx, jy)
        _, cc_ps = fn.value_and_grad(*weights, x, y)
        assert np.allclose(np.asarray(g_ps[0]), cc_ps[0], rtol=1e-9, atol=1e-12)
        per_sample = [
            ("chaincc per-sample value_and_grad",
             median_time(lambda: fn.value_and_grad(*weights, x, y), args.repeats)),
            ("JAX jit(vmap(grad))",
             median_time(lambda: jax.block_until_ready(ps(*jw, jx, jy)), args.repeats))]
    except ImportError:
        rows.append(("JAX (not installed)", float("nan")))

    print(f"10→5→2 ReLU MLP, MSE, {n:,} samples, float64, {threads} threads, "
          f"median of {args.repeats}")
    print(f"chaincc: {ops['forward']} forward ops, {ops['value_and_grad']} value+grad ops "
          f"per sample; compile {compile_reduce:.2f} s (parse → adjoint → Numba, reduce "
          f"kernel), +{compile_batch:.2f} s for the per-sample kernel")
    print(f"\n{'batch-mean loss, value + gradient':<44} {'ms':>8} {'chaincc speed-up':>17}")
    for label, t in rows:
        print(f"{label:<44} {t * 1e3:>8.1f} {t / t_cc:>16.2f}x")
    if per_sample:
        print(f"\n{'per-sample gradients':<44} {'ms':>8} {'chaincc speed-up':>17}")
        base = per_sample[0][1]
        for label, t in per_sample:
            print(f"{label:<44} {t * 1e3:>8.1f} {t / base:>16.2f}x")


if __name__ == "__main__":
    main()
