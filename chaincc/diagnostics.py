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
        return _render("error", self.message, self.span, self.source_line)

    def __str__(self) -> str:
        return self.render()


class ChainccWarning(UserWarning):
    """A warning about the user's input or chaincc's environment (not an error)."""


class SourceWarning(ChainccWarning):
    """A warning about a place in the source: a form chaincc reads one way that a reader
    might read another (``x/2y``). It carries a span and renders like an error::

        model.txt:1:12: warning: read as (x/2)·y; write x/(2y) if that is meant
            f(x, y) = x/2y
                        ^~

    ``chaincc.compile`` emits each with ``warnings.warn``; the command line prints them,
    and its ``--Werror`` makes them errors.
    """

    def __init__(self, message: str, span: Span, source: Source | None = None) -> None:
        self.message = message
        self.span = span
        self.source_line = source.line_text(span.line) if source else ""
        super().__init__(self.render())

    def render(self, as_error: bool = False) -> str:
        """The compiler-style text; ``as_error``: as ``--Werror`` reports it."""
        if as_error:
            return _render("error", f"{self.message} [--Werror]", self.span,
                           self.source_line)
        return _render("warning", self.message, self.span, self.source_line)

    def __str__(self) -> str:
        return self.render()

    def key(self) -> tuple:
        """What makes two warnings the same: the place and the message."""
        s = self.span
        return (s.line, s.col, s.end_line, s.end_col, self.message)

    def __reduce__(self) -> tuple:
        return (_rebuild_warning, (self.message, self.span, self.source_line))


def _rebuild_warning(message: str, span: Span, source_line: str) -> SourceWarning:
    """A SourceWarning from its parts (for pickle: a worker process's warnings)."""
    w = SourceWarning(message, span)
    w.source_line = source_line
    w.args = (w.render(),)
    return w


class WarningsAsErrors(ChainccError):
    """``--Werror``: the source's warnings, each reported as an error."""

    def __init__(self, found: list[SourceWarning] | tuple[SourceWarning, ...]) -> None:
        self.texts = [w.render(as_error=True) for w in found]
        first = found[0]
        super().__init__(first.message, first.span)

    def render(self) -> str:
        return "\n".join(getattr(self, "texts", []))


def in_order(found: list[SourceWarning] | tuple[SourceWarning, ...]) -> list[SourceWarning]:
    """``found`` in source order, each warning once."""
    unique = {w.key(): w for w in reversed(found)}
    return sorted(unique.values(), key=SourceWarning.key)


def _render(kind: str, message: str, span: Span | None, source_line: str) -> str:
    """``file:line:col: kind: message``, the source line and a caret under the span."""
    if span is None:
        return _printable(f"{kind}: {message}")
    head = _printable(f"{span.file}:{span.line}:{span.col}: {kind}: {message}")
    if not source_line:
        return head
    col = span.col
    width = 1
    if span.end_line == span.line and span.end_col > span.col:
        width = span.end_col - span.col
    text, col, width = _window(source_line, col, width)
    caret = " " * (col - 1) + "^" + "~" * (width - 1)
    return f"{head}\n    {text}\n    {caret}"


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
