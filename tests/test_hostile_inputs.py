"""Inputs that used to hang or crash end quickly, in a result or a located ChainccError:
name splitting, source size, deep nesting, lone surrogates and bad UTF-8, array
dimensions, deep command-line values and bad command-line counts."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import chaincc
from chaincc import cli
from chaincc.builtins import BUILTINS, CONSTANTS
from chaincc.diagnostics import ChainccError
from chaincc.lexer import MAX_NESTING, MAX_TOKENS
from chaincc.lower import Lowerer, Scope
from chaincc.parser import parse
from chaincc.source import MAX_SOURCE_BYTES, Source, read_source


def located_error(text: str, seconds: float = 5.0) -> ChainccError:
    start = time.perf_counter()
    with pytest.raises(ChainccError) as info:
        chaincc.compile(text)
    assert time.perf_counter() - start < seconds
    assert info.value.span is not None
    return info.value


# ---------------------------------------------------------------- name splitting

def reference_split(name: str, known: frozenset[str]) -> list[str] | None:
    """Longest name first, backtracking: the rule of docs/language.md, by brute force."""
    @functools.cache
    def rest(pos: int) -> tuple[str, ...] | None:
        if pos == len(name):
            return ()
        for end in range(len(name), pos, -1):
            if name[pos:end] in known:
                tail = rest(end)
                if tail is not None:
                    return (name[pos:end], *tail)
        return None
    found = rest(0)
    return None if found is None else list(found)


@settings(max_examples=60, deadline=None)
@given(params=hs.lists(hs.text("abxy", min_size=1, max_size=4), min_size=1, max_size=5,
                       unique=True),
       name=hs.text("abxy", min_size=1, max_size=24))
def test_split_matches_longest_first_backtracking(params: list[str], name: str) -> None:
    params = [p for p in params if p not in BUILTINS and p not in CONSTANTS]
    src = Source("<t>", "f(q) = q")
    lowerer = Lowerer(parse(src), src)
    scope = Scope({p: 1 for p in params}, 1)
    known = frozenset(params) | frozenset(BUILTINS) | frozenset(CONSTANTS) | {"f"}
    known = frozenset(k for k in known if lowerer._kind(k, scope) is not None)
    assert lowerer._split(name, scope) == reference_split(name, known)


def test_split_examples_of_the_language() -> None:
    f = chaincc.compile("f(x, xx) = xxx")        # longest first: xx·x
    assert f.value_and_grad(3.0, 5.0) == (15.0, (5.0, 3.0))


@pytest.mark.parametrize("text", [
    "f(x, xx) = " + "x" * 34 + "q",
    "f(x, xx) = " + "x" * 250 + "q",
    "f(x, y) = " + "xy" * 10_000,
])
def test_long_runs_of_names_end_quickly(text: str) -> None:
    located_error(text, seconds=1.0)


def test_long_split_that_succeeds() -> None:
    f = chaincc.compile("f(x, y) = " + "xy" * 20)
    assert f.value_and_grad(1.0, 2.0)[0] == 2.0 ** 20


# ---------------------------------------------------------------- source size

def test_dev_zero_is_refused_quickly(capsys) -> None:
    start = time.perf_counter()
    with pytest.raises(ChainccError) as info:
        read_source("/dev/zero")
    assert info.value.span is not None and info.value.file == "/dev/zero"
    assert "limit" in info.value.message
    assert cli.main(["compile", "/dev/zero"]) == 1
    assert cli.main(["eval", "/dev/zero", "x=1"]) == 1
    assert "/dev/zero:1:1: error:" in capsys.readouterr().err
    assert time.perf_counter() - start < 3


def test_oversized_source_text_and_file(tmp_path: Path) -> None:
    line = "f(x) = x\n"
    text = line * (MAX_SOURCE_BYTES // len(line) + 1)
    located_error(text)
    big = tmp_path / "big.txt"
    big.write_text(text, encoding="utf-8")
    with pytest.raises(ChainccError):
        chaincc.compile(big)
    # just under the limit is read (and compiles: it is one function defined many times)
    fits = tmp_path / "fits.txt"
    fits.write_text("# " + "c" * (MAX_SOURCE_BYTES - 20) + "\nf(x) = 2x\n",
                    encoding="utf-8")
    assert chaincc.compile(fits)(2.0) == 4.0


# ---------------------------------------------------------------- deep nesting

@pytest.mark.parametrize("text", [
    "f(x) = " + "sin(" * 100_000 + "x" + ")" * 100_000,
    "f(x) = " + "[" * 100_000 + "x" + "]" * 100_000,
    # operator chains are refused by the parser, after the lexer has read them all
    "f(x) = " + "x^" * 30_000 + "x",
    "f(x) = " + "-" * 30_000 + "x",
])
def test_nesting_past_the_limit_is_refused_quickly(text: str) -> None:
    err = located_error(text, seconds=5.0)
    assert err.line == 1 and err.col > 7
    assert "nested" in err.message


def test_token_limit() -> None:
    err = located_error("f(x) = " + "x+" * (MAX_TOKENS // 2) + "x", seconds=10.0)
    assert "tokens" in err.message and err.col == 8 + MAX_TOKENS - 5   # token 100,001


def test_nesting_at_the_limit_parses() -> None:
    src = Source("<t>", "f(x) = " + "-(" * (MAX_NESTING // 2) + "x" + ")" * (MAX_NESTING // 2))
    assert len(parse(src).statements) == 1


# ----------------------------------------------------------- text that is not text

@pytest.mark.parametrize(("text", "line", "col"), [
    ("f(x) = x  # a comment \ud800\n", 1, 23),
    ("f(x) = x\ng(x) = \udcff x\n", 2, 8),
    ("f(\udfff) = 1", 1, 3),
])
def test_lone_surrogates_are_located(text: str, line: int, col: int) -> None:
    err = located_error(text)
    assert (err.line, err.col) == (line, col)
    assert "surrogate" in err.message
    str(err).encode("utf-8")


def test_invalid_utf8_file_is_located(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"f(x) = x\ng(x) = x + \xff\xfe\n")
    with pytest.raises(ChainccError) as info:
        chaincc.compile(bad)
    assert (info.value.line, info.value.col) == (2, 12)
    assert "UTF-8" in info.value.message


def test_long_lines_render_a_window_around_the_caret() -> None:
    err = located_error("f(x) = " + "x + " * 20_000 + "x $ x")
    lines = str(err).splitlines()
    assert len(lines) == 3 and all(len(ln) < 200 for ln in lines)
    caret = lines[2].index("^")
    assert lines[1][caret] == "$"


# ---------------------------------------------------------------- arrays

def test_array_dimensions_are_bounded() -> None:
    err = located_error("f(x) = sum(" + "[" * 33 + "x" + "]" * 33 + ")")
    assert err.col == 12 + 16
    err = located_error("f(x[" + ",".join(["1"] * 17) + "]) = sum(x)")
    assert err.col == 5 + 2 * 16
    f = chaincc.compile("f(x) = sum(" + "[" * 16 + "x" + "]" * 16 + ")")
    assert f.value_and_grad(2.0) == (2.0, (1.0,))


# ---------------------------------------------------------------- command line

def test_deep_command_line_value_is_a_clear_error(tmp_path: Path, capsys) -> None:
    src = tmp_path / "v.txt"
    src.write_text("f(v[2]) = sum(v)\n", encoding="utf-8")
    deep = "[" * 5000 + "1" + "]" * 5000
    assert cli.main(["eval", str(src), f"v={deep}"]) == 1
    err = capsys.readouterr().err
    assert "nested more than" in err and "Traceback" not in err
    assert cli.main(["eval", str(src), "v=[1,2]"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "f(v=[1, 2]) = 3"


@pytest.mark.parametrize("points", ["-5", "0", "x"])
def test_check_points_must_be_positive(tmp_path: Path, capsys, points: str) -> None:
    src = tmp_path / "c.txt"
    src.write_text("f(x) = x^2\n", encoding="utf-8")
    assert cli.main(["check", str(src), "--points", points]) == 2
    assert "--points" in capsys.readouterr().err


def test_program_text_with_a_nan_constant_factor():
    """``--emit ir`` of a product with a folded NaN factor (found by the fuzzer): SymPy's
    printer cannot order a NaN coefficient, the program text still comes out."""
    fn = chaincc.compile("f(b) = acosh(acosh(0.5)*b)")
    text = fn.program.dump()
    assert "Mul(nan, b)" in text and "out grad_b = nan" in text
