"""pow from chaincc's own vectorisable IR: within 1 ulp of mpmath wherever x^y is a
double (overflow and subnormal results included), C99's special cases exactly as the C
library gives them, and the same bits from the vector and scalar versions."""

import itertools
import math

import mpmath
import numpy as np
from vecmath_oracle import check, specials, ulps

from chaincc import libm
from chaincc.backends.vecmath import probe

RNG = np.random.default_rng(20261207)
INF, NAN = math.inf, math.nan


def _log_uniform(lo: float, hi: float, n: int) -> np.ndarray:
    return np.exp(RNG.uniform(math.log(lo), math.log(hi), n))


def _y_for(x: np.ndarray, t_lo: float, t_hi: float) -> np.ndarray:
    """y with y·ln|x| uniform in [t_lo, t_hi]: x^y from e^t_lo to e^t_hi."""
    return RNG.uniform(t_lo, t_hi, len(x)) / np.log(np.abs(x))


def test_pow_within_one_ulp_across_the_range() -> None:
    x = _log_uniform(1e-300, 1e300, 3000)
    xs, ys = [x], [_y_for(x, -760, 720)]               # all of x^y's range, and beyond
    x = _log_uniform(1e-300, 1e300, 1000)
    xs.append(x), ys.append(_y_for(x, 700, 709.8))     # near overflow
    x = _log_uniform(1e-300, 1e300, 1500)
    xs.append(x), ys.append(_y_for(x, -745.2, -707))   # subnormal results, underflow to 0
    x = _log_uniform(5e-324, 2.2e-308, 500)            # subnormal x
    xs.append(x), ys.append(_y_for(x, -745.2, 709.8))
    x = RNG.uniform(0, 10, 1000)                       # moderate x and y
    xs.append(x), ys.append(RNG.uniform(-10, 10, 1000))
    x = _log_uniform(1e-300, 1e300, 500)               # tiny y
    xs.append(x), ys.append(RNG.choice([-1, 1], 500) * 10.0 ** RNG.uniform(-20, -1, 500))
    x = _log_uniform(1e-300, 1e300, 500)               # huge y: 0 or inf
    xs.append(x), ys.append(RNG.choice([-1, 1], 500) * 10.0 ** RNG.uniform(16, 300, 500))
    check("pow", mpmath.power, [np.concatenate(xs), np.concatenate(ys)])


def test_pow_near_one_with_huge_y() -> None:
    x = 1 + RNG.uniform(-1, 1, 1500) * 10.0 ** RNG.uniform(-16, -1, 1500)
    x = x[x != 1]
    check("pow", mpmath.power, [x, _y_for(x, -750, 715)])


def test_pow_at_the_edges_of_the_log_reduction() -> None:
    # |x| = 2^k·m, m in [sqrt(3)/2, sqrt(3)), base point 1.5 from sqrt(3/2): the largest
    # reduced arguments, and the largest y·log|x| for them
    k = RNG.integers(-1000, 1000, 1000).astype(float)
    edge = RNG.choice([math.sqrt(1.5), math.sqrt(3) / 2, math.sqrt(3)], 1000)
    x = edge * 2.0 ** k * (1 + RNG.uniform(-1e-3, 1e-3, 1000))
    x[:300] = edge[:300] * (1 + RNG.uniform(-1e-3, 1e-3, 300))
    check("pow", mpmath.power, [x, _y_for(x, -745.2, 709.8)])


def test_pow_subnormal_results_round_once() -> None:
    """Results below 2^-1022 are x^y rounded once onto the subnormals' spacing (within
    0.5 of it, and a little for the error before that rounding), also where x^y is just
    below 2^-1022 or at 2^-1075, the halfway point to 0. (The error is measured here in
    units of 2^-1074 with mpmath: vecmath_oracle's ulps rounds such small differences to
    a subnormal.)"""
    x = _log_uniform(1e-300, 1e300, 1500)
    t = np.concatenate([RNG.uniform(-745.2, -708.4, 900),        # ln 2^-1022 = -708.40
                        RNG.uniform(-708.5, -708.39, 300), RNG.uniform(-745.2, -745.0, 300)])
    y = t / np.log(x)
    got = probe.evaluate("pow", x, y)
    assert (got.view(np.int64) == probe.evaluate("pow", x, y, vectorise=False).view(np.int64)).all()
    unit = mpmath.mpf(2) ** -1074
    for a, c, g in zip(x, y, got):
        exact = mpmath.power(mpmath.mpf(a), mpmath.mpf(c))
        if exact < mpmath.mpf(2) ** -1022:
            assert abs(mpmath.mpf(g) - exact) / unit <= 0.51, (a, c, g)


