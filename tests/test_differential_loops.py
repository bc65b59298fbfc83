"""Differential testing of iteration: random sources that iterate (``randsource.loop_source``)
through chaincc's CPU paths, compared with the reference interpreter (chaincc/reference.py)
by tests/loopcheck.py.

A fixed set of seeds runs here; ``benchmarks/differential.py --loops`` runs thousands.
Each seed is compiled twice on the LLVM kernels (loops of at most 16 iterations unrolled,
as by default, and every loop a loop), checked one point at a time, in a batch of 19
points against the scalar calls, and summed; a few seeds also run on Numba's kernels.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import diffcheck
import loopcheck
import numpy as np
import pytest
import randsource
from randsource import loop_source

ROOT = Path(__file__).resolve().parent.parent

needs_reference = pytest.mark.skipif(not diffcheck.reference_available(),
                                     reason="chaincc.reference is not importable")

# Each covers some of: sums, products and Σ/∏ over an index, nested and dependent ranges,
# index arithmetic, the index as a number, scalar and vector recurrences with one or two
# states (a step reading the other state's t+1), reads at the end, at a constant index and
# over the history, arrays defined element by element, where/max/relu in loop bodies,
# fixed points, a vector-valued entry; trip counts on both sides of 16.
DEFAULT_SEEDS = (12, 16, 17, 22, 26, 30, 39, 49, 54, 56, 62, 106, 110, 111, 137, 177, 259)
LOOPS_SEEDS = (12, 17, 31, 39, 43, 49, 56, 62, 174, 261)
NUMBA_SEEDS = (5, 49)


def _assert_none(found) -> None:
    assert not found, loopcheck.describe(found[:3])


# ------------------------------------------------------------------ the generator -------

COVERED = {"sum", "prod", "sigma", "nested", "dependent-range", "matrix-read", "index-number",
           "index-offset", "recurrence", "vector-recurrence", "two-states", "reads-next",
           "history", "read-last", "read-at", "elementwise", "where", "max", "relu",
           "fixpoint", "fixpoint-in-loop", "vector-out", "vector-sum", "size", "axis",
           "slice", "helper", "binding"}


@needs_reference
def test_loop_sources_are_valid_and_cover_iteration() -> None:
    """Across 80 seeds every source is accepted by the reference (valid by construction)
    and has a value in a sane range; together they use every construct listed, with trip
    counts on both sides of chaincc's unrolling threshold."""
    from chaincc import reference
    features: set[str] = set()
    trips: list[int] = []
    for seed in range(80):
        src = loop_source(seed)
        features |= src.features
        trips += src.trips
        sig = reference.signature(src.text, entry=src.entry)
        assert list(sig.params) == [p.name for p in src.params]
        assert [tuple(s) for s in sig.shapes] == [p.shape for p in src.params]
        value, grads = reference.evaluate(src.text, src.points(1, salt=seed)[0])
        assert np.all(np.abs(value) < 1e4), (seed, value, src.text)
    features |= {f for seed in range(80, 300) for f in loop_source(seed).features}
    assert COVERED <= features, COVERED - features
    assert min(trips) <= 4 and 16 in trips and 17 in trips and max(trips) >= 31


def test_the_chosen_seeds_cover_both_unrolled_and_looped_iteration() -> None:
    chosen = [loop_source(s) for s in DEFAULT_SEEDS]
    assert any(max(s.trips, default=0) <= 16 and not s.features & {"fixpoint", "dependent-range"}
               for s in chosen)
    assert any(max(s.trips, default=0) > 16 for s in chosen)
    have = set().union(*(s.features for s in chosen))
    assert {"sum", "prod", "sigma", "dependent-range", "recurrence", "vector-recurrence",
            "two-states", "reads-next", "history", "elementwise", "where", "max",
            "fixpoint", "fixpoint-in-loop", "vector-out", "vector-sum", "axis", "slice",
            "index-offset", "helper", "binding"} <= have


def test_a_seed_gives_the_same_loop_source_in_every_process() -> None:
    code = ("import sys; sys.path.insert(0, 'tests'); import randsource; "
            "print(''.join(randsource.loop_source(s).text for s in range(30)))")
    outs = {subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                           text=True, check=True,
                           env=dict(os.environ, PYTHONHASHSEED=str(h))).stdout
            for h in (1, 2)}
    assert len(outs) == 1
    first, again = loop_source(3).points(4), loop_source(3).points(4)
    assert all(np.array_equal(p[k], q[k]) for p, q in zip(first, again) for k in p)


