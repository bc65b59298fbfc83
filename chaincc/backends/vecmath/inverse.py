"""atan, asin, acos, atanh and acosh.

atan|x| = atan(c) + atan(t), t = (|x| - c)/(1 + c·|x|), with the base point c chosen by
compares and selects: 0 up to tan(π/8), 1 up to tan(3π/8), infinity beyond (t = -1/|x|),
so |t| ≤ tan(π/8). t is one division, (|x|·α - β)/(α + |x|·β) with c = β/α, carried as a
double-double (the numerator's and denominator's rounding errors and the division's
remainder, from FMAs); atan(c) is a double-double and atan(c) + t an exact sum, so only
the small terms round before the last addition; atan(t) = t + t³·P(t²).

asin and acos: |x| ≤ 1/2 by asin(s) = s + s³·Q(s²) at s = |x|; above, by
asin|x| = π/2 - 2·asin(s) and acos x = 2·asin(s) (or π - 2·asin(s) for x < 0) at
s = sqrt((1 - |x|)/2), whose square is exact and whose rounding error is carried. Each
result is K + σ·asin(s) with K ∈ {0, π/2, π} a double-double and σ ∈ {±1, ±2} exact, K
plus σ·s an exact sum.

atanh|x| = log1p(y)/2 and acosh x = log1p(y) with y = 2|x|/(1 - |x|) and
y = t + sqrt(2t + t²) (t = x - 1, exact) carried as double-doubles, and log1p of a
double-double from log.py's pieces; acosh x = log(x) + ln 2 above 2^28.

Each is within 1 ulp with libm's special values (tests/test_vecmath_inverse.py); the
most each is off over a million random points against mpmath: atan 0.62 ulp, asin 0.60,
acos 0.58, atanh and acosh 0.52."""

from __future__ import annotations

import math

from . import MathFunction, register
from .builder import Builder
from .log import TWO52, log_reduced, low_part, split

PI_HI = float.fromhex("0x1.921fb54442d18p+1")       # π rounded
PI_LO = float.fromhex("0x1.1a62633145c07p-53")      # π - PI_HI, rounded
PI_2_HI = float.fromhex("0x1.921fb54442d18p+0")     # π/2 rounded (PI_HI/2)
PI_2_LO = float.fromhex("0x1.1a62633145c07p-54")    # π/2 - PI_2_HI, rounded
PI_4_HI = float.fromhex("0x1.921fb54442d18p-1")     # π/4 rounded
PI_4_LO = float.fromhex("0x1.1a62633145c07p-55")    # π/4 - PI_4_HI, rounded
TAN_PI_8 = float.fromhex("0x1.a827999fcef32p-2")    # sqrt(2) - 1 = tan(π/8), rounded
TAN_3PI_8 = float.fromhex("0x1.3504f333f9de6p+1")   # sqrt(2) + 1 = tan(3π/8), rounded
ATAN_CLAMP = float.fromhex("0x1p60")     # |x| above: atan rounds to π/2 (keeps 1/|x| finite)
TINY = float.fromhex("0x1p-28")          # |x| below: atanh(x) rounds to x

# (atan(t) - t)/t³ as a polynomial in z = t², z in [0, 0.41425²]: weighted minimax
# (Remez, mpmath at 200 bits) of degree 10, error relative to atan(t) 2^-59.4 fitted,
# 2^-57.2 with the coefficients rounded to doubles.
ATAN = [float.fromhex(h) for h in (
    "-0x1.555555555553dp-2", "0x1.99999999957b1p-3", "-0x1.24924922a9975p-3",
    "0x1.c71c70e4c425bp-4", "-0x1.745cf8bada1a6p-4", "0x1.3b1116f7ad8cfp-4",
    "-0x1.10eba19c01d68p-4", "0x1.df0e1556038e8p-5", "-0x1.9ccd93544f8c1p-5",
    "0x1.37c92684da900p-5", "-0x1.2550275a4af59p-6")]
# (asin(s) - s)/s³ as a polynomial in z = s², z in [0, 1/4]: the same kind of fit, degree
# 12, error relative to asin(s) 2^-59.9 fitted, 2^-59.3 rounded.
ASIN = [float.fromhex(h) for h in (
    "0x1.5555555555577p-3", "0x1.333333332e101p-4", "0x1.6db6db7214303p-5",
    "0x1.f1c71a9463d4fp-6", "0x1.6e8bdeede78a1p-6", "0x1.1c49ef82edc00p-6",
    "0x1.ca1f9fe5e2f17p-7", "0x1.7584ff398a567p-7", "0x1.613f5ade56397p-7",
    "0x1.e5cdf55811534p-9", "0x1.63a7c04bda8cbp-6", "-0x1.580c9747b2a1ep-6",
    "0x1.0b4b3847e3261p-5")]
# 1 + z·Q(z) to the z² term: 1 + z/6 + 3z²/40 (the next, 5z³/112, under 2^-10 at z ≤ 1/4)
ASIN_D1 = float.fromhex("0x1.5555555555555p-3")     # 1/6 rounded
ASIN_D2 = float.fromhex("0x1.3333333333333p-4")     # 3/40 rounded


