"""The outputs of a vector-valued function one at a time: each element of the value as a
scalar Program of its own (for ``explain``), the index a user gives for one (``--output
i``, ``output=(i, j)``), and the explanation of several outputs laid out together.

Row ``g[i]`` of the Jacobian is the gradient of the scalar function ``g[i]``, so the
chain rule of a vector-valued function is the chain rule of each output on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

from .diagnostics import ChainccError
from .ir import Output, Program

SHOWN_OUTPUTS = 3      # a summarised explanation shows the chain rule of this many outputs
LISTED_PARAMS = 10     # parameters named in the heading before "..."

Index = tuple[int, ...]


def label(name: str, index: Index) -> str:
    """``g[0]``, ``g[1,2]``: how an output is named in explanations."""
    return f"{name}[{','.join(map(str, index))}]"


def indices(shape: tuple[int, ...]) -> list[Index]:
    """Every output's index, row-major."""
    return [tuple(int(i) for i in idx) for idx in np.ndindex(*shape)]


def output_index(name: str, shape: tuple[int, ...], output: object) -> Index:
    """``output`` (a flat index, or one index per axis) as an index into the value, or a
    ChainccError saying which ones there are."""
    n = math.prod(shape)
    last = label(name, tuple(d - 1 for d in shape))
    where = (f"{name} has {n} output{'s' if n != 1 else ''}, {label(name, (0,) * len(shape))}"
             f" to {last}")
    if len(shape) > 1:
        where += f" (give a flat index 0 to {n - 1}, or {len(shape)} indices)"
    if isinstance(output, (int, np.integer)) and not isinstance(output, bool):
        k = int(output)
        if not 0 <= k < n:
            raise ChainccError(f"output {k} is out of range: {where}")
        return tuple(int(i) for i in np.unravel_index(k, shape))
    if isinstance(output, Sequence) and not isinstance(output, str) and all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in output):
        idx = tuple(int(i) for i in output)
        if len(idx) == 1 and len(shape) > 1:
            return output_index(name, shape, idx[0])
        if len(idx) != len(shape) or not all(0 <= i < d for i, d in zip(idx, shape)):
            raise ChainccError(f"output {list(idx)} is out of range: {where}")
        return idx
    raise ChainccError(f"an output is picked by a whole number or a tuple of them, "
                       f"not {output!r}: {where}")


def element_program(prog: Program, index: Index) -> Program:
    """Output ``index`` of a vector-valued Program as a scalar Program named like
    ``g[0]``, with only the statements that output needs."""
    value = prog.output("value")
    expr = value.exprs[int(np.ravel_multi_index(index, value.shape))]
    live: set[sp.Basic] = {expr} if isinstance(expr, sp.Symbol) else set()
    if prog.has_loops:
        from .ir import defined
        from .optimize import prune
        body = prune(prog.body, live)
        names = defined(body)
        return Program(label(prog.name, index), prog.params, body,
                       (Output("value", (), (expr,)),), prog.line,
                       tuple((s, n) for s, n in prog.labels if s in names), prog.buffers)
    kept = []
    for a in reversed(prog.body):
        if a.target in live:
            kept.append(a)
            live.update(a.expr.free_symbols)
    kept.reverse()
    defined = {a.target for a in kept}
    return Program(label(prog.name, index), prog.params, tuple(kept),
                   (Output("value", (), (expr,)),), prog.line,
                   tuple((s, n) for s, n in prog.labels if s in defined))


Explain = Callable[..., str]


def explain_outputs(prog: Program, at: dict | None, format: str, full: bool,
                    reserved: frozenset[str], output: object, explain_one: Explain) -> str:
    """The chain rule of a vector-valued function, output by output: a heading, then
    each shown output's explanation (``explain_one`` on its scalar Program)."""
    shape = prog.output("value").shape
    every = indices(shape)
    n = len(every)
    if output is not None:
        shown = [output_index(prog.name, shape, output)]
    elif full or n <= SHOWN_OUTPUTS + 1:
        shown = every
    else:
        shown = every[:SHOWN_OUTPUTS]
    params = [p.name for p in prog.params]
    if len(params) > LISTED_PARAMS:
        params = params[:LISTED_PARAMS - 1] + ["..."]
    first, last = label(prog.name, every[0]), label(prog.name, every[-1])
    times = "x" if format == "ascii" else "×"
    dims = f", a {times.join(map(str, shape))} array" if len(shape) > 1 else ""
    intro = (f"{prog.name}({', '.join(params)}) is vector-valued, with {n} outputs {first} "
             f"to {last}{dims}: the chain rule of each output on its own (the gradient of "
             f"an output is its row of the Jacobian)")
    notes = []
    if output is not None:
        notes.append(f"output {label(prog.name, shown[0])} only")
    elif len(shown) < n:
        notes.append(f"the first {len(shown)} outputs are shown: output=i or --output i "
                     f"shows output i (0 to {n - 1}), full=True or --full shows all {n}")
    parts = [(label(prog.name, idx), explain_one(element_program(prog, idx), at, format,
                                                 full, reserved))
             for idx in shown]
    more = n - len(shown) if output is None else 0
    return _layout(format, intro, notes, parts, more, every.index(shown[0]) if output
                   is not None else 0, n)


def _layout(format: str, intro: str, notes: list[str], parts: list[tuple[str, str]],
            more: int, offset: int, n: int) -> str:
    dots = "..." if format == "ascii" else "…"
    if format == "latex":
        lines = [f"% {intro}", *(f"% {note}" for note in notes)]
        for k, (name, text) in enumerate(parts):
            lines += [f"% output {name} ({offset + k + 1} of {n})", text.rstrip("\n")]
        if more:
            lines.append(f"% {dots} {more} more outputs {dots}")
        return "\n".join(lines) + "\n"
    if format == "markdown":
        lines = [f"# {intro}", *(["", *(f"*{note}*" for note in notes)] if notes else [])]
        for k, (name, text) in enumerate(parts):
            lines += ["", f"<!-- output {name} ({offset + k + 1} of {n}) -->",
                      text.rstrip("\n")]
        if more:
            lines += ["", f"*{dots} {more} more outputs {dots}*"]
        return "\n".join(lines) + "\n"
    rule = "==" if format == "ascii" else "══"
    lines = [intro, *notes]
    for k, (name, text) in enumerate(parts):
        lines += ["", f"{rule} output {name} ({offset + k + 1} of {n}) {rule}",
                  text.rstrip("\n")]
    if more:
        lines += ["", f"{dots} {more} more outputs {dots}"]
    return "\n".join(lines) + "\n"
