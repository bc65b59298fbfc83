"""Hints in diagnostics: the closest known name for an unknown one, and the chaincc form
of input written in Python (or C) style.

Every function here reads only the source text (a line, or the names in scope) and
returns the text of a message, or a :class:`Hint` with the columns its caret covers; the
lexer, the parser and lowering raise the error. Each hint is given only where the
intent is clear, so an input that matches none keeps its plain message. Every scan is
linear in the length of one line, and a piece of source quoted in a hint is at most
``QUOTED`` characters long.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Longest piece of the user's source written into a suggested form; a longer form is
# shown with "..." in place of its arguments.
QUOTED = 60
# Names longer than this get no "did you mean" (a typo is found in names a person types).
LONGEST_SUGGESTED = 64
# Bounds on the search for the closest name: cells of the edit-distance table computed
# (about a second of work), and names at the best distance compared for the tie-break.
SEARCH_CELLS = 1_000_000
MAX_TIES = 32


@dataclass(frozen=True)
class Hint:
    """A message and the characters of its line that the caret covers: ``start`` and
    ``end`` are offsets into the whole text (end exclusive), on one line."""

    message: str
    start: int
    end: int


# ----------------------------------------------------------------- closest names ----

def _limit(name: str) -> int:
    """The most edits a suggestion may be away from ``name``."""
    if len(name) <= 2:
        return 0
    return 1 if len(name) <= 5 else 2


def distance(a: str, b: str, limit: int) -> int:
    """Edit distance between ``a`` and ``b`` counting a swap of two neighbouring
    characters as one edit (optimal string alignment), or ``limit + 1`` when it is more
    than ``limit``. Only cells within ``limit`` of the diagonal are computed."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    big = limit + 1
    n = len(b)
    prev2: list[int] | None = None
    prev = [j if j <= limit else big for j in range(n + 1)]
    for i in range(1, len(a) + 1):
        cur = [big] * (n + 1)
        if i <= limit:
            cur[0] = i
        lo, hi = max(1, i - limit), min(n, i + limit)
        for j in range(lo, hi + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if (prev2 is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2]
                    and a[i - 2] == b[j - 1]):
                d = min(d, prev2[j - 2] + 1)
            cur[j] = min(d, big)
        if min(cur[lo - 1:hi + 1]) > limit:
            return big
        prev2, prev = prev, cur
    return prev[n]


def _similarity(a: str, b: str) -> float:
    """Tie-break between suggestions at the same distance: the share of characters in
    common, in order (difflib's ratio)."""
    from difflib import SequenceMatcher
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The known name closest to ``name``, or None when none is close.

    A name that differs only in case is closest (``Sin`` → ``sin``, ``X`` → ``x``);
    otherwise a candidate at most one edit away (names of 3 to 5 characters) or two
    (longer names) qualifies; one- and two-letter names, and names longer than
    ``LONGEST_SUGGESTED``, get no suggestion. Ties go to the most similar name, then to
    the first candidate given (so callers list the innermost scope first). The search
    stops after ``SEARCH_CELLS`` steps of edit-distance work, with the best name so far.
    """
    if len(name) > LONGEST_SUGGESTED:
        return None
    folded = name.casefold()
    limit = _limit(name)
    best = limit + 2                  # rank of the best so far: 0 case only, 1 + edits
    ties: list[str] = []
    work = 0
    for cand in dict.fromkeys(candidates):
        if cand == name:
            continue
        c = cand.casefold()
        if c == folded:
            rank = 0
        elif best == 0 or abs(len(c) - len(folded)) > min(limit, best - 1):
            continue
        else:
            if work > SEARCH_CELLS:
                break
            allowed = min(limit, best - 1)      # a tie with the best still counts
            work += len(folded) * (2 * allowed + 1)
            d = distance(folded, c, allowed)
            if d > allowed:
                continue
            rank = d + 1
        if rank < best:
            best, ties = rank, [cand]
        elif rank == best and len(ties) < MAX_TIES:
            ties.append(cand)
    if not ties:
        return None
    return max(ties, key=lambda t: _similarity(folded, t.casefold()))


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'sigmoid'?)`` or the empty string."""
    near = closest(name, candidates)
    return f" (did you mean '{near}'?)" if near is not None else ""


