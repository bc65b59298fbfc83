"""erf and erfc from chaincc's own vectorisable IR: within 1 ulp of mpmath across their
domains (dense near 0, at the boundaries between the approximations, where erf settles at
±1, where erfc's results become subnormal and underflow to 0, and for huge arguments),
libm's special values, and the same bits from the vector and scalar versions."""

import math

import mpmath
import numpy as np
from vecmath_oracle import check, near, specials

RNG = np.random.default_rng(20261203)
INF, NAN = math.inf, math.nan
SUB = 5e-324                                        # the smallest subnormal
# tighter than the 1 ulp contract: the most each function is off over a million random
# points and the dense sets below, rounded up, so that an approximation that loses
# accuracy shows here
LIMIT = {"erf": 0.8, "erfc": 0.85}
SMALL_MAX = 0.84375             # erf: the odd polynomial below, 1 - erfc above
ERF_ONE = 5.921587195794507     # erf(x) rounds to 1 from here on (erfc(x) < 2^-54)
SUBNORMAL = 26.54325845425098   # erfc(x) < 2^-1022 from here on
UNDERFLOW = 27.226017111108362  # erfc(x) < 2^-1075 (rounds to 0) from here on


def uniform(lo: float, hi: float, n: int) -> np.ndarray:
    return RNG.uniform(lo, hi, n)


def signs(x: np.ndarray) -> np.ndarray:
    return x * RNG.choice([-1.0, 1.0], len(x))


def tiny(n: int) -> np.ndarray:
    """Magnitudes spread over the binades from subnormals up to 1, either sign."""
    return signs(np.exp(RNG.uniform(-1074 * math.log(2), 0, n)))


def huge(n: int) -> np.ndarray:
    return signs(np.exp(RNG.uniform(math.log(6.0), 709, n)))


def exact_erfc(x: mpmath.mpf) -> mpmath.mpf:
    """mpmath's erfc, which overflows internally for huge arguments: beyond ±40 (erfc(40)
    < 10^-697) the exact value rounds to 0 or 2."""
    if abs(x) < 40:
        return mpmath.erfc(x)
    return mpmath.mpf(0) if x > 0 else mpmath.mpf(2)


def test_erf_within_one_ulp() -> None:
    x = np.concatenate([
        uniform(-6.5, 6.5, 4000), uniform(-1.5, 1.5, 2500), tiny(2500),
        signs(uniform(SMALL_MAX - 0.05, SMALL_MAX + 0.3, 1500)),   # either side of the switch
        signs(uniform(5.5, 6.5, 500)),                             # where erf reaches ±1
        huge(200),
        near([SMALL_MAX, -SMALL_MAX, ERF_ONE, -ERF_ONE, 6.0, -6.0, 0.75, 1.5], 40)])
    check("erf", mpmath.erf, [x], LIMIT["erf"])


def test_erfc_within_one_ulp() -> None:
    x = np.concatenate([
        uniform(-7, 28, 4000), uniform(-1, 3, 2500), tiny(2000),
        uniform(SUBNORMAL - 0.5, UNDERFLOW + 0.05, 2000),         # subnormal results
        uniform(-6.5, -5.5, 300), huge(200),
        near([0.0, SUBNORMAL, UNDERFLOW, 27.3, 2.0, 4.0, 8.0, 16.0, -2.0, -6.0, 1.0 / 3.0], 40)])
    check("erfc", exact_erfc, [x], LIMIT["erfc"])


def test_erf_of_tiny_arguments_is_the_rounded_product() -> None:
    """x·2/√π rounded once (libm's fused x + x·c): with subnormal results, where no
    other rounding hides, every point is the correctly rounded product."""
    x = signs(np.exp(RNG.uniform(-1074 * math.log(2), -1040 * math.log(2), 500)))
    check("erf", mpmath.erf, [x], 0.5)


def test_erf_special_values() -> None:
    specials("erf", [
        ((0.0,), 0.0), ((-0.0,), -0.0), ((INF,), 1.0), ((-INF,), -1.0), ((NAN,), NAN),
        ((SUB,), SUB), ((-SUB,), -SUB), ((2 * SUB,), 2 * SUB), ((8 * SUB,), 9 * SUB),
        ((6.0,), 1.0), ((-6.0,), -1.0), ((1e308,), 1.0), ((-1e308,), -1.0),
        ((5.9,), 0.9999999999999999), ((-5.9,), -0.9999999999999999),
        ((2.0 ** -30,), 1.050884991041862e-09)])


def test_erfc_special_values() -> None:
    specials("erfc", [
        ((0.0,), 1.0), ((-0.0,), 1.0), ((INF,), 0.0), ((-INF,), 2.0), ((NAN,), NAN),
        ((SUB,), 1.0), ((-SUB,), 1.0), ((1e-300,), 1.0), ((-1e-300,), 1.0),
        ((27.3,), 0.0), ((28.0,), 0.0), ((1e308,), 0.0), ((-6.0,), 2.0), ((-1e308,), 2.0),
        ((27.2,), 1e-323), ((27.0,), 5.23705e-319), ((-5.9,), 2.0),
        ((-5.5,), 1.9999999999999927)])
