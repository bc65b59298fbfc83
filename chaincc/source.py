"""Source text and positions inside it, and reading a source file within its size limit."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

# The largest source chaincc reads: 1 MiB of UTF-8. A file is read in chunks and refused
# as soon as it passes the limit, so ``chaincc compile /dev/zero`` ends at once.
MAX_SOURCE_BYTES = 1 << 20
_CHUNK = 1 << 16
# How a source is written: chaincc's text syntax, or LaTeX math (read by latex.py).
SYNTAXES = ("text", "latex")


@dataclass(frozen=True)
class Span:
    """A range of characters in a source file; lines and columns count from 1."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def to(self, other: Span) -> Span:
        """The span from the start of ``self`` to the end of ``other``."""
        return Span(self.file, self.line, self.col, other.end_line, other.end_col)


def display_name(name: str) -> str:
    """``name`` with every lone surrogate (a file name's undecodable byte, as the OS hands
    it to Python) written as ``\\udcff``, so the name always encodes as UTF-8."""
    if name.isascii():
        return name
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class Source:
    """A named source text, with its lines split once for diagnostics.

    The text is checked on creation: a source over ``MAX_SOURCE_BYTES`` or holding a lone
    surrogate (which no UTF-8 file can hold) is a located ``ChainccError``.
    """

    name: str
    text: str
    syntax: str = "text"          # "text" (docs/language.md) or "latex" (latex.py)
    lines: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"a source name must be a str, not {type(self.name).__name__}")
        if not isinstance(self.text, str):
            raise TypeError(f"a source must be a str, a pathlib.Path or a SymPy expression, "
                            f"not {type(self.text).__name__}")
        if self.syntax not in SYNTAXES:
            raise ValueError(f"syntax must be one of {', '.join(map(repr, SYNTAXES))}, not "
                             f"{self.syntax!r}")
        object.__setattr__(self, "name", display_name(self.name))
        object.__setattr__(self, "lines", tuple(self.text.split("\n")))
        _check_text(self)

    def line_text(self, line: int) -> str:
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1].rstrip("\r")
        return ""

    def span(self, line: int, col: int, end_line: int | None = None,
             end_col: int | None = None) -> Span:
        return Span(self.name, line, col, end_line or line, end_col or col + 1)


def _too_large(size: str) -> str:
    return f"the source is larger than chaincc's limit of {MAX_SOURCE_BYTES:,} bytes{size}"


def _check_text(src: Source) -> None:
    from .diagnostics import fail
    text = src.text
    if len(text) > MAX_SOURCE_BYTES or (
            len(text) * 4 > MAX_SOURCE_BYTES
            and len(text.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES):
        raise fail(_too_large(f" ({len(text):,} characters)"), src.span(1, 1))
    if text.isascii():
        return
    for n, line in enumerate(src.lines, 1):
        try:
            line.encode("utf-8")
        except UnicodeEncodeError as e:
            raise fail(f"lone surrogate U+{ord(line[e.start]):04X} is not a character "
                       "(a source is UTF-8 text)", src.span(n, e.start + 1), src) from None


def read_source(path: str | os.PathLike[str], name: str | None = None,
                syntax: str | None = None) -> Source:
    """The source in the file at ``path``, named ``name`` (default: the path), in
    ``syntax`` (default: "latex" for a ``.tex`` file, else "text"). Reads at most
    ``MAX_SOURCE_BYTES`` (and one byte more, to know it is over); an unreadable,
    oversized or non-UTF-8 file is a ``ChainccError`` located in that file."""
    from .diagnostics import fail
    shown = display_name(name if name is not None else os.fspath(path))
    chunks: list[bytes] = []
    size = 0
    try:
        with Path(path).open("rb") as f:
            while size <= MAX_SOURCE_BYTES:
                chunk = f.read(min(_CHUNK, MAX_SOURCE_BYTES + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except OSError as e:
        why = e.strerror or str(e)
        raise fail(f"cannot read {shown}: {why}", None) from None
    if size > MAX_SOURCE_BYTES:
        raise fail(_too_large(""), Span(shown, 1, 1, 1, 2))
    data = b"".join(chunks)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[:e.start].decode("utf-8", "replace")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        shown_text = Source(shown, data.decode("utf-8", "replace"))
        raise fail(f"invalid UTF-8 (byte 0x{data[e.start]:02X}); a source is UTF-8 text",
                   Span(shown, line, col, line, col + 1), shown_text) from None
    if syntax is None:
        syntax = "latex" if os.fspath(path).lower().endswith(".tex") else "text"
    return Source(shown, text, syntax)
