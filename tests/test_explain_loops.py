"""`chaincc explain` and `chaincc graph` for loops: a loop's chain rule shown once, in loop
form, and its numbers checked.

The numbers an explanation prints at a point are checked against values computed here
without chaincc's loop machinery: the recurrence stepped forward and backward by hand in
Python floats (math.tanh, math.exp), and the gradient of the unrolled source (every step
written out, tests/iteration_cases.py style) compiled by chaincc.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest
from iteration_cases import all_cases, rnn_scalar, squared_error

import chaincc
import chaincc.iterate as iterate
from chaincc import loop_values
from chaincc.cli import main
from chaincc.explain import FORMATS, explain
from chaincc.graph import to_dot, write
from chaincc.ir import Loop, walk
from chaincc.pipeline import pipeline
from chaincc.source import Source

RNN = ("T = 100\nh[0] = 0\nh[t+1] = tanh(w·h[t] + u·x[t])   for t = 0..T-1\n"
       "loss(w, u, x[T]) = h[T]²\n")


@pytest.fixture
def loops(monkeypatch):
    """Every sum and recurrence compiled as a loop, however short."""
    monkeypatch.setattr(iterate, "UNROLL_ITERATIONS", 0)


def forward(text: str):
    return pipeline(Source("t.txt", text))[-1].forward


def shown(text: str) -> dict[str, tuple[str, float]]:
    """The rows of an explanation that give a value alone (``lhs = 0.25`` or
    ``lhs += 0.25``): lhs -> (operator, value)."""
    out = {}
    for line in text.splitlines():
        m = re.fullmatch(r"\s+(\S+)\s+(\+?=) (-?[0-9.]+(?:e[-+]?[0-9]+)?|-?inf|nan)",
                         line)
        if m:
            out[m.group(1)] = (m.group(2), float(m.group(3)))
    return out


def flat(text: str) -> str:
    """The text with every run of spaces and line breaks as one space (rows are aligned
    in columns, and a row's formulas continue on the next lines)."""
    return " ".join(text.split())


def gradient_block(text: str) -> dict[str, float]:
    block = text.split("\nGradient at ")[-1].splitlines()[1:]
    return {k: v for k, (_, v) in shown("\n".join(block)).items()}


def close_6(printed: float, want: float) -> bool:
    """A number printed with 6 significant digits."""
    return abs(printed - want) <= 6e-6 * abs(want) + 1e-300


def rnn_by_hand(w: float, u: float, x: list[float]):
    """The RNN's states and adjoints, stepped in Python floats."""
    h = [0.0]
    for xt in x:
        h.append(math.tanh(w * h[-1] + u * xt))
    T = len(x)
    bar = [0.0] * (T + 1)
    bar[T] = 2 * h[T]
    gx = [0.0] * T
    for t in range(T - 1, -1, -1):
        d = bar[t + 1] * (1 - h[t + 1] ** 2)
        bar[t] = d * w
        gx[t] = d * u
    return h, bar, gx


# ------------------------------------------------------------------ the RNN of the brief

def test_rnn_is_explained_once_in_loop_form() -> None:
    text = chaincc.compile(RNN).explain()
    for line in ["loss(w, u, x) = h[100]²",
                 "h[0]   = 0",
                 "h[t+1] = tanh(h[t]·w + u·x[t]),  t = 0..99",
                 "∂h[t+1]/∂h[t] = w(1 - h[t+1]²),  t = 0..99",
                 "h̄[100]      = ∂loss/∂h[100]",
                 "= 2h[100]",
                 "h̄[t]        = h̄[t+1]·∂h[t+1]/∂h[t]",
                 "= h̄[t+1]·w(1 - h[t+1]²),  t = 99 down to 0",
                 "∂loss/∂x[t] = h̄[t+1]·∂h[t+1]/∂x[t]",
                 "= h̄[t+1]·u(1 - h[t+1]²),  t = 0..99",
                 "∂loss/∂w    = Σ_{t=0}^{99} h̄[t+1]·∂h[t+1]/∂w",
                 "= Σ_{t=0}^{99} h̄[t+1]·h[t]·(1 - h[t+1]²)",
                 "∂loss/∂u    = Σ_{t=0}^{99} h̄[t+1]·∂h[t+1]/∂u"]:
        assert line in text, line
    # the step once, never a block per iteration: no state at a concrete step but the
    # start and the result
    assert text.count("tanh(") == 1
    assert set(re.findall(r"h\[(\d+)\]", text)) == {"0", "100"}


def test_rnn_numbers_at_a_point_match_the_recurrence_stepped_by_hand() -> None:
    rng = np.random.default_rng(3)
    w, u, x = 0.7, -0.4, rng.normal(size=100)
    fn = chaincc.compile(RNN)
    text = fn.explain(at={"w": w, "u": u, "x": x})
    h, bar, gx = rnn_by_hand(w, u, list(x))
    rows = shown(text)
    expected = {"h[1]": h[1], "h[100]": h[100], "h̄[99]": bar[99], "h̄[0]": bar[0],
                "∂loss/∂x[0]": gx[0], "∂loss/∂x[99]": gx[99],
                "∂h[1]/∂h[0]": w * (1 - h[1] ** 2), "∂h[100]/∂h[99]": w * (1 - h[100] ** 2),
                "h̄[1]·∂h[1]/∂w": bar[1] * (1 - h[1] ** 2) * h[0],
                "h̄[100]·∂h[100]/∂w": bar[100] * (1 - h[100] ** 2) * h[99]}
    for name, want in expected.items():
        assert close_6(rows[name][1], want), (name, rows[name], want)
    # the totals, to the last digit, against the unrolled source compiled by chaincc
    unrolled = chaincc.compile(rnn_scalar(100).unrolled)
    value, (gw, gu, gxs) = unrolled.value_and_grad(w, u, x)
    grads = gradient_block(text)
    assert grads["loss"] == pytest.approx(value, rel=1e-12)
    assert grads["∂loss/∂w"] == pytest.approx(gw, rel=1e-12)
    assert grads["∂loss/∂u"] == pytest.approx(gu, rel=1e-12)
    assert sum(bar[t + 1] * (1 - h[t + 1] ** 2) * h[t] for t in range(100)) == \
        pytest.approx(gw, rel=1e-12)
    assert np.allclose(gx, gxs, rtol=1e-12, atol=1e-300)


def test_rnn_cli_explain_and_graph(tmp_path: Path, capsys) -> None:
    src = tmp_path / "rnn.txt"
    src.write_text(RNN, encoding="utf-8")
    xs = ",".join(f"{0.01 * k - 0.5:.2f}" for k in range(100))
    assert main(["explain", str(src), "--at", f"w=0.5,u=0.3,x=[{xs}]"]) == 0
    out = capsys.readouterr().out
    assert "h̄[t] " in out and "Gradient at w = 0.5, u = 0.3, x = [-0.5, -0.49" in out
    assert main(["graph", str(src)]) == 0
    dot = capsys.readouterr().out
    assert dot.count("subgraph cluster_") == 1 and dot.count("tanh(") == 1


# ------------------------------------------------------------------ two states: h and c

def two_state(T: int) -> tuple[str, str]:
    looped = (f"T = {T}\nh[0] = 0.5\nc[0] = 0.25\n"
              "c[t+1] = sigmoid(a·h[t] + x[t])·c[t] + tanh(b·h[t])   for t = 0..T-1\n"
              "h[t+1] = tanh(c[t+1])·sigmoid(w·h[t])   for t = 0..T-1\n"
              "loss(a, b, w, x[T]) = h[T]² + c[T]\n")
    lines = ["h0 = 0.5", "c0 = 0.25"]
    for t in range(T):
        lines.append(f"c{t + 1} = sigmoid(a*h{t} + x[{t}])*c{t} + tanh(b*h{t})")
        lines.append(f"h{t + 1} = tanh(c{t + 1})*sigmoid(w*h{t})")
    unrolled = "\n".join(lines) + f"\nloss(a, b, w, x[{T}]) = h{T}^2 + c{T}\n"
    return looped, unrolled


def two_state_by_hand(a: float, b: float, w: float, x: list[float]):
    """States, and the adjoints the explanation names: h̄[t], c̄[t] (from the steps after
    t) and ∂loss/∂c[t+1] (c̄[t+1] and h[t+1]'s own use of c[t+1])."""
    def sig(z: float) -> float:
        return 1 / (1 + math.exp(-z))
    h, c = [0.5], [0.25]
    for xt in x:
        c.append(sig(a * h[-1] + xt) * c[-1] + math.tanh(b * h[-1]))
        h.append(math.tanh(c[-1]) * sig(w * h[-1]))
    T = len(x)
    hb, cb = [0.0] * (T + 1), [0.0] * (T + 1)
    hb[T], cb[T] = 2 * h[T], 1.0
    total_c = [0.0] * (T + 1)
    for t in range(T - 1, -1, -1):
        sw, sa = sig(w * h[t]), sig(a * h[t] + x[t])
        total_c[t + 1] = cb[t + 1] + hb[t + 1] * (1 - math.tanh(c[t + 1]) ** 2) * sw
        hb[t] = (hb[t + 1] * math.tanh(c[t + 1]) * sw * (1 - sw) * w
                 + total_c[t + 1] * (sa * (1 - sa) * a * c[t]
                                     + (1 - math.tanh(b * h[t]) ** 2) * b))
        cb[t] = total_c[t + 1] * sa
    return h, c, hb, cb, total_c


def labelled(prog):
    """The program with its loop's index and carried values labelled as the source names
    them (t; h and c, told apart by their start values)."""
    (loop,) = [s for s in walk(prog.body) if isinstance(s, Loop)]
    names = {0.5: "h", 0.25: "c"}
    extra = [(loop.index, "t")] + [(c.var, names[float(c.init)]) for c in loop.carries]
    return dataclasses.replace(prog, labels=prog.labels + tuple(extra))


def test_two_states_are_two_recurrences_with_their_names(loops) -> None:
    looped, _ = two_state(40)
    text = flat(explain(labelled(forward(looped))))
    for line in ["h[0] = 1/2", "c[0] = 1/4",
                 "c[t+1] = c[t]·σ(a·h[t] + x[t]) + tanh(b·h[t]), t = 0..39",
                 "h[t+1] = tanh(c[t+1])·σ(h[t]·w), t = 0..39",
                 "∂h[t+1]/∂c[t+1] = (1 - tanh(c[t+1])²)·σ(h[t]·w), t = 0..39",
                 "c̄[40] = ∂loss/∂c[40] = 1",
                 "∂loss/∂c[t+1] = c̄[t+1] + h̄[t+1]·∂h[t+1]/∂c[t+1]",
                 "h̄[t] = ∂loss/∂c[t+1]·∂c[t+1]/∂h[t] + h̄[t+1]·∂h[t+1]/∂h[t]",
                 "c̄[t] = ∂loss/∂c[t+1]·∂c[t+1]/∂c[t]",
                 "∂loss/∂w = Σ_{t=0}^{39} h̄[t+1]·∂h[t+1]/∂w",
                 "∂loss/∂a = Σ_{t=0}^{39} ∂loss/∂c[t+1]·∂c[t+1]/∂a"]:
        assert line in text, line
    assert "a bar, h̄[k], is the adjoint a carried value gets back" in text
    # the lowering labels them itself: the user's names without help
    plain = explain(forward(looped))
    assert "c[t+1] = " in plain and "h[t+1] = " in plain


def test_two_state_numbers_match_the_steps_by_hand(loops) -> None:
    looped, unrolled = two_state(40)
    rng = np.random.default_rng(5)
    a, b, w, x = 0.9, 1.2, 0.8, rng.normal(size=40) * 0.5
    text = explain(labelled(forward(looped)), {"a": a, "b": b, "w": w, "x": x})
    h, c, hb, cb, total_c = two_state_by_hand(a, b, w, list(x))
    rows = shown(text)
    for name, want in {"h[1]": h[1], "c[1]": c[1], "h[40]": h[40], "c[40]": c[40],
                       "h̄[39]": hb[39], "h̄[0]": hb[0], "c̄[39]": cb[39], "c̄[0]": cb[0],
                       "∂loss/∂c[40]": total_c[40], "∂loss/∂c[1]": total_c[1]}.items():
        assert close_6(rows[name][1], want), (name, rows[name], want)
    grads = gradient_block(text)
    value, (ga, gb, gw, gx) = chaincc.compile(unrolled).value_and_grad(a, b, w, x)
    assert grads["loss"] == pytest.approx(value, rel=1e-12)
    for name, g in (("a", ga), ("b", gb), ("w", gw)):
        assert grads[f"∂loss/∂{name}"] == pytest.approx(g, rel=1e-11)


# ------------------------------------------------------------------ a sum over an index

def test_sum_over_an_index_has_one_adjoint_for_every_term(loops) -> None:
    case = squared_error(20)
    prog = forward(case.looped)
    rng = np.random.default_rng(2)
    y, p = case.args(rng)
    text = explain(prog, {"y": y, "p": p})
    assert "f(y, p) = Σ_{i=0}^{19} (y[i] - p[i])²/20" in text
    assert "s = Σ_{i=0}^{19} (y[i] - p[i])²/20" in flat(text)
    assert "∂f/∂y[i] = ∂f/∂s·∂s/∂y[i] = y[i]/10 - p[i]/10, i = 0..19" in flat(text)
    rows = shown(text)
    for i in (0, 19):
        assert rows[f"∂f/∂y[{i}]"][0] == "="
        assert close_6(rows[f"∂f/∂y[{i}]"][1], 2 * (y[i] - p[i]) / 20)
        assert close_6(rows[f"∂f/∂p[{i}]"][1], -2 * (y[i] - p[i]) / 20)
    value, (gy, gp) = chaincc.compile(case.unrolled).value_and_grad(y, p)
    assert gradient_block(text)["f"] == pytest.approx(value, rel=1e-12)
    assert np.allclose(gy, 2 * (y - p) / 20, rtol=1e-12)


def test_shared_weight_in_a_sum_gets_the_sum_of_its_terms(loops) -> None:
    src = "n = 30\nf(w, x[n]) = sum(tanh(w·x[i])^2 for i = 0..n-1)\n"
    text = explain(forward(src), {"w": 0.4, "x": np.linspace(-1, 1, 30)})
    assert "∂f/∂w = ∂f/∂s·∂s/∂w = Σ_{i=0}^{29} 2x[i]·(1 - tanh(w·x[i])²)·tanh(w·x[i])" \
        in flat(text)
    xs = np.linspace(-1, 1, 30)
    want = sum(2 * math.tanh(0.4 * v) * (1 - math.tanh(0.4 * v) ** 2) * v for v in xs)
    assert gradient_block(text)["∂f/∂w"] == pytest.approx(want, rel=1e-12)


# ------------------------------------------------------------------ size and every case

def test_the_explanation_does_not_grow_with_the_trip_count(loops) -> None:
    small = explain(forward(rnn_scalar(10).looped))
    large = explain(forward(rnn_scalar(10_000).looped))
    # the same lines, but for the trip count (and the columns it moves)
    assert " ".join(small.replace("10", "N").replace("9", "M").split()) == \
        " ".join(large.replace("10000", "N").replace("9999", "M").split())
    rng = np.random.default_rng(0)
    at_small = explain(forward(rnn_scalar(10).looped),
                       dict(zip(("w", "u", "x"), rnn_scalar(10).args(rng))))
    at_large = explain(forward(rnn_scalar(10_000).looped),
                       dict(zip(("w", "u", "x"), rnn_scalar(10_000).args(rng))))
    assert len(at_large.splitlines()) <= len(at_small.splitlines())
    assert len(at_large) < 2 * len(at_small)


def test_too_long_a_run_shows_formulas_without_values(loops, monkeypatch) -> None:
    monkeypatch.setattr(loop_values, "MAX_STATEMENTS", 1000)
    case = rnn_scalar(2000)
    text = explain(forward(case.looped),
                   dict(zip(("w", "u", "x"), case.args(np.random.default_rng(0)))))
    assert "the values are not shown: the loops run more than 1,000 operations" in text
    assert "h̄[t+1]·w(1 - h[t+1]²)" in text and "Gradient at" not in text


CASES = all_cases(12)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_iteration_case_explains_and_its_gradient_is_the_unrolled_one(case, loops
                                                                             ) -> None:
    prog = forward(case.looped)
    args = case.args(np.random.default_rng(4))
    at = {p.name: a for p, a in zip(prog.params, args)}
    for fmt in FORMATS:
        text = explain(prog, None, fmt)
        assert text.count("\n") > 5
        if fmt == "ascii":
            assert text.isascii()
    assert "subgraph cluster_" in to_dot(prog) and to_dot(prog, at)
    text = explain(prog, at, full=True)
    grads = gradient_block(text)
    value, grad = chaincc.compile(case.unrolled).value_and_grad(*args)
    assert grads[prog.name] == pytest.approx(value, rel=1e-12, abs=1e-14)
    run = loop_values.run(prog, at)
    for p, g in zip(prog.params, grad):
        np.testing.assert_allclose(run.array_adjoints[p.name], np.ravel(g), rtol=1e-12,
                                   atol=1e-14)
        if not p.shape:
            assert grads[f"∂{prog.name}/∂{p.name}"] == pytest.approx(g, rel=1e-12,
                                                                     abs=1e-14)


def test_a_read_that_several_steps_share_is_a_part(loops) -> None:
    """x[i] is read in every step of the loop over t: each step adds a part (+=)."""
    src = ("T = 4\nn = 3\nh[0] = 0\n"
           "h[t+1] = h[t] + sum(x[i]·h[t] + x[i] for i = 0..n-1)   for t = 0..T-1\n"
           "f(x[n]) = h[T]\n")
    text = explain(forward(src))
    assert "∂f/∂x[i] += " in text


# ------------------------------------------------------------------ the graph

def test_graph_draws_the_body_once_with_the_loop_edge(tmp_path: Path) -> None:
    fn = chaincc.compile(RNN)
    dot = fn.graph(at={"w": 0.5, "u": 0.3, "x": np.linspace(-1, 1, 100)})
    assert dot.count("subgraph cluster_") == 1
    assert 'label="for t = 0..99"' in dot
    assert re.search(r'n\d+ -> n\d+ \[style=bold, [^]]*label="h\[t\+1\] → h\[t\], '
                     r't = 0\.\.99"\]', dot)
    assert dot.count("h[t+1] = tanh(") == 1
    assert "h[1] = " in dot and "h[100] = " in dot        # first and last iterations
    assert dot == fn.graph(at={"w": 0.5, "u": 0.3, "x": np.linspace(-1, 1, 100)})
    for name in ("graph.dot", "graph.svg", "graph.png"):
        message = write(dot, tmp_path / name)
        assert "wrote" in message or "Graphviz" in message
    text = (tmp_path / "graph.dot").read_text(encoding="utf-8")
    assert text == dot


def test_nested_loops_are_nested_clusters(loops) -> None:
    src = ("T = 3\nn = 5\nh[0] = 0.1\n"
           "h[t+1] = tanh(h[t] + sum(w[i]*x[t, i]*h[t] for i = 0..n-1))   for t = 0..T-1\n"
           "f(w[n], x[T,n]) = h[T]\n")
    dot = to_dot(forward(src))
    outer = dot.index('label="for t = 0..2"')
    inner = dot.index('label="Σ over i = 0..4"')
    assert outer < inner and dot.count("subgraph cluster_") == 2


# ------------------------------------------------------------------ other outputs

def test_vector_valued_function_with_a_loop_is_explained_per_output(loops) -> None:
    src = ("T = 30\nh[0] = 0\nh[t+1] = tanh(w·h[t] + u·x[t])   for t = 0..T-1\n"
           "g(w, u, x[T]) = [h[T]², h[T] + w]\n")
    text = explain(forward(src))
    assert "══ output g[0] (1 of 2) ══" in text and "══ output g[1] (2 of 2) ══" in text
    assert "h̄[t]" in text


def test_latex_summary_of_a_loop() -> None:
    tex = chaincc.compile(RNN)._repr_latex_()
    assert tex.startswith("$$\\begin{aligned}")
    assert "\\bar{h}[t] &= \\bar{h}[t+1] \\cdot w \\left(1 - h[t+1]^{2}\\right)" in tex
    assert "\\sum_{t=0}^{99}" in tex


# ------------------------------------------------------------------ fixed points, history

def test_fixed_point_is_differentiated_at_its_solution() -> None:
    """z* = cos(z*)/2 + w: the adjoint λ solves λ = ∂f/∂z* + λ·∂Φ/∂z at z* (the implicit
    function theorem), never a sum over the iterations."""
    src = "z = fixpoint(z -> 0.5*cos(z) + w, 0, tol=1e-12, maxiter=100)\nf(w) = z^2\n"
    w = 0.5
    text = chaincc.compile(src).explain(at={"w": w})
    zs = 0.0
    for _ in range(200):
        zs = 0.5 * math.cos(zs) + w
    lam = 2 * zs / (1 + 0.5 * math.sin(zs))
    assert "λ = z̄* + λ·∂z[k+1]/∂z[k]" in flat(text)
    assert "= z̄* + λ·(-sin(z[k])/2), at the fixed point" in flat(text)
    assert "until converged (at most 100 iterations)" in text and "Σ" not in text
    assert close_6(float(re.search(r"at the fixed point +=\s*(\S+)", text).group(1)), lam)
    assert gradient_block(text)["∂f/∂w"] == pytest.approx(lam, rel=1e-10)


def test_a_stored_history_read_by_a_later_sum(loops) -> None:
    """sum(h[t]^2 for t = 1..T) reads the recurrence's stored values: their adjoint part
    (ĥ) comes back into the recurrence's steps."""
    T = 6
    src = (f"T = {T}\nh[0] = a\nh[t+1] = sin(w·h[t]) + x[t]   for t = 0..T-1\n"
           "f(a, w, x[T]) = sum(h[t]^2 for t = 1..T) + h[T]\n")
    a, w, x = 0.3, -0.7, [0.2, -0.1, 0.4, 0.3, -0.5, 0.1]
    text = explain(forward(src), {"a": a, "w": w, "x": np.array(x)})
    assert "ĥ[t] = ∂f/∂s·∂s/∂h[t] = 2h[t], t = 1..6" in flat(text)
    assert "∂f/∂h[t+1] = h̄[t+1] + ĥ[t+1], t = 5 down to 0" in flat(text)
    assert "a hat, ĥ[k], is the part of ∂f/∂h[k]" in text
    h = [a]
    for xt in x:
        h.append(math.sin(w * h[-1]) + xt)
    rows = shown(text)
    assert close_6(rows["ĥ[1]"][1], 2 * h[1]) and close_6(rows["ĥ[6]"][1], 2 * h[6])
    lines = ["h0 = a"] + [f"h{t + 1} = sin(w*h{t}) + x[{t}]" for t in range(T)]
    total = " + ".join(f"h{t}^2" for t in range(1, T + 1))
    unrolled = "\n".join(lines) + f"\nf(a, w, x[{T}]) = {total} + h{T}\n"
    value, (ga, gw, gx) = chaincc.compile(unrolled).value_and_grad(a, w, np.array(x))
    grads = gradient_block(text)
    assert grads["∂f/∂a"] == pytest.approx(ga, rel=1e-12)
    assert grads["∂f/∂w"] == pytest.approx(gw, rel=1e-12)


def test_explain_uses_the_users_names_for_states_and_indices() -> None:
    """A recurrence named s over k, and two states h and c, are explained with those
    names (the lowering labels a loop's index and carried values)."""
    import chaincc as _cc
    text = _cc.compile("T = 100\ns[0] = 0\ns[k+1] = tanh(w·s[k] + u·x[k])   for k = 0..T-1\n"
                       "loss(w, u, x[T]) = s[T]²\n").explain()
    assert "s̄[k] " in text and "Σ_{k=0}^{99}" in text and "k = 99 down to 0" in text
    two = _cc.compile("T = 30\nh[0] = 0\nc[0] = 1\nc[t+1] = c[t]·sin(w + h[t])   "
                      "for t = 0..T-1\nh[t+1] = tanh(c[t+1] + h[t])   for t = 0..T-1\n"
                      "f(w) = h[T]\n").explain()
    assert "c[t+1] = " in two and "h[t+1] = " in two and "c̄[t]" in two
