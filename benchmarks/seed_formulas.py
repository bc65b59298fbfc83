"""How many formulas of the seed texts chaincc reads as LaTeX.

    .venv/bin/python benchmarks/seed_formulas.py shared/seeds

Every formula between ``$…$`` or ``$$…$$`` (and ``\\[…\\]``, ``\\(…\\)``, math
environments) in the folder's ``*.txt`` files is extracted (Markdown code blocks and code
spans are prose, not math) and classified:

- a definition: a row ``name = …`` or ``f(x, …) = …`` whose right side is computable;
  each is compiled on its own with ``chaincc.compile(formula, syntax="latex")``, and the
  ones that do not compile are listed with the reason;
- a definition whose right side cannot be computed: it applies a function nothing defines
  (``f(x) = g(h(x))``), or holds an elision, a derivative, a limit;
- not a definition: a mention (``$f$``), a derivative (``\\frac{\\partial f}{\\partial x}
  = …``), an equation or a statement.

For comparison, each definition is also compiled as text syntax (the formula's math as
written), which is what chaincc read before it read LaTeX.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import chaincc
from chaincc import syntax as st
from chaincc.builtins import BUILTINS
from chaincc.diagnostics import ChainccError
from chaincc.latex import NotComputable, parse_latex
from chaincc.latex_lexer import math_pieces
from chaincc.source import Source

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"`[^`\n]*`")


@dataclass
class Formula:
    file: str
    line: int
    text: str              # as written, with its delimiters
    kind: str = ""         # "compiles", "fails", "not computable", "not a definition"
    reason: str = ""
    as_text: bool = False  # the math compiles as text syntax too


def _blank(match: re.Match) -> str:
    """Code is prose: keep its line breaks (for line numbers), drop its characters."""
    return re.sub(r"[^\n]", " ", match.group(0))


def formulas(folder: Path) -> list[Formula]:
    found = []
    for path in sorted(folder.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        prose = _CODE_SPAN.sub(_blank, _FENCE.sub(_blank, text))
        source = Source(path.name, prose, "latex")
        pieces = math_pieces(source)
        if len(pieces) == 1 and pieces[0][2]:
            continue                                     # no math at all
        for start, end, _ in pieces:
            first = text.rfind("\n", 0, start) + 1
            opener = start
            while opener > first and text[opener - 1] in "$[(\\":
                opener -= 1
            closer = end
            while closer < len(text) and text[closer] in "$])\\" and closer - end < 2:
                closer += 1
            found.append(Formula(path.name, text.count("\n", 0, start) + 1,
                                 text[opener:closer]))
    return found


def _abstract_call(module: st.Module) -> str | None:
    """A function applied in the formula that neither the language nor it defines."""
    defined = {s.name for s in module.statements}
    todo: list[st.Node] = [s.body if isinstance(s, st.FuncDef) else s.value
                           for s in module.statements]
    while todo:
        node = todo.pop()
        if isinstance(node, st.Call) and node.func.id not in BUILTINS and \
                node.func.id not in defined:
            return f"applies '{node.func.id}', which nothing defines"
        for name in ("operand", "left", "right", "base"):
            child = getattr(node, name, None)
            if isinstance(child, st.Node):
                todo.append(child)
        for name in ("args", "indices", "items"):
            todo.extend(getattr(node, name, ()))
    return None


def classify(f: Formula) -> None:
    source = Source(f"{f.file}:{f.line}", f.text, "latex")
    first_line = lambda e: e.message                    # noqa: E731 - one line of text
    try:
        module = parse_latex(source)
    except NotComputable as e:
        f.kind, f.reason = "not computable", first_line(e)
        return
    except ChainccError as e:
        if "no definition found" in e.message:
            f.kind = "not a definition"
        else:
            f.kind, f.reason = "fails", first_line(e)
        return
    abstract = _abstract_call(module)
    if abstract:
        f.kind, f.reason = "not computable", abstract
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn = chaincc.compile(f.text, syntax="latex")
        f.kind, f.reason = "compiles", f"{fn.name}({', '.join(fn.params)})"
    except ChainccError as e:
        f.kind, f.reason = "fails", first_line(e)
        return
    math = f.text.strip("$").strip()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chaincc.compile(math)
        f.as_text = True
    except ChainccError:
        pass


def report(found: list[Formula]) -> str:
    by = {k: [f for f in found if f.kind == k]
          for k in ("compiles", "fails", "not computable", "not a definition")}
    definitions = by["compiles"] + by["fails"]
    lines = [f"{len(found)} formulas in {len({f.file for f in found})} files",
             f"  {len(definitions)} definitions of a function or value with a computable "
             "right side",
             f"    {len(by['compiles'])} compile through the LaTeX reader "
             f"({sum(f.as_text for f in definitions)} of them also as text syntax, as "
             "written)",
             f"    {len(by['fails'])} do not",
             f"  {len(by['not computable'])} definitions whose right side cannot be "
             "computed",
             f"  {len(by['not a definition'])} not definitions (mentions, derivatives, "
             "equations)"]
    for title, kind in (("Compile", "compiles"), ("Do not compile", "fails"),
                        ("Right side not computable", "not computable")):
        if by[kind]:
            lines += ["", f"{title}:"]
            lines += [f"  {f.file}:{f.line}: {f.text}\n      {f.reason}" for f in by[kind]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the seed texts (shared/seeds)")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    found = formulas(args.folder)
    for f in found:
        classify(f)
    print(report(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