# Names other libraries give to chaincc's built-in functions.
ALIASES: dict[str, str] = {
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2",
    "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh",
    "arsinh": "asinh", "arcosh": "acosh", "artanh": "atanh",
    "absolute": "abs", "fabs": "abs", "power": "pow", "float_power": "pow",
    "maximum": "max", "minimum": "min", "amax": "max", "amin": "min",
    "expit": "sigmoid", "logistic": "sigmoid", "sgn": "sign", "signum": "sign",
    "gammaln": "lgamma", "loggamma": "lgamma", "vdot": "dot",
    "inner": "dot", "average": "mean", "product": "prod", "log_sum_exp": "logsumexp",
}


def _form(name: str, a: list[str] | None) -> str | None:
    """How chaincc writes ``name(a)`` for a name of another library, or None when it
    has no such function. ``a`` None: the arguments are not known (written ``...``)."""
    from .builtins import BUILTINS
    if name in ("matmul", "mm", "bmm"):
        if a is not None and len(a) == 2:
            return _fits(f"{_paren(a[0])} @ {_paren(a[1])}", "A @ B")
        return "A @ B"
    if name == "square":
        return _fits(f"{_paren(a[0])}^2", "x^2") if a is not None and len(a) == 1 else "x^2"
    if name == "exp2":
        return _fits(f"2^{_paren(a[0])}", "2^x") if a is not None and len(a) == 1 else "2^x"
    target = ALIASES.get(name, name)
    if target not in BUILTINS:
        return None
    text = f"{target}({', '.join(a)})" if a is not None else f"{target}(...)"
    return text if len(text) <= QUOTED else f"{target}(...)"


def _fits(text: str, fallback: str) -> str:
    return text if len(text) <= QUOTED else fallback


# ----------------------------------------------------------------- text scanning ----

def _is_name_char(ch: str) -> bool:
    return ch.isalpha() or "0" <= ch <= "9" or ch == "_"


def _line_bounds(text: str, pos: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return start, len(text) if end < 0 else end


def _name_end(line: str, i: int) -> int:
    while i < len(line) and _is_name_char(line[i]):
        i += 1
    return i


def _name_start(line: str, i: int) -> int:
    """Start of the name ending just before ``i`` (``i`` itself when there is none)."""
    while i > 0 and _is_name_char(line[i - 1]):
        i -= 1
    return i


_PAIRS = {")": "(", "]": "["}


def _operand_start(line: str, end: int) -> int | None:
    """Start of the operand (a name, a number, a bracketed group, a call or an index)
    that ends just before ``end``, or None."""
    i = end
    if i > 0 and line[i - 1] in _PAIRS:
        depth = 0
        while i > 0:
            i -= 1
            ch = line[i]
            if ch in ")]":
                depth += 1
            elif ch in "([":
                depth -= 1
                if depth == 0:
                    break
        if depth != 0:
            return None
        return _name_start(line, i)
    start = _name_start(line, i)
    while start > 0 and line[start - 1] == "." and start > 1 and "0" <= line[start - 2] <= "9":
        start = _name_start(line, start - 1)         # 0.5
    return start if start < end else None


def _operand_end(line: str, start: int) -> int | None:
    """End of the operand starting at ``start`` (a name or number, optionally called or
    indexed, or a bracketed group), or None."""
    i = start
    if i < len(line) and line[i] in "+-":
        i += 1
    j = i
    while j < len(line) and (_is_name_char(line[j]) or line[j] == "."):
        j += 1
    while j < len(line) and line[j] in "([":
        close = _closing(line, j)
        if close is None:
            return None
        j = close + 1
    return j if j > i else None


def _closing(line: str, open_at: int) -> int | None:
    """Index of the bracket closing the one at ``open_at`` on this line, or None."""
    depth = 0
    for k in range(open_at, len(line)):
        ch = line[k]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
            if depth == 0:
                return k
    return None


def _split_args(inner: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for k, ch in enumerate(inner):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:k].strip())
            start = k + 1
    last = inner[start:].strip()
    if last or parts:
        parts.append(last)
    return parts