def test_the_straight_line_generator_is_unchanged() -> None:
    """``random_source`` writes what it wrote before the loop generator was added (its
    seeds name programs in other tests)."""
    text = "".join(randsource.random_source(s, 3) for s in range(50))
    assert hashlib.sha256(text.encode()).hexdigest() == \
        "db1b9836c219f8360df464969571b6715e4ba5286e40523e328773d9a00c8856"


# ------------------------------------------------------------------ the paths ----------

@needs_reference
@pytest.mark.parametrize("seed", DEFAULT_SEEDS)
def test_loop_sources_agree_with_the_reference(seed: int) -> None:
    """LLVM kernels as chaincc compiles by default: one point at a time, a batch of 19
    points (two groups of 8 in vector lanes and 3 one by one) against the scalar calls,
    and reduce="sum"."""
    tally = diffcheck.Tally({})
    found = loopcheck.check(loop_source(seed), ("llvm", "batch", "sum"), tally=tally)
    _assert_none(found)
    assert tally.checks["llvm"] == loopcheck.NPOINTS
    assert tally.checks["batch"] == loopcheck.NPOINTS + loopcheck.NBATCH
    assert tally.checks["sum"] == 1


@needs_reference
@pytest.mark.parametrize("seed", LOOPS_SEEDS)
def test_loop_sources_compiled_as_loops_agree_with_the_reference(seed: int) -> None:
    """The same with every sum, product and recurrence a loop, however short
    (``chaincc.iterate.UNROLL_ITERATIONS = 0``)."""
    from chaincc import iterate
    tally = diffcheck.Tally({})
    found = loopcheck.check(loop_source(seed), ("loops",), tally=tally)
    _assert_none(found)
    assert tally.checks["loops:looped"] == 1
    assert tally.checks["loops-batch"] == loopcheck.NPOINTS + loopcheck.NBATCH
    assert iterate.UNROLL_ITERATIONS == 16


@needs_reference
@pytest.mark.parametrize("seed", NUMBA_SEEDS)
def test_loop_sources_on_numba_agree_with_the_reference(seed: int) -> None:
    """``CHAINCC_CPU_BACKEND=numba``: Numba's scalar kernels against the reference, its
    batch kernel against its scalar calls."""
    tally = diffcheck.Tally({})
    found = loopcheck.check(loop_source(seed), ("numba",), tally=tally)
    if tally.checks.get("numba-unsupported"):
        pytest.skip("the Numba backend raises NotImplementedError for these loops")
    _assert_none(found)
    assert "numba-ran-on-llvm" not in tally.checks
    assert tally.checks["numba"] == loopcheck.NPOINTS
    assert tally.checks["numba-batch"] == loopcheck.NBATCH


# ------------------------------------------------------------------ the harness --------

@needs_reference
def test_the_loop_check_sees_a_wrong_oracle_and_a_wrong_batch(monkeypatch) -> None:
    """Not vacuous: an oracle whose gradient is off by one part in 10⁷ is caught on the
    scalar and batch paths, and a batch result that differs from the scalar call at one
    point of 19 is caught."""
    src = loop_source(9)
    real = diffcheck.reference

    def off(source, name, point, out_shape, shapes):
        r = real(source, name, point, out_shape, shapes)
        return diffcheck.Result(r.value, tuple(g * (1 + 1e-7) + 1e-7 for g in r.grads))

    monkeypatch.setattr(diffcheck, "reference", off)
    found = loopcheck.check(src, ("llvm", "batch"))
    assert {(d.backend, d.kind) for d in found} == {("llvm", "gradient"),
                                                   ("batch", "gradient")}
    assert all(d.point and d.source == src.text for d in found)
    monkeypatch.setattr(diffcheck, "reference", real)

    check = loopcheck.LoopCheck(src)
    scalar = [diffcheck.Result(np.array(1.0 + k), (np.array(2.0),)) for k in range(19)]
    same = list(scalar)
    check.against_scalar("batch", same, scalar)
    assert check.found == []
    same[17] = diffcheck.Result(np.array(18.0 * (1 + 1e-7)), (np.array(2.0),))
    check.against_scalar("batch", same, scalar)
    assert [(d.kind, "batch against scalar calls" in d.detail) for d in check.found] == \
        [("value", True)]


def test_unrolling_is_restored_after_the_block() -> None:
    from chaincc import iterate
    with pytest.raises(RuntimeError), loopcheck.unrolling(0):
        assert iterate.UNROLL_ITERATIONS == 0
        raise RuntimeError
    assert iterate.UNROLL_ITERATIONS == 16


