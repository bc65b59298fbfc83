"""Lexer and parser: the examples of LANGUAGE.md, spans, every error path, deep nesting."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from chaincc import syntax as st
from chaincc.diagnostics import ChainccError
from chaincc.lexer import EOF, NAME, NEWLINE, NUMBER, OP, SUP, tokenize
from chaincc.parser import parse
from chaincc.source import Source, Span

# ------------------------------------------------------------------- helpers


def children(node: st.Node) -> list[st.Node]:
    match node:
        case st.Unary() | st.Not() | st.Transpose():
            return [node.operand]
        case st.Binary() | st.Compare() | st.BoolOp():
            return [node.left, node.right]
        case st.Call():
            return [node.func, *node.args]
        case st.Index():
            return [node.base, *node.indices]
        case st.ArrayLit():
            return list(node.items)
    return []


def render(node: st.Node, parts: list[str]) -> str:
    match node:
        case st.Num():
            return node.text
        case st.Name():
            return node.id
        case st.Binary():
            op = node.op + ("i" if node.implicit else "")
            return f"({op} {parts[0]} {parts[1]})"
        case st.Unary() | st.Compare() | st.BoolOp():
            return f"({node.op} {' '.join(parts)})"
        case st.Not():
            return f"(not {parts[0]})"
        case st.Transpose():
            return f"(T {parts[0]})"
        case st.Call():
            return f"(call {' '.join(parts)})"
        case st.Index():
            return f"(idx {' '.join(parts)})"
        case st.ArrayLit():
            return f"[{' '.join(parts)}]"
    raise AssertionError(f"unknown node {type(node).__name__}")


def tree_sexp(root: st.Node) -> str:
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


def depth(root: st.Node) -> int:
    deepest = 0
    todo = [(root, 1)]
    while todo:
        node, d = todo.pop()
        deepest = max(deepest, d)
        todo.extend((kid, d + 1) for kid in children(node))
    return deepest


def module(text: str) -> st.Module:
    return parse(Source("m.txt", text))


def sexp(expr: str) -> str:
    statement = module(f"r = {expr}").statements[0]
    assert isinstance(statement, st.Binding)
    return tree_sexp(statement.value)


def body(text: str) -> st.Node:
    statement = module(text).statements[0]
    return statement.body if isinstance(statement, st.FuncDef) else statement.value


def span(line: int, col: int, end_line: int, end_col: int) -> Span:
    return Span("m.txt", line, col, end_line, end_col)


@contextmanager
def shallow_stack(headroom: int = 80) -> Iterator[None]:
    """Run with a recursion limit just above the current depth, so recursion would fail."""
    frames, frame = 0, sys._getframe()
    while frame is not None:
        frames, frame = frames + 1, frame.f_back
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(frames + headroom)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


# -------------------------------------------------------------------- lexer


def kinds(text: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in tokenize(Source("m.txt", text))[:-1]]


def test_numbers_and_exponent_letters() -> None:
    assert kinds("2 0.5 .5 1e-3 2.5E+4 2e3") == [(NUMBER, t) for t in
                                                 ["2", "0.5", ".5", "1e-3", "2.5E+4", "2e3"]]
    assert kinds("2e") == [(NUMBER, "2"), (NAME, "e")]
    assert kinds("2ex") == [(NUMBER, "2"), (NAME, "ex")]
    assert kinds("2e+x") == [(NUMBER, "2"), (NAME, "e"), (OP, "+"), (NAME, "x")]
    assert kinds("2e-3x") == [(NUMBER, "2e-3"), (NAME, "x")]


def test_tokens_operators_keywords_superscripts() -> None:
    assert kinds("a**b <= c != d == e >= f") == [
        (NAME, "a"), (OP, "**"), (NAME, "b"), (OP, "<="), (NAME, "c"), (OP, "!="),
        (NAME, "d"), (OP, "=="), (NAME, "e"), (OP, ">="), (NAME, "f")]
    assert kinds("not andy and order or x") == [
        (OP, "not"), (NAME, "andy"), (OP, "and"), (NAME, "order"), (OP, "or"), (NAME, "x")]
    assert kinds("x²y⁻¹z¹⁰") == [(NAME, "x"), (SUP, "²"), (NAME, "y"), (SUP, "⁻¹"),
                                (NAME, "z"), (SUP, "¹⁰")]
    assert kinds("β_1 σ μ h_t x1") == [(NAME, n) for n in ["β_1", "σ", "μ", "h_t", "x1"]]


def test_statement_ends_and_continuations() -> None:
    assert kinds("a\nb;c") == [(NAME, "a"), (NEWLINE, "\n"), (NAME, "b"), (NEWLINE, ";"),
                               (NAME, "c")]
    assert kinds("a +  # note\nb") == [(NAME, "a"), (OP, "+"), (NAME, "b")]
    assert kinds("(a\n\nb)") == [(OP, "("), (NAME, "a"), (NAME, "b"), (OP, ")")]
    assert kinds("a and\nb") == [(NAME, "a"), (OP, "and"), (NAME, "b")]
    assert kinds("a'\nb") == [(NAME, "a"), (OP, "'"), (NEWLINE, "\n"), (NAME, "b")]


def test_columns_count_characters() -> None:
    tokens = tokenize(Source("m.txt", "β = σ²\n  μ"))
    assert [(t.span.line, t.span.col, t.span.end_col) for t in tokens] == [
        (1, 1, 2), (1, 3, 4), (1, 5, 6), (1, 6, 7), (1, 7, 8), (2, 3, 4), (2, 4, 5)]
    assert tokens[-1].kind == EOF


# ------------------------------------------------------------ expressions

EXPRESSIONS = [
    # numbers
    ("2", "2"), ("0.5", "0.5"), (".5", ".5"), ("1e-3", "1e-3"), ("2.5E+4", "2.5E+4"),
    ("2e3", "2e3"), ("2e", "(*i 2 e)"), ("2ex", "(*i 2 ex)"), ("2E", "(*i 2 E)"),
    # superscripts
    ("x²", "(^ x 2)"), ("y³", "(^ y 3)"), ("x⁻¹", "(^ x (- 1))"), ("x¹⁰", "(^ x 10)"),
    ("x⁺²", "(^ x (+ 2))"), ("(x+1)²", "(^ (+ x 1) 2)"), ("2x²", "(*i 2 (^ x 2))"),
    ("-x²", "(- (^ x 2))"), ("x²y³", "(*i (^ x 2) (^ y 3))"), ("sin(x)²", "(^ (call sin x) 2)"),
    ("x[0]²", "(^ (idx x 0) 2)"), ("x'²", "(^ (T x) 2)"),
    ("2^x²", "(^ 2 (^ x 2))"),
    # juxtaposition
    ("2x", "(*i 2 x)"), ("2 x", "(*i 2 x)"), ("3(x+1)", "(*i 3 (+ x 1))"),
    ("(x+1)(y-1)", "(*i (+ x 1) (- y 1))"), ("x(y+1)", "(call x (+ y 1))"),
    ("2sin(x)", "(*i 2 (call sin x))"), ("xy", "xy"), ("x y", "(*i x y)"),
    ("x y z", "(*i (*i x y) z)"), ("x 2", "(*i x 2)"), ("sin(x)(y)", "(*i (call sin x) y)"),
    ("2 -x", "(- 2 x)"), ("a/b c", "(*i (/ a b) c)"), ("2x^2", "(*i 2 (^ x 2))"),
    ("-2x", "(*i (- 2) x)"), ("2^x y", "(*i (^ 2 x) y)"),
    # precedence and associativity
    ("1 + 2 * 3", "(+ 1 (* 2 3))"), ("1 * 2 + 3", "(+ (* 1 2) 3)"),
    ("1 - 2 - 3", "(- (- 1 2) 3)"), ("a / b * c", "(* (/ a b) c)"),
    ("a * b / c", "(/ (* a b) c)"), ("2^3^2", "(^ 2 (^ 3 2))"), ("2**3**2", "(^ 2 (^ 3 2))"),
    ("2^3**2", "(^ 2 (^ 3 2))"), ("-x^2", "(- (^ x 2))"), ("2^-1", "(^ 2 (- 1))"),
    ("2^-x^2", "(^ 2 (- (^ x 2)))"), ("2^-x*3", "(* (^ 2 (- x)) 3)"), ("2^+x", "(^ 2 (+ x))"),
    ("- -x", "(- (- x))"), ("--x", "(- (- x))"), ("+x", "(+ x)"), ("a - -b", "(- a (- b))"),
    ("a * -b", "(* a (- b))"), ("-a * b", "(* (- a) b)"), ("-a + b", "(+ (- a) b)"),
    ("(a + b) * c", "(* (+ a b) c)"), ("a·b", "(* a b)"), ("a×b", "(* a b)"),
    ("a·b×c", "(* (* a b) c)"), ("a @ b + c", "(+ (@ a b) c)"), ("A @ B @ C", "(@ (@ A B) C)"),
    ("a @ b * c", "(* (@ a b) c)"), ("-x'", "(- (T x))"), ("(((x)))", "x"),
    # comparisons and logic
    ("a < b", "(< a b)"), ("a <= b", "(<= a b)"), ("a > b", "(> a b)"), ("a >= b", "(>= a b)"),
    ("a == b", "(== a b)"), ("a != b", "(!= a b)"), ("a + 1 <= 2b", "(<= (+ a 1) (*i 2 b))"),
    ("a < b and c > d", "(and (< a b) (> c d))"), ("a or b and c", "(or a (and b c))"),
    ("a or b or c", "(or (or a b) c)"), ("a and b and c", "(and (and a b) c)"),
    ("not a < b", "(not (< a b))"), ("not a and b", "(and (not a) b)"),
    ("not not a", "(not (not a))"), ("(a < b) == c", "(== (< a b) c)"),
    ("a < b and c > d or not e == f", "(or (and (< a b) (> c d)) (not (== e f)))"),
    ("where(x > 0 and y < 1, x, -y)", "(call where (and (> x 0) (< y 1)) x (- y))"),
    ("where(not (x > 0), 1, 2)", "(call where (not (> x 0)) 1 2)"),
    # arrays, indexing, transpose, calls
    ("[a, b, c]", "[a b c]"), ("[[a, b], [c, d]]", "[[a b] [c d]]"), ("[x]", "[x]"),
    ("[1, -2x, f(y)]", "[1 (*i (- 2) x) (call f y)]"), ("x[0]", "(idx x 0)"),
    ("W[1, 2]", "(idx W 1 2)"), ("x[i + 1]", "(idx x (+ i 1))"), ("x [0]", "(idx x 0)"),
    ("x[0][1]", "(idx (idx x 0) 1)"), ("[1, 2][0]", "(idx [1 2] 0)"), ("A'", "(T A)"),
    ("A''", "(T (T A))"), ("(A @ B)'", "(T (@ A B))"), ("A'B", "(*i (T A) B)"),
    ("A' @ x", "(@ (T A) x)"), ("f()", "(call f)"), ("f (x)", "(call f x)"),
    ("atan2(y, x)", "(call atan2 y x)"), ("max(a, b, c)", "(call max a b c)"),
    ("sum((relu(W @ x + b) - y)^2) / 2",
     "(/ (call sum (^ (- (call relu (+ (@ W x) b)) y) 2)) 2)"),
    # names
    ("β σ μ", "(*i (*i β σ) μ)"), ("π", "π"), ("h_t + x1", "(+ h_t x1)"),
    ("andy + order + note", "(+ (+ andy order) note)"),
]


@pytest.mark.parametrize(("text", "expected"), EXPRESSIONS)
def test_expression(text: str, expected: str) -> None:
    assert sexp(text) == expected


# ------------------------------------------------------------- statements


def statement_sexps(text: str) -> list[str]:
    out = []
    for s in module(text).statements:
        if isinstance(s, st.FuncDef):
            params = " ".join(p.name + "".join(f"[{n}]" for n in p.shape) for p in s.params)
            out.append(f"{s.name}({params}) = {tree_sexp(s.body)}")
        else:
            out.append(f"{s.name} = {tree_sexp(s.value)}")
    return out


def test_language_examples() -> None:
    assert statement_sexps("f(x, y) = (x² + xy)y³        # f = (x**2 + x*y) * y**3\n") == [
        "f(x y) = (*i (+ (^ x 2) xy) (^ y 3))"]
    assert statement_sexps("u = x^2 + x*y\nv = y^3\nf(x, y) = u*v\n") == [
        "u = (+ (^ x 2) (* x y))", "v = (^ y 3)", "f(x y) = (* u v)"]
    assert statement_sexps("sq(t) = t^2\ng(x) = sq(sin(x)) + 1        # helper call\n") == [
        "sq(t) = (^ t 2)", "g(x) = (+ (call sq (call sin x)) 1)"]
    assert statement_sexps("loss(W[2,3], b[2], x[3], y[2]) = sum((relu(W @ x + b) - y)^2) / 2") \
        == ["loss(W[2][3] b[2] x[3] y[2]) = "
            "(/ (call sum (^ (- (call relu (+ (@ W x) b)) y) 2)) 2)"]


def test_parameters_with_shapes() -> None:
    (f,) = module("f(x, v[3], W[2, 3], T[1,2,4]) = x").statements
    assert isinstance(f, st.FuncDef)
    assert [(p.name, p.shape) for p in f.params] == [
        ("x", ()), ("v", (3,)), ("W", (2, 3)), ("T", (1, 2, 4))]
    assert [p.span for p in f.params] == [span(1, 3, 1, 4), span(1, 6, 1, 10),
                                          span(1, 12, 1, 19), span(1, 21, 1, 29)]
    (g,) = module("g() = 1").statements
    assert isinstance(g, st.FuncDef) and g.params == ()


@pytest.mark.parametrize(("text", "expected"), [
    ("f(x) = x +  # note\n  1", ["f(x) = (+ x 1)"]),
    ("f(x) = x +\n\n# comment\n\n  1\n", ["f(x) = (+ x 1)"]),
    ("f(x) = (x\n  + 1)", ["f(x) = (+ x 1)"]),
    ("f(x) = sin(\n  x\n)\n", ["f(x) = (call sin x)"]),
    ("f(x) = [1,\n 2]", ["f(x) = [1 2]"]),
    ("f(x) =\n  x", ["f(x) = x"]),
    ("f(x,\n  y) = x", ["f(x y) = x"]),
    ("a = x and\n y", ["a = (and x y)"]),
    ("a = x ==\n y", ["a = (== x y)"]),
    ("a = x *\n y", ["a = (* x y)"]),
    ("a = x -\n y", ["a = (- x y)"]),
    ("a = 1; b = 2;; f(x) = x;", ["a = 1", "b = 2", "f(x) = x"]),
    ("# header\n\nf(x) = x # trailing\n\n\n", ["f(x) = x"]),
    ("a = 1\r\nb = 2\r\n", ["a = 1", "b = 2"]),
    ("\ufeffa = 1", ["a = 1"]),
])
def test_statements_and_continuation(text: str, expected: list[str]) -> None:
    assert statement_sexps(text) == expected


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", ";;", " ; \n ;"])
def test_empty_module(text: str) -> None:
    m = module(text)
    assert m.file == "m.txt" and m.statements == ()


# ------------------------------------------------------------------ spans


def test_statement_and_node_spans() -> None:
    (f,) = module("f(x) = x + 1").statements
    assert isinstance(f, st.FuncDef)
    assert f.span == span(1, 1, 1, 13) and f.name_span == span(1, 1, 1, 2)
    assert f.body.span == span(1, 8, 1, 13)
    (b,) = module("  βeta = 2").statements
    assert isinstance(b, st.Binding)
    assert b.span == span(1, 3, 1, 11) and b.name_span == span(1, 3, 1, 7)


def test_parenthesised_operand_spans() -> None:
    product = body("r = (a + b)*c")
    assert isinstance(product, st.Binary)
    assert product.span == span(1, 5, 1, 14)          # includes the "(" of its left operand
    assert product.left.span == span(1, 6, 1, 11)     # the sum itself excludes its parens
    multiline = body("f(x) = (x +\n  1)")
    assert multiline.span == span(1, 9, 2, 4)
    assert module("f(x) = (x +\n  1)").statements[0].span == span(1, 1, 2, 5)


def test_spans_of_each_node_kind() -> None:
    e = body("r = -sin(x)[0]' + [a, b] @ W[1,2] - x⁻¹")
    assert e.span == span(1, 5, 1, 40)
    assert isinstance(e, st.Binary) and isinstance(e.left, st.Binary)
    neg = e.left.left
    assert isinstance(neg, st.Unary) and neg.span == span(1, 5, 1, 16)
    transpose = neg.operand
    assert isinstance(transpose, st.Transpose) and transpose.span == span(1, 6, 1, 16)
    index = transpose.operand
    assert isinstance(index, st.Index) and index.span == span(1, 6, 1, 15)
    call = index.base
    assert isinstance(call, st.Call) and call.span == span(1, 6, 1, 12)
    assert call.func.span == span(1, 6, 1, 9)
    matmul = e.left.right
    assert isinstance(matmul, st.Binary) and matmul.span == span(1, 19, 1, 34)
    assert isinstance(matmul.left, st.ArrayLit) and matmul.left.span == span(1, 19, 1, 25)
    assert matmul.right.span == span(1, 28, 1, 34)
    power = e.right
    assert isinstance(power, st.Binary) and power.span == span(1, 37, 1, 40)
    assert isinstance(power.right, st.Unary) and power.right.span == span(1, 38, 1, 40)
    assert power.right.operand.span == span(1, 39, 1, 40)


def test_spans_of_logic_and_implicit_products() -> None:
    e = body("r = not a < b or 2x")
    assert isinstance(e, st.BoolOp) and e.span == span(1, 5, 1, 20)
    assert isinstance(e.left, st.Not) and e.left.span == span(1, 5, 1, 14)
    assert isinstance(e.left.operand, st.Compare) and e.left.operand.span == span(1, 9, 1, 14)
    assert isinstance(e.right, st.Binary) and e.right.implicit
    assert e.right.span == span(1, 18, 1, 20)
    sq = body("r = (x+1)²")
    assert sq.span == span(1, 5, 1, 11)


# ----------------------------------------------------------------- errors

ERRORS = [
    # lexical
    ("f(x) = x $ 1", 1, 10, "unexpected character '$'"),
    ("f(β) = β + ∑", 1, 12, "unexpected character '∑'"),
    ("f(x) = x ! y", 1, 10, "unexpected character '!'"),
    ("f(x) = x . y", 1, 10, "unexpected character '.'"),
    ("f(x) =\tx $", 1, 10, "unexpected character '$'"),
    ("_x = 1", 1, 1, "names beginning with '_' are reserved"),
    ("f(x) = x + _tmp", 1, 12, "names beginning with '_' are reserved"),
    ("f(x) = 2.x", 1, 9, "unexpected '.' after the number '2'"),
    ("f(x) = 1.2.3", 1, 11, "unexpected '.' after the number '1.2'"),
    ("f(x) = x ⁻", 1, 10, "superscript sign '⁻' must be followed by superscript digits"),
    ("f(x) = x⁻¹⁻¹", 1, 11, "superscript sign '⁻' may only open an exponent"),
    # expressions
    ("f(x) = )", 1, 8, "expected an expression, found ')'"),
    ("f(x) = *x", 1, 8, "expected an expression, found '*'"),
    ("f(x) = ²", 1, 8, "expected an expression, found '²'"),
    ("f(x) = 'x", 1, 8, "expected an expression, found '''"),
    ("f(x) = []", 1, 9, "expected an expression, found ']'"),
    ("f(x) = x[]", 1, 10, "expected an expression, found ']'"),
    ("f(x) = [1,]", 1, 11, "expected an expression, found ']'"),
    ("f(x) = g(x,)", 1, 12, "expected an expression, found ')'"),
    ("f(x) = x +\n  * 2", 2, 3, "expected an expression, found '*'"),
    ("f(x) = x +", 1, 10, "expected an expression after '+', found end of file"),
    ("f(x) = x +\n", 1, 10, "expected an expression after '+', found end of file"),
    ("f(x) = x + # note\n\n", 1, 10, "expected an expression after '+', found end of file"),
    ("f(x) =", 1, 6, "expected an expression after '=', found end of file"),
    ("f(x) = x + ; g(x) = x", 1, 10, "expected an expression after '+', found ';'"),
    ("a = not\nb = 1", 1, 5, "expected an expression after 'not', found end of line"),
    ("f(x) = x + not y", 1, 12, "'not' cannot follow '+' without parentheses"),
    ("f(x) = a < not b", 1, 12, "'not' cannot follow '<' without parentheses"),
    ("f(x) = a < b < c", 1, 14, "comparisons cannot be chained"),
    ("f(x) = a == b != c", 1, 15, "comparisons cannot be chained"),
    ("f(x) = a < b + 1 >= c", 1, 18, "comparisons cannot be chained"),
    ("f(x) = not a < b < c", 1, 18, "comparisons cannot be chained"),
    # brackets
    ("f(x) = (x + 1", 1, 8, "'(' was never closed"),
    ("f(x) = (x + 1\ng(x) = x\n", 1, 8, "'(' was never closed"),
    ("f(x) = sin(x\n", 1, 11, "'(' was never closed"),
    ("f(x) = (x +", 1, 8, "'(' was never closed"),
    ("f(x) = [1, 2", 1, 8, "'[' was never closed"),
    ("f(x) = x[0", 1, 9, "'[' was never closed"),
    ("f(x) = x\ng(x) = (x", 2, 8, "'(' was never closed"),
    ("f(x) = (x; g(x) = x", 1, 8, "'(' was never closed"),
    ("f(x = x", 1, 2, "'(' was never closed"),
    ("f(x[2 = x", 1, 4, "'[' was never closed"),
    ("f(x) = x + 1)", 1, 13, "unmatched ')'"),
    ("f(x) = x]", 1, 9, "unmatched ']'"),
    ("f(x) = x\n)", 2, 1, "unmatched ')'"),
    ("f(x) = (x]", 1, 10, "closing ']' does not match the '(' at line 1, column 8"),
    ("f(x) = x[0)", 1, 11, "closing ')' does not match the '[' at line 1, column 9"),
    ("f(x) = (x, 1)", 1, 10, "expected ')' to close the '(' at line 1, column 8, found ','"),
    ("f(x) = sin(x y = 2)", 1, 16,
     "expected ',' or ')' to close the '(' at line 1, column 11, found '='"),
    ("f(x) = [x not y]", 1, 11, "expected ',' or ']' to close the '[' at line 1, column 8"),
    # statements
    ("f(x) x^2", 1, 6, "expected '=' after the parameter list of 'f', found 'x'"),
    ("f(x)\n", 1, 5, "expected '=' after the parameter list of 'f', found end of line"),
    ("f(x)", 1, 5, "expected '=' after the parameter list of 'f', found end of file"),
    ("f(x) == x", 1, 6, "expected '=' after the parameter list of 'f', found '=='"),
    ("y x", 1, 3, "expected '=' after 'y', found 'x'"),
    ("y + 1 = 2", 1, 3, "expected '=' after 'y', found '+'"),
    ("a = x\ny", 2, 2, "expected '=' after 'y', found end of file"),
    ("2 = x", 1, 1, "expected a statement ('name(params) = expression' or 'name = expression')"),
    ("and = 1", 1, 1, "expected a statement ('name(params) = expression'"),
    ("f(x) = x\n  + 1", 2, 3, "found '+'; to continue an expression, end the previous line"),
    ("f(x) = x, 1", 1, 9, "unexpected ',' after the end of the statement"),
    ("f(x) = x = 1", 1, 10, "unexpected '=' after the end of the statement"),
    ("f(x) = x not y", 1, 10, "unexpected 'not' after the end of the statement"),
    # parameter lists
    ("f(2) = x", 1, 3, "expected a parameter name, found '2'"),
    ("f(x,) = x", 1, 5, "expected a parameter name, found ')'"),
    ("f(x y) = x", 1, 5, "expected ',' or ')' in the parameter list, found 'y'"),
    ("f(x + 1) = x", 1, 5, "expected ',' or ')' in the parameter list, found '+'"),
    ("f(x[0]) = x", 1, 5, "array sizes must be positive integers, found '0'"),
    ("f(x[2.5]) = x", 1, 5, "array sizes must be positive integers, found '2.5'"),
    ("f(x[1e3]) = x", 1, 5, "array sizes must be positive integers, found '1e3'"),
    ("f(x[-1]) = x", 1, 5, "array sizes must be positive integers, found '-'"),
    ("f(x[n]) = x", 1, 5, "'n' is not a size: a size is a binding of an integer"),
    ("f(x[]) = x", 1, 5, "array sizes must be positive integers, found ']'"),
    ("f(x[123456789012]) = x", 1, 5, "array size 123456789012 is too large"),
    ("f(x[2 3]) = x", 1, 7, "expected ',' or ']' in the array shape, found '3'"),
    ("f(x[2) = x", 1, 6, "expected ',' or ']' in the array shape, found ')'"),
    ("f(x, y, x) = x", 1, 9, "duplicate parameter 'x'"),
    ("f(x[2], x[3]) = x", 1, 9, "duplicate parameter 'x'"),
    # positions on later lines
    ("a = 1\n\nf(x) = x +\n  (y $ 2)", 4, 6, "unexpected character '$'"),
    ("a = 1\nb = 2\nf(x) = x ++ ", 3, 11, "expected an expression after '+', found end of file"),
]


@pytest.mark.parametrize(("text", "line", "col", "message"), ERRORS)
def test_error(text: str, line: int, col: int, message: str) -> None:
    with pytest.raises(ChainccError) as info:
        module(text)
    err = info.value
    assert (err.file, err.line, err.col) == ("m.txt", line, col), str(err)
    assert message in err.message
    rendered = str(err).split("\n")
    assert rendered[0] == f"m.txt:{line}:{col}: error: {err.message}"
    source_line = text.split("\n")[line - 1].rstrip("\r")
    assert rendered[1] == "    " + source_line.replace("\t", " ")
    assert rendered[2].startswith("    " + " " * (col - 1) + "^")


def test_error_caret_underlines_the_span() -> None:
    with pytest.raises(ChainccError) as info:
        module("f(x, y, x[3]) = x")
    assert str(info.value).split("\n")[2] == "    " + " " * 8 + "^~~~"


def test_second_duplicate_is_the_one_reported() -> None:
    with pytest.raises(ChainccError) as info:
        module("f(a, b, a, b) = a")
    assert info.value.col == 9


# ----------------------------------------------------------- deep nesting

N = 10_000


@pytest.mark.parametrize(("make", "expected_depth"), [
    (lambda: "(" * N + "x" + ")" * N, 1),
    (lambda: "sin(" * N + "x" + ")" * N, N + 1),
    (lambda: "-" * N + "x", N + 1),
    (lambda: "- " * N + "x", N + 1),
    (lambda: "2^" * N + "x", N + 1),
    (lambda: "2**" * N + "x", N + 1),
    (lambda: "x+" * N + "x", N + 1),
    (lambda: "x " * N + "x", N + 1),
    (lambda: "not " * N + "a < b", N + 2),
    (lambda: "[" * 16 + "(" * N + "x" + ")" * N + "]" * 16, 17),
    (lambda: "x" + "'" * N, N + 1),
    (lambda: "x" + "[0]" * N, N + 1),
    (lambda: "x" + "²" * 1 + "'²" * N, 2 * N + 2),
    (lambda: "f(" * N + "x, (1 + 2^-(x))" + ")" * N, N + 4),
])
def test_deep_nesting_without_recursion(make, expected_depth: int) -> None:
    limit = sys.getrecursionlimit()
    text = "f(x) = " + make()
    with shallow_stack():
        tree = module(text)
        e = tree.statements[0]
        assert isinstance(e, st.FuncDef)
        assert depth(e.body) == expected_depth
    assert sys.getrecursionlimit() == limit
    assert e.span == Span("m.txt", 1, 1, 1, len(text) + 1)


def test_deep_multiline_nesting_and_sexp() -> None:
    text = "f(x) = " + "(\n" * N + "x + 1" + "\n)" * N
    with shallow_stack():
        e = body(text)
        assert tree_sexp(e) == "(+ x 1)"
    assert e.span == Span("m.txt", N + 1, 1, N + 1, 6)
    assert module(text).statements[0].span.end_line == 2 * N + 1


def test_deep_unclosed_bracket_is_reported_without_recursion() -> None:
    with shallow_stack(), pytest.raises(ChainccError) as info:
        module("f(x) = " + "(" * N + "x")
    assert (info.value.line, info.value.col) == (1, 7 + N)
    assert "'(' was never closed" in info.value.message