def _call_args(line: str, open_at: int) -> tuple[list[str], int] | None:
    """The arguments of the call whose '(' is at ``open_at`` and the index of its ')', or
    None when it does not close on this line or is too long to quote."""
    if open_at >= len(line) or line[open_at] != "(":
        return None
    close = _closing(line, open_at)
    if close is None or close - open_at > QUOTED:
        return None
    return _split_args(line[open_at + 1:close]), close


def _paren(text: str) -> str:
    """``text`` bracketed unless it is one operand (name, number, call, index, group)."""
    end = _operand_end(text, 0)
    if end == len(text) and not text.startswith(("+", "-")):
        return text
    return f"({text})"


def _clip(text: str) -> str:
    """``text``, cut to ``QUOTED`` characters with "..." at the end."""
    return text if len(text) <= QUOTED else text[:QUOTED - 3] + "..."


def _unwrap(text: str) -> str:
    """``(x > y)`` → ``x > y``: the text inside one pair of brackets around all of it."""
    if text.startswith("(") and _closing(text, 0) == len(text) - 1:
        return text[1:-1].strip()
    return text


def _quote(text: str) -> str | None:
    text = " ".join(text.split())
    return text if 0 < len(text) <= QUOTED else None


def _expression_start(line: str, end: int) -> int:
    """Start of the expression that ends at ``end``: just after the nearest unmatched
    '(' or '[', a ',' or a defining '=' before it at depth 0."""
    depth = 0
    i = end
    while i > 0:
        ch = line[i - 1]
        if ch in ")]":
            depth += 1
        elif ch in "([":
            if depth == 0:
                return i
            depth -= 1
        elif depth == 0 and (ch in ",;" or (ch == "=" and (i < 2 or line[i - 2] not in "=<>!")
                                            and (i >= len(line) or line[i] != "="))):
            return i
        i -= 1
    return 0


def _expression_end(line: str, start: int) -> int:
    """End of the expression that starts at ``start``: the first ',' ';' '#' or unmatched
    closing bracket at depth 0, or the end of the line."""
    depth = 0
    for k in range(start, len(line)):
        ch = line[k]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            if depth == 0:
                return k
            depth -= 1
        elif depth == 0 and ch in ",;#":
            return k
    return len(line)


def _word_at(line: str, i: int, word: str) -> bool:
    return (line.startswith(word, i) and (i == 0 or not _is_name_char(line[i - 1]))
            and not _is_name_char(line[i + len(word)] if i + len(word) < len(line) else " "))


def _find_word(line: str, word: str, start: int, end: int) -> int:
    """Index of ``word`` as a whole word at bracket depth 0 in ``line[start:end]``, or -1."""
    depth = 0
    for k in range(start, end):
        ch = line[k]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and ch == word[0] and _word_at(line, k, word):
            return k
    return -1


def _where_form(cond: str, a: str, b: str) -> str | None:
    """``where(cond, a, b)``; a condition with no comparison (Python's truth of a number)
    is written ``cond != 0``."""
    c = _quote(cond)
    c = _unwrap(c) if c is not None else None
    if c is not None and not any(op in c for op in "<>=!") and not any(
            _find_word(c, w, 0, len(c)) >= 0 for w in ("and", "or", "not")):
        c = f"{c} != 0"
    parts = [c, _quote(a), _quote(b)]
    if any(p is None for p in parts):
        return None
    text = f"where({', '.join(p for p in parts if p)})"
    return text if len(text) <= QUOTED + 10 else None


# ------------------------------------------------------ characters (the lexer) ----

MODULES = frozenset({
    "math", "cmath", "np", "numpy", "onp", "jnp", "jax", "torch", "F", "nn", "functional",
    "scipy", "special", "tf", "keras", "sympy", "sy", "mpmath", "mp", "cupy", "cp", "linalg",
})