def _bench():
    spec = importlib.util.spec_from_file_location("differential_bench",
                                                  ROOT / "benchmarks" / "differential.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_reference
def test_the_benchmark_draws_loop_sources(tmp_path) -> None:
    """``benchmarks/differential.py --loops``: a program's record, and its report with
    the reproducer written as found."""
    bench = _bench()
    assert bench.loop_paths_for(4, 2) == ("llvm", "batch", "sum", "loops", "numba")
    assert bench.loop_paths_for(5, 2) == ("llvm", "batch", "sum", "loops")
    record = bench._work_loops((8, ("llvm",), 2, 300))
    assert record["seed"] == 8 and record["found"] == [] and record["checks"]["llvm"] == 2
    bad = {"backend": "loops", "kind": "gradient", "function": "f", "seed": 8,
           "point": "a=0.5", "detail": "d/da got 1, want 2", "source": loop_source(8).text}
    assert bench.report([record, dict(record, seed=9, found=[bad])], tmp_path, 2,
                        "reference", 1, 0, loops=True) == 1
    text = (tmp_path / "repro" / "loops-gradient-0.txt").read_text()
    assert text.endswith(loop_source(8).text) and "d/da got 1, want 2" in text
    with pytest.raises(SystemExit):
        bench.main(["--loops", "--cuda", "1", "--out", str(tmp_path)])


def test_the_benchmark_stops_a_program_that_takes_too_long(monkeypatch) -> None:
    import time
    bench = _bench()
    monkeypatch.setattr(loopcheck, "check", lambda *a, **k: time.sleep(30))
    start = time.perf_counter()
    record = bench._work_loops((8, ("llvm",), 2, 1))
    assert time.perf_counter() - start < 10
    assert [(d["backend"], d["kind"]) for d in record["found"]] == [("time", "timeout")]
    assert record["found"][0]["source"] == loop_source(8).text


# ------------------------------------------------------------------ found by the run ----
# Disagreements the loop sources found, reduced by hand (the reference agrees with the
# closed form): each would fail again if its fix were undone.

@needs_reference
@pytest.mark.parametrize("src, want", [
    # z = 0.5 z + 0.1 Σ x[i]: z = 0.2 Σ x[i], ∂z/∂x[i] = 0.2 (chaincc: 8.4)
    ("f(a, x[20]) = fixpoint(z -> 0.5·z + 0.1*sum(x[i] for i = 0..19), 0) + a", 0.2),
    # Σ_i z_i with z_i = 0.5 z_i + x[i]: ∂/∂x[i] = 2 (chaincc: 84)
    ("f(a, x[20]) = sum(fixpoint(z -> 0.5*z + x[i], 0) for i = 0..19) + a", 2.0),
])
def test_a_read_inside_a_fixed_point_gets_its_gradient_once(src: str, want: float) -> None:
    import chaincc
    from chaincc import reference
    at = {"a": 0.5, "x": np.linspace(-1, 1, 20)}
    assert reference.evaluate(src, at)[1]["x"] == pytest.approx(np.full(20, want))
    got = chaincc.compile(src).value_and_grad(**at)[1][1]
    assert got == pytest.approx(np.full(20, want), rel=1e-9)


@needs_reference
def test_a_column_slice_at_a_loop_index_compiles() -> None:
    import chaincc
    from chaincc import reference
    src = "f(b[20], W[2, 20]) = sum(tanh(sum(b[k]*W[:, k] for k = 0..19)))"
    rng = np.random.default_rng(0)
    at = {"b": rng.uniform(-1, 1, 20), "W": rng.uniform(-1, 1, (2, 20))}
    want = math.fsum(np.tanh(at["W"] @ at["b"]))
    assert reference.evaluate(src, at)[0] == pytest.approx(want, rel=1e-14)
    assert chaincc.compile(src).value_and_grad(**at)[0] == pytest.approx(want, rel=1e-12)


def test_the_gradient_of_a_selecting_recurrence_grows_linearly_with_its_steps() -> None:
    """The gradient program grows (if at all) by a bounded number of operations a step,
    as it does for ``tanh(w·h[t])``; it must not double with every step."""
    import chaincc
    ops = {}
    for T in (8, 10):
        src = (f"h[0] = 0.1\nh[t+1] = where(h[t] > 0, tanh(w*h[t]), 0.5*h[t])   "
               f"for t = 0..{T - 1}\nf(w) = h[{T}]\n")
        ops[T] = chaincc.compile(src).op_counts()
    # (such a step compiles as a loop however short: the forward program does not grow)
    assert ops[10]["forward"] - ops[8]["forward"] <= 10
    assert ops[10]["value_and_grad"] < 1.5 * ops[8]["value_and_grad"], ops
