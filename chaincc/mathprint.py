"""Formulas as people write them: one-line Unicode (``x² + xy``, ``∂f/∂x``), plain ASCII
(``x^2 + x*y``, ``df/dx``) and LaTeX, built on SymPy's own printers.

SymPy's ``pretty`` stacks fractions over several lines, which breaks a derivation that is
read line by line, so the Unicode form is a one-line StrPrinter with superscripts, ``√`` and
juxtaposition (``2x``, ``xy``, ``y³(2x + y)``) where it cannot be misread.
"""

from __future__ import annotations

import unicodedata

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.str import StrPrinter

from .functions import Maximum, Minimum, Where
from .ops import OPS

_SUPER = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
# spellings from the registry (ops.py): the language name, the Unicode name where it has
# one (σ; ∛ and |x| are laid out by the printers), and LaTeX operator names where SymPy's
# LaTeX printer has none
_NAMES = {op.cls: op.name for op in OPS} | {Where: "where"}
_UNICODE_NAMES = {op.cls: op.unicode for op in OPS if op.unicode}
_LATEX_OPERATORS = {op.cls: op.latex for op in OPS if op.latex}
_REL = {"==": "==", "!=": "!=", ">=": ">=", "<=": "<=", ">": ">", "<": "<"}
_UNICODE_REL = {"!=": "≠", ">=": "≥", "<=": "≤"}


def number(v: float) -> str:
    """A float as a short, stable decimal: 6 significant digits, no trailing ``.0``."""
    if v != v:
        return "nan"
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    return f"{v:.6g}"


def exact(v: float) -> str:
    """A float in full (shortest round-trip) precision, as ``chaincc eval`` prints it."""
    text = repr(float(v))
    return text[:-2] if text.endswith(".0") else text


_ACCENTS = {"\u0302": "hat", "\u0304": "bar", "\u0303": "tilde", "\u0307": "dot",
            "\u0308": "ddot", "\u030c": "check", "\u0306": "breve", "\u0301": "acute",
            "\u0300": "grave", "\u030a": "mathring"}


def _greek(ch: str) -> str | None:
    """``β`` → ``beta``, ``Δ`` → ``Delta``; None for anything else."""
    parts = unicodedata.name(ch, "").split()
    if len(parts) == 4 and parts[0] == "GREEK" and parts[2] == "LETTER":
        word = parts[3].lower()
        return word.capitalize() if parts[1] == "CAPITAL" else word
    return None


def _accented(ch: str) -> tuple[str, str] | None:
    """``ŷ`` (precomposed, or y and U+0302) → (``y``, ``hat``)."""
    nfd = unicodedata.normalize("NFD", ch)
    if len(nfd) == 2 and nfd[1] in _ACCENTS:
        return nfd[0], _ACCENTS[nfd[1]]
    return None


def ascii_name(name: str) -> str:
    """``β`` → ``beta``, ``ŷ`` → ``y_hat``: names spelt out for ASCII output."""
    out = []
    for ch in name:
        if ch in _ACCENTS and out:          # a combining accent after its letter: h̄
            out.append(f"_{_ACCENTS[ch]}")
            continue
        acc = _accented(ch) if ord(ch) >= 128 else None
        out.append(ch if ord(ch) < 128 else _greek(ch) or
                   (f"{ascii_name(acc[0])}_{acc[1]}" if acc else ch))
    return "".join(out)


# Greek letters with a LaTeX command (Unicode calls λ "lamda"); the others (capital alpha,
# omicron, ...) look like Latin letters and are written as those
_TEX_GREEK = frozenset(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma "
    "tau upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi "
    "Omega".split())
_GREEK_AS_LATIN = {"Alpha": "A", "Beta": "B", "Epsilon": "E", "Zeta": "Z", "Eta": "H",
                   "Iota": "I", "Kappa": "K", "Mu": "M", "Nu": "N", "Omicron": "O",
                   "omicron": "o", "Rho": "P", "Tau": "T", "Chi": "X"}


def _tex_greek(ch: str) -> str | None:
    """``β`` → ``\\beta``, ``λ`` → ``\\lambda``, ``Α`` → ``\\mathrm{A}``; None for a
    character that is not a Greek letter."""
    word = _greek(ch)
    if word is None:
        return None
    word = {"lamda": "lambda", "Lamda": "Lambda"}.get(word, word)
    if word in _TEX_GREEK:
        return f"\\{word}"
    return f"\\mathrm{{{_GREEK_AS_LATIN[word]}}}" if word in _GREEK_AS_LATIN else None


