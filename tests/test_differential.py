"""Differential testing: generated programs (tests/progs.py) through every evaluation path,
compared with the reference interpreter (chaincc/reference.py) by tests/diffcheck.py.

A fixed set of seeds runs here; benchmarks/differential.py runs tens of thousands. Numba
compilation is the cost, so each program holds several functions (with helpers and
bindings) and the expensive paths see fewer programs than the cheap ones.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import diffcheck
import numpy as np
import progs
import pytest
from hypothesis import HealthCheck, given, settings

needs_reference = pytest.mark.skipif(not diffcheck.reference_available(),
                                     reason="chaincc.reference is not importable")

ROOT = Path(__file__).resolve().parent.parent
HAS_NUMBA_CUDA = subprocess.run([sys.executable, "-c", "import numba_cuda"],
                                capture_output=True).returncode == 0


def _assert_none(found: list[diffcheck.Disagreement]) -> None:
    assert not found, "\n\n".join(
        f"{d.backend} {d.kind} in {d.function} (seed {d.seed}) at {d.point}: {d.detail}\n"
        f"{d.source}" for d in found[:5])


@needs_reference
@pytest.mark.parametrize("seed", range(4))
def test_cheap_paths_agree_with_the_reference(seed: int) -> None:
    """Numba scalar kernels, the float64 evaluator, the derivation and the LLVM backend."""
    tally = diffcheck.Tally({})
    found = diffcheck.check_program(progs.generate(seed, functions=4),
                                    ("numba", "eval", "derive", "llvm"), tally=tally)
    _assert_none(found)
    assert tally.checks.get("numba", 0) >= 12


@needs_reference
@pytest.mark.parametrize("seed, paths", [(100, ("batch", "sum")), (101, ("c", "explain")),
                                         (102, ("c", "explain"))])
def test_batch_reduce_c_and_explain_agree_with_the_reference(seed: int, paths) -> None:
    tally = diffcheck.Tally({})
    found = diffcheck.check_program(progs.generate(seed, functions=2), paths, tally=tally)
    _assert_none(found)
    assert tally.checks.get(paths[0], 0) >= 6


SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]


@needs_reference
@settings(max_examples=3, deadline=None, suppress_health_check=SLOW)
@given(prog=progs.programs(functions=2))
def test_drawn_programs_agree_on_the_paths_without_numba(prog: progs.Program) -> None:
    found = diffcheck.check_program(prog, ("eval", "derive", "llvm"))
    _assert_none(found)


@needs_reference
@pytest.mark.skipif(not HAS_NUMBA_CUDA, reason="numba-cuda not installed")
def test_cuda_simulator_agrees_with_the_reference() -> None:
    env = {k: v for k, v in os.environ.items()}
    env["NUMBA_ENABLE_CUDASIM"] = "1"
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "diffcheck.py"), "--cuda",
                        "200", "201"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    data = json.loads(r.stdout.strip().splitlines()[-1])
    assert data["checks"].get("cuda", 0) >= 12
    found = [d for d in data["found"] if d["kind"] != "simulator-limit"]
    assert found == [], found[:3]


# ------------------------------------------------------------------ the harness itself --

def test_the_comparison_sees_each_kind_of_disagreement() -> None:
    want = diffcheck.Result(np.array(2.0), (np.array([1.0, -3.0]),))
    same = diffcheck.Result(np.array(2.0 + 1e-12), (np.array([1.0, -3.0]),))
    assert diffcheck.compare(same, want, 0.0, ["v"]) is None
    off = diffcheck.Result(np.array(2.0), (np.array([1.0, -3.0 * (1 + 1e-7)]),))
    assert diffcheck.compare(off, want, 0.0, ["v"])[0] == "gradient"
    assert diffcheck.compare(diffcheck.Result(np.array(2.1), want.grads), want, 0.0,
                             ["v"])[0] == "value"
    nan = diffcheck.Result(np.array(math.nan), want.grads)
    assert diffcheck.compare(nan, want, 0.0, ["v"])[0] == "nan-mismatch"
    both = diffcheck.Result(np.array(math.nan), want.grads)
    assert diffcheck.compare(both, both, 0.0, ["v"]) is None
    inf = diffcheck.Result(np.array(math.inf), want.grads)
    assert diffcheck.compare(inf, inf, 0.0, ["v"]) is None
    minus = diffcheck.Result(np.array(-math.inf), want.grads)
    assert diffcheck.compare(minus, inf, 0.0, ["v"])[0] == "inf-mismatch"
    err = diffcheck.Result(None, (), "ZeroDivisionError")
    assert diffcheck.compare(err, want, 0.0, ["v"])[0] == "exception"
    # the absolute floor: a small difference in a result much smaller than its terms
    tiny = diffcheck.Result(np.array(1e-12), want.grads)
    zero = diffcheck.Result(np.array(0.0), want.grads)
    assert diffcheck.compare(tiny, zero, 0.0, ["v"])[0] == "value"
    assert diffcheck.compare(tiny, zero, 1e-11, ["v"]) is None


@needs_reference
def test_a_wrong_oracle_is_reported_per_backend() -> None:
    """The harness is not vacuous: an oracle whose gradient is off by one part in 10⁷ (or
    whose value is NaN) is caught on every path."""
    prog = progs.generate(7, functions=2)

    def off(source, name, point, out_shape, shapes):
        r = diffcheck.reference(source, name, point, out_shape, shapes)
        return diffcheck.Result(r.value, tuple(g * (1 + 1e-7) + 1e-7 for g in r.grads))

    def nan(source, name, point, out_shape, shapes):
        r = diffcheck.reference(source, name, point, out_shape, shapes)
        return diffcheck.Result(r.value * math.nan, r.grads)

    found = diffcheck.check_program(prog, ("eval", "derive", "llvm"), oracle=off)
    assert {(d.backend, d.kind) for d in found} >= {("eval", "gradient"),
                                                   ("llvm", "gradient")}
    found = diffcheck.check_program(prog, ("eval",), oracle=nan)
    assert {d.kind for d in found} == {"nan-mismatch"}


# ------------------------------------------------------------------ the generator ------

BUILTINS = ("sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh exp expm1 log ln "
            "log1p log2 log10 sqrt cbrt abs sign floor ceil erf erfc relu sigmoid softplus "
            "atan2 pow hypot min max where sum mean prod dot norm logsumexp softmax "
            "transpose").split()


def test_generated_programs_cover_the_language() -> None:
    """Across a few dozen seeds: every built-in, where with and/or/not, @, literals and
    indexing, bindings that name a helper's parameters used in that helper, and
    parameters that shadow a binding, a helper and a constant."""
    texts = [progs.generate(seed, functions=4) for seed in range(60)]
    joined = "\n".join(p.source() for p in texts)
    for b in BUILTINS:
        assert re.search(rf"\b{b}\(", joined), b
    for token in (" and ", " or ", "not (", " @ ", "'", "[[", "²", "log(1 + ", "<=", "!=",
                  "=="):
        assert token in joined, token
    assert re.search(r"\b[a-zA-Z]\w*\[\d\]", joined) and re.search(r"\[\d, \d\]", joined)
    scoped = shadow_binding = shadow_helper = shadow_const = vector_out = 0
    for p in texts:
        bindings = {s.name: s for s in p.statements if not s.is_function}
        helpers = {s.name for s in p.statements if s.is_function and s.helper}
        for s in p.functions():
            names = {n for n, _ in s.params}
            used = s.body.all_names()
            if s.helper and any(b in used and bindings[b].body.all_names() & names
                                for b in bindings):
                scoped += 1
            shadow_binding += bool(names & set(bindings))
            shadow_helper += bool(names & helpers)
            shadow_const += bool(names & {"e", "pi"})
            vector_out += s.body.shape != ()
    assert min(scoped, shadow_binding, shadow_helper, shadow_const, vector_out) >= 3, \
        (scoped, shadow_binding, shadow_helper, shadow_const, vector_out)


def test_generated_programs_compile() -> None:
    import chaincc
    for seed in range(300, 330):
        prog = progs.generate(seed, functions=3)
        unit = chaincc.compile_unit(prog.source())
        assert unit.names == [s.name for s in prog.functions()]


def test_minimise_keeps_what_the_failure_needs() -> None:
    prog = progs.generate(11, functions=5)
    last = prog.functions()[-1].name

    def fails(p: progs.Program, name: str) -> bool:
        return "sin" in p.function(name).body.render()

    if not fails(prog, last):
        prog = progs.Program(prog.statements[:-1] + (progs.Statement(
            last, progs.op("sin({0})", (), progs.leaf("x", (), "x")), (("x", ()),)),),
            prog.seed)
    small = progs.minimise(prog, last, fails)
    assert fails(small, last)
    assert small.statements[-1].name == last
    assert len(small.source()) < len(prog.source())
    assert small.function(last).body.size() <= 3


# ------------------------------------------------------------------ found by the run ----

@needs_reference
def test_explain_gives_the_where_derivative_past_a_nan_branch() -> None:
    """``where`` selects in every derivative (docs/language.md), in ``explain`` too."""
    import chaincc
    from chaincc import reference
    src = "f(h, y) = where(h > 0, y, sqrt(y))"
    at = {"h": 1.0, "y": -0.8}
    value, grads = reference.evaluate(src, at)
    assert (value, grads["y"]) == (-0.8, 1.0)
    fn = chaincc.compile(src)
    assert diffcheck.run_derive(fn, at).grads[1] == 1.0
    assert diffcheck.run_explain(fn, at).grads[1] == 1.0


def test_explain_of_a_matrix_literal_holding_pi_twice() -> None:
    import chaincc
    fn = chaincc.compile("h(w[3]) = sum([[π, 3, w[1]], [w[0], π, w[2]]])")
    text = fn.explain(at={"w": [0.5, 0.25, 2.0]})
    assert text.rstrip().endswith("= 1")


def _both_ways(src: str, at: dict) -> tuple:
    import chaincc
    from chaincc import reference
    value, grads = reference.evaluate(src, at)
    got = chaincc.compile(src).value_and_grad(**at)
    return (value, tuple(grads[k] for k in at)), got


@needs_reference
@pytest.mark.parametrize("src, at", [
    ("f(a, b) = max(a, b^2*sqrt(b))", {"a": 1.0, "b": 0.0}),
    ("f(a, y) = min([a, sqrt(y), a])", {"a": 0.5, "y": -1.0}),
])
def test_max_and_min_send_nothing_to_the_arguments_they_do_not_pick(src, at) -> None:
    want, got = _both_ways(src, at)
    assert want[1][1] == 0.0
    assert got == want


@needs_reference
@pytest.mark.parametrize("src, at", [
    ("f(q, y) = atan2(relu(y), q - q)", {"q": -1.0, "y": -0.5}),
    ("f(x) = atan2(x, x)", {"x": 0.0}),
    ("f(v[2]) = mean(atan2([v[0], v[1]], [v[0], 2]))", {"v": [0.0, 1.0]}),
    ("f(x, y) = sqrt(x*y) + x", {"x": 0.0, "y": 0.0}),
])
def test_the_adjoint_does_not_cancel_terms_that_ieee_would_not(src, at) -> None:
    """Found by the differential run: the two sides of ``q - q`` (or of atan2(x, x))
    send a and −a, which SymPy cancelled to 0 while 0·nan is nan; the sweep now adds
    them as float64 does, and agrees with the stepwise reference."""
    want, got = _both_ways(src, at)
    for g, w in zip(got[1], want[1]):
        assert np.array_equal(np.asarray(g), np.asarray(w), equal_nan=True), (got, want)
    assert any(np.isnan(np.asarray(g)).any() for g in got[1])


@needs_reference
@pytest.mark.parametrize("src, at, nan", [
    ("f(h, x) = relu(h*sqrt(x))", {"h": 2.0, "x": 0.0}, True),        # 0·inf
    ("f(h, x) = relu(h*sqrt(x))", {"h": 2.0, "x": -1.0}, True),
    ("f(h, x) = relu(log2(abs(h) + 0.25)*where(0.25 > h, sqrt(x), x))",
     {"h": -0.004, "x": -1.0}, True),
    ("f(h, x) = relu(h*x)*x", {"h": 2.0, "x": 3.0}, False),
    ("f(h, x) = max(h*sqrt(x), 0)", {"h": 2.0, "x": 0.0}, False),    # max selects
    ("f(h, x) = log(relu(x))*h", {"h": 2.0, "x": -1.0}, True),
])
def test_relu_multiplies_and_max_selects(src, at, nan) -> None:
    """relu's partial (1 or 0) multiplies, in the kernels, explain's derivation and the
    reference alike (a finding of the differential run: the kernels selected in some
    places and multiplied in others); max(x, 0) selects."""
    want, got = _both_ways(src, at)
    assert np.array_equal(np.array(got[1]), np.array(want[1]), equal_nan=True), (got, want)
    assert any(math.isnan(g) for g in got[1]) == nan
    fn = __import__("chaincc").compile(src)
    derived = diffcheck.run_derive(fn, at).grads
    assert np.array_equal(np.array([float(g) for g in derived]), np.array(got[1]),
                          equal_nan=True)


def test_near_ties_and_overflow_are_told_apart_from_disagreements() -> None:
    """The harness's two documented excuses, and nothing else."""
    from chaincc import reference_math as R
    tie = diffcheck.reference("f(x) = floor(3*mean(softmax([x, x, x])))", "f", {"x": 1.04},
                              (), ((),))
    assert tie.near_tie and R.NEAR_TIES > 0
    calm = diffcheck.reference("f(x) = floor(3.5*x)", "f", {"x": 1.04}, (), ((),))
    assert not calm.near_tie
    assert diffcheck.excused(("value", "value got 0, want 1"), tie) == "near-tie"
    assert diffcheck.excused(("nan-mismatch", "d/dt got nan, want inf"), calm) == "overflow"
    assert diffcheck.excused(("nan-mismatch", "d/dt got -inf, want nan"), calm) == "overflow"
    assert diffcheck.excused(("nan-mismatch", "d/dt got nan, want 1.5"), calm) is None
    assert diffcheck.excused(("nan-mismatch", "value got nan, want inf"), calm) is None
    assert diffcheck.excused(("gradient", "d/dt got 1, want 2"), calm) is None


