"""``chaincc graph``: the computational graph in Graphviz's DOT language.

Nodes are the derivation's inputs and intermediates (the grouping of ``derivation.py``,
so the picture matches ``chaincc explain``), each labelled with its formula and, at a
point, its value and adjoint. Forward edges run from an argument to the step that uses
it (solid); adjoint edges run back along the same pairs (dashed, red), labelled with the
local partial derivative that the chain rule multiplies in. Output is deterministic.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .derivation import derive
from .diagnostics import ChainccError
from .ir import Program
from .mathprint import number, printer

ADJOINT_COLOUR = "#c0392b"
RENDERED = (".svg", ".png")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(prog: Program, at: dict | None = None,
           reserved: frozenset[str] = frozenset()) -> str:
    """The DOT text of a forward Program's graph, with values and adjoints at ``at``."""
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