def _latex_letter(ch: str) -> str | None:
    """One letter as LaTeX math (Greek braced, so that ``\\sigma`` is never read as the
    function σ); None for a letter LaTeX math has no spelling for."""
    if ch.isascii():
        return ch if ch.isalpha() else None
    acc = _accented(ch)
    if acc:
        inner = _latex_letter(acc[0])
        return f"\\{acc[1]}{{{inner}}}" if inner else None
    greek = _tex_greek(ch)
    return f"{{{greek}}}" if greek else None


def _word(name: str) -> str:
    """A multi-letter name set upright as one unit: ``\\mathrm{loss}``,
    ``\\mathrm{W\\mu}``; ``\\text{…}`` for names with letters math mode cannot spell."""
    out = []
    for i, ch in enumerate(name):
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif ch == "_":
            out.append("\\_")
        else:
            greek = _tex_greek(ch) if not ch.isascii() else None
            if greek is None or greek.startswith("\\mathrm"):
                return "\\text{" + name.replace("_", "\\_") + "}"
            nxt = name[i + 1:i + 2]
            out.append(greek + (" " if nxt.isascii() and nxt.isalpha() else ""))
    return "\\mathrm{" + "".join(out) + "}"


def _tex_label(label: str) -> str:
    """The inside of a subscript or superscript label read from LaTeX (``t-1``)."""
    return "".join(_tex_greek(ch) + " " if _tex_greek(ch) else ch for ch in label)


def latex_name(name: str) -> str:
    """A symbol name in LaTeX, as the LaTeX reader (latex.py) reads it back: ``β`` →
    ``{\\beta}``, ``h1`` and ``h_1`` → ``h_{1}``, ``W1[0,1]`` → ``W_{1}[0,1]``, ``ŷ`` →
    ``\\hat{y}``, and a word such as ``loss`` upright (``\\mathrm{loss}``)."""
    base, bracket, index = name.partition("[")
    if bracket and base:              # an array element, indexed as in the text syntax
        return f"{latex_name(base)}[{index.rstrip(']')}]"
    if len(name) > 1 and name.endswith("*"):     # a fixed point's solution: z*
        return f"{_atom(name[:-1])}^{{*}}"
    label = name.find("^{(")
    if label > 0 and name.endswith(")}"):
        return f"{_atom(name[:label])}^{{({_tex_label(name[label + 3:-2])})}}"
    stem, underscore, sub = name.partition("_")
    if underscore and stem and sub and not sub.startswith("_") and not sub.endswith("_"):
        if sub.startswith("{") and sub.endswith("}"):
            return f"{_atom(stem)}_{{{_tex_label(sub[1:-1])}}}"
        return f"{_atom(stem)}_{{{latex_name(sub)}}}"
    letters = name.rstrip("0123456789")
    digits = name[len(letters):]
    if not letters or "_" in letters:
        return _word(name) if letters else digits
    tail = f"_{{{digits}}}" if digits else ""
    if len(letters) == 1 or _accented(letters):       # x, or x̄ (x and U+0304)
        letter = _latex_letter(letters)
        return (letter if letter else _word(letters)) + tail
    return _word(letters) + tail


def _atom(name: str) -> str:
    """``latex_name`` in braces where it already carries a script, so that one more can
    follow: ``{x_{1}}_{t}``."""
    text = latex_name(name)
    return f"{{{text}}}" if "_" in text.replace("\\_", "") or "^" in text else text


TIDY_OPS = 40          # largest formula handed to factor/cancel


def _functions(e: sp.Expr) -> set[type]:
    return {type(f) for f in e.atoms(sp.Function)}


