"""Loops on the Numba CPU backend (``CHAINCC_CPU_BACKEND=numba``): every iteration case
compiled as loops runs on Numba's scalar, batch and sum kernels and gives what the
unrolled program (written out step by step in tests/iteration_cases.py) gives, and what
chaincc's default LLVM kernels give for the looped source; the kernels' scratch memory
is one block per chunk of points and their code does not grow with the trip count."""

from __future__ import annotations

import re

import numpy as np
import pytest
from iteration_cases import all_cases, history_sum, rnn_scalar

import chaincc
import chaincc.cpu as cpu
import chaincc.iterate as iterate
from chaincc import native
from chaincc.backends import numba_cpu
from chaincc.backends.numba_cpu import batch_module_source, scalar_module_source
from chaincc.diagnostics import ChainccError
from chaincc.ir import Loop
from chaincc.pipeline import pipeline
from chaincc.source import Source

# (the 8-wide RNN's and the LSTM's Numba gradient modules take 30 s each to compile: the
# LLVM and C tests cover those cases; these cover every loop shape)
CASES = [c for c in all_cases(6) if c.name not in ("rnn_vector_6", "lstm_6")]


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    return tmp_path_factory.mktemp("numba-loops-cache")


@pytest.fixture
def numba_loops(monkeypatch, cache_root):
    """Every sum and recurrence compiled as a loop, CPU programs on Numba's kernels, and
    a cache of this module's own (kernels of the same text made with other settings are
    never read)."""
    monkeypatch.setattr(iterate, "UNROLL_ITERATIONS", 0)
    monkeypatch.setattr(native, "BACKEND", "numba")
    monkeypatch.setenv("CHAINCC_CACHE_DIR", str(cache_root))


def _close(a, b, tol: float = 1e-12) -> None:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    scale = np.maximum(1.0, np.abs(b))
    assert np.all(np.abs(a - b) <= tol * scale), np.max(np.abs(a - b) / scale)


def _close_all(got, want) -> None:
    (v1, g1), (v2, g2) = got, want
    _close(v1, v2)
    assert len(g1) == len(g2)
    for a, b in zip(g1, g2):
        _close(a, b)


def _calls(fn, point: list, stacked: list, shared: list) -> dict:
    """Value and gradient at a point, the value alone, and both over a batch (every
    argument per point, then the first shared by every point), and their sum."""
    return {"point": fn.value_and_grad(*point), "value": fn(*point),
            "batch": fn.value_and_grad(*stacked), "batch value": fn(*stacked),
            "shared": fn.value_and_grad(*shared),
            "sum": fn.value_and_grad(*stacked, reduce="sum")}


def _compare(got: dict, want: dict) -> None:
    for k in got:
        if k in ("value", "batch value"):
            _close(got[k], want[k])
        else:
            _close_all(got[k], want[k])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_numba_loops_equal_unrolled_program_and_llvm_kernels(case, numba_loops) -> None:
    rng = np.random.default_rng(7)
    point = case.args(rng)
    many = [case.args(rng) for _ in range(5)]
    stacked = [np.stack([np.asarray(m[k], dtype=float) for m in many])
               for k in range(len(point))]
    shared = [point[0], *stacked[1:]]

    f = chaincc.compile(case.looped, name=f"{case.name}_numba.txt")
    assert f.program.has_loops and f.forward_program.has_loops
    got = _calls(f, point, stacked, shared)
    # the loops ran on Numba's kernels, not on LLVM's
    assert not f._native("value") and not f._native("vg")

    unrolled = chaincc.compile(case.unrolled, name=f"{case.name}_numba_unrolled.txt")
    assert not unrolled.program.has_loops
    _compare(got, _calls(unrolled, point, stacked, shared))

    with native.using("llvm"):
        llvm = chaincc.compile(case.looped, name=f"{case.name}_numba_llvm.txt")
        want = _calls(llvm, point, stacked, shared)
        assert llvm._native("vg")
    _compare(got, want)


