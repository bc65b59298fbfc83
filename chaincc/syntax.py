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
class Keyword:
    """``name=value`` after a call's positional arguments (``axis=0``, ``tol=1e-12``)."""

    name: str
    value: Node
    span: Span                    # the whole ``name=value``


@dataclass(frozen=True)
class Call(Node):
    """``name(args)``: a call if ``name`` is a function in scope, else a product."""

    func: Name
    args: tuple[Node, ...]
    keywords: tuple[Keyword, ...] = ()


@dataclass(frozen=True)
class Range:
    """``i = a..b``: an index variable over the integers a, a+1, ..., b (both included;
    empty when b < a). ``a`` and ``b`` are integer expressions of numbers, size bindings
    and the variables of enclosing ranges."""

    var: str
    start: Node
    stop: Node
    span: Span                    # the whole ``i = a..b``
    var_span: Span


@dataclass(frozen=True)
class Reduce(Node):
    """``sum(body for i = a..b, j = c..d)``, ``prod(...)``, ``Σ_{i=a}^{b} body``,
    ``∏_{i=a}^{b} body``: the body summed (multiplied) over every index in the ranges,
    the first range outermost."""

    op: str                       # "sum" | "prod"
    body: Node
    ranges: tuple[Range, ...]


@dataclass(frozen=True)
class Slice(Node):
    """``a:b`` (either end may be left out) or ``:`` as one index of ``x[...]``; ends are
    integer expressions, ``b`` excluded, as in NumPy."""

    start: Node | None
    stop: Node | None


@dataclass(frozen=True)
class Lambda(Node):
    """``z -> body``: an anonymous function of one parameter, an argument of
    ``fixpoint``."""

    param: str
    param_span: Span
    body: Node


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


@dataclass(frozen=True)
class IndexedBinding(Node):
    """An array defined element by element, or a recurrence's start and step:

    - ``y[i, j] = body for i = 0..H-3, j = 0..W-1`` (indices are the range variables);
    - ``h[0] = start`` (constant indices);
    - ``h[t+1] = step for t = 0..T-1`` (an index ``var + k``; ``step`` reads ``h[t]``...).

    Statements with one name and disjoint index sets together define one array."""

    name: str
    indices: tuple[Node, ...]
    value: Node
    ranges: tuple[Range, ...]
    name_span: Span


Statement = FuncDef | Binding | IndexedBinding


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
