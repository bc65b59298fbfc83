"""The command line on vector-valued functions: ``eval`` prints (and ``--json`` writes)
the value and the Jacobian, ``check`` compares the Jacobian with the reference
interpreter and central differences, ``explain`` shows the chain rule of each output.
Values and Jacobians are checked against SymPy expressions built by hand."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from chaincc.cli import main

ROOT = Path(__file__).resolve().parent.parent

# g(x[2], s) = [x0² s, sin(x1) + s x0, exp(x0 x1)]
VEC = "g(x[2], s) = [x[0]^2 * s, sin(x[1]) + s*x[0], exp(x[0]*x[1])]\n"
# M(a, b[2]) = [[a b0, exp(b1)], [a², b0 b1 / a]]
MAT = "M(a, b[2]) = [[a*b[0], exp(b[1])], [a^2, b[0]*b[1]/a]]\n"


def _vec_exprs():
    x0, x1, s = sp.symbols("x0 x1 s")
    outs = [x0 ** 2 * s, sp.sin(x1) + s * x0, sp.exp(x0 * x1)]
    return outs, {"x": [x0, x1], "s": [s]}


def _mat_exprs():
    a, b0, b1 = sp.symbols("a b0 b1")
    outs = [a * b0, sp.exp(b1), a ** 2, b0 * b1 / a]
    return outs, {"a": [a], "b": [b0, b1]}


def _point(symbols: dict, values: dict) -> dict:
    sub = {}
    for name, syms in symbols.items():
        for sym, v in zip(syms, np.ravel(values[name])):
            sub[sym] = float(v)
    return sub


def _oracle(outs, symbols, values):
    """Value (flat) and Jacobian rows: jac[i][name] = [∂out_i/∂ each element of name]."""
    sub = _point(symbols, values)
    value = [float(o.subs(sub)) for o in outs]
    jac = [{name: [float(sp.diff(o, sym).subs(sub)) for sym in syms]
            for name, syms in symbols.items()} for o in outs]
    return value, jac


def _source(tmp_path: Path, text: str) -> str:
    path = tmp_path / f"m{uuid.uuid4().hex[:8]}.txt"
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _numbers(text: str) -> list[float]:
    return [float(t) for t in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?|-?inf|nan", text)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eval_prints_value_and_jacobian(capsys, tmp_path, seed) -> None:
    rng = np.random.default_rng(seed)
    x, s = rng.uniform(-2, 2, size=2).round(3), round(float(rng.uniform(-2, 2)), 3)
    path = _source(tmp_path, VEC)
    code, out, err = run(capsys, "eval", path, f"x=[{x[0]},{x[1]}]", f"s={s}")
    assert code == 0 and err == "", err
    outs, symbols = _vec_exprs()
    value, jac = _oracle(outs, symbols, {"x": x, "s": s})
    lines = out.strip().splitlines()
    head, rest = lines[0], lines[1:]
    assert head.startswith(f"g(x=[{x[0]:g}, {x[1]:g}], s={s:g}) = [")
    assert _numbers(head.split(" = ", 1)[1]) == pytest.approx(value, rel=1e-13)
    assert rest[0] == ("Jacobian, row by row: ∂g[i]/∂p for each output g[i] (3 outputs) "
                       "and each parameter p")
    rows = rest[1:]
    assert [r.split(" = ")[0] for r in rows] == [
        f"∂g[{i}]/∂{p}" for i in range(3) for p in ("x", "s")]
    for i in range(3):
        assert _numbers(rows[2 * i].split(" = ")[1]) == pytest.approx(jac[i]["x"], rel=1e-13,
                                                                      abs=1e-15)
        assert _numbers(rows[2 * i + 1].split(" = ")[1]) == pytest.approx(jac[i]["s"],
                                                                          rel=1e-13,
                                                                          abs=1e-15)


def test_eval_matrix_valued(capsys, tmp_path) -> None:
    path = _source(tmp_path, MAT)
    code, out, _ = run(capsys, "eval", path, "a=1.5", "b=[0.5,-1.25]")
    assert code == 0
    outs, symbols = _mat_exprs()
    value, jac = _oracle(outs, symbols, {"a": 1.5, "b": [0.5, -1.25]})
    lines = out.strip().splitlines()
    assert _numbers(lines[0].split(" = ", 1)[1]) == pytest.approx(value, rel=1e-13)
    assert lines[1] == ("Jacobian, row by row: ∂M[i,j]/∂p for each output M[i,j] (2×2) and "
                        "each parameter p")
    labels = [f"M[{i},{j}]" for i in range(2) for j in range(2)]
    rows = lines[2:]
    assert [r.split(" = ")[0] for r in rows] == [
        f"∂{m}/∂{p}" for m in labels for p in ("a", "b")]
    for k in range(4):
        assert _numbers(rows[2 * k].split(" = ")[1]) == pytest.approx(jac[k]["a"], rel=1e-13)
        assert _numbers(rows[2 * k + 1].split(" = ")[1]) == pytest.approx(jac[k]["b"],
                                                                          rel=1e-13)


def test_eval_json_vector(capsys, tmp_path) -> None:
    path = _source(tmp_path, VEC)
    code, out, _ = run(capsys, "eval", path, "--json", "x=[0.5,-1]", "s=2")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"function", "params", "point", "shape", "value", "jacobian"}
    assert doc["function"] == "g" and doc["params"] == ["x", "s"] and doc["shape"] == [3]
    assert doc["point"] == {"x": [0.5, -1.0], "s": 2.0}
    outs, symbols = _vec_exprs()
    value, jac = _oracle(outs, symbols, {"x": [0.5, -1], "s": 2})
    assert doc["value"] == pytest.approx(value, rel=1e-13)
    # one block per parameter, shaped (value shape + parameter shape)
    assert np.shape(doc["jacobian"]["x"]) == (3, 2) and np.shape(doc["jacobian"]["s"]) == (3,)
    np.testing.assert_allclose(doc["jacobian"]["x"], [j["x"] for j in jac], rtol=1e-13)
    np.testing.assert_allclose(doc["jacobian"]["s"], [j["s"][0] for j in jac], rtol=1e-13)


def test_eval_json_matrix_and_scalar(capsys, tmp_path) -> None:
    code, out, _ = run(capsys, "eval", _source(tmp_path, MAT), "a=2", "b=[1,3]", "--json")
    assert code == 0
    doc = json.loads(out)
    outs, symbols = _mat_exprs()
    value, jac = _oracle(outs, symbols, {"a": 2, "b": [1, 3]})
    assert doc["shape"] == [2, 2]
    assert np.ravel(doc["value"]).tolist() == pytest.approx(value, rel=1e-13)
    assert np.shape(doc["jacobian"]["b"]) == (2, 2, 2)
    np.testing.assert_allclose(np.reshape(doc["jacobian"]["b"], (4, 2)),
                               [j["b"] for j in jac], rtol=1e-13)
    code, out, _ = run(capsys, "eval", str(ROOT / "samples" / "seed.txt"), "--json",
                       "x=1", "y=2")
    assert code == 0
    assert json.loads(out) == {"function": "f", "params": ["x", "y"],
                               "point": {"x": 1.0, "y": 2.0}, "shape": [], "value": 24.0,
                               "gradient": {"x": 32.0, "y": 44.0}}


def test_eval_json_writes_non_finite_numbers_as_text(capsys, tmp_path) -> None:
    path = _source(tmp_path, "h(x[2]) = [log(x[0]), sqrt(x[1])]\n")
    code, out, _ = run(capsys, "eval", path, "x=[0,4]", "--json")
    assert code == 0
    doc = json.loads(out)            # strict JSON: no NaN or Infinity tokens
    assert doc["value"] == ["-inf", 2.0]
    assert doc["jacobian"]["x"] == [["inf", 0.0], [0.0, 0.25]]


def test_check_vector_valued(capsys, tmp_path) -> None:
    code, out, err = run(capsys, "check", _source(tmp_path, VEC), "--points", "5")
    assert code == 0, out + err
    lines = out.strip().splitlines()
    assert lines[0].startswith("g(x, s): vector-valued (3 outputs): 5 points, its Jacobian "
                               "against central differences and the reference interpreter")
    assert [r.split()[0] for r in lines[2:4]] == ["x", "s"]
    assert all(float(v) < 1e-6 for r in lines[2:4] for v in r.split()[1:])
    assert lines[-1] == "ok"
    code, out, _ = run(capsys, "check", _source(tmp_path, MAT), "--points", "4")
    assert code == 0 and out.startswith("M(a, b): vector-valued (4 outputs, 2×2): 4 points")


def test_check_finds_a_wrong_jacobian_entry(capsys, tmp_path, monkeypatch) -> None:
    import chaincc.rules as rules
    table = getattr(rules, "RULES", None)
    if table is None:  # pragma: no cover - the table moved into the registry
        import chaincc.ops as ops
        table = ops.RULES
    original = table[sp.sin]

    def broken(e, t, a):          # ∂sin(x) = a·sin(x) instead of a·cos(x)
        return [(x, a * sp.sin(e.args[0])) for x, _ in original(e, t, a)]

    monkeypatch.setitem(table, sp.sin, broken)
    text = f"# {uuid.uuid4().hex}\n{VEC}"
    code, out, _ = run(capsys, "check", _source(tmp_path, text), "--points", "4")
    assert code == 1, out
    rows = {r.split()[0]: [float(v) for v in r.split()[1:]] for r in out.splitlines()[2:4]}
    assert rows["x"][0] > 1e-3 and rows["x"][1] > 1e-3     # differences and reference
    assert rows["s"][0] < 1e-6 and rows["s"][1] == 0.0     # ∂/∂s never meets sin'
    bad = [line for line in out.splitlines() if line.startswith("  ∂")
           and "disagrees with the reference" in line]
    assert len(bad) == 1 and bad[0].startswith("  ∂g/∂x at index [1, 1] disagrees")
    assert out.strip().splitlines()[-1].startswith("FAILED")


def test_explain_shows_each_output(capsys, tmp_path) -> None:
    code, out, _ = run(capsys, "explain", _source(tmp_path, VEC))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == ("g(x, s) is vector-valued, with 3 outputs g[0] to g[2]: the chain "
                        "rule of each output on its own (the gradient of an output is its "
                        "row of the Jacobian)")
    heads = [line for line in lines if line.startswith("══ output")]
    assert heads == [f"══ output g[{i}] ({i + 1} of 3) ══" for i in range(3)]
    assert "g[0](x, s) = s·x[0]²" in lines
    assert "3. Chain rule, backward from g[2]: multiply along each path, add over the paths" \
        in lines


def _gradient_rows(text: str) -> dict[str, float]:
    """The ``Gradient at ...`` section of an explanation: lhs → value."""
    rows, inside = {}, False
    for line in text.splitlines():
        if line.startswith("Gradient at"):
            inside = True
            continue
        if inside and line.startswith("   "):
            lhs, value = line.split(" = ")
            rows[lhs.strip()] = float(value)
        elif inside:
            inside = False
    return rows


def test_explain_summarises_many_outputs(capsys, tmp_path) -> None:
    text = "h(v[6], c) = c*v^2 + sin(v)\n"
    path = _source(tmp_path, text)
    code, out, _ = run(capsys, "explain", path)
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == ("the first 3 outputs are shown: output=i or --output i shows output "
                        "i (0 to 5), full=True or --full shows all 6")
    assert [line for line in lines if line.startswith("══")] == [
        f"══ output h[{i}] ({i + 1} of 6) ══" for i in range(3)]
    assert lines[-1] == "… 3 more outputs …"
    code, out, _ = run(capsys, "explain", path, "--full")
    assert len([line for line in out.splitlines() if line.startswith("══")]) == 6
    # one output, at a point: its gradient is that row of the Jacobian
    v = [0.3, -1.2, 0.7, 2.0, -0.4, 1.1]
    at = "v=[" + ",".join(map(str, v)) + "],c=1.5"
    code, out, _ = run(capsys, "explain", path, "--output", "4", "--at", at)
    assert code == 0
    assert [line for line in out.splitlines() if line.startswith("══")] == [
        "══ output h[4] (5 of 6) ══"]
    assert out.splitlines()[1] == "output h[4] only"
    vs, c = sp.symbols("v0:6"), sp.Symbol("c")
    h4 = c * vs[4] ** 2 + sp.sin(vs[4])
    sub = {**dict(zip(vs, v)), c: 1.5}
    rows = _gradient_rows(out)
    assert rows["h[4]"] == pytest.approx(float(h4.subs(sub)), rel=1e-14)
    for k in range(6):
        want = float(sp.diff(h4, vs[k]).subs(sub))
        assert rows[f"∂h[4]/∂v[{k}]"] == pytest.approx(want, rel=1e-14, abs=0)
    assert rows["∂h[4]/∂c"] == pytest.approx(float(sp.diff(h4, c).subs(sub)), rel=1e-14)


def test_explain_matrix_output_by_index(capsys, tmp_path) -> None:
    path = _source(tmp_path, MAT)
    code, out, _ = run(capsys, "explain", path, "--output", "1,1", "--at", "a=2,b=[1,3]")
    assert code == 0
    assert "══ output M[1,1] (4 of 4) ══" in out.splitlines()
    a, b0, b1 = sp.symbols("a b0 b1")
    m11 = b0 * b1 / a
    sub = {a: 2, b0: 1, b1: 3}
    rows = _gradient_rows(out)
    assert rows["∂M[1,1]/∂a"] == pytest.approx(float(sp.diff(m11, a).subs(sub)), rel=1e-14)
    assert rows["∂M[1,1]/∂b[1]"] == pytest.approx(float(sp.diff(m11, b1).subs(sub)),
                                                   rel=1e-14)
    # the same output by its flat index
    code, flat, _ = run(capsys, "explain", path, "--output", "3", "--at", "a=2,b=[1,3]")
    assert code == 0 and flat == out


@pytest.mark.parametrize("fmt, marker", [
    ("ascii", "== output g[1] (2 of 3) =="),
    ("markdown", "<!-- output g[1] (2 of 3) -->"),
    ("latex", "% output g[1] (2 of 3)"),
])
def test_explain_formats(capsys, tmp_path, fmt, marker) -> None:
    code, out, _ = run(capsys, "explain", _source(tmp_path, VEC), "--format", fmt)
    assert code == 0 and marker in out.splitlines()
    if fmt == "latex":      # every output's blocks are whole: as many ends as begins
        assert out.count("\\begin{align*}") == out.count("\\end{align*}") >= 3
        assert [line for line in out.splitlines() if line.startswith("% output g[")] == [
            f"% output g[{i}] ({i + 1} of 3)" for i in range(3)]


@pytest.mark.parametrize("argv, code, message", [
    (["--output", "3"], 1, "output 3 is out of range: g has 3 outputs, g[0] to g[2]"),
    (["--output", "0,1"], 1, "output [0, 1] is out of range"),
    (["--output", "x"], 2, "expected an output index such as 3 or 1,2, got 'x'"),
    (["--output", "-1"], 2, "expected an output index"),
])
def test_explain_bad_output(capsys, tmp_path, argv, code, message) -> None:
    got, out, err = run(capsys, "explain", _source(tmp_path, VEC), *argv)
    assert got == code and out == ""
    assert message in err and "Traceback" not in err


def test_explain_output_on_a_scalar_function(capsys) -> None:
    code, out, err = run(capsys, "explain", str(ROOT / "samples" / "seed.txt"), "--output", "0")
    assert code == 1 and out == ""
    assert err.strip() == ("error: f is a scalar function: only a vector-valued function "
                           "has outputs to pick from")


def test_eval_json_as_a_subprocess(tmp_path) -> None:
    path = _source(tmp_path, VEC)
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    r = subprocess.run([sys.executable, "-m", "chaincc", "eval", path, "x=[1,2]", "s=3",
                        "--json"], capture_output=True, text=True, encoding="utf-8",
                       cwd=ROOT, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    outs, symbols = _vec_exprs()
    value, jac = _oracle(outs, symbols, {"x": [1, 2], "s": 3})
    assert doc["value"] == pytest.approx(value, rel=1e-13)
    np.testing.assert_allclose(doc["jacobian"]["x"], [j["x"] for j in jac], rtol=1e-13)