@pytest.mark.parametrize("case", [rnn_scalar(5), history_sum(5)], ids=["rnn", "history"])
def test_prange_batch_wrapper_runs_loops(case, numba_loops, monkeypatch) -> None:
    """The prange wrapper (large batches) runs the per-chunk kernels, each with its own
    scratch memory, on several threads at once."""
    monkeypatch.setattr(cpu, "PRANGE_POINTS", 1)
    rng = np.random.default_rng(3)
    many = [case.args(rng) for _ in range(3000)]
    stacked = [np.stack([np.asarray(m[k], dtype=float) for m in many])
               for k in range(len(many[0]))]
    f = chaincc.compile(case.looped, name=f"{case.name}_prange.txt")
    v, g = f.value_and_grad(*stacked)
    assert not f._native("vg")
    with native.using("llvm"):
        want = chaincc.compile(case.looped, name=f"{case.name}_prange_llvm.txt")
        _close_all((v, g), want.value_and_grad(*stacked))


def _fused(text: str):
    c = pipeline(Source("t.txt", text))[0]
    return c.forward, c.fused


def _kernels(text: str) -> dict[str, list[str]]:
    """Each kernel's lines (after its ``def``) of a generated module."""
    out: dict[str, list[str]] = {}
    name = None
    for line in text.splitlines():
        m = re.match(r"def (\w+)\(", line)
        if m:
            name = m.group(1)
            out[name] = []
        elif name and line.startswith(" "):
            out[name].append(line)
    return out


def test_scratch_is_allocated_once_per_chunk_and_code_does_not_grow(numba_loops) -> None:
    texts, counts = {}, set()
    for T in (40, 400):
        fwd, fused = _fused(history_sum(T).looped)
        assert fused.buffers and fused.has_loops
        counts.add((numba_cpu.statement_count(fwd), numba_cpu.statement_count(fused)))
        shared = (False, True, False)
        texts[T] = (batch_module_source("0", "t", fused, "f_vg", shared, reduce=True),
                    scalar_module_source("0", "t", [(fwd, "f"), (fused, "f_vg")]))
    assert len(counts) == 1          # the programs differ only in their bounds and sizes
    for small, big in zip(texts[40], texts[400]):
        # and so do the kernels
        assert small.count("\n") == big.count("\n")
        assert re.sub(r"\d+", "N", small) == re.sub(r"\d+", "N", big)
    batch = _kernels(texts[400][0])
    scratch = sum(b.size for b in _fused(history_sum(400).looped)[1].buffers)
    for name in ("f_vg_points", "f_vg_sum"):
        lines = batch[name]
        loop = lines.index("    for _i in range(_hi - _lo):")
        allocs = [k for k, line in enumerate(lines) if "np.empty(" in line]
        # one block, made before the loop over the chunk's points, sized by the program
        assert len(allocs) == 1 and allocs[0] < loop, name
        size = int(re.search(r"np\.empty\((\d+)\)", lines[allocs[0]]).group(1))
        assert scratch <= size < scratch + 500
    assert "np.empty" not in "\n".join(batch["f_vg_batch"])


def _deep_source(depth: int) -> str:
    indices = ", ".join(f"i{k} = 0..1" for k in range(depth))
    return f"f(x, y) = sum(sin(x·(1 + i0/2)·(1 + i1/3)) · y for {indices})\n"


def test_loops_deeper_than_python_allows_run_on_llvm(numba_loops) -> None:
    deep = numba_cpu.MAX_LOOP_DEPTH + 1
    f = chaincc.compile(_deep_source(deep), name="deep_numba.txt")
    v, (gx, gy) = f.value_and_grad(0.3, 0.7)
    assert f._native("value") and f._native("vg")
    # the sum over 2^depth index values, by hand: the summand depends on i0 and i1 only
    reps = 2 ** (deep - 2)
    factors = [(1 + a / 2) * (1 + b / 3) for a in (0, 1) for b in (0, 1)]
    _close(v, reps * sum(np.sin(0.3 * c) * 0.7 for c in factors))
    _close(gx, reps * sum(np.cos(0.3 * c) * c * 0.7 for c in factors))
    _close(gy, reps * sum(np.sin(0.3 * c) for c in factors))
    # a Numba module of it cannot be written: a clear error, not a broken module
    fwd, fused = _fused(_deep_source(deep))
    with pytest.raises(ChainccError, match="nests loops"):
        scalar_module_source("0", "t", [(fwd, "f")])
    from chaincc.emit import generate
    with pytest.raises(ChainccError, match="nests loops"):
        generate(Source("deep.txt", _deep_source(deep)), "deep", ["numba"])


