"""sin, cos and tan from chaincc's own vectorisable IR: within 1 ulp of mpmath across the
domain (dense near the multiples of π/2, where the argument reduction cancels), libm's
special values, the same bits from the vector and scalar versions, and libm's values in
the lanes too large for the reduction, alone or mixed with others in one vector."""

import math

import mpmath
import numpy as np
import pytest
from vecmath_oracle import check, specials

from chaincc.backends.vecmath import probe

RNG = np.random.default_rng(20261207)
EXACT = {"sin": mpmath.sin, "cos": mpmath.cos, "tan": mpmath.tan}
# arguments at or above this (finite) are computed by libm
BOUND = float.fromhex("0x1.9p+51")

# In each binade [2^e, 2^(e+1)), e = 0..51, the double closest to a multiple of π/2
# (continued fractions of 2^(e-52)/(π/2)); the closest of all below BOUND is
# 0x1.6c6cbc45dc8dep+5 = 45.553..., 2^-60.5 from 29·π/2.
CLOSEST = [float.fromhex(h) for h in (
    "0x1.921fb54442d18p+0", "0x1.921fb54442d18p+1", "0x1.2d97c7f3321d2p+2",
    "0x1.2d97c7f3321d2p+3", "0x1.dd85a7410f58dp+4", "0x1.6c6cbc45dc8dep+5",
    "0x1.6c6cbc45dc8dep+6", "0x1.6c6cbc45dc8dep+7", "0x1.6c6cbc45dc8dep+8",
    "0x1.6c6cbc45dc8dep+9", "0x1.6c6cbc45dc8dep+10", "0x1.6c6cbc45dc8dep+11",
    "0x1.6c6cbc45dc8dep+12", "0x1.6c6cbc45dc8dep+13", "0x1.635e3d74befcap+14",
    "0x1.67e57cdd4dc54p+15", "0x1.65a1dd290660fp+16", "0x1.bf9b3c6059d24p+17",
    "0x1.39c6fd67805a7p+18", "0x1.39c6fd67805a7p+19", "0x1.9eb7148f354d6p+20",
    "0x1.9eb7148f354d6p+21", "0x1.9eb7148f354d6p+22", "0x1.b951f1572eba5p+23",
    "0x1.b951f1572eba5p+24", "0x1.b951f1572eba5p+25", "0x1.b951f1572eba5p+26",
    "0x1.b951f1572eba5p+27", "0x1.b951f1572eba5p+28", "0x1.b951f1572eba5p+29",
    "0x1.b951f1572eba5p+30", "0x1.b951f1572eba5p+31", "0x1.5c9508c58aafap+32",
    "0x1.5c9508c58aafap+33", "0x1.de5e5054e921bp+34", "0x1.46546a5bd73ccp+35",
    "0x1.46546a5bd73ccp+36", "0x1.46546a5bd73ccp+37", "0x1.bb23eaa3db16dp+38",
    "0x1.065c829d68730p+39", "0x1.065c829d68730p+40", "0x1.065c829d68730p+41",
    "0x1.065c829d68730p+42", "0x1.065c829d68730p+43", "0x1.065c829d68730p+44",
    "0x1.065c829d68730p+45", "0x1.f42d52c35675dp+46", "0x1.7512069b7430dp+47",
    "0x1.7512069b7430dp+48", "0x1.7512069b7430dp+49", "0x1.44630cc2cad9dp+50",
    "0x1.5cba89af1f855p+51")]


def nearest_multiples(ks: np.ndarray) -> np.ndarray:
    """The doubles nearest k·π/2, and their neighbours a few ulps either side."""
    with mpmath.workprec(200):
        x = np.array([float(mpmath.mpf(int(k)) * mpmath.pi / 2) for k in ks])
    out = [x]
    for steps in (1, 2, 3):
        up, down = x, x
        for _ in range(steps):
            up, down = np.nextafter(up, np.inf), np.nextafter(down, -np.inf)
        out += [up, down]
    return np.concatenate(out)


def _signed(x: np.ndarray) -> np.ndarray:
    return x * RNG.choice([-1.0, 1.0], len(x))


def _points() -> np.ndarray:
    ks = np.concatenate([np.arange(1, 200),
                         np.floor(2.0 ** RNG.uniform(8, 51.0, 400)),
                         RNG.integers(2 ** 50, 2 ** 51 + 2 ** 50, 50).astype(np.float64)])
    return np.concatenate([
        RNG.uniform(-math.pi, math.pi, 2000), RNG.uniform(-100, 100, 2000),
        RNG.uniform(-1e4, 1e4, 1000),
        _signed(2.0 ** RNG.uniform(-40, math.log2(BOUND), 3000)),   # every scale
        _signed(2.0 ** RNG.uniform(-1074, -1022, 200)),              # subnormal
        _signed(2.0 ** RNG.uniform(-30, -25, 300)),                  # where x is returned
        _signed(RNG.uniform(BOUND / 2, BOUND, 500)),                 # the reduction's limit
        _signed(2.0 ** RNG.uniform(51.6, 1024, 200)),                # libm's
        _signed(np.array(CLOSEST)), _signed(nearest_multiples(ks))])


POINTS = _points()


@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
def test_within_one_ulp_across_the_domain(name: str) -> None:
    assert len(POINTS) > 10000
    check(name, EXACT[name], [POINTS])


def test_special_values() -> None:
    inf, nan = math.inf, math.nan
    tiny = 2.0 ** -28
    common = [((inf,), nan), ((-inf,), nan), ((nan,), nan)]
    specials("sin", [*common, ((0.0,), 0.0), ((-0.0,), -0.0), ((5e-324,), 5e-324),
                     ((-5e-324,), -5e-324), ((tiny,), tiny), ((-tiny,), -tiny),
                     ((1e-300,), 1e-300)])
    specials("cos", [*common, ((0.0,), 1.0), ((-0.0,), 1.0), ((5e-324,), 1.0),
                     ((tiny,), 1.0), ((-tiny,), 1.0)])
    specials("tan", [*common, ((0.0,), 0.0), ((-0.0,), -0.0), ((5e-324,), 5e-324),
                     ((-5e-324,), -5e-324), ((tiny,), tiny), ((-tiny,), -tiny),
                     ((1e-300,), 1e-300)])


@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
def test_large_arguments_are_libms_alone_or_mixed_in_a_vector(name: str) -> None:
    libm = getattr(math, name)
    small = np.concatenate([[np.nextafter(BOUND, 0), -np.nextafter(BOUND, 0)],
                            RNG.uniform(-1e6, 1e6, 62)])
    large = _signed(np.concatenate([[BOUND, 1e16, 2.0 ** 1023, 2.0 ** 52],
                                    2.0 ** RNG.uniform(51.65, 1000, 60)]))
    alone = probe.evaluate(name, small)
    # every pattern of 8 lanes: lane j of group g is large where bit j of g is set
    pattern = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(bool).ravel()
    x = np.where(pattern, large[np.arange(len(pattern)) % 64],
                 small[np.arange(len(pattern)) % 64])
    for vectorise in (True, False):
        got = probe.evaluate(name, x, vectorise=vectorise)
        for i in np.flatnonzero(np.abs(x) >= BOUND):
            assert got[i] == libm(x[i]), (name, x[i], got[i])
        own = np.flatnonzero(np.abs(x) < BOUND)
        assert np.array_equal(got[own].view(np.int64),
                              alone[np.arange(len(pattern))[own] % 64].view(np.int64))
    check(name, EXACT[name], [x[:512]])
