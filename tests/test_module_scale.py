"""A source of many functions costs what its used functions cost: a chain of functions,
each calling the one before, lowers in linear work (a helper's lowered body is shared by
every caller with the same arguments), and only the functions that are run are
differentiated. Work is counted here, not timed (benchmarks/bench_compile_growth.py
times it)."""

from __future__ import annotations

import math

import chaincc
from chaincc.lower import Lowerer
from chaincc.parser import parse
from chaincc.source import Source


def chain(k: int) -> str:
    lines = ["f0(x) = x + 1"] + [f"f{i}(x) = f{i - 1}(x)·2 + sin(x)" for i in range(1, k)]
    return "\n".join(lines) + "\n"


def _statements_made(k: int) -> int:
    src = Source("chain.txt", chain(k))
    module = parse(src)
    lw = Lowerer(module, src)
    for i, st in enumerate(module.statements):
        lw.lower_function(i, st)
    return lw.builder.counter


def test_a_chain_of_functions_lowers_in_linear_work():
    # each function adds its own few statements; inlining anew would make k²/2
    small, big = _statements_made(100), _statements_made(400)
    assert big <= 4 * small + 10
    assert big <= 5 * 400


def test_only_used_functions_are_differentiated():
    fn = chaincc.compile(chain(300))
    x = 0.5
    want = 1.5                                  # f0, then f_i = 2 f_{i-1} + sin x
    dwant = 1.0
    for _ in range(1, 300):
        want, dwant = 2 * want + math.sin(x), 2 * dwant + math.cos(x)
    value, (grad,) = fn.value_and_grad(x)
    assert math.isclose(value, want, rel_tol=1e-12)
    assert math.isclose(grad, dwant, rel_tol=1e-12)
    compiled = fn.unit.compiled
    assert compiled[-1]._fused is not None
    assert all(c._fused is None for c in compiled[:-1])
    # another function of the same source is differentiated when it is asked for
    assert chaincc.compile(chain(300), entry="f3").grad(x)[0] == \
        8 + 4 * math.cos(x) + 2 * math.cos(x) + math.cos(x)
