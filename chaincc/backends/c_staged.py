"""Batch loops in stages, so that the arithmetic between libm calls vectorises.

Without ``-ffast-math`` a C compiler vectorises no call to ``exp``, ``log`` or ``tanh``,
and a loop with one such call in it is not vectorised at all: every division and multiply
of the gradient then runs one point at a time. So when a program calls libm, its batch
loop walks the points in blocks of ``BLOCK`` and, within a block, runs one loop per stage:
arithmetic stages (vectorised) alternate with call stages (scalar), each statement in the
earliest stage its operands allow. A value used in a later stage than its own lives in a
block-sized array on the stack; everything else stays a local. Each point still gets the
same operations in the same order, so the results are bit for bit those of the scalar
functions; only the schedule changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sympy as sp

from ..ir import Program
from ..ops import LIBM_CALLS
from .printer import Printer

BLOCK = 64
MAX_ARRAYS = 96            # 96 arrays of 64 doubles: 48 KiB of stack per thread at most
# libm functions the printers emit that compile to calls (the registry's, ops.py; fabs,
# floor and ceil are instructions, or at least vectorise)
CALLS = LIBM_CALLS - {"fabs", "floor", "ceil"}
_CALL = re.compile(r"\b([a-z][a-z0-9]*)\(")


def _calls(text: str) -> bool:
    return any(m.group(1) in CALLS for m in _CALL.finditer(text))


def staged_loop(prog: Program, temps: dict[sp.Symbol, str],
                inputs: list[tuple[sp.Symbol, str]], stores: list[tuple[str, sp.Expr]],
                count: str, printer: Callable[[dict], Printer], labels: dict[sp.Symbol, str],
                indent: str = "    ") -> list[str] | None:
    """The staged loop over ``count`` points, or None where it would not pay (no call, or
    more block arrays than ``MAX_ARRAYS``).

    ``inputs`` pairs each input symbol the program uses with the C expression that reads
    it at point ``_i``; ``stores`` pairs each output lvalue (at point ``_i``) with the
    operand it takes.
    """
    probe = printer({**temps, **{s: "_" for s, _ in inputs}})
    texts = {a.target: probe.expr(a.expr) for a in prog.body}
    if not any(_calls(t) for t in texts.values()):
        return None
    # calls as early as their operands allow (fewest stages), then arithmetic as late as
    # its readers allow (fewest values carried from stage to stage in arrays)
    stage: dict[sp.Basic, int] = {}
    call = {a.target: _calls(texts[a.target]) for a in prog.body}
    readers: dict[sp.Basic, list[sp.Basic]] = {a.target: [] for a in prog.body}
    for a in prog.body:
        base = max((stage.get(s, 0) for s in a.expr.free_symbols), default=0)
        stage[a.target] = base if (base % 2 == 1) == call[a.target] else base + 1
        for s in a.expr.free_symbols:
            if s in readers:
                readers[s].append(a.target)
    for a in reversed(prog.body):
        t = a.target
        if not call[t] and readers[t]:
            stage[t] = min(stage[r] - (1 if call[r] else 0) for r in readers[t])
    # where each temporary is read: by statements, and by the stores (which go in the stage
    # of their operand)
    reads: dict[sp.Basic, set[int]] = {a.target: set() for a in prog.body}
    for a in prog.body:
        for s in a.expr.free_symbols:
            if s in reads:
                reads[s].add(stage[a.target])
    store_stage = [stage.get(e, 0) for _, e in stores]
    for (_, e), k in zip(stores, store_stage):
        if e in reads:
            reads[e].add(k)
    arrays = [a.target for a in prog.body if reads[a.target] - {stage[a.target]}]
    if len(arrays) > MAX_ARRAYS:
        return None
    in_arrays = set(arrays)
    names = {**temps, **{s: f"{temps[s]}[_j]" for s in arrays}}
    loads = dict(inputs)
    index = {s: k for k, s in enumerate(prog.input_symbols)}
    input_names = {s: f"_p{index[s]}" for s, _ in inputs}
    pr = printer({**names, **input_names})
    i0, i1, i2 = indent, indent * 2, indent * 3
    lines = [f"{i1}const ptrdiff_t _m = _n - _b < {BLOCK} ? _n - _b : {BLOCK};"]
    if arrays:
        lines.append(f"{i1}double {', '.join(f'{temps[s]}[{BLOCK}]' for s in arrays)};")
    for k in range(max(stage.values()) + 1):
        body = [a for a in prog.body if stage[a.target] == k]
        mine = [(lv, e) for (lv, e), sk in zip(stores, store_stage) if sk == k]
        if not body and not mine:
            continue
        need = {s for a in body for s in a.expr.free_symbols if s in loads}
        need |= {e for _, e in mine if e in loads}
        code = []
        for a in body:
            note = f"  /* {labels[a.target]} */" if a.target in labels else ""
            lhs = names[a.target]
            if a.target not in in_arrays:
                lhs = "const double " + lhs
            code.append(f"{i2}{lhs} = {pr.expr(a.expr)};{note}")
        code += [f"{i2}{lv} = {pr.operand(e)};" for lv, e in mine]
        head = [f"{i2}const double {input_names[s]} = {loads[s]};"
                for s, _ in inputs if s in need]
        if any(re.search(r"\b_i\b", line) for line in head + code):
            head.insert(0, f"{i2}const ptrdiff_t _i = _b + _j;")
        kind = "libm calls" if k % 2 else "arithmetic, vectorisable"
        lines += [f"{i1}for (ptrdiff_t _j = 0; _j < _m; ++_j) {{  /* {kind} */",
                  *head, *code, f"{i1}}}"]
    return [f"{i0}const ptrdiff_t _n = (ptrdiff_t){count};",
            "#ifdef _OPENMP",
            "#pragma omp parallel for schedule(static)",
            "#endif",
            f"{i0}for (ptrdiff_t _b = 0; _b < _n; _b += {BLOCK}) {{",
            *lines,
            f"{i0}}}"]
