"""``chaincc.jax.function(fn)``: compiled functions inside JAX transformations.

Oracle: the same formulas written in ``jax.numpy`` below and differentiated by JAX
itself (``jax.grad``, ``jax.jacrev``, ``jax.hessian`` of the ``jnp`` code), evaluated at
random points; nothing of chaincc is used to build them.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

import chaincc  # noqa: E402
from chaincc.calling import ArgumentError, ArgumentTypeError  # noqa: E402

cjax = pytest.importorskip("chaincc.jax")

TOL = 1e-12
RNG = np.random.default_rng(13)


@pytest.fixture(autouse=True)
def _x64():
    """64-bit mode on for each test, and back as it was after."""
    was = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", was)


def close(got, want, tol: float = TOL) -> None:
    """Every leaf of ``got`` equals that of ``want`` to ``tol``, relative to its size."""
    g_leaves, g_tree = jax.tree_util.tree_flatten(got)
    w_leaves, w_tree = jax.tree_util.tree_flatten(want)
    assert g_tree == w_tree
    for g, w in zip(g_leaves, w_leaves):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape
        assert g.dtype == np.float64
        scale = max(1.0, float(np.max(np.abs(w), initial=0.0)))
        np.testing.assert_allclose(g, w, rtol=0, atol=tol * scale)


# -- the functions, in chaincc and (the oracle) in jax.numpy ---------------------------------
SEED = "f(x, y) = (x² + xy)y³"


def seed_ref(x, y):
    return (x**2 + x * y) * y**3


LOGISTIC = """
z = w @ x + b
loss(w[4], b, x[4], y) = softplus(z) - y z + 0.1 (w @ w)
"""


def logistic_ref(w, b, x, y):
    z = jnp.dot(w, x) + b
    return jnp.logaddexp(0.0, z) - y * z + 0.1 * jnp.dot(w, w)


LAYER = "layer(W[2,3], c[2], u[3]) = sum(tanh(W @ u + c)^2) + exp(c[0] u[2])"


def layer_ref(W, c, u):
    return jnp.sum(jnp.tanh(W @ u + c) ** 2) + jnp.exp(c[0] * u[2])


VECTOR = "g(x[3], s) = [x[0]^2 * s, sin(x[1]) + s x[2], exp(x[2]) x[0], x[1] / s]"


def vector_ref(x, s):
    return jnp.stack([x[0] ** 2 * s, jnp.sin(x[1]) + s * x[2], jnp.exp(x[2]) * x[0],
                      x[1] / s])


@pytest.fixture(scope="module")
def seed():
    return cjax.function(chaincc.compile(SEED))


@pytest.fixture(scope="module")
def logistic():
    return cjax.function(chaincc.compile(LOGISTIC))


@pytest.fixture(scope="module")
def layer():
    return cjax.function(chaincc.compile(LAYER))


@pytest.fixture(scope="module")
def vector():
    return cjax.function(chaincc.compile(VECTOR))


def logistic_point():
    return (jnp.asarray(RNG.normal(size=4)), float(RNG.normal()),
            jnp.asarray(RNG.normal(size=4)), float(RNG.integers(0, 2)))


def layer_point():
    return (jnp.asarray(RNG.normal(size=(2, 3))), jnp.asarray(RNG.normal(size=2)),
            jnp.asarray(RNG.normal(size=3)))


def counted(f, kind: str, run) -> tuple:
    """``run()``'s result and how many ``kind`` kernel calls it made."""
    before = f.kernel_calls[kind]
    result = run()
    jax.block_until_ready(result)
    return result, f.kernel_calls[kind] - before


# -- scalar functions ---------------------------------------------------------------------------
def test_scalar_value_and_gradient(seed):
    close(seed(1.0, 2.0), 24.0)
    close(jax.grad(seed, argnums=(0, 1))(1.0, 2.0), (32.0, 44.0))
    for _ in range(5):
        x, y = RNG.normal(size=2)
        close(seed(x, y), seed_ref(x, y))
        close(jax.grad(seed, argnums=(0, 1))(x, y), jax.grad(seed_ref, argnums=(0, 1))(x, y))
        close(jax.value_and_grad(seed, argnums=(0, 1))(x, y),
              jax.value_and_grad(seed_ref, argnums=(0, 1))(x, y))


