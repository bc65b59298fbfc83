"""Sums and products over an index in LaTeX math, for the LaTeX reader (``latex_expr.py``;
the meanings are in docs/language.md, "LaTeX" and "Sums and products over an index").

``\\sum_{i=a}^{b}`` and ``\\prod_{i=a}^{b}`` (also ``\\sum\\limits``, ``^`` before ``_``,
and an unbraced last value, ``^n``): their ranges, whose ends are integer expressions read
here with an explicit stack; and the subscripts and brackets that read an element of an
array inside them (``x_i``, ``x_{i+1}``, ``A_{i,j}``, ``A_{ij}``, ``x[i+1]``). The
expression reader pushes each sum as a prefix operator and keeps its index variable in
scope until the sum's body is complete.
"""

from __future__ import annotations

from . import syntax as st
from .diagnostics import ChainccError
from .latex_lexer import BREAK, CMD, DELIM, NAME, NUM, OP, WORD, Tok
from .latex_names import GREEK, NameInfo, NameReader, NotComputable, Subscript, describe
from .lexer import MAX_NESTING
from .source import Source, Span

# the LaTeX commands that sum or multiply over an index, and the Reduce op of each
BIG_OPERATORS = {"sum": "sum", "prod": "prod"}
_WORDS = {"sum": "sum", "prod": "product"}
_INT_TIMES = frozenset({"*", "·", "×"})
_INT_TIMES_CMDS = frozenset({"cdot", "times"})
# open brackets of an integer expression and what closes each
_INT_CLOSERS = {"(": ")", "{": "}"}


