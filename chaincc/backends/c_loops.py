"""C statements for programs with loops (``Loop``, ``Read``, ``Write``; chaincc/ir.py).

A loop is a ``for`` over a ``long`` index (``reverse``: counting down); its carried values
are variables declared in a block around it, updated at the end of each iteration from
their next values (each next value read before any carried value is overwritten), and
its results are assigned after it. A fixed point's loop (``until``) tests its condition
before the update and ends after it where the condition holds. Temporaries are declared
in the block of the body that computes them, so a symbol computed again in a sibling
loop (as a reverse loop recomputes its forward loop) is a new variable of that loop.
Array elements are indexed with their affine index; the per-call scratch memory that
holds the program's buffers is one block of doubles (``SCRATCH``), the buffers one after
another.

What no output needs is not printed (``LoopWriter._plan``): C compilers warn about unused
variables, and the C files' users build with warnings as errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp

from ..ir import Affine, Assign, Carry, Loop, Program, Read, Statement, Write, walk
from .printer import Printer

INDENT = "    "
SCRATCH = "_scratch"
# A run of at least this many stores of one number into consecutive elements (zeroing an
# adjoint array) is printed as a loop, so that the code does not grow with the array.
WRITE_RUN = 4
_KEPT = re.compile(r"_[tcroi]\d+\Z")     # _t12, _r4, _c2, _o8, _i1: printed as they are
_NUMBERED = re.compile(r"_[A-Za-z]+(\d+)\Z")


@dataclass(frozen=True)
class Array:
    """Where an array's elements are: element k of it is ``pointer[offset + k]``, the
    offset ``const + Σ coeff·name`` over integer C names (the batch loop's point)."""

    pointer: str
    terms: tuple[tuple[int, str], ...] = ()
    const: int = 0
    scalar: bool = False            # a scalar variable, not a pointer: element 0 only


def index_text(terms: tuple[tuple[int, str], ...], const: int) -> str:
    """``3 * _i + _i1 - 1``: an integer expression of (coefficient, name) terms."""
    out = ""
    for c, name in terms:
        if c == 0:
            continue
        mag = name if abs(c) == 1 else f"{abs(c)} * {name}"
        out = (f"-{mag}" if c < 0 else mag) if not out else \
            f"{out} {'-' if c < 0 else '+'} {mag}"
    if not out:
        return str(const)
    return out if not const else f"{out} {'-' if const < 0 else '+'} {abs(const)}"


def symbol_names(prog: Program) -> dict[sp.Symbol, str]:
    """C names of the symbols a program defines (temporaries, loop indices, carried
    values, loop results): chaincc's own names where they are plain (``_t12``), else
    ``_v`` and a number."""
    names: dict[sp.Symbol, str] = {}

    def name(s: sp.Symbol) -> None:
        if s not in names:
            names[s] = s.name if _KEPT.match(s.name) else f"_v{len(names)}"

    for s in walk(prog.body):
        if isinstance(s, (Assign, Read)):
            name(s.target)
        elif isinstance(s, Loop):
            name(s.index)
            for c in s.carries:
                name(c.var)
                name(c.out)
    return names


def fresh_counter(prog: Program) -> int:
    """A number above every number in the program's symbol names, for new loop
    indices."""
    top = 0
    for s in walk(prog.body):
        syms: set[sp.Basic] = set()
        if isinstance(s, (Assign, Read)):
            syms = {s.target}
        elif isinstance(s, Loop):
            syms = {s.index, *(c.var for c in s.carries), *(c.out for c in s.carries)}
        for v in syms:
            m = _NUMBERED.match(v.name)
            if m:
                top = max(top, int(m.group(1)))
    return top + 1


# -- what is printed -----------------------------------------------------------------------
@dataclass
class LoopNode:
    """A loop as printed: the carried values something needs, which of their results
    are read after it, which carried values nothing reads, and the body's nodes."""

    loop: Loop
    carries: tuple[Carry, ...]
    results: frozenset[sp.Basic]
    unread: frozenset[sp.Basic]
    body: list


def _symbols(e: sp.Basic) -> set[sp.Basic]:
    return set(e.free_symbols) if isinstance(e, sp.Basic) else set()


def _mentioned(body: tuple[Statement, ...]) -> set[sp.Basic]:
    """Every symbol a body's statements read, in its loops too (scopes ignored)."""
    out: set[sp.Basic] = set()
    for s in walk(body):
        if isinstance(s, Assign):
            out |= s.expr.free_symbols
        elif isinstance(s, Write):
            out |= _symbols(s.value)
        elif isinstance(s, Loop):
            for c in s.carries:
                out |= _symbols(c.init) | _symbols(c.next)
            if s.until is not None:
                out |= _symbols(s.until)
    return out


@dataclass
class LoopWriter:
    """Prints a program's statements as C.

    ``names``: the C operand of every symbol a statement may read that the program does
    not define (its inputs); ``arrays``: where the arrays that Writes name are (outputs,
    buffers), ``reads``: those that Reads name (parameters first, then buffers and
    outputs, where a parameter and an output share a name).
    """

    prog: Program
    names: dict[sp.Basic, str]
    arrays: dict[str, Array]
    reads: dict[str, Array]
    printer: type[Printer]
    labels: dict[sp.Symbol, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.own = symbol_names(self.prog)
        self.ints: dict[sp.Basic, str] = {}
        self.counter = fresh_counter(self.prog)
        all_names = dict(self.names)
        for s, n in self.own.items():
            all_names[s] = n
        self.pr = self.printer(all_names)
        self.used: set[sp.Basic] = set()
        self.arrays_read: set[str] = set()
        live = {s for o in self.prog.outputs for e in o.exprs for s in _symbols(e)}
        self.used |= live
        self.nodes = self._plan(self.prog.body, live)

    # -- planning: what is needed --------------------------------------------------------
    def _coalesce(self, body: tuple[Statement, ...]) -> tuple[Statement, ...]:
        """Runs of ``WRITE_RUN`` or more stores of one number into consecutive elements,
        as loops."""
        out: list[Statement] = []
        k = 0
        while k < len(body):
            s = body[k]
            run = 1
            if isinstance(s, Write) and not s.add and s.index.constant is not None \
                    and isinstance(s.value, sp.Number):
                while k + run < len(body):
                    t = body[k + run]
                    if not (isinstance(t, Write) and not t.add and t.array == s.array
                            and t.index.constant == s.index.const + run
                            and isinstance(t.value, sp.Number) and t.value == s.value):
                        break
                    run += 1
            if run < WRITE_RUN:
                out.append(s)
                k += 1
                continue
            i = sp.Symbol(f"_i{self.counter}")
            self.counter += 1
            self.own[i] = i.name
            out.append(Loop(i, Affine(0), Affine(run), (),
                            (Write(s.array, Affine.of(i) + s.index.const, s.value),)))
            k += run
        return tuple(out)

    def _plan(self, body: tuple[Statement, ...], live: set[sp.Basic]) -> list:
        """The nodes of ``body`` that compute ``live`` symbols or write arrays, in order;
        ``live`` becomes what the body reads from before it."""
        nodes: list = []
        for s in reversed(self._coalesce(body)):
            if isinstance(s, (Assign, Read)):
                if s.target not in live:
                    continue
                live.discard(s.target)
                if isinstance(s, Assign):
                    reads = set(s.expr.free_symbols)
                else:
                    reads = s.index.symbols()
                    self.arrays_read.add(s.array)
                live |= reads
                self.used |= reads
                nodes.append(s)
            elif isinstance(s, Write):
                reads = s.index.symbols() | _symbols(s.value)
                live |= reads
                self.used |= reads
                nodes.append(s)
            else:
                node = self._plan_loop(s, live)
                if node is not None:
                    nodes.append(node)
        nodes.reverse()
        return nodes

    def _plan_loop(self, lp: Loop, live: set[sp.Basic]) -> LoopNode | None:
        # a carried value is kept where its result is read or something may read it (a
        # value that stays as it is, ``next`` its own ``var``, needs no next value)
        until = _symbols(lp.until) if lp.until is not None else set()
        mentioned = _mentioned(lp.body) | until | {v for c in lp.carries if c.next != c.var
                                                   for v in _symbols(c.next)}
        carries = tuple(c for c in lp.carries if c.out in live or c.var in mentioned)
        inner = until | {v for c in carries if c.next != c.var for v in _symbols(c.next)}
        self.used |= inner
        body = self._plan(lp.body, inner)
        if not carries and not body:
            return None   # (a loop that only tests when to stop has no effect either)
        # ``inner`` is now what the body and the next values read from outside the body
        results = frozenset(c.out for c in carries if c.out in live)
        unread = frozenset(c.var for c in carries
                           if c.out not in results and c.var not in inner)
        own = {lp.index} | {c.var for c in carries}
        reads = (inner - own) | lp.start.symbols() | lp.stop.symbols()
        for c in carries:
            reads |= _symbols(c.init)
        live -= results
        live |= reads
        self.used |= reads
        return LoopNode(lp, carries, results, unread, body)

    # -- printing ------------------------------------------------------------------------
    def element(self, arrays: dict[str, Array], name: str, index: Affine) -> str:
        a = arrays[name]
        if a.scalar:
            assert index.constant == 0, (name, index)
            return a.pointer
        terms = a.terms + tuple((c, self.ints[v]) for c, v in index.terms)
        return f"{a.pointer}[{index_text(terms, a.const + index.const)}]"

    def operand(self, e: sp.Basic) -> str:
        return self.pr.operand(e)

    def lines(self, indent: str) -> list[str]:
        """The program's statements (not its outputs), each line indented by at least
        ``indent``."""
        return self._print(self.nodes, indent)

    def _print(self, nodes: list, indent: str) -> list[str]:
        out: list[str] = []
        for s in nodes:
            if isinstance(s, Assign):
                note = f"  /* {self.labels[s.target]} */" if s.target in self.labels else ""
                out.append(f"{indent}const double {self.own[s.target]} = "
                           f"{self.pr.expr(s.expr)};{note}")
            elif isinstance(s, Read):
                out.append(f"{indent}const double {self.own[s.target]} = "
                           f"{self.element(self.reads, s.array, s.index)};")
            elif isinstance(s, Write):
                out.append(f"{indent}{self.element(self.arrays, s.array, s.index)} "
                           f"{'+=' if s.add else '='} {self.operand(s.value)};")
            else:
                out += self._loop(s, indent)
        return out

    def _loop(self, node: LoopNode, indent: str) -> list[str]:
        lp, carries = node.loop, node.carries
        name = self.own[lp.index]
        self.ints[lp.index] = name
        self.pr.names[lp.index] = f"((double){name})"
        out = [f"{indent}double {self.own[c.out]};" for c in carries if c.out in node.results]
        inner = indent
        if carries:
            out.append(f"{indent}{{")
            inner = indent + INDENT
            out += [f"{inner}double {self.own[c.var]} = {self.operand(c.init)};"
                    for c in carries]
        ints = {v: self.ints[v] for v in lp.start.symbols() | lp.stop.symbols()}
        start = index_text(tuple((c, ints[v]) for c, v in lp.start.terms), lp.start.const)
        if lp.reverse:
            last = lp.stop + (-1)
            first = index_text(tuple((c, ints[v]) for c, v in last.terms), last.const)
            head = f"for (long {name} = {first}; {name} >= {start}; --{name})"
        else:
            stop = index_text(tuple((c, ints[v]) for c, v in lp.stop.terms), lp.stop.const)
            head = f"for (long {name} = {start}; {name} < {stop}; ++{name})"
        body = inner + INDENT
        out.append(f"{inner}{head} {{")
        out += self._print(node.body, body)
        # a fixed point's test, then every next value, read before any carried value
        # changes; the loop ends after the carried values took their next values
        if lp.until is not None:
            out.append(f"{body}const int _done = {self.pr.cond(lp.until)} != 0;")
        own = {c.var for c in carries}
        staged: dict[int, str] = {}
        for k, c in enumerate(carries):
            if c.next != c.var and c.next in own:
                staged[k] = f"_next{k}"
                out.append(f"{body}const double _next{k} = {self.operand(c.next)};")
        for k, c in enumerate(carries):
            if c.next != c.var:
                out.append(f"{body}{self.own[c.var]} = "
                           f"{staged.get(k) or self.operand(c.next)};")
        if lp.until is not None:
            out += [f"{body}if (_done) {{", f"{body}{INDENT}break;", f"{body}}}"]
        out.append(f"{inner}}}")
        out += [f"{inner}{self.own[c.out]} = {self.own[c.var]};"
                for c in carries if c.out in node.results]
        out += [f"{inner}(void){self.own[c.var]};" for c in carries if c.var in node.unread]
        if carries:
            out.append(f"{indent}}}")
        del self.pr.names[lp.index]
        return out


def scratch_size(prog: Program) -> int:
    """Doubles of scratch memory one call of the program needs (its buffers)."""
    return sum(b.size for b in prog.buffers)


def buffer_arrays(prog: Program) -> dict[str, Array]:
    """The buffers, one after another in the scratch memory."""
    out, at = {}, 0
    for b in prog.buffers:
        out[b.name] = Array(SCRATCH, (), at)
        at += b.size
    return out


def has_loops(prog: Program) -> bool:
    """Whether the program needs this module: loops, array reads or writes, buffers, or
    outputs that its writes fill."""
    return prog.has_loops or bool(prog.buffers) or any(o.written for o in prog.outputs)


def nan_fill(target: Array, size: int, indent: str) -> list[str]:
    """Every element of an output NaN (where the scratch memory could not be had)."""
    if size == 1:
        return [f"{indent}{target.pointer}[{index_text(target.terms, target.const)}] = NAN;"]
    at = index_text(target.terms + ((1, "_k"),), target.const)
    return [f"{indent}for (long _k = 0; _k < {size}; ++_k) {{",
            f"{indent}{INDENT}{target.pointer}[{at}] = NAN;",
            f"{indent}}}"]
