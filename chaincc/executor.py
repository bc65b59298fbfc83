"""What a target implements: running a kernel.

Every compiled function, on every target, is called through one calling convention
(``frontend.py``: binding, checking and converting arguments, broadcasting, ``out=``,
``reduce=``, shaping results). It hands a target's :class:`Executor` a program kind and
a prepared :class:`~chaincc.calling.Call`, and the executor runs the kernel:

- ``point(kind, call)``: one evaluation (no batch dimensions); the outputs' values,
  flat, output after output;
- ``points(kind, call, targets)``: every output at ``call.n`` points, one flat array per
  output (n × its size values, point after point), written into ``targets[i]`` where
  that is not None;
- ``sum(kind, call)``: every output summed over the points, as one float64 array.

The program kinds are ``value`` (the forward program), ``vg`` (the fused value and
gradient, or value and Jacobian for an array value), ``vjp``, ``hessian``, ``hvp``,
``jvp`` (forward mode along a direction) and ``jacfwd`` (the Jacobian by forward mode);
``vg@0,2`` (``with_wrt``) differentiates with respect to parameters 0 and 2 only, on a
target that ``specialises``.
``kinds`` is the set a target runs; asking a function for anything else raises
:class:`UnsupportedOperation`, from :func:`require` alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .calling import Call
from .diagnostics import ChainccError
from .lazy_numpy import np

KINDS = ("value", "vg", "vjp", "hessian", "hvp", "jvp", "jacfwd")

# the methods of a compiled function that need each program kind
_METHODS = {"value": "the value", "vg": "value_and_grad, grad and jacobian",
            "vjp": "vjp", "hessian": "hessian", "hvp": "hvp", "jvp": "jvp",
            "jacfwd": "jacobian(mode='forward')"}


class UnsupportedOperation(ChainccError, NotImplementedError):
    """A compiled function was asked for an operation its target does not run."""


class Executor(Protocol):
    """Runs one compiled function's kernels on one target."""

    target: str                      # "cpu", "c", "cuda"
    dtype: np.dtype                  # what kernels compute in and array results come in
    kinds: frozenset[str]            # the program kinds this target runs

    def device_view(self, value: object) -> object | None:
        """``value`` as a C-contiguous device array if it lives on this target's device
        (in place, no copy), else None."""

    def point(self, kind: str, call: Call) -> Sequence[float]:
        """One evaluation's outputs, flat."""

    def points(self, kind: str, call: Call, targets: list) -> list:
        """Each output at every point: flat arrays, ``targets[i]`` filled where given."""

    def sum(self, kind: str, call: Call) -> np.ndarray:
        """The outputs summed over the points: float64, flat over all outputs."""


def with_wrt(kind: str, wrt: tuple[int, ...] | None) -> str:
    """The program kind that differentiates only with respect to the parameters at
    indices ``wrt`` (in that order): ``vg@0,2``; ``kind`` itself for None."""
    return kind if wrt is None else f"{kind}@{','.join(map(str, wrt))}"


def split_kind(kind: str) -> tuple[str, tuple[int, ...] | None]:
    """(base kind, parameter indices or None) of a program kind."""
    base, at, rest = kind.partition("@")
    return base, (tuple(int(i) for i in rest.split(",")) if at else None)


def require(executor: Executor, kind: str, op: str, fname: str) -> None:
    """Raise UnsupportedOperation unless ``executor`` runs ``kind`` (for ``op``, a
    method of the compiled function ``fname``): the one place a target says what it
    lacks."""
    base, wrt = split_kind(kind)
    assert base in KINDS, kind
    if wrt is not None and not getattr(executor, "specialises", False):
        raise UnsupportedOperation(
            f"{fname}.{op}(wrt=...) is not available with target={executor.target!r}: "
            f"derivatives with respect to some parameters only run on the CPU "
            f"(chaincc.compile(source, wrt=[...]))")
    if base in executor.kinds:
        return
    runs = ", ".join(_METHODS[k] for k in KINDS if k in executor.kinds)
    raise UnsupportedOperation(
        f"{fname}.{op}() is not available with target={executor.target!r}, which runs "
        f"{runs}; compile for the CPU (chaincc.compile(source)) to use {op}")