def character_hint(text: str, pos: int) -> Hint | None:
    """A hint for the character at ``text[pos]`` that the lexer cannot read, or None."""
    ls, le = _line_bounds(text, pos)
    line = text[ls:le]
    i = pos - ls
    ch = line[i]
    hint: tuple[str, int, int] | None = None
    if ch == ".":
        hint = _dot_hint(line, i)
    elif ch == ":":
        hint = _colon_hint(text, ls, le, line, i)
    elif ch == "&":
        op = "&&" if line[i + 1:i + 2] == "&" else "&"
        what = f"'{op}'" if len(op) == 2 else "character '&'"
        hint = f"unexpected {what}: chaincc writes 'and'", i, i + len(op)
    elif ch == "!":
        hint = ("unexpected character '!': chaincc writes 'not' ('!=' is 'not equal')",
                i, i + 1)
    elif ch == "%":
        hint = _percent_hint(line, i)
    elif ch == "?":
        hint = _ternary_hint(line, i)
    if hint is None:
        return None
    message, start, end = hint
    return Hint(message, ls + start, ls + max(end, start + 1))


def _dot_hint(line: str, i: int) -> tuple[str, int, int] | None:
    from .builtins import BUILTINS, CONSTANTS
    start = _operand_start(line, i)
    if start is None:
        return None
    subject = line[start:i]
    parts = [subject]
    j = i
    while j < len(line) and line[j] == "." and _name_end(line, j + 1) > j + 1 \
            and len(parts) < 8:
        end = _name_end(line, j + 1)
        parts.append(line[j + 1:end])
        j = end
    if len(parts) < 2:
        return None
    dotted = _clip(".".join(parts))
    last = parts[-1]
    call = _call_args(line, j)
    args = call[0] if call is not None else None
    if subject in MODULES:
        if last in CONSTANTS or last == "inf":
            return (f"'{dotted}' is Python: chaincc's constants need no module prefix; "
                    f"write {last}", start, j)
        form = _form(last, args if line[j:j + 1] == "(" else None)
        if form is None:
            near = did_you_mean(last, (*BUILTINS, *ALIASES))
            return (f"'{dotted}' is Python: chaincc has no module prefixes and no built-in "
                    f"function '{last}'{near}", start, j)
        return (f"'{dotted}' is Python: chaincc's built-in functions need no module "
                f"prefix; write {form}", start, j)
    if len(parts) == 2 and last == "T":
        if len(subject) > QUOTED:
            subject = "(...)"
        return (f"'.T' is NumPy's transpose: write {subject}' or "
                f"transpose({_unwrap(subject)})", start, j)
    if len(parts) == 2 and line[j:j + 1] == "(":
        form = _form(last, [subject, *args] if args is not None else None)
        if form is not None:
            return (f"'{dotted}(...)' is a Python method call: write {form}", start, j)
    return (f"unexpected character '.': chaincc names have no attributes or modules "
            f"('{dotted}' is not a name)", i, i + 1)


_DEF = re.compile(r"\s*def\s+([^\W\d]\w*)\s*\(")
_LAMBDA = re.compile(r"\s*([^\W\d]\w*)\s*=\s*lambda\b")


def _colon_hint(text: str, ls: int, le: int, line: str,
                i: int) -> tuple[str, int, int] | None:
    m = _DEF.match(line)
    if m is not None:
        return _def_hint(text, le, line, m)
    found = re.search(r"\blambda\b", line[:i])
    if found is not None:
        lam = found.start()
        form = None
        m2 = _LAMBDA.match(line)
        if m2 is not None and m2.end() <= i:
            params = _quote(line[m2.end():i])
            body = _quote(line[i + 1:_expression_end(line, i + 1)])
            if params and body:
                form = f"{m2.group(1)}({', '.join(p.strip() for p in params.split(','))}) " \
                    f"= {body}"
        written = f"write {form}" if form else "define a function such as g(x) = x^2"
        return f"'lambda' is Python: chaincc has no lambda; {written}", lam, i + 1
    if line[i + 1:i + 2] == "=":
        head, body = _quote(line[:i]), _quote(line[i + 2:])
        form = f"; write {head} = {body}" if head and body else ""
        return f"unexpected ':=': a definition is written with '='{form}", i, i + 2
    before = line[:i].rstrip()
    if before.endswith(")") and _looks_like_head(before):
        body = _quote(line[i + 1:])
        form = f"; write {_quote(before)} = {body}" if body and _quote(before) else ""
        return (f"unexpected character ':': a definition is written with '='{form}", i,
                i + 1)
    depth = 0
    for ch in line[:i]:
        depth += ch == "["
        depth -= ch == "]"
    if depth > 0:
        return ("unexpected character ':': a slice (a:b) may only be an index of an array, "
                "as in x[1:3] or W[:, 0]", i, i + 1)
    return None


