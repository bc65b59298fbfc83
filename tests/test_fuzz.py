"""A fixed-seed slice of the fuzzer (benchmarks/fuzz.py): grammar-aware and byte-level
inputs end in a result or a located ChainccError, within a time and memory limit, through
the front end and every writer, ``chaincc.compile`` and a call, and the CLI."""

from __future__ import annotations

import importlib.util
import random
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from chaincc.diagnostics import ChainccError

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "fuzz.py"
_spec = importlib.util.spec_from_file_location("chaincc_fuzz", _PATH)
assert _spec is not None and _spec.loader is not None
fuzz = importlib.util.module_from_spec(_spec)
sys.modules["chaincc_fuzz"] = fuzz
_spec.loader.exec_module(fuzz)


def run_in_process(tmp: Path, data: bytes) -> dict:
    path = tmp / "input.txt"
    path.write_bytes(data)
    return fuzz.run_case("front", str(path), 10.0)


@settings(max_examples=25, deadline=None)
@given(rng=hs.randoms(use_true_random=False))
def test_grammar_sources_end_in_a_result_or_a_located_error(tmp_path_factory, rng) -> None:
    r = run_in_process(tmp_path_factory.mktemp("g"), fuzz.grammar_source(rng).encode())
    assert r["outcome"] in ("ok", "error"), r
    assert r["seconds"] < 10


@settings(max_examples=25, deadline=None)
@given(rng=hs.randoms(use_true_random=False))
def test_mutated_bytes_end_in_a_result_or_a_located_error(tmp_path_factory, rng) -> None:
    r = run_in_process(tmp_path_factory.mktemp("b"), fuzz.byte_source(rng))
    assert r["outcome"] in ("ok", "error"), r
    assert r["seconds"] < 10


def test_generators_are_deterministic_and_varied() -> None:
    a = [fuzz.make_case(3, i, 10, 50).data for i in range(50)]
    assert a == [fuzz.make_case(3, i, 10, 50).data for i in range(50)]
    assert len(set(a)) > 45
    modes = [fuzz.make_case(3, i, 10, 50).mode for i in range(50)]
    assert modes.count("cli") == 1 and modes.count("call") == 4


def test_the_harness_reports_what_it_finds(tmp_path: Path) -> None:
    """The oracle is not vacuous: an error without a span is reported as unlocated, and
    a worker past its time limit as a hang (and is killed)."""
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"f(x) = x")
    r = fuzz.run_case("front", str(tmp_path / "missing.txt"), 10.0)
    assert r["outcome"] == "unlocated"          # a file that cannot be read has no span
    w = fuzz.Worker(2 << 30, {"PATH": "/usr/bin:/bin"})
    start = time.perf_counter()
    r = w.run("front", str(bad), 0.01)          # the worker cannot even start in 10 ms
    assert r["outcome"] == "hang" and time.perf_counter() - start < 5
    assert w.proc is None


def test_fixed_seed_slice_through_workers() -> None:
    """40 inputs in a worker subprocess with a 10 s limit each and a memory limit; one in
    20 is compiled and called, one goes through the CLI in subprocesses."""
    rep = fuzz.fuzz(n=40, seed=20261201, workers=1, timeout=10.0, memory=6 << 30,
                    call_every=20, cli_every=40)
    assert rep["inputs"] == 40 and rep["modes"] == {"front": 38, "call": 1, "cli": 1}
    assert rep["findings"] == {}, rep["findings"]
    assert set(rep["outcomes"]) <= {"ok", "error"}
    assert rep["outcomes"].get("ok", 0) >= 5 and rep["outcomes"].get("error", 0) >= 5
    assert rep["worst_seconds"] < 40


def test_located_error_is_what_the_harness_expects(tmp_path: Path) -> None:
    r = run_in_process(tmp_path, b"f(x) = x +")
    assert r["outcome"] == "error"
    r = run_in_process(tmp_path, b"f(x, y) = x^2 y")
    assert r["outcome"] == "ok"
    with pytest.raises(ChainccError):
        fuzz._front(str(tmp_path / "missing.txt"))


def test_random_bytes_decode_paths(tmp_path: Path) -> None:
    rng = random.Random(5)
    for _ in range(20):
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
        assert run_in_process(tmp_path, data)["outcome"] in ("ok", "error")
