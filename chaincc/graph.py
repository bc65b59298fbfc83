"""``chaincc graph``: the computational graph in Graphviz's DOT language.

Nodes are the derivation's inputs and intermediates (the grouping of ``derivation.py``,
so the picture matches ``chaincc explain``), each labelled with its formula and, at a
point, its value and adjoint. Forward edges run from an argument to the step that uses
it (solid); adjoint edges run back along the same pairs (dashed, red), labelled with the
local partial derivative that the chain rule multiplies in. Output is deterministic.

A loop's body is drawn once, as a cluster labelled with its range (the loop-form
derivation of ``derivation_loops.py``): the loop edge (bold, blue) carries the step's
result back to the top of the body for the next index, an edge brings the start value
in and one takes the last step's value out; a sum's term goes out to the sum. At a
point, a body's nodes show their values at the loop's first and last iterations.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import sympy as sp

from .derivation import derive
from .derivation_loops import LoopDerivation, derive_loops
from .diagnostics import ChainccError
from .ir import Program
from .loop_blocks import Block, LoopView
from .mathprint import number, printer

ADJOINT_COLOUR = "#c0392b"
LOOP_COLOUR = "#2c6fbb"
RENDERED = (".svg", ".png")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(prog: Program, at: dict | None = None,
           reserved: frozenset[str] = frozenset()) -> str:
    """The DOT text of a forward Program's graph, with values and adjoints at ``at``."""
    if prog.has_loops:
        return _LoopGraph(derive_loops(prog, at, reserved)).dot()
    d = derive(prog, at, reserved)
    p = printer("unicode")
    ids = {sym: f"n{i}" for i, sym in enumerate(d.nodes)}
    out = p.doprint(d.out)
    title = f"{out}({', '.join(p.doprint(s) for s in d.params)})"
    lines = [f"digraph {_quote(d.name)} {{",
             f"  graph [rankdir=LR, labelloc=t, fontname=Helvetica, label="
             f"{_quote(title + ': forward edges solid, adjoint edges dashed')}];",
             "  node [shape=box, style=rounded, fontname=Helvetica];",
             "  edge [fontname=Helvetica, fontsize=10];"]
    for sym, n in d.nodes.items():
        name = p.doprint(sym)
        label = [name] if n.is_input else [f"{name} = {p.doprint(n.expr)}"]
        if n.value is not None:
            label.append(f"= {number(n.value)}")
        if n.adjoint is not None and sym != d.out:
            label.append(f"∂{out}/∂{name} = {number(n.adjoint)}")
        attrs = [f"label={_quote(chr(10).join(label))}"]
        if n.is_input:
            attrs.append("shape=ellipse")
        if sym == d.out:
            attrs.append("peripheries=2")
        lines.append(f"  {ids[sym]} [{', '.join(attrs)}];")
    lines.append("  // forward: argument -> the step that uses it")
    for n in d.steps:
        lines += [f"  {ids[i]} -> {ids[n.sym]};" for i in n.inputs]
    lines.append("  // adjoint: back along each edge, times the local partial derivative")
    for n in reversed(d.steps):
        for i in n.inputs:
            text = f"∂{p.doprint(n.sym)}/∂{p.doprint(i)} = {p.doprint(n.partials[i])}"
            if i in n.partial_values:
                text += f"\n= {number(n.partial_values[i])}"
            lines.append(f"  {ids[n.sym]} -> {ids[i]} [style=dashed, color=\"{ADJOINT_COLOUR}\", "
                         f"fontcolor=\"{ADJOINT_COLOUR}\", constraint=false, "
                         f"label={_quote(text)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


class _LoopGraph:
    """The graph of a program with loops: a cluster per loop, nested as the loops are."""

    def __init__(self, ld: LoopDerivation) -> None:
        self.ld = ld
        self.p = printer("unicode")
        self.ids: dict[tuple[int, sp.Symbol], str] = {}
        self.lines: list[str] = []
        self.edges: list[str] = []
        self.back: list[str] = []
        self.clusters = 0
        self.out = self.p.doprint(ld.out)

    def dot(self) -> str:
        ld = self.ld
        title = f"{self.out}({', '.join(ld.signature)}): forward edges solid, adjoint " \
            "edges dashed, each loop drawn once"
        self.lines = [f"digraph {_quote(ld.name)} {{",
                      f"  graph [rankdir=LR, labelloc=t, fontname=Helvetica, "
                      f"label={_quote(title)}];",
                      "  node [shape=box, style=rounded, fontname=Helvetica];",
                      "  edge [fontname=Helvetica, fontsize=10];"]
        self.block(ld.top, "  ")
        self.lines.append("  // forward: argument -> the step that uses it; loops: carried "
                          "values")
        self.lines += self.edges
        self.lines.append("  // adjoint: back along each edge, times the local partial "
                          "derivative")
        self.lines += self.back
        self.lines.append("}")
        return "\n".join(self.lines) + "\n"

    def nid(self, blk: Block, sym: sp.Symbol) -> str:
        """A value's node: an input a loop body takes from outside is the outer node."""
        while blk.kinds.get(sym) in ("outer", "param") and blk.parent is not None:
            x = blk.program[sym]
            blk = blk.parent
            sym = blk.display[x]
        key = (id(blk), sym)
        if key not in self.ids:
            self.ids[key] = f"n{len(self.ids)}"
        return self.ids[key]

    def block(self, blk: Block, ind: str) -> None:
        p, view = self.p, blk.loop
        for sym, n in blk.nodes.items():
            kind = blk.kinds.get(sym)
            if kind == "index" or (kind in ("outer", "param") and blk.parent is not None):
                continue
            name = p.doprint(sym)
            label = [name] if n.is_input else [f"{name} = {p.doprint(n.expr)}"]
            label += self.values(blk, sym, n)
            attrs = [f"label={_quote(chr(10).join(label))}"]
            if n.is_input:
                attrs.append("shape=ellipse")
            if sym == self.ld.out and view is None:
                attrs.append("peripheries=2")
            self.lines.append(f"{ind}{self.nid(blk, sym)} [{', '.join(attrs)}];")
        for item in blk.items:
            if isinstance(item, LoopView):
                self.cluster(item, blk, ind)
                continue
            for i in item.inputs:
                self.edges.append(f"  {self.nid(blk, i)} -> {self.nid(blk, item.sym)};")
        for item in reversed(blk.items):
            if isinstance(item, LoopView):
                continue
            for i in item.inputs:
                text = f"∂{p.doprint(item.sym)}/∂{p.doprint(i)} = " \
                    f"{p.doprint(item.partials[i])}"
                if view is None and i in item.partial_values:
                    text += f"\n= {number(item.partial_values[i])}"
                self.back.append(
                    f"  {self.nid(blk, item.sym)} -> {self.nid(blk, i)} [style=dashed, "
                    f"color=\"{ADJOINT_COLOUR}\", fontcolor=\"{ADJOINT_COLOUR}\", "
                    f"constraint=false, label={_quote(text)}];")

    def values(self, blk: Block, sym: sp.Symbol, n) -> list[str]:
        """A node's value and adjoint (top level), or their values at the loop's first
        and last iterations (a top-level loop's body)."""
        view = blk.loop
        row = blk.rows.get(sym)
        if view is None:
            out = []
            if n.value is not None:
                out.append(f"= {number(n.value)}")
            if row is not None and row.value is not None and sym != self.ld.out:
                out.append(f"∂{self.out}/∂{self.p.doprint(sym)} = {number(row.value)}")
            return out
        out = []
        ends = n.ends
        adj = dict((tuple(sorted(a.items())), v) for a, v in row.ends) if row else {}
        for (at, (value, _)) in zip(self.ends(view), ends):
            line = f"{self.p.doprint(self.ld.concrete(sym, at))} = {number(value)}" \
                if value is not None else ""
            a = adj.get(tuple(sorted(at.items())))
            if a is not None:
                line += f", adjoint {number(a)}"
            if line:
                out.append(line)
        return out

    def ends(self, view: LoopView) -> list[dict]:
        if view.depth != 0 or view.record is None:
            return []
        its = view.record.iterations
        picked = its if len(its) <= 1 else [its[0], its[-1]]
        return [{self.ld.index_names[view.loop.index]: it.index} for it in picked]

    def cluster(self, view: LoopView, parent: Block, ind: str) -> None:
        p = self.p
        assert view.block is not None
        body = view.block
        rng = f"{p.doprint(view.index)} = {p.doprint(view.lo)}..{p.doprint(view.hi)}"
        what = {"recurrence": "for", "sum": "Σ over", "fixpoint": "fixed point:"}[view.kind]
        if view.kind == "fixpoint":
            rng = f"{p.doprint(view.index)} = 0, 1, … until converged (at most " \
                f"{p.doprint(view.hi + 1)} iterations)"
        label = _quote(f"{what} {rng}")
        self.clusters += 1
        self.lines.append(f"{ind}subgraph cluster_{self.clusters} {{")
        self.lines.append(f"{ind}  label={label}; style=rounded; "
                          f"color=\"{LOOP_COLOUR}\"; fontcolor=\"{LOOP_COLOUR}\";")
        self.block(body, ind + "  ")
        self.lines.append(f"{ind}}}")
        loop = f"color=\"{LOOP_COLOUR}\", fontcolor=\"{LOOP_COLOUR}\""
        for st in view.states:
            c = st.carry
            nxt = body.display.get(c.next) if isinstance(c.next, sp.Symbol) else None
            var = self.nid(body, st.var)
            if nxt is not None:
                text = _quote(f"{p.doprint(st.next)} → {p.doprint(st.var)}, {rng}")
                self.edges.append(f"  {self.nid(body, nxt)} -> {var} [style=bold, {loop}, "
                                  f"constraint=false, label={text}];")
                back = f"{view.index} = {p.doprint(view.hi)} down to {p.doprint(view.lo)}"
                text = _quote(f"{p.doprint(st.bar_var)}, carried back ({back})")
                self.back.append(
                    f"  {var} -> {self.nid(body, nxt)} [style=dashed, color=\"{ADJOINT_COLOUR}"
                    f"\", fontcolor=\"{ADJOINT_COLOUR}\", constraint=false, label={text}];")
            init = parent.display.get(c.init) if isinstance(c.init, sp.Symbol) else None
            if init is None:
                start = f"{var}_start"
                text = _quote(f"{p.doprint(st.init)} = {p.doprint(c.init)}")
                self.lines.append(f"{ind}{start} [label={text}, shape=plaintext];")
            else:
                start = self.nid(parent, init)
            self.edges.append(f"  {start} -> {var} [{loop}, "
                              f"label={_quote(p.doprint(st.init))}];")
            out = parent.display.get(c.out)
            if out is not None and nxt is not None:
                text = _quote("once converged" if view.kind == "fixpoint" else
                              f"after {p.doprint(view.index)} = {p.doprint(view.hi)}")
                self.edges.append(f"  {self.nid(body, nxt)} -> {self.nid(parent, out)} "
                                  f"[{loop}, label={text}];")
        for part in view.sums:
            out = parent.display.get(part.carry.out)
            term = body.display.get(part.term) if isinstance(part.term, sp.Symbol) else None
            if out is not None and term is not None:
                text = _quote(f"Σ, {rng}")
                self.edges.append(f"  {self.nid(body, term)} -> {self.nid(parent, out)} "
                                  f"[{loop}, label={text}];")


def write(dot_text: str, path: Path) -> str:
    """Write the graph to ``path`` (.dot as text; .svg/.png through Graphviz's ``dot``).

    Without ``dot`` on PATH an .svg/.png request writes the DOT text next to it instead;
    the returned message says what was written and how to get Graphviz.
    """
    suffix = path.suffix.lower()
    if suffix not in RENDERED + (".dot", ".gv"):
        raise ChainccError(f"cannot write a graph as '{suffix or path.name}': use a file name "
                           f"ending in .svg, .png or .dot")
    try:
        if suffix not in RENDERED:
            path.write_text(dot_text, encoding="utf-8")
            return f"wrote {path} (DOT text)"
        exe = shutil.which("dot")
        if exe is None:
            fallback = path.with_suffix(".dot")
            fallback.write_text(dot_text, encoding="utf-8")
            return (f"Graphviz's 'dot' is not installed, so the graph was written as DOT text "
                    f"to {fallback} instead of {path}.\nInstall Graphviz (Debian/Ubuntu: "
                    f"apt-get install graphviz) and run: dot -T{suffix[1:]} {fallback} "
                    f"-o {path}")
    except OSError as e:
        raise ChainccError(f"cannot write {path}: {e.strerror or e}") from None
    done = subprocess.run([exe, f"-T{suffix[1:]}", "-o", str(path)],
                          input=dot_text.encode("utf-8"), capture_output=True, timeout=300,
                          check=False)
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
        raise ChainccError(f"Graphviz could not draw {path}: {why}")
    return f"wrote {path}"
