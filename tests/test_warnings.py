"""Located warnings (docs/language.md, "Warnings"): every warning's exact text and caret,
from the parser, from ``chaincc.compile`` (``warnings.warn``, once per call, also from the
disk cache) and from the command line (stderr; ``--Werror`` makes them errors)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import chaincc
from chaincc import ChainccError
from chaincc.cli import main
from chaincc.diagnostics import ChainccWarning, SourceWarning
from chaincc.parser import parse
from chaincc.source import Source

# (source, line, column, message, caret): the caret line as rendered under the source line
WARNINGS = [
    ("f(x, y) = x/2y", 1, 13, "read as (x/2)·y; write x/(2y) if that is meant",
     "            ^~"),
    ("f(a, b, c) = a/b c", 1, 16, "read as (a/b)·c; write a/(b c) if that is meant",
     "               ^~~"),
    ("f(x, y) = x/(y + 1)(y - 1)", 1, 13,
     "read as (x/(y + 1))·(y - 1); write x/((y + 1)(y - 1)) if that is meant",
     "            ^~~~~~~~~~~~~~"),
    ("f(x, y) = x ÷ 2y", 1, 15, "read as (x ÷ 2)·y; write x÷(2y) if that is meant",
     "              ^~"),
    ("f(x, y) = x^2y", 1, 13, "read as x^2·y; write x^(2y) if that is meant",
     "            ^~"),
    ("f(x, y) = e^x y", 1, 13, "read as e^x·y; write e^(x y) if that is meant",
     "            ^~~"),
    ("f(x, y) = -x^2y", 1, 14, "read as -x^2·y; write -x^(2y) if that is meant",
     "             ^~"),
    ("f(x, y) = x**-1 y", 1, 14, "read as x**-1·y; write x**(-1 y) if that is meant",
     "             ^~~~"),
    ("f(x, y) = e^xy", 1, 13, "read as e^x·y; write e^(xy) if that is meant",
     "            ^~"),
    ("f(x) = √2x", 1, 9, "read as √(2x); write √2·x if that is meant", "        ^~"),
    ("f(x) = ∛8x", 1, 9, "read as ∛(8x); write ∛8·x if that is meant", "        ^~"),
    ("f(x, y) = sin x y", 1, 15, "read as sin(x)·y; write sin(x y) if that is meant",
     "              ^~~"),
    ("f(x) = sin x/2", 1, 12, "read as sin(x)/2; write sin(x/2) if that is meant",
     "           ^~~"),
    ("f(x) = sin²x/2", 1, 12, "read as sin²(x)/2; write sin²(x/2) if that is meant",
     "           ^~~"),
    ("f(x) = sin⁻¹ x", 1, 8, "'sin⁻¹' is read as asin, the inverse function, not as "
     "1/sin; write sin(x)^-1 for the reciprocal", "       ^~~~~"),
    ("f(x) = tanh^{-1}(x)", 1, 8, "'tanh^{-1}' is read as atanh, the inverse function, not "
     "as 1/tanh; write tanh(x)^-1 for the reciprocal", "       ^~~~~~~~~"),
    ("f(x) = x⁽²⁾", 1, 9, "x⁽²⁾ is read as the power x^2; a bracketed superscript often "
     "marks a label or a derivative (for a label, write a name such as x_2)",
     "        ^~~"),
    ("\n\ng(x, y) = 1 +\n  x/2y", 4, 5, "read as (x/2)·y; write x/(2y) if that is meant",
     "    ^~"),
]

# Forms that read as a reader reads them: no warning.
CLEAR = ["f(x, y) = x²y", "f(x, y) = eˣʸ", "f(x, y) = x/(2y)", "f(x, y) = (x/2)y",
         "f(x, y) = x/2·y", "f(x, y) = sin x cos y", "f(x, y) = e^{xy}",
         "f(x, y) = 2|x| + 3|y|", "f(x) = √(2x)", "f(x, xy) = e^xy", "f(x, y) = xy²",
         "f(x) = ½x²", "f(x) = sin 2x", "f(x, y) = x^(2y)", "f(x) = sin(x)/2",
         "f(x) = ⅓x/2", "f(x) = 2^-x", "f(x, y) = sin x + y"]


def rendered(source: str, line: int, col: int, message: str, caret: str,
             kind: str = "warning", name: str = "m.txt") -> str:
    return (f"{name}:{line}:{col}: {kind}: {message}\n"
            f"    {source.split(chr(10))[line - 1]}\n    {caret}")


def compile_warnings(source: str, name: str = "m.txt") -> list[SourceWarning]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chaincc.compile(source, name=name)
    return [w.message for w in caught if issubclass(w.category, SourceWarning)]


@pytest.mark.parametrize(("source", "line", "col", "message", "caret"), WARNINGS)
def test_compile_emits_the_warning_with_its_caret(source, line, col, message, caret):
    found = compile_warnings(source)
    assert len(found) == 1
    (w,) = found
    assert isinstance(w, ChainccWarning) and isinstance(w, UserWarning)
    assert w.message == message
    assert (w.span.line, w.span.col) == (line, col)
    assert str(w) == rendered(source, line, col, message, caret)


@pytest.mark.parametrize("source", CLEAR)
def test_clear_forms_do_not_warn(source: str) -> None:
    assert compile_warnings(source) == []


def test_parser_collects_its_warnings_in_source_order() -> None:
    module = parse(Source("m.txt", "f(x, y) = sin x/2 + x/2y\ng(x, y) = x^2y"))
    assert [(w.span.line, w.span.col) for w in module.warnings] == [(1, 15), (1, 23),
                                                                     (2, 13)]
    assert [w.message.split(";")[0] for w in module.warnings] == [
        "read as sin(x)/2", "read as (x/2)·y", "read as x^2·y"]


def test_a_warning_in_a_binding_used_twice_is_emitted_once() -> None:
    found = compile_warnings("u = e^xy\nf(x, y) = u\ng(x, y) = u + 1\n")
    assert [(w.span.line, w.span.col, w.message) for w in found] == [
        (1, 7, "read as e^x·y; write e^(xy) if that is meant")]


def test_warnings_come_from_the_cache_too() -> None:
    source = "f(x, y) = x/2y + 0*17.25"         # a source no other test compiles
    first = compile_warnings(source)
    again = compile_warnings(source)
    unit = chaincc.compile_unit(source, name="m.txt")
    assert unit.cached
    assert [str(w) for w in again] == [str(w) for w in first] == [str(w) for w in unit.warnings]
    assert len(first) == 1


def test_warnings_point_at_the_callers_line() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chaincc.compile("f(x, y) = x/2y", name="m.txt")
    assert Path(caught[0].filename).name == "test_warnings.py"


def test_warnings_can_be_made_errors_in_python() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", SourceWarning)
        with pytest.raises(SourceWarning) as info:
            chaincc.compile("f(x, y) = x^2y", name="m.txt")
    assert info.value.message == "read as x^2·y; write x^(2y) if that is meant"


def test_the_value_is_the_documented_reading() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SourceWarning)
        assert chaincc.compile("f(x, y) = x/2y")(3.0, 5.0) == 7.5
        assert chaincc.compile("f(x, y) = e^xy")(0.0, 5.0) == 5.0


# ------------------------------------------------------------ command line

def write(tmp_path: Path, source: str) -> str:
    path = tmp_path / "m.txt"
    path.write_text(source, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("source", "line", "col", "message", "caret"),
                         [w for w in WARNINGS if "\n" not in w[0]])
def test_cli_prints_the_warning_to_stderr(tmp_path, capsys, source, line, col, message,
                                          caret):
    path = write(tmp_path, source)
    code = main(["explain", path])
    out, err = capsys.readouterr()
    assert code == 0 and out
    assert err == rendered(source, line, col, message, caret, name=path) + "\n"


def test_cli_eval_prints_the_value_and_the_warning(tmp_path, capsys) -> None:
    path = write(tmp_path, "f(x, y) = x/2y")
    assert main(["eval", path, "x=3", "y=5"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "f(x=3, y=5) = 7.5"
    assert err.startswith(f"{path}:1:13: warning: read as (x/2)·y;")


@pytest.mark.parametrize("command", [["eval", "FILE", "x=3", "y=5"], ["check", "FILE"],
                                     ["explain", "FILE"], ["graph", "FILE"],
                                     ["compile", "FILE", "-o", "OUT"]])
def test_werror_makes_warnings_errors(tmp_path, capsys, command) -> None:
    source = "f(x, y) = x/2y + x^2y"
    path = write(tmp_path, source)
    out_dir = tmp_path / "out"
    argv = [{"FILE": path, "OUT": str(out_dir)}.get(a, a) for a in command]
    code = main(argv[:1] + ["--Werror"] + argv[1:])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err == (
        rendered(source, 1, 13, "read as (x/2)·y; write x/(2y) if that is meant [--Werror]",
                 "            ^~", kind="error", name=path) + "\n"
        + rendered(source, 1, 20, "read as x^2·y; write x^(2y) if that is meant [--Werror]",
                   "                   ^~", kind="error", name=path) + "\n")
    assert not out_dir.exists()
    code = main(argv)                                   # without --Werror: warnings only
    out, err = capsys.readouterr()
    assert code == 0 and out
    assert err.count(": warning: ") == 2 and ": error: " not in err


def test_werror_without_warnings_changes_nothing(tmp_path, capsys) -> None:
    path = write(tmp_path, "f(x, y) = x/(2y)")
    assert main(["eval", "--Werror", path, "x=3", "y=5"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "f(x=3, y=5) = 0.3" and err == ""


def test_errors_still_win_over_warnings(tmp_path, capsys) -> None:
    path = write(tmp_path, "f(x, y) = x/2y + q")
    assert main(["eval", "--Werror", path, "x=3", "y=5"]) == 1
    _, err = capsys.readouterr()
    assert err.startswith(f"{path}:1:18: error: unknown name 'q'")
    with pytest.raises(ChainccError):
        chaincc.compile("f(x, y) = x/2y + q")


def test_a_warning_survives_pickling() -> None:
    """A worker process can hand its warnings back."""
    import pickle
    (w,) = compile_warnings("f(x, y) = x/2y")
    back = pickle.loads(pickle.dumps(w))
    assert isinstance(back, SourceWarning)
    assert (str(back), back.message, back.span) == (str(w), w.message, w.span)
