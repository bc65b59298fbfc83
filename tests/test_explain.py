"""`chaincc explain` and `chaincc graph`: the chain rule shown, and its numbers checked.

Golden outputs live in tests/golden/explain/. After an intended change to the output,
re-bless them with

    CHAINCC_BLESS=1 .venv/bin/python -m pytest tests/test_explain.py

and review the diff. Every number an explanation prints is checked against the compiled
gradient (fn.grad) and against sympy.diff, not against hand arithmetic.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from randsource import random_source

import chaincc
from chaincc.cli import main
from chaincc.derivation import derive
from chaincc.explain import FORMATS
from chaincc.functions import Sigmoid

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "explain"
BLESS = bool(os.environ.get("CHAINCC_BLESS"))
EXT = {"unicode": "txt", "ascii": "ascii.txt", "latex": "tex", "markdown": "md"}

# the seed samples, and the point each golden "_at" file is evaluated at
SEEDS = {"seed": {"x": 1.0, "y": 2.0}, "chain": {"x": 3.0}, "nested": {"x": 3.0}}


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if BLESS:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}; bless with CHAINCC_BLESS=1"
    assert text == path.read_text(encoding="utf-8"), f"output differs from {path}"


def sample(name: str) -> Path:
    return ROOT / "samples" / f"{name}.txt"


@pytest.fixture(scope="module")
def seeds() -> dict[str, chaincc.Function]:
    return {name: chaincc.compile(sample(name)) for name in SEEDS}


def gradient_block(text: str) -> dict[str, float]:
    """The numbers of the final "Gradient at ..." block of a unicode explanation."""
    block = text.split("\nGradient at ")[-1].splitlines()[1:]
    out = {}
    for line in block:
        m = re.fullmatch(r"\s+(\S+)\s+= (\S+)", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


# ------------------------------------------------------------------ golden files


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(SEEDS))
@pytest.mark.parametrize("with_point", [False, True], ids=["symbolic", "at"])
def test_golden_every_format(seeds, name: str, fmt: str, with_point: bool) -> None:
    at = SEEDS[name] if with_point else None
    text = seeds[name].explain(at=at, format=fmt)
    golden(f"{name}{'_at' if with_point else ''}.{EXT[fmt]}", text)


def test_seed_ends_at_the_gradient_32_44(seeds) -> None:
    text = seeds["seed"].explain(at={"x": 1, "y": 2})
    last = text.rstrip().splitlines()[-3:]
    assert [line.split() for line in last] == [["f", "=", "24"], ["∂f/∂x", "=", "32"],
                                               ["∂f/∂y", "=", "44"]]
    # the textbook decomposition and the path sum of the seed text
    for line in ["u = x² + xy", "v = y³", "f = uv", "∂f/∂u = v", "∂u/∂x = 2x + y",
                 "∂v/∂y = 3y²", "∂f/∂y = ∂f/∂u·∂u/∂y + ∂f/∂v·∂v/∂y", "= xy²(3x + 4y)"]:
        assert line in text


def test_binding_names_are_used() -> None:
    fn = chaincc.compile("a = x^2 + x*y\nb = y^3\nf(x, y) = a*b")
    text = fn.explain()
    assert "a = x² + xy" in text and "b = y³" in text and "f = ab" in text
    assert "∂f/∂y = ∂f/∂a·∂a/∂y + ∂f/∂b·∂b/∂y" in text


def test_generated_names_avoid_the_names_of_the_source() -> None:
    d = derive(chaincc.compile("f(u, v) = (u² + uv)v³").forward_program)
    names = [str(n.sym) for n in d.steps]
    assert names[-1] == "f" and not {"u", "v"} & set(names[:-1])
    # `a` and `z2` are array bindings (no per-element names); b1 and x[0] are inputs
    fn = chaincc.compile(sample("twolayer"))
    lines = fn.explain().split("\n2.")[0].splitlines()[3:]
    made_up = {line.split(" = ")[0].strip() for line in lines if " = " in line} - {"", "J"}
    assert len(made_up) == 11 and not made_up & {"a", "z2", "b", "x"}


# --------------------------------------------------------- numbers vs the compiler

def _oracle_source(rng: random.Random, depth: int) -> tuple[str, sp.Expr]:
    """A random smooth expression as source text and as a SymPy oracle."""
    xs = sp.symbols("x y z")
    if depth == 0 or rng.random() < 0.2:
        if rng.random() < 0.25:
            c = rng.choice([2, 3, 0.5])
            return str(c), sp.nsimplify(c)
        s = rng.choice(xs)
        return s.name, s
    kind = rng.choice(["+", "-", "*", "/", "^", "sin", "tanh", "sigmoid", "exp", "log",
                       "sqrt"])
    a, ea = _oracle_source(rng, depth - 1)
    if kind in "+-*/":
        b, eb = _oracle_source(rng, depth - 1)
        if kind == "/":
            return f"({a})/(1 + ({b})^2)", ea / (1 + eb ** 2)
        return f"({a}) {kind} ({b})", {"+": ea + eb, "-": ea - eb, "*": ea * eb}[kind]
    if kind == "^":
        return f"({a})^2", ea ** 2
    if kind in ("log", "sqrt"):
        return f"{kind}(1 + ({a})^2)", getattr(sp, kind)(1 + ea ** 2)
    if kind == "exp":
        return f"exp(sin({a}))", sp.exp(sp.sin(ea))
    if kind == "sigmoid":
        return f"sigmoid({a})", 1 / (1 + sp.exp(-ea))
    return f"{kind}({a})", getattr(sp, kind)(ea)


RANDOM = [_oracle_source(random.Random(seed), 4) for seed in range(6)]
NAMED = {
    "seedf": ("(x² + xy)y³", None),
    "swish": ("x·sigmoid(y·x)", None),
    "logistic": ("-(z·log(sigmoid(x + 2y)) + (1 - z)·log(1 - sigmoid(x + 2y)))", None),
    "rosen": ("(1 - x)² + 100(y - x²)²", None),
    "chainf": ("sqrt((2x)²) + x·sin(x·y)·exp(z)", None),
}


@pytest.fixture(scope="module")
def unit():
    """One source with every function, so one kernel module serves all the checks."""
    lines = [f"{n}(x, y, z) = {src}" for n, (src, _) in NAMED.items()]
    lines += [f"r{i}(x, y, z) = {src}" for i, (src, _) in enumerate(RANDOM)]
    return chaincc.compile_unit("\n".join(lines))


POINTS = [{"x": 0.7, "y": -1.3, "z": 0.4}, {"x": -0.2, "y": 0.9, "z": 1.5}]
FUNCS = list(NAMED) + [f"r{i}" for i in range(len(RANDOM))]


@pytest.mark.parametrize("name", FUNCS)
def test_printed_gradient_equals_compiled_gradient(unit, name: str) -> None:
    fn = unit.function(name)
    for at in POINTS:
        printed = gradient_block(fn.explain(at=at))
        value, grad = fn.value_and_grad(**at)
        assert printed[name] == pytest.approx(value, rel=1e-9, abs=1e-12)
        for p, g in zip(fn.params, grad):
            assert printed[f"∂{name}/∂{p}"] == pytest.approx(g, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("i", range(len(RANDOM)))
def test_values_and_local_partials_match_sympy(i: int, unit) -> None:
    """Every intermediate's value and every local partial derivative, against sympy.diff
    of the line it belongs to; the gradient against sympy.diff of the whole function."""
    fn = unit.function(f"r{i}")
    oracle = RANDOM[i][1]
    for at in POINTS:
        d = derive(fn.forward_program, at)
        values = {n.sym: sp.Float(n.value) for n in d.nodes.values()}
        for n in d.steps:
            plain = n.expr.replace(Sigmoid, lambda a: 1 / (1 + sp.exp(-a)))
            assert n.value == pytest.approx(float(plain.xreplace(values)), rel=1e-9,
                                            abs=1e-12)
            for x in n.inputs:
                want = float(sp.diff(plain, x).xreplace(values).evalf())
                assert n.partial_values[x] == pytest.approx(want, rel=1e-8, abs=1e-10)
        point = {sp.Symbol(k): v for k, v in at.items()}
        for p in d.params:
            want = float(sp.diff(oracle, p).xreplace(point).evalf())
            assert d.nodes[p].adjoint == pytest.approx(want, rel=1e-8, abs=1e-10)


def test_every_builtin_explains_in_every_format() -> None:
    """Random sources over every scalar built-in (conditions, max/min, sign, big constants):
    every format renders, and where the compiled gradient is finite the derivation's
    agrees with it. (Where it is not, the compiled code may send 0·nan from a branch that
    max/min/where did not pick; the derivation sends nothing, as LANGUAGE.md specifies.)"""
    unit = chaincc.compile_unit(random_source(7, 25))
    agreed = 0
    for name in unit.names:
        fn = unit.function(name)
        for at in POINTS:
            texts = [fn.explain(at=at, format=fmt) for fmt in FORMATS]
            assert all(texts) and fn.graph(at=at)
            d = derive(fn.forward_program, at)
            mine = [d.nodes[s].adjoint for s in d.params]
            value, grad = fn.value_and_grad(**at)
            assert d.nodes[d.out].value == pytest.approx(value, rel=1e-9, nan_ok=True)
            for m, g in zip(mine, grad):
                if np.isfinite(g):
                    assert m == pytest.approx(g, rel=1e-9, abs=1e-12)
                    agreed += 1
    assert agreed > 100


def test_array_parameters_and_routing_through_max() -> None:
    fn = chaincc.compile(sample("maxpool"))
    X = (np.arange(16.0).reshape(4, 4) * 7) % 5
    at = {"X": X, "W": np.array([[1.0, 2.0], [3.0, 4.0]]), "y": 1.0}
    printed = gradient_block(fn.explain(at=at))
    gX, gW, gy = fn.grad(**at)
    for (i, j), g in np.ndenumerate(gX):
        assert printed[f"∂loss/∂X[{i},{j}]"] == pytest.approx(g)
    assert printed["∂loss/∂y"] == pytest.approx(gy)
    assert "W[0,0]" in fn.explain(format="latex")        # an element, as LaTeX reads it


# ------------------------------------------------------------- large programs

T = 60


@pytest.fixture(scope="module")
def rnn() -> chaincc.Function:
    lines = ["h1 = tanh(u·x1)"]
    lines += [f"h{t} = tanh(w·h{t - 1} + u·x{t})" for t in range(2, T + 1)]
    lines.append(f"loss(w, u, {', '.join(f'x{t}' for t in range(1, T + 1))}) = h{T}²")
    return chaincc.compile("\n".join(lines))


def rnn_reference(w: float, u: float, xs: np.ndarray) -> dict[str, float]:
    """Backpropagation through time written out with NumPy."""
    hs = [0.0]
    for x in xs:
        hs.append(np.tanh(w * hs[-1] + u * x))
    grads = {"w": 0.0, "u": 0.0}
    dh = 2 * hs[-1]
    for t in range(len(xs), 0, -1):
        da = dh * (1 - hs[t] ** 2)
        grads["w"] += da * hs[t - 1]
        grads["u"] += da * xs[t - 1]
        grads[f"x{t}"] = da * u
        dh = da * w
    return grads


def test_large_program_is_summarised_unless_full(rnn) -> None:
    xs = np.sin(np.arange(1, T + 1))
    at = {"w": 0.9, "u": 0.7, **{f"x{t}": xs[t - 1] for t in range(1, T + 1)}}
    ref = rnn_reference(0.9, 0.7, xs)
    short, full = rnn.explain(at=at), rnn.explain(at=at, full=True)
    ops = len(rnn.forward_program.body)
    assert f"120 intermediates from {ops} single operations" in short
    assert "… 110 more intermediates …" in short and "more intermediates" not in full
    assert len(short.splitlines()) < 150 < 600 < len(full.splitlines())
    for t in range(1, T + 1):
        assert f"h{t}" in full
    assert "h30 " not in short
    for text, expect in ((short, 10), (full, T + 2)):
        printed = gradient_block(text)
        grads = {k.split("/∂")[1]: v for k, v in printed.items() if "/∂" in k}
        assert len(grads) == expect
        for k, v in grads.items():
            assert v == pytest.approx(ref[k], rel=1e-9, abs=1e-300)


# ------------------------------------------------------------------- the graph


def dot_parts(text: str) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    nodes = re.findall(r"^  (n\d+) \[", text, re.M)
    forward = re.findall(r"^  (n\d+) -> (n\d+);$", text, re.M)
    adjoint = re.findall(r"^  (n\d+) -> (n\d+) \[style=dashed", text, re.M)
    return nodes, forward, adjoint


def test_dot_structure(seeds) -> None:
    text = seeds["seed"].graph(at={"x": 1, "y": 2})
    nodes, forward, adjoint = dot_parts(text)
    assert len(nodes) == 5                        # x, y, u, v, f
    assert len(forward) == len(adjoint) == 5      # one adjoint edge back along each one
    assert sorted(adjoint) == sorted((b, a) for a, b in forward)
    assert text.count("style=dashed") == 5 and "constraint=false" in text
    assert '"x\\n= 1\\n∂f/∂x = 32"' in text and '"y\\n= 2\\n∂f/∂y = 44"' in text
    assert '"f = uv\\n= 24", peripheries=2' in text
    assert text == seeds["seed"].graph(at={"x": 1, "y": 2})       # deterministic
    golden("seed_at.dot", text)
    plain = seeds["chain"].graph()
    nodes, forward, adjoint = dot_parts(plain)
    assert len(nodes) == 4 and len(forward) == len(adjoint) == 3     # x → h → g → f
    assert "\\n= " not in plain                     # no values without a point


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz's dot is not installed (Debian package graphviz)")
def test_svg_is_drawn_with_graphviz(tmp_path: Path, capsys) -> None:
    out = tmp_path / "graph.svg"
    assert main(["graph", str(sample("seed")), "-o", str(out), "--at", "x=1,y=2"]) == 0
    svg = out.read_text(encoding="utf-8")
    assert "<svg" in svg and "∂f/∂y = 44" in svg
    assert capsys.readouterr().out.strip() == f"wrote {out}"


def test_without_graphviz_the_dot_text_is_written(tmp_path: Path, capsys,
                                                  monkeypatch) -> None:
    monkeypatch.setattr("chaincc.graph.shutil.which", lambda name: None)
    out = tmp_path / "graph.png"
    assert main(["graph", str(sample("seed")), "-o", str(out)]) == 0
    assert not out.exists()
    assert dot_parts((tmp_path / "graph.dot").read_text(encoding="utf-8"))[0]
    assert "apt-get install graphviz" in capsys.readouterr().out


def test_graph_to_dot_file_and_stdout(tmp_path: Path, capsys, seeds) -> None:
    out = tmp_path / "g.dot"
    assert main(["graph", str(sample("seed")), "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == seeds["seed"].graph()
    capsys.readouterr()
    assert main(["graph", str(sample("seed"))]) == 0
    assert capsys.readouterr().out == seeds["seed"].graph()
    assert main(["graph", str(sample("seed")), "-o", str(tmp_path / "g.jpg")]) == 1
    assert "use a file name ending in .svg, .png or .dot" in capsys.readouterr().err


# ------------------------------------------------------------------------ CLI, API


def test_cli_explain_in_process(capsys) -> None:
    assert main(["explain", str(sample("seed")), "--at", "x=1,y=2"]) == 0
    golden("seed_at.txt", capsys.readouterr().out)
    assert main(["explain", str(sample("chain")), "--format", "latex"]) == 0
    golden("chain.tex", capsys.readouterr().out)
    assert main(["explain", str(sample("nested")), "--entry", "g", "--format", "ascii"]) == 0
    assert capsys.readouterr().out.startswith("g(h) = h + 1\n")


@pytest.mark.parametrize("argv, message", [
    (["--at", "x=1"], "--at gives no value for y"),
    (["--at", "x=1,q=2"], "'q' is not a parameter"),
    (["--at", "x=1,y=two"], "'two' is not a number"),
    (["--entry", "nope"], "no function 'nope'"),
])
def test_cli_errors(capsys, argv: list[str], message: str) -> None:
    assert main(["explain", str(sample("seed")), *argv]) == 1
    assert message in capsys.readouterr().err


def test_cli_usage_errors(capsys) -> None:
    assert main(["explain", str(sample("seed")), "--format", "html"]) == 2
    assert main(["explain"]) == 2


def test_api_errors() -> None:
    fn = chaincc.compile("f(x, y) = x*y")
    with pytest.raises(ValueError, match="unknown format"):
        fn.explain(format="rtf")
    with pytest.raises(chaincc.ChainccError, match="no value given for y"):
        fn.explain(at={"x": 1})
    with pytest.raises(chaincc.ChainccError, match="must be a number"):
        fn.explain(at={"x": 1, "y": [1, 2]})
    vec = chaincc.compile("g(x[2]) = [x[0]², x[1]]")
    assert "is vector-valued, with 2 outputs g[0] to g[1]" in vec.explain()
    with pytest.raises(chaincc.ChainccError, match="out of range"):
        vec.explain(output=2)
    with pytest.raises(chaincc.ChainccError, match="scalar function"):
        fn.explain(output=0)
    assert vec._repr_latex_().startswith("$$g")


def test_repr_latex(seeds) -> None:
    tex = seeds["seed"]._repr_latex_()
    assert tex.startswith("$$\\begin{aligned}") and tex.endswith("\\end{aligned}$$")
    assert "f\\left(x, y\\right) &= y^{3} \\left(x^{2} + x y\\right)" in tex
    assert "\\frac{\\partial f}{\\partial x} &= y^{3} \\left(2 x + y\\right)" in tex
    assert "\\frac{\\partial f}{\\partial y} &= x y^{2} \\left(3 x + 4 y\\right)" in tex
