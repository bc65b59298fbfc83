"""Parse source text into the syntax tree of ``chaincc.syntax``.

Statements are simple enough for straight-line code. Expressions use an iterative
operator-precedence (shunting-yard) parser with explicit operand and operator stacks,
so nesting depth is bounded by memory, not by Python's recursion limit: the language
promises that 10,000-deep nesting compiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import syntax as st
from .diagnostics import ChainccError, fail
from .lexer import (
    CONTINUING_OPS,
    EOF,
    MAX_NESTING,
    NAME,
    NEWLINE,
    NUMBER,
    OP,
    SUP,
    Token,
    describe,
    superscript_to_ascii,
    tokenize,
)
from .source import Source, Span

# Binding powers, lowest first. Unary signs bind looser than "^" so "-x^2" is -(x^2),
# and tighter than "*" so "-2x" is (-2)*x.
_OR, _AND, _NOT, _CMP, _ADD, _MUL, _SIGN, _POW = range(1, 9)

_ARITH, _CMP_OP, _BOOL = "arith", "compare", "bool"

# token text -> (node family, node op, binding power, right associative)
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

_CLOSER = {"(": ")", "[": "]"}
_MAX_SIZE_DIGITS = 9   # keeps int() far from Python's digit limit and sizes sane
# Most dimensions of an array parameter, and deepest nesting of array literals; together
# they stay within NumPy's 32 dimensions.
MAX_DIMENSIONS = 16

Operand = tuple[st.Node, Span]   # a node and its extent, which includes its parentheses


@dataclass
class _Op:
    """A pending operator. ``token`` is None for an implicit product."""

    token: Token | None
    family: str            # _ARITH, _CMP_OP, _BOOL, or "prefix"
    op: str
    power: int
    implicit: bool = False


@dataclass
class _Open:
    """A pending bracket: "paren", "call", "array" or "index"."""

    kind: str
    token: Token           # the opening bracket
    start: Span            # where the finished node's span begins
    head: st.Node | None = None   # the callee Name, or the indexed base
    items: list[st.Node] = field(default_factory=list)


def _where(token: Token) -> str:
    return f"line {token.span.line}, column {token.span.col}"


class _Parser:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.pos = 0
        self.never_closed = self._find_never_closed()
        self.operands: list[Operand] = []
        self.stack: list[_Op | _Open] = []
        self.operands_complete = False
        self.array_depth = 0          # array literals open around the current token
        self.pending_ops = 0          # operators on the stack

    # ----------------------------------------------------------------- helpers

    def _find_never_closed(self) -> set[Span]:
        # Knowing which brackets never close lets an error that surfaces far away (the
        # lexer glued later lines onto the open bracket) point at the real cause.
        openers: list[Span] = []
        for token in self.tokens:
            if token.kind == OP and token.text in _CLOSER:
                openers.append(token.span)
            elif token.kind == OP and token.text in (")", "]") and openers:
                openers.pop()
        return set(openers)

    def error(self, message: str, span: Span) -> ChainccError:
        return fail(message, span, self.source)

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
                return st.Module(self.source.name, tuple(statements))
            statements.append(self.statement())
            end = self.peek()
            if end.kind not in (NEWLINE, EOF):
                raise self.error(f"unexpected {describe(end)} after the end of the statement",
                                 end.span)

    def statement(self) -> st.Statement:
        first = self.peek()
        if first.kind != NAME:
            raise self.statement_start_error(first)
        self.advance()
        params = self.params() if self.at("(") else None
        eq = self.peek()
        if not self.at("="):
            after = f"'{first.text}'" if params is None else \
                f"the parameter list of '{first.text}'"
            raise self.error(f"expected '=' after {after}, found {describe(eq)}", eq.span)
        self.advance()
        body, extent = self.expression()
        span = first.span.to(extent)
        if params is None:
            return st.Binding(span, first.text, body, first.span)
        return st.FuncDef(span, first.text, params, body, first.span)

    def statement_start_error(self, token: Token) -> ChainccError:
        if token.kind == OP and token.text in (")", "]"):
            return self.error(f"unmatched '{token.text}'", token.span)
        message = ("expected a statement ('name(params) = expression' or "
                   f"'name = expression'), found {describe(token)}")
        if token.kind == OP and token.text in CONTINUING_OPS:
            message += "; to continue an expression, end the previous line with the operator"
        return self.error(message, token.span)

    def params(self) -> tuple[st.Param, ...]:
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
        opener = self.advance()
        sizes: list[int] = []
        while True:
            size = self.peek()
            digits = size.text.lstrip("0")
            if size.kind != NUMBER or not size.text.isdigit() or not digits:
                if size.kind in (EOF, NEWLINE):
                    raise self.bracket_error(opener, size, "an array size")
                raise self.error("array sizes must be positive integers, found "
                                 f"{describe(size)}", size.span)
            if len(digits) > _MAX_SIZE_DIGITS:
                raise self.error(f"array size {size.text} is too large", size.span)
            sizes.append(int(digits))
            if len(sizes) > MAX_DIMENSIONS:
                raise self.error(f"an array parameter has at most {MAX_DIMENSIONS} "
                                 "dimensions", size.span)
            self.advance()
            sep = self.advance()
            if sep.kind == OP and sep.text == "]":
                return tuple(sizes), sep.span
            if not (sep.kind == OP and sep.text == ","):
                raise self.bracket_error(opener, sep, "',' or ']' in the array shape")

    # ------------------------------------------------------------- expressions

    def expression(self) -> Operand:
        """Parse one expression; stop before the first token that cannot continue it."""
        self.operands, self.stack = [], []
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
                raise self.unclosed_error(top, self.peek())
            self.reduce()
        assert len(self.operands) == 1
        return self.operands[0]

    def operand(self, token: Token) -> bool:
        """Handle a token where an operand must start; True if one is still wanted."""
        if token.kind == NUMBER:
            self.advance()
            self.operands.append((st.Num(token.span, token.text), token.span))
            return False
        if token.kind == NAME:
            self.advance()
            name = st.Name(token.span, token.text)
            if not self.at("("):
                self.operands.append((name, token.span))
                return False
            opener = self.advance()
            if self.at(")"):
                span = token.span.to(self.advance().span)
                self.operands.append((st.Call(span, name, ()), span))
                return False
            self.push(_Open("call", opener, token.span, head=name), opener.span)
            return True
        if token.kind == OP and token.text in _CLOSER:
            self.advance()
            if token.text == "[":
                self.array_depth += 1
                if self.array_depth > MAX_DIMENSIONS:
                    raise self.error(f"array literals nested more than {MAX_DIMENSIONS} "
                                     "deep (an array has at most that many dimensions)",
                                     token.span)
            self.push(_Open("paren" if token.text == "(" else "array", token, token.span),
                      token.span)
            return True
        if token.kind == OP and token.text in ("+", "-"):
            self.advance()
            self.push(_Op(token, "prefix", token.text, _SIGN), token.span)
            return True
        if token.kind == OP and token.text == "not":
            top = self.stack[-1] if self.stack else None
            if isinstance(top, _Op) and top.power > _NOT and top.token is not None:
                raise self.error(f"'not' cannot follow '{top.token.text}' without parentheses; "
                                 "write '(not ...)'", token.span)
            self.advance()
            self.push(_Op(token, "prefix", "not", _NOT), token.span)
            return True
        raise self.expected_expression(token)

    def expected_expression(self, found: Token) -> ChainccError:
        if found.kind in (EOF, NEWLINE):
            opener = self.innermost_open()
            if opener is not None and opener.token.span in self.never_closed:
                return self.error(f"'{opener.token.text}' was never closed", opener.token.span)
            prev = self.tokens[self.pos - 1]
            return self.error(f"expected an expression after '{prev.text}', found "
                              f"{describe(found)}", prev.span)
        return self.error(f"expected an expression, found {describe(found)}", found.span)

    def after_operand(self, token: Token) -> bool:
        """Handle a token after a complete operand; False if it ends the expression.

        Sets ``operands_complete`` to say whether an operand is complete afterwards.
        """
        self.operands_complete = True
        kind, text = token.kind, token.text
        if kind == SUP:
            self.advance()
            self.superscript(token)
        elif kind == OP and text == "'":
            self.advance()
            node, extent = self.operands.pop()
            span = extent.to(token.span)
            self.operands.append((st.Transpose(span, node), span))
        elif kind == OP and text == "[":
            self.advance()
            base, extent = self.operands.pop()
            self.push(_Open("index", token, extent, head=base), token.span)
            self.operands_complete = False
        elif kind in (NUMBER, NAME) or (kind == OP and text == "("):
            # Juxtaposition: the token is left for the operand step that follows.
            self.push_binary(None, _ARITH, "*", _MUL, False)
            self.operands_complete = False
        elif kind == OP and text in _BINARY:
            self.advance()
            self.push_binary(token, *_BINARY[text])
            self.operands_complete = False
        elif kind == OP and text in (")", "]"):
            self.close(token)
        elif kind == OP and text == ",":
            opener = self.reduce_to_open()
            if opener is None:
                return False
            if opener.kind == "paren":
                raise self.unclosed_error(opener, token)
            self.advance()
            opener.items.append(self.operands.pop()[0])
            self.operands_complete = False
        else:
            return False
        return True

    def superscript(self, token: Token) -> None:
        node, extent = self.operands.pop()
        text = superscript_to_ascii(token.text)
        s = token.span
        exponent: st.Node
        if text[0] in "+-":
            digits = Span(s.file, s.line, s.col + 1, s.end_line, s.end_col)
            exponent = st.Unary(s, text[0], st.Num(digits, text[1:]))
        else:
            exponent = st.Num(s, text)
        span = extent.to(s)
        self.operands.append((st.Binary(span, "^", node, exponent), span))

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
        """Push a pending operator or bracket. Pending operators (signs, exponents, an
        operator before a bracket) and open brackets may each nest ``MAX_NESTING`` deep
        (the lexer counts brackets), so ``1*(1*(...x))`` nests one level per bracket."""
        if isinstance(entry, _Op):
            if self.pending_ops >= MAX_NESTING:
                raise self.error(f"expression nested more than {MAX_NESTING:,} levels deep "
                                 "(signs, exponents and operators waiting for their right "
                                 "operand)", span)
            self.pending_ops += 1
        self.stack.append(entry)

    def reduce(self) -> None:
        op = self.stack.pop()
        assert isinstance(op, _Op)
        self.pending_ops -= 1
        node: st.Node
        if op.family == "prefix":
            operand, extent = self.operands.pop()
            assert op.token is not None
            span = op.token.span.to(extent)
            node = st.Not(span, operand) if op.op == "not" else st.Unary(span, op.op, operand)
        else:
            right, right_extent = self.operands.pop()
            left, left_extent = self.operands.pop()
            span = left_extent.to(right_extent)
            if op.family == _CMP_OP:
                node = st.Compare(span, op.op, left, right)
            elif op.family == _BOOL:
                node = st.BoolOp(span, op.op, left, right)
            else:
                node = st.Binary(span, op.op, left, right, op.implicit)
        self.operands.append((node, span))

    def reduce_to_open(self) -> _Open | None:
        while self.stack and isinstance(self.stack[-1], _Op):
            self.reduce()
        return self.innermost_open()

    def innermost_open(self) -> _Open | None:
        for entry in reversed(self.stack):
            if isinstance(entry, _Open):
                return entry
        return None

    def close(self, closer: Token) -> None:
        opener = self.reduce_to_open()
        if opener is None:
            raise self.error(f"unmatched '{closer.text}'", closer.span)
        if _CLOSER[opener.token.text] != closer.text:
            raise self.error(f"closing '{closer.text}' does not match the "
                             f"'{opener.token.text}' at {_where(opener.token)}", closer.span)
        self.advance()
        self.stack.pop()
        node, extent = self.operands.pop()
        span = opener.start.to(closer.span)
        if opener.kind == "paren":
            self.operands.append((node, span))
            return
        items = (*opener.items, node)
        if opener.kind == "array":
            self.array_depth -= 1
        if opener.kind == "call":
            assert isinstance(opener.head, st.Name)
            result: st.Node = st.Call(span, opener.head, items)
        elif opener.kind == "index":
            assert opener.head is not None
            result = st.Index(span, opener.head, items)
        else:
            result = st.ArrayLit(span, items)
        self.operands.append((result, span))

    def unclosed_error(self, opener: _Open, found: Token) -> ChainccError:
        closer = _CLOSER[opener.token.text]
        expected = f"'{closer}'" if opener.kind == "paren" else f"',' or '{closer}'"
        return self.bracket_error(
            opener.token, found,
            f"{expected} to close the '{opener.token.text}' at {_where(opener.token)}")


def parse(source: Source) -> st.Module:
    """Parse a whole source file. Raises ChainccError, located, on any syntax error."""
    return _Parser(source).module()
