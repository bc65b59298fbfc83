"""The Program: the assign-once IR that every backend reads.

A program is straight-line code (``Assign``) with structured loops (``Loop``): a loop
runs its body once per index value, carrying values from one iteration to the next
(``Carry``), and reads and writes array elements (``Read``, ``Write``) of the parameters,
of the outputs and of per-point scratch buffers (``Program.buffers``) at integer indices
affine in the loop indices (``Affine``). Symbols are unique in a program: a symbol
assigned in a loop body is visible in that body (and the loops inside it) only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp


@dataclass(frozen=True)
class Param:
    name: str                       # the user's name
    shape: tuple[int, ...]          # () for a scalar
    symbols: tuple[sp.Symbol, ...]  # one per element, row-major

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class Assign:
    target: sp.Symbol
    expr: sp.Expr                   # one operation over symbols and numbers


@dataclass(frozen=True)
class Affine:
    """An integer ``const + Σ coeff·index``: an array element's flat index, or a loop
    bound, in the indices of the loops around it."""

    const: int
    terms: tuple[tuple[int, sp.Symbol], ...] = ()

    @staticmethod
    def of(x: int | sp.Symbol) -> Affine:
        return Affine(x) if isinstance(x, int) else Affine(0, ((1, x),))

    def __add__(self, other: Affine | int) -> Affine:
        o = other if isinstance(other, Affine) else Affine(int(other))
        coeffs: dict[sp.Symbol, int] = {}
        for c, v in self.terms + o.terms:
            coeffs[v] = coeffs.get(v, 0) + c
        return Affine(self.const + o.const,
                      tuple((c, v) for v, c in coeffs.items() if c))

    def scale(self, k: int) -> Affine:
        return Affine(self.const * k, tuple((c * k, v) for c, v in self.terms if c * k))

    @property
    def constant(self) -> int | None:
        return None if self.terms else self.const

    def symbols(self) -> set[sp.Symbol]:
        return {v for _, v in self.terms}

    def bounds(self, ranges: dict[sp.Symbol, tuple[int, int]]) -> tuple[int, int]:
        """The least and greatest value over ``ranges`` (each index's first and last)."""
        lo = hi = self.const
        for c, v in self.terms:
            vlo, vhi = ranges[v]
            lo += min(c * vlo, c * vhi)
            hi += max(c * vlo, c * vhi)
        return lo, hi

    def text(self) -> str:
        parts = [f"{c}*{v}" if c != 1 else str(v) for c, v in self.terms]
        if self.const or not parts:
            parts.append(str(self.const))
        return " + ".join(parts)


def output_array(name: str) -> str:
    """The array name by which Reads and Writes refer to output ``name``: outputs are
    named apart from parameters (a parameter may be called ``value`` or ``grad_x``) and
    buffers (whose names start with ``_`` followed by a letter and digits)."""
    return f"_out_{name}"


@dataclass(frozen=True)
class Read:
    """``target = array[index]``: ``array`` names a parameter (its name), an output
    (``output_array(name)``) or a buffer (its name)."""

    target: sp.Symbol
    array: str
    index: Affine


@dataclass(frozen=True)
class Write:
    """``array[index] = value`` (``add``: ``+=``) into an output or a buffer."""

    array: str
    index: Affine
    value: sp.Expr                  # a symbol or a number
    add: bool = False


@dataclass(frozen=True)
class Carry:
    """A value carried through a loop: ``var`` is it in the body, ``init`` before the
    first iteration, ``next`` (computed by the body) the value for the next iteration,
    and ``out`` the value after the last (``init`` when the loop runs no iteration)."""

    var: sp.Symbol
    init: sp.Expr
    next: sp.Expr
    out: sp.Symbol


@dataclass(frozen=True)
class Loop:
    """``for index = start .. stop-1`` (``reverse``: from stop-1 down to start).

    ``until``: a boolean the body computes; when it holds at the end of an iteration
    (after the carried values took their next values), the loop ends there. A loop with
    ``until`` computes a fixed point: its carried values' derivatives are those of the
    solution (the implicit function theorem), not of the iterations."""

    index: sp.Symbol
    start: Affine
    stop: Affine
    carries: tuple[Carry, ...]
    body: tuple[Statement, ...]
    reverse: bool = False
    until: sp.Basic | None = None
    tol: float | None = None        # a fixed point's tolerance (its derivatives' solves use it)


Statement = Assign | Read | Write | Loop


@dataclass(frozen=True)
class Buffer:
    """Per-point scratch memory of ``size`` float64 elements (a loop's tape)."""

    name: str
    size: int


@dataclass(frozen=True)
class Output:
    name: str                       # "value", "grad_x", ...
    shape: tuple[int, ...]
    exprs: tuple[sp.Expr, ...]      # symbols or numbers, row-major
    written: bool = False           # exprs is empty: the program's Writes fill it


@dataclass(frozen=True)
class Program:
    name: str
    params: tuple[Param, ...]
    body: tuple[Statement, ...]
    outputs: tuple[Output, ...]
    line: int = 0                   # source line of the definition
    labels: tuple[tuple[sp.Symbol, str], ...] = field(default=())  # user names of temps
    buffers: tuple[Buffer, ...] = ()

    @property
    def has_loops(self) -> bool:
        return any(not isinstance(s, Assign) for s in self.body)

    @property
    def input_symbols(self) -> tuple[sp.Symbol, ...]:
        return tuple(s for p in self.params for s in p.symbols)

    def output(self, name: str) -> Output:
        for o in self.outputs:
            if o.name == name:
                return o
        raise KeyError(name)

    def dump(self) -> str:
        """Stable text of the program, for golden tests and ``--emit ir``."""
        def shape(s: tuple[int, ...]) -> str:
            return "[" + ",".join(map(str, s)) + "]" if s else ""
        ps = ", ".join(p.name + shape(p.shape) for p in self.params)
        lines = [f"program {self.name}({ps})"]
        lines += [f"  buffer {b.name}[{b.size}]" for b in self.buffers]
        lines += statement_lines(self.body, "  ")
        for o in self.outputs:
            if o.written:
                lines.append(f"  out {o.name}{shape(o.shape)} written")
                continue
            vals = ", ".join(expr_text(e) for e in o.exprs)
            lines.append(f"  out {o.name}{shape(o.shape)} = {vals}")
        return "\n".join(lines) + "\n"


def statement_lines(body: tuple[Statement, ...], indent: str) -> list[str]:
    """The text of statements, loops indented (iteratively: nesting is bounded by the
    language, but no walk here needs the recursion limit)."""
    out: list[str] = []
    stack: list[tuple[str, object]] = [("stmts", (body, indent))]
    while stack:
        kind, item = stack.pop()
        if kind == "line":
            out.append(item)                                        # type: ignore[arg-type]
            continue
        stmts, ind = item                                           # type: ignore[misc]
        todo: list[tuple[str, object]] = []
        for s in stmts:
            if isinstance(s, Assign):
                todo.append(("line", f"{ind}{s.target} = {expr_text(s.expr)}"))
            elif isinstance(s, Read):
                todo.append(("line", f"{ind}{s.target} = {s.array}[{s.index.text()}]"))
            elif isinstance(s, Write):
                todo.append(("line", f"{ind}{s.array}[{s.index.text()}] "
                                     f"{'+=' if s.add else '='} {expr_text(s.value)}"))
            else:
                carries = ", ".join(f"{c.var} = {expr_text(c.init)} -> {expr_text(c.next)}"
                                    f" -> {c.out}" for c in s.carries)
                way = "down " if s.reverse else ""
                until = f" until {expr_text(s.until)}" if s.until is not None else ""
                todo.append(("line", f"{ind}for {s.index} = {s.start.text()} .. "
                                     f"{s.stop.text()} - 1 {way}carry({carries}){until}:"))
                todo.append(("stmts", (s.body, ind + "  ")))
        stack.extend(reversed(todo))
    return out


def walk(body: tuple[Statement, ...]):
    """Every statement of a body and of the loops in it, outer before inner."""
    stack = list(reversed(body))
    while stack:
        s = stack.pop()
        yield s
        if isinstance(s, Loop):
            stack.extend(reversed(s.body))


def defined(body: tuple[Statement, ...]) -> set[sp.Symbol]:
    """The symbols a body (with its loops) defines."""
    out: set[sp.Symbol] = set()
    for s in walk(body):
        if isinstance(s, (Assign, Read)):
            out.add(s.target)
        elif isinstance(s, Loop):
            out.add(s.index)
            out.update(c.var for c in s.carries)
            out.update(c.out for c in s.carries)
    return out


def uses(s: Statement) -> set[sp.Basic]:
    """The symbols one statement reads (for a loop: everything its body reads from
    outside it, its bounds and its carries' initial values)."""
    if isinstance(s, Assign):
        return set(s.expr.free_symbols)
    if isinstance(s, Read):
        return s.index.symbols()
    if isinstance(s, Write):
        return s.index.symbols() | set(s.value.free_symbols)
    used: set[sp.Basic] = s.start.symbols() | s.stop.symbols()
    for c in s.carries:
        used |= c.init.free_symbols
    inner: set[sp.Basic] = set()
    for t in walk(s.body):
        if not isinstance(t, Loop):
            inner |= uses(t)
        else:
            inner |= t.start.symbols() | t.stop.symbols()
            for c in t.carries:
                inner |= c.init.free_symbols | c.next.free_symbols
    for c in s.carries:
        inner |= c.next.free_symbols
    if s.until is not None:
        inner |= s.until.free_symbols
    return used | (inner - defined(s.body) - {s.index} - {c.var for c in s.carries})


def expr_text(e: sp.Basic) -> str:
    """SymPy's text of an expression; a product with a NaN factor (which SymPy's printer
    cannot order) as the call it is."""
    try:
        return sp.sstr(e, order="none")
    except TypeError:
        return f"{type(e).__name__}({', '.join(expr_text(a) for a in e.args)})"
