"""Iteration compiled as loops: recurrences, sums and products against the unrolled
program (written out step by step in tests/iteration_cases.py, compiled separately), the
shape of the compiled loops (their size does not grow with the trip count; the gradient
of a loop is a loop), and the compile errors with their carets."""

from __future__ import annotations

import numpy as np
import pytest
from iteration_cases import all_cases, rnn_scalar, rnn_vector

import chaincc
import chaincc.iterate as iterate
from chaincc.diagnostics import ChainccError
from chaincc.ir import Assign, Loop, Read, Write, walk
from chaincc.optimize import count_ops, op_count

CASES = all_cases(20)


@pytest.fixture
def loops(monkeypatch):
    """Every sum and recurrence compiled as a loop, however short."""
    monkeypatch.setattr(iterate, "UNROLL_ITERATIONS", 0)


def _close(a, b, tol: float = 1e-12) -> None:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    scale = np.maximum(1.0, np.abs(b))
    assert np.all(np.abs(a - b) <= tol * scale), np.max(np.abs(a - b) / scale)


def _compare(case, rng_seed: int = 1, batch: int = 0) -> None:
    f = chaincc.compile(case.looped, name=f"{case.name}.txt")
    g = chaincc.compile(case.unrolled, name=f"{case.name}_unrolled.txt")
    rng = np.random.default_rng(rng_seed)
    args = case.args(rng)
    v1, g1 = f.value_and_grad(*args)
    v2, g2 = g.value_and_grad(*args)
    _close(v1, v2)
    for a, b in zip(g1, g2):
        _close(a, b)
    if batch:
        many = [case.args(rng) for _ in range(batch)]
        stacked = [np.stack([np.asarray(m[k], dtype=float) for m in many])
                   for k in range(len(many[0]))]
        b1, b2 = f.value_and_grad(*stacked), g.value_and_grad(*stacked)
        _close(b1[0], b2[0])
        for a, b in zip(b1[1], b2[1]):
            _close(a, b)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_loop_equals_unrolled_program(case, loops) -> None:
    _compare(case, batch=19)   # two groups of 8 points in vector lanes, 3 one by one


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_default_threshold_equals_unrolled_program(case) -> None:
    _compare(case, rng_seed=2)


@pytest.mark.parametrize("T", [10, 1000])
def test_rnn_gradients_equal_the_unrolled_program_at_10_and_1000(T: int) -> None:
    _compare(rnn_scalar(T), rng_seed=T)
    if T == 10:
        _compare(rnn_vector(T), rng_seed=T)


def _bptt(W, U, b, x):
    """The 8-wide tanh RNN's loss and gradients, by hand in NumPy: backpropagation
    through time written out (the unrolled chaincc program at T = 1,000 would exceed
    chaincc's limit of scalar operations)."""
    hs = [np.zeros(W.shape[0])]
    for t in range(x.shape[0]):
        hs.append(np.tanh(W @ hs[-1] + U @ x[t] + b))
    loss = float(np.sum(hs[-1] ** 2))
    hbar = 2 * hs[-1]
    gW, gU, gb, gx = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b), np.zeros_like(x)
    for t in range(x.shape[0] - 1, -1, -1):
        abar = hbar * (1 - hs[t + 1] ** 2)
        gW += np.outer(abar, hs[t])
        gU += np.outer(abar, x[t])
        gb += abar
        gx[t] = U.T @ abar
        hbar = W.T @ abar
    return loss, (gW, gU, gb, gx)


def test_vector_rnn_at_1000_steps_equals_backpropagation_through_time_by_hand() -> None:
    case = rnn_vector(1000)
    f = chaincc.compile(case.looped)
    args = case.args(np.random.default_rng(11))
    v1, g1 = f.value_and_grad(*args)
    v2, g2 = _bptt(*args)
    _close(v1, v2, 1e-11)
    for a, b in zip(g1, g2):
        _close(a, b, 1e-11)


def _fused(src: str):
    return chaincc.compile(src).compiled.fused


def test_a_long_recurrence_is_one_loop_and_its_gradient_another() -> None:
    forward = chaincc.compile(rnn_scalar(1000).looped).compiled.forward
    loops = [s for s in forward.body if isinstance(s, Loop)]
    assert len(loops) == 1 and loops[0].stop.constant == 1000
    fused = _fused(rnn_scalar(1000).looped)
    top = [s for s in fused.body if isinstance(s, Loop) and s.carries]
    assert [lp.reverse for lp in top] == [False, True]
    # the forward loop stores its state in a tape that the reverse loop reads back
    tape = [b for b in fused.buffers if b.name.startswith("_tape")]
    assert len(tape) == 1 and tape[0].size == 1000
    assert any(isinstance(s, Write) and s.array == tape[0].name for s in top[0].body)
    assert any(isinstance(s, Read) and s.array == tape[0].name for s in top[1].body)


