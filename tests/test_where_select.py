"""``where`` selects, never multiplies: the branch it did not pick contributes nothing to
the value or to any derivative, whatever that branch computes there (nan from 0/0 or a
root of a negative, ±inf from a log of 0, an overflowing exp or power), through any depth of
operations and helpers, on every backend.

The expected values are written by hand from the branch that is picked (its derivative by
``sympy.diff`` of a transcription in the test), never from chaincc.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sympy as sp

import chaincc
from chaincc import native
from chaincc.evaluate import evaluate

nan, inf = math.nan, math.inf
X = sp.Symbol("x")


def picked(expr: sp.Expr, at: float) -> tuple[float, float]:
    """Value and derivative of the picked branch, from SymPy (whose complex infinity is
    IEEE's +inf for the one such case here, 1/(2·sqrt(0)))."""
    d = sp.diff(expr, X).subs(X, at)
    return float(expr.subs(X, at)), (inf if d is sp.zoo else float(d))


# (source, point, picked branch as SymPy in x, what the untaken branch does there)
SCALAR = [
    ("f(x) = where(x > 0, 2sqrt(x), x)", 0.0, X, "sqrt'(0) = inf"),
    ("f(x) = where(x > 0, 2sqrt(x), x)", -1.0, X, "sqrt(-1) = nan"),
    ("f(x) = where(x > 0, 2sqrt(x), x)", 4.0, 2 * sp.sqrt(X), "taken"),
    ("f(x) = where(x != 0, sin(x)/x, 1 - x^2/6)", 0.0, 1 - X**2 / 6, "0/0 = nan"),
    ("f(x) = where(x > 0, log(x), 3x)", 0.0, 3 * X, "log(0) = -inf"),
    ("f(x) = where(x > 0, log(x), 3x)", -2.0, 3 * X, "log(-2) = nan"),
    ("f(x) = where(x < 700, exp(x), 5)", 1000.0, sp.Integer(5), "exp overflows"),
    ("f(x) = where(abs(x) < 1e100, x^4, 1)", 1e200, sp.Integer(1), "x^4 overflows"),
    ("f(x) = where(x > 1, log(log(log(x))) + sqrt(x - 2), x^2)", 0.5, X**2,
     "nan through depth"),
    ("f(x) = where(x < -1 or x > 1, sqrt(x^2 - 1), x)", 0.0, X, "or-condition"),
    ("f(x) = where(x < -1 or x > 1, sqrt(x^2 - 1), x)", 2.0, sp.sqrt(X**2 - 1), "taken"),
    ("f(x) = where(not (x <= 0), sqrt(x), -x)", 0.0, -X, "not-condition"),
    ("f(x) = where(x > 0, where(x > 1, sqrt(x - 1), log(1 - x)), 2x)", -3.0, 2 * X,
     "nested: both inner branches untaken"),
    ("f(x) = where(x > 0, where(x > 1, sqrt(x - 1), log(1 - x)), 2x)", 0.5,
     sp.log(1 - X), "nested: inner sqrt untaken"),
    ("f(x) = where(x > 0, where(x > 1, sqrt(x - 1), log(1 - x)), 2x)", 2.0,
     sp.sqrt(X - 1), "nested: inner log untaken"),
    ("f(x) = where(x > 0, where(x >= 1, sqrt(x - 1), log(1 - x)), 2x)", 1.0,
     sp.sqrt(X - 1), "nested: taken sqrt'(0) = inf"),
    ("g(t) = sqrt(t)·log(t)\nf(x) = where(x > 0, g(x), 2x)", -3.0, 2 * X, "through a helper"),
    ("h(x) = where(x > 0, sqrt(x), 0)\nf(x) = h(x) + h(-x)", 0.0, sp.Integer(0),
     "two helpers, both untaken"),
    ("h(x) = where(x > 0, sqrt(x), 0)\nf(x) = h(x) + h(-x)", 4.0, sp.sqrt(X), "one taken"),
    ("s = sqrt(x) + 1/x\nf(x) = where(x > 0, s·s, x^3)", 0.0, X**3, "a binding in the branch"),
    ("f(x) = where(x > 0, sqrt(x), 0) + where(x < 0, sqrt(-x), 0)", 0.0, sp.Integer(0),
     "zero from both sides"),
    ("f(x) = where(x > 0, sqrt(x), 0)·x", -1.0, sp.Integer(0), "masked value times x"),
    ("f(x) = tanh(where(x > 0, sqrt(x), x)) + x", -1.0, sp.tanh(X) + X, "after the where"),
]


def _expected(point: float, branch: sp.Expr) -> tuple[float, float]:
    return picked(branch, point)


def _fused_by_evaluator(fn, at: float) -> tuple[float, float]:
    """The fused program run statement by statement in the float64 evaluator that
    ``explain`` uses."""
    prog = fn.program
    env = {prog.params[0].symbols[0]: at}
    for a in prog.body:
        env[a.target] = evaluate(a.expr, env)
    out = [evaluate(o.exprs[0], env) if o.exprs[0].free_symbols else float(o.exprs[0])
           for o in prog.outputs]
    return out[0], out[1]


def _close(got: float, want: float) -> bool:
    if math.isnan(want):
        return math.isnan(got)
    return got == want or abs(got - want) <= 1e-12 * max(1.0, abs(want))


@pytest.mark.parametrize("src, at, branch, why", SCALAR,
                         ids=[f"{c[3]}@{c[1]}" for c in SCALAR])
def test_untaken_branch_contributes_nothing(src, at, branch, why):
    want_v, want_g = _expected(at, branch)
    fn = chaincc.compile(src)
    v, (g,) = fn.value_and_grad(at)
    assert _close(v, want_v) and _close(g, want_g), (v, g, want_v, want_g)
    # the batch kernel, with the point among others
    xs = np.array([at, 0.25, at, -0.5])
    bv, (bg,) = fn.value_and_grad(xs)
    assert _close(bv[0], want_v) and _close(bg[2], want_g)
    # the evaluator behind explain runs the same fused program
    ev, eg = _fused_by_evaluator(fn, at)
    assert _close(ev, want_v) and _close(eg, want_g), (ev, eg)


def test_llvm_and_c_backends_select_too():
    """The LLVM backend (forced for a small program) and the generated C agree."""
    saved = native.NATIVE_STATEMENTS
    native.NATIVE_STATEMENTS = 0
    try:
        for i, (src, at, branch, _) in enumerate(SCALAR):
            want_v, want_g = _expected(at, branch)
            fn = chaincc.compile(f"{src}\n# LLVM backend {i}\n")
            assert fn._native("vg")
            v, (g,) = fn.value_and_grad(np.array([at, at]))
            assert _close(v[0], want_v) and _close(g[1], want_g), (src, at, v, g)
    finally:
        native.NATIVE_STATEMENTS = saved
    if not (os.environ.get("CC") or _which("cc") or _which("gcc")):
        pytest.skip("no C compiler")
    for src, at, branch, _ in SCALAR[:12]:
        want_v, want_g = _expected(at, branch)
        cfn = chaincc.compile(src).compile_c()
        v, (g,) = cfn.value_and_grad(at)
        assert _close(v, want_v) and _close(g, want_g), (src, at, v, g)


def _which(name: str) -> str | None:
    import shutil
    return shutil.which(name)


def test_arrays_where_selects_per_element():
    fn = chaincc.compile("f(v[3]) = sum(where(v > 0, sqrt(v), -v))")
    v, (g,) = fn.value_and_grad(np.array([0.0, -1.0, 4.0]))
    assert v == 3.0
    assert g.tolist() == [-1.0, -1.0, 0.25]


def test_rodrigues_at_zero_rotation():
    """The rotation angle's Taylor branch at r = 0: the exact branch divides by |r| = 0."""
    src = textwrap.dedent("""
        t2(r[3]) = dot(r, r)
        k(r[3]) = where(t2(r) > 1e-12, sin(sqrt(t2(r)))/sqrt(t2(r)), 1 - t2(r)/6)
        f(r[3], p[3]) = k(r)·dot(r, p) + sum(p)
    """)
    fn = chaincc.compile(src)
    r, p = np.zeros(3), np.array([1.0, 2.0, 3.0])
    v, (gr, gp) = fn.value_and_grad(r, p)
    # picked branch: (1 - r·r/6)(r·p) + Σp; at r = 0 its gradient in r is p, in p is 1
    assert v == 6.0
    assert gr.tolist() == p.tolist() and gp.tolist() == [1.0, 1.0, 1.0]
    jac = chaincc.compile(src.replace("f(r[3], p[3]) = k(r)·dot(r, p) + sum(p)",
                                      "f(r[3], p[3]) = k(r)·p")).jacobian(r, p)
    assert np.all(np.isfinite(jac[0])) and np.all(np.isfinite(jac[1]))


def test_hessian_selects():
    fn = chaincc.compile("f(x) = where(x > 0, sqrt(x)·x, x^2)")
    assert fn.value_and_grad(-1.0) == (1.0, (-2.0,))
    assert fn.hessian(-1.0).tolist() == [[2.0]]
    assert fn.hvp(-1.0, [3.0])[0] == 6.0


def test_not_is_not_rewritten_for_nan():
    """``not (x > 0)`` holds at NaN (a comparison with NaN is false); ``x <= 0`` would not."""
    assert chaincc.compile("f(x) = where(not (x > 0), 1, 2)")(nan) == 1.0
    assert chaincc.compile("f(x) = where(x > 0 or x <= 0, 1, 2)")(nan) == 2.0
    assert chaincc.compile("f(x) = where(x >= x, 1, 2)")(nan) == 2.0
    assert chaincc.compile("f(x) = where(x != x, 1, 2)")(nan) == 1.0


def test_cuda_simulator_selects():
    if subprocess.run([sys.executable, "-c", "import numba_cuda"],
                      capture_output=True).returncode != 0:
        pytest.skip("numba-cuda not installed")
    cases = [(src, at) for src, at, _, _ in SCALAR]
    script = textwrap.dedent("""
        import json, sys
        import numpy as np
        import chaincc
        out = []
        for src, at in json.loads(sys.stdin.read()):
            fn = chaincc.compile(src, target="cuda")
            try:
                v, (g,) = fn.value_and_grad(np.array([at, at]))
            except (ZeroDivisionError, ValueError, OverflowError):
                out.append(None)      # the simulator's Python math raises (a GPU does not)
                continue
            out.append([float(v[0]), float(g[0])])
        print(json.dumps(out))
    """)
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    r = subprocess.run([sys.executable, "-c", script], input=json.dumps(cases), env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert sum(r is not None for r in got) >= 4    # the overflow and taken cases
    for (src, at, branch, _), r in zip(SCALAR, got):
        if r is None:
            continue
        v, g = r
        want_v, want_g = _expected(at, branch)
        assert _close(v, want_v) and _close(g, want_g), (src, at, v, g)


def test_a_branch_that_can_never_be_taken_gets_nothing() -> None:
    """Its mask is false, so its value has no contribution at all (this once failed to
    compile: an empty sum of contributions)."""
    import chaincc
    fn = chaincc.compile("f(x, y) = where(x > 0, where(x <= 0, y*y, 1), 2) + y")
    assert fn.value_and_grad(1.0, 2.0) == (3.0, (0.0, 1.0))
    assert fn.value_and_grad(-1.0, 2.0) == (4.0, (0.0, 1.0))
