"""Tokens of the source language (see docs/language.md).

The lexer also decides where statements end: it emits NEWLINE only for line breaks
that end a statement, so the parser never has to think about continuation lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from .diagnostics import fail
from .source import Source, Span

NUMBER = "NUMBER"
NAME = "NAME"
OP = "OP"
SUP = "SUP"          # a superscript exponent such as "²" or "⁻¹"
NEWLINE = "NEWLINE"  # the end of a statement: a line break or ";"
EOF = "EOF"

KEYWORDS = frozenset({"and", "or", "not"})

# Longest match first, so "**" is never read as two "*".
_TWO_CHAR_OPS = frozenset({"**", "<=", ">=", "==", "!="})
_ONE_CHAR_OPS = frozenset("+-*/^·×@()[],='<>")
_OPENERS = "(["
_CLOSERS = ")]"

# A line that ends in one of these continues onto the next line.
CONTINUING_OPS = frozenset(
    {"+", "-", "*", "/", "^", "**", "·", "×", "@", "=", ",",
     "<", "<=", ">", ">=", "==", "!=", "and", "or"}
)

SUPERSCRIPT_DIGITS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
SUPERSCRIPT_SIGNS = "⁻⁺"
_SUPERSCRIPT_TO_ASCII = str.maketrans(SUPERSCRIPT_DIGITS + SUPERSCRIPT_SIGNS, "0123456789-+")

_WHITESPACE = frozenset(" \t\r\f\v")

# How deep brackets may nest (counted here, so a deeper source is refused before any
# work is spent on it), and how many operators may wait for their right operand (signs,
# exponents: counted by the parser). The language promises 10,000.
MAX_NESTING = 12_000

# The most tokens (names, numbers, operators) a source may hold: far more than any
# function within the operation limit of lowering needs, and few enough that reading and
# parsing the largest source takes a few seconds.
MAX_TOKENS = 100_000

# The longest name (a run of letters, digits and "_") a source may hold. It bounds the
# work of splitting ``xy`` into names, and keeps names usable as identifiers everywhere.
MAX_NAME = 256


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    span: Span


def superscript_to_ascii(text: str) -> str:
    """``"⁻¹⁰"`` -> ``"-10"``."""
    return text.translate(_SUPERSCRIPT_TO_ASCII)


def _is_digit(ch: str) -> bool:
    # str.isdigit() would accept "²", which must lex as an exponent, not a digit.
    return "0" <= ch <= "9"


def _is_name_char(ch: str) -> bool:
    return ch.isalpha() or _is_digit(ch) or ch == "_"


def describe(token: Token) -> str:
    """How an error message names a token: "')'", "end of line", "end of file"."""
    if token.kind == EOF:
        return "end of file"
    if token.kind == NEWLINE and token.text != ";":
        return "end of line"
    return f"'{token.text}'"


class _Lexer:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.text = source.text
        self.pos = 0
        self.line = 1
        self.line_start = 0          # index of the first character of the current line
        self.depth = 0               # open brackets; newlines inside them are not statement ends
        self.tokens: list[Token] = []

    def span(self, start: int, end: int) -> Span:
        # Tokens never span lines, so both ends share the current line.
        return Span(self.source.name, self.line, start - self.line_start + 1,
                    self.line, end - self.line_start + 1)

    def add(self, kind: str, start: int, end: int, text: str | None = None) -> None:
        if text is None:
            text = self.text[start:end]
        if len(self.tokens) >= MAX_TOKENS:
            raise fail(f"a source may hold at most {MAX_TOKENS:,} tokens (names, numbers "
                       "and operators)", self.span(start, end), self.source)
        self.tokens.append(Token(kind, text, self.span(start, end)))
        self.pos = end

    def run(self) -> list[Token]:
        text = self.text
        if text.startswith("\ufeff"):
            self.pos = self.line_start = 1
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\n":
                self.end_line()
            elif ch in _WHITESPACE:
                self.pos += 1
            elif ch == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif _is_digit(ch) or (ch == "." and _is_digit(self.peek(1))):
                self.number()
            elif ch.isalpha():
                self.name()
            elif ch == "_":
                end = self.scan_name(self.pos + 1)
                raise fail("names beginning with '_' are reserved",
                           self.span(self.pos, end), self.source)
            elif ch in SUPERSCRIPT_DIGITS or ch in SUPERSCRIPT_SIGNS:
                self.superscript()
            else:
                self.operator()
        last = self.last_token()
        end = (last.span.end_line, last.span.end_col) if last else (1, 1)
        self.tokens.append(Token(EOF, "", Span(self.source.name, *end, end[0], end[1] + 1)))
        return self.tokens

    def peek(self, offset: int) -> str:
        i = self.pos + offset
        return self.text[i] if i < len(self.text) else ""

    def last_token(self) -> Token | None:
        # Line-break NEWLINEs sit just past the token before them, so skipping them
        # gives the same end position and keeps the EOF caret on a visible line.
        for token in reversed(self.tokens):
            if token.text != "\n":
                return token
        return None

    def end_line(self) -> None:
        prev = self.tokens[-1] if self.tokens else None
        ends_statement = (
            prev is not None
            and prev.kind != NEWLINE
            and self.depth == 0
            and not (prev.kind == OP and prev.text in CONTINUING_OPS)
        )
        if ends_statement:
            assert prev is not None
            # Point just past the last token, not at the end of a trailing comment.
            s = prev.span
            self.tokens.append(Token(NEWLINE, "\n", Span(s.file, s.end_line, s.end_col,
                                                         s.end_line, s.end_col + 1)))
        self.pos += 1
        self.line += 1
        self.line_start = self.pos

    def scan_name(self, i: int) -> int:
        while i < len(self.text) and _is_name_char(self.text[i]):
            i += 1
        return i

    def scan_digits(self, i: int) -> int:
        while i < len(self.text) and _is_digit(self.text[i]):
            i += 1
        return i

    def number(self) -> None:
        text = self.text
        start = self.pos
        i = self.scan_digits(start)
        if i < len(text) and text[i] == "." and i + 1 < len(text) and _is_digit(text[i + 1]):
            i = self.scan_digits(i + 1)
        # An exponent only when digits follow: "2e3" is a number, "2e" and "2ex" are not.
        if i < len(text) and text[i] in "eE":
            j = i + 1
            if j < len(text) and text[j] in "+-":
                j += 1
            if j < len(text) and _is_digit(text[j]):
                i = self.scan_digits(j)
        if i < len(text) and text[i] == ".":
            raise fail(f"unexpected '.' after the number '{text[start:i]}'",
                       self.span(i, i + 1), self.source)
        self.add(NUMBER, start, i)

    def name(self) -> None:
        start = self.pos
        end = self.scan_name(start + 1)
        if end - start > MAX_NAME:
            raise fail(f"a name may be at most {MAX_NAME} characters long; this one has "
                       f"{end - start:,}", self.span(start, end), self.source)
        word = self.text[start:end]
        self.add(OP if word in KEYWORDS else NAME, start, end)

    def superscript(self) -> None:
        text = self.text
        start = self.pos
        i = start + 1 if text[start] in SUPERSCRIPT_SIGNS else start
        end = i
        while end < len(text) and text[end] in SUPERSCRIPT_DIGITS:
            end += 1
        if end == i:
            raise fail(f"superscript sign '{text[start]}' must be followed by "
                       "superscript digits", self.span(start, start + 1), self.source)
        if end < len(text) and text[end] in SUPERSCRIPT_SIGNS:
            raise fail(f"superscript sign '{text[end]}' may only open an exponent",
                       self.span(end, end + 1), self.source)
        self.add(SUP, start, end)

    def operator(self) -> None:
        start = self.pos
        two = self.text[start:start + 2]
        if two in _TWO_CHAR_OPS:
            self.add(OP, start, start + 2)
            return
        ch = self.text[start]
        if ch == ";":
            self.add(NEWLINE, start, start + 1)
        elif ch in _ONE_CHAR_OPS:
            if ch in _OPENERS:
                self.depth += 1
                if self.depth > MAX_NESTING:
                    raise fail(f"brackets nested more than {MAX_NESTING:,} levels deep",
                               self.span(start, start + 1), self.source)
            elif ch in _CLOSERS and self.depth > 0:
                self.depth -= 1
            self.add(OP, start, start + 1)
        else:
            # Invisible characters (a no-break space, say) also get their code point.
            shown = f"'{ch}'" if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"
            raise fail(f"unexpected character {shown}", self.span(start, start + 1),
                       self.source)


def tokenize(source: Source) -> list[Token]:
    """The tokens of ``source``, ending with one EOF token.

    NEWLINE tokens appear only where a statement ends: at ";" and at line breaks
    outside brackets that do not follow a binary operator.
    """
    return _Lexer(source).run()
