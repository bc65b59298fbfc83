"""Parsing the iteration syntax of docs/language.md ("Iteration: sizes, indexed
definitions, recurrences, sums and fixed points"): ranges, sizes and shapes, indexed
definitions, sums over an index, keyword arguments, slices, lambdas; every error with its
line and column; hostile inputs (deep nesting, runs of dots, unterminated sums)."""

from __future__ import annotations

import sys
import time

import pytest
from test_parser import shallow_stack

import chaincc
from chaincc import syntax as st
from chaincc.diagnostics import ChainccError
from chaincc.lexer import NAME, NUMBER, OP, canonical, tokenize
from chaincc.parser import parse
from chaincc.sizes import MAX_MAGNITUDE, integer_value, obstacle, record
from chaincc.source import Source, Span

# ------------------------------------------------------------------- helpers


def module(text: str) -> st.Module:
    return parse(Source("m.txt", text))


def span(line: int, col: int, end_line: int, end_col: int) -> Span:
    return Span("m.txt", line, col, end_line, end_col)


def children(node: st.Node) -> list[st.Node]:
    match node:
        case st.Unary() | st.Not() | st.Transpose():
            return [node.operand]
        case st.Binary() | st.Compare() | st.BoolOp():
            return [node.left, node.right]
        case st.Call():
            return [node.func, *node.args, *(k.value for k in node.keywords)]
        case st.Index():
            return [node.base, *node.indices]
        case st.ArrayLit():
            return list(node.items)
        case st.Reduce():
            return [node.body, *(e for r in node.ranges for e in (r.start, r.stop))]
        case st.Slice():
            return [e for e in (node.start, node.stop) if e is not None]
        case st.Lambda():
            return [node.body]
    return []


def render(node: st.Node, parts: list[str]) -> str:
    match node:
        case st.Num():
            return node.text
        case st.Name():
            return node.id
        case st.Binary():
            return f"({node.op}{'i' if node.implicit else ''} {parts[0]} {parts[1]})"
        case st.Unary() | st.Compare() | st.BoolOp():
            return f"({node.op} {' '.join(parts)})"
        case st.Not():
            return f"(not {parts[0]})"
        case st.Transpose():
            return f"(T {parts[0]})"
        case st.Call():
            n = 1 + len(node.args)
            keywords = [f"{k.name}={v}" for k, v in zip(node.keywords, parts[n:])]
            return f"(call {' '.join(parts[:n] + keywords)})"
        case st.Index():
            return f"(idx {' '.join(parts)})"
        case st.ArrayLit():
            return f"[{' '.join(parts)}]"
        case st.Reduce():
            ranges = [f"({r.var} {parts[1 + 2 * k]} {parts[2 + 2 * k]})"
                      for k, r in enumerate(node.ranges)]
            return f"({node.op} {parts[0]} {' '.join(ranges)})"
        case st.Slice():
            ends = iter(parts)
            start = next(ends) if node.start is not None else "_"
            stop = next(ends) if node.stop is not None else "_"
            return f"(: {start} {stop})"
        case st.Lambda():
            return f"(-> {node.param} {parts[0]})"
    raise AssertionError(f"unknown node {type(node).__name__}")


def sexp(root: st.Node) -> str:
    """An s-expression for a tree, built without recursion (trees may be 10,000 deep)."""
    done: dict[int, str] = {}
    todo: list[tuple[st.Node, bool]] = [(root, False)]
    while todo:
        node, expanded = todo.pop()
        kids = children(node)
        if not expanded:
            todo.append((node, True))
            todo.extend((kid, False) for kid in reversed(kids))
        else:
            done[id(node)] = render(node, [done.pop(id(kid)) for kid in kids])
    return done[id(root)]


def statement_sexp(s: st.Statement) -> str:
    if isinstance(s, st.FuncDef):
        params = " ".join(p.name + "".join(f"[{n}]" for n in p.shape) for p in s.params)
        return f"{s.name}({params}) = {sexp(s.body)}"
    if isinstance(s, st.Binding):
        return f"{s.name} = {sexp(s.value)}"
    indices = ", ".join(sexp(i) for i in s.indices)
    ranges = ", ".join(f"{r.var} = {sexp(r.start)}..{sexp(r.stop)}" for r in s.ranges)
    return f"{s.name}[{indices}] = {sexp(s.value)}" + (f" for {ranges}" if ranges else "")


def statements(text: str) -> list[str]:
    return [statement_sexp(s) for s in module(text).statements]


def expr(text: str, params: str = "x") -> str:
    """The body of ``f(params) = text``, as an s-expression."""
    (f,) = module(f"f({params}) = {text}").statements
    assert isinstance(f, st.FuncDef)
    return sexp(f.body)


def assert_error(text: str, line: int, col: int, message: str) -> ChainccError:
    """``text`` fails with ``message`` at ``line``:``col``, rendered with a caret there."""
    with pytest.raises(ChainccError) as info:
        module(text)
    err = info.value
    assert (err.file, err.line, err.col) == ("m.txt", line, col), str(err)
    assert message in err.message, str(err)
    rendered = str(err).split("\n")
    assert rendered[0] == f"m.txt:{line}:{col}: error: {err.message}"
    assert rendered[1] == "    " + text.split("\n")[line - 1]
    assert rendered[2].startswith("    " + " " * (col - 1) + "^")
    return err


