"""Read LaTeX math into the syntax tree the text parser builds (``chaincc.syntax``).

``chaincc.compile(text, syntax="latex")``, a ``.tex`` file, and the LaTeX that chaincc
itself writes (``explain --format latex``, a function's Jupyter LaTeX) come here. The rules
are in docs/language.md, "LaTeX": which rows are definitions, how names, subscripts and
accents are spelled, what ``\\sin x``, ``x^2y``, ``e^{x}``, ``\\sigma(x)`` and
``\\sum_{i=0}^{n-1} x_i`` mean, and what cannot be computed (derivative notation, limits,
elisions).

The reader is our own, in five parts: tokens (``latex_lexer.py``), names
(``latex_names.py``), sums and products over an index (``latex_iteration.py``),
expressions (``latex_expr.py``, one iterative operator-precedence loop whose explicit
stack holds the pending operators and every open construct), and here the statements,
row by row. Nothing is evaluated: every node carries the span of its
LaTeX text, so every error has a caret.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import sizes as sz
from . import syntax as st
from .builtins import BUILTINS, CONSTANTS
from .diagnostics import ChainccError, in_order
from .latex_expr import ELISIONS, OPENERS, ExpressionReader
from .latex_lexer import BEGIN, CMD, DELIM, END, EOF, NAME, NUM, OP, ROW_ENVS, TEXT, WORD, Tok
from .latex_names import GREEK, NameInfo, NotComputable, describe
from .parser import MAX_DIMENSIONS
from .source import Source, Span

__all__ = ["NotComputable", "parse_latex"]


# prose after a definition that makes it conditional: refused rather than dropped
_CONDITIONS = frozenset({"if", "when", "unless", "otherwise", "else", "provided"})
_MAX_SIZE_DIGITS = 9


@dataclass(frozen=True)
class _Target:
    name: NameInfo
    params: tuple[st.Param, ...] | None    # None for a binding
    span: Span


class _Reader(ExpressionReader):
    """What a LaTeX text defines: its statements, row by row."""

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self.statements: list[st.Statement] = []
        self.functions: set[str] = set()
        self.pending: _Target | None = None   # a declared function awaiting its body
        self.sizes: dict[str, int] = {}       # bindings of integers (n = 4), for shapes

    def module(self) -> st.Module:
        while True:
            tok = self.peek()
            if tok.kind == EOF:
                break
            if self.row_end(tok) or (tok.kind == OP and tok.text == "&"):
                self.pos += 1
                continue
            self.row()
        return self.finish()

    def scan(self, i: int, stop_at_equals: bool) -> int:
        """The index of the first token from ``i`` that ends a piece of a row at the top
        level: ``=`` (when asked), ``,``, ``;``, ``.``, ``:``, prose, or the row's end."""
        depth = 0
        toks = self.toks
        while True:
            tok = toks[i]
            kind, text = tok.kind, tok.text
            if depth == 0:
                if self.row_end(tok):
                    return i
                if kind == OP and (text in (",", ";", ".", ":")
                                   or (stop_at_equals and text in ("=", ":="))):
                    return i
                if kind == TEXT and not self.text_name(tok):
                    return i
            if kind == EOF:
                return i
            if kind == OP and text in "{}" and text:
                depth += 1 if text == "{" else -1
            elif kind == DELIM:
                if tok.side == "left" or (tok.side != "right" and tok.text in OPENERS):
                    depth += 1
                elif tok.side == "right" or tok.text in ")]}⌋⌉":
                    depth -= 1
            elif kind in (BEGIN, END) and tok.text not in ROW_ENVS:
                depth += 1 if kind == BEGIN else -1
            if depth < 0:
                if stop_at_equals:
                    return i
                depth = 0                 # a stray closer in a row that is skipped
            i += 1

    def row(self) -> None:
        """The definitions in one row (several may be separated by ',' or ';')."""
        while True:
            start = self.pos
            stop = self.scan(start, True)
            eq = self.toks[stop]
            target = self.target(start, stop)
            if target is not None and eq.kind == OP and eq.text in ("=", ":="):
                self.pos = stop + 1
                self.definition(target, eq)
                end = self.peek()
                if end.kind == OP and end.text in ("=", ":="):     # a restatement
                    self.pos = self.scan(self.pos, False)
            elif target is not None and target.params is not None and \
                    eq.kind == OP and eq.text == ":" and self.row_end(self.toks[stop + 1]):
                self.declare(target)
                self.pos = stop + 1
            else:
                self.check_elision(start)
                self.pos = self.scan(start, False)
            end = self.peek()
            if end.kind == OP and end.text in (",", ";"):
                self.pos += 1
                continue
            if self.row_end(end):
                return
            if end.kind == TEXT and _first_word(end.text) in _CONDITIONS:
                raise self.error("a condition written in prose cannot be read; write the "
                                 "cases as \\begin{cases} … & \\text{if } … \\\\ … & "
                                 "\\text{otherwise} \\end{cases}", end.span)
            if end.kind == TEXT or (end.kind == OP and end.text in (".", ":")):
                # prose or a full stop ends what the row defines
                self.pos = self.scan(self.pos + 1, False)
                while not self.row_end(self.peek()):
                    self.pos = self.scan(self.pos + 1, False)
                return
            raise self.error(f"unexpected {describe(end)}", end.span)

    def check_elision(self, start: int) -> None:
        """A row that leaves steps out (\\vdots) while a declared function waits for its
        body: the text is a summary and cannot be read back."""
        i = start
        while self.toks[i].kind == OP and self.toks[i].text == "&":
            i += 1
        tok = self.toks[i]
        if self.pending is not None and tok.kind == CMD and tok.text in ELISIONS:
            raise self.not_computable(
                f"this text leaves steps out ({describe(tok)}), so "
                f"'{self.pending.name.id}' cannot be read from it; read the full text "
                "(explain(full=True), or chaincc explain --full)", tok.span)

    def declare(self, target: _Target) -> None:
        if self.pending is not None:
            raise self.undefined(self.pending)
        self.pending = target

    def undefined(self, target: _Target) -> ChainccError:
        name = target.name.id
        return self.error(f"'{name}(…):' declares {name} but no row '{name} = …' defines "
                          "it", target.span)

    def definition(self, target: _Target, eq: Tok) -> None:
        name = target.name
        if target.params is not None:
            if self.pending is not None:
                raise self.undefined(self.pending)
            params = list(target.params)
            self.scope = {p.name: p.shape for p in params}
            body, extent = self.expression(eq)
            taken = {p.name for p in params}
            used = _names_in(body)
            for sub in name.subs:        # g_{\beta}(x): β is a parameter of the family
                if sub not in taken and sub in used:
                    params.append(st.Param(sub, (), name.span))
                    taken.add(sub)
            self.statements.append(st.FuncDef(target.span.to(extent), name.id,
                                              tuple(params), body, name.span))
            self.functions.add(name.id)
        elif self.pending is not None and self.pending.name.id == name.id:
            decl = self.pending
            self.scope = {p.name: p.shape for p in decl.params or ()}
            body, extent = self.expression(eq)
            self.pending = None
            self.statements.append(st.FuncDef(decl.span.to(extent), name.id,
                                              decl.params or (), body, decl.name.span))
            self.functions.add(name.id)
        else:
            pending = self.pending
            self.scope = {p.name: p.shape for p in pending.params or ()} if pending else {}
            body, extent = self.expression(eq)
            self.statements.append(st.Binding(target.span.to(extent), name.id, body,
                                              name.span))
        self.bound.add(name.id)
        sz.record(self.sizes, self.statements[-1])
        self.scope = {}

    def finish(self) -> st.Module:
        if self.pending is not None:
            raise self.undefined(self.pending)
        statements = self.statements
        if not any(isinstance(s, st.FuncDef) for s in statements):
            if not statements:
                first = self.toks[0]
                raise self.error("no definition found: write a function as "
                                 "'f(x, y) = …' (or a value as 'name = …')", first.span)
            statements[-1] = self.value_function(statements[-1])
        return st.Module(self.source.name, tuple(statements),
                         tuple(in_order(self.warnings)))

    def value_function(self, binding: st.Statement) -> st.FuncDef:
        """``J = ½(y - ŷ)²`` with no function defined: the function J of the names it
        uses that nothing defines, in the order they first appear."""
        assert isinstance(binding, st.Binding)
        bindings = {s.name: s for s in self.statements if isinstance(s, st.Binding)
                    and s is not binding}
        params: list[st.Param] = []
        seen: set[str] = set()
        # each node with the index variables of the sums around it
        todo: list[tuple[st.Node | tuple[str, Span], frozenset[str]]] = [
            (binding.value, frozenset())]
        visited: set[str] = set()
        while todo:
            node, around = todo.pop()
            if isinstance(node, tuple):             # a name that nothing defines
                if node[0] not in seen:
                    seen.add(node[0])
                    params.append(st.Param(node[0], (), node[1]))
                continue
            if isinstance(node, st.Call):
                fname = node.func.id
                if fname not in BUILTINS:
                    raise self.not_computable(
                        f"'{fname}' is applied to arguments but not defined; define it "
                        f"first ({fname}(x) = …), or write {fname} \\cdot (…) for a product",
                        node.func.span)
                todo.extend((arg, around) for arg in reversed(node.args))
                continue
            if isinstance(node, st.Name):
                pieces = [node.id]
                if id(node) in self.runs and node.id not in bindings:
                    pieces = _letters(node.id)
                for piece in reversed(pieces):
                    if piece in around:
                        continue
                    if piece in bindings:
                        if piece not in visited:
                            visited.add(piece)
                            todo.append((bindings[piece].value, frozenset()))
                    elif piece not in CONSTANTS and piece not in BUILTINS:
                        todo.append(((piece, node.span), around))
                continue
            if isinstance(node, st.Reduce):
                inner = around | {r.var for r in node.ranges}
                todo.append((node.body, inner))
                for r in reversed(node.ranges):
                    todo.extend([(r.stop, around), (r.start, around)])
                continue
            if isinstance(node, st.Index) and isinstance(node.base, st.Name) and \
                    node.base.id not in bindings and node.base.id not in around:
                base = node.base.id
                raise self.error(f"'{base}' is indexed ({self.text_of(node.span)}) but no "
                                 f"parameter gives its shape: define the function with its "
                                 f"parameters, as in {binding.name}({base} \\in "
                                 f"\\mathbb{{R}}^{{3}}, …) = …", node.span)
            todo.extend((child, around) for child in reversed(_children(node)))
        return st.FuncDef(binding.span, binding.name, tuple(params), binding.value,
                          binding.name_span)

    # -------------------------------------------------- targets and parameters

    def target(self, start: int, stop: int) -> _Target | None:
        """The left side of a definition, tokens ``start``..``stop``: ``name`` or
        ``name(params)``; None when they are anything else (a derivative, an equation)."""
        toks = self.toks
        i = start
        while toks[i].kind == OP and toks[i].text == "&":
            i += 1
        if i >= stop:
            return None
        got = self.read_name(i)
        if got is None:
            return None
        name, i = got
        while i < stop and toks[i].kind == OP and toks[i].text == "&":
            i += 1
        if i == stop:
            return _Target(name, None, name.span)
        opener = toks[i]
        if not (opener.kind == DELIM and opener.text == "(" and opener.side != "right"):
            return None
        got_params = self.param_list(i, stop)
        if got_params is None:
            return None
        params, i, end = got_params
        while i < stop and toks[i].kind == OP and toks[i].text == "&":
            i += 1
        if i != stop:
            return None
        return _Target(name, params, name.span.to(end))

    def param_list(self, i: int, stop: int) -> tuple[tuple[st.Param, ...], int, Span] | None:
        toks = self.toks
        opener = toks[i]
        i += 1
        params: list[st.Param] = []
        seen: set[str] = set()
        closer = toks[i]
        if closer.kind == DELIM and closer.text == ")":
            return (), i + 1, closer.span
        while i < stop:
            got = self.read_name(i)
            if got is None:
                return None
            name, i = got
            shape: tuple[int, ...] = ()
            end = name.span
            tok = toks[i]
            if tok.kind == DELIM and tok.text == "[" and tok.side == "":
                shape, i, end = self.shape_list(i)
            elif tok.kind == CMD and tok.text == "in":
                shape, i, end = self.domain(i)
            if name.id in seen:
                raise self.error(f"duplicate parameter '{name.id}'", name.span.to(end))
            seen.add(name.id)
            params.append(st.Param(name.id, shape, name.span.to(end)))
            sep = toks[i]
            if sep.kind == DELIM and sep.text == ")" and (
                    (opener.side == "left") == (sep.side == "right")):
                return tuple(params), i + 1, sep.span
            if not (sep.kind == OP and sep.text in (",", ";")):
                return None
            i += 1
        return None

    def shape_list(self, i: int) -> tuple[tuple[int, ...], int, Span]:
        """``[2,3]`` after a parameter (as in the text syntax)."""
        toks = self.toks
        sizes: list[int] = []
        i += 1
        while True:
            size = toks[i]
            sizes.append(self.size(size))
            sep = toks[i + 1]
            if sep.kind == DELIM and sep.text == "]":
                return tuple(sizes), i + 2, sep.span
            if not (sep.kind == OP and sep.text == ","):
                raise self.error(f"expected ',' or ']' in the array shape, found "
                                 f"{describe(sep)}", sep.span)
            i += 2

    def size(self, tok: Tok) -> int:
        """One entry of a shape: a whole number, or a size (an earlier binding of an
        integer, ``n = 4``)."""
        name = tok.text if tok.kind == NAME else GREEK.get(tok.text) if tok.kind == CMD \
            else None
        if name is not None and name in self.sizes:
            value = self.sizes[name]
            if value <= 0:
                raise self.error(f"array sizes must be positive integers, found '{name}' "
                                 f"({value})", tok.span)
            if len(str(value)) > _MAX_SIZE_DIGITS:
                raise self.error(f"array size {name} ({value:,}) is too large", tok.span)
            return value
        digits = tok.text.lstrip("0")
        if tok.kind != NUM or not tok.text.isdigit() or not digits:
            hint = " or sizes (integers bound before, as n = 4)" if name is not None else ""
            raise self.error(f"array sizes must be positive integers{hint}, found "
                             f"{describe(tok)}", tok.span)
        if len(digits) > _MAX_SIZE_DIGITS:
            raise self.error(f"array size {tok.text} is too large", tok.span)
        return int(digits)

    def domain(self, i: int) -> tuple[tuple[int, ...], int, Span]:
        """``\\in \\mathbb{R}``, ``\\in \\mathbb{R}^{3}``, ``\\in \\mathbb{R}^{2 \\times 3}``."""
        toks = self.toks
        space = toks[i + 1]
        if not ((space.kind == WORD and space.text.strip() == "R"
                 and space.side in ("mathbb", "mathbf", "mathrm"))
                or (space.kind == CMD and space.text in ("R", "Reals"))):
            raise self.error("a parameter's domain is written \\in \\mathbb{R}, "
                             "\\in \\mathbb{R}^{n} or \\in \\mathbb{R}^{m \\times n}",
                             space.span)
        i += 2
        if not (toks[i].kind == OP and toks[i].text == "^"):
            return (), i, space.span
        i += 1
        if toks[i].kind in (NUM, NAME):
            first, nxt = self.split_first(i)
            return (self.size(first),), nxt, first.span
        if toks[i].kind == CMD and toks[i].text in GREEK:
            return (self.size(toks[i]),), i + 1, toks[i].span
        if not (toks[i].kind == OP and toks[i].text == "{"):
            raise self.error("write the dimensions in braces: \\mathbb{R}^{2 \\times 3}",
                             toks[i].span)
        i += 1
        sizes: list[int] = []
        while True:
            sizes.append(self.size(toks[i]))
            if len(sizes) > MAX_DIMENSIONS:
                raise self.error(f"an array parameter has at most {MAX_DIMENSIONS} "
                                 "dimensions", toks[i].span)
            sep = toks[i + 1]
            if sep.kind == OP and sep.text == "}":
                return tuple(sizes), i + 2, sep.span
            if not ((sep.kind == CMD and sep.text == "times")
                    or (sep.kind == OP and sep.text in ("×", ","))):
                raise self.error(f"expected \\times or '}}' between array sizes, found "
                                 f"{describe(sep)}", sep.span)
            i += 2