class IterationReader(NameReader):
    """Reading the ranges of sums and products, and elements of arrays inside them."""

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self.indices: dict[str, int] = {}     # index variables of the sums being read

    # ------------------------------------------------------------- scope of an index

    def open_index(self, var: str) -> None:
        self.indices[var] = self.indices.get(var, 0) + 1

    def close_index(self, var: str) -> None:
        left = self.indices[var] - 1
        if left:
            self.indices[var] = left
        else:
            del self.indices[var]

    # --------------------------------------------------------------- the big operator

    def big_operator(self, tok: Tok) -> tuple[st.Range, Span]:
        """The range after ``\\sum`` or ``\\prod`` (the command is read, ``self.pos`` is
        past it): ``_{i=a}^{b}``, in either order. Returns the range and the span of the
        whole head, ``\\sum_{i=a}^{b}``; ``self.pos`` ends past the head."""
        toks = self.toks
        cmd = f"\\{tok.text}"
        example = f"{cmd}_{{i=0}}^{{n-1}} x_i"
        i = self.skip_breaks(self.pos)
        var: tuple[str, Span] | None = None
        first: st.Node | None = None
        last: tuple[st.Node, Span] | None = None
        end = tok.span
        while True:
            script = toks[i]
            if script.kind == OP and script.text == "_" and var is None:
                name, var_span, first, i = self.lower_limit(i + 1, cmd, example)
                var = (name, var_span)
            elif script.kind == OP and script.text == "^" and last is None:
                what = f"'{var[0]}'" if var is not None else "the index"
                node, extent, i = self.upper_limit(i + 1, what, example)
                last = (node, extent)
            elif script.kind == OP and script.text in ("_", "^"):
                raise self.error(f"'{cmd}' takes one '_{{…}}' and one '^{{…}}' (as in "
                                 f"{example})", script.span)
            else:
                break
            end = toks[i - 1].span
            i = self.skip_breaks(i)
        found = toks[i]
        where = end if self.row_end(found) else found.span
        if var is None:
            word = _WORDS[tok.text]
            raise self.error(f"expected '_{{i=…}}' after '{cmd}': a {word} over an index is "
                             f"written {example}; for the {word} of an array's elements "
                             f"write \\operatorname{{{tok.text}}}(x)", where)
        if last is None:
            raise self.error(f"expected '^' and the last value of '{var[0]}' after "
                             f"'{cmd}_{{…}}' (as in {example}), found {describe(found)}",
                             where)
        assert first is not None
        self.pos = i
        name, var_span = var
        stop, extent = last
        span = var_span.to(extent) if (extent.line, extent.col) > (var_span.line,
                                                                   var_span.col) \
            else extent.to(var_span)
        return st.Range(name, first, stop, span, var_span), tok.span.to(end)

    def skip_breaks(self, i: int) -> int:
        """A line break inside a sum's head, or right after it, does not end the
        statement (math written without delimiters)."""
        while self.toks[i].kind == BREAK:
            i += 1
        return i

    def lower_limit(self, i: int, cmd: str, example: str) -> tuple[str, Span, st.Node, int]:
        """``{i=a}`` from token ``i``: the index variable, its span, its first value and
        the index after the closing brace."""
        toks = self.toks
        brace = toks[i]
        if not (brace.kind == OP and brace.text == "{"):
            raise self.error(f"expected '{{' after '{cmd}_': the index variable and its "
                             f"first value are written in braces (as in {example}), found "
                             f"{describe(brace)}", brace.span)
        var = toks[i + 1]
        if var.kind == NAME:
            name = var.text
        elif var.kind == CMD and var.text in GREEK:
            name = GREEK[var.text]
        else:
            raise self.error(f"expected an index variable after '{cmd}_{{' (as in "
                             f"{example}), found {describe(var)}", var.span)
        eq = toks[i + 2]
        if not (eq.kind == OP and eq.text == "="):
            raise self.error(f"expected '=' and the first value after the index variable "
                             f"'{name}' (as in {example}), found {describe(eq)}", eq.span)
        first, _, j = self.integer(i + 3, f"the first value of '{name}' (as in {example})")
        close = toks[j]
        if not (close.kind == OP and close.text == "}"):
            raise self.error(f"expected '}}' after the first value of '{name}' (as in "
                             f"{example}), found {describe(close)}", close.span)
        return name, var.span, first, j + 1

    def upper_limit(self, i: int, what: str, example: str) -> tuple[st.Node, Span, int]:
        """The last value after '^' at token ``i``: an integer expression in braces, or one
        character, as TeX reads a script (``^n``; ``^10`` is ``^1`` then 0)."""
        toks = self.toks
        tok = toks[i]
        if tok.kind == OP and tok.text == "{":
            node, extent, j = self.integer(i + 1, f"the last value of {what} (as in "
                                                  f"{example})")
            close = toks[j]
            if not (close.kind == OP and close.text == "}"):
                raise self.error(f"expected '}}' after the last value of {what} (as in "
                                 f"{example}), found {describe(close)}", close.span)
            return node, extent, j + 1
        if tok.kind in (NUM, NAME):
            first, nxt = self.split_first(i)
            if first.kind == NUM:
                return st.Num(first.span, first.text), first.span, nxt
            return st.Name(first.span, first.text), first.span, nxt
        if tok.kind == CMD and tok.text in GREEK:
            return st.Name(tok.span, GREEK[tok.text]), tok.span, i + 1
        if tok.kind == CMD and tok.text == "infty":
            raise self.infinite(tok)
        raise self.error(f"expected the last value of {what} after '^': a number, a name, "
                         f"or an integer expression in braces (as in {example}), found "
                         f"{describe(tok)}", tok.span)

    def empty_body(self, op_tok: Tok, head: Span, found: Tok) -> ChainccError:
        cmd = f"\\{op_tok.text}"
        return self.error(f"'{self.text_of(head) or cmd}' has no body: the {_WORDS[op_tok.text]}"
                          f" is of what follows it (as in {cmd}_{{i=0}}^{{n-1}} x_i^2), "
                          f"found {describe(found)}", head)

    def infinite(self, tok: Tok) -> NotComputable:
        return self.not_computable("a sum or product to infinity (a series) cannot be "
                                   "computed: its ends are integers", tok.span)

    # ----------------------------------------------------------- integer expressions

    def integer(self, i: int, what: str) -> tuple[st.Node, Span, int]:
        """An integer expression from token ``i`` (the end of a range, an index): numbers,
        names, ``+ - \\cdot \\times *``, signs, brackets and products written by
        juxtaposition (``2n``, ``2(n+1)``). It ends before the first token at its top
        level that cannot continue it; ``/``, ``^`` and fractions are errors. Returns the
        node, its extent and the index where it ends. Sizes and index variables are
        checked where the program is lowered."""
        toks = self.toks
        operands: list[tuple[st.Node, Span]] = []
        ops: list[tuple[str, Tok | None, int]] = []    # (op or opener, token, power)
        opens = 0                                      # brackets open
        want = True
        while True:
            tok = toks[i]
            kind, text = tok.kind, tok.text
            if want:
                if kind == OP and text in ("+", "-"):
                    self.int_push(ops, (f"sign{text}", tok, 3), tok)
                    i += 1
                    continue
                opener = _int_opener(tok)
                if opener:
                    self.int_push(ops, (opener, tok, 0), tok)
                    opens += 1
                    i += 1
                    continue
                if kind == NUM:
                    operands.append((st.Num(tok.span, text), tok.span))
                    i += 1
                else:
                    got = self.read_name(i) if kind in (NAME, CMD, WORD) else None
                    if kind == CMD and text == "infty":
                        raise self.infinite(tok)
                    if got is None:
                        raise self.error(f"expected {what}, found {describe(tok)}", tok.span)
                    info, i = got
                    operands.append((st.Name(info.span, info.id), info.span))
                want = False
                continue
            if kind == OP and text in ("+", "-"):
                _int_reduce(operands, ops, 1)
                self.int_push(ops, (text, tok, 1), tok)
            elif (kind == OP and text in _INT_TIMES) or (kind == CMD and
                                                         text in _INT_TIMES_CMDS):
                _int_reduce(operands, ops, 2)
                self.int_push(ops, ("*", tok, 2), tok)
            elif _int_closer(tok) and opens:
                _int_reduce(operands, ops, 1)
                opener_op, opener_tok, _ = ops.pop()
                opens -= 1
                assert opener_tok is not None
                if _INT_CLOSERS[opener_op] != _int_closer(tok):
                    raise self.error(f"{describe(tok)} does not close the "
                                     f"{describe(opener_tok)} at line "
                                     f"{opener_tok.span.line}, column {opener_tok.span.col}",
                                     tok.span)
                node, _ = operands.pop()
                operands.append((node, opener_tok.span.to(tok.span)))
                i += 1
                continue
            elif kind in (NAME, WORD) or _int_opener(tok) or (kind == CMD and
                                                               text in GREEK):
                _int_reduce(operands, ops, 2)              # 2n, 2(n+1), n m
                self.int_push(ops, ("*", None, 2), tok)
                want = True
                continue
            elif (kind == OP and text in ("/", "^")) or (kind == CMD and text in (
                    "frac", "dfrac", "tfrac", "cfrac", "div")):
                raise self.error(f"{describe(tok)} has no place in an integer expression: "
                                 f"{what[0:1].lower()}{what[1:]} is written with numbers, "
                                 "sizes, index variables, + - \\cdot and brackets", tok.span)
            else:
                if opens:
                    open_at = next(t for _, t, power in reversed(ops) if power == 0)
                    assert open_at is not None
                    raise self.error(f"{describe(open_at)} is never closed (found "
                                     f"{describe(tok)})", open_at.span)
                break
            i += 1
            want = True
        _int_reduce(operands, ops, 1)
        assert len(operands) == 1 and not ops
        node, extent = operands[0]
        return node, extent, i

    def int_push(self, ops: list[tuple[str, Tok | None, int]],
                 entry: tuple[str, Tok | None, int], tok: Tok) -> None:
        if len(ops) >= MAX_NESTING:
            raise self.error(f"expression nested more than {MAX_NESTING:,} levels deep",
                             tok.span)
        ops.append(entry)

    # ------------------------------------------------------------- elements of arrays

    def element(self, info: NameInfo) -> st.Index | None:
        """``x_i``, ``x_{i+1}``, ``A_{i,j}``, ``A_{ij}`` inside a sum over i (and j): the
        element of the array x, when the subscript names an index variable of an
        enclosing sum and the subscripted name is not itself a parameter or an earlier
        binding. None otherwise (the subscript is part of the name)."""
        sub = info.sub
        if sub is None or not self.indices or self.known(info.id) or \
                not any(name in self.indices for name in info.subs):
            return None
        base = st.Name(sub.base, info.base)
        if sub.first < 0:
            return st.Index(info.span, base, (st.Name(sub.span, sub.label),))
        return st.Index(info.span, base, self.subscript_indices(sub, info.base))

    def subscript_indices(self, sub: Subscript, base: str) -> tuple[st.Node, ...]:
        toks = self.toks
        i, stop = sub.first, sub.stop
        tok = toks[i]
        if i + 1 == stop and tok.kind == NAME and len(tok.text) > 1 and \
                tok.text not in self.indices and all(c in self.indices for c in tok.text):
            # A_{ij}: a run of index variables, one index each
            s = tok.span
            return tuple(st.Name(Span(s.file, s.line, s.col + k, s.line, s.col + k + 1), c)
                         for k, c in enumerate(tok.text))
        items: list[st.Node] = []
        example = f"{base}_{{i+1}}"
        while True:
            node, _, i = self.integer(i, f"an index of '{base}' (as in {example})")
            items.append(node)
            if i == stop:
                return tuple(items)
            sep = toks[i]
            if not (sep.kind == OP and sep.text == ","):
                raise self.error(f"expected ',' or '}}' in the index of '{base}', found "
                                 f"{describe(sep)}", sep.span)
            i += 1

    def bracket_index_follows(self, i: int) -> bool:
        """``x[i+1, j]`` from the '[' at token ``i``, inside a sum over i: indices that are
        integer expressions naming an index variable of an enclosing sum (constant
        indices, ``x[0]``, are read anywhere)."""
        if not self.indices:
            return False
        toks = self.toks
        named = False
        i += 1
        while True:
            tok = toks[i]
            if tok.kind == NAME and tok.text in self.indices:
                named = True
            elif tok.kind == CMD and tok.text in GREEK and GREEK[tok.text] in self.indices:
                named = True
            elif not ((tok.kind == NUM and tok.text.isdigit()) or tok.kind == NAME or (
                    tok.kind == OP and tok.text in ("+", "-", "*", ",")) or (
                    tok.kind == CMD and (tok.text in _INT_TIMES_CMDS or tok.text in GREEK))):
                return named and tok.kind == DELIM and tok.text == "]" and tok.side == ""
            i += 1


def _int_opener(tok: Tok) -> str:
    if tok.kind == OP and tok.text == "{":
        return "{"
    if tok.kind == DELIM and tok.text == "(" and tok.side in ("", "left", "open", "big"):
        return "("
    return ""


def _int_closer(tok: Tok) -> str:
    if tok.kind == OP and tok.text == "}":
        return "}"
    if tok.kind == DELIM and tok.text in (")", "]"):
        return tok.text
    return ""


def _int_reduce(operands: list[tuple[st.Node, Span]], ops: list[tuple[str, Tok | None, int]],
                power: int) -> None:
    """Apply the pending operators that bind at least as tightly as ``power``."""
    while ops and ops[-1][2] >= power and ops[-1][2] > 0:
        op, tok, _ = ops.pop()
        if op.startswith("sign"):
            operand, extent = operands.pop()
            assert tok is not None
            span = tok.span.to(extent)
            operands.append((st.Unary(span, op[-1], operand), span))
            continue
        right, right_extent = operands.pop()
        left, left_extent = operands.pop()
        span = left_extent.to(right_extent)
        operands.append((st.Binary(span, op, left, right, tok is None), span))