def kinds(text: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in tokenize(Source("m.txt", text))[:-1]]


# -------------------------------------------------------------------- lexer


def test_range_dots_are_one_operator() -> None:
    assert kinds("0..T-1") == [(NUMBER, "0"), (OP, ".."), (NAME, "T"), (OP, "-"),
                               (NUMBER, "1")]
    assert kinds("1.5..2 1e3..n a..b") == [
        (NUMBER, "1.5"), (OP, ".."), (NUMBER, "2"), (NUMBER, "1e3"), (OP, ".."),
        (NAME, "n"), (NAME, "a"), (OP, ".."), (NAME, "b")]
    assert kinds("0........1") == [(NUMBER, "0"), (OP, ".."), (OP, ".."), (OP, ".."),
                                   (OP, ".."), (NUMBER, "1")]
    # a number still refuses a lone '.' after it
    with pytest.raises(ChainccError, match="unexpected '.' after the number '2'"):
        tokenize(Source("m.txt", "2.x"))


def test_arrow_for_and_slice_tokens() -> None:
    assert kinds("z -> z ↦ z") == [(NAME, "z"), (OP, "->"), (NAME, "z"), (OP, "↦"),
                                   (NAME, "z")]
    assert canonical("↦") == "->"
    assert kinds("tanh(a) for t") == [(NAME, "tanh"), (OP, "("), (NAME, "a"), (OP, ")"),
                                      (OP, "for"), (NAME, "t")]
    assert kinds("format fort") == [(NAME, "format"), (NAME, "fort")]
    assert kinds("x[1:2]") == [(NAME, "x"), (OP, "["), (NUMBER, "1"), (OP, ":"),
                               (NUMBER, "2"), (OP, "]")]


def test_big_operators_are_not_subscripted_names() -> None:
    assert kinds("Σ_{i=0}^{n-1} x") == [
        (OP, "Σ_{"), (NAME, "i"), (OP, "="), (NUMBER, "0"), (OP, "}"), (OP, "^"), (OP, "{"),
        (NAME, "n"), (OP, "-"), (NUMBER, "1"), (OP, "}"), (NAME, "x")]
    assert kinds("∑_{k=1}^n ∏_{j=1}^2") == [
        (OP, "∑_{"), (NAME, "k"), (OP, "="), (NUMBER, "1"), (OP, "}"), (OP, "^"),
        (NAME, "n"), (OP, "∏_{"), (NAME, "j"), (OP, "="), (NUMBER, "1"), (OP, "}"),
        (OP, "^"), (NUMBER, "2")]
    # without "_{", Σ and ∏ are names (∑ is no character of the language)
    assert kinds("Σ Σ_1 x_{1} Σ₂ ∏ ∏x") == [(NAME, "Σ"), (NAME, "Σ_1"), (NAME, "x_1"),
                                             (NAME, "Σ_2"), (NAME, "∏"), (NAME, "∏"),
                                             (NAME, "x")]


@pytest.mark.parametrize(("text", "line", "col", "message"), [
    ("f(x) = x + ∑", 1, 12, "unexpected character '∑': the sum over an index is written "
     "∑_{i=a}^{b} body, or sum(body for i = a..b)"),
    ("f(x) = ∏ x", 1, 8, "unknown name '∏'"),
    ("f(x) = x : 1", 1, 10, "unexpected character ':'"),
    ("f(x[3]) = sum(x[(0:2)])", 1, 19, "a slice (a:b) may only be an index of an array"),
])
def test_lexical_errors(text: str, line: int, col: int, message: str) -> None:
    if "unknown name" in message:                    # found when the name is looked up
        with pytest.raises(ChainccError, match=message) as info:
            chaincc.compile(text)
        assert (info.value.line, info.value.col) == (line, col)
        return
    assert_error(text, line, col, message)


# -------------------------------------------------------------------- sizes


def size_of(text: str, sizes: dict[str, int] | None = None) -> int | None:
    (b,) = module(f"r = {text}").statements
    assert isinstance(b, st.Binding)
    return integer_value(b.value, sizes or {})


def test_integer_value() -> None:
    n = {"n": 4, "T": 1000}
    assert size_of("1000") == 1000
    assert size_of("007") == 7
    assert size_of("2*(n+1) - -3", n) == 13
    assert size_of("+n - 2n", n) == -4
    assert size_of("T·n×2", n) == 8000
    assert size_of("(T - 1)*(T + 1)", n) == 999_999
    for text in ("x", "2.5", "1e3", "2.0", "n/2", "n^2", "n²", "sin(n)", "½", "[1]",
                 "n'", "n > 1", "pi"):
        assert size_of(text, n) is None, text
    assert size_of(str(MAX_MAGNITUDE)) == MAX_MAGNITUDE
    assert size_of(f"-{MAX_MAGNITUDE}") == -MAX_MAGNITUDE


@pytest.mark.parametrize(("text", "col", "end_col"), [
    (str(MAX_MAGNITUDE + 1), 5, 24),
    ("9" * 5000, 5, 5005),
    ("2147483648*2147483648*2", 5, 28),          # the product passes 2**62
    ("1 + 4611686018427387904 + 1", 5, 28),      # 1 + 2**62 is already beyond
])
def test_integer_value_refuses_huge_integers(text: str, col: int, end_col: int) -> None:
    (b,) = module(f"r = {text}").statements
    assert isinstance(b, st.Binding)
    with pytest.raises(ChainccError, match="too large") as info:
        integer_value(b.value, {})
    assert info.value.span == span(1, col, 1, end_col)