@needs_reference
def test_explain_gives_the_kernels_gradient_at_a_hypot_origin() -> None:
    """A zero adjoint times a nan partial is nan in the derivation too; only a partial
    that a where/max/min/relu selected away sends nothing (a finding of the differential
    run)."""
    import chaincc
    fn = chaincc.compile("f(x, y) = hypot(x, x)*x + y")
    at = {"x": 0.0, "y": 1.0}
    kernel = fn.value_and_grad(**at)[1][0]
    assert math.isnan(kernel)
    assert math.isnan(float(diffcheck.run_derive(fn, at).grads[0]))


@needs_reference
@pytest.mark.parametrize("src, at, want", [
    ("f(h) = atan2(h, -1)", {"h": -0.0}, -math.pi),
    ("f(h) = 1/ceil(h)", {"h": -0.5}, -math.inf),
])
def test_the_reference_keeps_negative_zero(src, at, want) -> None:
    """ceil(-0.5) is -0.0 in IEEE float64, and the kernels keep it (a finding of the
    differential run)."""
    from chaincc import reference
    assert reference.evaluate(src, at)[0] == want


def test_a_seed_gives_the_same_program_in_every_process() -> None:
    """Reproducers are named by seed, so generation may not depend on hash order."""
    code = ("import sys; sys.path.insert(0, 'tests'); import progs; "
            "print(''.join(progs.generate(s, functions=4).source() for s in range(40)))")
    outs = {subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                           text=True, check=True,
                           env=dict(os.environ, PYTHONHASHSEED=str(h))).stdout
            for h in (1, 2, 3)}
    assert len(outs) == 1


