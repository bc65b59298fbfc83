"""User-facing errors: every one carries a span and renders with a caret, C-compiler style."""

from __future__ import annotations

from .source import Source, Span


class ChainccError(ValueError):
    """An error in the user's input (source text, arguments), located at a span.

    ``str(err)`` is the compiler-style text::

        model.txt:3:15: error: unknown name 'z'
            f(x, y) = x + z
                          ^
    """

    def __init__(self, message: str, span: Span | None = None,
                 source: Source | None = None) -> None:
        self.message = message
        self.span = span
        self.source_line = source.line_text(span.line) if (source and span) else ""
        super().__init__(self.render())

    @property
    def file(self) -> str | None:
        return self.span.file if self.span else None

    @property
    def line(self) -> int | None:
        return self.span.line if self.span else None

    @property
    def col(self) -> int | None:
        return self.span.col if self.span else None

    def render(self) -> str:
        if self.span is None:
            return _printable(f"error: {self.message}")
        head = _printable(f"{self.span.file}:{self.span.line}:{self.span.col}: error: "
                          f"{self.message}")
        if not self.source_line:
            return head
        col = self.span.col
        width = 1
        if self.span.end_line == self.span.line and self.span.end_col > self.span.col:
            width = self.span.end_col - self.span.col
        text, col, width = _window(self.source_line, col, width)
        caret = " " * (col - 1) + "^" + "~" * (width - 1)
        return f"{head}\n    {text}\n    {caret}"

    def __str__(self) -> str:
        return self.render()


class ChainccWarning(UserWarning):
    """A warning about the user's input or chaincc's environment (not an error)."""


def _printable(text: str) -> str:
    """``text`` with every character that is not printable (a line break or a terminal
    escape in a file name, say) written as ``<U+XXXX>``."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else f"<U+{ord(ch):04X}>" for ch in text)


# A source line longer than this is shown as a window around the caret.
SHOWN_LINE = 120


def _window(line: str, col: int, width: int) -> tuple[str, int, int]:
    """The part of ``line`` shown under an error (characters that are not printable as
    "?", so the caret stays aligned), and the caret's column and width within it."""
    width = max(1, min(width, SHOWN_LINE))
    start = 0
    if len(line) > SHOWN_LINE:
        start = max(0, min(col - 1 - SHOWN_LINE // 2, len(line) - SHOWN_LINE))
    shown = line[start:start + SHOWN_LINE]
    text = "".join(" " if ch == "\t" else ch if ch.isprintable() else "?" for ch in shown)
    col -= start
    if start > 0:
        text, col = "..." + text, col + 3
    if start + SHOWN_LINE < len(line):
        text += "..."
    return text, col, min(width, max(1, len(text) - col + 1))


def fail(message: str, span: Span | None, source: Source | None = None) -> ChainccError:
    """Build the error for ``raise fail(...)``; one helper so every error is located."""
    return ChainccError(message, span, source)
