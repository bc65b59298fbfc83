"""``chaincc check`` compares the compiled value and gradient with the reference
interpreter: a build with one broken derivative rule or one broken lowering step fails
the check (exit 1, naming the parameter and the point), where the unbroken build passes."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sympy as sp

from chaincc.cli import main


def _unique(text: str) -> str:
    # a fresh source text, so no kernel compiled by another build is served from a cache
    return f"# {uuid.uuid4().hex}\n{text}"


def _check(capsys, tmp_path: Path, text: str, *extra: str) -> tuple[int, str]:
    path = tmp_path / "model.txt"
    path.write_text(_unique(text), encoding="utf-8")
    code = main(["check", str(path), "--points", "4", *extra])
    return code, capsys.readouterr().out


def _rule_table() -> dict:
    """The derivative rules by SymPy class, wherever the package keeps them."""
    import chaincc.rules as rules
    table = getattr(rules, "RULES", None)
    if table is None:  # pragma: no cover - the table moved into the registry
        import chaincc.ops as ops
        table = ops.RULES
    assert sp.sin in table or any(issubclass(sp.sin, k) for k in table)
    return table


def test_unbroken_build_passes(capsys, tmp_path) -> None:
    code, out = _check(capsys, tmp_path, "s = 2h\ncell(h) = s + sin(h)\n"
                                         "f(a, b) = cell(cell(a)) - b*a")
    assert code == 0, out
    assert out.strip().endswith("ok")
    assert "reference" in out


def test_broken_sin_rule_is_reported(capsys, tmp_path, monkeypatch) -> None:
    table = _rule_table()
    original = table[sp.sin]

    def broken(e, t, a):          # ∂sin(x) = a·sin(x) instead of a·cos(x)
        return [(x, a * sp.sin(e.args[0])) for x, _ in original(e, t, a)]

    monkeypatch.setitem(table, sp.sin, broken)
    code, out = _check(capsys, tmp_path, "f(x, y) = sin(x) * y + y")
    assert code == 1, out
    assert "FAILED" in out.splitlines()[-1]
    bad = [line for line in out.splitlines() if "disagrees with the reference" in line]
    assert bad and "∂f/∂x" in bad[0] and "x=" in bad[0] and "y=" in bad[0]
    assert not any("∂f/∂y" in line for line in bad)        # y's derivative is right
    assert not any("value of f" in line for line in bad)   # the value is right


def test_broken_lowering_of_minus_is_reported(capsys, tmp_path, monkeypatch) -> None:
    import chaincc.lower as lower
    original = lower.binary

    def broken(op, a, b):         # '-' lowered as '+'
        return original("+" if op == "-" else op, a, b)

    monkeypatch.setattr(lower, "binary", broken)
    code, out = _check(capsys, tmp_path, "f(x, y) = x*x - y")
    assert code == 1, out
    bad = [line for line in out.splitlines() if "disagrees with the reference" in line]
    assert any("value of f" in line for line in bad)
    assert any("∂f/∂y" in line for line in bad)
    # finite differences of the wrong function agree with its wrong gradient
    rows = {r.split()[0]: r.split() for r in out.splitlines()[2:4]}
    assert float(rows["y"][1]) < 1e-5 and float(rows["y"][2]) > 0.1


def test_vector_valued_function_is_checked(capsys, tmp_path) -> None:
    code, out = _check(capsys, tmp_path, "f(v[3], s) = softmax(s*v) + [1, 2, 3]*s")
    assert code == 0, out
    rows = out.strip().splitlines()[2:-1]
    assert [r.split()[0] for r in rows] == ["v", "s"]


@pytest.mark.parametrize("tol", ["0"])
def test_reference_rounding_is_within_float64(capsys, tmp_path, tol) -> None:
    # the compiled value is the correctly rounded one for a single operation
    code, out = _check(capsys, tmp_path, "f(x) = x*x", "--tol", tol)
    rows = out.strip().splitlines()
    assert float(rows[2].split()[2]) == 0.0
    assert "value: worst relative error 0.000e+00" in rows[0]


def test_large_parameters_are_checked_along_random_directions(capsys, tmp_path,
                                                              monkeypatch) -> None:
    text = "loss(W[8,10], b[8], x[10]) = sum(tanh(W @ x + b)^2)"
    code, out = _check(capsys, tmp_path, text)
    assert code == 0, out
    table = _rule_table()
    original = table[sp.tanh]

    def broken(e, t, a):          # ∂tanh(x) = a·(1 + t²) instead of a·(1 - t²)
        return [(x, a * (1 + t ** 2)) for x, _ in original(e, t, a)]

    monkeypatch.setitem(table, sp.tanh, broken)
    code, out = _check(capsys, tmp_path, text)
    assert code == 1, out
    bad = [line for line in out.splitlines() if "disagrees with the reference" in line]
    assert any("∂loss/∂W along a random direction" in line for line in bad), out


def test_bindings_memoised_across_calls_are_reported(capsys, tmp_path, monkeypatch) -> None:
    # the scoping bug: every call of a helper shares one memo of evaluated bindings, so a
    # binding keeps the value of the helper's first call
    import dataclasses

    import chaincc.lower as lower
    assert "frame" in {f.name for f in dataclasses.fields(lower.Scope)}

    class SharedFrame(lower.Scope):
        # every call of a helper is one frame (within one function's lowering)
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.frame = ("shared", self.function)

    lower_function = lower.Lowerer.lower_function

    def fresh_memo(self, index, fdef):
        self.memo = {}
        return lower_function(self, index, fdef)

    monkeypatch.setattr(lower, "Scope", SharedFrame)
    monkeypatch.setattr(lower.Lowerer, "lower_function", fresh_memo)
    code, out = _check(capsys, tmp_path, "s = 2h\ncell(h) = s\nf(a) = cell(cell(a))")
    assert code == 1, out
    bad = [line for line in out.splitlines() if "disagrees with the reference" in line]
    assert any("value of f" in line for line in bad)
    assert any("∂f/∂a" in line and "compiled 2.0, reference 4.0" in line for line in bad), out
