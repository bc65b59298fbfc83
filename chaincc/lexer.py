"""Tokens of the source language (see docs/language.md).

The lexer also decides where statements end: it emits NEWLINE only for line breaks
that end a statement, so the parser never has to think about continuation lines.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from .diagnostics import fail
from .hints import character_hint
from .source import Source, Span

NUMBER = "NUMBER"
NAME = "NAME"
OP = "OP"
SUP = "SUP"          # a superscript exponent such as "²" or "⁻¹"
NEWLINE = "NEWLINE"  # the end of a statement: a line break or ";"
EOF = "EOF"

KEYWORDS = frozenset({"and", "or", "not", "for"})

# Textbook spellings of operators, each read as the ASCII operator it stands for. The
# token keeps the text as written (so diagnostics quote it); ``canonical`` gives the
# operator.
ALIASES = {"−": "-", "÷": "/", "⋅": "*", "∗": "*", "∙": "*", "≤": "<=", "≥": ">=",
           "≠": "!=", "∧": "and", "∨": "or", "¬": "not", "↦": "->"}

# The sum and the product over an index, written with a subscript: ``Σ_{i=a}^{b} body``.
# The token is the operator with its "_{" (it opens a brace that "}" closes). Without
# "_{", ``Σ`` and ``∏`` are names and ``∑`` is no character of the language.
BIG_OPERATORS = {"Σ_{": "sum", "∑_{": "sum", "∏_{": "prod"}
BIG_OPERATORS_BY_LETTER = frozenset({"Σ"})        # the one that is a letter

# Longest match first, so "**" is never read as two "*".
_TWO_CHAR_OPS = frozenset({"**", "<=", ">=", "==", "!=", "..", "->"})
_ONE_CHAR_OPS = frozenset("+-*/^·×@()[]{},='<>|‖√∛∜ᵀ" + "".join(ALIASES))
# ":" is an operator only inside "[ ]", where it makes a slice (x[1:3], W[:, 0]); elsewhere
# it is an unexpected character, with a hint for the forms of other languages.
SLICE = ":"
_OPENERS = "([{"
_CLOSERS = ")]}"

# A line that ends in one of these continues onto the next line.
CONTINUING_OPS = frozenset(
    {"+", "-", "*", "/", "^", "**", "·", "×", "@", "=", ",",
     "<", "<=", ">", ">=", "==", "!=", "and", "or", "..", "->", "for"}
    | {a for a, op in ALIASES.items() if op != "not"}
)

SUPERSCRIPT_DIGITS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
SUPERSCRIPT_SIGNS = "⁻⁺"
SUPERSCRIPT_PARENS = "⁽⁾"
# Superscript letters that fonts have (there is no superscript q; "ᵀ" is the transpose).
SUPERSCRIPT_LETTERS = dict(zip(
    "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵁⱽᵂᵅᵝᵞᵟᵋᶿᵠᵡ",
    "abcdefghijklmnoprstuvwxyzABDEGHIJKLMNOPRUVWαβγδεθφχ"))
_SUPERSCRIPT_TO_ASCII = str.maketrans(
    {**dict(zip(SUPERSCRIPT_DIGITS + SUPERSCRIPT_SIGNS + SUPERSCRIPT_PARENS,
                "0123456789-+()")), **SUPERSCRIPT_LETTERS})
_SUPERSCRIPT = frozenset(SUPERSCRIPT_DIGITS + SUPERSCRIPT_SIGNS + SUPERSCRIPT_PARENS
                         + "".join(SUPERSCRIPT_LETTERS))

# Subscripts that may end a name: x₁ is the name x_1, hₜ₋₁ is h_{t-1}.
SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉₊₋ₐₑₒₓₕₖₗₘₙₚₛₜᵢⱼᵣᵤᵥᵦᵧᵨᵩᵪ",
                      "0123456789+-aeoxhklmnpstijruvβγρφχ"))
_OTHER_SUBSCRIPTS = frozenset("₌₍₎ₔ")

# Vulgar fractions, read as the division of two whole numbers: ½x² is (1/2)·x².
VULGAR_FRACTIONS = {
    "½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5),
    "⅖": (2, 5), "⅗": (3, 5), "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅐": (1, 7),
    "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8), "⅞": (7, 8), "⅑": (1, 9), "⅒": (1, 10),
}

# Letters that are not name characters: superscript and subscript letters, the transpose.
_SCRIPT_LETTERS = frozenset("".join(SUPERSCRIPT_LETTERS) + "".join(SUBSCRIPTS) + "ᵀ"
                            + "".join(_OTHER_SUBSCRIPTS))

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
    """``"⁻¹⁰"`` -> ``"-10"``, ``"⁽ⁿ⁺¹⁾"`` -> ``"(n+1)"`` (superscript Greek letters give
    Greek letters)."""
    return text.translate(_SUPERSCRIPT_TO_ASCII)


def canonical(text: str) -> str:
    """The operator an operator token stands for: ``"−"`` -> ``"-"``, ``"≤"`` -> ``"<="``."""
    return ALIASES.get(text, text)


def _is_digit(ch: str) -> bool:
    # str.isdigit() would accept "²", which must lex as an exponent, not a digit.
    return "0" <= ch <= "9"


def _is_letter(ch: str) -> bool:
    return ch.isalpha() and ch not in _SCRIPT_LETTERS


def _is_name_char(ch: str) -> bool:
    if ch.isascii():
        return ch.isalnum() or ch == "_"
    # combining marks (y followed by U+0302 is ŷ) belong to the letter before them
    return _is_letter(ch) or unicodedata.category(ch) in ("Mn", "Mc")


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
        self.brackets: list[str] = []    # the open brackets, innermost last
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
            elif ch in VULGAR_FRACTIONS:
                self.add(NUMBER, self.pos, self.pos + 1)
            elif ch in _SUPERSCRIPT:
                self.superscript()
            elif ch in SUBSCRIPTS or ch in _OTHER_SUBSCRIPTS:
                raise fail(f"a subscript ('{ch}') must follow a name, as in x₁",
                           self.span(self.pos, self.pos + 1), self.source)
            elif _is_letter(ch):
                self.name()
            elif ch == "_":
                end = self.scan_name(self.pos + 1)
                raise fail("names beginning with '_' are reserved",
                           self.span(self.pos, end), self.source)
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

    def open_bracket(self, start: int, end: int) -> None:
        """An opening bracket ("(", "[", "{", or "Σ_{", whose brace "}" closes)."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise fail(f"brackets nested more than {MAX_NESTING:,} levels deep",
                       self.span(start, end), self.source)
        self.brackets.append(self.text[end - 1])
        self.add(OP, start, end)

    def scan_name(self, i: int) -> int:
        text = self.text
        while i < len(text) and _is_name_char(text[i]) \
                and not (text[i] == "_" and text[i + 1:i + 2] == "{"):
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
        # "..": a range, 0..T-1 (the number ends before it)
        if i < len(text) and text[i] == "." and text[i + 1:i + 2] != ".":
            raise fail(f"unexpected '.' after the number '{text[start:i]}'",
                       self.span(i, i + 1), self.source)
        if i < len(text) and text[i] in VULGAR_FRACTIONS:
            whole, frac = text[start:i], text[i]
            raise fail(f"'{whole}{frac}' is ambiguous: write {whole} + {frac} for the mixed "
                       f"number or {whole}·{frac} for the product",
                       self.span(start, i + 1), self.source)
        self.add(NUMBER, start, i)

    def name(self) -> None:
        """A name, with its subscript: ``x₁`` and ``x_{1}`` are the name ``x_1``,
        ``hₜ₋₁`` and ``h_{t-1}`` the name ``h_{t-1}``."""
        text = self.text
        start = self.pos
        end = self.scan_name(start + 1)
        word = text[start:end]
        if text[end:end + 2] == "_{" and word in BIG_OPERATORS_BY_LETTER:
            self.open_bracket(start, end + 2)     # Σ_{i=a}^{b}: the sum, not a name
            return
        if text[end:end + 2] == "_{":
            sub, end = self.braced_subscript(end)
            word = _subscripted(word, sub)
        elif end < len(text) and text[end] in SUBSCRIPTS:
            sub_start = end
            while end < len(text) and text[end] in SUBSCRIPTS:
                end += 1
            sub = "".join(SUBSCRIPTS[c] for c in text[sub_start:end])
            if len(sub) > 1 and sub.isdigit() and word != "log":     # log₁₀ is a base
                raise fail(f"the subscript '{text[sub_start:end]}' is ambiguous: one number "
                           f"or several indices (w₁₂ is often row 1, column 2)? write "
                           f"{word}_{sub} for a name, or index an array: {word}[i, j]",
                           self.span(sub_start, end), self.source)
            word = _subscripted(word, sub)
        if end - start > MAX_NAME or len(word) > MAX_NAME:
            raise fail(f"a name may be at most {MAX_NAME} characters long; this one has "
                       f"{max(end - start, len(word)):,}", self.span(start, end), self.source)
        if not word.isascii():
            word = unicodedata.normalize("NFC", word)
        self.add(OP if word in KEYWORDS else NAME, start, end, word)

    def braced_subscript(self, underscore: int) -> tuple[str, int]:
        """The text of ``_{...}`` at ``underscore`` (spaces dropped, "−" as "-") and the
        index just past its "}"."""
        text = self.text
        opener = underscore + 1
        chars: list[str] = []
        i = opener + 1
        while i < len(text) and text[i] != "}":
            ch = text[i]
            if ch == "\n":
                break
            if ch in " \t":
                pass
            elif _is_name_char(ch) or ch in "+-":
                chars.append(ch)
            elif ch == "−":
                chars.append("-")
            else:
                shown = f"'{ch}'" if ch.isprintable() else f"U+{ord(ch):04X}"
                raise fail(f"unexpected {shown} in a subscript: a subscript in braces holds "
                           "letters, digits, '+' and '-', as in h_{t-1} or W_{ih}",
                           self.span(i, i + 1), self.source)
            i += 1
            if i - underscore > MAX_NAME:
                raise fail(f"a name may be at most {MAX_NAME} characters long",
                           self.span(self.pos, i), self.source)
        if i >= len(text) or text[i] != "}":
            raise fail("'{' was never closed (a subscript in braces ends with '}')",
                       self.span(opener, opener + 1), self.source)
        if not chars:
            raise fail("empty subscript '_{}'", self.span(underscore, i + 1), self.source)
        return "".join(chars), i + 1

    def superscript(self) -> None:
        """A run of superscript characters: one exponent (``²``, ``⁻¹``, ``ⁿ``, ``²ⁿ``,
        ``⁽ⁿ⁺¹⁾``). A sign may open it or follow "⁽"; signs between terms need the
        brackets, which do not nest."""
        text = self.text
        start = self.pos
        end = start
        while end < len(text) and text[end] in _SUPERSCRIPT:
            end += 1
        inside = False
        for i in range(start, end):
            ch = text[i]
            nxt = text[i + 1] if i + 1 < end else ""
            if ch in SUPERSCRIPT_SIGNS:
                opens = i == start or text[i - 1] == "⁽"
                if not opens and not inside:
                    raise fail(f"superscript sign '{ch}' may only open an exponent; put a "
                               "sum in superscript brackets: x⁽ⁿ⁺¹⁾",
                               self.span(i, i + 1), self.source)
                if not nxt or nxt in SUPERSCRIPT_SIGNS or nxt == "⁾":
                    raise fail(f"superscript sign '{ch}' must be followed by superscript "
                               "digits or letters", self.span(i, i + 1), self.source)
            elif ch == "⁽":
                if inside:
                    raise fail("superscript brackets do not nest; write the exponent with "
                               "^( ... )", self.span(i, i + 1), self.source)
                inside = True
                if nxt == "⁾":
                    raise fail("empty superscript brackets", self.span(i, i + 2),
                               self.source)
            elif ch == "⁾":
                if not inside:
                    raise fail("unmatched '⁾'", self.span(i, i + 1), self.source)
                inside = False
        if inside:
            opener = text.rindex("⁽", start, end)
            raise fail("'⁽' was never closed", self.span(opener, opener + 1), self.source)
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
        elif self.text[start:start + 3] in BIG_OPERATORS:
            self.open_bracket(start, start + 3)
        elif ch in _ONE_CHAR_OPS:
            if ch in _OPENERS:
                self.open_bracket(start, start + 1)
                return
            if ch in _CLOSERS and self.depth > 0:
                self.depth -= 1
                self.brackets.pop()
            self.add(OP, start, start + 1)
        elif ch == SLICE and self.brackets and self.brackets[-1] == "[":
            self.add(OP, start, start + 1)
        elif ch == "∏":                   # without "_{", ∏ is a name, as Σ is
            self.add(NAME, start, start + 1)
        elif ch == "∑":
            raise fail("unexpected character '∑': the sum over an index is written "
                       "∑_{i=a}^{b} body, or sum(body for i = a..b)",
                       self.span(start, start + 1), self.source)
        else:
            hint = character_hint(self.text, start)       # Python style: np.exp, &&, ...
            if hint is not None:
                raise fail(hint.message, self.span(hint.start, hint.end), self.source)
            # Invisible characters (a no-break space, say) also get their code point.
            shown = f"'{ch}'" if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"
            raise fail(f"unexpected character {shown}", self.span(start, start + 1),
                       self.source)


def _subscripted(name: str, sub: str) -> str:
    """The name ``name`` with subscript ``sub``: ``x_1``, ``W_ih``, ``h_{t-1}``."""
    if all(_is_name_char(c) for c in sub):
        return f"{name}_{sub}"
    return f"{name}_{{{sub}}}"


def tokenize(source: Source) -> list[Token]:
    """The tokens of ``source``, ending with one EOF token.

    NEWLINE tokens appear only where a statement ends: at ";" and at line breaks
    outside brackets that do not follow a binary operator.
    """
    return _Lexer(source).run()