def test_program_size_does_not_grow_with_the_trip_count() -> None:
    sizes = {T: (count_ops(_fused(rnn_scalar(T).looped)),
                 count_ops(_fused(rnn_vector(T).looped)))
             for T in (100, 1000, 100_000, 1_000_000)}
    assert sizes[100] == sizes[1000]
    # beyond 65,536 tape elements the reverse sweep is checkpointed: a fixed few more loops
    assert sizes[100_000] == sizes[1_000_000]
    assert all(b <= 3 * a for a, b in zip(sizes[1000], sizes[1_000_000]))


def test_a_million_steps_compile_and_run() -> None:
    T = 1_000_000
    f = chaincc.compile(rnn_scalar(T).looped)
    x = np.random.default_rng(3).normal(size=T) * 0.1
    v, (gw, gu, gx) = f.value_and_grad(0.5, 0.3, x)
    # the last steps decide the value; check them by stepping in floats
    h = 0.0
    for t in range(T):
        h = np.tanh(0.5 * h + 0.3 * x[t])
    assert abs(v - h * h) <= 1e-12
    assert gx.shape == (T,) and np.isfinite(gw) and np.isfinite(gu)
    # the gradient of the last input, by hand
    h_prev = np.tanh(0.5 * 0 + 0.3 * x[0]) if T == 1 else None
    del h_prev
    assert abs(gx[-1] - 2 * h * (1 - h * h) * 0.3) <= 1e-12


def _ops(body) -> int:
    return sum(op_count(s.expr) for s in walk(tuple(body)) if isinstance(s, Assign))


@pytest.mark.parametrize("case", [rnn_scalar(50), rnn_vector(50)], ids=["scalar", "vector"])
def test_cheap_gradient_bound_per_iteration(case) -> None:
    """The reverse loop's body (the step recomputed and swept backwards) costs at most
    3 × the step's forward operations + its parameters' count."""
    fused = _fused(case.looped)
    fwd, rev = [s for s in fused.body if isinstance(s, Loop) and s.carries][:2]
    params = sum(p.size for p in fused.params if p.symbols)
    assert _ops(rev.body) <= 3 * _ops(fwd.body) + params, (_ops(rev.body), _ops(fwd.body))


def test_jacobian_and_vjp_through_a_loop(loops) -> None:
    T = 30
    looped = (f"T = {T}\nh[0] = [a, 0]\nh[t+1] = [cos(h[t][0]·w) + x[t], h[t][0]·h[t][1] + 1]"
              "   for t = 0..T-1\nf(a, w, x[T]) = h[T]\n")
    lines = ["h0 = [a, 0]"] + [f"h{t + 1} = [cos(h{t}[0]*w) + x[{t}], h{t}[0]*h{t}[1] + 1]"
                               for t in range(T)]
    unrolled = "\n".join(lines) + f"\nf(a, w, x[{T}]) = h{T}\n"
    f, g = chaincc.compile(looped), chaincc.compile(unrolled)
    rng = np.random.default_rng(5)
    args = [0.3, 0.7, rng.normal(size=T) * 0.1]
    _close(f(*args), g(*args))
    for a, b in zip(f.jacobian(*args), g.jacobian(*args)):
        _close(a, b)
    cot = np.array([0.4, -1.3])
    for a, b in zip(f.vjp(*args, cotangent=cot), g.vjp(*args, cotangent=cot)):
        _close(a, b)


def test_elementwise_definition_equals_written_out_convolution() -> None:
    src = ("H = 6\nW = 5\ny[i, j] = Σ_{k=0}^{2} K[k]·x[i+k, j]   for i = 0..H-3, j = 0..W-1\n"
           "conv(K[3], x[H,W]) = sum(y^2)\n")
    terms = []
    for i in range(4):
        for j in range(5):
            s = " + ".join(f"K[{k}]*x[{i + k},{j}]" for k in range(3))
            terms.append(f"(0 + {s})^2")
    unrolled = "conv(K[3], x[6,5]) = " + " + ".join(terms) + "\n"
    f, g = chaincc.compile(src), chaincc.compile(unrolled)
    rng = np.random.default_rng(6)
    args = [rng.normal(size=3), rng.normal(size=(6, 5))]
    v1, g1 = f.value_and_grad(*args)
    v2, g2 = g.value_and_grad(*args)
    _close(v1, v2)
    for a, b in zip(g1, g2):
        _close(a, b)