def tidy(e: sp.Expr) -> sp.Expr:
    """e, or factor(e) or cancel(e) when clearly shorter (by a fifth), for display only.

    Only these two: they are polynomial algorithms, fast and predictable, and they find
    the textbook forms (``xy²(3x + 4y)``, ``x1·(σ(z) - y)``). ``simplify`` would take
    seconds on trigonometric formulas and rewrites ``1 - tanh²`` as ``1/cosh²``.
    """
    if int(sp.count_ops(e)) > TIDY_OPS or e.atoms(Where, Maximum, Minimum) or any(
            n.is_Float or abs(n.p) > 10 ** 12 or n.q > 10 ** 12 for n in e.atoms(sp.Number)
            if not n.is_infinite and n is not sp.nan):
        return e        # factor tests huge coefficients for primality: seconds each
    best, best_len = e, len(str(e))
    funcs = _functions(e)
    for f in (sp.factor, sp.cancel):
        try:
            c = f(e)
        except Exception:  # noqa: BLE001 - a display nicety must never fail a run
            continue
        n = len(str(c))
        if n < 0.8 * len(str(e)) and n < best_len and _functions(c) <= funcs:
            best, best_len = c, n
    return best


def _paper_order(terms) -> list:
    """SymPy puts ``-x²`` before ``y``; on paper ``y - x²`` comes first."""
    terms = list(terms)
    for i, t in enumerate(terms):
        if not t.could_extract_minus_sign():
            return [terms[i]] + terms[:i] + terms[i + 1:]
    return terms


class AsciiPrinter(StrPrinter):
    """``x^2 + x*y``, ``sqrt(x)``, ``sigmoid(z)``: plain ASCII, one line."""

    printmethod = "_chaincc_ascii"
    unicode = False

    def __init__(self, names: dict[sp.Symbol, str] | None = None) -> None:
        super().__init__({"order": None})
        self.names = names or {}

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        name = self.names.get(expr, expr.name)
        return name if self.unicode else ascii_name(name)

    _print_Dummy = _print_Symbol

    def _print_Float(self, expr: sp.Float) -> str:
        return number(float(expr))

    def _print_Exp1(self, expr) -> str:
        return "e"

    def _print_NegativeZero(self, expr) -> str:
        return "-0"

    def _print_Pi(self, expr) -> str:
        return "π" if self.unicode else "pi"

    def _print_Infinity(self, expr) -> str:
        return "∞" if self.unicode else "inf"

    def _print_Function(self, expr: sp.Function) -> str:
        name = _NAMES.get(type(expr), type(expr).__name__)
        if self.unicode:
            name = _UNICODE_NAMES.get(type(expr), name)
        return f"{name}({', '.join(self._print(a) for a in expr.args)})"

    def parenthesize(self, item, level, strict=False) -> str:
        # a sum over an index takes everything after it: bracketed inside a product
        if isinstance(item, sp.Sum) and level >= PRECEDENCE["Mul"]:
            return f"({self._print(item)})"
        return super().parenthesize(item, level, strict)

    def _print_Sum(self, expr: sp.Sum) -> str:
        """``sum(body for i = a..b)`` (Unicode: ``Σ_{i=a}^{b} body``), as the language
        writes a sum over an index."""
        body = expr.function
        for i, lo, hi in expr.limits:                   # the first limit is the innermost
            text = self._print(body) if not isinstance(body, str) else body
            if self.unicode:
                inner = f"({text})" if isinstance(body, sp.Add) else text
                body = f"Σ_{{{self._print(i)}={self._print(lo)}}}^{{{self._print(hi)}}} {inner}"
            else:
                body = f"sum({text} for {self._print(i)} = {self._print(lo)}..{self._print(hi)})"
        return body

    def _print_Relational(self, expr) -> str:
        op = _REL.get(expr.rel_op, expr.rel_op)
        if self.unicode:
            op = _UNICODE_REL.get(op, op)
        prec = precedence(expr)
        return (f"{self.parenthesize(expr.lhs, prec)} {op} "
                f"{self.parenthesize(expr.rhs, prec)}")

    def _print_And(self, expr) -> str:
        return " and ".join(self.parenthesize(a, PRECEDENCE["And"]) for a in expr.args)

    def _print_Or(self, expr) -> str:
        return " or ".join(self.parenthesize(a, PRECEDENCE["Or"]) for a in expr.args)

    def _print_Not(self, expr) -> str:
        return f"not ({self._print(expr.args[0])})"

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        b, e = expr.args
        if e.is_Number and e < 0:
            inverse = b if e == -1 else sp.Pow(b, -e, evaluate=False)
            return "1/" + self.parenthesize(inverse, PRECEDENCE["Mul"], strict=True)
        return self._power(b, e)

    def _power(self, b: sp.Expr, e: sp.Expr) -> str:
        return StrPrinter._print_Pow(self, sp.Pow(b, e, evaluate=False)).replace("**", "^")

    # -- products: numerator/denominator, with the separator chosen per pair ------------
    def _print_Mul(self, expr: sp.Mul) -> str:
        coeff, rest = expr.as_coeff_Mul()
        sign = ""
        if coeff.is_Number and coeff is not sp.nan and coeff < 0:
            coeff, sign = -coeff, "-"
        factors = list(rest.as_ordered_factors()) if isinstance(rest, sp.Mul) else [rest]
        if coeff != 1:
            factors.insert(0, coeff)
        num: list[sp.Expr] = []
        den: list[sp.Expr] = []
        for f in factors:
            if f.is_Rational and not f.is_Integer:
                if f.p != 1:
                    num.append(sp.Integer(f.p))
                den.append(sp.Integer(f.q))
            elif isinstance(f, sp.Pow) and f.exp.is_Number and f.exp < 0:
                den.append(f.base if f.exp == -1 else sp.Pow(f.base, -f.exp, evaluate=False))
            else:
                num.append(f)
        text = self._join(num) if num else "1"
        if den:
            d = self._join(den)
            text += "/" + (d if len(den) == 1 else f"({d})")
        return sign + text

    def _as_ordered_terms(self, expr, order=None):
        return _paper_order(super()._as_ordered_terms(expr, order=order))

    def _join(self, factors: list[sp.Expr]) -> str:
        prec = PRECEDENCE["Mul"]
        parts = [self.parenthesize(f, prec, strict=False) for f in factors]
        out = parts[0]
        for i in range(1, len(parts)):
            out += self._separator(factors[i - 1], factors[i]) + parts[i]
        return out

    def _separator(self, a: sp.Expr, b: sp.Expr) -> str:
        return "*"


