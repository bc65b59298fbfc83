"""Training the 10→5→2 ReLU MLP of samples/mlp.txt with ``torch.optim.SGD`` through
``chaincc.torch.function``, checked step by step against plain PyTorch autograd.

The network is the one PyTorch teaching texts build with ``nn.Linear(10, 5)``, ReLU,
``nn.Linear(5, 2)`` and ``nn.MSELoss``. Its loss is written once in samples/mlp.txt; the
bridge makes it an autograd operation whose forward pass runs chaincc's fused
value-and-gradient kernel over the batch (``reduce="mean"``: the batch-mean loss and the
weights' gradients in one kernel call) and whose backward pass hands those gradients to
PyTorch. The same model written with ``torch.nn`` trains beside it from the same
weights; at every step the loss and every gradient must agree to 1e-12.

    .venv/bin/python examples/train_mlp_torch.py [--steps 20] [--batch 1000] [--lr 0.1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

import chaincc
import chaincc.torch

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "mlp.txt"
TOLERANCE = 1e-12


class TorchNet(nn.Module):
    """The MLP in PyTorch: Linear(10, 5), ReLU, Linear(5, 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(10, 5, dtype=torch.float64)
        self.fc2 = nn.Linear(5, 2, dtype=torch.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


class ChainccNet(nn.Module):
    """The same MLP and its mean squared error as one chaincc operation; its weights are
    ordinary ``nn.Linear`` parameters, so any PyTorch optimiser trains them."""

    def __init__(self, loss: chaincc.torch.TorchFunction) -> None:
        super().__init__()
        self.fc1 = nn.Linear(10, 5, dtype=torch.float64)
        self.fc2 = nn.Linear(5, 2, dtype=torch.float64)
        self.loss = loss

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss(self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias,
                         x, y)


def make_data(batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (batch × 10) and targets (batch × 2) from a fixed smooth rule plus noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 10, generator=g, dtype=torch.float64)
    mix = torch.randn(10, 2, generator=g, dtype=torch.float64) / 3
    y = torch.tanh(x @ mix) + 0.05 * torch.randn(batch, 2, generator=g, dtype=torch.float64)
    return x, y


def train(steps: int = 20, batch: int = 1000, lr: float = 0.1, quiet: bool = False) -> float:
    """Train both models side by side; returns the largest difference seen in the loss
    or any gradient (an AssertionError if one exceeds 1e-12)."""
    torch.manual_seed(0)
    fn = chaincc.compile(SAMPLE)
    ours = ChainccNet(chaincc.torch.function(fn, reduce="mean"))
    ref = TorchNet()
    ours.load_state_dict(ref.state_dict())            # the same starting weights
    x, y = make_data(batch)
    mse = nn.MSELoss()
    opt_ours = torch.optim.SGD(ours.parameters(), lr=lr)
    opt_ref = torch.optim.SGD(ref.parameters(), lr=lr)
    worst = 0.0
    if not quiet:
        print(f"{'step':>4}  {'chaincc loss':>22}  {'PyTorch loss':>22}  {'|Δloss|':>8}  "
              f"{'max |Δgrad|':>11}")
    for step in range(steps):
        opt_ours.zero_grad()
        opt_ref.zero_grad()
        loss = ours(x, y)
        loss.backward()
        ref_loss = mse(ref(x), y)
        ref_loss.backward()
        dloss = abs(loss.item() - ref_loss.item())
        dgrad = max((a.grad - b.grad).abs().max().item()
                    for a, b in zip(ours.parameters(), ref.parameters()))
        if not quiet:
            print(f"{step:>4}  {loss.item():>22.17g}  {ref_loss.item():>22.17g}  "
                  f"{dloss:>8.1e}  {dgrad:>11.1e}")
        assert dloss <= TOLERANCE and dgrad <= TOLERANCE, \
            f"step {step}: the loss differs by {dloss:.3g}, a gradient by {dgrad:.3g}"
        worst = max(worst, dloss, dgrad)
        opt_ours.step()
        opt_ref.step()
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=0.1)
    args = ap.parse_args()
    worst = train(args.steps, args.batch, args.lr)
    print(f"largest difference from PyTorch autograd over {args.steps} steps: {worst:.1e} "
          f"(tolerance {TOLERANCE:g})")


if __name__ == "__main__":
    main()