def _children(node: st.Node) -> list[st.Node]:
    if isinstance(node, st.Unary | st.Not | st.Transpose):
        return [node.operand]
    if isinstance(node, st.Binary | st.Compare | st.BoolOp):
        return [node.left, node.right]
    if isinstance(node, st.Call):
        return list(node.args)
    if isinstance(node, st.Index):
        return [node.base, *node.indices]
    if isinstance(node, st.ArrayLit):
        return list(node.items)
    if isinstance(node, st.Reduce):
        return [*(end for r in node.ranges for end in (r.start, r.stop)), node.body]
    return []


def _names_in(node: st.Node) -> set[str]:
    """The names a formula uses, but not the index variables of its sums inside them."""
    found: set[str] = set()
    todo: list[tuple[st.Node, frozenset[str]]] = [(node, frozenset())]
    while todo:
        n, around = todo.pop()
        if isinstance(n, st.Name) and n.id not in around:
            found.add(n.id)
        if isinstance(n, st.Reduce):
            inner = around | {r.var for r in n.ranges}
            todo.append((n.body, inner))
            todo.extend((end, around) for r in n.ranges for end in (r.start, r.stop))
            continue
        todo.extend((child, around) for child in _children(n))
    return found


def _first_word(text: str) -> str:
    words = text.replace(",", " ").split()
    return words[0].lower() if words else ""


def _letters(run: str) -> list[str]:
    """``xy`` → x, y; ``x1y2`` → x1, y2: the names a run of letters is read as when
    nothing defines the run itself."""
    out: list[str] = []
    for ch in run:
        if ch.isdigit() and out:
            out[-1] += ch
        else:
            out.append(ch)
    return out


def parse_latex(source: Source) -> st.Module:
    """Read the definitions in a LaTeX text. Raises ChainccError, located, on any error
    (NotComputable for notation chaincc cannot compute)."""
    return _Reader(source).module()
