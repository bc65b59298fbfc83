"""The LaTeX chaincc writes: it reads back to the same function, and it is valid TeX.

For every sample, ``explain(format="latex")`` (the derivation's first row or its forward
pass defines the function) and the Jupyter LaTeX ``_repr_latex_`` are read back with the
LaTeX reader and compared with the original in value and gradient at random points. Every
LaTeX text chaincc writes (explain in LaTeX and Markdown, the Jupyter LaTeX), for the
samples and for programs that use every built-in and awkward names, is parsed by KaTeX
(run by node; .ci/run installs it in .ci/node_modules), or failing that by a LaTeX engine.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

import chaincc
from chaincc.latex import NotComputable

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted(p.stem for p in (ROOT / "samples").glob("*.txt"))
# Explanations that are read back as sources: those of straight-line programs. A loop is
# explained once, in loop form (h̄[t] = ...), which states the chain rule rather than a
# program; and depthwise_separable's 252 elements, each its own sum, explain in more
# tokens than a source may hold.
READ_BACK = [n for n in SAMPLES
             if n not in ("depthwise_separable", "implicit_layer", "lstm_sequence")]
KATEX = ROOT / ".ci" / "node_modules" / "katex"


@pytest.fixture(scope="module")
def samples() -> dict[str, chaincc.Function]:
    return {name: chaincc.compile(ROOT / "samples" / f"{name}.txt") for name in SAMPLES}


def arguments(fn: chaincc.Function, seed: int) -> list:
    rng = np.random.default_rng(seed)

    def draw(shape: tuple[int, ...]):
        v = rng.uniform(0.1, 0.9, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        return v if shape else float(v)

    return [draw(s) for s in fn.shapes]


def read_back(tex: str) -> chaincc.Function:
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # chaincc's own LaTeX is never ambiguous
        return chaincc.compile(tex, syntax="latex")


def assert_same(fn: chaincc.Function, back: chaincc.Function, seed: int) -> None:
    assert back.name == fn.name and back.shapes == fn.shapes and \
        len(back.params) == len(fn.params)
    for k in range(3):
        args = arguments(fn, seed + k)
        v1, g1 = fn.value_and_grad(*args)
        v2, g2 = back.value_and_grad(*args)
        assert v2 == pytest.approx(v1, rel=1e-12, abs=1e-14, nan_ok=True)
        for a, b in zip(g1, g2):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", READ_BACK)
def test_explain_latex_reads_back(samples, name: str) -> None:
    fn = samples[name]
    summarised = len(fn.forward_program.body) > 40 and "more intermediates" in \
        fn.explain(format="latex")
    if summarised:
        # a summary leaves rows out: reading it is refused, the full text reads back
        with pytest.raises(NotComputable, match="leaves steps out"):
            read_back(fn.explain(format="latex"))
    assert_same(fn, read_back(fn.explain(format="latex", full=summarised)), 1)
    at = dict(zip(fn.params, arguments(fn, 9)))
    assert_same(fn, read_back(fn.explain(format="latex", at=at, full=True)), 2)


@pytest.mark.parametrize("name", READ_BACK)
def test_jupyter_latex_reads_back(samples, name: str) -> None:
    fn = samples[name]
    assert_same(fn, read_back(fn._repr_latex_()), 3)


def test_what_is_read() -> None:
    # with a short formula the first row defines the function ...
    seed = chaincc.compile(ROOT / "samples" / "seed.txt")
    assert seed.explain(format="latex").splitlines()[2] == \
        "f\\left(x, y\\right) &= y^{3} \\left(x^{2} + x y\\right)"
    # ... without one, the declaration f(...)\colon and the forward pass define it
    attention = chaincc.compile(ROOT / "samples" / "attention.txt")
    head = attention.explain(format="latex").splitlines()[2]
    assert head == ("& \\mathrm{loss}\\left(q \\in \\mathbb{R}^{2}, K \\in \\mathbb{R}^{3 "
                    "\\times 2}, V \\in \\mathbb{R}^{3 \\times 2}, t \\in \\mathbb{R}^{2}"
                    "\\right)\\colon")
    assert "\\\\ \\mathrm{loss} &= " in attention._repr_latex_()


def test_names_digits_and_elements_are_valid_tex() -> None:
    twolayer = chaincc.compile(ROOT / "samples" / "twolayer.txt")
    tex = twolayer.explain(format="latex")
    assert "W_{1}[0,0]" in tex and "}_{" not in tex        # was W_{1}_{0,0}
    assert "\\intertext" not in tex                         # amsmath only


AWKWARD = [
    "f(x, y) = relu(x) + softplus(y) + gelu(x) + atan2(x, y) + hypot(x, y) + sign(x)",
    "f(x, y) = lgamma(x*x + 1) + erf(x) + erfc(y) + cbrt(x) + log(x*x + 1, 3) + log2(y*y+1)",
    "f(x, y) = expm1(x) + log1p(y*y) + abs(x) + asinh(x) + acosh(x*x + 2) + pow(x*x + 1, y)",
    "f(x, y) = sin(x)^2 + cos(y) + tan(x) + asin(y/3) + acos(x/3) + atan(x) + log10(x*x+1)",
    "f(x, y) = where(x > 0 and not (y <= 1) or x == y, x, y^2) + max(x, y, 1) + min(x, 2y)",
    "f(x, y) = where(x != y, exp(x), sqrt(y*y + 1)) + sigmoid(x - y) + floor(x) + ceil(y)",
    "f(x) = x/sqrt(2) + 1e-7*x + 1.5e300*x + x^(1/3) + x*sigmoid(-1.5)",
    "f(σ, x) = σ*sigmoid(x) + σ^2",
    "f(e, x) = e*exp(x) + e^x",
    "f(λ, Α, ŷ, é, x̄) = λ*Α + ŷ*é + x̄",
    "f(x_, a__b, h_t1, W1_t, loss2) = x_ + a__b*h_t1 - W1_t*loss2",
    "f(β[2], W1[2,2]) = sum(W1 @ β) + β[0]^2",
]


@pytest.mark.parametrize("i", range(len(AWKWARD)))
def test_awkward_programs_read_back(i: int) -> None:
    fn = chaincc.compile(AWKWARD[i])
    assert_same(fn, read_back(fn._repr_latex_()), 10 + i)
    assert_same(fn, read_back(fn.explain(format="latex")), 20 + i)


# ------------------------------------------------------------- valid TeX (KaTeX)


def math_of(text: str, kind: str) -> list[str]:
    """The math of one LaTeX text chaincc writes, as KaTeX takes it: an explanation's
    align* blocks whole, its prose as \\text{…} (which holds its $…$); the Jupyter
    LaTeX without its $$; Markdown's $…$."""
    if kind == "repr":
        return [text.strip().removeprefix("$$").removesuffix("$$")]
    if kind == "markdown":
        return re.findall(r"\$([^$]+)\$", text)
    out: list[str] = []
    block: list[str] | None = None
    for line in text.splitlines():
        if block is not None:
            block.append(line)
            if line == "\\end{align*}":
                out.append("\n".join(block))
                block = None
        elif line == "\\begin{align*}":
            block = [line]
        elif line.strip() and not line.startswith("%"):
            out.append(f"\\text{{{line}}}")
    assert block is None
    return out


