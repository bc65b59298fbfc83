"""exp from chaincc's own vectorisable IR: within 1 ulp of mpmath across its domain,
exact special values, and the same bits from the vector and scalar versions."""

import math

import mpmath
import numpy as np
from vecmath_oracle import check, specials

RNG = np.random.default_rng(20261201)


def test_exp_within_one_ulp_across_the_domain() -> None:
    x = np.concatenate([RNG.uniform(-746, 710, 6000), RNG.uniform(-1, 1, 2000),
                        RNG.uniform(-745.2, -708, 2000),     # subnormal results
                        RNG.uniform(700, 709.78, 1000),      # near overflow
                        np.exp(RNG.uniform(-745, -1, 1000)) * RNG.choice([-1, 1], 1000)])
    check("exp", mpmath.exp, [x])


def test_exp_special_values() -> None:
    specials("exp", [((0.0,), 1.0), ((-0.0,), 1.0), ((math.inf,), math.inf),
                     ((-math.inf,), 0.0), ((math.nan,), math.nan), ((709.79,), math.inf),
                     ((-745.14,), 0.0), ((-745.13,), 5e-324), ((1e-300,), 1.0),
                     ((710.0,), math.inf), ((-1e308,), 0.0), ((1e308,), math.inf),
                     ((5e-324,), 1.0)])