def test_integer_value_and_obstacle_are_iterative() -> None:
    deep = 10_000
    cases = [("(" * deep + "1" + ")" * deep, 1), ("-" * deep + "1", 1),
             ("1" + "+1" * deep, deep + 1), ("- " * (deep + 1) + "1", -1)]
    for text, value in cases:
        (b,) = module(f"r = {text}").statements
        assert isinstance(b, st.Binding)
        with shallow_stack():
            assert integer_value(b.value, {}) == value
            assert obstacle(b.value, {}) is b.value


def test_obstacle_names_the_first_part_that_is_no_integer() -> None:
    (b,) = module("r = 2*(n + m*1.5) - k").statements
    assert isinstance(b, st.Binding)
    culprit = obstacle(b.value, {"n": 1})
    assert isinstance(culprit, st.Name) and culprit.id == "m"
    culprit = obstacle(b.value, {"n": 1, "m": 2})
    assert isinstance(culprit, st.Num) and culprit.text == "1.5"


def test_record_follows_the_statements() -> None:
    sizes: dict[str, int] = {}
    m = module("n = 4\nT = 2n + 1\nbig = 99999999999999999999999\nh(x) = x\nn = x")
    for s in m.statements[:3]:
        record(sizes, s)
    assert sizes == {"n": 4, "T": 9}
    sizes["h"] = 1
    for s in m.statements[3:]:
        record(sizes, s)
    assert sizes == {"T": 9}


# ------------------------------------------------------------------- shapes


def test_shapes_are_integer_expressions_of_sizes() -> None:
    m = module("T = 1000\nn = 8\nm = n - 5\n"
               "rnn(W[n,n], U[n,3], x[T,3], y[T+1, m], z[2n], v[(n+1)*2, T-999]) = 1")
    f = m.statements[-1]
    assert isinstance(f, st.FuncDef)
    assert [p.shape for p in f.params] == [(8, 8), (8, 3), (1000, 3), (1001, 3), (16,),
                                          (18, 1)]
    assert f.params[3].span == span(4, 29, 4, 38)


def test_a_later_binding_ends_a_size() -> None:
    assert_error("T = 4\nT = 2.5\nf(x[T]) = x", 3, 5, "'T' is not a size")
    assert_error("T = 4\nT(y) = y\nf(x[T]) = x", 3, 5, "'T' is not a size")
    assert_error("T = 4\nT[0] = 1\nf(x[T]) = x", 3, 5, "'T' is not a size")
    (_, _, f) = module("T = 4\nT = T + 1\nf(x[T]) = x").statements
    assert isinstance(f, st.FuncDef) and f.params[0].shape == (5,)


@pytest.mark.parametrize(("text", "line", "col", "message"), [
    ("f(x[T]) = x", 1, 5,
     "'T' is not a size: a size is a binding of an integer, e.g. T = 100"),
    ("a = 1.5\nf(x[2, a]) = x", 2, 8, "'a' is not a size"),
    ("n = 3\nf(x[2 + n*m]) = x", 2, 11, "'m' is not a size"),
    ("big = 99999999999999999999999\nf(x[big]) = x", 2, 5, "'big' is not a size"),
    ("n = 3\nf(x[n*2.5]) = x", 2, 7, "array sizes must be positive integers, found '2.5'"),
    ("n = 8\nf(x[n-8]) = x", 2, 5, "array sizes must be positive integers, found 'n-8' (0)"),
    ("n = 8\nf(x[3, 2 - n]) = x", 2, 8, "found '2 - n' (-6)"),
    ("f(x[1, -2]) = x", 1, 8, "array sizes must be positive integers, found '-'"),
    ("n = 100000\nf(x[n*n]) = x", 2, 5, "array size n*n (10,000,000,000) is too large"),
    ("f(x[1000000000]) = x", 1, 5, "array size 1000000000 is too large"),
    ("f(x[" + "9" * 40 + "]) = x", 1, 5, "array size " + "9" * 40 + " is too large"),
    ("f(x[2*" + "9" * 40 + "]) = x", 1, 7, "this integer is too large"),
    ("f(x[4/2]) = x", 1, 6, "'/' is not allowed here: an integer expression has numbers"),
    ("f(x[2^3]) = x", 1, 6, "'^' is not allowed here"),
    ("f(x[(2]) = x", 1, 7, "expected ')' to close the '(' at line 1, column 5, found ']'"),
    ("f(x[2 n]) = x", 1, 7, "expected ',' or ']' in the array shape, found 'n'"),
    ("f(x[2,]) = x", 1, 7, "array sizes must be positive integers, found ']'"),
])
def test_shape_errors(text: str, line: int, col: int, message: str) -> None:
    assert_error(text, line, col, message)


# ------------------------------------------------------ indexed definitions


