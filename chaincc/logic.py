"""Conditions with IEEE meaning. A comparison with NaN is false (``!=`` is true), so
``not (x > 0)`` is not ``x <= 0`` and ``x > 0 or x <= 0`` is not always true. SymPy's own
``Not`` and ``Or`` make exactly those rewrites; these subclasses keep what was written (the
printers and evaluators see them as ``Not`` and ``Or``). SymPy's ``And`` is kept: the only
rewrite it makes (a comparison and its negation together are false) holds for NaN too.
"""

from __future__ import annotations

import sympy as sp
from sympy.core.operations import LatticeOp


class Not(sp.Not):
    """Logical negation that never turns ``not (a > b)`` into ``a <= b``."""

    @classmethod
    def eval(cls, arg):
        if arg is sp.true:
            return sp.false
        if arg is sp.false:
            return sp.true
        return None


class Or(sp.Or):
    """Disjunction that drops only the constants false (and short-circuits on true)."""

    @classmethod
    def _new_args_filter(cls, args):
        return LatticeOp._new_args_filter(args, cls)


def conjunction(a: sp.Basic | None, b: sp.Basic) -> sp.Basic:
    """``a and b``, where None stands for a condition that always holds."""
    return b if a is None else sp.And(a, b)