class UnicodePrinter(AsciiPrinter):
    """``x² + xy``, ``√g``, ``σ(βx)``, ``u·v``: how a derivation is written on paper."""

    printmethod = "_chaincc_unicode"
    unicode = True

    def _print_Abs(self, expr: sp.Abs) -> str:
        return f"|{self._print(expr.args[0])}|"

    def _print_Cbrt(self, expr) -> str:
        return "∛" + self._radicand(expr.args[0])

    def _radicand(self, base: sp.Expr) -> str:
        text = self._print(base)
        simple = (base.is_Atom and not (base.is_Number and base < 0)) or isinstance(
            base, sp.Function)
        return text if simple else f"({text})"

    def _power(self, b: sp.Expr, e: sp.Expr) -> str:
        if e == sp.Rational(1, 2):
            return "√" + self._radicand(b)
        base = self.parenthesize(b, PRECEDENCE["Pow"], strict=True)
        if b.is_Number and b < 0:
            base = f"({base})"
        if e.is_Integer:
            return base + str(e).translate(_SUPER)
        return base + "^" + self.parenthesize(e, PRECEDENCE["Pow"], strict=True)

    def _separator(self, a: sp.Expr, b: sp.Expr) -> str:
        if a.is_Number and not b.is_Number:
            return ""
        return "" if self._tight(a) and self._tight(b) else "·"

    def _tight(self, e: sp.Expr) -> bool:
        """Factors that can be written side by side without a dot and not be misread."""
        if e.is_Symbol:
            return len(self._print_Symbol(e)) == 1
        if isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp > 0:
            return self._tight(e.base)
        return isinstance(e, sp.Add)