def _looks_like_head(text: str) -> bool:
    """``f(x, y)``: a name and a parameter list, the whole of ``text``."""
    text = text.strip()
    end = _name_end(text, 0)
    return 0 < end < len(text) and text[end] == "(" and _closing(text, end) == len(text) - 1


def _def_hint(text: str, le: int, line: str, m: re.Match) -> tuple[str, int, int]:
    name = m.group(1)
    open_at = m.end() - 1
    close = _closing(line, open_at)
    start = m.start() + len(m.group(0)) - len(m.group(0).lstrip())
    form = None
    if close is not None:
        params = [p.split(":")[0].split("=")[0].strip()
                  for p in _split_args(line[open_at + 1:close])]
        colon = line.find(":", close)
        body = line[colon + 1:].strip() if colon >= 0 else ""
        if not body:
            body = _next_return(text, le)
        elif body.startswith("return"):
            body = body[len("return"):].strip()
        head = f"{name}({', '.join(params)})"
        if _quote(body) and len(head) <= QUOTED:
            form = f"{head} = {_quote(body)}"
        elif len(head) <= QUOTED:
            form = f"{head} = ..."
    end = line.find(":", close if close is not None else 0)
    end = len(line) if end < 0 else end + 1
    written = f"; write {form}" if form else ", as in f(x) = x^2"
    return (f"'def' is Python: chaincc defines a function without 'def', ':' or "
            f"'return'{written}", start, end)


def _next_return(text: str, le: int) -> str:
    """The expression of a ``return`` on the next line that holds code, or ''."""
    pos = le + 1
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line = text[pos:min(end, pos + 4 * QUOTED)].strip()
        if line and not line.startswith("#"):
            if line.startswith("return") and not _is_name_char(line[6:7] or " "):
                return line[6:].split("#")[0].strip()
            return ""
        pos = end + 1
    return ""


def _percent_hint(line: str, i: int) -> tuple[str, int, int]:
    left_end = len(line[:i].rstrip())
    a_start = _operand_start(line, left_end)
    k = i + 1
    while k < len(line) and line[k] == " ":
        k += 1
    b_end = _operand_end(line, k)
    form, python = "a - b*floor(a/b)", "a % b"
    if a_start is not None and b_end is not None:
        a, b = line[a_start:left_end], line[k:b_end]
        if len(a) + len(b) <= QUOTED // 2:
            form = f"{_paren(a)} - {_paren(b)}*floor({a}/{_paren(b)})"
            python = f"{a} % {b}"
    return (f"unexpected character '%': chaincc has no remainder operator; write {form} "
            f"for Python's {python}", i, i + 1)


def _ternary_hint(line: str, i: int) -> tuple[str, int, int]:
    cond_start = _expression_start(line, i)
    colon = line.find(":", i)
    form = None
    if colon >= 0:
        b_end = _expression_end(line, colon + 1)
        form = _where_form(line[cond_start:i], line[i + 1:colon], line[colon + 1:b_end])
    written = f"; write {form}" if form else ""
    return (f"unexpected character '?': chaincc writes 'c ? a : b' as where(c, a, b)"
            f"{written}", i, i + 1)


# ------------------------------------------------------------ names (lowering) ----

_NOT_CHAINCC = {
    "True": "chaincc has no booleans as values; a condition is a comparison inside "
            "where(...)",
    "False": "chaincc has no booleans as values; a condition is a comparison inside "
             "where(...)",
    "None": "chaincc has no None",
    "lambda": "chaincc has no lambda; define a function as 'g(x) = x^2'",
    "else": "chaincc writes 'a if c else b' as where(c, a, b)",
}