@needs_reference
def test_a_nan_element_does_not_erase_the_gradient_of_the_others() -> None:
    """A found by the differential run: SymPy's nan absorbed the whole sum."""
    want, got = _both_ways("f(h) = acosh([0.25, 3]) @ [0.5, h]", {"h": -1.5})
    assert math.isnan(want[0]) and want[1][0] == pytest.approx(math.acosh(3))
    assert math.isnan(got[0]) and got[1][0] == want[1][0]


@needs_reference
@pytest.mark.parametrize("src, h", [
    ("f(h) = [0, 1] @ [h, 1]", math.inf),            # 0·inf is nan, not dropped
    ("f(h) = dot([0, 1], [h, 1])", math.inf),
    ("f(h) = prod([0, h])", math.inf),
    ("f(h) = prod([0, h])", -1.5),                   # -0.0
    ("f(h) = mean([h, -h])", math.inf),
    ("f(h) = sum([h, 0])", -0.0),                    # -0.0 + 0 is +0.0
    ("f(h) = sum([nan_, h])", 2.0),
    ("f(h) = norm([h, 1e200])", 3.0),
])
def test_array_reductions_compute_as_written_in_ieee(src, h) -> None:
    """Sums, dot and matrix products and products over array elements are IEEE float64
    operations, as the scalar ``+`` and ``*`` are: no term is dropped or cancelled, and
    constants are added in float64."""
    src = src.replace("nan_", "acosh(0.5)")
    want, got = _both_ways(src, {"h": h})
    assert np.array_equal(np.array(got[0]), np.array(want[0]), equal_nan=True), (got, want)
    assert math.copysign(1, got[0]) == math.copysign(1, want[0]) or math.isnan(got[0])
    g, w = got[1][0], want[1][0]
    assert (math.isnan(g) and math.isnan(w)) or g == pytest.approx(w, rel=1e-13), (got, want)


