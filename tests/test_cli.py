"""The command line: ``eval`` and ``check`` on the samples, argument errors, source errors
and usage errors, in process through ``chaincc.cli.main`` and once as a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import chaincc
from chaincc.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SEED = str(SAMPLES / "seed.txt")
SCALAR_SAMPLES = ["seed", "chain", "nested", "swish", "logistic", "rosenbrock", "rnn"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def numbers(text: str) -> list[float]:
    return [float(m) for m in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)]


def test_eval_prints_value_and_gradient(capsys):
    code, out, err = run(capsys, "eval", SEED, "x=1", "y=2")
    assert code == 0 and err == ""
    lines = out.strip().splitlines()
    assert lines[0].endswith("= 24")
    assert lines[1].startswith("∂f/∂x") and lines[1].endswith("= 32")
    assert lines[2].startswith("∂f/∂y") and lines[2].endswith("= 44")


def test_eval_accepts_comma_separated_point(capsys):
    code, out, _ = run(capsys, "eval", SEED, "x=1,y=2")
    assert code == 0
    assert out == main_output(capsys, "eval", SEED, "y=2", "x=1")


def main_output(capsys, *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_eval_unicode_parameter(capsys):
    code, out, _ = run(capsys, "eval", str(SAMPLES / "swish.txt"), "x=1", "β=2")
    assert code == 0
    assert "∂swish/∂β" in out


@pytest.mark.parametrize("args, message", [
    (["x=1"], "no value given for y"),
    (["x=1", "y=2", "z=3"], "'z' is not a parameter"),
    (["x=1", "y=two"], "'two' is not a number"),
    (["x=1", "y"], "expected NAME=VALUE"),
])
def test_eval_bad_point_is_a_clean_error(capsys, args, message):
    code, out, err = run(capsys, "eval", SEED, *args)
    assert code == 1
    assert out == ""
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("name", SCALAR_SAMPLES)
def test_check_passes_on_every_sample(capsys, name):
    code, out, err = run(capsys, "check", str(SAMPLES / f"{name}.txt"), "--points", "5")
    assert code == 0, out + err
    lines = out.strip().splitlines()
    header = lines[0]
    params = header[header.index("(") + 1:header.index(")")].split(", ")
    rows = lines[2:2 + len(params)]
    assert [r.split()[0] for r in rows] == params       # one row per parameter
    for r in rows:
        worst = float(r.split()[1])
        assert 0.0 <= worst <= 1e-5
    assert lines[-1] == "ok"


def test_check_fails_above_tolerance(capsys, tmp_path):
    # finite differences always carry some rounding error, so --tol 0 must fail
    src = tmp_path / "smooth.txt"
    src.write_text("f(x) = x^3\n", encoding="utf-8")
    code, out, _ = run(capsys, "check", str(src), "--points", "3", "--tol", "0")
    assert code == 1
    assert "FAILED" in out


def test_syntax_error_is_located_with_a_caret(capsys, tmp_path):
    src = tmp_path / "bad.txt"
    src.write_text("# model\nf(x) = (x + 1\ng(x) = x\n", encoding="utf-8")
    code, out, err = run(capsys, "eval", str(src), "x=1")
    assert code == 1 and out == ""
    assert re.match(re.escape(str(src)) + r":\d+:\d+: error: ", err)
    assert "^" in err and "Traceback" not in err


def test_unknown_name_error_matches_language_md(capsys, tmp_path):
    src = tmp_path / "model.txt"
    src.write_text("# a model\n\nf(x, y) = x + z\n", encoding="utf-8")
    code, _, err = run(capsys, "check", str(src))
    assert code == 1
    assert err.splitlines() == [f"{src}:3:15: error: unknown name 'z'",
                                "    f(x, y) = x + z",
                                "                  ^"]


def test_missing_file(capsys, tmp_path):
    code, out, err = run(capsys, "eval", str(tmp_path / "nope.txt"), "x=1")
    assert code == 1 and out == ""
    assert "cannot read" in err and "nope.txt" in err and "Traceback" not in err


def test_no_subcommand_is_a_usage_error(capsys):
    code, _, err = run(capsys)
    assert code == 2
    assert "usage:" in err


def test_unknown_subcommand_is_a_usage_error(capsys):
    code, _, err = run(capsys, "frobnicate", SEED)
    assert code == 2
    assert "usage:" in err


def test_entry_selects_a_function(capsys, tmp_path):
    src = tmp_path / "two.txt"
    src.write_text("sq(t) = t^2\ncube(t) = t^3\n", encoding="utf-8")
    code, out, _ = run(capsys, "eval", str(src), "t=2")
    assert code == 0 and numbers(out) == [2, 8, 12]
    for argv in (["--entry", "sq", str(src), "t=2"], [str(src), "t=2", "--entry", "sq"],
                 [str(src), "--entry", "sq", "t=2"]):
        code, out, _ = run(capsys, "eval", *argv)
        assert code == 0 and out.startswith("sq(t=2) = 4") and numbers(out)[-1] == 4
    code, out, _ = run(capsys, "check", str(src), "--entry", "sq", "--points", "3")
    assert code == 0 and out.startswith("sq(t)")
    code, _, err = run(capsys, "eval", str(src), "--entry", "sq", "t=2", "stray")
    assert code == 2 and "unrecognized arguments" in err
    code, out, err = run(capsys, "eval", "--entry", "nope", str(src), "t=2")
    assert code == 1 and "no function 'nope'" in err and "sq, cube" in err


def test_eval_as_a_subprocess():
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    r = subprocess.run([sys.executable, "-m", "chaincc", "eval", SEED, "x=1", "y=2"],
                       capture_output=True, text=True, encoding="utf-8", cwd=ROOT, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert numbers(r.stdout) == [1, 2, 24, 32, 44]


def test_error_as_a_subprocess(tmp_path):
    src = tmp_path / "bad.txt"
    src.write_text("f(x) = x +* 2\n", encoding="utf-8")
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    r = subprocess.run([sys.executable, "-m", "chaincc", "check", str(src)],
                       capture_output=True, text=True, encoding="utf-8", cwd=ROOT, env=env,
                       timeout=120)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith(f"{src}:1:")
    assert "^" in r.stderr and "Traceback" not in r.stderr


def test_eval_takes_array_values(capsys):
    sample = str(SAMPLES / "residual.txt")
    point = ["W=[[0.1,0.2,0.3],[0,0.5,0],[1,0,-1]]", "b=[0,0.1,0]", "x=[1,2,3],t=[0,0,1]"]
    code, out, _ = run(capsys, "eval", sample, *point)
    assert code == 0, out
    fn = chaincc.compile(Path(sample))
    args = [[[0.1, 0.2, 0.3], [0, 0.5, 0], [1, 0, -1]], [0, 0.1, 0], [1, 2, 3], [0, 0, 1]]
    value, grads = fn.value_and_grad(*args)
    lines = out.strip().splitlines()
    assert lines[0].endswith(f"= {value!r}")
    assert lines[1] == "∂loss/∂W = " + str(grads[0].tolist())
    code, _, err = run(capsys, "eval", sample, "W=[[1,2],[3,4]]", *point[1:])
    assert code == 1 and "shape (3, 3)" in err and "Traceback" not in err
    code, _, err = run(capsys, "eval", sample, "W=[[1,2", *point[1:])
    assert code == 1 and "not a number or an array" in err