def test_pow_negative_x_integer_y() -> None:
    x = -_log_uniform(1e-3, 1e3, 1500)
    y = np.round(_y_for(x, -740, 705))
    y[:100] = RNG.integers(-5, 6, 100)
    check("pow", mpmath.power, [x, y])
    odd = (y % 2 == 1) & (np.abs(y) < 2 ** 53)
    got = probe.evaluate("pow", x, y)
    assert (np.signbit(got) == odd).all()


def test_pow_exact_results_are_exact() -> None:
    cases = [(float(a), float(n)) for a in (2, 3, 5, 7, 10, 0.5, 0.25, -3, -6)
             for n in range(-20, 21) if abs(n * math.log2(abs(a))) < 52]
    cases += [(4.0, 0.5), (9.0, 0.5), (8.0, 1 / 3), (1024.0, 0.1), (0.0625, 0.25),
              (2.0, -1074.0), (2.0, 1023.0), (0.5, 1074.0), (2.0, -1022.0)]
    x = np.array([c[0] for c in cases])
    y = np.array([c[1] for c in cases])
    for vectorise in (True, False):
        got = probe.evaluate("pow", x, y, vectorise=vectorise)
        for (a, n), g in zip(cases, got):
            exact = mpmath.power(mpmath.mpf(a), mpmath.mpf(n))
            if float(exact) == exact:
                assert g == float(exact), (a, n, g)


SPECIAL_X = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, -3.0, 3.0, 1.5, INF, -INF, NAN,
             5e-324, -5e-324, 2.2250738585072009e-308, -1e-310, 1e300, -1e-300,
             1 - 2.0 ** -53, 1 + 2.0 ** -52]
SPECIAL_Y = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.5, -0.5, 1.5, INF, -INF, NAN,
             1e300, -1e300, 2.0 ** 53 + 1, 2.0 ** 53 - 1, -(2.0 ** 53 - 1), 5e-324, -5e-324,
             1023.0, 1024.0, -1074.0, -1075.0, 4.5]


def test_pow_special_grid_matches_the_c_library() -> None:
    """Bits equal libm's pow at every pair of special x and y; where they differ, both
    are the same kind of finite inexact value and ours is within 1 ulp of mpmath."""
    pairs = list(itertools.product(SPECIAL_X, SPECIAL_Y))
    x = np.array([p[0] for p in pairs])
    y = np.array([p[1] for p in pairs])
    for vectorise in (True, False):
        got = probe.evaluate("pow", x, y, vectorise=vectorise)
        for (a, c), g in zip(pairs, got):
            want = libm.call("pow", a, c)
            if math.isnan(want):
                assert math.isnan(g), (a, c, g)
                continue
            if g == want and math.copysign(1, g) == math.copysign(1, want):
                continue
            exact = mpmath.power(mpmath.mpf(a), mpmath.mpf(c))
            assert want != 0 and math.isfinite(want) and float(exact) != exact, (a, c, g, want)
            assert ulps(float(g), exact) <= 1.0, (a, c, g, want)