def test_constant_reads_of_a_recurrence(loops) -> None:
    src = ("T = 40\nh[0] = a\nh[t+1] = h[t]·0.9 + sin(h[t])   for t = 0..T-1\n"
           "f(a) = h[0] + h[17]·2 + h[T]\n")
    f = chaincc.compile(src)
    h = [0.4]
    for _ in range(40):
        h.append(h[-1] * 0.9 + np.sin(h[-1]))
    assert abs(f(0.4) - (h[0] + h[17] * 2 + h[40])) <= 1e-12


ERRORS = [
    # (source, line, col, words in the message)
    ("T = 10\nh[0] = 0\nh[t+1] = h[t] + x[t+1]   for t = 0..T-1\nf(x[T]) = h[T]\n",
     3, 19, "out of range"),
    ("T = 10\nh[0] = 0\nh[t+1] = h[t+1] + x[t]   for t = 0..T-1\nf(x[T]) = h[T]\n",
     3, 10, "step"),
    ("T = 10\nh[0] = 0\nh[t+1] = h[t] + x[t]   for t = 0..T-1\nf(x[T]) = h[T+1]\n",
     4, 13, "out of range"),
    ("T = 10\nh[0] = 0\nh[t+1] = h[t] + x[t]   for t = 1..T-1\nf(x[T]) = h[T]\n",
     3, 32, "continue the start"),
    ("n = 5\nf(x[n]) = sum(x[i] for i = 0..n)\n", 2, 17, "out of range"),
    ("n = 5\nf(x[n]) = sum(x[i] for i = 0..n-1) + i\n", 2, 38, "unknown name 'i'"),
    ("n = 5\nf(x[n]) = sum(x[i/2] for i = 0..n-1)\n", 2, 17, "integer"),
    ("T = 100\nh[0] = 0\nh[t+1] = h[t] + x[t]   for t = 0..T-1\nf(x[T]) = h\n",
     4, 11, "recurrence"),
    ("T = 5000\nf(x[T]) = sum(x^2)\n", 2, 15, "element by element"),
]


@pytest.mark.parametrize(("src", "line", "col", "words"), ERRORS)
def test_iteration_errors_point_at_the_cause(src: str, line: int, col: int,
                                             words: str) -> None:
    with pytest.raises(ChainccError) as info:
        chaincc.compile(src, name="bad.txt")
    err = info.value
    assert (err.line, err.col) == (line, col), str(err)
    assert words in err.message, str(err)
    assert "^" in str(err)


# (the unrolled 8-wide RNN's and LSTM's Hessians take minutes by reverse-over-reverse)
SECOND = [c for c in all_cases(8) if c.name in ("rnn_scalar_8", "history_sum_8",
                                                "sum_in_step_8", "index_arithmetic_8",
                                                "nested_sum_5")]


@pytest.mark.parametrize("case", SECOND, ids=[c.name for c in SECOND])
def test_hvp_hessian_jvp_and_forward_jacobian_through_loops(case, loops) -> None:
    """Forward mode through the loops (jvp, forward Jacobian), and forward-over-reverse
    (the Hessian-vector product, the Hessian column by column), against the unrolled
    program's reverse-over-reverse."""
    f = chaincc.compile(case.looped, name=f"{case.name}.txt")
    g = chaincc.compile(case.unrolled, name=f"{case.name}_unrolled.txt")
    rng = np.random.default_rng(4)
    args = case.args(rng)
    d = rng.normal(size=sum(np.size(a) for a in args))
    for a, b in zip(f.hvp(*args, direction=d), g.hvp(*args, direction=d)):
        _close(a, b, 1e-11)
    _close(f.hessian(*args), g.hessian(*args), 1e-11)
    for a, b in zip(f.jvp(*args, tangents=d), g.jvp(*args, tangents=d)):
        _close(a, b)
    for a, b in zip(f.jacobian(*args, mode="forward"), g.jacobian(*args, mode="forward")):
        _close(a, b)
    # the Hessian's program is one loop over its columns, whatever the parameter count
    hess = chaincc.compile(case.looped).compiled
    from chaincc.adjoint import hessian
    prog = hessian(hess.fused)
    assert [type(s).__name__ for s in prog.body if isinstance(s, Loop)] == ["Loop"]


