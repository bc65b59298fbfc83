"""Expressions in LaTeX math, for the LaTeX reader (``latex.py``; the meanings are in
docs/language.md, "LaTeX").

One iterative operator-precedence loop reads an expression: its explicit stack holds the
pending operators and every open construct (brackets, bars, ``\\frac`` and ``\\sqrt``
arguments, exponents, ``cases``, matrices, a function's argument written without
brackets), so nesting is bounded by the limits of the language, not by Python's recursion.
TeX's rules decide what an exponent or an argument holds: one character or a group.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import syntax as st
from .builtins import CONSTANTS
from .diagnostics import ChainccError
from .latex_iteration import BIG_OPERATORS, IterationReader
from .latex_lexer import BEGIN, BREAK, CMD, DELIM, END, EOF, NAME, NUM, OP, ROW, TEXT, WORD, Tok
from .latex_names import ACCENTS, GREEK, TYPOGRAPHIC, describe
from .lexer import MAX_NAME, MAX_NESTING
from .parser import MAX_DIMENSIONS
from .source import Source, Span

# LaTeX's own function commands and the built-in each one is
FUNCTION_CMDS = {"sin": "sin", "cos": "cos", "tan": "tan", "sinh": "sinh", "cosh": "cosh",
                 "tanh": "tanh", "exp": "exp", "ln": "ln", "log": "log", "max": "max",
                 "min": "min", "arcsin": "asin", "arccos": "acos", "arctan": "atan"}
_INVERSES = {"sin": "asin", "cos": "acos", "tan": "atan", "sinh": "asinh",
             "cosh": "acosh", "tanh": "atanh"}
FRACS = frozenset({"frac", "dfrac", "tfrac", "cfrac"})
_TIMES = {"cdot": "*", "times": "*", "odot": "*", "ast": "*", "div": "/"}
_OP_ARITH = {"+": "+", "-": "-", "*": "*", "·": "*", "×": "*", "/": "/", "@": "@"}
_RELATIONS = {"<": "<", ">": ">", "<=": "<=", ">=": ">=", "!=": "!=", "==": "==",
              "lt": "<", "gt": ">", "le": "<=", "leq": "<=", "leqslant": "<=", "ge": ">=",
              "geq": ">=", "geqslant": ">=", "ne": "!=", "neq": "!="}
_BOOLS = {"land": "and", "wedge": "and", "lor": "or", "vee": "or", "and": "and",
          "or": "or"}
_NOTS = frozenset({"neg", "lnot"})
MATRIX_ENVS = frozenset({"pmatrix", "bmatrix", "Bmatrix", "matrix", "smallmatrix"})
_CASE_IF = frozenset({"if", "for", "when", "where", "falls", "if:"})
_CASE_ELSE = frozenset({"otherwise", "else", "sonst"})

# Notation that states what chaincc cannot compute, and why.
_NOT_COMPUTABLE = {
    "int": "an integral cannot be computed", "iint": "an integral cannot be computed",
    "oint": "an integral cannot be computed",
    "lim": "a limit cannot be computed", "limsup": "a limit cannot be computed",
    "liminf": "a limit cannot be computed",
    "partial": "\\partial is derivative notation; chaincc computes the derivatives of what "
               "you define",
    "nabla": "\\nabla is derivative notation; chaincc computes the gradient of what you "
             "define",
    "prime": "a prime is derivative notation; chaincc computes the derivatives of what you "
             "define",
    "dots": "an elision (\\dots) leaves terms out, so it cannot be computed",
    "ldots": "an elision (\\ldots) leaves terms out, so it cannot be computed",
    "cdots": "an elision (\\cdots) leaves terms out, so it cannot be computed",
    "vdots": "an elision (\\vdots) leaves rows out, so it cannot be computed",
    "ddots": "an elision (\\ddots) leaves entries out, so it cannot be computed",
    "underbrace": "\\underbrace annotates a formula; write the formula without it",
    "overbrace": "\\overbrace annotates a formula; write the formula without it",
    "argmax": "argmax is an optimisation, not a formula", "argmin":
        "argmin is an optimisation, not a formula",
    "sup": "a supremum cannot be computed", "inf": "an infimum cannot be computed",
    "mathbb": "\\mathbb{…} names a set, not a value",
}
ELISIONS = frozenset({"dots", "ldots", "cdots", "vdots", "ddots"})

# \sum_{i=a}^{b} takes the product that follows it, as a sign does: looser than a product,
# tighter than "+" (as Σ_{i=a}^{b} in the text syntax)
_OR, _AND, _NOT, _CMP, _ADD, _BIG, _MUL, _SIGN, _POW = range(1, 10)
_ARITH, _CMP_OP, _BOOL = "arith", "compare", "bool"
OPENERS = "([{⌊⌈"
_CLOSERS = {"(": ")", "[": "]", "{": "}", "⌊": "⌋", "⌈": "⌉", "|": "|", "‖": "‖"}
Operand = tuple[st.Node, Span, str]   # node, extent, and what it is: "num", "name", "e"...


@dataclass
class _Op:
    tok: Tok | None              # None for an implicit product
    family: str
    op: str
    power: int
    ranges: tuple[st.Range, ...] = ()      # a sum or product over an index: its range
    head: Span | None = None               # and where \sum_{…}^{…} is written


@dataclass
class _Frame:
    """An open construct. ``kind``: paren, bracket, brace, null, call, abs, norm, floor,
    ceil, index, group, frac_num, frac_den, sup, root_index, root_body, fn_group,
    brace_wrap, fnarg, cases, matrix."""

    kind: str
    tok: Tok                     # what opened it
    start: Span                  # where the finished node's span begins
    head: object = None
    items: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)


class ExpressionReader(IterationReader):
    """Reads one expression at a time from the current token."""

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self.operands: list[Operand] = []
        self.stack: list[_Op | _Frame] = []
        self.arrays = 0                       # array literals open

    def expression(self, after: Tok) -> tuple[st.Node, Span]:
        """One expression from the current token; stops before a token that cannot
        continue it."""
        self.operands, self.stack, self.arrays = [], [], 0
        self.indices = {}
        want = True
        while True:
            tok = self.peek()
            if want:
                if self.row_end(tok) and not self.stack and not self.operands:
                    raise self.error(f"expected an expression after {describe(after)}",
                                     after.span)
                want = self.operand(tok)
            else:
                going = self.after(tok)
                if going is None:
                    break
                want = going
        while self.stack:
            top = self.stack[-1]
            if isinstance(top, _Frame):
                if top.kind == "fnarg":
                    self.close_fnarg()
                    continue
                raise self.unclosed(top, self.peek())
            self.reduce()
        node, extent, _ = self.operands.pop()
        assert not self.operands
        return node, extent

    def push(self, entry: _Op | _Frame, span: Span) -> None:
        if len(self.stack) >= MAX_NESTING:
            raise self.error(f"expression nested more than {MAX_NESTING:,} levels deep",
                             span)
        self.stack.append(entry)

    def push_operand(self, node: st.Node, span: Span, mark: str = "") -> None:
        self.operands.append((node, span, mark))

    def frame(self, skip_fnargs: bool = True) -> _Frame | None:
        for entry in reversed(self.stack):
            if isinstance(entry, _Frame) and not (skip_fnargs and entry.kind == "fnarg"):
                return entry
        return None

    def bar_open(self, canon: str) -> bool:
        """Whether a bare | (or ‖) bar is open: bare bars do not nest."""
        return any(isinstance(e, _Frame) and e.kind in ("abs", "norm") and
                   e.tok.text == canon and e.tok.side == "" for e in self.stack)

    # -- where an operand starts

    def operand(self, tok: Tok) -> bool:
        """Read the token where an operand must start; True while one is still wanted."""
        kind, text = tok.kind, tok.text
        top = self.stack[-1] if self.stack else None
        if isinstance(top, _Op) and top.ranges and self.ends_body(tok):
            assert top.tok is not None and top.head is not None
            raise self.empty_body(top.tok, top.head, tok)
        if kind == OP and text == "&":
            frame = self.frame()
            if frame is not None and frame.kind in ("cases", "matrix"):
                raise self.error("expected an expression before '&'", tok.span)
            self.pos += 1
            return True
        if kind == NUM:
            self.pos += 1
            self.push_operand(st.Num(tok.span, text), tok.span, "num")
            return False
        if kind in (WORD, TEXT):
            fn = self.is_function_word(tok)
            if fn is not None:
                return self.function(tok, fn)
            if kind == TEXT and text.strip() == "not":
                return self.prefix(tok, "not")
            if kind == TEXT and not self.text_name(tok):
                raise self.error("prose (\\text{…}) where an expression is expected",
                                 tok.span)
            if kind == WORD and tok.side == "mathbb":
                raise self.error("\\mathbb{…} names a set, not a value", tok.span)
            return self.name_operand(tok)
        if kind == NAME or (kind == CMD and (text in GREEK or text in ACCENTS
                                            or text in TYPOGRAPHIC)):
            return self.name_operand(tok)
        if kind == CMD:
            return self.command(tok)
        if kind == BEGIN:
            return self.environment(tok)
        if kind == END:
            frame = self.frame()
            if frame is not None and frame.kind in ("cases", "matrix") and \
                    frame.extra.get("env") == text:
                return self.end_environment(tok, with_operand=False)
        if kind == ROW:
            frame = self.frame()
            if frame is not None and frame.kind in ("cases", "matrix") and \
                    self.empty_row(frame):
                self.pos += 1
                return True
        if kind == DELIM:
            return self.open_delim(tok)
        if kind == OP:
            if text == "{":
                self.pos += 1
                self.push(_Frame("group", tok, tok.span), tok.span)
                return True
            if text in ("+", "-"):
                return self.prefix(tok, text)
            if text == "." and self.peek(1).text == "." and self.peek(2).text == ".":
                raise self.not_computable(_NOT_COMPUTABLE["dots"], tok.span.to(
                    self.peek(2).span))
            if text == "'":
                raise self.not_computable(_NOT_COMPUTABLE["prime"], tok.span)
        raise self.expected(tok)

    def ends_body(self, tok: Tok) -> bool:
        """Whether ``tok``, right after ``\\sum_{…}^{…}``, cannot start its body."""
        kind, text = tok.kind, tok.text
        if self.row_end(tok) or kind in (EOF, END):
            return True
        if kind == OP:
            return text not in ("{", "+", "-", "&", ".", "'")
        if kind == DELIM:
            return tok.side in ("right", "close") or text in ")]}⌋⌉⟩"
        if kind == CMD:
            return text in _TIMES or text in _RELATIONS or text in _BOOLS
        if kind == TEXT:
            return not (self.text_name(tok) or self.is_function_word(tok)
                        or text.strip() == "not")
        return False

    def empty_row(self, frame: _Frame) -> bool:
        if frame.kind == "matrix":
            return not frame.extra["row"]
        return frame.extra["state"] == "value"

    def expected(self, tok: Tok) -> ChainccError:
        if self.row_end(tok) or tok.kind == EOF:
            frame = self.frame()
            if frame is not None:
                return self.unclosed(frame, tok)
            prev = self.toks[self.pos - 1] if self.pos else tok
            return self.error(f"expected an expression after {describe(prev)}, found "
                              f"{describe(tok)}", prev.span)
        return self.error(f"expected an expression, found {describe(tok)}", tok.span)

    def prefix(self, tok: Tok, op: str) -> bool:
        self.pos += 1
        if op == "not":
            self.push(_Op(tok, "prefix", "not", _NOT), tok.span)
        else:
            self.push(_Op(tok, "prefix", op, _SIGN), tok.span)
        return True

    def name_operand(self, tok: Tok) -> bool:
        toks = self.toks
        if tok.kind == NAME and len(tok.text) > 1:
            nxt = toks[self.pos + 1]
            if nxt.kind == OP and nxt.text in ("^", "_", "'"):
                # xy^2 is x·y²: a script binds to the character before it, as in TeX
                if not tok.text.isalpha():
                    raise self.error(
                        f"in TeX the '{nxt.text}' after '{tok.text}' binds to its last "
                        f"character only; write {tok.text[:-1]}_{{{tok.text[-1]}}}"
                        f"{nxt.text}… for a subscripted name, or put the name in braces",
                        tok.span.to(nxt.span))
                s = tok.span
                head = st.Name(Span(s.file, s.line, s.col, s.line, s.end_col - 1),
                               tok.text[:-1])
                if len(tok.text) > 2:
                    self.runs[id(head)] = head
                self.push_operand(head, head.span, "name")
                self.toks[self.pos] = Tok(NAME, tok.text[-1], Span(
                    s.file, s.line, s.end_col - 1, s.line, s.end_col), tok.end - 1, tok.end)
                self.push_binary(None, _ARITH, "*", _MUL)
                return True
        got = self.read_name(self.pos)
        if got is None:
            raise self.expected(tok)
        info, end = got
        self.pos = end
        node = st.Name(info.span, info.id)
        if info.run:
            self.runs[id(node)] = node
        nxt = self.peek()
        if nxt.kind == OP and nxt.text == "'":
            raise self.not_computable(
                f"'{info.id}'' (a prime) is derivative notation; chaincc computes the "
                "derivatives of what you define. For a transpose write A^{\\top}", nxt.span)
        element = self.element(info)
        if element is not None:
            self.push_operand(element, info.span, "index")
            return False
        if (info.index or info.sub is not None) and info.base in self.scope and \
                self.scope[info.base] and not self.known(info.id):
            raise self.error(f"'{info.base}' is an array: its elements are written "
                             f"{info.base}[…] (counting from 0), not with a subscript, "
                             f"except {info.base}_i inside a sum over i "
                             f"(\\sum_{{i=0}}^{{n-1}} {info.base}_i)", info.span)
        if _call_opener(nxt, name=True):
            if info.id == "σ" and info.plain:
                if self.known("σ"):
                    raise self.error(
                        "'\\sigma(…)' is ambiguous here: σ is also a name in scope; write "
                        "\\operatorname{sigmoid}(…) for the function or \\sigma \\cdot (…) "
                        "for the product", tok.span.to(nxt.span))
                node = st.Name(info.span, "sigmoid")
            return self.open_call(node, tok, None, None)
        mark = "e" if info.id == "e" and info.plain and not self.known("e") else "name"
        self.push_operand(node, info.span, mark)
        return False

    def command(self, tok: Tok) -> bool:
        text = tok.text
        if text in FUNCTION_CMDS:
            return self.function(tok, FUNCTION_CMDS[text])
        if text in BIG_OPERATORS:
            self.pos += 1
            rng, head = self.big_operator(tok)
            self.push(_Op(tok, "prefix", BIG_OPERATORS[text], _BIG, (rng,), head), tok.span)
            self.open_index(rng.var)
            return True
        if text in FRACS:
            self.pos += 1
            return self.open_arg("frac_num", tok.span, None, f"\\{tok.text}")
        if text == "sqrt":
            self.pos += 1
            nxt = self.peek()
            if nxt.kind == DELIM and nxt.text == "[" and nxt.side == "":
                self.pos += 1
                self.push(_Frame("root_index", nxt, tok.span), nxt.span)
                return True
            return self.open_arg("root_body", tok.span, None, "\\sqrt")
        if text == "infty":
            self.pos += 1
            self.push_operand(st.Name(tok.span, "inf"), tok.span, "name")
            return False
        if text in _NOTS:
            return self.prefix(tok, "not")
        raise self.command_error(tok)

    def command_error(self, tok: Tok) -> ChainccError:
        text = tok.text
        if text in _NOT_COMPUTABLE:
            return self.not_computable(_NOT_COMPUTABLE[text], tok.span)
        if text in _TIMES or text in _RELATIONS or text in _BOOLS:
            return self.error(f"expected an expression before '\\{text}'", tok.span)
        if text in ("sec", "csc", "cot", "coth", "arcsec", "arccsc", "arccot", "det", "gcd",
                    "deg", "dim", "ker", "hom", "arg", "Pr", "lg", "exp"):
            return self.error(f"'\\{text}' is not a built-in function of chaincc (see the "
                              "built-in functions in docs/language.md)", tok.span)
        return self.error(f"unknown LaTeX command '\\{text}'", tok.span)

    def environment(self, tok: Tok) -> bool:
        self.pos += 1
        if tok.text == "cases":
            self.push(_Frame("cases", tok, tok.span, extra={"state": "value", "env": "cases"}),
                      tok.span)
            return True
        if tok.text in MATRIX_ENVS:
            self.arrays += 1
            if self.arrays > MAX_DIMENSIONS:
                raise self.error(f"array literals nested more than {MAX_DIMENSIONS} deep",
                                 tok.span)
            self.push(_Frame("matrix", tok, tok.span, extra={"row": [], "env": tok.text}),
                      tok.span)
            return True
        raise self.error(f"the environment '{tok.text}' cannot stand in a formula "
                         "(cases and pmatrix, bmatrix, matrix can)", tok.span)

    def open_delim(self, tok: Tok) -> bool:
        canon, side = tok.text, tok.side
        if side in ("right", "close") or canon in ")]}⌋⌉⟩":
            raise self.expected(tok)
        if canon in "⟨/":
            raise self.error(f"the delimiter {describe(tok)} has no meaning in chaincc",
                             tok.span)
        self.pos += 1
        if canon == ".":
            self.push(_Frame("null", tok, tok.span), tok.span)
        elif canon in "|‖":
            if side == "" and self.bar_open(canon):
                raise self.error(
                    "bars written as | (or \\|) do not nest, so this one is ambiguous; "
                    "write \\left| … \\right| for the inner or the outer one", tok.span)
            self.push(_Frame("abs" if canon == "|" else "norm", tok, tok.span), tok.span)
        elif canon == "⌊":
            self.push(_Frame("floor", tok, tok.span), tok.span)
        elif canon == "⌈":
            self.push(_Frame("ceil", tok, tok.span), tok.span)
        elif canon == "[" and side == "":
            self.arrays += 1
            if self.arrays > MAX_DIMENSIONS:
                raise self.error(f"array literals nested more than {MAX_DIMENSIONS} deep",
                                 tok.span)
            self.push(_Frame("bracket", tok, tok.span), tok.span)
        else:
            self.push(_Frame("paren", tok, tok.span), tok.span)
        return True

    # -- functions

    def function(self, tok: Tok, fname: str) -> bool:
        """``\\sin``, ``\\log_2``, ``\\operatorname{relu}``: scripts, then the argument
        in brackets, in braces, or written without brackets."""
        self.pos += 1
        power: st.Node | None = None
        base: st.Node | None = None
        for _ in range(2):
            nxt = self.peek()
            if nxt.kind == OP and nxt.text == "^" and power is None:
                self.pos += 1
                power = self.small_exponent(nxt)
                if isinstance(power, st.Unary):
                    where = nxt.span.to(self.toks[self.pos - 1].span)
                    if fname not in _INVERSES or self.text_of(power.span) != "-1":
                        raise self.error(f"a negative power of {fname} is ambiguous: write "
                                         f"(\\{fname} x)^{{…}} for a power", where)
                    # the convention of calculus texts, as the text syntax reads sin⁻¹
                    self.warn(f"'\\{tok.text}^{{-1}}' is read as {_INVERSES[fname]}, the "
                              f"inverse function, not as 1/{fname}; write "
                              f"(\\{fname} x)^{{-1}} for the reciprocal", where)
                    fname, power = _INVERSES[fname], None
            elif nxt.kind == OP and nxt.text == "_" and base is None:
                self.pos += 1
                if fname in ("max", "min"):
                    raise self.not_computable(
                        f"\\{fname} over an index needs iteration, which the language has "
                        f"for sums and products only; for the {fname}imum of an array's "
                        f"elements write \\{fname}(x)", nxt.span)
                sub = self.function_subscript(nxt)
                if fname == "log" and isinstance(sub, st.Num) and sub.text in ("2", "10"):
                    fname = f"log{sub.text}"
                elif fname == "log" and isinstance(sub, st.Name) and sub.id == "e" and \
                        not self.known("e"):
                    fname = "ln"
                elif fname == "log":
                    base = sub
                elif fname == "atan" and isinstance(sub, st.Num) and sub.text == "2":
                    fname = "atan2"
                else:
                    raise self.error(f"a subscript after '{fname}' has no meaning here",
                                     nxt.span)
            else:
                break
        head = st.Name(tok.span, fname)
        nxt = self.peek()
        extra = {"power": power, "base": base}
        if _call_opener(nxt):
            return self.open_call(head, tok, power, base)
        if nxt.kind == OP and nxt.text == "{":
            self.pos += 1
            if _call_opener(self.peek()):
                self.push(_Frame("brace_wrap", nxt, tok.span), nxt.span)
                return self.open_call(head, tok, power, base)
            self.push(_Frame("fn_group", nxt, tok.span, head=head, extra=extra), nxt.span)
            return True
        self.push(_Frame("fnarg", tok, tok.span, head=head, extra=extra), tok.span)
        return True

    def small_exponent(self, caret: Tok) -> st.Node:
        """The exponent of a function (\\sin^2, \\log^{3}): an integer, maybe negative."""
        toks = self.toks
        tok = self.peek()
        if tok.kind == NUM:
            first, self.pos = self.split_first(self.pos)
            return st.Num(first.span, first.text)
        if tok.kind == OP and tok.text == "{":
            i = self.pos + 1
            sign = toks[i] if toks[i].kind == OP and toks[i].text in ("-", "+") else None
            num = toks[i + 1] if sign else toks[i]
            close = toks[i + 2] if sign else toks[i + 1]
            if num.kind == NUM and num.text.isdigit() and close.kind == OP and \
                    close.text == "}":
                self.pos = (i + 3) if sign else (i + 2)
                n = st.Num(num.span, num.text)
                if sign is not None and sign.text == "-":
                    return st.Unary(sign.span.to(num.span), "-", n)
                return n
        raise self.error("the power of a function is a whole number: \\sin^{2} x",
                         caret.span)

    def function_subscript(self, underscore: Tok) -> st.Node:
        tok = self.peek()
        if tok.kind == OP and tok.text == "{":
            inner, close = self.toks[self.pos + 1], self.toks[self.pos + 2]
            if close.kind == OP and close.text == "}" and inner.kind in (NUM, NAME, CMD):
                self.pos += 3
                return self.atom_node(inner, underscore)
            raise self.error("a logarithm's base is a number or a name: \\log_{2} x",
                             tok.span)
        if tok.kind in (NUM, NAME):
            first, self.pos = self.split_first(self.pos)
            return self.atom_node(first, underscore)
        if tok.kind == CMD and tok.text in GREEK:
            self.pos += 1
            return st.Name(tok.span, GREEK[tok.text])
        raise self.error(f"expected a subscript after '_', found {describe(tok)}", tok.span)

    def atom_node(self, tok: Tok, near: Tok) -> st.Node:
        if tok.kind == NUM:
            return st.Num(tok.span, tok.text)
        if tok.kind == NAME:
            return st.Name(tok.span, tok.text)
        if tok.kind == CMD and tok.text in GREEK:
            return st.Name(tok.span, GREEK[tok.text])
        raise self.error(f"expected a number or a name, found {describe(tok)}", tok.span)

    def open_call(self, head: st.Name, tok: Tok, power: st.Node | None,
                  base: st.Node | None) -> bool:
        opener = self.advance()
        closer = self.peek()
        if closer.kind == DELIM and closer.text == _CLOSERS.get(opener.text) and \
                _matches(opener, closer):
            self.pos += 1
            span = tok.span.to(closer.span)
            self.push_operand(self.call(head, [], span, power, base), span, "call")
            return False
        self.push(_Frame("call", opener, tok.span, head=head,
                         extra={"power": power, "base": base}), opener.span)
        return True

    def call(self, head: st.Name, args: list[st.Node], span: Span, power: st.Node | None,
             base: st.Node | None) -> st.Node:
        if base is not None:
            args = [*args, base]
        node: st.Node = st.Call(span, head, tuple(args))
        if power is not None:
            node = st.Binary(span, "^", node, power)
        return node

    def close_fnarg(self) -> None:
        self.reduce_to_frame()
        frame = self.stack.pop()
        assert isinstance(frame, _Frame) and frame.kind == "fnarg"
        node, extent, _ = self.operands.pop()
        span = frame.start.to(extent)
        factors = _factors(node)
        while factors and (isinstance(factors[0], st.Num) or (
                isinstance(factors[0], st.Name) and factors[0].id in CONSTANTS)):
            factors.pop(0)                 # \sin 2\pi x: a coefficient is no ambiguity
        if len(factors) > 1:
            name = self.text_of(frame.tok.span)
            first = self.text_of(_factors(node)[0].span)
            self.warn(f"read as {name}({self.text_of(extent)}); write {name}({first}) … if "
                      "that is meant", span)
        self.push_operand(self.call(frame.head, [node], span, frame.extra["power"],
                                    frame.extra["base"]), span, "call")

    def close_fnargs(self) -> None:
        while self.stack:
            top = None
            for entry in reversed(self.stack):
                if isinstance(entry, _Frame):
                    top = entry
                    break
            if top is None or top.kind != "fnarg":
                return
            self.close_fnarg()

    # -- arguments in braces (\\frac, \\sqrt, exponents)

    def open_arg(self, kind: str, start: Span, head: object, what: str) -> bool:
        tok = self.peek()
        if tok.kind == OP and tok.text == "{":
            self.pos += 1
            self.push(_Frame(kind, tok, start, head=head), tok.span)
            return True
        got = self.single(tok)
        if got is None:
            raise self.error(f"{what} needs its argument in braces: {what}{{…}}", tok.span)
        return self.finish_arg(kind, start, head, got, got.span)

    def single(self, tok: Tok) -> st.Node | None:
        """One token as an argument (TeX's \\frac12, x^2, \\sqrt x)."""
        if tok.kind in (NUM, NAME):
            first, self.pos = self.split_first(self.pos)
            return st.Num(first.span, first.text) if first.kind == NUM else \
                st.Name(first.span, first.text)
        if tok.kind == CMD and tok.text in GREEK:
            self.pos += 1
            return st.Name(tok.span, GREEK[tok.text])
        if tok.kind == CMD and tok.text == "infty":
            self.pos += 1
            return st.Name(tok.span, "inf")
        if tok.kind == WORD and tok.side != "mathbb":
            self.pos += 1
            return st.Name(tok.span, self.word(tok))
        return None

    def finish_arg(self, kind: str, start: Span, head: object, node: st.Node,
                   end: Span) -> bool:
        span = start.to(end)
        if kind == "frac_num":
            return self.open_arg("frac_den", start, node, "\\frac")
        if kind == "frac_den":
            assert isinstance(head, st.Node)
            self.push_operand(st.Binary(span, "/", head, node), span, "group")
            return False
        if kind == "root_body":
            result: st.Node
            if head is None or (isinstance(head, st.Num) and head.text == "2"):
                result = st.Call(span, st.Name(start, "sqrt"), (node,))
            elif isinstance(head, st.Num) and head.text == "3":
                result = st.Call(span, st.Name(start, "cbrt"), (node,))
            else:
                assert isinstance(head, st.Node)
                result = st.Binary(span, "^", node,
                                   st.Binary(head.span, "/", st.Num(head.span, "1"), head))
            self.push_operand(result, span, "group")
            return False
        if kind == "sup":
            base, extent, mark = head  # type: ignore[misc]
            span = extent.to(end)
            if mark == "e":
                self.push_operand(st.Call(span, st.Name(base.span, "exp"), (node,)), span,
                                  "sup")
            else:
                self.push_operand(st.Binary(span, "^", base, node), span, "sup")
            return False
        assert kind == "group", kind
        self.push_operand(node, span, "group")
        return False

    # -- after an operand

    def after(self, tok: Tok) -> bool | None:
        """Read a token after a complete operand; True when an operand is wanted next,
        False when one is complete, None when the expression ends before this token."""
        kind, text = tok.kind, tok.text
        if kind == OP:
            if text == "&":
                frame = self.frame()
                if frame is not None and frame.kind in ("cases", "matrix"):
                    return self.cell(tok)
                self.pos += 1
                return False
            if text == "^":
                return self.superscript(tok)
            if text == "_":
                return self.late_subscript(tok)
            if text == "'":
                raise self.not_computable(_NOT_COMPUTABLE["prime"], tok.span)
            if text == "!":
                raise self.error("'!' (a factorial) is not in the language", tok.span)
            if text == "{":
                self.push_binary(None, _ARITH, "*", _MUL)
                return True
            if text == "}":
                return self.close(tok)
            if text in ("·", "×") and self.scientific(tok):
                return False
            if text in _OP_ARITH:
                self.close_fnargs()
                self.pos += 1
                self.push_binary(tok, _ARITH, _OP_ARITH[text], _ADD if text in "+-" else _MUL)
                return True
            if text in _RELATIONS:
                return self.binary_relation(tok, _RELATIONS[text])
            if text == "=":
                cases = next((e for e in reversed(self.stack) if isinstance(e, _Frame)
                              and e.kind == "cases"), None)
                if cases is not None and cases.extra["state"] == "cond":
                    return self.binary_relation(tok, "==")
                return None
            if text == ",":
                return self.comma(tok)
            if text == "." and self.peek(1).text == "." and self.peek(2).text == ".":
                raise self.not_computable(_NOT_COMPUTABLE["dots"], tok.span)
            if text in (".", ";"):
                frame = self.frame()
                if frame is not None and frame.kind == "cases" and self.case_punctuation():
                    return False
            return None
        if kind == CMD:
            if text in _TIMES:
                if self.scientific(tok):
                    return False
                self.close_fnargs()
                self.pos += 1
                self.push_binary(tok, _ARITH, _TIMES[text], _MUL)
                return True
            if text in _RELATIONS:
                return self.binary_relation(tok, _RELATIONS[text])
            if text in _BOOLS:
                return self.binary_bool(tok, _BOOLS[text])
            if text in ELISIONS:
                raise self.not_computable(_NOT_COMPUTABLE[text], tok.span)
            if text in FUNCTION_CMDS or text in BIG_OPERATORS or (
                    text == "sigma" and _call_opener(self.peek(1))):
                self.close_fnargs()
            if text in FUNCTION_CMDS or text in GREEK or text in ACCENTS or \
                    text in TYPOGRAPHIC or text in FRACS or text in BIG_OPERATORS or \
                    text in ("sqrt", "infty"):
                self.push_binary(None, _ARITH, "*", _MUL)
                return True
            if text in _NOTS:
                raise self.error(f"'\\{text}' must start a condition; put the condition "
                                 "before it in brackets", tok.span)
            raise self.command_error(tok)
        if kind in (NUM, NAME, WORD):
            if kind == WORD and self.is_function_word(tok):
                self.close_fnargs()
            self.push_binary(None, _ARITH, "*", _MUL)
            return True
        if kind == TEXT:
            return self.after_text(tok)
        if kind == DELIM:
            return self.after_delim(tok)
        if kind == BEGIN:
            if tok.text in ("cases",) or tok.text in MATRIX_ENVS:
                self.push_binary(None, _ARITH, "*", _MUL)
                return True
            return None
        if kind in (ROW, BREAK):
            frame = self.frame()
            if kind == ROW and frame is not None and frame.kind in ("cases", "matrix"):
                self.close_fnargs()
                return self.row_in_frame(tok)
            if frame is None and self.continued():
                return False
            return None
        if kind == END:
            frame = self.frame()
            if frame is not None and frame.kind in ("cases", "matrix") and \
                    frame.extra.get("env") == text:
                self.close_fnargs()
                return self.end_environment(tok, with_operand=True)
            return None
        return None

    def continued(self) -> bool:
        """A row (or line) that starts with an operator continues the expression before
        it (``f &= x^2 \\\\ &\\quad + 2x``): skip to that operator."""
        i = self.pos
        while self.toks[i].kind in (ROW, BREAK) or (self.toks[i].kind == OP
                                                    and self.toks[i].text == "&"):
            i += 1
        tok = self.toks[i]
        if (tok.kind == OP and tok.text in _OP_ARITH) or (tok.kind == CMD and
                                                          tok.text in _TIMES):
            self.pos = i
            return True
        return False

    def after_text(self, tok: Tok) -> bool | None:
        word = tok.text.strip().rstrip(",.:;").strip()
        frame = self.frame()
        in_cases = frame is not None and frame.kind == "cases"
        if word in ("and", "or"):
            return self.binary_bool(tok, word)
        if in_cases and frame is not None and frame.extra["state"] == "value" and (
                word in _CASE_IF or word in _CASE_ELSE):
            return self.cell(tok)
        if self.text_name(tok) or self.is_function_word(tok):
            if self.is_function_word(tok):
                self.close_fnargs()
            self.push_binary(None, _ARITH, "*", _MUL)
            return True
        return None

    def after_delim(self, tok: Tok) -> bool | None:
        canon, side = tok.text, tok.side
        if canon in "|‖" and side == "":
            frame = self.frame()
            if frame is not None and frame.kind in ("abs", "norm") and frame.tok.text == canon \
                    and frame.tok.side == "":
                return self.close(tok)
            if self.bar_open(canon):
                return self.close(tok)
            self.push_binary(None, _ARITH, "*", _MUL)
            return True
        if side in ("right", "close") or canon in ")]}⌋⌉⟩" or (
                canon == "." and side == "right"):
            return self.close(tok)
        if canon == "[" and side == "" and self.index_follows():
            return self.index(tok)
        self.push_binary(None, _ARITH, "*", _MUL)
        return True

    def late_subscript(self, tok: Tok) -> bool:
        """``{x_{1}}_{t}``: a subscript after a braced name extends the name."""
        node, extent, mark = self.operands[-1]
        if mark != "name" or not isinstance(node, st.Name):
            raise self.error("a subscript must follow a name (for an element of an array "
                             "write x[i])", tok.span)
        label, _, _, end, _ = self.subscript(self.pos + 1, 0)
        name = f"{node.id}_{label}"
        if len(name) > MAX_NAME:
            raise self.error(f"a name may be at most {MAX_NAME} characters long", tok.span)
        span = extent.to(self.toks[end - 1].span)
        self.operands[-1] = (st.Name(span, name), span, "name")
        self.pos = end
        return False

    def index_follows(self) -> bool:
        """``x[0, 1]`` after a name: constant indices, or inside a sum indices that name
        its index variable (``x[i+1]``); else ``[…]`` is a bracket."""
        if not self.operands or self.operands[-1][2] not in ("name", "e", "index"):
            return False
        i = self.pos + 1
        numbers = 0
        while True:
            tok = self.toks[i]
            if tok.kind == NUM and tok.text.isdigit():
                numbers += 1
            elif not (tok.kind == OP and tok.text == ","):
                if numbers > 0 and tok.kind == DELIM and tok.text == "]":
                    return True
                return self.bracket_index_follows(self.pos)
            i += 1

    def index(self, tok: Tok) -> bool:
        base, extent, _ = self.operands.pop()
        i = self.pos + 1
        items: list[st.Node] = []
        while True:
            node, _, i = self.integer(i, "an index (as in x[i+1])")
            items.append(node)
            sep = self.toks[i]
            i += 1
            if sep.kind == DELIM and sep.text == "]":
                self.pos = i
                span = extent.to(sep.span)
                self.push_operand(st.Index(span, base, tuple(items)), span, "index")
                return False
            if not (sep.kind == OP and sep.text == ","):
                raise self.error(f"expected ',' or ']' after an index, found {describe(sep)}",
                                 sep.span)

    def scientific(self, tok: Tok) -> bool:
        """``1.5 \\cdot 10^{-7}`` right after a number is the number 1.5e-7 (unless a
        division waits for it: x / 2 \\cdot 10^3 is (x/2)·1000)."""
        if not self.operands or self.operands[-1][2] != "num":
            return False
        num, extent, _ = self.operands[-1]
        assert isinstance(num, st.Num)
        if "e" in num.text.lower():
            return False
        for entry in reversed(self.stack):
            if isinstance(entry, _Op) and entry.op in ("/", "^"):
                return False
            break
        toks, i = self.toks, self.pos
        ten, caret = toks[i + 1], toks[i + 2]
        if not (ten.kind == NUM and ten.text == "10" and caret.kind == OP and caret.text == "^"):
            return False
        j = i + 3
        sign = ""
        if toks[j].kind == OP and toks[j].text == "{":
            if toks[j + 1].kind == OP and toks[j + 1].text in "+-":
                sign = toks[j + 1].text
                j += 1
            digits, close = toks[j + 1], toks[j + 2]
            if not (digits.kind == NUM and digits.text.isdigit() and close.kind == OP
                    and close.text == "}"):
                return False
            end, after = close, j + 3
        elif toks[j].kind == NUM and toks[j].text[0].isdigit():
            if len(toks[j].text) > 1:
                return False                       # 10^23 is 10²·3 in TeX
            digits, end, after = toks[j], toks[j], j + 1
        else:
            return False
        self.operands.pop()
        span = extent.to(end.span)
        self.push_operand(st.Num(span, f"{num.text}e{sign}{digits.text}"), span, "num")
        self.pos = after
        return True

    def binary_relation(self, tok: Tok, op: str) -> bool:
        self.close_fnargs()
        self.pos += 1
        self.push_binary(tok, _CMP_OP, op, _CMP)
        return True

    def binary_bool(self, tok: Tok, op: str) -> bool:
        self.close_fnargs()
        self.pos += 1
        self.push_binary(tok, _BOOL, op, _AND if op == "and" else _OR)
        return True

    def comma(self, tok: Tok) -> bool | None:
        self.close_fnargs()
        frame = self.frame()
        if frame is None:
            return None
        if frame.kind in ("call", "bracket", "fn_group"):
            self.reduce_to_frame()
            frame.items.append(self.operands.pop()[0])
            self.pos += 1
            return True
        if frame.kind == "cases" and self.case_punctuation():
            return False
        if frame.kind == "paren":
            raise self.error("a comma inside brackets makes a list, which is not a value "
                             "here", tok.span)
        raise self.error("unexpected ','", tok.span)

    def case_punctuation(self) -> bool:
        """A ',' or '.' ending a case's value or condition (``x, & x > 0``)."""
        nxt = self.peek(1)
        if (nxt.kind == OP and nxt.text == "&") or nxt.kind in (ROW, END) or (
                nxt.kind == TEXT):
            self.pos += 1
            return True
        return False

    def superscript(self, caret: Tok) -> bool:
        base, extent, mark = self.operands[-1]
        if mark == "sup":
            raise self.error("double superscript: write x^{a^{b}} or {x^{a}}^{b}",
                             caret.span)
        toks = self.toks
        nxt = toks[self.pos + 1]
        inner = toks[self.pos + 2] if nxt.kind == OP and nxt.text == "{" else nxt
        close = toks[self.pos + 3] if inner is not nxt else None
        one = close is None or (close.kind == OP and close.text == "}")
        if one and ((inner.kind == CMD and inner.text in ("top", "intercal", "mathsf"))
                    or (inner.kind == WORD and inner.text.strip() == "T"
                        and inner.side in ("mathsf", "mathrm"))):
            end = close if close is not None else inner
            self.operands.pop()
            self.pos += 4 if close is not None else 2
            span = extent.to(end.span)
            self.push_operand(st.Transpose(span, base), span, "sup")
            return False
        if one and ((inner.kind == CMD and inner.text in ("star", "prime", "ast", "dagger"))
                    or (inner.kind == OP and inner.text in ("*", "'"))):
            raise self.not_computable(
                "a superscript such as ^{\\star}, ^{*} or ^{\\prime} marks a name (an "
                "optimum, a derivative); chaincc cannot compute it", caret.span.to(inner.span))
        self.operands.pop()
        self.pos += 1
        if nxt.kind == OP and nxt.text == "{":
            self.pos += 1
            self.push(_Frame("sup", nxt, extent, head=(base, extent, mark)), nxt.span)
            return True
        if nxt.kind == OP and nxt.text in ("-", "+"):
            # x^-1 as x^{-1}, as the text syntax reads it
            self.pos += 1
            got = self.single(self.peek())
            if got is None:
                raise self.error("write the exponent in braces: x^{…}", caret.span)
            node: st.Node = st.Unary(nxt.span.to(got.span), nxt.text, got)
            return self.finish_arg("sup", extent, (base, extent, mark), node, got.span)
        got = self.single(nxt)
        if got is None:
            raise self.error("write the exponent in braces: x^{…}", caret.span)
        return self.finish_arg("sup", extent, (base, extent, mark), got, got.span)

    # -- closing

    def close(self, closer: Tok) -> bool:
        self.close_fnargs()
        frame = self.frame(skip_fnargs=False)
        if frame is None:
            raise self.error(f"unmatched {describe(closer)}", closer.span)
        self.reduce_to_frame()
        if not _closes(frame, closer):
            raise self.error(f"{describe(closer)} does not close the {describe(frame.tok)} "
                             f"at line {frame.tok.span.line}, column {frame.tok.span.col}",
                             closer.span)
        self.pos += 1
        self.stack.pop()
        node, extent, mark = self.operands.pop()
        span = frame.start.to(closer.span)
        kind = frame.kind
        if kind == "group":            # {x}, {\beta}: still a name, for x[0] and {x}_{t}
            self.push_operand(node, span, "name" if mark == "name" else "group")
            return False
        if kind in ("frac_num", "frac_den", "sup", "root_body"):
            return self.finish_arg(kind, frame.start, frame.head, node, closer.span)
        if kind == "root_index":
            return self.open_arg("root_body", frame.start, node, "\\sqrt")
        if kind == "brace_wrap":
            self.push_operand(node, span, mark)
            return False
        if kind in ("call", "fn_group"):
            head = frame.head
            assert isinstance(head, st.Name)
            result = self.call(head, [*frame.items, node], span, frame.extra["power"],
                               frame.extra["base"])
            self.push_operand(result, span, "call")
            return False
        if kind == "null":
            if closer.text == "|":
                raise self.not_computable("\\left. … \\right| is an evaluation bar, "
                                          "which cannot be computed", span)
            self.push_operand(node, span, "group")
            return False
        if kind == "bracket":
            self.arrays -= 1
            if frame.items:
                self.push_operand(st.ArrayLit(span, (*frame.items, node)), span, "group")
            else:
                self.push_operand(node, span, "group")
            return False
        builtin = {"abs": "abs", "norm": "norm", "floor": "floor", "ceil": "ceil"}.get(kind)
        if builtin is not None:
            self.push_operand(st.Call(span, st.Name(frame.tok.span, builtin), (node,)), span,
                              "group")
            return False
        assert kind == "paren", kind
        self.push_operand(node, span, "group")
        return False

    def unclosed(self, frame: _Frame, found: Tok) -> ChainccError:
        what = {"frac_num": "\\frac's numerator", "frac_den": "\\frac's denominator",
                "sup": "the exponent", "root_body": "\\sqrt's argument",
                "root_index": "\\sqrt's index", "cases": "\\begin{cases}",
                "matrix": f"\\begin{{{frame.extra.get('env', 'matrix')}}}"}.get(frame.kind)
        if what is None:
            what = describe(frame.tok)
        return self.error(f"{what} is never closed (found {describe(found)})",
                          frame.tok.span)

    # -- cases and matrices

    def cell(self, tok: Tok) -> bool:
        """'&' (or a prose "if"/"otherwise") inside cases or a matrix."""
        self.close_fnargs()
        frame = self.frame()
        assert frame is not None
        if frame.kind == "matrix":
            self.reduce_to_frame()
            frame.extra["row"].append(self.operands.pop()[0])
            self.pos += 1
            return True
        state = frame.extra["state"]
        if state != "value":
            raise self.error("a case has one '&', between its value and its condition",
                             tok.span)
        self.reduce_to_frame()
        frame.extra["value"] = self.operands.pop()[0]
        frame.extra["state"] = "cond"
        if tok.kind == OP:
            self.pos += 1
        nxt = self.peek()
        if nxt.kind == TEXT:
            word = nxt.text.strip().rstrip(",.:;").strip()
            if word in _CASE_ELSE:
                self.pos += 1
                frame.items.append((frame.extra["value"], None, nxt.span))
                frame.extra["state"] = "done"
                return False
            if word in _CASE_IF:
                self.pos += 1
        return True

    def row_in_frame(self, tok: Tok) -> bool:
        frame = self.frame()
        assert frame is not None
        self.pos += 1
        if frame.kind == "matrix":
            self.reduce_to_frame()
            frame.extra["row"].append(self.operands.pop()[0])
            frame.items.append(frame.extra["row"])
            frame.extra["row"] = []
            return True
        self.end_case(frame, tok)
        return True

    def end_case(self, frame: _Frame, tok: Tok) -> None:
        state = frame.extra["state"]
        if state == "value":
            raise self.error("a case needs a condition after '&' (or \\text{otherwise})",
                             tok.span)
        if state == "cond":
            self.reduce_to_frame()
            cond, extent, _ = self.operands.pop()
            frame.items.append((frame.extra["value"], cond, extent))
        frame.extra["state"] = "value"

    def end_environment(self, tok: Tok, with_operand: bool) -> bool:
        frame = self.frame()
        assert frame is not None
        self.pos += 1
        if frame.kind == "matrix":
            if with_operand:
                self.reduce_to_frame()
                frame.extra["row"].append(self.operands.pop()[0])
                frame.items.append(frame.extra["row"])
            self.stack.pop()
            self.arrays -= 1
            return self.finish_matrix(frame, tok)
        if with_operand:
            self.end_case(frame, tok)
        self.stack.pop()
        rows = frame.items
        span = frame.start.to(tok.span)
        if not rows:
            raise self.error("empty cases", span)
        last_value, last_cond, last_span = rows[-1]
        if last_cond is not None:
            raise self.error("the last case must be \\text{otherwise}, so that every point "
                             "has a value", last_span)
        node = last_value
        for value, cond, where in reversed(rows[:-1]):
            if cond is None:
                raise self.error("only the last case may be 'otherwise'", where)
            node = st.Call(span, st.Name(frame.tok.span, "where"), (cond, value, node))
        self.push_operand(node, span, "group")
        return False

    def finish_matrix(self, frame: _Frame, tok: Tok) -> bool:
        rows: list[list[st.Node]] = frame.items
        span = frame.start.to(tok.span)
        if not rows:
            raise self.error("empty matrix", span)
        width = len(rows[0])
        for row in rows:
            if len(row) != width:
                raise self.error("every row of a matrix needs the same number of entries",
                                 span)
        if len(rows) == 1:
            node = st.ArrayLit(span, tuple(rows[0]))
        elif width == 1:
            node = st.ArrayLit(span, tuple(r[0] for r in rows))
        else:
            node = st.ArrayLit(span, tuple(st.ArrayLit(span, tuple(r)) for r in rows))
        self.push_operand(node, span, "group")
        return False

    # -- the operator stack

    def push_binary(self, tok: Tok | None, family: str, op: str, power: int) -> None:
        top = self.stack[-1] if self.stack else None
        if tok is None and isinstance(top, _Op) and top.op == "/" and top.tok is not None \
                and self.operands:
            # x/2y: the product multiplies the quotient, as in the text syntax
            den = self.text_of(self.operands[-1][1])
            self.warn(f"read as (…/{den})·{self.text_of(self.peek().span)}; write "
                      f"\\frac{{…}}{{{den}\\,{self.text_of(self.peek().span)}}} if that "
                      "is meant", self.operands[-1][1].to(self.peek().span))
        while self.stack:
            top = self.stack[-1]
            if not isinstance(top, _Op) or top.power < power:
                break
            if top.family == _CMP_OP and family == _CMP_OP:
                assert tok is not None
                raise self.error("comparisons cannot be chained; combine them with "
                                 "\\land, as in 'a < b \\land b < c'", tok.span)
            self.reduce()
        self.push(_Op(tok, family, op, power), tok.span if tok else self.peek().span)

    def reduce(self) -> None:
        op = self.stack.pop()
        assert isinstance(op, _Op)
        node: st.Node
        if op.family == "prefix":
            operand, extent, _ = self.operands.pop()
            assert op.tok is not None
            span = op.tok.span.to(extent)
            if op.ranges:
                node = st.Reduce(span, op.op, operand, op.ranges)
                self.close_index(op.ranges[0].var)
            elif op.op == "not":
                node = st.Not(span, operand)
            else:
                node = st.Unary(span, op.op, operand)
        else:
            right, right_extent, _ = self.operands.pop()
            left, left_extent, _ = self.operands.pop()
            span = left_extent.to(right_extent)
            if op.family == _CMP_OP:
                node = st.Compare(span, op.op, left, right)
            elif op.family == _BOOL:
                node = st.BoolOp(span, op.op, left, right)
            else:
                node = st.Binary(span, op.op, left, right, op.tok is None)
        self.operands.append((node, span, ""))

    def reduce_to_frame(self) -> None:
        while self.stack and isinstance(self.stack[-1], _Op):
            self.reduce()


def _call_opener(tok: Tok, name: bool = False) -> bool:
    """A bracket that opens arguments: after a name only '(' (x[0] indexes), after a
    function also '[' and '\\{' (\\max\\{a, b\\})."""
    return tok.kind == DELIM and tok.text in ("(" if name else "([{") and \
        tok.side in ("", "left", "open", "big")


def _matches(opener: Tok, closer: Tok) -> bool:
    """A sized opener needs the same sizing on its closer: \\left( … \\right)."""
    if opener.side == "left":
        return closer.side == "right"
    return closer.side != "right"


def _closes(frame: _Frame, closer: Tok) -> bool:
    kind = frame.kind
    if kind in ("group", "frac_num", "frac_den", "sup", "root_body", "fn_group",
                "brace_wrap"):
        return closer.kind == OP and closer.text == "}"
    if closer.kind != DELIM:
        return False
    if kind == "null":
        return closer.side == "right"
    if kind in ("root_index", "index"):
        return closer.text == "]" and closer.side == ""
    opener = frame.tok
    if opener.side == "left" and closer.side == "right" and closer.text == ".":
        return True
    return closer.text == _CLOSERS.get(opener.text) and _matches(opener, closer)


def _factors(node: st.Node) -> list[st.Node]:
    """The factors of a product written by juxtaposition (``2 x y``), left to right."""
    out: list[st.Node] = []
    while isinstance(node, st.Binary) and node.implicit and node.op == "*":
        out.append(node.right)
        node = node.left
    out.append(node)
    return out[::-1]