def name_hint(name: str, line: str, col: int, candidates: Iterable[str],
              call: bool = False) -> str:
    """The text after "unknown name 'NAME'" (or "unknown function"): how to write a
    Python keyword or another library's function in chaincc, or the closest name in
    scope. ``line`` is the source line and ``col`` the name's 0-based column in it."""
    if name == "if":
        return ": " + _if_hint(line, col)
    if name == "return":
        rest = _quote(line[:col] + line[col + len("return"):].lstrip())
        form = f"; write {rest}" if rest and "=" in rest else ""
        return (": a chaincc function has no 'return'; its value is the expression after "
                f"'='{form}")
    if name in _NOT_CHAINCC:
        return ": " + _NOT_CHAINCC[name]
    if call and name in ("matmul", "mm", "bmm", "square", "exp2"):
        found = _call_args(line, col + len(name))
        return f"; write {_form(name, found[0] if found is not None else None)}"
    if name in ALIASES:
        return f" (did you mean '{ALIASES[name]}'?)"
    return did_you_mean(name, candidates)


def _if_hint(line: str, col: int) -> str:
    start = _expression_start(line, col)
    els = _find_word(line, "else", col + 2, _expression_end(line, col + 2))
    form = None
    if els >= 0:
        end = _expression_end(line, els + 4)
        form = _where_form(line[col + 2:els], line[start:col], line[els + 4:end])
    if form is None:
        return "chaincc writes 'a if c else b' as where(c, a, b)"
    return f"chaincc writes 'a if c else b' as where(c, a, b); write {form}"


# -------------------------------------------------------------- tokens (the parser) ----

_STATEMENT_WORDS = {
    "def": "'def' is Python: chaincc defines a function without it",
    "return": "a chaincc function has no 'return': its value is the expression after '=' "
              "in its definition, as in 'f(x) = x^2'",
    "import": "chaincc has no imports: sin, exp, dot, softmax and the other built-in "
              "functions need none",
    "from": "chaincc has no imports: sin, exp, dot, softmax and the other built-in "
            "functions need none",
    "let": "a binding is written without 'let'",
    "var": "a binding is written without 'var'",
    "const": "a binding is written without 'const'",
    "lambda": "chaincc has no lambda; define a function as 'g(x) = x^2'",
}


def statement_hint(line: str, col: int, word: str) -> str | None:
    """A message for a statement that begins with a keyword of another language
    (``def f(x) = ...``, ``return x``, ``import numpy``, ``let y = 2``), or None.
    ``col`` is the keyword's 0-based column in ``line``."""
    message = _STATEMENT_WORDS.get(word)
    if message is None:
        return None
    if word in ("def", "let", "var", "const"):
        rest = _quote(line[col + len(word):].split("#")[0])
        if rest and "=" in rest:
            message += f"; write {rest}"
    return message


def equals_hint(line: str, col: int) -> str:
    """The text after "expected '=' after ..., found '=='": a definition takes one '='
    (``col`` is the '=='`s 0-based column)."""
    head = _quote(line[:col])
    body = _quote(line[col + 2:].split("#")[0])
    form = f"; write {head} = {body}" if head and body else ""
    return f"; a definition is written with one '='{form}"


def operator_hint(before: str, found: str, adjacent: bool) -> str | None:
    """A message for two operators in a row that read as one of another language
    (``^^``, ``//``, ``===``), or None. ``adjacent``: nothing between them."""
    if not adjacent:
        return None
    pair = before + found
    if pair == "^^":
        return "'^^' is not an operator: a power is written a^b (or a**b)"
    if pair == "//":
        return "'//' is not an operator: chaincc has no integer division; write floor(a/b)"
    if pair in ("===", "!=="):
        return f"'{pair}' is not an operator: a comparison is written '{pair[:2]}'"
    return None


SINGLE_EQUALS = ("; a comparison is written '==' ('=' defines a function or a binding)")
