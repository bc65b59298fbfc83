"""User text in generated code: the one place that makes a source name, a file name or a
function or parameter name safe to print into a Python, C, CUDA C or LLVM IR file.

Every writer passes user text through :func:`comment_text` before putting it in a
comment, and through :func:`identifier` before using it as a name. The output of
``comment_text`` is one line of printable characters that cannot end, nest or splice a
comment of any of those languages:

* no line break of any kind (``\\n``, ``\\r``, U+2028, U+2029, form feed, NUL, ...):
  every character that is not printable becomes ``<U+XXXX>``, lone surrogates included,
  so the text always encodes as UTF-8;
* ``*/`` and ``/*`` are broken apart (``* /``), and so is ``??`` (C trigraphs such as
  ``??/``, a backslash);
* a backslash never ends the text (a C ``//`` comment would otherwise run on);
* it is at most ``limit`` characters long (by default), with a marker where it was cut.
"""

from __future__ import annotations

import hashlib
import keyword
import re

# Longest user text a comment shows; a longer text is cut, with this marker.
COMMENT_LIMIT = 240
_CUT = "...(cut)"

# Longest user name used as it is in generated Python (and so in Numba's LLVM IR, where
# names past about 1,000 characters are truncated and can collide).
IDENTIFIER_LIMIT = 64

_BREAKERS = (("*/", "* /"), ("/*", "/ *"))


def _printable(ch: str) -> str:
    return ch if ch.isprintable() else f"<U+{ord(ch):04X}>"


def comment_text(text: str, limit: int | None = COMMENT_LIMIT) -> str:
    """``text`` as one safe line for a comment in Python, C, CUDA C or LLVM IR, cut to
    ``limit`` characters (None: never cut)."""
    assert isinstance(text, str), type(text)
    cut = limit is not None and len(text) > limit
    if cut:
        text = text[:limit]
    out = "".join(_printable(ch) for ch in text)
    for bad, good in _BREAKERS:
        while bad in out:
            out = out.replace(bad, good)
    out = re.sub(r"\?(?=\?)", "? ", out)
    if cut:
        out += _CUT
    if out.endswith("\\"):
        out += " "
    return out


def is_plain_identifier(name: str, limit: int = IDENTIFIER_LIMIT) -> bool:
    """True when ``name`` is a short ASCII identifier of Python that is not a keyword
    (also a valid C and LLVM name)."""
    return (len(name) <= limit and name.isascii() and name.isidentifier()
            and not keyword.iskeyword(name))


def short_digest(text: str, length: int = 12) -> str:
    """A stable tag for ``text`` made of hex digits: distinct texts get distinct tags
    (with overwhelming probability), whatever characters they hold."""
    data = text.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:length]


def identifier(name: str, fallback: str, taken: frozenset[str] = frozenset()) -> str:
    """``name`` when it is a plain identifier (see :func:`is_plain_identifier`) not in
    ``taken``, else ``fallback`` (which the caller makes unique and safe)."""
    if is_plain_identifier(name) and name not in taken:
        return name
    assert is_plain_identifier(fallback, 10**6), fallback
    return fallback


def ascii_tag(name: str) -> str:
    """An ASCII identifier fragment for any user name, distinct for distinct names: its
    punycode with "-" as "_" (``βσ`` -> ``4xab``, ``f_batch`` -> ``f_batch_``) when that
    is short, else a digest."""
    try:
        code = name.encode("punycode").decode("ascii").replace("-", "_")
    except UnicodeError:
        code = ""
    if code and len(code) <= IDENTIFIER_LIMIT and re.fullmatch(r"\w+", code, re.ASCII):
        return code
    return "h" + short_digest(name)