def test_indexed_definitions() -> None:
    text = ("T = 1000\nh[0] = 0\nh[t+1] = tanh(w·h[t] + u·x[t])   for t = 0..T-1\n"
            "loss(w, u, x[T]) = h[T]²")
    assert statements(text) == [
        "T = 1000",
        "h[0] = 0",
        "h[(+ t 1)] = (call tanh (+ (* w (idx h t)) (* u (idx x t)))) for t = 0..(- T 1)",
        "loss(w u x[1000]) = (^ (idx h T) 2)"]
    step = module(text).statements[2]
    assert isinstance(step, st.IndexedBinding)
    assert step.span == span(3, 1, 3, 48) and step.name_span == span(3, 1, 3, 2)
    (r,) = step.ranges
    assert (r.var, r.span, r.var_span) == ("t", span(3, 38, 3, 48), span(3, 38, 3, 39))
    assert step.indices[0].span == span(3, 3, 3, 6)


def test_elementwise_definition_of_the_language() -> None:
    text = ("H = 8\nW = 8\ny[i, j] = Σ_{k=0}^{2} K[k]·x[i+k, j]   for i = 0..H-3, j = 0..W-1\n"
            "conv(K[3], x[H,W]) = sum(y^2)")
    assert statements(text) == [
        "H = 8", "W = 8",
        "y[i, j] = (sum (* (idx K k) (idx x (+ i k) j)) (k 0 2)) "
        "for i = 0..(- H 3), j = 0..(- W 1)",
        "conv(K[3] x[8][8]) = (call sum (^ y 2))"]


def test_state_arrays_and_several_states() -> None:
    text = ("T = 4\nn = 2\nm = 3\nh[0] = zeros(n)\nc[0] = ones(n)\n"
            "c[t+1] = c[t] + tanh(U @ x[t]) for t = 0..T-1\n"
            "h[t+1] = tanh(W @ h[t] + c[t+1] + b) for t = 0..T-1\n"
            "f(W[n,n], U[n,m], b[n], x[T, m]) = sum(h[t]² for t = 1..T)")
    got = statements(text)
    assert got[3:5] == ["h[0] = (call zeros n)", "c[0] = (call ones n)"]
    assert got[6] == ("h[(+ t 1)] = (call tanh (+ (+ (@ W (idx h t)) (idx c (+ t 1))) b)) "
                      "for t = 0..(- T 1)")
    assert got[7] == "f(W[2][2] U[2][3] b[2] x[4][3]) = (sum (^ (idx h t) 2) (t 1 T))"


def test_nested_clauses_and_indexed_names() -> None:
    assert statements("y[i] = sum(x[i, j] for j = 0..2) for i = 0..1") == [
        "y[i] = (sum (idx x i j) (j 0 2)) for i = 0..1"]
    # an indexed definition is a binding of its name: 'sin' no longer applies bare
    assert statements("sin[0] = 1\nsin[t+1] = 2 for t = 0..1\nf(x) = sin x + cos x") == [
        "sin[0] = 1", "sin[(+ t 1)] = 2 for t = 0..1",
        "f(x) = (+ (*i sin x) (call cos x))"]


def test_for_clauses_continue_lines() -> None:
    assert statements("y[i] = x[i]^2 for\n  i = 0..2") == ["y[i] = (^ (idx x i) 2) for i = 0..2"]
    assert statements("y[i] = x[i] +\n 1 for i = 0..\n 2") == [
        "y[i] = (+ (idx x i) 1) for i = 0..2"]
    assert statements("y[i] = x[i] for i = 0..2, j = 0..\n1") == [
        "y[i] = (idx x i) for i = 0..2, j = 0..1"]


def test_index_variables_are_in_scope_while_the_value_is_read() -> None:
    # 'ln' and 'sin' would otherwise apply without brackets; as index variables they are
    # names, and what follows them multiplies
    assert statements("y[ln] = ln x for ln = 0..2") == ["y[ln] = (*i ln x) for ln = 0..2"]
    assert expr("sum(ln x for ln = 0..2)") == "(sum (*i ln x) (ln 0 2))"
    assert expr("Σ_{sin=0}^{2} sin x") == "(sum (*i sin x) (sin 0 2))"
    assert expr("fixpoint(exp -> exp x, 0)") == "(call fixpoint (-> exp (*i exp x)) 0)"
    # outside the clause they are the built-in again
    assert expr("sum(ln x for ln = 0..2) + ln x") == \
        "(+ (sum (*i ln x) (ln 0 2)) (call ln x))"
    assert expr("Σ_{sin=0}^{2} sin x + sin x") == \
        "(+ (sum (*i sin x) (sin 0 2)) (call sin x))"
    assert_error("y[abs] = |x| for abs = 0..2", 1, 10,
                 "'|x|' stands for the built-in 'abs', but 'abs' is an index variable here")


