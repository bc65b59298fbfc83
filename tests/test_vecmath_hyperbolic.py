"""expm1, tanh, sinh and cosh from chaincc's own vectorisable IR: within 1 ulp of mpmath
across their domains (dense where they are hard: tiny arguments, where expm1's reduction
leaves little of 2^n - 1, near the overflow edges and where the results settle at -1, 1),
libm's special values, and the same bits from the vector and scalar versions."""

import math

import mpmath
import numpy as np
from vecmath_oracle import check, near, specials

RNG = np.random.default_rng(20261202)
INF, NAN = math.inf, math.nan
SUB = 5e-324                                        # the smallest subnormal


def uniform(lo: float, hi: float, n: int) -> np.ndarray:
    return RNG.uniform(lo, hi, n)


def tiny(n: int, smallest: float = -1074 * math.log(2)) -> np.ndarray:
    """Magnitudes spread over the binades from subnormals up to 1, either sign."""
    return np.exp(RNG.uniform(smallest, 0, n)) * RNG.choice([-1.0, 1.0], n)


# tighter than the 1 ulp contract: the most each function is off over a million random
# points, rounded up, so that an approximation that loses accuracy shows here
LIMIT = {"expm1": 0.6, "tanh": 0.6, "sinh": 0.6, "cosh": 0.7}
LN2 = math.log(2)
# where the reduction's n changes (x = (k + 1/2)·ln2): expm1 cancels most against 2^n - 1
STEPS = [(k + 0.5) * LN2 for k in range(-4, 4)]


def test_expm1_within_one_ulp() -> None:
    x = np.concatenate([
        uniform(-45, 710, 3500), uniform(-3, 3, 2500), tiny(2000),
        np.concatenate([uniform(s - 0.02, s + 0.02, 150) for s in STEPS]),
        uniform(-38, -36.5, 500),                  # where the result reaches -1
        uniform(36.5, 40, 500),                    # where 2^-n drops out of 2^n - 1
        uniform(700, 709.79, 500),                 # near overflow
        near([709.782712893384, -37.42994775023705, *STEPS])])
    check("expm1", mpmath.expm1, [x], LIMIT["expm1"])


def test_tanh_within_one_ulp() -> None:
    x = np.concatenate([
        uniform(-22, 22, 3500), uniform(-1.5, 1.5, 2500), tiny(3000),
        np.concatenate([uniform(s / 2 - 0.01, s / 2 + 0.01, 100) for s in STEPS]),
        uniform(17.5, 19.2, 500) * RNG.choice([-1.0, 1.0], 500),   # results settle at ±1
        near([19.061547465398498, -19.061547465398498])])
    check("tanh", mpmath.tanh, [x], LIMIT["tanh"])


def test_sinh_within_one_ulp() -> None:
    x = np.concatenate([
        uniform(-712, 712, 3500), uniform(-3, 3, 2500), tiny(2500),
        np.concatenate([uniform(s - 0.02, s + 0.02, 100) for s in STEPS if s > 0]),
        uniform(705, 710.48, 1000) * RNG.choice([-1.0, 1.0], 1000),   # near overflow
        uniform(30, 45, 500),                      # where e^-x stops mattering
        near([710.4758600739439, -710.4758600739439])])
    check("sinh", mpmath.sinh, [x], LIMIT["sinh"])


def test_cosh_within_one_ulp() -> None:
    x = np.concatenate([
        uniform(-712, 712, 3500), uniform(-3, 3, 2500), tiny(2500),
        np.concatenate([uniform(s - 0.02, s + 0.02, 100) for s in STEPS if s > 0]),
        uniform(705, 710.48, 1000) * RNG.choice([-1.0, 1.0], 1000),
        uniform(15, 45, 500), near([710.4758600739439, -710.4758600739439])])
    check("cosh", mpmath.cosh, [x], LIMIT["cosh"])


def test_expm1_special_values() -> None:
    specials("expm1", [
        ((0.0,), 0.0), ((-0.0,), -0.0), ((INF,), INF), ((-INF,), -1.0), ((NAN,), NAN),
        ((SUB,), SUB), ((-SUB,), -SUB), ((1e-300,), 1e-300), ((-1e-300,), -1e-300),
        ((2.0 ** -60,), 2.0 ** -60), ((-38.0,), -1.0), ((-1e308,), -1.0),
        ((709.782712893384,), 1.7976931348622732e308),
        ((math.nextafter(709.782712893384, INF),), INF), ((710.0,), INF), ((1e308,), INF)])


def test_tanh_special_values() -> None:
    specials("tanh", [
        ((0.0,), 0.0), ((-0.0,), -0.0), ((INF,), 1.0), ((-INF,), -1.0), ((NAN,), NAN),
        ((SUB,), SUB), ((-SUB,), -SUB), ((1e-310,), 1e-310), ((2.0 ** -30,), 2.0 ** -30),
        ((-1e-200,), -1e-200), ((19.1,), 1.0), ((-19.1,), -1.0), ((1e308,), 1.0),
        ((-1e308,), -1.0), ((19.0,), 0.9999999999999999), ((-19.0,), -0.9999999999999999)])


def test_sinh_special_values() -> None:
    top = 710.4758600739439
    specials("sinh", [
        ((0.0,), 0.0), ((-0.0,), -0.0), ((INF,), INF), ((-INF,), -INF), ((NAN,), NAN),
        ((SUB,), SUB), ((-SUB,), -SUB), ((1e-300,), 1e-300), ((-2.0 ** -30,), -2.0 ** -30),
        ((top,), 1.7976931348621744e308), ((-top,), -1.7976931348621744e308),
        ((math.nextafter(top, INF),), INF), ((-math.nextafter(top, INF),), -INF),
        ((710.0,), 1.1169973830808555e308), ((1e308,), INF), ((-1e308,), -INF)])


def test_cosh_special_values() -> None:
    top = 710.4758600739439
    specials("cosh", [
        ((0.0,), 1.0), ((-0.0,), 1.0), ((INF,), INF), ((-INF,), INF), ((NAN,), NAN),
        ((SUB,), 1.0), ((-1e-300,), 1.0), ((2.0 ** -27,), 1.0), ((-2.0 ** -27,), 1.0),
        ((top,), 1.7976931348621744e308), ((-top,), 1.7976931348621744e308),
        ((math.nextafter(top, INF),), INF), ((-math.nextafter(top, INF),), INF),
        ((1e308,), INF), ((-1e308,), INF)])