def _choose(b: Builder, masks: list[tuple[str, float]], default: float) -> str:
    """The constant of the last mask set in ``masks`` (mask, value), else ``default``."""
    v = b.f(default)
    for mask, value in masks:
        v = b.select(mask, b.f(value), v)
    return v


def build_atan(b: Builder, x: str) -> str:
    a = b.fabs(x)
    a = b.select(b.fcmp("ogt", a, b.f(ATAN_CLAMP)), b.f(ATAN_CLAMP), a)   # nan stays
    mid = b.fcmp("ogt", a, b.f(TAN_PI_8))
    far = b.fcmp("ogt", a, b.f(TAN_3PI_8))
    # c = β/α: 0 (α 1, β 0), 1 (α 1, β 1), infinity (α 0, β 1)
    alpha = b.select(far, b.f(0.0), b.f(1.0))
    beta = b.select(mid, b.f(1.0), b.f(0.0))
    # numerator a·α - β: exact but where c = 1 and a < 1/2 (Fast2Sum's error: β ≥ a)
    num = b.fma(a, alpha, b.neg(beta))
    num_lo = b.fma(a, alpha, b.neg(b.add(num, beta)))
    # denominator α + a·β: rounds only where c = 1 (its error by Fast2Sum)
    den = b.fma(a, beta, alpha)
    den_lo = b.fma(a, beta, b.neg(b.sub(den, alpha)))
    # t + t_lo = (num + num_lo)/(den + den_lo), the remainder num - t·den exact (FMA)
    inv = b.div(b.f(1.0), den)
    t = b.mul(num, inv)
    rem = b.add(b.fma(b.neg(t), den, num), num_lo)
    t_lo = b.mul(b.fma(b.neg(t), den_lo, rem), inv)
    z = b.mul(t, t)
    z_e = b.fma(t, t, b.neg(z))                       # t² = z + z_e
    t3 = b.mul(t, z)
    t3_e = b.fma(t, z_e, b.fma(t, z, b.neg(t3)))      # t³ = t3 + t3_e
    # atan(t + t_lo) = t + t³·P(z) + t_lo/(1 + z), P(z) ≈ -1/3 where t3_e matters
    poly = b.fma(t3, b.horner(z, ATAN), b.fma(t3_e, b.f(ATAN[0]), b.fma(b.neg(t_lo), z, t_lo)))
    base_hi = _choose(b, [(mid, PI_4_HI), (far, PI_2_HI)], 0.0)
    base_lo = _choose(b, [(mid, PI_4_LO), (far, PI_2_LO)], 0.0)
    s, e = b.fast_two_sum(base_hi, t)               # |atan(c)| ≥ |t| or c = 0
    y = b.add(s, b.add(b.add(e, base_lo), poly))
    return b.copysign(y, x)


def _asin_parts(b: Builder, x: str) -> tuple[str, str, str, str]:
    """(big: |x| > 1/2, s, lo, the sign mask x < 0) with asin(s) = s + lo, s = |x| or
    sqrt((1 - |x|)/2) (big)."""
    a = b.fabs(x)
    big = b.fcmp("ogt", a, b.f(0.5))
    w = b.mul(b.sub(b.f(1.0), a), b.f(0.5))          # exact for |x| in [1/2, 1]
    r = b.sqrt(w)
    # sqrt(w) = r + r_lo; at w = 0 (x = ±1), 0 (the denominator kept from 0)
    r_lo = b.div(b.fma(b.neg(r), r, w), b.fmax(b.add(r, r), b.f(2.0 ** -600)))
    s = b.select(big, r, a)
    z = b.select(big, w, b.mul(a, a))
    # asin(s + r_lo) for s = r, z = w = (r + r_lo)² exactly: r + r_lo + (r + r_lo)·z·Q(z),
    # where r_lo·(1 + z·Q(z)) is taken to the z² term
    r_lo = b.fma(b.mul(r_lo, z), b.fma(z, b.f(ASIN_D2), b.f(ASIN_D1)), r_lo)
    lo = b.fma(b.mul(s, z), b.horner(z, ASIN), b.select(big, r_lo, b.f(0.0)))
    return big, s, lo, b.fcmp("olt", x, b.f(0.0))


def _combine(b: Builder, k_hi: str, k_lo: str, sigma: str, s: str, lo: str) -> str:
    """k_hi + k_lo + σ·(s + lo), σ = ±1 or ±2 (exact products), |k_hi| ≥ |σ·s| or
    k_hi = 0."""
    h, e = b.fast_two_sum(k_hi, b.mul(sigma, s))
    return b.add(h, b.add(b.add(e, k_lo), b.mul(sigma, lo)))


def build_asin(b: Builder, x: str) -> str:
    big, s, lo, _ = _asin_parts(b, x)
    # |x| ≤ 1/2: asin(s); above: π/2 - 2·asin(s)
    k_hi = b.select(big, b.f(PI_2_HI), b.f(0.0))
    k_lo = b.select(big, b.f(PI_2_LO), b.f(0.0))
    y = _combine(b, k_hi, k_lo, b.select(big, b.f(-2.0), b.f(1.0)), s, lo)
    return b.copysign(y, x)