@pytest.mark.parametrize(("text", "line", "col", "message"), [
    ("y[i j] = 1", 1, 5, "expected ',' or ']' after an index of 'y', found 'j'"),
    ("y[] = 1", 1, 3, "expected an index of 'y' (as in y[0], y[t+1] or y[i, j]), found ']'"),
    ("y[i/2] = 1", 1, 4, "'/' is not allowed here"),
    ("y[i] + 1 = 2", 1, 6, "expected '=' after 'y[i]', found '+'"),
    ("y[i] == 2", 1, 6, "expected '=' after 'y[i]', found '=='; a definition is written "
     "with one '='"),
    ("y[0", 1, 2, "'[' was never closed"),
    ("y[i] = x for i in 0..3", 1, 16, "expected '=' after the index variable 'i' (as in "
     "i = 0..n-1), found 'in'"),
    ("y[i] = x for 2 = 0..3", 1, 14, "expected an index variable after 'for' (as in "
     "for i = 0..n-1), found '2'"),
    ("y[i] = x for", 1, 10, "expected an index variable after 'for' (as in for i = 0..n-1) "
     "after 'for', found end of file"),
    ("y[i] = x for i = 0..", 1, 19, "expected the last value of 'i' (as in i = 0..n-1) "
     "after '..', found end of file"),
    ("y[i] = x for i = 0, j = 1", 1, 19, "expected '..' between the first and the last "
     "value of 'i' (as in i = 0..n-1), found ','"),
    ("y[i] = x for i = 0..3, i = 0..2", 1, 24, "the index variable 'i' is already in this "
     "'for' clause"),
    ("y[i] = x for i = 0..3,", 1, 22, "expected an index variable after ','"),
    ("y[i] = x for i = 0..3 j = 1", 1, 23, "unexpected 'j' after the end of the statement"),
    ("y[i] = x for i = 0..n/2", 1, 22, "'/' is not allowed here"),
    ("y[i] = x for i = 0........1", 1, 21, "expected the last value of 'i' (as in "
     "i = 0..n-1), found '..'"),
])
def test_indexed_definition_errors(text: str, line: int, col: int, message: str) -> None:
    assert_error(text, line, col, message)


# ---------------------------------------------------------- 'for' elsewhere

FOR_PLACES = "'for' may appear only inside sum(…) or prod(…) after its one argument"


@pytest.mark.parametrize(("text", "line", "col", "message"), [
    ("a = 1 for i = 0..3", 1, 7, FOR_PLACES),
    ("f(x) = x for i = 0..1", 1, 10, FOR_PLACES),
    ("f(x) = sin x for i = 0..2", 1, 14, FOR_PLACES),
    ("f(x) = (x for i = 0..1)", 1, 11, FOR_PLACES),
    ("f(x) = max(x for i = 0..1)", 1, 14, FOR_PLACES),
    ("f(x) = [x for i = 0..1]", 1, 11, FOR_PLACES),
    ("f(x[3]) = x[i for i = 0..1]", 1, 15, FOR_PLACES),
    ("f(x) = |x for i = 0..1|", 1, 11, FOR_PLACES),
    ("sum(t) = t\nf(x) = sum(x for i = 0..1)", 2, 14, FOR_PLACES),
    ("for i = 0..1", 1, 1, FOR_PLACES),
    ("y[i] = 1\nfor i = 0..1", 2, 1, "a 'for' clause ends its definition's line"),
    ("f(x) = sum(x, 1 for i = 0..1)", 1, 17,
     "sum(… for …) takes one argument before 'for', as in sum(x[i]^2 for i = 0..n-1)"),
    ("f(x) = prod(x, axis=0 for i = 0..1)", 1, 23, "prod(… for …) takes one argument"),
    ("f(x) = sum(for i = 0..1)", 1, 12, "expected an expression, found 'for'"),
    ("f(x) = sum(x for i = 0..1 for j = 0..1)", 1, 27,
     "expected ',' or ')' to close the '(' at line 1, column 11, found 'for'"),
    ("f(x) = sum(x for i = 0..1", 1, 11, "'(' was never closed"),
    ("f(x) = sum(x for i = 0..(1", 1, 25, "'(' was never closed"),
    ("f(x) = x for", 1, 10, FOR_PLACES),
    ("f(for) = 1", 1, 3, "expected a parameter name, found 'for'"),
    ("f(x) = for", 1, 8, "expected an expression, found 'for'"),
])
def test_for_at_odd_places(text: str, line: int, col: int, message: str) -> None:
    assert_error(text, line, col, message)


# ------------------------------------------------------- sums and products


@pytest.mark.parametrize(("text", "expected"), [
    ("sum(x[i]^2 for i = 0..n-1)", "(sum (^ (idx x i) 2) (i 0 (- n 1)))"),
    ("prod(1 + x[i] for i = 1..3)", "(prod (+ 1 (idx x i)) (i 1 3))"),
    ("sum(A[i,j]*x[j] for i = 0..n-1, j = 0..n-1)",
     "(sum (* (idx A i j) (idx x j)) (i 0 (- n 1)) (j 0 (- n 1)))"),
    ("sum(sum(A[i,j] for j = 0..i) for i = 0..n-1)",
     "(sum (sum (idx A i j) (j 0 i)) (i 0 (- n 1)))"),
    ("sum(x[2*i + 1] for i = -1..2n)", "(sum (idx x (+ (* 2 i) 1)) (i (- 1) (*i 2 n)))"),
    ("2sum(x[i] for i = 0..1)^2", "(*i 2 (^ (sum (idx x i) (i 0 1)) 2))"),
    ("Σ_{i=0}^{n-1} x[i]^2 + 1", "(+ (sum (^ (idx x i) 2) (i 0 (- n 1))) 1)"),
    ("Σ_{i=0}^{2} K[i]·x[i]", "(sum (* (idx K i) (idx x i)) (i 0 2))"),
    ("Σ_{i=0}^{2} K[i] x[i] / 2", "(sum (/ (*i (idx K i) (idx x i)) 2) (i 0 2))"),
    ("∑_{k=1}^n x[k]", "(sum (idx x k) (k 1 n))"),
    ("∏_{k=1}^{3} (1 + x[k])", "(prod (+ 1 (idx x k)) (k 1 3))"),
    ("Σ_{i=0..n-1} x[i]", "(sum (idx x i) (i 0 (- n 1)))"),
    ("Σ_{i = 0 .. n} x[i]", "(sum (idx x i) (i 0 n))"),
    ("2Σ_{i=0}^{1} x[i] y", "(*i 2 (sum (*i (idx x i) y) (i 0 1)))"),
    ("-Σ_{i=0}^{1} x[i]", "(- (sum (idx x i) (i 0 1)))"),
    ("a - Σ_{i=0}^{1} x[i] - b", "(- (- a (sum (idx x i) (i 0 1))) b)"),
    ("Σ_{i=0}^{1} Σ_{j=0}^{i} A[i,j]", "(sum (sum (idx A i j) (j 0 i)) (i 0 1))"),
    ("Σ_{i=0}^{1} x[i] < Σ_{j=0}^{1} y[j]",
     "(< (sum (idx x i) (i 0 1)) (sum (idx y j) (j 0 1)))"),
    ("Σ_{i=0}^{1} -x[i]^2", "(sum (- (^ (idx x i) 2)) (i 0 1))"),
    ("sin Σ_{i=0}^{1} x[i]", "(*i sin (sum (idx x i) (i 0 1)))"),
    ("(Σ_{i=0}^{1} x[i])^2", "(^ (sum (idx x i) (i 0 1)) 2)"),
    ("Σ(x) + Σ^2 + Σ_1", "(+ (+ (call Σ x) (^ Σ 2)) Σ_1)"),
    ("∏ + ∏(x)", "(+ ∏ (call ∏ x))"),
])
def test_sums_and_products(text: str, expected: str) -> None:
    assert expr(text) == expected


