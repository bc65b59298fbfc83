"""Parse source text into the syntax tree of ``chaincc.syntax``.

Statements are simple enough for straight-line code. Expressions use an iterative
operator-precedence (shunting-yard) parser with explicit operand and operator stacks,
so nesting depth is bounded by memory, not by Python's recursion limit: the language
promises that 10,000-deep nesting compiles.

Textbook notation (docs/language.md, "Textbook notation") is read here into the same
nodes as its ASCII spelling: ``√x`` is ``x^0.5``, ``|x|`` is ``abs(x)``, ``sin²x`` is
``sin(x)^2``, ``½`` is ``1/2``. Forms that a reader might take another way are read one
way and reported as located warnings (``Module.warnings``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from . import sizes as sz
from . import syntax as st
from .diagnostics import ChainccError, SourceWarning, fail
from .hints import SINGLE_EQUALS, equals_hint, operator_hint, statement_hint
from .lexer import (
    BIG_OPERATORS,
    CONTINUING_OPS,
    EOF,
    MAX_NESTING,
    NAME,
    NEWLINE,
    NUMBER,
    OP,
    SUP,
    VULGAR_FRACTIONS,
    Token,
    canonical,
    describe,
    superscript_to_ascii,
    tokenize,
)
from .source import Source, Span

# Binding powers, lowest first. Unary signs bind looser than "^" so "-x^2" is -(x^2),
# and tighter than "*" so "-2x" is (-2)*x. A sum or product over an index written
# Σ_{i=a}^{b} takes the product that follows it: looser than "*", tighter than "+". The
# body of ``z -> body`` is the whole rest of its argument.
_OR, _AND, _NOT, _CMP, _ADD, _BIG, _MUL, _SIGN, _POW = range(1, 10)
_LAMBDA = 0

_ARITH, _CMP_OP, _BOOL = "arith", "compare", "bool"

# operator (as ``canonical`` gives it) -> (node family, node op, binding power, right assoc)
_BINARY: dict[str, tuple[str, str, int, bool]] = {
    "or": (_BOOL, "or", _OR, False),
    "and": (_BOOL, "and", _AND, False),
    **{c: (_CMP_OP, c, _CMP, False) for c in ("<", "<=", ">", ">=", "==", "!=")},
    "+": (_ARITH, "+", _ADD, False),
    "-": (_ARITH, "-", _ADD, False),
    "*": (_ARITH, "*", _MUL, False),
    "·": (_ARITH, "*", _MUL, False),
    "×": (_ARITH, "*", _MUL, False),
    "/": (_ARITH, "/", _MUL, False),
    "@": (_ARITH, "@", _MUL, False),
    "^": (_ARITH, "^", _POW, True),
    "**": (_ARITH, "^", _POW, True),
}

_CLOSER = {"(": ")", "[": "]", "{": "}", **{big: "}" for big in BIG_OPERATORS}}
_BARS = {"|": "abs", "‖": "norm"}              # |x| is abs(x), ‖v‖ is norm(v)
_MATCH = {**_CLOSER, "|": "|", "‖": "‖"}
_MAX_SIZE_DIGITS = 9   # keeps int() far from Python's digit limit and sizes sane
# Most dimensions of an array parameter, and deepest nesting of array literals; together
# they stay within NumPy's 32 dimensions.
MAX_DIMENSIONS = 16

# Built-in functions of one argument that apply without brackets: sin x, ln x, sin²x.
BARE_FUNCTIONS = frozenset({
    "abs", "acos", "acosh", "asin", "asinh", "atan", "atanh", "cbrt", "ceil", "cos", "cosh",
    "erf", "erfc", "exp", "expm1", "floor", "gelu", "lgamma", "ln", "log", "log10", "log1p",
    "log2", "relu", "sigmoid", "sign", "sin", "sinh", "softplus", "sqrt", "tan", "tanh"})
# Every built-in function: one of them ends the argument of another (sin x cos y).
FUNCTION_NAMES = BARE_FUNCTIONS | {
    "atan2", "dot", "hypot", "logsumexp", "max", "mean", "min", "norm", "pow", "prod",
    "ones", "softmax", "sum", "transpose", "where", "zeros", "fixpoint"}
# The calls that take a 'for' clause: sum(x[i] for i = 0..n-1), prod(...).
REDUCTIONS = ("sum", "prod")
# Where 'for' may stand, for its error.
_FOR_PLACES = ("'for' may appear only inside sum(…) or prod(…) after its one argument, as in "
               "sum(x[i]^2 for i = 0..n-1), or after an indexed definition, as in "
               "y[i] = x[i]^2 for i = 0..n-1")
# sin⁻¹ x is the inverse function asin x (the convention of calculus texts).
INVERSES = {"sin": "asin", "cos": "acos", "tan": "atan", "sinh": "asinh", "cosh": "acosh",
            "tanh": "atanh"}
# log₂ x, log₁₀ x and log_e x (the names log_2, log_10, log_e) where nothing else has them.
LOG_BASES = {"log_2": "log2", "log_10": "log10", "log_e": "ln"}
# √x is x^0.5 (exactly what sqrt(x) computes), ∛x is cbrt(x), ∜x is x^0.25.
ROOTS = ("√", "∛", "∜")

Operand = tuple[st.Node, Span]   # a node and its extent, which includes its parentheses


@dataclass
class _Op:
    """A pending operator. ``token`` is None for an implicit product."""

    token: Token | None
    family: str            # _ARITH, _CMP_OP, _BOOL, "prefix", or "lambda"
    op: str                # for a prefix: "-", "+", "not", or "sum"/"prod" (Σ_{i=a}^{b})
    power: int
    implicit: bool = False
    ranges: tuple[st.Range, ...] = ()       # Σ_{i=a}^{b}: its range
    names: tuple[str, ...] = ()             # names in scope until it is reduced
    param: tuple[str, Span] | None = None   # z -> body: the parameter


@dataclass(eq=False)
class _Open:
    """A pending group: a bracket ("paren", "call", "array", "index"), an absolute value
    or norm between bars ("bar"), or a function or root applied without brackets to the
    atoms that follow ("apply")."""

    kind: str
    token: Token           # the opening bracket, bar, function name or root sign
    start: Span            # where the finished node's span begins
    head: st.Node | None = None   # the callee Name, or the indexed base
    items: list[st.Node] = field(default_factory=list)
    power: st.Node | None = None  # sin²x: the power of the function's value
    single: bool = False          # √(x)/√|x|: the argument is that one group
    level: _Open | None = None    # the innermost bracket around a bar or application
    bar: _Open | None = None      # the innermost bar around an application
    # a bar closed in this bracket that could also have opened one ("|a|b|c|")
    bar_closed: Token | None = None
    keywords: list[st.Keyword] = field(default_factory=list)   # a call's name=value
    keyword_names: set[str] = field(default_factory=set)
    keyword: Token | None = None  # the name of the keyword argument being read
    # the index being read is a slice: its start (None if left out), extent and ':'
    slice: tuple[st.Node | None, Span, Token] | None = None
    names: tuple[str, ...] = ()   # index variables in scope inside (sum(... for i = ...))


# A left-out end of a slice (x[:3], x[1:]) while the index is read.
_OMITTED = st.Name(Span("", 0, 0, 0, 0), "")


def _where(token: Token) -> str:
    return f"line {token.span.line}, column {token.span.col}"


def _word(node: st.Node, extent: Span) -> bool:
    """Whether ``node`` is a word of several letters written without brackets, which may
    stand for a product of names (``xy``)."""
    return isinstance(node, st.Name) and len(node.id) > 1 and extent == node.span


def _adjacent(a: Token, b: Token) -> bool:
    """Whether ``b`` follows ``a`` with no space between them."""
    return a.span.end_line == b.span.line and a.span.end_col == b.span.col


class _Parser:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.pos = 0
        self.never_closed = self._find_never_closed()
        self.for_names = self._find_for_names()
        self.operands: list[Operand] = []
        self.stack: list[_Op | _Open] = []
        self.opens: list[_Open] = []      # the _Open entries of the stack, innermost last
        self.operands_complete = False
        self.array_depth = 0          # array literals open around the current token
        self.pending_ops = 0          # operators on the stack
        self.groups = 0               # bars and bare applications open
        self.top_bar_closed: Token | None = None
        # what the statement being parsed can see: its parameters and earlier statements
        self.params: frozenset[str] = frozenset()
        self.defined: dict[str, str] = {}         # name -> "function" | "binding"
        # index variables and lambda parameters in scope here (name -> how many times)
        self.locals: dict[str, int] = {}
        self.sizes: dict[str, int] = {}           # the size bindings so far (T = 100)
        self.in_binding = False
        self.index = 0
        self.binding_uses: list[tuple[int, str, Span, str]] = []
        self.warnings: list[SourceWarning] = []
        # id(node) -> (operator span, extent of its right operand) for "/" and "^" as
        # written, and the bare applications whose argument ended at a space or a "/"
        self.written: dict[int, tuple[Span, Span]] = {}
        self.ended: dict[int, tuple[str, str, str, Span]] = {}

    # ----------------------------------------------------------------- helpers

    def _find_never_closed(self) -> set[Span]:
        # Knowing which brackets never close lets an error that surfaces far away (the
        # lexer glued later lines onto the open bracket) point at the real cause.
        openers: list[Span] = []
        for token in self.tokens:
            if token.kind == OP and token.text in _CLOSER:
                openers.append(token.span)
            elif token.kind == OP and token.text in (")", "]", "}") and openers:
                openers.pop()
        return set(openers)

    def _find_for_names(self) -> dict[int, tuple[str, ...]]:
        """The index variables of each 'for' clause, by the token that opens what holds
        the clause: the "(" of ``sum(x[i] for i = 0..n-1)``, or the first token of the
        statement ``y[i] = x[i]^2 for i = 0..n-1``. They are in scope (like parameters)
        while the expression before the clause is read. One pass over the tokens."""
        found: dict[int, list[str]] = {}
        openers: list[int] = []
        clauses: dict[int, int] = {}          # bracket depth -> the owner of its clause
        statement = 0
        tokens = self.tokens

        def name_at(k: int) -> str | None:
            t, eq = tokens[k], tokens[min(k + 1, len(tokens) - 1)]
            return t.text if t.kind == NAME and eq.kind == OP and eq.text == "=" else None

        for k, token in enumerate(tokens):
            if token.kind == NEWLINE:
                openers.clear()
                clauses.clear()
                statement = k + 1
            elif token.kind != OP:
                continue
            elif token.text in _CLOSER:
                openers.append(k)
            elif token.text in (")", "]", "}"):
                if openers:
                    openers.pop()
                clauses.pop(len(openers) + 1, None)
            elif token.text == "for":
                owner = openers[-1] if openers else statement
                clauses[len(openers)] = owner
                name = name_at(k + 1)
                if name is not None:
                    found.setdefault(owner, []).append(name)
            elif token.text == "," and len(openers) in clauses:
                name = name_at(k + 1)
                if name is not None:
                    found.setdefault(clauses[len(openers)], []).append(name)
        return {k: tuple(names) for k, names in found.items()}

    def scope(self, names: Sequence[str]) -> None:
        for name in names:
            self.locals[name] = self.locals.get(name, 0) + 1

    def unscope(self, names: Sequence[str]) -> None:
        for name in names:
            left = self.locals[name] - 1
            if left:
                self.locals[name] = left
            else:
                del self.locals[name]

    def error(self, message: str, span: Span) -> ChainccError:
        return fail(message, span, self.source)

    def warn(self, message: str, span: Span) -> None:
        self.warnings.append(SourceWarning(message, span, self.source))

    def text(self, start: Span, end: Span | None = None) -> str | None:
        """The source text from the start of ``start`` to the end of ``end`` (default:
        ``start``), when it lies on one line."""
        end = end or start
        if start.line != end.end_line:
            return None
        return self.source.line_text(start.line)[start.col - 1:end.end_col - 1].strip()

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def at(self, text: str) -> bool:
        token = self.tokens[self.pos]
        return token.kind == OP and token.text == text

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def bracket_error(self, opener: Token, found: Token, expected: str) -> ChainccError:
        if opener.span in self.never_closed and (
                found.kind in (EOF, NEWLINE) or (found.kind == OP and found.text == "=")):
            return self.error(f"'{opener.text}' was never closed", opener.span)
        return self.error(f"expected {expected}, found {describe(found)}", found.span)

    # -------------------------------------------------------------- statements

    def module(self) -> st.Module:
        statements: list[st.Statement] = []
        while True:
            token = self.peek()
            if token.kind == NEWLINE:
                self.advance()
                continue
            if token.kind == EOF:
                self.check_binding_uses(statements)
                ordered = sorted(self.warnings, key=lambda w: (w.span.line, w.span.col))
                return st.Module(self.source.name, tuple(statements), tuple(ordered))
            self.index = len(statements)
            statement = self.statement()
            statements.append(statement)
            self.defined[statement.name] = "function" if isinstance(statement, st.FuncDef) \
                else "binding"
            sz.record(self.sizes, statement)
            end = self.peek()
            if end.kind not in (NEWLINE, EOF):
                raise self.error(f"unexpected {describe(end)} after the end of the statement",
                                 end.span)

    def statement(self) -> st.Statement:
        first = self.peek()
        if first.kind != NAME:
            raise self.statement_start_error(first)
        start = self.pos
        self.advance()
        self.locals = {}
        if self.at("["):
            return self.indexed_statement(first, start)
        params = self.params_list() if self.at("(") else None
        eq = self.peek()
        if not self.at("="):
            line = self.source.line_text(first.span.line)
            hint = statement_hint(line, first.span.col - 1, first.text)   # def, return...
            if hint is not None:
                raise self.error(hint, first.span)
            after = f"'{first.text}'" if params is None else \
                f"the parameter list of '{first.text}'"
            more = equals_hint(self.source.line_text(eq.span.line), eq.span.col - 1) \
                if eq.kind == OP and eq.text == "==" else ""
            raise self.error(f"expected '=' after {after}, found {describe(eq)}{more}",
                             eq.span)
        self.advance()
        self.params = frozenset(p.name for p in params or ())
        self.in_binding = params is None
        body, extent = self.expression()
        if self.at("for"):
            raise self.error(_FOR_PLACES, self.peek().span)
        span = first.span.to(extent)
        if params is None:
            return st.Binding(span, first.text, body, first.span)
        return st.FuncDef(span, first.text, params, body, first.span)

    def indexed_statement(self, first: Token, start: int) -> st.IndexedBinding:
        """``y[i, j] = body for i = 0..H-1, j = 0..W-1``, ``h[0] = start``,
        ``h[t+1] = step for t = 0..T-1``: the indices are integer expressions, and the
        clause's index variables are in scope while the value is read."""
        name = first.text
        opener = self.advance()
        indices: list[st.Node] = []
        while True:
            index, _ = self.int_expr(f"an index of '{name}' (as in {name}[0], {name}[t+1] "
                                     f"or {name}[i, j])", opener)
            indices.append(index)
            if len(indices) > MAX_DIMENSIONS:
                raise self.error(f"an array has at most {MAX_DIMENSIONS} dimensions",
                                 index.span)
            sep = self.advance()
            if sep.kind == OP and sep.text == "]":
                break
            if not (sep.kind == OP and sep.text == ","):
                raise self.bracket_error(opener, sep, f"',' or ']' after an index of '{name}'")
        eq = self.peek()
        if not self.at("="):
            more = equals_hint(self.source.line_text(eq.span.line), eq.span.col - 1) \
                if eq.kind == OP and eq.text == "==" else ""
            raise self.error(f"expected '=' after '{self.text(first.span, sep.span) or name}'"
                             f", found {describe(eq)}{more}", eq.span)
        self.advance()
        self.params = frozenset()
        self.in_binding = True
        names = self.for_names.get(start, ())
        self.scope(names)
        value, end = self.expression()
        ranges: tuple[st.Range, ...] = ()
        if self.at("for"):
            self.advance()
            ranges, end = self.ranges(None)
        self.unscope(names)
        return st.IndexedBinding(first.span.to(end), name, tuple(indices), value, ranges,
                                 first.span)

    def ranges(self, opener: Token | None) -> tuple[tuple[st.Range, ...], Span]:
        """The ranges of a 'for' clause (just read): ``i = a..b, j = c..d``, and the end
        of the last."""
        found: list[st.Range] = []
        seen: set[str] = set()
        while True:
            var = self.peek()
            before = describe(self.tokens[self.pos - 1])
            if var.kind != NAME:
                raise self.expected_integer(
                    var, opener, f"an index variable after {before} (as in for i = 0..n-1)")
            self.advance()
            if var.text in seen:
                raise self.error(f"the index variable '{var.text}' is already in this 'for' "
                                 "clause", var.span)
            seen.add(var.text)
            eq = self.peek()
            if not self.at("="):
                raise self.expected_integer(
                    eq, opener, f"'=' after the index variable '{var.text}' (as in "
                    f"{var.text} = 0..n-1)")
            self.advance()
            first, _ = self.int_expr(f"the first value of '{var.text}' (as in "
                                     f"{var.text} = 0..n-1)", opener)
            dots = self.peek()
            if not self.at(".."):
                raise self.expected_integer(
                    dots, opener, f"'..' between the first and the last value of "
                    f"'{var.text}' (as in {var.text} = 0..n-1)")
            self.advance()
            last, extent = self.int_expr(f"the last value of '{var.text}' (as in "
                                         f"{var.text} = 0..n-1)", opener)
            found.append(st.Range(var.text, first, last, var.span.to(extent), var.span))
            if not self.at(","):
                return tuple(found), extent
            self.advance()

    def int_expr(self, what: str, opener: Token | None,
                 bad: Callable[[Token], str] | None = None, sign: bool = True) -> Operand:
        """An integer expression (an array size, an index on the left of a definition,
        an end of a range): numbers, names, ``+ - *`` (``·``, ``×``), signs, brackets and
        a number written against a name or a bracket (``2n``). It ends before any other
        token; ``/`` and ``^`` are errors. ``what`` names what is expected, for errors;
        ``bad`` gives the message for a token where an operand should start; ``sign``:
        whether a sign may open the expression."""
        operands: list[Operand] = []
        begin = self.pos
        parens = 0                              # brackets open in this expression
        stack: list[tuple[Token | None, str, int]] = []     # ("(" token, "(", 0) or op
        while True:
            token = self.peek()                 # an operand starts here
            op = canonical(token.text) if token.kind == OP else ""
            if token.kind == NUMBER and token.text not in VULGAR_FRACTIONS:
                self.advance()
                operands.append((st.Num(token.span, token.text), token.span))
                nxt = self.peek()
                if _adjacent(token, nxt) and (nxt.kind == NAME or (
                        nxt.kind == OP and nxt.text == "(")):
                    stack.append((None, "*", 2))            # 2n, 2(n+1)
                    continue
            elif token.kind == NAME:
                self.advance()
                operands.append((st.Name(token.span, token.text), token.span))
            elif op in ("+", "-") and (sign or self.pos > begin):
                self.advance()
                stack.append((token, "sign", 3))
                continue
            elif token.kind == OP and token.text == "(":
                self.advance()
                stack.append((token, "(", 0))
                parens += 1
                continue
            else:
                if bad is not None and token.kind not in (EOF, NEWLINE):
                    raise self.error(bad(token), token.span)
                raise self.expected_integer(token, opener, what)
            while True:                         # after an operand
                token = self.peek()
                op = canonical(token.text) if token.kind == OP else ""
                if op in ("+", "-", "*", "·", "×"):
                    power = 1 if op in ("+", "-") else 2
                    while stack and stack[-1][1] != "(" and stack[-1][2] >= power:
                        self.reduce_int(stack, operands)
                    self.advance()
                    stack.append((token, "-" if op == "-" else "+" if op == "+" else "*",
                                  power))
                    break
                if token.kind == OP and token.text == ")" and parens:
                    while stack[-1][1] != "(":
                        self.reduce_int(stack, operands)
                    paren = stack.pop()[0]
                    parens -= 1
                    assert paren is not None
                    self.advance()
                    node, _ = operands.pop()
                    operands.append((node, paren.span.to(token.span)))
                    continue
                if op in ("/", "^", "**", "@") or token.kind == SUP:
                    raise self.error(f"{describe(token)} is not allowed here: an integer "
                                     "expression has numbers, sizes, index variables, "
                                     "'+', '-', '*' and brackets", token.span)
                while stack:
                    if stack[-1][1] == "(":
                        paren = stack[-1][0]
                        assert paren is not None
                        raise self.bracket_error(
                            paren, token, f"')' to close the '(' at {_where(paren)}")
                    self.reduce_int(stack, operands)
                assert len(operands) == 1
                return operands[0]

    def reduce_int(self, stack: list[tuple[Token | None, str, int]],
                   operands: list[Operand]) -> None:
        token, op, _ = stack.pop()
        right, right_extent = operands.pop()
        if op == "sign":
            assert token is not None
            span = token.span.to(right_extent)
            operands.append((st.Unary(span, canonical(token.text), right), span))
            return
        left, left_extent = operands.pop()
        span = left_extent.to(right_extent)
        operands.append((st.Binary(span, op, left, right, implicit=token is None), span))

    def expected_integer(self, found: Token, opener: Token | None,
                         what: str) -> ChainccError:
        if found.kind in (EOF, NEWLINE):
            if opener is not None and opener.span in self.never_closed:
                return self.error(f"'{opener.text}' was never closed", opener.span)
            prev = self.tokens[self.pos - 1]
            return self.error(f"expected {what} after '{prev.text}', found "
                              f"{describe(found)}", prev.span)
        if opener is not None:
            return self.bracket_error(opener, found, what)
        return self.error(f"expected {what}, found {describe(found)}", found.span)

    def statement_start_error(self, token: Token) -> ChainccError:
        if token.kind == OP and token.text in (")", "]", "}"):
            return self.error(f"unmatched '{token.text}'", token.span)
        if token.kind == OP and token.text == "for":
            return self.error(_FOR_PLACES + "; a 'for' clause ends its definition's line (to "
                              "continue a line, end it with an operator)", token.span)
        message = ("expected a statement ('name(params) = expression' or "
                   f"'name = expression'), found {describe(token)}")
        if token.kind == OP and token.text in CONTINUING_OPS:
            message += "; to continue an expression, end the previous line with the operator"
        return self.error(message, token.span)

    def params_list(self) -> tuple[st.Param, ...]:
        opener = self.advance()
        params: list[st.Param] = []
        seen: set[str] = set()
        if self.at(")"):
            self.advance()
            return ()
        while True:
            name = self.peek()
            if name.kind != NAME:
                raise self.bracket_error(opener, name, "a parameter name")
            self.advance()
            shape: tuple[int, ...] = ()
            end = name.span
            if self.at("["):
                shape, end = self.shape()
            if name.text in seen:
                raise self.error(f"duplicate parameter '{name.text}'", name.span.to(end))
            seen.add(name.text)
            params.append(st.Param(name.text, shape, name.span.to(end)))
            sep = self.advance()
            if sep.kind == OP and sep.text == ")":
                return tuple(params)
            if not (sep.kind == OP and sep.text == ","):
                raise self.bracket_error(opener, sep, "',' or ')' in the parameter list")

    def shape(self) -> tuple[tuple[int, ...], Span]:
        """``[3]``, ``[T, m]``, ``[T+1, 2n]``: each entry an integer expression of numbers
        and sizes, resolved here to a positive integer."""
        opener = self.advance()
        sizes: list[int] = []

        def bad(token: Token) -> str:
            return f"array sizes must be positive integers, found {describe(token)}"

        while True:
            first = self.peek()
            node, extent = self.int_expr("an array size", opener, bad, sign=False)
            sizes.append(self.size_value(node, extent, first))
            if len(sizes) > MAX_DIMENSIONS:
                raise self.error(f"an array parameter has at most {MAX_DIMENSIONS} "
                                 "dimensions", extent)
            sep = self.advance()
            if sep.kind == OP and sep.text == "]":
                return tuple(sizes), sep.span
            if not (sep.kind == OP and sep.text == ","):
                raise self.bracket_error(opener, sep, "',' or ']' in the array shape")

    def size_value(self, node: st.Node, extent: Span, first: Token) -> int:
        """The value of one entry of an array shape, a positive integer."""
        written = self.text(extent) or first.text
        if isinstance(node, st.Num) and node.text.isascii() and node.text.isdigit() \
                and len(node.text.lstrip("0")) > _MAX_SIZE_DIGITS:
            raise self.error(f"array size {node.text} is too large", extent)
        value = sz.integer_value(node, self.sizes, self.source)
        if value is None:
            culprit = sz.obstacle(node, self.sizes)
            if isinstance(culprit, st.Name):
                raise self.error(f"'{culprit.id}' is not a size: a size is a binding of an "
                                 "integer, e.g. T = 100", culprit.span)
            shown = self.text(culprit.span) or written
            raise self.error(f"array sizes must be positive integers, found '{shown}'",
                             culprit.span)
        if value <= 0:
            shown = f"'{written}'" if written == str(value) else f"'{written}' ({value})"
            raise self.error(f"array sizes must be positive integers, found {shown}", extent)
        if value >= 10 ** _MAX_SIZE_DIGITS:
            shown = written if written == str(value) else f"{written} ({value:,})"
            raise self.error(f"array size {shown} is too large", extent)
        return value

    # ------------------------------------------------------- names in scope

    def shadowed(self, name: str) -> bool:
        """Whether a parameter, an index variable or an earlier statement gives ``name``
        another meaning."""
        return name in self.params or name in self.locals or name in self.defined

    def is_function(self, name: str) -> bool:
        """Whether ``name`` names a function here (it ends a bare argument)."""
        if name in self.params or name in self.locals:
            return False
        kind = self.defined.get(name)
        if kind is not None:
            return kind == "function"
        return name in FUNCTION_NAMES or name in LOG_BASES

    def use_builtin(self, name: str, span: Span, written: str) -> None:
        """``written`` (``|x|``, ``∛x``, ``sin x``) stands for the built-in ``name``: an
        error where a parameter or an earlier statement hides it. A binding's names are
        looked up where it is used, so its uses are checked against the parameters of
        the functions after it when the file is read (``check_binding_uses``)."""
        if self.shadowed(name):
            what = "a parameter here; rename the parameter" if name in self.params else \
                "an index variable here; rename it" if name in self.locals else \
                "defined above; rename that definition"
            raise self.error(f"{written} stands for the built-in '{name}', but '{name}' is "
                             f"{what}", span)
        if self.in_binding:
            self.binding_uses.append((self.index, name, span, written))

    def check_binding_uses(self, statements: list[st.Statement]) -> None:
        if not self.binding_uses:
            return
        last: dict[str, tuple[int, str]] = {}     # parameter -> the last function with it
        for i, s in enumerate(statements):
            if isinstance(s, st.FuncDef):
                for p in s.params:
                    last[p.name] = (i, s.name)
        for index, name, span, written in self.binding_uses:
            hit = last.get(name)
            if hit is not None and hit[0] > index:
                raise self.error(
                    f"{written} stands for the built-in '{name}', but this binding may be "
                    f"used in '{hit[1]}', whose parameter '{name}' hides it; rename the "
                    "parameter", span)

    def written_as(self, span: Span, default: str) -> str:
        shown = self.text(span)
        return f"'{shown}'" if shown and len(shown) <= 40 else default

    # ------------------------------------------------------------- expressions

    def expression(self) -> Operand:
        """Parse one expression; stop before the first token that cannot continue it."""
        self.operands, self.stack, self.opens = [], [], []
        self.top_bar_closed = None
        want_operand = True
        while True:
            token = self.peek()
            if want_operand:
                want_operand = self.operand(token)
            elif not self.after_operand(token):
                break
            else:
                want_operand = not self.operands_complete
        while self.stack:
            top = self.stack[-1]
            if isinstance(top, _Open):
                if top.kind == "apply":
                    self.close_apply(top, self.peek())
                    continue
                raise self.unclosed_error(top, self.peek())
            self.reduce()
        assert len(self.operands) == 1
        return self.operands[0]

    def operand(self, token: Token) -> bool:
        """Handle a token where an operand must start; True if one is still wanted."""
        kind, text = token.kind, token.text
        if kind == NUMBER:
            self.advance()
            if text in VULGAR_FRACTIONS:
                n, d = VULGAR_FRACTIONS[text]
                s = token.span
                node: st.Node = st.Binary(s, "/", st.Num(s, str(n)), st.Num(s, str(d)))
                self.operands.append((node, s))
            else:
                self.operands.append((st.Num(token.span, text), token.span))
            return False
        if kind == NAME:
            if self.keyword_start(token):
                return True
            return self.name_operand(token)
        if kind == OP and text in BIG_OPERATORS:
            self.advance()
            rng = self.big_operator_range(token)
            self.push(_Op(token, "prefix", BIG_OPERATORS[text], _BIG, ranges=(rng,),
                          names=(rng.var,)), token.span)
            self.scope((rng.var,))
            return True
        if kind == OP and text in (":", ",", "]") and self.slice_end(token):
            return False
        if kind == OP and text in ("(", "["):
            self.advance()
            if text == "[":
                self.array_depth += 1
                if self.array_depth > MAX_DIMENSIONS:
                    raise self.error(f"array literals nested more than {MAX_DIMENSIONS} "
                                     "deep (an array has at most that many dimensions)",
                                     token.span)
            self.push(_Open("paren" if text == "(" else "array", token, token.span),
                      token.span)
            return True
        if kind == OP and text == "{":
            prev = self.tokens[self.pos - 1]
            if not (prev.kind == OP and prev.text in ("^", "**")):
                raise self.error("braces group an exponent (e^{x}) or a subscript "
                                 "(h_{t-1}); use '(' and ')' here", token.span)
            self.advance()
            self.push(_Open("paren", token, token.span), token.span)
            return True
        if kind == OP and text in _BARS:
            self.advance()
            self.push(_Open("bar", token, token.span), token.span)
            return True
        if kind == OP and text in ROOTS:
            self.advance()
            nxt = self.peek()
            single = nxt.kind == OP and nxt.text in ("(", *_BARS)
            self.push(_Open("apply", token, token.span, single=single), token.span)
            return True
        op = canonical(text) if kind == OP else ""
        if op in ("+", "-"):
            self.advance()
            self.push(_Op(token, "prefix", op, _SIGN), token.span)
            return True
        if op == "not":
            top = self.stack[-1] if self.stack else None
            if isinstance(top, _Op) and top.power > _NOT and top.token is not None:
                raise self.error(f"'{text}' cannot follow '{top.token.text}' without "
                                 f"parentheses; write '({text} ...)'", token.span)
            self.advance()
            self.push(_Op(token, "prefix", "not", _NOT), token.span)
            return True
        raise self.expected_expression(token)

    def name_operand(self, token: Token) -> bool:
        """A name: a value, a call ``f(x)``, or a built-in applied without brackets
        (``sin x``, ``sin²x``, ``sin⁻¹ x``, ``log₂ x``)."""
        self.advance()
        name = token.text
        bare = (name in BARE_FUNCTIONS or name in LOG_BASES) and not self.shadowed(name)
        power: st.Node | None = None
        head_span = token.span
        found = self.function_power(token) if bare else None
        if found is not None:
            name, power, head_span = found
        written = name
        if bare and name in LOG_BASES:
            name = LOG_BASES[name]
        func = st.Name(head_span, name)
        # sin(x) is an ordinary call (a parameter sin makes it a product); the other forms
        # stand for the built-in whatever the scope
        textbook = found is not None or written != name or not self.at("(")
        if bare and textbook and (self.at("(") or self.starts_argument(self.peek())):
            shown = self.written_as(head_span, f"'{name}'")
            if not self.at("("):
                shown += " without brackets"
            self.use_builtin(name, head_span, shown)
            if written != name:
                self.use_builtin(written, head_span, shown)
        if self.at("("):
            opener = self.advance()
            if self.at(")") and power is None:
                span = token.span.to(self.advance().span)
                self.operands.append((st.Call(span, func, ()), span))
                return False
            names = self.for_names.get(self.pos - 1, ())     # sum(x[i] for i = ...)
            self.push(_Open("call", opener, token.span, head=func, power=power, names=names),
                      opener.span)
            self.scope(names)
            return True
        if bare and self.starts_argument(self.peek()):
            self.push(_Open("apply", token, token.span, head=func, power=power), token.span)
            return True
        if found is not None:
            shown = self.text(head_span) or name
            raise self.error(f"expected the argument of '{shown}' (as in {shown} x or "
                             f"{shown}(x)), found {describe(self.peek())}", self.peek().span)
        self.operands.append((st.Name(token.span, name), token.span))
        return False

    def function_power(self, token: Token) -> tuple[str, st.Node | None, Span] | None:
        """The power written after a function's name, ``sin²``, ``sin^2``, ``sin^{2}``,
        consumed: (the function to apply, the power of its value or None, the span of
        the name and power). ``sin⁻¹`` is the inverse function asin (with a warning)."""
        t = self.peek()
        sign, digits = "", None
        taken = 0
        if t.kind == SUP:
            text = superscript_to_ascii(t.text)
            sign, digits = (text[0], text[1:]) if text[0] in "+-" else ("", text)
            taken = 1
        elif t.kind == OP and t.text in ("^", "**"):
            toks = self.tokens[self.pos + 1:self.pos + 5]
            kinds = [(k.kind, canonical(k.text) if k.kind == OP else "") for k in toks]
            brace = kinds[:1] == [(OP, "{")]
            i = 1 if brace else 0
            if len(kinds) > i and kinds[i][1] in ("+", "-"):
                sign = kinds[i][1]
                i += 1
            if len(kinds) > i and kinds[i][0] == NUMBER:
                digits = toks[i].text
                i += 1
                if brace:
                    if len(kinds) > i and kinds[i] == (OP, "}"):
                        i += 1
                    else:
                        digits = None
            taken = 1 + i
        if digits is None or not digits.isdigit():
            return None
        end = self.tokens[self.pos + taken - 1].span
        self.pos += taken
        name = token.text
        span = token.span.to(end)
        shown = self.text(span) or name
        if sign == "-":
            if digits.lstrip("0") != "1":
                raise self.error(f"'{shown}' is ambiguous: only ⁻¹ (the inverse function) "
                                 f"may follow a function's name; write {name}(x)^-{digits} "
                                 "for a power of its value", span)
            inverse = INVERSES.get(name)
            if inverse is None:
                raise self.error(f"'{shown}': chaincc has no built-in inverse of '{name}'; "
                                 f"for the reciprocal write 1/{name}(x)", span)
            self.warn(f"'{shown}' is read as {inverse}, the inverse function, not as "
                      f"1/{name}; write {name}(x)^-1 for the reciprocal", span)
            return inverse, None, span
        return name, st.Num(end, digits), span

    def starts_argument(self, token: Token) -> bool:
        """Whether ``token`` starts the argument of a function written without brackets:
        a number, a name, a bar, a root, or a sign written against what follows it."""
        if token.kind in (NUMBER, NAME):
            return True
        if token.kind != OP:
            return False
        if token.text in _BARS or token.text in ROOTS:
            return True
        if canonical(token.text) in ("+", "-"):
            nxt = self.tokens[self.pos + 1]
            return nxt.kind in (NUMBER, NAME) and _adjacent(token, nxt)
        return False

    def expected_expression(self, found: Token) -> ChainccError:
        if found.kind in (EOF, NEWLINE):
            opener = self.innermost_open()
            if opener is not None and opener.token.span in self.never_closed:
                return self.error(f"'{opener.token.text}' was never closed", opener.token.span)
            prev = self.tokens[self.pos - 1]
            return self.error(f"expected an expression after '{prev.text}', found "
                              f"{describe(found)}", prev.span)
        prev = self.tokens[self.pos - 1]
        hint = operator_hint(prev.text, found.text, _adjacent(prev, found) and prev.kind == OP)
        if hint is not None:                                                    # x^^2
            return self.error(hint, prev.span.to(found.span))
        return self.error(f"expected an expression, found {describe(found)}", found.span)

    def after_operand(self, token: Token) -> bool:
        """Handle a token after a complete operand; False if it ends the expression.

        Sets ``operands_complete`` to say whether an operand is complete afterwards.
        """
        self.end_applications(token)
        self.operands_complete = True
        kind, text = token.kind, token.text
        op = canonical(text) if kind == OP else ""
        if kind == SUP:
            self.advance()
            self.superscript(token)
        elif kind == OP and text in ("'", "ᵀ"):
            self.advance()
            node, extent = self.operands.pop()
            span = extent.to(token.span)
            self.operands.append((st.Transpose(span, node), span))
        elif kind == OP and text == "[":
            self.advance()
            base, extent = self.operands.pop()
            self.push(_Open("index", token, extent, head=base), token.span)
            self.operands_complete = False
        elif kind in (NUMBER, NAME) or (kind == OP and text in ("(", *ROOTS, *BIG_OPERATORS)):
            # Juxtaposition: the token is left for the operand step that follows.
            self.push_binary(None, _ARITH, "*", _MUL, False)
            self.operands_complete = False
        elif kind == OP and text in _BARS:
            self.bar_after_operand(token)
        elif kind == OP and op in _BINARY:
            self.advance()
            self.push_binary(token, *_BINARY[op])
            self.operands_complete = False
        elif kind == OP and text in (")", "]", "}"):
            self.close(token)
        elif kind == OP and text == ",":
            opener = self.reduce_to_open()
            if opener is None:
                return False
            if opener.kind in ("paren", "bar"):
                raise self.unclosed_error(opener, token)
            self.advance()
            self.add_item(opener)
            self.operands_complete = False
        elif kind == OP and text == "for":
            return self.reduce_clause(token)
        elif kind == OP and op == "->":
            self.lambda_arrow(token)
        elif kind == OP and text == ":":
            self.slice_colon(token)
        else:
            return False
        return True

    # ------------------------------------- keywords, slices, sums, lambdas

    def keyword_start(self, token: Token) -> bool:
        """``name=`` where a call's argument starts: a keyword argument (``axis=0``),
        consumed. In ``where(…)``, which takes none, ``x = 0`` stays the error that asks
        for ``==``."""
        nxt = self.tokens[self.pos + 1]
        if not (nxt.kind == OP and nxt.text == "="):
            return False
        opener = self.innermost_open()
        if opener is None or opener.kind != "call" or self.stack[-1] is not opener \
                or opener.keyword is not None:
            return False
        assert isinstance(opener.head, st.Name)
        if opener.head.id == "where" and not self.shadowed("where"):
            return False
        if token.text in opener.keyword_names:
            raise self.error(f"duplicate keyword argument '{token.text}'", token.span)
        opener.keyword_names.add(token.text)
        self.advance()
        self.advance()
        opener.keyword = token
        return True

    def add_item(self, opener: _Open) -> None:
        """The argument, element or index just read, as the next item of ``opener``: a
        positional argument, a keyword argument, an index or a slice."""
        node, extent = self.operands.pop()
        if opener.slice is not None:
            start, first, colon = opener.slice
            opener.slice = None
            stop = None if node is _OMITTED else node
            extent = first.to(colon.span if stop is None else extent)
            node = st.Slice(extent, start, stop)
        if opener.keyword is not None:
            name = opener.keyword
            opener.keyword = None
            opener.keywords.append(st.Keyword(name.text, node, name.span.to(extent)))
            return
        if opener.keywords:
            raise self.error("a positional argument cannot follow a keyword argument "
                             f"('{opener.keywords[-1].name}=…'): keyword arguments come "
                             "last", extent)
        opener.items.append(node)

    def slice_end(self, token: Token) -> bool:
        """A left-out end of a slice where an operand is wanted: the start of ``x[:3]``
        (at ':'), the stop of ``x[1:]`` and ``x[:]`` (at ',' or ']'). Pushes a
        placeholder for it; False where ``token`` is no such place."""
        opener = self.innermost_open()
        if opener is None or opener.kind != "index" or self.stack[-1] is not opener:
            return False
        if token.text == ":":
            if opener.slice is not None:
                raise self.slice_step_error(token)
        elif opener.slice is None:
            return False
        self.operands.append((_OMITTED, token.span))
        return True

    def slice_step_error(self, token: Token) -> ChainccError:
        return self.error("a slice is a:b, with one ':' (a slice has no step)", token.span)

    def slice_colon(self, token: Token) -> None:
        """The ':' of a slice ``a:b``, after its start (or the placeholder of a start
        left out)."""
        opener = self.innermost_open()
        if opener is None or opener.kind != "index":
            raise self.error("':' makes a slice (a:b), which may only be an index of an "
                             "array, as in x[1:3] or W[:, 0]", token.span)
        if opener.slice is not None:
            raise self.slice_step_error(token)
        self.reduce_to_open()
        node, extent = self.operands.pop()
        start = None if node is _OMITTED else node
        self.advance()
        opener.slice = (start, token.span if start is None else extent, token)
        self.operands_complete = False

    def reduce_clause(self, token: Token) -> bool:
        """``for`` after the one argument of ``sum(…)`` or ``prod(…)``: the ranges, the
        closing ')', and the call read as a Reduce. False where no bracket is open (the
        statement decides: an indexed definition takes a 'for' clause)."""
        opener = self.innermost_open()
        if opener is None:
            return False
        head = opener.head
        if not (opener.kind == "call" and isinstance(head, st.Name)
                and head.id in REDUCTIONS and not self.shadowed(head.id)):
            raise self.error(_FOR_PLACES, token.span)
        if opener.items or opener.keywords or opener.keyword is not None:
            raise self.error(f"{head.id}(… for …) takes one argument before 'for', as in "
                             f"{head.id}(x[i]^2 for i = 0..n-1)", token.span)
        self.reduce_to_open()
        body, _ = self.operands.pop()
        self.advance()
        ranges, _ = self.ranges(opener.token)
        closer = self.peek()
        if not self.at(")"):
            raise self.bracket_error(opener.token, closer, "',' or ')' to close the '(' at "
                                     f"{_where(opener.token)}")
        self.advance()
        self.pop_open(opener)
        span = opener.start.to(closer.span)
        self.operands.append((st.Reduce(span, head.id, body, ranges), span))
        return True

    def big_operator_range(self, opener: Token) -> st.Range:
        """The range of ``Σ_{i=a}^{b}`` (or ``Σ_{i=a..b}``), read after its ``Σ_{``: the
        last value is in braces, or one number or name (``^n``)."""
        sign = opener.text[0]
        example = f"{sign}_{{i=0}}^{{n-1}} x[i]"
        var = self.peek()
        if var.kind != NAME:
            raise self.expected_integer(
                var, opener, f"an index variable after '{opener.text}' (as in {example})")
        self.advance()
        if not self.at("="):
            raise self.expected_integer(
                self.peek(), opener,
                f"'=' after the index variable '{var.text}' (as in {example})")
        self.advance()
        first, extent = self.int_expr(f"the first value of '{var.text}' (as in {example})",
                                      opener)
        if self.at(".."):
            self.advance()
            last, extent = self.int_expr(f"the last value of '{var.text}' (as in "
                                         f"{sign}_{{i=0..n-1}} x[i])", opener)
            self.close_brace(opener, f"'}}' after the last value of '{var.text}'")
            return st.Range(var.text, first, last, var.span.to(extent), var.span)
        self.close_brace(opener, f"'}}' or '..' after the first value of '{var.text}' (as "
                                 f"in {example})")
        caret = self.peek()
        if not self.at("^"):
            raise self.error(f"expected '^' and the last value of '{var.text}' after "
                             f"'{sign}_{{…}}' (as in {example}), found {describe(caret)}",
                             caret.span)
        self.advance()
        bound = self.peek()
        last: st.Node
        if self.at("{"):
            self.advance()
            last, extent = self.int_expr(f"the last value of '{var.text}' (as in {example})",
                                         bound)
            self.close_brace(bound, f"'}}' after the last value of '{var.text}'")
        elif bound.kind == NAME or (bound.kind == NUMBER and bound.text not in
                                    VULGAR_FRACTIONS):
            self.advance()
            extent = bound.span
            last = st.Name(extent, bound.text) if bound.kind == NAME else \
                st.Num(extent, bound.text)
        else:
            raise self.error(f"expected the last value of '{var.text}' after '^': a number, "
                             f"a name, or an integer expression in braces (as in {example}), "
                             f"found {describe(bound)}", bound.span)
        return st.Range(var.text, first, last, var.span.to(extent), var.span)

    def close_brace(self, opener: Token, what: str) -> None:
        token = self.peek()
        if not self.at("}"):
            raise self.bracket_error(opener, token, what)
        self.advance()

    def lambda_arrow(self, token: Token) -> None:
        """``z -> body`` as an argument of a call: the name before the arrow is the
        parameter, and the body is the rest of the argument."""
        opener = self.innermost_open()
        node, extent = self.operands[-1]
        if not (opener is not None and opener.kind == "call" and self.stack[-1] is opener
                and opener.keyword is None and isinstance(node, st.Name)
                and extent == node.span):
            raise self.error(f"'{token.text}' makes a function of one name, written as an "
                             "argument of a call: fixpoint(z -> tanh(W @ z + b), zeros(n))",
                             token.span)
        self.advance()
        self.operands.pop()
        self.push(_Op(token, "lambda", "->", _LAMBDA, names=(node.id,),
                      param=(node.id, node.span)), token.span)
        self.scope((node.id,))
        self.operands_complete = False

    # ------------------------------------------------------ superscripts

    def superscript(self, token: Token) -> None:
        node, extent = self.operands.pop()
        exponent = self.superscript_exponent(token)
        span = extent.to(token.span)
        self.operands.append((st.Binary(span, "^", node, exponent,
                                        word_base=_word(node, extent)), span))
        text = superscript_to_ascii(token.text)
        if text.startswith("(") and text.endswith(")") and (
                text[1:-1].isdigit() or text[1:-1].isalpha()):
            base = self.text(extent) or "x"
            self.warn(f"{base}{token.text} is read as the power {base}^{text[1:-1]}; a "
                      "bracketed superscript often marks a label or a derivative (for a "
                      f"label, write a name such as {base}_{text[1:-1]})", token.span)

    def superscript_exponent(self, token: Token) -> st.Node:
        """The exponent a superscript spells: ``²`` 2, ``⁻¹`` -1, ``ⁿ`` n, ``²ⁿ`` 2·n,
        ``⁽ⁿ⁺¹⁾`` n+1 (the lexer has checked where signs and brackets stand)."""
        s = token.span
        text = superscript_to_ascii(token.text)

        def span(i: int, j: int) -> Span:
            return Span(s.file, s.line, s.col + i, s.line, s.col + j)

        def atom(i: int) -> tuple[st.Node, int]:
            j = i + 1
            if text[i].isdigit():
                while j < len(text) and text[j].isdigit():
                    j += 1
                return st.Num(span(i, j), text[i:j]), j
            while j < len(text) and text[j].isalpha():
                j += 1
            return st.Name(span(i, j), text[i:j]), j

        def product(i: int, outer: bool) -> tuple[st.Node, int]:
            start = i
            node: st.Node | None = None
            while i < len(text) and text[i] not in "+-)":
                if text[i] == "(":
                    assert outer
                    part, i = group(i)
                else:
                    part, i = atom(i)
                node = part if node is None else \
                    st.Binary(span(start, i), "*", node, part, implicit=True)
            assert node is not None
            return node, i

        def signed(i: int, outer: bool) -> tuple[st.Node, int]:
            if text[i] in "+-":
                node, j = product(i + 1, outer)
                return st.Unary(span(i, j), text[i], node), j
            return product(i, outer)

        def group(i: int) -> tuple[st.Node, int]:
            node, i = signed(i + 1, False)
            while text[i] in "+-":
                op = text[i]
                right, j = product(i + 1, False)
                node = st.Binary(span(0, j), op, node, right)
                i = j
            assert text[i] == ")"
            return node, i + 1

        node, end = signed(0, True)
        assert end == len(text)
        return node

    # ---------------------------------------------- bare function application

    def end_applications(self, token: Token) -> None:
        """Close every function or root applied without brackets whose argument ends at
        ``token``: the argument is the run of atoms written without spaces between them
        (each with its exponents, indices and transposes), ending at a space, an
        operator, a comma or closing bracket, and at another function's name."""
        while self.opens and self.opens[-1].kind == "apply":
            top = self.opens[-1]
            if not self.ends_argument(top, token):
                return
            self.close_apply(top, token)

    def ends_argument(self, opener: _Open, token: Token) -> bool:
        if opener.single:
            return True
        kind, text = token.kind, token.text
        if kind == SUP or (kind == OP and text in ("'", "ᵀ", "[", "^", "**")):
            return False
        if not _adjacent(self.tokens[self.pos - 1], token):
            return True
        if kind == NUMBER:
            return False
        if kind == NAME:
            return self.is_function(text)
        if kind == OP and text in ("(", *ROOTS):
            return False
        if kind == OP and text in _BARS:
            bar = opener.bar
            return bar is not None and bar.token.text == text
        return True

    def close_apply(self, opener: _Open, token: Token) -> None:
        while isinstance(self.stack[-1], _Op):
            self.reduce()
        self.pop_open(opener)
        arg, extent = self.operands.pop()
        span = opener.start.to(extent)
        node: st.Node
        sign = opener.token.text
        if sign in ROOTS:
            if sign == "∛":
                self.use_builtin("cbrt", span, self.written_as(span, "'∛'"))
                node = st.Call(span, st.Name(opener.token.span, "cbrt"), (arg,))
            else:
                node = st.Binary(span, "^", arg, st.Num(opener.token.span,
                                                         "0.5" if sign == "√" else "0.25"))
            self.root_warning(sign, arg, extent)
        else:
            assert isinstance(opener.head, st.Name)
            node = st.Call(span, opener.head, (arg,))
            if opener.power is not None:
                node = st.Binary(span, "^", node, opener.power)
        self.operands.append((node, span))
        head = sign if opener.head is None else self.text(opener.head.span)
        inside = self.text(extent)
        if head is None or inside is None or opener.single:
            return
        reading = f"{head}({inside})"
        if not _adjacent(self.tokens[self.pos - 1], token):
            if token.kind == NUMBER or (token.kind == OP and token.text == "(") or (
                    token.kind == NAME and not self.is_function(token.text)):
                self.ended[id(node)] = ("space", reading, head, extent)
        elif token.kind == OP and canonical(token.text) == "/":
            self.ended[id(node)] = ("slash", reading, head, extent)

    def root_warning(self, sign: str, arg: st.Node, extent: Span) -> None:
        """``√2x`` is √(2x), as ``sin 2x`` is sin(2x); a reader may mean √2·x."""
        if not (isinstance(arg, st.Binary) and arg.implicit and extent == arg.span):
            return
        first = arg
        while isinstance(first, st.Binary) and first.implicit:
            first = first.left
        inside = self.text(extent)
        head = self.text(first.span)
        if inside is None or head is None:
            return
        rest = inside[len(head):].strip() if inside.startswith(head) else None
        if not rest:
            return
        self.warn(f"read as {sign}({inside}); write {sign}{head}·{rest} if that is meant",
                  extent)

    # ------------------------------------------------------------- bars

    def bar_after_operand(self, token: Token) -> None:
        """A bar after an operand closes the innermost open bar of its kind; with none
        open it opens one by juxtaposition (``2|x|``). A bar that closed while it could
        have opened one makes a later juxtaposed opening bar in the same bracket
        ambiguous (``|a|b|c|``): that is an error, never a guess."""
        opener = self.opens[-1] if self.opens else None
        nxt = self.tokens[self.pos + 1]
        openable = _adjacent(token, nxt) and (
            nxt.kind in (NUMBER, NAME)
            or (nxt.kind == OP and nxt.text in ("(", "[", *ROOTS)))
        if opener is not None and opener.kind == "bar" and opener.token.text == token.text:
            self.advance()
            while isinstance(self.stack[-1], _Op):
                self.reduce()
            self.pop_open(opener)
            inner, _ = self.operands.pop()
            span = opener.start.to(token.span)
            builtin = _BARS[token.text]
            self.use_builtin(builtin, span, self.written_as(span, f"'{token.text}…'"))
            self.operands.append((st.Call(span, st.Name(opener.token.span, builtin),
                                          (inner,)), span))
            if openable:
                self.set_bar_closed(token)
            return
        if not openable:
            if opener is not None and opener.kind == "bar":
                raise self.error(f"closing '{token.text}' does not match the "
                                 f"'{opener.token.text}' at {_where(opener.token)}",
                                 token.span)
            what = "an absolute value: |x| or abs(x)" if token.text == "|" else \
                "a norm: ‖v‖ or norm(v)"
            raise self.error(f"unmatched '{token.text}' (it opens or closes {what})",
                             token.span)
        earlier = self.bar_closed()
        if earlier is not None:
            raise self.error(
                f"ambiguous '{token.text}': with the '{earlier.text}' at {_where(earlier)} it "
                "could also be read as one absolute value inside another; write abs(…) "
                f"for one of them, or put '·' before the '{token.text}' that opens",
                token.span)
        self.push_binary(None, _ARITH, "*", _MUL, False)
        self.operands_complete = False

    def bar_closed(self) -> Token | None:
        level = self.opens[-1].level if self.opens else None
        return self.top_bar_closed if level is None else level.bar_closed

    def set_bar_closed(self, token: Token) -> None:
        level = self.opens[-1].level if self.opens else None
        if level is None:
            self.top_bar_closed = token
        else:
            level.bar_closed = token

    # ---------------------------------------------------------- operators

    def push_binary(self, token: Token | None, family: str, op: str, power: int,
                    right_assoc: bool) -> None:
        while self.stack:
            top = self.stack[-1]
            if not isinstance(top, _Op):
                break
            if top.power < power or (top.power == power and right_assoc):
                break
            if top.family == _CMP_OP and family == _CMP_OP:
                assert token is not None
                raise self.error("comparisons cannot be chained; combine them with 'and', "
                                 "as in 'a < b and b < c'", token.span)
            self.reduce()
        self.push(_Op(token, family, op, power, implicit=token is None),
                  token.span if token is not None else self.peek().span)

    def push(self, entry: _Op | _Open, span: Span) -> None:
        """Push a pending operator or group. Pending operators (signs, exponents, an
        operator before a bracket), open brackets, and bars and bare applications may
        each nest ``MAX_NESTING`` deep (the lexer counts brackets), so ``1*(1*(...x))``
        nests one level per bracket."""
        if isinstance(entry, _Op):
            if self.pending_ops >= MAX_NESTING:
                raise self.error(f"expression nested more than {MAX_NESTING:,} levels deep "
                                 "(signs, exponents and operators waiting for their right "
                                 "operand)", span)
            self.pending_ops += 1
        else:
            outer = self.opens[-1] if self.opens else None
            if entry.kind in ("bar", "apply"):
                if self.groups >= MAX_NESTING:
                    raise self.error(f"expression nested more than {MAX_NESTING:,} levels "
                                     "deep (bars and functions applied without brackets)",
                                     span)
                self.groups += 1
                entry.level = outer.level if outer is not None else None
                if outer is not None:
                    entry.bar = outer if outer.kind == "bar" else outer.bar
            else:
                entry.level = entry
            self.opens.append(entry)
        self.stack.append(entry)

    def pop_open(self, opener: _Open) -> None:
        assert self.stack[-1] is opener and self.opens[-1] is opener
        self.stack.pop()
        self.opens.pop()
        self.unscope(opener.names)
        if opener.kind in ("bar", "apply"):
            self.groups -= 1

    def reduce(self) -> None:
        op = self.stack.pop()
        assert isinstance(op, _Op)
        self.pending_ops -= 1
        node: st.Node
        self.unscope(op.names)
        if op.family == "lambda":
            body, extent = self.operands.pop()
            assert op.param is not None
            name, param_span = op.param
            span = param_span.to(extent)
            node = st.Lambda(span, name, param_span, body)
        elif op.family == "prefix":
            operand, extent = self.operands.pop()
            assert op.token is not None
            span = op.token.span.to(extent)
            if op.ranges:
                node = st.Reduce(span, op.op, operand, op.ranges)
            elif op.op == "not":
                node = st.Not(span, operand)
            else:
                node = st.Unary(span, op.op, operand)
        else:
            right, right_extent = self.operands.pop()
            left, left_extent = self.operands.pop()
            span = left_extent.to(right_extent)
            if op.family == _CMP_OP:
                node = st.Compare(span, op.op, left, right)
            elif op.family == _BOOL:
                node = st.BoolOp(span, op.op, left, right)
            else:
                power = op.op == "^"
                node = st.Binary(span, op.op, left, right, op.implicit,
                                 power and _word(left, left_extent),
                                 power and _word(right, right_extent))
                if op.token is not None and op.op in ("/", "^"):
                    self.written[id(node)] = (op.token.span, right_extent)
                self.juxtaposition_warnings(op, left, left_extent, right_extent)
        self.operands.append((node, span))

    def juxtaposition_warnings(self, op: _Op, left: st.Node, left_extent: Span,
                               right_extent: Span) -> None:
        """Warn where juxtaposition follows a ``/`` or a ``^`` exponent (``x/2y`` is
        (x/2)·y, ``x^2y`` is x^2·y), or where a bare function's argument ended before a
        factor (``sin x y``) or a ``/`` (``sin x/2``)."""
        ended = self.ended.get(id(left))
        if ended is not None and left_extent == left.span:
            reason, reading, head, arg = ended
            right = self.text(right_extent)
            inside = self.text(arg)
            between = self.text(arg, right_extent)
            if right is not None and inside is not None and between is not None:
                if reason == "space" and op.implicit:
                    self.warn(f"read as {reading}·{right}; write {head}({between}) if that "
                              "is meant", arg.to(right_extent))
                elif reason == "slash" and op.op == "/" and not op.implicit:
                    self.warn(f"read as {reading}/{right}; write {head}({between}) if "
                              "that is meant", arg.to(right_extent))
        if not op.implicit:
            return
        target = left
        while isinstance(target, st.Unary) and target.span.end_col == left.span.end_col:
            target = target.operand
        written = self.written.get(id(target))
        if not isinstance(target, st.Binary) or written is None or left_extent != left.span \
                or target.span != Span(left.span.file, target.span.line, target.span.col,
                                       left.span.end_line, left.span.end_col):
            return
        op_span, divisor = written
        whole = self.text(left_extent)
        right = self.text(right_extent)
        base = self.text(left_extent, Span(op_span.file, op_span.line, op_span.col,
                                          op_span.line, op_span.col))
        spelled = self.text(op_span)
        joined = self.text(divisor, right_extent)
        if None in (whole, right, base, spelled, joined):
            return
        if target.op == "/":
            reading = f"({whole})·{right}"
        else:
            reading = f"{whole}·{right}"
        self.warn(f"read as {reading}; write {base}{spelled}({joined}) if that is meant",
                  divisor.to(right_extent))

    # ---------------------------------------------------------- brackets

    def reduce_to_open(self) -> _Open | None:
        while self.stack and isinstance(self.stack[-1], _Op):
            self.reduce()
        return self.innermost_open()

    def innermost_open(self) -> _Open | None:
        return self.opens[-1] if self.opens else None

    def close(self, closer: Token) -> None:
        opener = self.reduce_to_open()
        if opener is None:
            raise self.error(f"unmatched '{closer.text}'", closer.span)
        if _MATCH[opener.token.text] != closer.text:
            raise self.error(f"closing '{closer.text}' does not match the "
                             f"'{opener.token.text}' at {_where(opener.token)}", closer.span)
        self.advance()
        self.pop_open(opener)
        span = opener.start.to(closer.span)
        if opener.kind == "paren":
            node, _ = self.operands.pop()
            self.operands.append((node, span))
            return
        self.add_item(opener)
        items = tuple(opener.items)
        if opener.kind == "array":
            self.array_depth -= 1
        if opener.kind == "call":
            assert isinstance(opener.head, st.Name)
            result: st.Node = st.Call(span, opener.head, items, tuple(opener.keywords))
            if opener.power is not None:
                result = st.Binary(span, "^", result, opener.power)
        elif opener.kind == "index":
            assert opener.head is not None
            result = st.Index(span, opener.head, items)
        else:
            result = st.ArrayLit(span, items)
        self.operands.append((result, span))

    def unclosed_error(self, opener: _Open, found: Token) -> ChainccError:
        closer = _MATCH[opener.token.text]
        if opener.kind == "bar" and found.kind in (EOF, NEWLINE):
            what = "an absolute value is |x| or abs(x)" if closer == "|" else \
                "a norm is ‖v‖ or norm(v)"
            return self.error(f"'{opener.token.text}' was never closed ({what})",
                              opener.token.span)
        expected = f"'{closer}'" if opener.kind in ("paren", "bar") else f"',' or '{closer}'"
        err = self.bracket_error(
            opener.token, found,
            f"{expected} to close the '{opener.token.text}' at {_where(opener.token)}")
        if found.kind == OP and found.text == "=" and err.span == found.span:
            return self.error(err.message + SINGLE_EQUALS, found.span)   # where(x = 0, ...)
        return err


def word_exponent_warning(node: st.Binary, parts: Sequence[str],
                          source: Source | None) -> SourceWarning:
    """The warning for ``e^xy`` read as ``e^x·y`` (the word ``xy`` split into ``parts``),
    located at the word."""
    word = node.right
    assert isinstance(word, st.Name)
    s = node.span
    line = source.line_text(s.line) if source is not None else ""
    written = line[word.span.col - 1:word.span.end_col - 1] if word.span.line == s.line \
        else ""
    base = line[s.col - 1:word.span.col - 1].strip() if word.span.line == s.line else ""
    if not written or not base:
        written, base = "".join(parts), "…^"
    reading = f"{base}{parts[0]}·" + "·".join(parts[1:])
    return SourceWarning(f"read as {reading}; write {base}({written}) if that is meant",
                         word.span, source)


def parse(source: Source) -> st.Module:
    """Parse a whole source file. Raises ChainccError, located, on any syntax error; the
    warnings (forms read one way that a reader might read another) are in
    ``Module.warnings``. A LaTeX source is read by ``latex.py``."""
    if source.syntax == "latex":
        from .latex import parse_latex
        return parse_latex(source)
    return _Parser(source).module()
