"""The compiler's pipeline, one value per stage::

    text -parse-> Module -lower-> forward Program -adjoint-> fused Program

Backends (Numba, LLVM, C, CUDA) take it from there.
"""

from __future__ import annotations

from dataclasses import dataclass

from .adjoint import jacobian, value_and_grad
from .ir import Program
from .optimize import count_ops
from .source import Source


@dataclass(frozen=True)
class Compiled:
    """One function's programs: the forward pass and the fused value-and-gradient."""

    forward: Program
    fused: Program

    def op_counts(self) -> dict[str, int]:
        return {"forward": count_ops(self.forward), "value_and_grad": count_ops(self.fused)}


def differentiate(fwd: Program) -> Compiled:
    """The fused program: value and gradient, or for a vector-valued function value and
    Jacobian."""
    if fwd.output("value").shape:
        return Compiled(fwd, jacobian(fwd))
    return Compiled(fwd, value_and_grad(fwd))


def pipeline(src: Source) -> list[Compiled]:
    """Parse, lower and differentiate every function of a source."""
    from .lower import lower_module
    from .parser import parse
    return [differentiate(f) for f in lower_module(parse(src), src)]