def test_pow_c99_special_values() -> None:
    specials("pow", [
        ((NAN, 0.0), 1.0), ((NAN, -0.0), 1.0), ((INF, 0.0), 1.0), ((0.0, 0.0), 1.0),
        ((1.0, NAN), 1.0), ((1.0, INF), 1.0), ((1.0, -INF), 1.0), ((1.0, -1e300), 1.0),
        ((-1.0, INF), 1.0), ((-1.0, -INF), 1.0), ((-1.0, 3.0), -1.0), ((-1.0, 1e300), 1.0),
        ((-1.0, 0.5), NAN), ((-1.0, NAN), NAN), ((NAN, 1.0), NAN), ((2.0, NAN), NAN),
        ((0.0, -3.0), INF), ((-0.0, -3.0), -INF), ((0.0, -2.0), INF), ((-0.0, -2.0), INF),
        ((-0.0, -0.5), INF), ((-0.0, -INF), INF), ((0.0, 3.0), 0.0), ((-0.0, 3.0), -0.0),
        ((-0.0, 2.0), 0.0), ((-0.0, 0.5), 0.0), ((-0.0, INF), 0.0), ((0.0, 5e-324), 0.0),
        ((0.5, -INF), INF), ((-0.5, -INF), INF), ((0.5, INF), 0.0), ((2.0, -INF), 0.0),
        ((-2.0, INF), INF), ((2.0, INF), INF),
        ((-INF, -3.0), -0.0), ((-INF, -2.0), 0.0), ((-INF, -0.5), 0.0), ((-INF, 3.0), -INF),
        ((-INF, 2.0), INF), ((-INF, 0.5), INF), ((INF, -1.0), 0.0), ((INF, 5e-324), INF),
        ((-2.0, 0.5), NAN), ((-3.0, -1.5), NAN), ((-1e-300, 1e-300), NAN),
        ((-2.0, 3.0), -8.0), ((-2.0, -3.0), -0.125), ((-2.0, 2.0 ** 53 - 1), -INF),
        ((-0.5, 2.0 ** 53 - 1), -0.0), ((-2.0, 2.0 ** 53), INF), ((-2.0, 1e300), INF),
        ((2.0, 1024.0), INF), ((2.0, -1075.0), 0.0), ((2.0, -1074.0), 5e-324),
        ((1e300, 2.0), INF), ((1e-300, 2.0), 0.0), ((-1e-300, 3.0), -0.0),
        ((1 + 2.0 ** -52, 1e300), INF), ((1 - 2.0 ** -53, 1e300), 0.0),
        ((5e-324, -1.0), INF), ((5e-324, 0.5), 2.0 ** -537), ((-5e-324, 3.0), -0.0),
    ])


def _cbrt(v: mpmath.mpf) -> mpmath.mpf:
    return mpmath.sign(v) * mpmath.cbrt(abs(v))


def test_cbrt_within_half_an_ulp_and_a_little() -> None:
    """Within 1 ulp everywhere (in fact within 0.51: nearly always correctly rounded)."""
    sign = RNG.choice([-1.0, 1.0], 12000)
    x = np.concatenate([_log_uniform(2.3e-308, 1.7e308, 5000),
                        RNG.uniform(0, 10, 2000),
                        _log_uniform(5e-324, 2.2e-308, 2000),          # subnormal x
                        _log_uniform(1e300, 1.7976931348623157e308, 1000),
                        np.round(RNG.uniform(0, 2 ** 17, 2000)) ** 3 * 2.0 ** RNG.integers(
                            -600, 600, 2000).astype(float) * (1 + RNG.choice(
                                [0, 2.0 ** -52, -(2.0 ** -53)], 2000))])  # near exact cubes
    check("cbrt", _cbrt, [x * sign], limit=0.51)


def test_cbrt_is_odd_and_exact_on_cubes() -> None:
    x = _log_uniform(5e-324, 1.7e308, 3000)
    pos = probe.evaluate("cbrt", x)
    assert (probe.evaluate("cbrt", -x) == -pos).all()
    n = np.arange(1, 2 ** 17, 97, dtype=float)
    for k in (-300, 0, 200):
        got = probe.evaluate("cbrt", n ** 3 * 2.0 ** (3 * k))
        assert (got == n * 2.0 ** k).all()


def test_cbrt_special_values() -> None:
    specials("cbrt", [((0.0,), 0.0), ((-0.0,), -0.0), ((INF,), INF), ((-INF,), -INF),
                      ((NAN,), NAN), ((5e-324,), 2.0 ** -358), ((-5e-324,), -(2.0 ** -358)),
                      ((8.0,), 2.0), ((-27.0,), -3.0), ((0.125,), 0.5), ((1.0,), 1.0),
                      ((-1.0,), -1.0), ((2.0 ** 1020,), 2.0 ** 340),
                      ((2.0 ** -1023,), 2.0 ** -341)])