# -- the seed texts' models ------------------------------------------------------------

SAMPLES = __import__("pathlib").Path(__file__).resolve().parent.parent / "samples"


def _reference_close(name: str, args: list, value: float) -> None:
    """The compiled gradient against the reference interpreter's (dual numbers at high
    precision, walking the syntax tree: no code shared with the compiler's loops)."""
    from chaincc import reference
    text = (SAMPLES / f"{name}.txt").read_text()
    f = chaincc.compile(SAMPLES / f"{name}.txt")
    v, grads = f.value_and_grad(*args)
    rv, rg = reference.evaluate(text, args)
    _close(v, value, 1e-12)
    _close(v, rv, 1e-12)
    for g, p in zip(grads, f.params):
        _close(g, rg[p], 1e-11)


def test_depthwise_separable_sample() -> None:
    rng = np.random.default_rng(7)
    D, P, bias = rng.normal(size=(3, 3, 3)), rng.normal(size=(4, 3)), rng.normal(size=4)
    x, y = rng.normal(size=(3, 8, 8)), rng.normal(size=(4, 6, 6))
    d = np.zeros((3, 6, 6))
    for c in range(3):
        for i in range(6):
            for j in range(6):
                d[c, i, j] = np.sum(D[c] * x[c, i:i + 3, j:j + 3])
    p = np.maximum(np.einsum("kc,cij->kij", P, d) + bias[:, None, None], 0)
    _reference_close("depthwise_separable", [D, P, bias, x, y],
                     float(np.sum((p - y) ** 2) / 2))


def test_hypernetwork_sample() -> None:
    rng = np.random.default_rng(8)
    A, a, e = rng.normal(size=(6, 4)), rng.normal(size=6), rng.normal(size=4)
    x, y = rng.normal(size=3), rng.normal(size=2)
    Wt = np.tanh(A @ e + a).reshape(2, 3)
    _reference_close("hypernetwork", [A, a, e, x, y],
                     float(np.sum((np.tanh(Wt @ x) - y) ** 2) / 2))


def _implicit(W, U, b, x, y):
    z = np.zeros(4)
    for _ in range(2000):
        z = np.tanh(W @ z / (1 + np.linalg.norm(W)) + U @ x + b)
    return float(np.sum((z - y) ** 2) / 2)


def test_implicit_layer_sample_against_finite_differences_of_the_solution() -> None:
    rng = np.random.default_rng(9)
    args = [rng.normal(size=(4, 4)), rng.normal(size=(4, 3)), rng.normal(size=4),
            rng.normal(size=3), rng.normal(size=4)]
    f = chaincc.compile(SAMPLES / "implicit_layer.txt")
    v, grads = f.value_and_grad(*args)
    _close(v, _implicit(*args), 1e-12)
    h = 1e-6
    for k, g in enumerate(grads):
        fd = np.zeros(np.shape(args[k]))
        for idx in np.ndindex(fd.shape):
            up = [np.array(a, dtype=float) for a in args]
            dn = [np.array(a, dtype=float) for a in args]
            up[k][idx] += h
            dn[k][idx] -= h
            fd[idx] = (_implicit(*up) - _implicit(*dn)) / (2 * h)
        assert np.max(np.abs(g - fd)) <= 1e-7, (k, np.max(np.abs(g - fd)))
    _reference_close("implicit_layer", args, v)


def test_fixed_point_with_a_closed_form() -> None:
    """z = a·z + b has z* = b / (1 − a): dz*/da = b / (1 − a)², dz*/db = 1 / (1 − a);
    the gradient comes from the implicit function theorem, the same at any start."""
    for start in ("0", "5"):
        f = chaincc.compile(f"f(a, b) = fixpoint(z -> a·z + b, {start})\n")
        a, b = 0.6, 1.7
        v, (ga, gb) = f.value_and_grad(a, b)
        _close(v, b / (1 - a), 1e-11)
        _close(ga, b / (1 - a) ** 2, 1e-10)
        _close(gb, 1 / (1 - a), 1e-10)
        _close(f.hessian(a, b), [[2 * b / (1 - a) ** 3, 1 / (1 - a) ** 2],
                                 [1 / (1 - a) ** 2, 0]], 1e-9)