def test_array_parameters(layer, logistic):
    for _ in range(5):
        p = layer_point()
        close(layer(*p), layer_ref(*p))
        close(jax.grad(layer, argnums=(0, 1, 2))(*p), jax.grad(layer_ref, argnums=(0, 1, 2))(*p))
        q = logistic_point()
        close(jax.value_and_grad(logistic, argnums=(0, 1, 2, 3))(*q),
              jax.value_and_grad(logistic_ref, argnums=(0, 1, 2, 3))(*q))


def test_keyword_arguments(layer):
    W, c, u = layer_point()
    close(layer(u=u, W=W, c=c), layer_ref(W, c, u))
    close(jax.grad(lambda c: layer(W, u=u, c=c))(c), jax.grad(layer_ref, argnums=1)(W, c, u))


def test_inside_jit(layer):
    p = layer_point()
    close(jax.jit(layer)(*p), layer_ref(*p))
    vg = jax.jit(jax.value_and_grad(layer, argnums=(0, 1, 2)))
    close(vg(*p), jax.value_and_grad(layer_ref, argnums=(0, 1, 2))(*p))
    q = layer_point()           # the same compiled program at another point
    close(vg(*q), jax.value_and_grad(layer_ref, argnums=(0, 1, 2))(*q))


def test_gradient_is_one_fused_call(layer):
    p = layer_point()
    _, n = counted(layer, "value_and_grad", lambda: jax.grad(layer)(*p))
    assert n == 1
    _, n = counted(layer, "value", lambda: jax.grad(layer)(*p))
    assert n == 0


def test_chain_rule_across_the_boundary(layer):
    """JAX operations before and after the call, differentiated as one program."""
    def through(bridge):
        def h(a, V):
            W = jnp.sin(a * V)                      # JAX before
            c = jnp.array([a**2, jnp.cos(a)])
            u = jnp.tanh(V[0])
            return jnp.log1p(bridge(W, c, u) ** 2) * a   # JAX after
        return h

    a, V = 0.7, jnp.asarray(RNG.normal(size=(2, 3)))
    close(through(layer)(a, V), through(layer_ref)(a, V))
    close(jax.grad(through(layer), argnums=(0, 1))(a, V),
          jax.grad(through(layer_ref), argnums=(0, 1))(a, V))
    close(jax.jit(jax.grad(through(layer), argnums=(0, 1)))(a, V),
          jax.grad(through(layer_ref), argnums=(0, 1))(a, V))


# -- batches: vmap and batch dimensions ---------------------------------------------------
def test_vmap_is_one_kernel_call(logistic):
    n = 1000
    w, b = jnp.asarray(RNG.normal(size=4)), 0.3
    X, y = jnp.asarray(RNG.normal(size=(n, 4))), jnp.asarray(RNG.integers(0, 2, n) * 1.0)
    axes = (None, None, 0, 0)
    got, calls = counted(logistic, "value",
                         lambda: jax.jit(jax.vmap(logistic, axes))(w, b, X, y))
    assert calls == 1
    close(got, jax.vmap(logistic_ref, axes)(w, b, X, y))

    per_point = jax.vmap(jax.grad(logistic, argnums=(0, 1, 2, 3)), axes)
    got, calls = counted(logistic, "value_and_grad", lambda: per_point(w, b, X, y))
    assert calls == 1
    close(got, jax.vmap(jax.grad(logistic_ref, argnums=(0, 1, 2, 3)), axes)(w, b, X, y))

    def mean_loss(bridge):
        return lambda w, b: jnp.mean(jax.vmap(bridge, axes)(w, b, X, y))
    vg = jax.jit(jax.value_and_grad(mean_loss(logistic), argnums=(0, 1)))
    got, calls = counted(logistic, "value_and_grad", lambda: vg(w, b))
    assert calls == 1
    close(got, jax.value_and_grad(mean_loss(logistic_ref), argnums=(0, 1))(w, b))