class TexPrinter(LatexPrinter):
    """SymPy's LaTeX with chaincc's functions: ``\\sigma``, ``\\operatorname{relu}``...,
    written so that chaincc's LaTeX reader reads it back to the same function: constants
    in full (``1.5 \\cdot 10^{-7}``), names as ``latex_name`` spells them, and ``e^{x}``
    and ``\\sigma(x)`` only where no name ``e`` or ``σ`` (in ``taken``) could be meant."""

    printmethod = "_chaincc_latex"

    def __init__(self, names: dict[sp.Symbol, str] | None = None,
                 taken: frozenset[str] = frozenset()) -> None:
        super().__init__({"symbol_names": {}})
        self.names = names or {}
        self.taken = taken

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        return self.names.get(expr) or latex_name(expr.name)

    _print_Dummy = _print_Symbol

    def _print_Float(self, expr: sp.Float) -> str:
        v = float(expr)
        if v != v:
            return "\\mathrm{NaN}"
        if v in (float("inf"), float("-inf")):
            return "\\infty" if v > 0 else "-\\infty"
        text = exact(v)
        mantissa, e, power = text.partition("e")
        return f"{mantissa} \\cdot 10^{{{int(power)}}}" if e else text

    def _print_Pow(self, expr: sp.Pow, exp: str | None = None) -> str:
        b, e = expr.args
        if e.is_Rational and e.p == 1 and e.q > 2:       # a root that is not cbrt
            return f"{self.parenthesize(b, PRECEDENCE['Pow'])}^{{\\frac{{1}}{{{e.q}}}}}"
        return super()._print_Pow(expr)

    def _print_ExpBase(self, expr, exp: str | None = None) -> str:
        if "e" not in self.taken:
            return super()._print_ExpBase(expr, exp)
        text = f"\\exp\\left({self._print(expr.args[0])}\\right)"
        return f"{text}^{{{exp}}}" if exp else text

    def _as_ordered_terms(self, expr, order=None):
        return _paper_order(super()._as_ordered_terms(expr, order=order))

    def _print_Pi(self, expr) -> str:
        return "\\pi"

    def _print_NegativeZero(self, expr) -> str:
        return "-0"

    def _operator(self, name: str, expr: sp.Function) -> str:
        args = ", ".join(self._print(a) for a in expr.args)
        return f"\\operatorname{{{name}}}\\left({args}\\right)"

    def _print_Function(self, expr: sp.Function, exp: str | None = None) -> str:
        lang = _NAMES.get(type(expr))
        args = ", ".join(self._print(a) for a in expr.args)
        if lang in ("log2", "log10"):
            text = f"\\log_{{{lang[3:]}}}\\left({args}\\right)"
        elif lang == "atan2":
            text = f"\\operatorname{{atan2}}\\left({args}\\right)"
        else:
            name = _LATEX_OPERATORS.get(type(expr))
            if name is None:
                return super()._print_Function(expr, exp)
            text = self._operator(name, expr)
        return f"{text}^{{{exp}}}" if exp else text

    def _print_Sigmoid(self, expr, exp: str | None = None) -> str:
        name = "\\operatorname{sigmoid}" if "σ" in self.taken else "\\sigma"
        text = f"{name}\\left({self._print(expr.args[0])}\\right)"
        return f"{text}^{{{exp}}}" if exp else text

    def _print_Cbrt(self, expr, exp: str | None = None) -> str:
        text = f"\\sqrt[3]{{{self._print(expr.args[0])}}}"
        return f"\\left({text}\\right)^{{{exp}}}" if exp else text

    def _print_Maximum(self, expr, exp: str | None = None) -> str:
        text = f"\\max\\left({', '.join(self._print(a) for a in expr.args)}\\right)"
        return f"{text}^{{{exp}}}" if exp else text

    def _print_Minimum(self, expr, exp: str | None = None) -> str:
        text = f"\\min\\left({', '.join(self._print(a) for a in expr.args)}\\right)"
        return f"{text}^{{{exp}}}" if exp else text

    def _print_Where(self, expr, exp: str | None = None) -> str:
        c, a, b = (self._print(x) for x in expr.args)
        text = (f"\\begin{{cases}} {a} & \\text{{if }} {c} \\\\ {b} & \\text{{otherwise}}"
                f" \\end{{cases}}")
        return f"\\left({text}\\right)^{{{exp}}}" if exp else text


def printer(fmt: str, names: dict[sp.Symbol, str] | None = None,
            taken: frozenset[str] = frozenset()):
    """The printer for one output format: ``unicode``, ``ascii`` or ``latex``; ``taken``
    are the names in the formulas (LaTeX avoids notation they would make ambiguous)."""
    if fmt == "unicode":
        return UnicodePrinter(names)
    if fmt == "ascii":
        return AsciiPrinter(names)
    if fmt == "latex":
        return TexPrinter(names, taken)
    raise ValueError(f"unknown format '{fmt}'")