def test_reduce_spans() -> None:
    node = module("f(x) = 1 + sum(x[i] for i = 0..2)").statements[0]
    assert isinstance(node, st.FuncDef)
    r = node.body.right
    assert isinstance(r, st.Reduce)
    assert r.span == span(1, 12, 1, 34)
    assert r.ranges[0].span == span(1, 25, 1, 33)
    node = module("f(x) = Σ_{i=0}^{n-1} x[i]^2 + 1").statements[0]
    assert isinstance(node, st.FuncDef)
    r = node.body.left
    assert isinstance(r, st.Reduce)
    assert r.span == span(1, 8, 1, 28)
    assert r.ranges[0].span == span(1, 11, 1, 20)
    assert r.ranges[0].var_span == span(1, 11, 1, 12)


@pytest.mark.parametrize(("text", "line", "col", "message"), [
    ("f(x) = Σ_{", 1, 8, "'Σ_{' was never closed"),
    ("f(x) = Σ_{i=0", 1, 8, "'Σ_{' was never closed"),
    ("f(x) = Σ_{i=0..", 1, 8, "'Σ_{' was never closed"),
    ("f(x) = Σ_{i=0}^{n", 1, 16, "'{' was never closed"),
    ("f(x) = ∑_{\n\n", 1, 8, "'∑_{' was never closed"),
    ("f(x) = Σ_{i=0}", 1, 15, "expected '^' and the last value of 'i' after 'Σ_{…}' (as in "
     "Σ_{i=0}^{n-1} x[i]), found end of file"),
    ("f(x) = Σ_{i=0} x", 1, 16, "expected '^' and the last value of 'i'"),
    ("f(x) = Σ_{i}^{2} x", 1, 12, "expected '=' after the index variable 'i' (as in "
     "Σ_{i=0}^{n-1} x[i]), found '}'"),
    ("f(x) = Σ_{2=0}^{2} x", 1, 11, "expected an index variable after 'Σ_{'"),
    ("f(x) = Σ_{i=0 1}^{2} x", 1, 15, "expected '}' or '..' after the first value of 'i'"),
    ("f(x) = Σ_{i=0}^(2) x", 1, 16, "expected the last value of 'i' after '^': a number, "
     "a name, or an integer expression in braces"),
    ("f(x) = Σ_{i=0}^{2}", 1, 18, "expected an expression after '}', found end of file"),
    ("f(x) = Σ_{i=0}^{2} * x", 1, 20, "expected an expression, found '*'"),
    ("f(x) = ∏_{i=x/2}^{2} x", 1, 14, "'/' is not allowed here"),
    ("f(x) = Σ_{i=0..2}^{3} x", 1, 18, "expected an expression, found '^'"),
    ("f(x) = Σ_{i=0}^{½} x", 1, 17, "expected the last value of 'i' (as in Σ_{i=0}^{n-1} "
     "x[i]), found '½'"),
])
def test_sum_errors(text: str, line: int, col: int, message: str) -> None:
    assert_error(text, line, col, message)


# ----------------------------------------------------------------- keywords


def test_keyword_arguments() -> None:
    assert expr("sum(A, axis=0)") == "(call sum A axis=0)"
    assert expr("softmax(A, axis = -1)") == "(call softmax A axis=(- 1))"
    assert expr("f(a, b, c=1, d=x+1)") == "(call f a b c=1 d=(+ x 1))"
    assert expr("g(axis=0)") == "(call g axis=0)"
    assert expr("g(a, x == 1)") == "(call g a (== x 1))"
    assert expr("fixpoint(z -> tanh(W @ z + U @ x), zeros(n), tol=1e-10, maxiter=200)") == (
        "(call fixpoint (-> z (call tanh (+ (@ W z) (@ U x)))) (call zeros n) tol=1e-10 "
        "maxiter=200)")
    node = module("f(A) = sum(A, axis=0)").statements[0]
    assert isinstance(node, st.FuncDef) and isinstance(node.body, st.Call)
    (k,) = node.body.keywords
    assert (k.name, k.span, k.value.span) == ("axis", span(1, 15, 1, 21), span(1, 20, 1, 21))
    assert node.body.span == span(1, 8, 1, 22)