def test_a_sum_of_constants_folds_in_float64_from_left_to_right() -> None:
    """As a kernel adds them (the high-precision reference would give 1 here)."""
    import chaincc
    fn = chaincc.compile("f(h) = sum([1e16, 1, -1e16])*h + dot([0.1, 0.2], [0.3, 0.7])")
    assert fn.value_and_grad(h=-1.5) == (0.1 * 0.3 + 0.2 * 0.7, (0.0,))


@needs_reference
@pytest.mark.parametrize("src, at", [
    # logsumexp of +inf elements is inf, of -inf ones -inf (the shift was inf - inf)
    ("f(y) = -logsumexp([exp(1000y), exp(1000y), y])", {"y": 1.0}),
    ("f(y) = logsumexp([-exp(1000y), -exp(1000y)])", {"y": 1.0}),
    # a nan constant in the branch where did not pick: not a bounded factor
    ("s = atanh(3)\nf(y, x) = where(asinh(y) >= 0, x, s*s + s*y)", {"y": 0.7, "x": 0.5}),
    # atan2(m, m) through a mean: its partials cancel to 0, and 0·nan is nan in explain too
    ("h(w[3], e) = (atan2(mean(w), mean([e, w[1], e])))^0.5\n"
     "f(s) = log10(abs(h([s, s, s], s)) + 0.25)", {"s": -1.3166019529078512}),
    # a constant element of logsumexp: SymPy split exp(844464.6 - m) into 2e366746·exp(-m)
    ("f(t, e) = logsumexp(pow(0.5 + ([4.5, e, t])^2, 4.5))",
     {"t": -0.19142621173708685, "e": 1.702411031240715}),
    # (-0)^-0.5 is +inf, as C's pow gives it (1/sqrt(-0) is -inf)
    ("f(w) = (ceil(w))^-0.5", {"w": -0.4178987928294746}),
    # z·z^(1/3) at 0: SymPy combined the adjoint z with z^(-2/3) into z^(1/3)/3, 0 not nan
    ("f(z, x) = ([0.001, z]^(1/3) + x) @ [2, z]", {"z": 0.0, "x": 1.5}),
    # s = h/(1 + norm²): explain's formula n·h/n was h, the kernels' 0·(0/0) is nan
    ("s = h/(1 + norm([h, h])^2)\nf(h) = sum(ln(softmax([s, s, s]) + 0.25))", {"h": 0.0}),
])
def test_findings_of_the_differential_run(src, at) -> None:
    """Each a disagreement the differential run found, fixed."""
    import chaincc
    want, got = _both_ways(src, at)
    assert np.allclose(np.array(got[0]), np.array(want[0]), rtol=1e-14, equal_nan=True), \
        (got, want)
    assert np.allclose(np.array(got[1]), np.array(want[1]), rtol=1e-14, equal_nan=True), \
        (got, want)
    derived = diffcheck.run_derive(chaincc.compile(src), at)
    assert np.array_equal(np.array([float(g) for g in derived.grads]), np.array(got[1]),
                          equal_nan=True)


