"""The syntax tree: frozen nodes, each with the span of the text it came from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .diagnostics import SourceWarning
from .source import Span


@dataclass(frozen=True)
class Node:
    span: Span


@dataclass(frozen=True)
class Num(Node):
    text: str                     # as written, e.g. "2.5E+4"


@dataclass(frozen=True)
class Name(Node):
    id: str                       # may need splitting into a product ("xy") at lowering


@dataclass(frozen=True)
class Unary(Node):
    op: str                       # "-" or "+"
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str                       # "+" "-" "*" "/" "^" "@"; implicit products use "*"
    left: Node
    right: Node
    implicit: bool = False        # juxtaposition (2x, (x+1)(y-1))
    # "^" with a word written without brackets as its base (xy², xy^2) or exponent (e^xy):
    # where the word is not a name in scope but splits into names, it is that product of
    # names and the power takes only the nearest one: xy² is x·y², e^xy is e^x·y (as
    # x^2y is x^2·y); see ``split_words``
    word_base: bool = False
    word_exponent: bool = False


@dataclass(frozen=True)
class Call(Node):
    """``name(args)``: a call if ``name`` is a function in scope, else a product."""

    func: Name
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Index(Node):
    base: Node
    indices: tuple[Node, ...]


@dataclass(frozen=True)
class Transpose(Node):
    operand: Node


@dataclass(frozen=True)
class ArrayLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Compare(Node):
    op: str                       # "<" "<=" ">" ">=" "==" "!="
    left: Node
    right: Node


@dataclass(frozen=True)
class BoolOp(Node):
    op: str                       # "and" / "or"
    left: Node
    right: Node


@dataclass(frozen=True)
class Not(Node):
    operand: Node


@dataclass(frozen=True)
class Param:
    name: str
    shape: tuple[int, ...]        # () for a scalar
    span: Span


@dataclass(frozen=True)
class FuncDef(Node):
    name: str
    params: tuple[Param, ...]
    body: Node
    name_span: Span


@dataclass(frozen=True)
class Binding(Node):
    name: str
    value: Node
    name_span: Span


Statement = FuncDef | Binding


@dataclass(frozen=True)
class Module:
    file: str
    statements: tuple[Statement, ...]
    warnings: tuple[SourceWarning, ...] = ()    # located, in source order


def split_words(node: Binary, base: Sequence[str] | None,
                exponent: Sequence[str] | None) -> Node:
    """A power whose base word (``xy²``) or exponent word (``e^xy``) splits into the names
    ``base`` or ``exponent``: the power takes the base's last name and the exponent's
    first, and the other names multiply it, left to right: ``xy²`` is ``x·(y^2)``,
    ``e^xy`` is ``(e^x)·y``, ``ab^cd`` is ``a·(b^c)·d``."""
    assert node.op == "^"

    def names(word: Node, parts: Sequence[str]) -> list[Node]:
        s = word.span
        out: list[Node] = []
        col = s.col
        for part in parts:
            out.append(Name(Span(s.file, s.line, col, s.end_line, col + len(part)), part))
            col += len(part)
        return out

    before = names(node.left, base) if base else [node.left]
    after = names(node.right, exponent) if exponent else [node.right]
    factors = [*before[:-1], Binary(node.span, "^", before[-1], after[0]), *after[1:]]
    acc = factors[0]
    for factor in factors[1:]:
        acc = Binary(node.span, "*", acc, factor, implicit=True)
    return acc