@pytest.mark.parametrize(("text", "line", "col", "message"), [
    ("f(A) = sum(A, axis=0, axis=1)", 1, 23, "duplicate keyword argument 'axis'"),
    ("f(A) = sum(A, axis=0, A)", 1, 23, "a positional argument cannot follow a keyword "
     "argument ('axis=…'): keyword arguments come last"),
    ("f(A) = g(a=1, b=2, A + 1)", 1, 20, "a positional argument cannot follow"),
    ("f(A) = sum(A, axis=)", 1, 20, "expected an expression, found ')'"),
    ("f(A) = sum(A, axis=0]", 1, 21, "closing ']' does not match the '(' at line 1, "
     "column 11"),
    ("f(x) = where(x = 0, 1, x)", 1, 16, "found '='; a comparison is written '=='"),
    ("f(x) = (axis=0)", 1, 13, "expected ')' to close the '(' at line 1, column 8, found '='"),
    ("f(x) = [a=1]", 1, 10, "expected ',' or ']' to close the '[' at line 1, column 8"),
    ("f(A) = sum(A, 2=0)", 1, 16, "expected ',' or ')' to close the '('"),
])
def test_keyword_errors(text: str, line: int, col: int, message: str) -> None:
    assert_error(text, line, col, message)


# ------------------------------------------------------------------- slices


@pytest.mark.parametrize(("text", "expected"), [
    ("x[1:3]", "(idx x (: 1 3))"),
    ("x[:3]", "(idx x (: _ 3))"),
    ("x[1:]", "(idx x (: 1 _))"),
    ("x[:]", "(idx x (: _ _))"),
    ("W[i, :]", "(idx W i (: _ _))"),
    ("W[:, j]", "(idx W (: _ _) j)"),
    ("W[a+1:2*b, :n-1]", "(idx W (: (+ a 1) (* 2 b)) (: _ (- n 1)))"),
    ("W[1:, 0][:2]", "(idx (idx W (: 1 _) 0) (: _ 2))"),
    ("x[0] + x[1:2]", "(+ (idx x 0) (idx x (: 1 2)))"),
])
def test_slices(text: str, expected: str) -> None:
    assert expr(text) == expected


def test_slice_spans() -> None:
    node = module("f(W) = W[1:3, :, :2, 4:]").statements[0]
    assert isinstance(node, st.FuncDef) and isinstance(node.body, st.Index)
    assert [i.span for i in node.body.indices] == [
        span(1, 10, 1, 13), span(1, 15, 1, 16), span(1, 18, 1, 20), span(1, 22, 1, 24)]


@pytest.mark.parametrize(("text", "line", "col", "message"), [
    ("f(x) = [1:2]", 1, 10, "':' makes a slice (a:b), which may only be an index of an "
     "array, as in x[1:3] or W[:, 0]"),
    ("f(x) = x[1:2:3]", 1, 13, "a slice is a:b, with one ':' (a slice has no step)"),
    ("f(x) = x[::]", 1, 11, "a slice is a:b, with one ':'"),
    ("f(x) = x[1:2", 1, 9, "'[' was never closed"),
    ("f(x) = x[1:+]", 1, 13, "expected an expression, found ']'"),
])
def test_slice_errors(text: str, line: int, col: int, message: str) -> None:
    assert_error(text, line, col, message)


# ------------------------------------------------------------------ lambdas


def test_lambdas() -> None:
    assert expr("g(z -> z^2)") == "(call g (-> z (^ z 2)))"
    assert expr("g(z ↦ z^2, 1)") == "(call g (-> z (^ z 2)) 1)"
    assert expr("g(z -> z < 1 or z > 2, 0)") == \
        "(call g (-> z (or (< z 1) (> z 2))) 0)"
    assert expr("g(1, z -> sum(z[i] for i = 0..1))") == \
        "(call g 1 (-> z (sum (idx z i) (i 0 1))))"
    node = module("f(x) = g(zz -> zz + 1, 2)").statements[0]
    assert isinstance(node, st.FuncDef) and isinstance(node.body, st.Call)
    lam = node.body.args[0]
    assert isinstance(lam, st.Lambda)
    assert (lam.param, lam.param_span, lam.span) == ("zz", span(1, 10, 1, 12),
                                                     span(1, 10, 1, 22))


@pytest.mark.parametrize(("text", "line", "col"), [
    ("f(x) = x -> 1", 1, 10),
    ("f(x) = g((z) -> z)", 1, 14),
    ("f(x) = g(a + z -> 1)", 1, 16),
    ("f(x) = g(z -> w -> 1)", 1, 17),
    ("f(x) = g(k=z -> 1)", 1, 14),
    ("f(x) = (z -> z)", 1, 11),
    ("f(x) = g(z[0] -> 1)", 1, 15),
    ("f(x) = g(2 -> 1)", 1, 12),
    ("f(x) = g(z ↦ w ↦ 1)", 1, 16),
])
def test_arrow_elsewhere_is_an_error(text: str, line: int, col: int) -> None:
    arrow = text[col - 1]
    assert_error(text, line, col, f"'{'->' if arrow == '-' else arrow}' makes a function of "
                 "one name, written as an argument of a call: fixpoint(z -> tanh(W @ z + b), "
                 "zeros(n))")