def test_a_fixed_point_that_does_not_converge_is_nan_not_a_wrong_answer() -> None:
    f = chaincc.compile("f(a) = fixpoint(z -> a·z + 1, 0, maxiter=50)\n")
    assert np.isnan(f(1.5))               # diverges
    v, g = f.value_and_grad(1.5)
    assert np.isnan(v) and np.isnan(g[0])
    assert abs(f(0.5) - 2.0) <= 1e-11     # converges (to tol = 1e-12 relative)
    slow = chaincc.compile("f(a) = fixpoint(z -> a·z + 1, 0, maxiter=5)\n")
    assert np.isnan(slow(0.9))            # would converge, but not in 5 iterations


def test_fixed_point_errors() -> None:
    for src, col, words in [
        ("f(a) = fixpoint(a, 0)\n", 8, "fixpoint takes a function"),
        ("f(a) = fixpoint(z -> a·z, 0, tol=2)\n", 34, "tol"),
        ("f(a) = fixpoint(z -> a·z, 0, maxiter=0.5)\n", 38, "maxiter"),
        ("f(a) = fixpoint(z -> [a, z], 0)\n", 22, "shape"),
        ("f(a) = fixpoint(z -> a·z, 0, tolerance=1)\n", 30, "no keyword argument"),
    ]:
        with pytest.raises(ChainccError) as info:
            chaincc.compile(src, name="bad.txt")
        assert (info.value.line, info.value.col) == (1, col), str(info.value)
        assert words in info.value.message, str(info.value)


# -- checkpointing -------------------------------------------------------------------------

@pytest.mark.parametrize("case", all_cases(37), ids=[c.name for c in all_cases(37)])
def test_checkpointed_gradient_equals_the_unrolled_program(case, monkeypatch) -> None:
    """Every loop checkpointed (segments of ⌈√37⌉ = 7 iterations and a tail of 2)."""
    monkeypatch.setattr(iterate, "CHECKPOINT_ELEMENTS", 10)
    _compare(case, rng_seed=3, batch=3)


def test_checkpointing_keeps_memory_at_the_square_root_of_the_steps(monkeypatch) -> None:
    T = 100_000
    plain = _fused(rnn_scalar(T).looped)
    # automatic above 65,536 elements: checkpoints, the tail's tape, one segment's tape
    assert sum(b.size for b in plain.buffers) <= 3 * 317
    monkeypatch.setattr(iterate, "CHECKPOINT_ELEMENTS", 10**9)
    full = _fused(rnn_scalar(T).looped)
    assert sum(b.size for b in full.buffers) == T                 # the whole tape


def test_a_checkpointed_long_recurrence_equals_the_full_tape(monkeypatch) -> None:
    case = rnn_scalar(100_000)
    args = case.args(np.random.default_rng(12))
    v1, g1 = chaincc.compile(case.looped).value_and_grad(*args)
    monkeypatch.setattr(iterate, "CHECKPOINT_ELEMENTS", 10**9)
    v2, g2 = chaincc.compile(case.looped).value_and_grad(*args)
    assert v1 == v2
    for a, b in zip(g1, g2):
        assert np.array_equal(a, b)          # the same operations in the same order


def test_a_loop_too_long_to_run_is_refused_where_it_is_written() -> None:
    src = ("T = 100000\nf(x) = sum(sum(x·i·j for j = 0..T-1) for i = 0..T-1)\n")
    with pytest.raises(ChainccError) as info:
        chaincc.compile(src, name="long.txt")
    assert "10,000,000,000 iterations" in info.value.message
    assert (info.value.line, info.value.col) == (2, 12)     # the inner sum


def test_parameters_named_like_outputs(loops) -> None:
    """A parameter called value, grad_value or hessian is not the output of that name."""
    src = ("n = 20\nf(value[n], grad_value, hessian) = "
           "sum(value[i]^2·grad_value for i = 0..n-1)·hessian\n")
    f = chaincc.compile(src)
    x = np.arange(20) / 10
    v, (gx, gg, gh) = f.value_and_grad(x, 0.7, 1.3)
    _close(v, np.sum(x ** 2) * 0.7 * 1.3)
    _close(gx, 2 * x * 0.7 * 1.3)
    _close([gg, gh], [np.sum(x ** 2) * 1.3, np.sum(x ** 2) * 0.7])
    H = np.asarray(f.hessian(x, 0.7, 1.3))
    _close(H[20, 21], np.sum(x ** 2))
    _close(H[:20, 20], 2 * x * 1.3)