def test_nested_vmap_lines_up_batch_dimensions(layer):
    """vmap over W's and u's own axes, in either nesting, against JAX's own vmap."""
    W = jnp.asarray(RNG.normal(size=(5, 2, 3)))
    c = jnp.asarray(RNG.normal(size=2))
    u = jnp.asarray(RNG.normal(size=(7, 3)))
    def nest(f):
        return jax.vmap(jax.vmap(f, (0, None, None)), (None, None, 0))

    got, calls = counted(layer, "value", lambda: nest(layer)(W, c, u))
    assert calls == 1 and got.shape == (7, 5)
    close(got, nest(layer_ref)(W, c, u))
    g = jax.grad(layer, argnums=(0, 2))
    g_ref = jax.grad(layer_ref, argnums=(0, 2))
    close(nest(g)(W, c, u), nest(g_ref)(W, c, u))
    # a mapped axis other than the first
    Wt = jnp.moveaxis(W, 0, 2)
    got, calls = counted(layer, "value", lambda: jax.vmap(layer, (2, None, None))(Wt, c, u[0]))
    assert calls == 1
    close(got, jax.vmap(layer_ref, (2, None, None))(Wt, c, u[0]))


def test_batch_dimensions_broadcast(logistic):
    """Arguments with leading batch dimensions, as chaincc's own calls take them."""
    n = 50
    w, b = jnp.asarray(RNG.normal(size=4)), 0.1
    X, y = jnp.asarray(RNG.normal(size=(n, 4))), jnp.asarray(RNG.integers(0, 2, n) * 1.0)
    axes = (None, None, 0, 0)
    close(logistic(w, b, X, y), jax.vmap(logistic_ref, axes)(w, b, X, y))

    def total(bridge):
        return lambda w, b: jnp.sum(bridge(w, b, X, y))
    ref = lambda w, b: jnp.sum(jax.vmap(logistic_ref, axes)(w, b, X, y))  # noqa: E731
    close(jax.grad(total(logistic), argnums=(0, 1))(w, b), jax.grad(ref, argnums=(0, 1))(w, b))


# -- vector-valued functions ------------------------------------------------------------------
def test_vector_valued_vjp_and_jacobians(vector):
    for _ in range(3):
        x, s = jnp.asarray(RNG.normal(size=3)), float(RNG.uniform(0.5, 2))
        close(vector(x, s), vector_ref(x, s))
        ct = jnp.asarray(RNG.normal(size=4))
        v, pull = jax.vjp(vector, x, s)
        v_ref, pull_ref = jax.vjp(vector_ref, x, s)
        close(v, v_ref)
        close(pull(ct), pull_ref(ct))
        close(jax.jacrev(vector, argnums=(0, 1))(x, s),
              jax.jacrev(vector_ref, argnums=(0, 1))(x, s))
        close(jax.jacfwd(vector, argnums=(0, 1))(x, s),
              jax.jacfwd(vector_ref, argnums=(0, 1))(x, s))


def test_vector_valued_jacobian_is_one_call(vector):
    x = jnp.asarray(RNG.normal(size=3))
    _, calls = counted(vector, "value_and_grad", lambda: jax.jacrev(vector)(x, 1.5))
    assert calls == 1
    X = jnp.asarray(RNG.normal(size=(20, 3)))
    got, calls = counted(vector, "value_and_grad",
                         lambda: jax.vmap(jax.jacrev(vector), (0, None))(X, 1.5))
    assert calls == 1
    close(got, jax.vmap(jax.jacrev(vector_ref), (0, None))(X, 1.5))


def test_vector_valued_second_derivative_is_refused(vector):
    x = jnp.asarray(RNG.normal(size=3))
    with pytest.raises(cjax.UnsupportedTransform, match="vector-valued"):
        jax.jacfwd(jax.jacrev(vector))(x, 1.5)


# -- forward mode and second derivatives ------------------------------------------------------
def test_forward_mode(layer):
    p = layer_point()
    t = layer_point()
    close(jax.jvp(layer, p, t), jax.jvp(layer_ref, p, t))
    close(jax.jacfwd(layer, argnums=(0, 1, 2))(*p), jax.jacfwd(layer_ref, argnums=(0, 1, 2))(*p))
    value, lin = jax.linearize(layer, *p)
    value_ref, lin_ref = jax.linearize(layer_ref, *p)
    close((value, lin(*t)), (value_ref, lin_ref(*t)))