# ------------------------------------------- the examples of the language section


def test_examples_of_the_iteration_section() -> None:
    got = statements(
        "T = 1000\nn = 8\nrnn(W[n,n], U[n,3], x[T,3]) = sum(W @ x[0] + U[0] @ x[1])")
    assert got[2] == "rnn(W[8][8] U[8][3] x[1000][3]) = (call sum (+ (@ W (idx x 0)) " \
        "(@ (idx U 0) (idx x 1))))"
    assert expr("sum(A[i,j]*x[j] for i = 0..n-1, j = 0..n-1)") == \
        "(sum (* (idx A i j) (idx x j)) (i 0 (- n 1)) (j 0 (- n 1)))"
    got = statements("n = 3\nz = fixpoint(z -> tanh(W @ z + U @ x), zeros(n), tol=1e-10, "
                     "maxiter=200)")
    assert got[1] == ("z = (call fixpoint (-> z (call tanh (+ (@ W z) (@ U x)))) "
                      "(call zeros n) tol=1e-10 maxiter=200)")
    assert expr("x[a:b] + x[:b] + x[a:] + x[:]") == \
        "(+ (+ (+ (idx x (: a b)) (idx x (: _ b))) (idx x (: a _))) (idx x (: _ _)))"
    assert expr("W[i, :] + W[:, j] + sum(A, axis=0) + sum(A, axis=-1)") == (
        "(+ (+ (+ (idx W i (: _ _)) (idx W (: _ _) j)) (call sum A axis=0)) "
        "(call sum A axis=(- 1)))")
    assert expr("sum(h[t]² for t = 1..T)") == "(sum (^ (idx h t) 2) (t 1 T))"
    assert expr("2*i + 1 + x[i+k, j]") == "(+ (+ (* 2 i) 1) (idx x (+ i k) j))"


# ---------------------------------------------------------------- hostile input

N = 10_000


def test_deeply_nested_big_sums_do_not_recurse() -> None:
    text = "f(x[2]) = " + "Σ_{i=0}^{1} " * N + "x[i]"
    start = time.perf_counter()
    with shallow_stack():
        (f,) = module(text).statements
        assert isinstance(f, st.FuncDef)
        node, levels = f.body, 0
        while isinstance(node, st.Reduce):
            node, levels = node.body, levels + 1
        assert levels == N and isinstance(node, st.Index)
    assert time.perf_counter() - start < 20


def test_deeply_nested_sum_calls_do_not_recurse() -> None:
    text = "f(x[2]) = " + "sum(" * N + "x[i]" + " for i = 0..1)" * N
    with shallow_stack():
        (f,) = module(text).statements
        assert isinstance(f, st.FuncDef)
        node, levels = f.body, 0
        while isinstance(node, st.Reduce):
            node, levels = node.body, levels + 1
        assert levels == N


def test_deep_lambdas_and_ranges_do_not_recurse() -> None:
    text = "f(x) = " + "g(z -> " * N + "z" + ")" * N
    with shallow_stack():
        (f,) = module(text).statements
    assert isinstance(f, st.FuncDef)
    text = "y[i] = 1 for i = " + "(" * N + "0" + ")" * N + ".." + "-" * N + "1"
    with shallow_stack():
        (y,) = module(text).statements
    assert isinstance(y, st.IndexedBinding)
    assert integer_value(y.ranges[0].start, {}) == 0
    assert integer_value(y.ranges[0].stop, {}) == 1


def test_nesting_limit_holds_for_big_sums() -> None:
    text = "f(x) = " + "Σ_{i=0}^1 " * 12_001 + "x"
    with pytest.raises(ChainccError, match="nested more than 12,000 levels"):
        module(text)


@pytest.mark.parametrize("text", [
    "f(x) = x[0........1]",
    "f(x) = " + ".." * 20_000,
    "y[i] = 1 for i = " + "0.." * 20_000,
    "f(x) = " + "Σ_{" * 5_000,
    "f(x) = Σ_{i=0}^{" + "(" * 5_000,
    "f(x) = sum(x for " + "i = 0..1, " * 10_000 + ")",
    "f(x) = " + "for " * 20_000,
    "f(x) = g(" + "z -> " * 20_000 + ")",
    "f(x) = x[" + ":" * 20_000 + "]",
    "f(x) = sum(x, " + "a=1, " * 10_000 + ")",
    "f(x) = g(x, " + ", ".join(f"a{i}=1" for i in range(30_000)) + ", 1)",
    "f(x) = sum(x for " + ", ".join(f"i{k} = 0..1" for k in range(16_000)) + ", i0 = 0..1)",
    "y[i] = 1 for i = " + "- " * 40_000 + "(" * 10_000 + "1" + ")" * 10_000 + "..",
])
def test_hostile_iteration_inputs_fail_quickly(text: str) -> None:
    start = time.perf_counter()
    with shallow_stack(), pytest.raises(ChainccError):
        module(text)
    assert time.perf_counter() - start < 20
    assert sys.getrecursionlimit() > 100