def test_the_reference_flags_ill_conditioned_and_overflowing_points() -> None:
    big = diffcheck.reference("f(x) = cos(exp(1000*x))", "f", {"x": 0.02}, (), ((),))
    assert big.ill_conditioned and not big.overflowed
    over = diffcheck.reference("f(x) = log(1 + exp(1000*x)^2)", "f", {"x": 0.4}, (), ((),))
    assert over.overflowed and not over.ill_conditioned
    calm = diffcheck.reference("f(x) = cos(x)", "f", {"x": 0.4}, (), ((),))
    # atanh(cosh(2 sin(pi))): cosh is 1 in float64 (atanh inf) and 1 + 3e-32 exactly (nan)
    edge = diffcheck.reference("f(x) = atanh(cosh(2sin(pi)))*x", "f", {"x": 1.0}, (),
                               ((),))
    assert edge.near_tie
    # sqrt of a value float64 rounds to 0 (1 + 1e-20 is 1): sqrt' is inf there
    zero = diffcheck.reference("f(x) = sqrt(log(1 + 1e-20*x))", "f", {"x": 1.0}, (), ((),))
    assert zero.near_tie
    # a base rounded to 0 under a fractional power: 0 in float64, nan exactly (seed 19112)
    base = diffcheck.reference("f(x) = pow(-1e-20*x, 1.5)", "f", {"x": 1.0}, (), ((),))
    assert base.near_tie
    # atan2(-v², v) at v = 1e-255: v² underflows to 0 (seed 18139)
    under = diffcheck.reference("f(v) = atan2(-v*v, v)", "f", {"v": 1e-255}, (), ((),))
    assert under.overflowed
    assert not (calm.ill_conditioned or calm.overflowed or calm.near_tie)
    assert diffcheck.excused(("gradient", "d/dx got 0, want 868"), over) == "overflow"
    assert diffcheck.excused(("value", "value got 0, want 1"), over) is None
    assert diffcheck.excused(("value", "value got 0, want 1"), big) == "ill-conditioned"
    # a derivative's product overflowing among values beyond 1e154 (seed 3994: a·y/r
    # with a = 1e257, where the exact derivative is -6.5e128)
    got_inf = ("inf-mismatch", "d/dv[0] got -inf, want -6.527530782263785e+128")
    assert diffcheck.excused(got_inf, calm, huge=True) == "overflow"
    assert diffcheck.excused(got_inf, calm) is None


@needs_reference
def test_a_point_where_the_reference_moves_with_its_inputs_is_ill_conditioned() -> None:
    """tan near its pole: 4 ulps of input move the reference beyond the tolerance, so a
    path that differs there is excused; at a calm point the same error is noted."""
    import chaincc
    src = "f(x) = tan(x)"
    st = progs.Statement("f", progs.leaf("tan(x)"), (("x", ()),))
    prog = progs.Program((st,), seed=0)
    for x, excused in ((1.5707963267, True), (0.3, False)):
        tally = diffcheck.Tally({})
        check = diffcheck.FunctionCheck(prog, st, chaincc.compile_unit(src), 1, tally,
                                        diffcheck.reference)
        at = {"x": x}
        check.pts, check.floors, check.huge = [at], [diffcheck.FLOOR], [False]
        want = diffcheck.reference(src, "f", at, (), ((),))
        check.wants = [want]
        off = diffcheck.Result(want.value, (want.grads[0] * (1 + 1e-7),))
        check.per_point("eval", [off])
        assert (check.found == []) == excused
        assert (tally.checks.get("excused:ill-conditioned", 0) == 1) == excused