def test_second_derivatives(layer, seed):
    p = layer_point()
    argnums = (0, 1, 2)
    close(jax.hessian(layer, argnums)(*p), jax.hessian(layer_ref, argnums)(*p))
    close(jax.jacrev(jax.jacrev(layer, argnums), argnums)(*p),
          jax.jacrev(jax.jacrev(layer_ref, argnums), argnums)(*p))
    close(jax.jit(jax.hessian(layer, argnums))(*p), jax.hessian(layer_ref, argnums)(*p))
    x, y = RNG.normal(size=2)
    close(jax.grad(jax.grad(seed, 1), 0)(x, y), jax.grad(jax.grad(seed_ref, 1), 0)(x, y))
    # a Hessian-vector product, forward over reverse
    t = layer_point()
    close(jax.jvp(jax.grad(layer, argnums), p, t)[1],
          jax.jvp(jax.grad(layer_ref, argnums), p, t)[1])


def test_batched_hessian(logistic):
    w, b = jnp.asarray(RNG.normal(size=4)), 0.2
    X, y = jnp.asarray(RNG.normal(size=(30, 4))), jnp.asarray(RNG.integers(0, 2, 30) * 1.0)

    def mean_loss(bridge):
        return lambda w, b: jnp.mean(jax.vmap(bridge, (None, None, 0, 0))(w, b, X, y))
    got, calls = counted(logistic, "hessian",
                         lambda: jax.hessian(mean_loss(logistic), (0, 1))(w, b))
    assert calls == 1
    close(got, jax.hessian(mean_loss(logistic_ref), (0, 1))(w, b))


def test_third_derivative_is_refused(seed):
    with pytest.raises(cjax.UnsupportedTransform, match="second order"):
        jax.grad(jax.grad(jax.grad(seed)))(0.5, 1.5)
    with pytest.raises(cjax.UnsupportedTransform, match="second order"):
        jax.jacfwd(jax.hessian(seed))(0.5, 1.5)


# -- wrt=: data parameters --------------------------------------------------------------------
def test_wrt_parameters_only():
    f = cjax.function(chaincc.compile(LOGISTIC, wrt=["w", "b"]))
    w, b, x, y = logistic_point()
    close(jax.grad(f, (0, 1))(w, b, x, y), jax.grad(logistic_ref, (0, 1))(w, b, x, y))
    close(jax.hessian(f, (0, 1))(w, b, x, y), jax.hessian(logistic_ref, (0, 1))(w, b, x, y))
    with pytest.raises(cjax.UnsupportedTransform, match="'x', which is data"):
        jax.grad(f, 2)(w, b, x, y)


# -- precision and arguments ----------------------------------------------------------------
def test_needs_64_bit_mode(seed):
    jax.config.update("jax_enable_x64", False)
    with pytest.raises(ArgumentTypeError, match="jax_enable_x64"):
        seed(1.0, 2.0)
    with pytest.raises(ArgumentTypeError, match="jax_enable_x64"):
        jax.jit(seed)(1.0, 2.0)


def test_lower_precision_inputs_become_float64(layer):
    W, c, u = (np.asarray(a, dtype=np.float32) for a in layer_point())
    got = layer(jnp.asarray(W), jnp.asarray(c), jnp.asarray(u))
    assert got.dtype == jnp.float64
    close(got, layer_ref(*(jnp.asarray(a, dtype=jnp.float64) for a in (W, c, u))))
    g = jax.grad(layer)(jnp.asarray(W), c, u)
    assert g.dtype == jnp.float32          # JAX gives a cotangent in the input's dtype
    close(jax.grad(layer)(jnp.asarray(W, dtype=jnp.float64), c, u),
          jax.grad(layer_ref)(jnp.asarray(W, dtype=jnp.float64), c, u))


def test_bad_arguments(layer):
    W, c, u = layer_point()
    with pytest.raises(ArgumentError, match="parameter 'u' must have shape"):
        layer(W, c, jnp.zeros(4))
    with pytest.raises(ArgumentError, match="cannot be broadcast"):
        layer(jnp.zeros((5, 2, 3)), c, jnp.zeros((4, 3)))
    with pytest.raises(ArgumentTypeError, match="must be real"):
        layer(W, c, jnp.zeros(3, dtype=jnp.complex128))
    with pytest.raises(ArgumentTypeError, match="missing value"):
        layer(W, c)
    with pytest.raises(ArgumentTypeError, match="compiled function"):
        cjax.function(lambda x: x)
    assert "layer(W[2,3], c[2], u[3])" in repr(layer)