def written_latex() -> list[str]:
    """Every kind of LaTeX text chaincc writes, for the samples and the awkward
    programs, with and without a point."""
    out: list[str] = []
    programs = [chaincc.compile(ROOT / "samples" / f"{n}.txt") for n in SAMPLES]
    programs += [chaincc.compile(src) for src in AWKWARD]
    programs.append(chaincc.compile("g(x[2]) = [x[0]^2, sin(x[1])]"))     # vector-valued
    for k, fn in enumerate(programs):
        texts = [(fn._repr_latex_(), "repr")]
        if not fn.out_shape:
            at = dict(zip(fn.params, arguments(fn, 30 + k)))
            texts += [(fn.explain(format="latex"), "latex"),
                      (fn.explain(format="latex", full=True, at=at), "latex"),
                      (fn.explain(format="markdown", at=at), "markdown")]
        for text, kind in texts:
            out += math_of(text, kind)
    return out


def _katex() -> Path | None:
    if KATEX.is_dir():
        return KATEX
    if shutil.which("npm") and shutil.which("node"):
        subprocess.run(["npm", "install", "--prefix", str(ROOT / ".ci"), "--no-save",
                        "--no-package-lock", "--no-audit", "--no-fund", "katex@0.16.47"],
                       capture_output=True, timeout=300, check=False)
    return KATEX if KATEX.is_dir() and shutil.which("node") else None


def test_every_latex_text_chaincc_writes_parses(tmp_path: Path) -> None:
    formulas = written_latex()
    assert len(formulas) > 1000
    katex = _katex()
    if katex is not None:
        run = subprocess.run(["node", str(ROOT / "tests" / "katex_check.js"), str(katex)],
                             input=json.dumps(formulas), capture_output=True, text=True,
                             timeout=600, check=True)
        rejected = [(tex, err) for tex, err in zip(formulas, json.loads(run.stdout)) if err]
        assert not rejected, rejected[:5]
        return
    engine = next((e for e in ("pdflatex", "lualatex", "xelatex") if shutil.which(e)), None)
    if engine is None:
        pytest.skip("neither KaTeX (node and npm, or .ci/node_modules/katex) nor a LaTeX "
                    "engine (pdflatex, lualatex, xelatex) could be found or installed")
    parts = []
    for tex in formulas:
        if tex.startswith("\\text{"):
            parts.append(tex[len("\\text{"):-1] + "\n")        # prose
        elif tex.startswith("\\begin{align*}"):
            parts.append(tex)
        else:
            parts.append(f"\\[{tex}\\]")
    (tmp_path / "all.tex").write_text(
        "\\documentclass{article}\\usepackage{amsmath,amssymb}\n\\begin{document}\n"
        + "\n".join(parts) + "\n\\end{document}\n", encoding="utf-8")
    run = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", "all.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         check=False)
    assert run.returncode == 0, run.stdout[-3000:]
