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
            return f"error: {self.message}"
        head = f"{self.span.file}:{self.span.line}:{self.span.col}: error: {self.message}"
        if not self.source_line:
            return head
        text = self.source_line.replace("\t", " ")
        width = 1
        if self.span.end_line == self.span.line and self.span.end_col > self.span.col:
            width = self.span.end_col - self.span.col
        caret = " " * (self.span.col - 1) + "^" + "~" * (width - 1)
        return f"{head}\n    {text}\n    {caret}"

    def __str__(self) -> str:
        return self.render()


def fail(message: str, span: Span | None, source: Source | None = None) -> ChainccError:
    """Build the error for ``raise fail(...)``; one helper so every error is located."""
    return ChainccError(message, span, source)