def test_nested_short_sums_are_not_unrolled_exponentially() -> None:
    """12 nested sums of 2 terms: unrolling all of them would copy the body 4,096 times;
    the innermost become loops once 256 copies are reached, and 30 nested sums are
    refused (2^30 iterations) instead of hanging."""
    nest = "".join(f"Σ_{{i{k}=0}}^{{1}} (" for k in range(12)) + "x" + ")" * 12
    f = chaincc.compile(f"f(x) = {nest}\n")
    v, (g,) = f.value_and_grad(1.5)
    assert (v, g) == (1.5 * 4096, 4096.0)
    assert any(isinstance(s, Loop) for s in f.compiled.forward.body)
    deep = "".join(f"Σ_{{i{k}=0}}^{{1}} (" for k in range(30)) + "x" + ")" * 30
    with pytest.raises(ChainccError) as info:
        chaincc.compile(f"f(x) = {deep}\n")
    assert "iterations" in info.value.message


def test_a_fixed_point_in_a_batch_is_what_it_is_alone() -> None:
    """Batch kernels run 8 points in vector lanes until all have converged; a lane that
    converged first keeps its solution, so every point's value and gradient are those of
    the point computed alone."""
    f = chaincc.compile("f(a, b) = fixpoint(z -> cos(a·z) + b, 0, tol=1e-3, maxiter=200)\n")
    a, b = np.linspace(0.1, 0.5, 19), np.linspace(-0.5, 0.5, 19)
    v, (ga, gb) = f.value_and_grad(a, b)
    alone = [f.value_and_grad(x, y) for x, y in zip(a, b)]
    assert np.array_equal(v, [p[0] for p in alone])
    assert np.array_equal(ga, [p[1][0] for p in alone])
    assert np.array_equal(gb, [p[1][1] for p in alone])


def test_a_large_elementwise_definition_is_a_loop_and_reductions_of_it_are_loops() -> None:
    """Beyond 4,096 elements an array defined element by element is written by a loop
    into per-point memory and read element by element; sum, max, mean and norm of it
    (or of a large parameter) are loops. Checked against the reference interpreter."""
    from chaincc import reference
    src = ("N = 6000\ny[i] = tanh(w·x[i]) + i/N   for i = 0..N-1\n"
           "f(w, x[N]) = sum(y) + max(y)·2 + y[7] + sum(y[i]*x[i] for i = 0..N-1) + mean(x)"
           " + norm(x)\n")
    f = chaincc.compile(src)
    fwd = f.compiled.forward
    assert any(b.size == 6000 and b.name.startswith("_e") for b in fwd.buffers)
    assert count_ops(fwd) < 200                       # no element is its own statement
    x = np.random.default_rng(13).normal(size=6000)
    v, (gw, gx) = f.value_and_grad(0.7, x)
    rv, rg = reference.evaluate(src, [0.7, x])
    _close(v, rv, 1e-13)
    _close(gw, rg["w"], 1e-12)
    _close(gx, rg["x"], 1e-12)
    with pytest.raises(ChainccError) as info:
        chaincc.compile("N = 6000\ny[i] = x[i]^2   for i = 0..N-1\nf(x[N]) = sum(y^2)\n")
    assert "element by element" in info.value.message
    assert (info.value.line, info.value.col) == (3, 15)


def test_memory_per_point_is_bounded_where_the_source_asks_for_it() -> None:
    """An array of 10^8 elements defined element by element would need 800 MB per point:
    refused at its definition rather than failing to allocate at run time."""
    src = "N = 100000000\ny[i] = x·i   for i = 0..N-1\nf(x) = sum(y)\n"
    with pytest.raises(ChainccError) as info:
        chaincc.compile(src, name="big.txt")
    assert "bytes of memory per point" in info.value.message
    assert info.value.line == 2


def test_a_huge_integer_in_a_range_or_an_index_is_an_error_not_a_crash() -> None:
    """Range ends and indices are integer expressions with the sizes' bound (2**62): a
    5,000-digit literal, or a product past the bound, is an error at it."""
    for src, col in [("f(x[3]) = sum(x[i] for i = 0.." + "9" * 5000 + ")", 31),
                     ("f(x[3]) = sum(x[0] for i = 0..99999999999*99999999999"
                      "*99999999999)", 31),
                     ("f(x[3]) = x[" + "1" * 5000 + "]", 13)]:
        with pytest.raises(ChainccError) as info:
            chaincc.compile(src, name="huge.txt")
        assert "too large" in info.value.message or "out of range" in info.value.message
        assert info.value.col == col, str(info.value)[:200]
