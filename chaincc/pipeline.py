"""The compiler's pipeline, one value per stage::

    text -parse-> Module -lower-> forward Program -adjoint-> fused Program

Backends (Numba, LLVM, C, CUDA) take it from there.
"""

from __future__ import annotations

from . import progress
from .adjoint import jacobian, value_and_grad
from .diagnostics import SourceWarning, in_order
from .ir import Program
from .optimize import count_ops
from .source import Source


class Compiled:
    """One function's programs: the forward pass and the fused value-and-gradient.

    The fused program is made on first use: every function of a source is lowered (and so
    checked), but only those that are run, printed or counted are differentiated, so a
    file of many functions costs what its used functions cost.
    """

    __slots__ = ("forward", "_fused")

    def __init__(self, forward: Program, fused: Program | None = None) -> None:
        self.forward = forward
        self._fused = fused

    @property
    def fused(self) -> Program:
        if self._fused is None:
            fwd = self.forward
            self._fused = jacobian(fwd) if fwd.output("value").shape else value_and_grad(fwd)
        return self._fused

    def op_counts(self) -> dict[str, int]:
        return {"forward": count_ops(self.forward), "value_and_grad": count_ops(self.fused)}


def differentiate(fwd: Program) -> Compiled:
    """The fused program: value and gradient, or for a vector-valued function value and
    Jacobian (made when first asked for)."""
    return Compiled(fwd)


def pipeline(src: Source, warnings: list[SourceWarning] | None = None) -> list[Compiled]:
    """Parse and lower every function of a source; each is differentiated on first use.
    ``warnings``, when given, receives the source's warnings (from parsing and lowering),
    each once, in source order."""
    from .lower import lower_module
    from .parser import parse
    with progress.stage(progress.PARSE, 1):
        module = parse(src)
    found = list(module.warnings)
    compiled = [differentiate(f) for f in lower_module(module, src, found)]
    if warnings is not None:
        warnings.extend(in_order(found))
    return compiled
