"""Tokens of LaTeX math, for the LaTeX reader (``latex.py``; the rules are in
docs/language.md, "LaTeX").

A text is either a document, where only the math between ``$…$``, ``$$…$$``, ``\\[…\\]``,
``\\(…\\)`` and math environments (``equation``, ``align``, ...) is read, or, when it holds
none of those, math throughout. Each piece of math becomes tokens ending with a ``SEG``
token, so no statement runs from one formula into the next. Every token keeps the span of
the characters it came from, so every error has its caret in the LaTeX text.

The scan is one pass over the characters with counters for nesting (no recursion), and
the number of tokens is bounded as in the text syntax.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from .diagnostics import fail
from .lexer import MAX_NAME, MAX_NESTING, MAX_TOKENS
from .source import Source, Span

NUM = "NUM"          # digits, as the text syntax reads them ("2.5", "1e-3")
NAME = "NAME"        # a run of letters and digits starting with a letter ("x", "xy", "x1")
CMD = "CMD"          # a control sequence, without its backslash ("frac", "beta", ",")
WORD = "WORD"        # \mathrm{...}, \operatorname{...} and the like: text is the name inside
TEXT = "TEXT"        # \text{...}: prose, text is what the braces hold
OP = "OP"            # + - * / = < > ^ _ ' , ; : . ! @ & { } and := <= >= != ==
DELIM = "DELIM"      # a bracket or bar, with how it was sized in ``side``
ROW = "ROW"          # \\ : the end of a row
BREAK = "BREAK"      # a line break that ends a statement (only in math without delimiters)
BEGIN = "BEGIN"      # \begin{name}: text is the environment's name
END = "END"          # \end{name}
SEG = "SEG"          # the end of one piece of math
EOF = "EOF"

# Environments that make math in a document; inside math, the row environments hold rows
# of statements and the others are read as expressions (cases, matrices).
MATH_ENVS = frozenset(
    f"{name}{star}" for name in ("equation", "align", "gather", "multline", "flalign",
                                 "alignat", "eqnarray", "displaymath", "math", "dmath")
    for star in ("", "*"))
ROW_ENVS = MATH_ENVS | {"aligned", "alignedat", "gathered", "split", "multlined"}
_ENV_WITH_ARG = frozenset({"alignat", "alignat*", "alignedat", "array", "subarray"})

# Spacing and layout commands, dropped; those in _DROP_WITH_ARG take one {argument}.
_SPACING = frozenset({
    ",", ";", ":", "!", " ", ">", "quad", "qquad", "enspace", "thinspace", "medspace",
    "thickspace", "negthinspace", "negmedspace", "negthickspace", "displaystyle",
    "textstyle", "scriptstyle", "scriptscriptstyle", "nonumber", "notag", "limits",
    "nolimits", "allowbreak", "nobreak", "hfill", "relax", "left.", "right.", "mathstrut",
    "strut", "newline", "cr", "\n", "\t"})
_DROP_WITH_ARG = frozenset({"label", "tag", "tag*", "hspace", "hspace*", "vspace",
                            "vspace*", "phantom", "hphantom", "vphantom", "eqref", "ref"})
# Commands whose argument is prose (read as one TEXT token).
TEXT_CMDS = frozenset({"text", "textrm", "textit", "textbf", "textsf", "texttt",
                       "textnormal", "textup", "mbox", "hbox", "intertext",
                       "shortintertext", "rlap", "llap", "clap", "emph"})
# Commands whose argument is a name in some font (read as one WORD token).
WORD_CMDS = frozenset({"mathrm", "operatorname", "operatorname*", "mathit", "mathsf",
                       "mathbf", "mathtt", "boldsymbol", "bm", "mathbfit", "mathcal",
                       "mathscr", "mathfrak", "mathbb", "mathnormal", "pmb", "mathbold"})

# \left, \right and the \big family size the delimiter after them.
_SIZERS = {"left": "left", "right": "right"} | {
    f"{b}{s}": {"l": "open", "r": "close", "m": "big", "": "big"}[s]
    for b in ("big", "Big", "bigg", "Bigg") for s in ("", "l", "r", "m")}
# delimiter spellings -> (canonical delimiter, side when written bare)
_DELIMS = {"(": ("(", ""), ")": (")", ""), "[": ("[", ""), "]": ("]", ""),
           "|": ("|", ""), "\\|": ("‖", ""), "\\{": ("{", ""), "\\}": ("}", ""),
           "\\lbrace": ("{", ""), "\\rbrace": ("}", ""), "\\lbrack": ("[", ""),
           "\\rbrack": ("]", ""), "\\vert": ("|", ""), "\\Vert": ("‖", ""),
           "\\lvert": ("|", "open"), "\\rvert": ("|", "close"), "\\lVert": ("‖", "open"),
           "\\rVert": ("‖", "close"), "\\lfloor": ("⌊", ""), "\\rfloor": ("⌋", ""),
           "\\lceil": ("⌈", ""), "\\rceil": ("⌉", ""), "\\langle": ("⟨", ""),
           "\\rangle": ("⟩", ""), ".": (".", ""), "/": ("/", "")}
_DELIM_CMDS = frozenset(k[1:] for k in _DELIMS if k.startswith("\\") and len(k) > 2)

# Characters read as operators; Unicode signs map to what they mean.
_OP_CHARS = {c: c for c in "+-*/=<>^_',;:.!@&"} | {
    "−": "-", "·": "·", "×": "×", "≤": "<=", "≥": ">=", "≠": "!=", "∗": "*"}
_TWO_CHAR = frozenset({":=", "<=", ">=", "!=", "=="})
# A token after which a line break does not end a statement (math without delimiters):
# the line ends in an operator or inside a group.
_OPERAND_ENDS = frozenset({NUM, NAME, WORD})


@dataclass(frozen=True)
class Tok:
    kind: str
    text: str
    span: Span
    start: int            # offsets into the source text (end exclusive)
    end: int
    side: str = ""        # DELIM: "left", "right", "open", "close", "big" or "" (bare)


class _Positions:
    """Offsets into a text as (line, column) spans, columns counting characters."""

    def __init__(self, source: Source) -> None:
        self.name = source.name
        starts = [0]
        text = source.text
        i = text.find("\n")
        while i >= 0:
            starts.append(i + 1)
            i = text.find("\n", i + 1)
        self.starts = starts

    def span(self, start: int, end: int) -> Span:
        line = bisect.bisect_right(self.starts, start)
        col = start - self.starts[line - 1] + 1
        end_line = bisect.bisect_right(self.starts, max(start, end - 1))
        end_col = max(start, end - 1) - self.starts[end_line - 1] + 2
        return Span(self.name, line, col, end_line, end_col)


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def _command_end(text: str, i: int) -> int:
    """The end of the control sequence whose backslash is at ``i``."""
    j = i + 1
    if j < len(text) and text[j].isascii() and text[j].isalpha():
        while j < len(text) and text[j].isascii() and text[j].isalpha():
            j += 1
        if j < len(text) and text[j] == "*" and text[i + 1:j] in ("operatorname", "tag",
                                                                   "hspace", "vspace"):
            j += 1
        return j
    return min(j + 1, len(text))


def _group_end(text: str, i: int, limit: int) -> int:
    """The index just past the ``}`` that closes the ``{`` at ``i``, or -1."""
    depth = 0
    j = i
    while j < limit:
        ch = text[j]
        if ch == "\\":
            j += 2
            continue
        if ch == "%":
            nl = text.find("\n", j)
            j = limit if nl < 0 or nl >= limit else nl
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return -1


def _skip_space(text: str, i: int, limit: int) -> int:
    while i < limit and text[i] in " \t\r\n":
        i += 1
    return i


_LONGEST_ENV = 64       # an environment's name (or column spec) is short: bounded scans


def _env_name(text: str, i: int, limit: int) -> tuple[str, int] | None:
    """``{name}`` at ``i`` (after optional spaces): the name and the index after it."""
    i = _skip_space(text, i, limit)
    if i >= limit or text[i] != "{":
        return None
    close = text.find("}", i, min(limit, i + _LONGEST_ENV))
    if close < 0:
        return None
    return text[i + 1:close].strip(), close + 1


# ------------------------------------------------------------- finding the math ----

def math_pieces(source: Source) -> list[tuple[int, int, bool]]:
    """The pieces of math in a LaTeX text as (start, end, whole): ``whole`` when the text
    has no math delimiters and is math throughout."""
    text = source.text
    pos = _Positions(source)
    start = 1 if text.startswith("\ufeff") else 0
    pieces: list[tuple[int, int, bool]] = []
    i, n = start, len(text)
    while i < n:
        ch = text[i]
        if ch == "%":
            nl = text.find("\n", i)
            i = n if nl < 0 else nl + 1
        elif ch == "\\":
            end = _command_end(text, i)
            word = text[i + 1:end]
            if word in ("[", "("):
                closer = "\\]" if word == "[" else "\\)"
                stop = _find_closer(text, end, closer)
                if stop < 0:
                    raise fail(f"'\\{word}' is never closed by '{closer}'",
                               pos.span(i, end), source)
                pieces.append((end, stop, False))
                i = stop + 2
            elif word == "begin":
                env = _env_name(text, end, n)
                if env is not None and env[0] in MATH_ENVS:
                    body = env[1]
                    if env[0] in _ENV_WITH_ARG:
                        got = _env_name(text, body, n)
                        body = got[1] if got else body
                    closer = f"\\end{{{env[0]}}}"
                    stop = _find_closer(text, body, closer)
                    if stop < 0:
                        raise fail(f"\\begin{{{env[0]}}} is never closed by {closer}",
                                   pos.span(i, env[1]), source)
                    pieces.append((body, stop, False))
                    i = stop + len(closer)
                else:
                    i = end
            else:
                i = end
        elif ch == "$":
            double = text.startswith("$$", i)
            opener = "$$" if double else "$"
            stop = _find_closer(text, i + len(opener), opener)
            if stop < 0 or (not double and "\n\n" in text[i:stop]):
                raise fail(f"'{opener}' is never closed", pos.span(i, i + len(opener)),
                           source)
            pieces.append((i + len(opener), stop, False))
            i = stop + len(opener)
        else:
            i += 1
    if not pieces:
        return [(start, n, True)]
    return pieces


def _find_closer(text: str, i: int, closer: str) -> int:
    """Where ``closer`` ends the math that starts at ``i``: prose arguments (\\text{...},
    which may hold ``$…$``), comments and escaped characters are skipped. -1 if never."""
    n = len(text)
    while i < n:
        if text.startswith(closer, i):
            return i
        ch = text[i]
        if ch == "%":
            nl = text.find("\n", i)
            i = n if nl < 0 else nl + 1
        elif ch == "\\":
            end = _command_end(text, i)
            if text[i + 1:end] in TEXT_CMDS:
                j = _skip_space(text, end, n)
                if j < n and text[j] == "{":
                    close = _group_end(text, j, n)
                    if close < 0:
                        return -1                    # never closed: nor is the math
                    i = close
                    continue
            i = max(end, i + 2) if text.startswith("\\$", i) else end
        else:
            i += 1
    return -1


# ------------------------------------------------------------------- the tokens ----

class _Lexer:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.text = source.text
        self.pos = _Positions(source)
        self.tokens: list[Tok] = []

    def error(self, message: str, start: int, end: int):
        return fail(message, self.pos.span(start, end), self.source)

    def add(self, kind: str, text: str, start: int, end: int, side: str = "") -> None:
        if len(self.tokens) >= MAX_TOKENS:
            raise self.error(f"a source may hold at most {MAX_TOKENS:,} tokens (names, "
                             "numbers and operators)", start, end)
        self.tokens.append(Tok(kind, text, self.pos.span(start, end), start, end, side))

    def run(self) -> list[Tok]:
        for start, end, whole in math_pieces(self.source):
            self.piece(start, end, whole)
            self.add(SEG, "", end, end + 1)
        last = self.tokens[-1]
        self.tokens.append(Tok(EOF, "", last.span, last.start, last.end))
        return self.tokens

    def piece(self, i: int, limit: int, whole: bool) -> None:
        text = self.text
        depth = 0                           # groups open, for line breaks and nesting
        while i < limit:
            ch = text[i]
            if ch == "\n":
                if whole and depth == 0 and self.ends_statement():
                    self.add(BREAK, "\n", i, i + 1)
                i += 1
            elif ch in " \t\r\f\v~":
                i += 1
            elif ch == "%":
                nl = text.find("\n", i, limit)
                i = limit if nl < 0 else nl
            elif ch == "\\":
                i, depth = self.command(i, limit, depth)
            elif _is_digit(ch) or (ch == "." and i + 1 < limit and _is_digit(text[i + 1])):
                i = self.number(i, limit)
            elif ch.isalpha():
                j = i + 1
                while j < limit and (text[j].isalpha() or _is_digit(text[j])):
                    j += 1
                if j - i > MAX_NAME:
                    raise self.error(f"a name may be at most {MAX_NAME} characters long; "
                                     f"this one has {j - i:,}", i, j)
                self.add(NAME, text[i:j], i, j)
                i = j
            elif ch in "{}":
                depth += 1 if ch == "{" else -1
                self.check_depth(depth, i)
                self.add(OP, ch, i, i + 1)
                i += 1
            elif ch in "()[]|":
                depth += 1 if ch in "([" else -1 if ch in ")]" else 0
                self.check_depth(depth, i)
                self.add(DELIM, ch, i, i + 1)
                i += 1
            elif text.startswith(tuple(_TWO_CHAR), i):
                self.add(OP, text[i:i + 2], i, i + 2)
                i += 2
            elif ch in _OP_CHARS:
                self.add(OP, _OP_CHARS[ch], i, i + 1)
                i += 1
            else:
                shown = f"'{ch}'" if ch.isprintable() and not ch.isspace() else \
                    f"U+{ord(ch):04X}"
                raise self.error(f"unexpected character {shown} in LaTeX math", i, i + 1)

    def ends_statement(self) -> bool:
        if not self.tokens:
            return False
        prev = self.tokens[-1]
        if prev.kind in _OPERAND_ENDS or (prev.kind == DELIM and prev.text in ")]|‖⌋⌉"):
            return True
        if prev.kind == OP and prev.text in ("}", "'"):
            return True
        return prev.kind in (CMD, TEXT, END) and prev.text not in _BINARY_CMDS

    def check_depth(self, depth: int, at: int) -> None:
        if depth > MAX_NESTING:
            raise self.error(f"groups and brackets nested more than {MAX_NESTING:,} levels "
                             "deep", at, at + 1)

    def number(self, i: int, limit: int) -> int:
        text = self.text
        start = i
        while i < limit and _is_digit(text[i]):
            i += 1
        if i + 1 < limit and text[i] == "." and _is_digit(text[i + 1]):
            i += 1
            while i < limit and _is_digit(text[i]):
                i += 1
        if i < limit and text[i] in "eE":
            j = i + 1
            if j < limit and text[j] in "+-":
                j += 1
            if j < limit and _is_digit(text[j]):
                i = j
                while i < limit and _is_digit(text[i]):
                    i += 1
        self.add(NUM, text[start:i], start, i)
        return i

    def argument(self, i: int, limit: int, what: str, cmd_start: int) -> tuple[str, int, int]:
        """The ``{...}`` argument after a command: its inside, and where it starts and
        ends (just past the ``}``)."""
        j = _skip_space(self.text, i, limit)
        if j >= limit or self.text[j] != "{":
            raise self.error(f"'\\{what}' needs its argument in braces: \\{what}{{...}}",
                             cmd_start, i)
        close = _group_end(self.text, j, limit)
        if close < 0:
            raise self.error("'{' is never closed", j, j + 1)
        return self.text[j + 1:close - 1], j + 1, close

    def command(self, i: int, limit: int, depth: int) -> tuple[int, int]:
        text = self.text
        end = min(_command_end(text, i), limit)
        word = text[i + 1:end]
        if word == "":
            raise self.error("a lone '\\' ends the math", i, i + 1)
        if word == "\\":
            end = self.row_spacing(end, limit)
            self.add(ROW, "\\\\", i, end)
            return end, depth
        if word in _SPACING:
            return end, depth
        if word in _DROP_WITH_ARG:
            return self.argument(end, limit, word, i)[2], depth
        if word in TEXT_CMDS:
            body, _, close = self.argument(end, limit, word, i)
            self.add(TEXT, body, i, close, side=word)
            return close, depth
        if word in WORD_CMDS:
            j = _skip_space(text, end, limit)
            if j >= limit or text[j] != "{":          # \mathbb R, \mathrm e: one letter
                if j >= limit or not text[j].isalpha():
                    raise self.error(f"'\\{word}' needs its argument in braces", i, end)
                self.add(WORD, text[j], i, j + 1, side=word)
                return j + 1, depth
            body, _, close = self.argument(end, limit, word, i)
            self.add(WORD, body, i, close, side=word)
            return close, depth
        if word in ("begin", "end"):
            env = _env_name(text, end, limit)
            if env is None:
                raise self.error(f"'\\{word}' needs the environment's name: "
                                 f"\\{word}{{name}}", i, end)
            stop = env[1]
            if word == "begin" and env[0] in _ENV_WITH_ARG:
                got = _env_name(text, stop, limit)
                stop = got[1] if got else stop
            depth += 1 if word == "begin" else -1
            self.check_depth(depth, i)
            self.add(BEGIN if word == "begin" else END, env[0], i, stop)
            return stop, depth
        if word in _SIZERS:
            return self.sized(i, end, limit, _SIZERS[word], depth)
        if word in _DELIM_CMDS or word in ("{", "}", "|"):
            canon, side = _DELIMS["\\" + word]
            depth += 1 if canon in "({[" else -1 if canon in ")}]" else 0
            self.check_depth(depth, i)
            self.add(DELIM, canon, i, end, side)
            return end, depth
        if word in ("coloneqq", "coloneq", "triangleq", "eqqcolon"):
            self.add(OP, ":=", i, end)
            return end, depth
        if word == "colon":
            self.add(OP, ":", i, end)
            return end, depth
        self.add(CMD, word, i, end)
        return end, depth

    def row_spacing(self, i: int, limit: int) -> int:
        """``\\\\[2pt]``: the optional spacing after a row end is part of it."""
        j = _skip_space(self.text, i, limit)
        if j < limit and self.text[j] == "[":
            close = self.text.find("]", j, min(limit, j + _LONGEST_ENV))
            if close > 0 and all(c.isalnum() or c in ".- " for c in self.text[j + 1:close]):
                return close + 1
        return i

    def sized(self, i: int, end: int, limit: int, side: str, depth: int) -> tuple[int, int]:
        text = self.text
        j = _skip_space(text, end, limit)
        if j < limit and text[j] == "\\":
            stop = min(_command_end(text, j), limit)
            spelled = text[j:stop]
        else:
            stop = j + 1
            spelled = text[j:stop]
        if spelled not in _DELIMS:
            raise self.error(f"'\\{text[i + 1:end]}' must be followed by a delimiter such "
                             "as ( ) [ ] | \\| \\{ \\}", i, max(stop, end))
        canon = _DELIMS[spelled][0]
        if side == "left" or (side == "open"):
            depth += 1
        elif side in ("right", "close"):
            depth -= 1
        self.check_depth(depth, i)
        self.add(DELIM, canon, i, stop, side)
        return stop, depth


# commands that continue a line (an operator at the end of a line)
_BINARY_CMDS = frozenset({"cdot", "times", "odot", "div", "ast", "le", "leq", "leqslant",
                          "ge", "geq", "geqslant", "ne", "neq", "lt", "gt", "land", "lor",
                          "wedge", "vee", "lnot", "neg", "frac", "dfrac", "tfrac", "cfrac",
                          "sqrt", "sin", "cos", "tan", "exp", "ln", "log"})


def tokenize(source: Source) -> list[Tok]:
    """The tokens of every piece of math in a LaTeX text, each piece ending with SEG,
    the whole with EOF."""
    return _Lexer(source).run()
