"""``chaincc explain``: the chain rule worked out for one function, as on paper.

Three steps, as the textbooks teach backpropagation: break the function into named
intermediates (the forward pass), take each intermediate's local partial derivatives,
then walk back from the result, multiplying along each path and adding over paths. With a
point, every line carries its value there and the text ends with the gradient. The
derivation itself (grouping, names, adjoints) lives in ``derivation.py``; this module
only lays it out, in Unicode, ASCII, LaTeX or Markdown.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from .derivation import Derivation, Node, derive
from .diagnostics import ChainccError
from .formats import FORMATS
from .ir import Program, expr_text
from .mathprint import exact, latex_name, number, printer

FULL_LIMIT = 40        # more intermediates than this are summarised unless full=True
EDGE = 5               # lines kept at each end of a summarised list
SHORT = 60             # longest formula (SymPy str) shown in the inputs as a by-the-way
LONG = 120             # longest simplified gradient formula shown
LONG_SUM = 8           # a summarised explanation elides sums with more terms than this


@dataclass
class Row:
    lhs: str
    rhs: list[str]
    value: float | None = None
    exact: bool = False                # the final gradient: every digit, as eval prints
    suffix: str = ""                   # after the formulas: a loop's range, t = 0..99
    op: str = "="                      # "+=": one part of a value that several parts add to

    @property
    def shows_value(self) -> bool:
        """A value after the formulas, unless the last formula is that number already."""
        return self.value is not None and not (self.rhs and self.rhs[-1] == number(self.value))

    def number(self, tex: bool = False) -> str:
        text = exact(self.value) if self.exact else number(self.value)
        return _TEX_NUMBERS.get(text, text) if tex else text


_TEX_NUMBERS = {"inf": "\\infty", "-inf": "-\\infty", "nan": "\\mathrm{NaN}"}


@dataclass
class Section:
    title: str
    rows: list[Row | str] = field(default_factory=list)   # a str is a gap or a note


class Notation:
    """How one format writes symbols, formulas, partial derivatives and numbers."""

    def __init__(self, fmt: str, d: Derivation,
                 shapes: dict[str, tuple[int, ...]] | None = None) -> None:
        self.fmt = fmt
        self.tex = fmt in ("latex", "markdown")
        self.d = d
        self.shapes = shapes or {}
        # every name in the formulas: LaTeX avoids e^{x} and \sigma(x) where a name e or σ
        # would make them ambiguous to a reader (and to chaincc's LaTeX reader)
        taken = frozenset(s.name.partition("[")[0] for s in d.nodes)
        base = printer("latex" if self.tex else fmt, taken=taken)
        names = {ref: self.partial(d.out, node, printer_=base) for ref, node in d.refs.items()}
        self.p = printer("latex" if self.tex else fmt, names, taken)
        self.mul = {"unicode": "·", "ascii": "*"}.get(fmt, " \\cdot ")
        self.dots = {"unicode": "…", "ascii": "..."}.get(fmt, "\\dots")

    def expr(self, e: sp.Expr) -> str:
        return self.p.doprint(e)

    def partial(self, num: sp.Symbol, den: sp.Symbol, direct: bool = False,
                printer_=None) -> str:
        p = printer_ or self.p
        n, d = p.doprint(num), p.doprint(den)
        if self.tex:
            text = f"\\frac{{\\partial {n}}}{{\\partial {d}}}"
            return f"\\left.{text}\\right|_{{\\text{{direct}}}}" if direct else text
        text = f"∂{n}/∂{d}" if self.fmt == "unicode" else f"d{n}/d{d}"
        return text + " (direct)" if direct else text

    def num(self, v: float) -> str:
        return _TEX_NUMBERS.get(number(v), number(v)) if self.tex else number(v)

    def param(self, name: str) -> str:
        """A parameter in a function's head; in LaTeX with its shape, as the LaTeX reader
        needs it: ``W \\in \\mathbb{R}^{2 \\times 3}``."""
        text = self.expr(sp.Symbol(name))
        shape = self.shapes.get(name)
        if self.tex and shape:
            dims = " \\times ".join(map(str, shape))
            text += f" \\in \\mathbb{{R}}^{{{dims}}}"
        return text

    def inline(self, s: str) -> str:
        """A formula inside prose."""
        return f"${s}$" if self.tex else s

    def inline_text(self, s: str) -> str:
        """Prose inside a formula."""
        return f"\\text{{{s}}}" if self.tex else s

    def paren(self, s: str) -> str:
        return f"\\left({s}\\right)" if self.tex else f"({s})"

    def factor(self, e: sp.Expr, last: bool) -> str:
        """One link of a path product, bracketed where a reader could misgroup it."""
        s = self.expr(e)
        if isinstance(e, sp.Add) or e.could_extract_minus_sign() or (
                not last and not self.tex and e.as_numer_denom()[1] != 1):
            return self.paren(s)
        return s

    def total(self, parts: Sequence[str], elide: bool) -> str:
        parts = list(parts)
        if elide and len(parts) > LONG_SUM:
            parts = parts[:3] + [self.dots] + parts[-2:]
        return " + ".join(parts).replace("+ -", "- ") if parts else "0"


def explain(prog: Program, at: dict | None = None, format: str = "unicode",
            full: bool = False, reserved: frozenset[str] = frozenset(),
            output: int | Sequence[int] | None = None) -> str:
    """The chain-rule derivation of a forward Program, in one of ``FORMATS``; the names
    it makes up for intermediates avoid ``reserved``.

    A vector-valued function is explained one output at a time (see ``outputs.py``):
    the first ``SHOWN_OUTPUTS`` of them, every one with ``full``, or only ``output`` (a
    flat index into the value, or one index per axis).
    """
    if format not in FORMATS:
        raise ValueError(f"unknown format '{format}'; choose one of {', '.join(FORMATS)}")
    if prog.output("value").shape:
        from .outputs import explain_outputs
        return explain_outputs(prog, at, format, full, reserved, output, explain)
    if output is not None:
        raise ChainccError(f"{prog.name} is a scalar function: only a vector-valued "
                           "function has outputs to pick from")
    if prog.has_loops:
        from .explain_loops import explain_loops
        return explain_loops(prog, at, format, full, reserved)
    d = derive(prog, at, reserved)
    d.adjoints()
    shapes = {p.name: p.shape for p in prog.params}
    return layout(build(d, Notation(format, d, shapes), full), format)


def _pick(items: list, summarise: bool) -> list:
    """All items, or the first and last few with a count of the rest in between."""
    if not summarise or len(items) <= 2 * EDGE + 1:
        return items
    return items[:EDGE] + [len(items) - 2 * EDGE] + items[-EDGE:]


def _value_text(v, nt: Notation) -> str:
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return nt.num(float(v))
        return "[" + ", ".join(_value_text(x, nt) for x in v) + "]"
    return nt.num(v)


def _elide(items: list[str], summarise: bool, nt: Notation) -> list[str]:
    if summarise and len(items) > 2 * EDGE:
        return items[:EDGE] + [nt.dots] + items[-2:]
    return items


def _point(d: Derivation, nt: Notation, summarise: bool) -> str:
    names = [_name(n, nt) for n in d.signature]
    vals = [_value_text(d.at[n], nt) for n in d.signature]
    if len(names) == 1:
        return f"{names[0]} = {vals[0]}"
    if len(names) > 2 * EDGE or any(isinstance(d.at[n], np.ndarray) for n in d.signature):
        return ", ".join(_elide([f"{a} = {b}" for a, b in zip(names, vals)], summarise, nt))
    return f"{nt.paren(', '.join(names))} = {nt.paren(', '.join(vals))}"


def _name(name: str, nt: Notation) -> str:
    return nt.expr(sp.Symbol(name))


def build(d: Derivation, nt: Notation, full: bool) -> tuple[Section, list[Section]]:
    """The explanation as format-neutral sections; the first holds the title row and
    notes."""
    steps = d.steps
    summarise = not full and len(steps) > FULL_LIMIT
    head = nt.expr(d.out) + nt.paren(", ".join(
        _elide([nt.param(n) for n in d.signature], summarise, nt)))
    closed = d.input_forms.get(d.out)
    title = Row(head, [nt.expr(closed)] if closed is not None else [])
    out = nt.expr(d.out)
    sections = []
    notes = []
    if d.at is not None:
        notes.append(f"at {nt.inline(_point(d, nt, summarise))}")
    if summarise:
        n_partials = sum(len(n.inputs) for n in steps)
        notes.append(f"{len(steps)} intermediates from {d.statements} single operations, "
                     f"{n_partials} local partial derivatives and {len(d.params)} inputs: "
                     f"the first and last few of each are shown (full=True or --full shows "
                     f"all)")

    fwd = Section(f"1. Forward pass: {nt.inline(out)} broken into intermediates")
    for item in _pick(steps, summarise):
        fwd.rows.append(_gap(item, "intermediates", nt) if isinstance(item, int)
                        else _forward_row(d, item, nt))
    sections.append(fwd)

    loc = Section("2. Local partial derivatives: each step on its own")
    pairs = [(n, i) for n in reversed(steps) for i in n.inputs]
    if not pairs:
        loc.rows.append(f"(none: {nt.inline(out)} is a constant)")
    for item in _pick(pairs, summarise):
        if isinstance(item, int):
            loc.rows.append(_gap(item, "local partial derivatives", nt))
            continue
        n, i = item
        direct = n.sym == d.out and len(d.nodes[i].consumers) > 1
        loc.rows.append(Row(nt.partial(n.sym, i, direct), [nt.expr(n.partials[i])],
                            n.partial_values.get(i)))
    sections.append(loc)

    back = Section(f"3. Chain rule, backward from {nt.inline(out)}: multiply along each path, "
                   f"add over the paths")
    adjoints = d.adjoints()
    inner = [n.sym for n in reversed(steps)
             if n.sym != d.out and adjoints[n.sym].terms and not adjoints[n.sym].direct]
    for group in (inner, list(d.params)):
        for item in _pick(group, summarise):
            back.rows.append(_gap(item, "adjoints", nt) if isinstance(item, int)
                             else _backward_row(d, item, nt, summarise))
    if any(len(d.nodes[i].consumers) > 1 and d.out in d.nodes[i].consumers
           for i in d.nodes):
        back.rows.append(_direct_note(d, nt))
    sections.append(back)

    if d.at is not None:
        grad = Section(f"Gradient at {nt.inline(_point(d, nt, summarise))}")
        grad.rows.append(Row(out, [], d.nodes[d.out].value, exact=True))
        for item in _pick(list(d.params), summarise and len(d.params) > FULL_LIMIT):
            grad.rows.append(_gap(item, "inputs", nt) if isinstance(item, int)
                             else Row(nt.partial(d.out, item), [], d.nodes[item].adjoint,
                                      exact=True))
        sections.append(grad)
    elif not summarise:
        forms = [d.closed_form(p) for p in d.params]
        if all(f is not None for f in forms):
            grad = Section("Gradient")
            nabla = "\\nabla " if nt.tex else "∇" if nt.fmt == "unicode" else "grad "
            texts = [nt.expr(f) for f in forms]
            grad.rows.append(Row(nabla + out, [texts[0] if len(texts) == 1
                                                else nt.paren(", ".join(texts))]))
            sections.append(grad)
    return Section("", [title, *notes]), sections


def _short(e: sp.Expr, limit: int = SHORT) -> bool:
    return len(expr_text(e)) <= limit


class Gap(str):
    """A row standing for rows left out of a summary: ``… 12 more intermediates …``."""

    count: int
    what: str

    def __new__(cls, text: str, count: int, what: str) -> Gap:
        gap = super().__new__(cls, text)
        gap.count, gap.what = count, what
        return gap


def _gap(count: int, what: str, nt: Notation) -> Gap:
    return Gap(f"{nt.dots} {count} more {what} {nt.dots}", count, what)


def _direct_note(d: Derivation, nt: Notation) -> str:
    out = nt.inline(nt.expr(d.out))
    return (f"(direct): the part of a derivative taken through {out}'s own formula, "
            f"with the other intermediates held fixed")


def _forward_row(d: Derivation, n: Node, nt: Notation) -> Row:
    rhs = [nt.expr(n.expr)]
    full = d.input_forms.get(n.sym)
    if full is not None and full != n.expr and _short(full):
        rhs.append(nt.expr(full))
    return Row(nt.expr(n.sym), rhs, n.value)


def _backward_row(d: Derivation, sym: sp.Symbol, nt: Notation, summarise: bool) -> Row:
    adj = d.adjoints()[sym]
    node = d.nodes[sym]
    lhs = nt.partial(d.out, sym)
    if not adj.terms:
        out, name = nt.inline(nt.expr(d.out)), nt.inline(nt.expr(sym))
        why = (f"{out} does not depend on {name}" if sym not in d.used else
               f"{name} reaches {out} only through conditions and steps of derivative 0")
        return Row(lhs, ["0" if nt.tex else f"0   ({why})"])
    chain, plugged, numbers = [], [], []
    several = len(adj.terms) > 1
    for c, use, local in adj.terms:
        cnode = d.nodes[c]
        if c == d.out:
            chain.append(nt.partial(c, sym, several))
        else:
            chain.append(nt.partial(d.out, c) + nt.mul + nt.partial(c, sym))
        if use == 1:
            plugged.append(nt.expr(local))
        else:
            plugged.append(nt.factor(use, False) + nt.mul + nt.factor(local, True))
        if d.at is not None:
            lv = cnode.partial_values[sym]
            link = [cnode.adjoint, lv] if c != d.out else [lv]
            if cnode.adjoint == 0:      # a zero adjoint sends nothing back
                link = [0.0]
            numbers.append(nt.mul.join(nt.paren(nt.num(v)) if v < 0 else nt.num(v)
                                       for v in link))
    rhs = []
    if not adj.direct:
        rhs.append(nt.total(chain, summarise))
    rhs.append(nt.total(plugged, summarise))
    subst = d.substituted(sym)
    closed = d.closed_form(sym)
    if subst is not None and subst != adj.formula and _short(subst):
        rhs.append(nt.expr(subst))
    if closed is not None and _short(closed, LONG):
        rhs.append(nt.expr(closed))
    if numbers:
        rhs.append(nt.total(numbers, summarise))
    dedup = [r for i, r in enumerate(rhs) if i == 0 or r != rhs[i - 1]]
    value = node.adjoint
    if value is not None and len(dedup) > 1 and dedup[-1] == nt.num(value):
        dedup.pop()
    return Row(lhs, dedup, value)


# ------------------------------------------------------------------ layouts ---------

def layout(doc: tuple[Section, list[Section]], fmt: str) -> str:
    head, sections = doc
    if fmt == "latex":
        return _latex(head, sections)
    if fmt == "markdown":
        return _markdown(head, sections)
    return _text(head, sections)


def _text(head: Section, sections: list[Section]) -> str:
    title, *notes = head.rows
    lines = [" = ".join([title.lhs, *title.rhs]), *notes]
    for sec in sections:
        lines += ["", sec.title]
        rows = [r for r in sec.rows if isinstance(r, Row)]
        width = max((_width(r.lhs) for r in rows), default=0)
        body: list[tuple[str, float | None]] = []
        for r in sec.rows:
            if isinstance(r, str):
                body.append(("   " + r, None))
                continue
            first = "   " + r.lhs + " " * (width - _width(r.lhs))
            parts = r.rhs or [r.number() if r.value is not None else ""]
            for k, part in enumerate(parts):
                text = (first + f" {r.op} " if k == 0 else "   " + " " * width + " = ") + part
                if k == len(parts) - 1:
                    text += r.suffix
                last = k == len(parts) - 1 and r.rhs and r.shows_value
                body.append((text, r.value if last else None))
        col = min(max((_width(t) for t, v in body if v is not None), default=0), 56) + 2
        for text, value in body:
            if value is not None:
                text = text + " " * (col - _width(text)) + f"= {number(value)}" \
                    if _width(text) < col else f"{text}  = {number(value)}"
            lines.append(text.rstrip())
    return "\n".join(lines) + "\n"


def _width(text: str) -> int:
    """Columns a line takes: combining accents (h̄, ŷ written as h and U+0304) take
    none."""
    return sum(1 for ch in text if not unicodedata.combining(ch))


def _latex(head: Section, sections: list[Section]) -> str:
    """align* blocks with the prose between them (TeX engines, KaTeX and MathJax all
    read this; \\intertext is amsmath's alone). The first row defines the function; with
    no short formula for it, the row ``f(x, y)\\colon`` says that the forward pass below
    defines it (chaincc's LaTeX reader reads either back)."""
    title, *notes = head.rows
    out = ["% chaincc explain (LaTeX, needs amsmath)"]
    rows: list[str] = []

    def flush() -> None:
        if rows:
            out.extend(["\\begin{align*}", *(r + " \\\\" for r in rows[:-1]), rows[-1],
                        "\\end{align*}"])
            rows.clear()

    def prose(text: str) -> None:
        if not rows and not out[-1].startswith(("%", "\\end")):
            out.append("")                  # a new paragraph after prose
        flush()
        out.append(_latex_text(text))

    rows.append(f"{title.lhs} &= {' = '.join(title.rhs)}" if title.rhs
                else f"& {title.lhs}\\colon")
    for n in notes:
        prose(n)
    for sec in sections:
        prose(sec.title)
        for r in sec.rows:
            if isinstance(r, Gap):
                rows.append(f"&\\vdots\\quad\\text{{({r.count} more {r.what})}}")
            elif isinstance(r, str):
                prose(r)
            elif not r.rhs:
                rows.append(f"{r.lhs} &{_tex_op(r.op)} {r.number(tex=True)}")
            else:
                for k, part in enumerate(r.rhs):
                    end = k == len(r.rhs) - 1
                    tail = f" &&= {r.number(tex=True)}" if end and r.shows_value else ""
                    part += r.suffix if end else ""
                    op = _tex_op(r.op) if k == 0 else "="
                    rows.append(f"{r.lhs if k == 0 else ''} &{op} {part}{tail}".lstrip())
    flush()
    return "\n".join(out) + "\n"


def _tex_op(op: str) -> str:
    return "\\mathrel{+}=" if op == "+=" else op


def _latex_text(s: str) -> str:
    """Prose in LaTeX: formulas stay in $...$; TeX's special characters are escaped in
    the text between them."""
    parts = s.split("$")
    for i in range(0, len(parts), 2):
        text = parts[i]
        for char, tex in (("%", "\\%"), ("&", "\\&"), ("#", "\\#"), ("_", "\\_"),
                          ("…", "\\dots")):
            text = text.replace(char, tex)
        parts[i] = text
    return "$".join(parts)


def _markdown(head: Section, sections: list[Section]) -> str:
    title, *notes = head.rows
    lines = [f"## The chain rule for ${' = '.join([title.lhs, *title.rhs])}$"]
    lines += ["", *(f"*{n}*" for n in notes)] if notes else []
    for sec in sections:
        lines += ["", f"### {sec.title}", ""]
        rows = [r for r in sec.rows if isinstance(r, Row)]
        if rows and all(not r.rhs for r in rows):
            lines += ["| | value |", "|---|---:|"]
            lines += [f"| {r} | |" if isinstance(r, str)
                      else f"| ${r.lhs}$ | {r.number()} |" for r in sec.rows]
            continue
        for r in sec.rows:
            if isinstance(r, str):
                lines.append(f"- {r}")
                continue
            value = f" {r.op if not r.rhs else '='} **{r.number()}**" if r.shows_value else ""
            text = f" {r.op} ".join([r.lhs, ' = '.join(r.rhs)]) if r.rhs else r.lhs
            lines.append(f"- ${text}{r.suffix}${value}")
    return "\n".join(lines) + "\n"


REPR_STATEMENTS = 2000   # larger programs get a one-line _repr_latex_
REPR_ROWS = 12
REPR_FORWARD = 200       # intermediates shown where the formula is too long to write out


def latex_summary(prog: Program, reserved: frozenset[str] = frozenset()) -> str:
    """``$$f(x, y) = … ; ∂f/∂x = … $$`` for Jupyter: the formula and its gradient. Where
    the formula is too long to write out, the intermediates of the forward pass define it
    (as in explain's LaTeX), so that chaincc's LaTeX reader reads the function back."""
    head = f"{latex_name(prog.name)}\\left({', '.join(latex_name(p.name) for p in prog.params)}" \
        f"\\right)"
    if len(prog.body) > REPR_STATEMENTS or prog.output("value").shape:
        return f"$${head}\\quad\\text{{({len(prog.body)} operations)}}$$"
    if prog.has_loops:
        from .explain_loops import latex_rows
        rows = latex_rows(prog, reserved, REPR_FORWARD)
        return "$$\\begin{aligned}" + " \\\\ ".join(rows) + "\\end{aligned}$$"
    d = derive(prog, None, reserved)
    d.adjoints()
    nt = Notation("latex", d, {p.name: p.shape for p in prog.params})
    head = f"{latex_name(prog.name)}\\left({', '.join(nt.param(p.name) for p in prog.params)}" \
        f"\\right)"
    value = d.input_forms.get(d.out)
    if value is not None:
        rows = [f"{head} &= {nt.expr(value)}"]
    elif len(d.steps) <= REPR_FORWARD:
        rows = [f"& {head}\\colon"] + [f"{nt.expr(n.sym)} &= {nt.expr(n.expr)}"
                                       for n in d.steps]
    else:
        rows = [f"& {head}\\quad\\text{{({len(d.steps)} intermediates: see explain())}}"]
    for p in d.params[:REPR_ROWS]:
        form = d.closed_form(p)
        rows.append(f"{nt.partial(d.out, p)} &= " + (nt.expr(form) if form is not None
                                                     else "\\text{(see explain())}"))
    if len(d.params) > REPR_ROWS:
        rows.append(f"&\\vdots \\quad \\text{{({len(d.params)} partial derivatives)}}")
    return "$$\\begin{aligned}" + " \\\\ ".join(rows) + "\\end{aligned}$$"
