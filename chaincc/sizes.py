"""Sizes: bindings whose value is an integer (``T = 1000``, ``m = 2*n + 1``).

A size is written with integer literals (digits only), earlier sizes, ``+``, ``-``, ``*``,
a sign and brackets (docs/language.md, "Sizes"). Sizes give parameter shapes (``x[T, m]``)
and the ends of ranges. Values are exact Python integers, refused beyond 2**62 in
magnitude, so no source can make one huge; the walk is iterative, so a 10,000-deep
expression costs no recursion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, Protocol

from . import syntax as st
from .diagnostics import ChainccError, fail
from .source import Source

# The largest magnitude of a size or of any integer met while computing one.
MAX_MAGNITUDE = 2 ** 62
_MAX_DIGITS = len(str(MAX_MAGNITUDE))       # a literal longer than this is too large


def _too_large(node: st.Node, source: Source | None):
    return fail("this integer is too large: a size or an integer expression is at most "
                "2**62 in magnitude", node.span, source)


class Integers(Protocol):
    """What an integer expression is computed in: Python ints here, ``ir.Affine`` (in
    loop indices) in the lowering. ``mul`` and ``name`` may answer None: not an integer
    expression (a product of two indices, a name that is no size)."""

    def number(self, value: int) -> Any: ...
    def name(self, node: st.Name) -> Any: ...
    def add(self, a: Any, b: Any) -> Any: ...
    def sub(self, a: Any, b: Any) -> Any: ...
    def mul(self, a: Any, b: Any) -> Any: ...
    def neg(self, a: Any) -> Any: ...
    def magnitude(self, a: Any) -> int: ...     # the largest integer it stands for


def evaluate(node: st.Node, ring: Integers, source: Source | None = None) -> Any | None:
    """``node`` as an integer expression of integer literals, names (``ring.name``),
    ``+ - *``, a sign and brackets, computed in ``ring``; None when it is not one
    (another name, a number with a point or an exponent, another operation). A literal
    or any partial result beyond 2**62 in magnitude is a ``ChainccError`` at its node."""
    values: list = []
    todo: list[tuple[st.Node, bool]] = [(node, False)]
    while todo:
        current, expanded = todo.pop()
        if isinstance(current, st.Num):
            text = current.text
            if not (text.isascii() and text.isdigit()):
                return None
            digits = text.lstrip("0") or "0"
            if len(digits) > _MAX_DIGITS:
                raise _too_large(current, source)
            values.append(_checked(ring, ring.number(int(digits)), current, source))
        elif isinstance(current, st.Name):
            value = ring.name(current)
            if value is None:
                return None
            values.append(_checked(ring, value, current, source))
        elif isinstance(current, st.Unary):
            if not expanded:
                todo.append((current, True))
                todo.append((current.operand, False))
            elif current.op == "-":
                values.append(ring.neg(values.pop()))
        elif isinstance(current, st.Binary) and current.op in ("+", "-", "*") \
                and not (current.word_base or current.word_exponent):
            if not expanded:
                todo.append((current, True))
                todo.append((current.right, False))
                todo.append((current.left, False))
                continue
            right, left = values.pop(), values.pop()
            op: Callable = ring.add if current.op == "+" else \
                ring.sub if current.op == "-" else ring.mul
            result = op(left, right)
            if result is None:
                return None
            values.append(_checked(ring, result, current, source))
        else:
            return None
    assert len(values) == 1
    return values[0]


class _Ints:
    def __init__(self, sizes: Mapping[str, int]) -> None:
        self.sizes = sizes

    def number(self, value: int) -> int:
        return value

    def name(self, node: st.Name) -> int | None:
        return self.sizes.get(node.id)

    def add(self, a: int, b: int) -> int:
        return a + b

    def sub(self, a: int, b: int) -> int:
        return a - b

    def mul(self, a: int, b: int) -> int:
        return a * b

    def neg(self, a: int) -> int:
        return -a

    def magnitude(self, a: int) -> int:
        return abs(a)


def integer_value(node: st.Node, sizes: Mapping[str, int],
                  source: Source | None = None) -> int | None:
    """The value of ``node`` as an integer expression of integer literals, the names in
    ``sizes``, ``+ - *``, a sign and brackets (``evaluate`` in Python ints)."""
    return evaluate(node, _Ints(sizes), source)


def _checked(ring: Integers, value: Any, node: st.Node, source: Source | None) -> Any:
    if ring.magnitude(value) > MAX_MAGNITUDE:
        raise _too_large(node, source)
    return value


def obstacle(node: st.Node, sizes: Mapping[str, int]) -> st.Node:
    """The first part of ``node``, left to right, that keeps it from being an integer
    expression of sizes (a name that is no size, a number that is no integer, another
    operation); ``node`` itself when it is one. For diagnostics."""
    todo: list[st.Node] = [node]
    while todo:
        current = todo.pop()
        if isinstance(current, st.Num):
            if not (current.text.isascii() and current.text.isdigit()):
                return current
        elif isinstance(current, st.Name):
            if current.id not in sizes:
                return current
        elif isinstance(current, st.Unary):
            todo.append(current.operand)
        elif isinstance(current, st.Binary) and current.op in ("+", "-", "*") \
                and not (current.word_base or current.word_exponent):
            todo.append(current.right)
            todo.append(current.left)
        else:
            return current
    return node


def record(sizes: MutableMapping[str, int], statement: st.Statement) -> None:
    """Update ``sizes`` (name -> value) for one more statement of a file: a binding of an
    integer expression of earlier sizes is a size; any other statement of that name
    (another binding, a function, an array defined by elements) ends it. A binding whose
    integer is beyond 2**62 is no size (it stays an ordinary binding)."""
    value = None
    if isinstance(statement, st.Binding):
        try:
            value = integer_value(statement.value, sizes)
        except ChainccError:                # too large to be a size
            value = None
    if value is None:
        sizes.pop(statement.name, None)
    else:
        sizes[statement.name] = value
