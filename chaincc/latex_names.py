"""Names in LaTeX math, for the LaTeX reader (``latex.py``): a letter or a run of
letters, a Greek letter, ``\\mathrm{…}`` and ``\\text{…}``, an accent, each with a
subscript and a ``^{(…)}`` label; and the token helpers the reader's parts share. The
spellings are in docs/language.md, "LaTeX"."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from . import syntax as st
from .builtins import BUILTINS
from .diagnostics import ChainccError, SourceWarning, fail
from .latex_lexer import (
    BEGIN,
    BREAK,
    CMD,
    DELIM,
    END,
    EOF,
    NAME,
    NUM,
    OP,
    ROW,
    ROW_ENVS,
    SEG,
    TEXT,
    WORD,
    Tok,
    tokenize,
)
from .lexer import MAX_NAME
from .source import Source, Span


class NotComputable(ChainccError):
    """LaTeX that states math chaincc cannot compute: derivative notation (``f'``,
    ``\\partial``), limits, integrals, sums over an index, elisions (``\\dots``), and
    functions that are applied but never defined."""


GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "vartheta": "θ", "iota": "ι", "kappa": "κ",
    "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "varpi": "π", "rho": "ρ",
    "varrho": "ρ", "sigma": "σ", "varsigma": "ς", "tau": "τ", "upsilon": "υ", "phi": "φ",
    "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ",
    "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ", "Upsilon": "Υ",
    "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω", "ell": "ℓ"}
# accents make a new name, the letter with the combining mark (\hat{y} is ŷ, the name the
# text syntax writes ŷ); over a longer name, the accent's word (\hat{W_1} is W_1_hat)
ACCENTS = {"hat": ("\u0302", "hat"), "widehat": ("\u0302", "hat"),
           "bar": ("\u0304", "bar"), "overline": ("\u0304", "bar"),
           "tilde": ("\u0303", "tilde"), "widetilde": ("\u0303", "tilde"),
           "dot": ("\u0307", "dot"), "ddot": ("\u0308", "ddot"),
           "check": ("\u030c", "check"), "breve": ("\u0306", "breve"),
           "acute": ("\u0301", "acute"), "grave": ("\u0300", "grave"),
           "mathring": ("\u030a", "ring")}
# typography only: \vec{x} is the name x
TYPOGRAPHIC = frozenset({"vec", "overrightarrow", "underline", "boldsymbol", "bm"})
# words of prose that end a formula (or, in cases, introduce a condition)
_CONNECTIVES = frozenset({"if", "for", "when", "where", "with", "and", "or", "not",
                          "otherwise", "else", "while", "all", "s.t.", "such", "then"})
_NAME_DEPTH = 8        # names nest (subscripts of subscripts, accents) at most this deep


@dataclass(frozen=True)
class Subscript:
    """Where a name's last subscript is written, so that inside a sum it can be read again
    as an index (``x_{i+1}``, ``A_{i,j}``)."""

    base: Span                   # the name before the subscript
    span: Span                   # the subscript, its braces included
    first: int                   # braced: the index of its first token, else -1
    stop: int                    # braced: the index of its closing brace, else -1
    label: str                   # as spelt in the name ("i", "{i+1}", "ij")


@dataclass(frozen=True)
class NameInfo:
    id: str
    span: Span
    base: str                    # the name before any subscript
    subs: tuple[str, ...] = ()   # names in the subscript (a function's family parameters)
    index: bool = False          # the subscript is a number or numbers (x_{1}, x_{0,1})
    plain: bool = True           # no subscript, accent or label
    run: bool = False            # a run of letters (xy), which lowering may split
    sub: Subscript | None = None  # the subscript that ends the name, if one does


class NameReader:
    """The tokens of a LaTeX text, a position in them, and reading names there."""

    def __init__(self, source: Source) -> None:
        self.source = source
        toks = tokenize(source)
        self.toks = toks + [toks[-1]] * 4      # room to look ahead past the end
        self.pos = 0
        self.bound: set[str] = set()          # earlier bindings and functions
        self.scope: dict[str, tuple[int, ...]] = {}   # parameters in scope, with shapes
        self.runs: dict[int, st.Name] = {}    # Name nodes read from runs of letters
        self.warnings: list[SourceWarning] = []

    def warn(self, message: str, span: Span) -> None:
        self.warnings.append(SourceWarning(message, span, self.source))

    def text_of(self, span: Span) -> str:
        """The LaTeX a span covers (on one line), for messages; "…" for a longer one."""
        if span.end_line != span.line:
            return "…"
        return self.source.line_text(span.line)[span.col - 1:span.end_col - 1].strip()

    def error(self, message: str, span: Span) -> ChainccError:
        return fail(message, span, self.source)

    def not_computable(self, message: str, span: Span) -> NotComputable:
        return NotComputable(message, span, self.source)

    def peek(self, offset: int = 0) -> Tok:
        i = min(self.pos + offset, len(self.toks) - 1)
        return self.toks[i]

    def advance(self) -> Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def known(self, name: str) -> bool:
        return name in self.scope or name in self.bound

    def split_first(self, i: int) -> tuple[Tok, int]:
        """The first character of the NUM or NAME token at ``i`` as a token of its own
        (TeX reads one character as a script or \\frac argument), and the index of what
        follows it: the rest of the token stays in its place."""
        tok = self.toks[i]
        s = tok.span
        first = Tok(tok.kind, tok.text[0], Span(s.file, s.line, s.col, s.line, s.col + 1),
                    tok.start, tok.start + 1)
        if len(tok.text) == 1:
            return first, i + 1
        rest = tok.text[1:]
        kind = NUM if rest[0].isdigit() or rest[0] == "." else NAME
        self.toks[i] = Tok(kind, rest, Span(s.file, s.line, s.col + 1, s.end_line,
                                            s.end_col), tok.start + 1, tok.end)
        return first, i

    def row_end(self, tok: Tok) -> bool:
        return tok.kind in (ROW, BREAK, SEG, EOF) or (
            tok.kind in (BEGIN, END) and tok.text in ROW_ENVS)

    # ------------------------------------------------------------------ names

    def text_name(self, tok: Tok) -> str | None:
        """A TEXT token that is a name (\\text{loss}), not prose."""
        word = tok.text.strip().replace("\\_", "_")
        if word and len(word) <= MAX_NAME and word[0].isalpha() and \
                all(c.isalnum() or c == "_" for c in word) and word not in _CONNECTIVES:
            return word
        return None

    def word(self, tok: Tok) -> str:
        """The name inside \\mathrm{…} and the like: letters, digits, \\_ and Greek."""
        text = tok.text
        out = []
        i = 0
        while i < len(text):
            ch = text[i]
            if ch == "\\":
                j = i + 1
                while j < len(text) and text[j].isascii() and text[j].isalpha():
                    j += 1
                cmd = text[i + 1:j]
                if j == i + 1 and text[j:j + 1] == "_":
                    out.append("_")
                    i += 2
                    continue
                if cmd in GREEK:
                    out.append(GREEK[cmd])
                    i = j
                    continue
                if cmd in (",", ";", "") and j == i + 1:
                    i += 2
                    continue
                raise self.error(f"'\\{tok.side}{{…}}' must hold a name (letters, digits, "
                                 f"\\_ and Greek letters); found '\\{cmd or text[j:j + 1]}'",
                                 tok.span)
            if ch.isalnum() or ch == "_":
                out.append(ch)
            elif not ch.isspace():
                raise self.error(f"'\\{tok.side}{{…}}' must hold a name (letters, digits, "
                                 f"\\_ and Greek letters); found '{ch}'", tok.span)
            i += 1
        name = "".join(out)
        if not name or not name[0].isalpha():
            raise self.error(f"'\\{tok.side}{{…}}' must hold a name", tok.span)
        if len(name) > MAX_NAME:
            raise self.error(f"a name may be at most {MAX_NAME} characters long", tok.span)
        return name

    def is_function_word(self, tok: Tok) -> str | None:
        """The built-in a WORD or TEXT token names (\\operatorname{relu}), if any."""
        if tok.kind == WORD and tok.side in ("mathrm", "operatorname", "operatorname*",
                                             "mathit", "mathsf", "mathnormal"):
            word = tok.text.strip()
        elif tok.kind == TEXT:
            word = tok.text.strip()
        else:
            return None
        if word in BUILTINS:
            return word
        if word in ("arcsin", "arccos", "arctan", "atan2"):
            return {"arcsin": "asin", "arccos": "acos", "arctan": "atan"}.get(word, word)
        return None

    def read_name(self, i: int, depth: int = 0) -> tuple[NameInfo, int] | None:
        """A name starting at token ``i`` (a letter or run, a Greek letter, \\mathrm{…},
        \\text{…}, an accent), with its subscript and a ``^{(…)}`` label; None when the
        tokens do not start a name. Returns the name and the index after it."""
        if depth > _NAME_DEPTH:
            raise self.error(f"a name nested more than {_NAME_DEPTH} deep (subscripts "
                             "and accents)", self.toks[i].span)
        tok = self.toks[i]
        kind, text = tok.kind, tok.text
        run = False
        if kind == NAME:
            nxt = self.toks[i + 1]
            if len(text) > 1 and nxt.kind == OP and nxt.text in ("_", "^"):
                return None
            base, span, i = text, tok.span, i + 1
            run = len(text) > 1
        elif kind == CMD and text in GREEK:
            base, span, i = GREEK[text], tok.span, i + 1
        elif kind == WORD and tok.side not in ("mathbb",):
            if self.is_function_word(tok) and tok.side.startswith("operatorname"):
                return None
            base, span, i = self.word(tok), tok.span, i + 1
        elif kind == TEXT and self.text_name(tok):
            base, span, i = self.text_name(tok) or "", tok.span, i + 1
        elif kind == OP and text == "{":             # {\beta}, {x_{1}}: a name in braces
            got = self.read_name(i + 1, depth + 1)
            if got is None or not (self.toks[got[1]].kind == OP
                                   and self.toks[got[1]].text == "}"):
                return None
            inner, i = got[0], got[1] + 1
            name = NameInfo(inner.id, tok.span.to(self.toks[i - 1].span), inner.base,
                            inner.subs, inner.index, inner.plain, sub=inner.sub)
            return self.name_suffixes(name, i, depth)
        elif kind == CMD and (text in ACCENTS or text in TYPOGRAPHIC):
            arg = self.toks[i + 1]
            if arg.kind == OP and arg.text == "{":
                got = self.read_name(i + 2, depth + 1)
                if got is None or not (self.toks[got[1]].kind == OP
                                       and self.toks[got[1]].text == "}"):
                    raise self.error(f"'\\{text}{{…}}' must hold a name", tok.span)
                inner, i = got[0], got[1] + 1
            else:
                if arg.kind == NAME and len(arg.text) > 1:
                    self.split_first(i + 1)       # \hat xy is \hat{x} y
                got = self.read_name(i + 1, depth + 1)
                if got is None:
                    raise self.error(f"'\\{text}' must be followed by a name", tok.span)
                inner, i = got
            span = tok.span.to(self.toks[i - 1].span)
            if text in TYPOGRAPHIC:
                base = inner.id
            elif inner.plain and len(unicodedata.normalize("NFD", inner.id)[:1]) == 1 and \
                    len(unicodedata.normalize("NFC", inner.id)) == 1:
                base = unicodedata.normalize("NFC", inner.id + ACCENTS[text][0])
            else:
                base = f"{inner.id}_{ACCENTS[text][1]}"
            name = NameInfo(base, span, base, plain=text in TYPOGRAPHIC and inner.plain)
            return self.name_suffixes(name, i, depth)
        else:
            return None
        return self.name_suffixes(NameInfo(base, span, base, run=run), i, depth)

    def name_suffixes(self, name: NameInfo, i: int, depth: int) -> tuple[NameInfo, int]:
        """A subscript and a parenthesised superscript label after a name."""
        toks = self.toks
        tok = toks[i]
        if tok.kind == OP and tok.text == "_":
            label, subs, index, i, where = self.subscript(i + 1, depth)
            if len(label) > MAX_NAME:
                raise self.error(f"a name may be at most {MAX_NAME} characters long",
                                 name.span)
            end = toks[i - 1].span
            sub = Subscript(name.span, where[0], where[1], where[2], label)
            name = NameInfo(f"{name.id}_{label}", name.span.to(end), name.id, subs, index,
                            plain=False, sub=sub)
            tok = toks[i]
        if tok.kind == OP and tok.text == "^" and toks[i + 1].kind == OP and \
                toks[i + 1].text == "{" and toks[i + 2].kind == DELIM and \
                toks[i + 2].text == "(" and toks[i + 2].side == "":
            # W^{(1)}: a label (a layer, an example), never a power
            close = i + 3
            parts = []
            while close < len(toks) and not (toks[close].kind == DELIM
                                             and toks[close].text == ")"):
                parts.append(self.label_part(toks[close]))
                close += 1
            if not (toks[close + 1].kind == OP and toks[close + 1].text == "}"):
                raise self.error("a superscript label is written ^{(…)}", tok.span)
            label = "".join(parts)
            end = toks[close + 1].span
            name = NameInfo(f"{name.id}^{{({label})}}", name.span.to(end), name.base,
                            name.subs, name.index, plain=False)
            i = close + 2
        return name, i

    def label_part(self, tok: Tok) -> str:
        if tok.kind in (NAME, NUM):
            return tok.text
        if tok.kind == CMD and tok.text in GREEK:
            return GREEK[tok.text]
        if tok.kind == OP and tok.text in ("+", "-", ","):
            return tok.text
        raise self.error(f"a label in a name holds names, numbers, '+', '-' and ','; found "
                         f"{describe(tok)}", tok.span)

    def subscript(self, i: int, depth: int) -> tuple[str, tuple[str, ...], bool, int,
                                                     tuple[Span, int, int]]:
        """The subscript after '_' at token ``i``: (its spelling in the name, the names it
        holds, whether it is a number or numbers, the index after it, and where it is
        written: its span and, when braced, the indices of its first token and of its
        closing brace, else -1 and -1)."""
        toks = self.toks
        tok = toks[i]
        if tok.kind == OP and tok.text == "{":
            got = self.read_name(i + 1, depth + 1)
            if got is not None and toks[got[1]].kind == OP and toks[got[1]].text == "}":
                inner = got[0]
                where = (tok.span.to(toks[got[1]].span), i + 1, got[1])
                return inner.id, (inner.id,) if not inner.run else tuple(inner.id), \
                    False, got[1] + 1, where
            j = i + 1
            parts: list[str] = []
            names: list[str] = []
            while not (toks[j].kind == OP and toks[j].text == "}"):
                if toks[j].kind in (EOF, SEG, ROW):
                    raise self.error("'{' is never closed", tok.span)
                got = self.read_name(j, depth + 1) if toks[j].kind != NUM else None
                if got is not None:
                    parts.append(got[0].id)
                    names.append(got[0].id)
                    j = got[1]
                    continue
                parts.append(self.label_part(toks[j]))
                j += 1
            if not parts:
                raise self.error("empty subscript", tok.span)
            where = (tok.span.to(toks[j].span), i + 1, j)
            numbers = all(p.isdigit() or p == "," for p in parts)
            if len(parts) == 1 and parts[0].isdigit():
                return parts[0], (), True, j + 1, where
            return "{" + "".join(parts) + "}", tuple(names), numbers, j + 1, where
        if tok.kind in (NUM, NAME):
            first, nxt = self.split_first(i)
            if first.kind == NUM and not first.text.isdigit():
                raise self.error("a subscript is a name or a number", first.span)
            return first.text, (first.text,) if first.kind == NAME else (), \
                first.kind == NUM, nxt, (first.span, -1, -1)
        if tok.kind == CMD and tok.text in GREEK:
            return GREEK[tok.text], (GREEK[tok.text],), False, i + 1, (tok.span, -1, -1)
        if tok.kind == WORD:
            word = self.word(tok)
            return word, (word,), False, i + 1, (tok.span, -1, -1)
        raise self.error(f"expected a subscript after '_', found {describe(tok)}", tok.span)


def describe(tok: Tok) -> str:
    if tok.kind in (EOF, SEG):
        return "the end of the formula"
    if tok.kind == BREAK:
        return "the end of the line"
    if tok.kind == ROW:
        return "'\\\\' (the end of the row)"
    if tok.kind == CMD:
        return f"'\\{tok.text}'"
    if tok.kind == TEXT:
        return "prose (\\text{…})"
    if tok.kind in (BEGIN, END):
        return f"'\\{tok.kind.lower()}{{{tok.text}}}'"
    if tok.kind == DELIM:
        sized = {"left": "\\left", "right": "\\right"}.get(tok.side, "")
        return f"'{sized}{tok.text}'"
    if tok.kind == WORD:
        return f"'\\{tok.side}{{{tok.text}}}'"
    return f"'{tok.text}'"
