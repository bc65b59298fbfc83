"""The worked samples: each one's value and gradient against SymPy, and the cheap-gradient
bound (value and gradient together cost at most about three forward passes) on every sample
and on long unrolled RNNs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from sympy_oracle import assert_matches, close, expected, expected_fast, sigmoid, symbols

import chaincc
from chaincc.api import pipeline
from chaincc.source import Source

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _seed():
    x, y = symbols("x y")
    return (x**2 + x * y) * y**3, (x, y), [(1.0, 2.0), (-0.7, 1.3), (2.5, -0.4)]


def _chain():
    (x,) = symbols("x")
    h = 2 * x
    g = h**2
    return sp.sqrt(g), (x,), [(3.0,), (0.25,), (-1.5,)]


def _nested():
    (x,) = symbols("x")

    def h(t):
        return t**2

    def g(t):
        return t + 1

    def f(t):
        return 2 * t

    return f(g(h(x))), (x,), [(3.0,), (-0.5,), (1.75,)]


def _swish():
    x, beta = symbols("x β")
    return x * sigmoid(beta * x), (x, beta), [(1.0, 2.0), (-1.5, 0.7), (0.3, -2.0)]


def _logistic():
    w1, w2, b, x1, x2, y = symbols("w1 w2 b x1 x2 y")
    z = w1 * x1 + w2 * x2 + b
    loss = -(y * sp.log(sigmoid(z)) + (1 - y) * sp.log(1 - sigmoid(z)))
    return loss, (w1, w2, b, x1, x2, y), [(0.5, -0.3, 0.1, 1.0, 2.0, 1.0),
                                          (-1.2, 0.8, 0.3, 0.5, -1.5, 0.0),
                                          (0.4, 0.9, -0.2, 1.1, 0.6, 0.3)]


def _rosenbrock():
    x, y = symbols("x y")
    return (1 - x)**2 + 100 * (y - x**2)**2, (x, y), [(-1.0, 2.0), (1.0, 1.0), (0.3, -0.8)]


def rnn_expr(T: int) -> tuple[sp.Expr, tuple[sp.Symbol, ...]]:
    w, u = symbols("w u")
    xs = symbols(" ".join(f"x{t}" for t in range(1, T + 1)))
    h = sp.Integer(0)
    for t in range(T):
        h = sp.tanh(w * h + u * xs[t])
    return h**2, (w, u, *xs)


def _rnn():
    loss, params = rnn_expr(5)
    rng = np.random.default_rng(5)
    return loss, params, [tuple(rng.uniform(-1.5, 1.5, len(params))) for _ in range(3)]


ORACLES = {"seed": _seed, "chain": _chain, "nested": _nested, "swish": _swish,
           "logistic": _logistic, "rosenbrock": _rosenbrock, "rnn": _rnn}


def rnn_source(T: int) -> str:
    """The unrolled RNN as a chaincc source: bindings h1..hT, entry loss(w, u, x1..xT)."""
    lines = ["h1 = tanh(w·0 + u·x1)"]
    lines += [f"h{t} = tanh(w·h{t - 1} + u·x{t})" for t in range(2, T + 1)]
    params = ", ".join(["w", "u"] + [f"x{t}" for t in range(1, T + 1)])
    return "\n".join(lines + [f"loss({params}) = h{T}²"]) + "\n"


@pytest.fixture(scope="module")
def samples() -> dict[str, chaincc.Function]:
    return {name: chaincc.compile(SAMPLES / f"{name}.txt") for name in ORACLES}


def test_scalar_samples_exist():
    assert set(ORACLES) <= {p.stem for p in SAMPLES.glob("*.txt")}


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_sample_matches_sympy(samples, name):
    expr, params, points = ORACLES[name]()
    # N() is slow on nested tanh; the RNN is smooth, so float64 evaluation suffices
    oracle = expected_fast if name == "rnn" else expected
    assert_matches(samples[name], expr, params, points, oracle=oracle)


def test_seed_values_by_hand(samples):
    fn = samples["seed"]
    value, (dx, dy) = fn.value_and_grad(x=1, y=2)
    assert (value, dx, dy) == (24.0, 32.0, 44.0)
    # ∂f/∂y = x·y³ + 3(x² + xy)·y² = 8 + 36; 28 would drop the y inside x² + xy
    assert dy != 28.0
    assert fn(1, 2) == 24.0 and fn.grad(1, 2) == (32.0, 44.0)


def test_chain_and_nested_by_hand(samples):
    assert samples["chain"].value_and_grad(3) == (6.0, (2.0,))
    for x in (-2.0, 0.5, 3.0):
        assert samples["nested"].grad(x) == (4 * x,)


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_cheap_gradient_bound_on_samples(samples, name):
    fn = samples[name]
    oc = fn.op_counts()
    assert oc["value_and_grad"] <= 3 * oc["forward"] + len(fn.params), oc


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.txt")), ids=lambda p: p.stem)
def test_cheap_gradient_bound_on_every_function_of_every_sample(path):
    # array samples too; a parameter counts once per element (each has its own gradient)
    for compiled in pipeline(Source(path.name, path.read_text(encoding="utf-8"))):
        oc = compiled.op_counts()
        n_params = sum(p.size for p in compiled.forward.params)
        if compiled.forward.has_loops:
            _loop_bound(compiled, n_params)
            continue
        assert oc["value_and_grad"] <= 3 * oc["forward"] + n_params, (compiled.forward.name,
                                                                        oc)


def _loop_bound(compiled, n_params: int) -> None:
    """The bound with a loop counted as one iteration of its body (its trip count is the
    data's business): every loop of the gradient program (the forward loops, their
    reverse loops, a fixed point's adjoint system) costs at most 3 × the largest forward
    loop body + the parameters, and the straight-line rest at most 3 × (the forward
    straight-line part + one iteration) + the parameters."""
    from chaincc.ir import Assign, Loop, walk
    from chaincc.optimize import op_count

    def ops(body) -> int:
        return sum(op_count(s.expr) for s in walk(tuple(body)) if isinstance(s, Assign))

    fwd, fused = compiled.forward, compiled.fused
    step = max(ops(s.body) for s in fwd.body if isinstance(s, Loop))
    straight = ops([s for s in fwd.body if not isinstance(s, Loop)])
    for s in fused.body:
        if isinstance(s, Loop):
            assert ops(s.body) <= 3 * step + n_params, (fwd.name, ops(s.body), step)
    rest = ops([s for s in fused.body if not isinstance(s, Loop)])
    assert rest <= 3 * (straight + step) + n_params, (fwd.name, rest, straight, step)


@pytest.mark.parametrize("T", [20, 100])
def test_cheap_gradient_bound_on_long_rnn(T):
    compiled = pipeline(Source(f"rnn{T}.txt", rnn_source(T)))[0]
    oc = compiled.op_counts()
    n_params = len(compiled.forward.params)
    assert n_params == T + 2
    # a tanh, two products and a sum per step: the forward pass grows linearly in T
    assert oc["forward"] >= 3 * T
    assert oc["value_and_grad"] <= 3 * oc["forward"] + n_params, oc


@pytest.fixture(scope="module")
def rnn20() -> chaincc.Function:
    return chaincc.compile(rnn_source(20), name="rnn20.txt")


def _rnn_point(T: int) -> np.ndarray:
    return np.random.default_rng(T).uniform(-1.0, 1.0, T + 2)


def test_rnn20_gradient_matches_finite_differences(rnn20):
    x = _rnn_point(20)
    value, grad = rnn20.value_and_grad(*x)
    assert close(value, rnn20(*x))
    for i in range(len(x)):
        h = 1e-6
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        fd = (rnn20(*up) - rnn20(*down)) / (2 * h)
        assert abs(grad[i] - fd) <= 1e-7 * max(1.0, abs(fd)), (rnn20.params[i], grad[i], fd)


def test_rnn20_gradient_matches_sympy(rnn20):
    loss, params = rnn_expr(20)
    x = _rnn_point(20)
    want_v, want_g = expected_fast(loss, params, x)
    got_v, got_g = rnn20.value_and_grad(*x)
    assert close(got_v, want_v, rel=1e-12)
    for p, g, w in zip(params, got_g, want_g):
        assert close(g, w, rel=1e-9, abs_=1e-15), (p, g, w)