def build_acos(b: Builder, x: str) -> str:
    big, s, lo, neg = _asin_parts(b, x)
    # |x| ≤ 1/2: π/2 ∓ asin(s); x > 1/2: 2·asin(s); x < -1/2: π - 2·asin(s)
    k_hi = b.select(big, b.select(neg, b.f(PI_HI), b.f(0.0)), b.f(PI_2_HI))
    k_lo = b.select(big, b.select(neg, b.f(PI_LO), b.f(0.0)), b.f(PI_2_LO))
    sigma = b.select(neg, b.select(big, b.f(-2.0), b.f(1.0)),
                     b.select(big, b.f(2.0), b.f(-1.0)))
    return _combine(b, k_hi, k_lo, sigma, s, lo)


def _log1p_pair(b: Builder, y: str, y_lo: str, huge: str | None = None) -> str:
    """log1p(y + y_lo) for y ≥ 0 and |y_lo| ≤ ulp(y); where the mask ``huge`` is set,
    log(2y) instead (y_lo ignored), for y up to DBL_MAX."""
    u, corr = b.two_sum(b.f(1.0), y)                 # 1 + y = u + corr
    bias = b.f(TWO52 + 1023.0)
    if huge is not None:
        u = b.select(huge, y, u)
        bias = b.select(huge, b.f(TWO52 + 1022.0), bias)   # k + 1: log(y) + ln 2
        corr = b.select(huge, b.f(0.0), corr)
        y_lo = b.select(huge, b.f(0.0), y_lo)
    f, kf, scale = split(b, u, bias)
    # where k = 0, f + fl is y + y_lo itself (u - 1 lost y's low bits)
    k0 = b.fcmp("oeq", kf, b.f(0.0))
    fl = b.select(k0, y_lo, low_part(b, b.add(corr, y_lo), scale))
    return log_reduced(b, b.select(k0, y, f), fl, kf)


def build_atanh(b: Builder, x: str) -> str:
    a = b.fabs(x)
    # y + y_lo = 2a/(1 - a), 1 - a = d + d_lo (Fast2Sum: a < 1)
    d = b.sub(b.f(1.0), a)
    d_lo = b.sub(b.sub(b.f(1.0), d), a)
    n = b.add(a, a)
    inv = b.div(b.f(1.0), d)
    y = b.mul(n, inv)
    y_lo = b.mul(b.fma(b.neg(y), d_lo, b.fma(b.neg(y), d, n)), inv)
    v = b.mul(_log1p_pair(b, y, y_lo), b.f(0.5))
    v = b.select(b.fcmp("olt", a, b.f(TINY)), a, v)   # atanh(x) = x + x³/3 + ...
    # |x| < 1; else ±inf at ±1, nan beyond and at nan
    special = b.select(b.fcmp("oeq", a, b.f(1.0)), b.f(math.inf), b.f(math.nan))
    return b.copysign(b.select(b.fcmp("olt", a, b.f(1.0)), v, special), x)


def build_acosh(b: Builder, x: str) -> str:
    t = b.sub(x, b.f(1.0))                            # exact for x in [1, 2^53]
    # q + q_lo = 2t + t² (the larger first for Fast2Sum)
    p = b.mul(t, t)
    p_e = b.fma(t, t, b.neg(p))
    m = b.add(t, t)
    hi, lo = b.fmax(p, m), b.fmin(p, m)
    q = b.add(hi, lo)
    q_lo = b.add(b.sub(lo, b.sub(q, hi)), p_e)
    # r + r_lo = sqrt(q + q_lo); at q = 0 (x = 1), 0 (the denominator kept from 0)
    r = b.sqrt(q)
    r_lo = b.div(b.add(b.fma(b.neg(r), r, q), q_lo), b.fmax(b.add(r, r), b.f(2.0 ** -600)))
    w, e = b.fast_two_sum(r, t)                     # r ≥ t
    huge = b.fcmp("ogt", x, b.f(float.fromhex("0x1p28")))
    v = _log1p_pair(b, b.select(huge, x, w), b.add(e, r_lo), huge)
    # 1 ≤ x < inf; else inf at inf, nan below 1 and at nan
    ok = b.and_(b.fcmp("oge", x, b.f(1.0)), b.fcmp("olt", x, b.f(math.inf)))
    special = b.select(b.fcmp("oeq", x, b.f(math.inf)), x, b.f(math.nan))
    return b.select(ok, v, special)


register(MathFunction("atan", 1, build_atan, tiny=(2.0 ** -28, "x")))
register(MathFunction("asin", 1, build_asin, tiny=(2.0 ** -28, "x")))
register(MathFunction("acos", 1, build_acos))
register(MathFunction("atanh", 1, build_atanh, tiny=(2.0 ** -28, "x")))
register(MathFunction("acosh", 1, build_acosh))
