"""The syntax tree: frozen nodes, each with the span of the text it came from."""

from __future__ import annotations

from dataclasses import dataclass

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