def test_loops_as_deep_as_allowed_are_valid_python(numba_loops) -> None:
    fwd, fused = _fused(_deep_source(numba_cpu.MAX_LOOP_DEPTH))
    assert numba_cpu.loop_depth(fused) == numba_cpu.MAX_LOOP_DEPTH
    for text in (scalar_module_source("0", "t", [(fwd, "f"), (fused, "g")]),
                 batch_module_source("0", "t", fused, "g", (False, False), reduce=True)):
        compile(text, "<kernels>", "exec")       # Python's limit on nested blocks holds


FIXPOINT = "f(a, b) = fixpoint(z -> cos(a·z) + b, 0, tol=1e-3, maxiter=200)\n"


def _fixpoint_by_hand(a: float, b: float, tol: float = 1e-3, maxiter: int = 200) -> float:
    """z ← cos(a·z) + b from 0 until no change exceeds tol·(1 + |z|), as
    docs/language.md says; NaN if that takes more than maxiter iterations."""
    z = 0.0
    for _ in range(maxiter):
        new = np.cos(a * z) + b
        if abs(new - z) <= tol * (1 + abs(z)):
            return new
        z = new
    return float("nan")


def test_fixed_point_loops_stop_where_they_converge(numba_loops) -> None:
    """A loop with ``until`` ends at the first iteration that converges (at tol=1e-3,
    long before maxiter: running on would give a different value)."""
    a, b = np.linspace(0.1, 0.5, 9), np.linspace(-0.5, 0.5, 9)
    f = chaincc.compile(FIXPOINT, name="fixpoint_numba.txt")
    assert any(isinstance(s, Loop) and s.until is not None for s in f.program.body)
    values, grads = f.value_and_grad(a, b)
    assert not f._native("vg") and not f._native("value")
    want = [_fixpoint_by_hand(p, q) for p, q in zip(a, b)]
    _close(values, want)
    _close(f(a, b), want)
    _close(f.value_and_grad(0.3, 0.2)[0], _fixpoint_by_hand(0.3, 0.2))
    # the exact fixed point differs from where the iteration stops
    assert np.max(np.abs(values - [_fixpoint_by_hand(p, q, 1e-15) for p, q in zip(a, b)])) > 1e-6
    summed = f.value_and_grad(a, b, reduce="sum")
    _close_all(summed, (sum(want), [g.sum() for g in grads]))
    # the gradients (the implicit function theorem's) as the LLVM kernels give them, point
    # by point
    with native.using("llvm"):
        llvm = chaincc.compile(FIXPOINT, name="fixpoint_numba_llvm.txt")
        for k, (p, q) in enumerate(zip(a, b)):
            _close_all((values[k], [g[k] for g in grads]), llvm.value_and_grad(p, q))


def test_checkpointed_reverse_sweep_runs_on_numba(numba_loops) -> None:
    """A recurrence long enough that its reverse sweep is checkpointed (loops nested
    in loops, with bounds that depend on the outer index)."""
    case = rnn_scalar(70_000)
    args = case.args(np.random.default_rng(5))
    f = chaincc.compile(case.looped, name="checkpointed_numba.txt")
    assert numba_cpu.loop_depth(f.program) == 2
    got = f.value_and_grad(*args)
    assert not f._native("vg")
    # backpropagation through time by hand
    w, u, x = args
    hs = [0.0]
    for t in range(len(x)):
        hs.append(np.tanh(w * hs[-1] + u * x[t]))
    hbar, gw, gu, gx = 2 * hs[-1], 0.0, 0.0, np.zeros(len(x))
    for t in reversed(range(len(x))):
        d = hbar * (1 - hs[t + 1] ** 2)
        gw += d * hs[t]
        gu += d * x[t]
        gx[t] = d * u
        hbar = d * w
    _close_all(got, (hs[-1] ** 2, (gw, gu, gx)))
    with native.using("llvm"):
        llvm = chaincc.compile(case.looped, name="checkpointed_numba_llvm.txt")
        _close_all(got, llvm.value_and_grad(*args))
