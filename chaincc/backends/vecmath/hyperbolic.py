"""expm1, tanh, sinh and cosh, built on exp's reduction |x| = n·ln2 + r (``exp.py``):
e^x = 2^n·u with u = e^r = 1 + p, p = expm1(r) carried as an unevaluated sum.

- expm1(x) = 2^n·(p + 1 - 2^-n): 1 - 2^-n is split exactly into a double and a small
  correction, so the cancellation when n is small costs nothing.
- tanh|x| = (1 - e^-2|x|)/(1 + e^-2|x|) = (P - u)/(P + u) for e^-2|x| = u/P, P = 2^-n:
  numerator and denominator as double-doubles, the quotient from one division and
  corrected by one FMA step.
- cosh|x| and sinh|x| = 2^(n-1)·(u ± 4^-n/u), 1/u as a double-double, scaled by 2^(n-1)
  at the end so that results up to DBL_MAX (|x| ≤ 710.47) never pass through an
  intermediate overflow.

Where tanh and sinh cancel (P - u and u - 1/u for small |x|), u is a double-double good
to 2^-104 and u - 1 = p good to 2^-56 relative, so the difference keeps 2^-56 relative
for |x| ≥ 2^-28; below that the result is x, within 0.1 ulp (tanh(x) = x(1 - x²/3 + ...),
sinh(x) = x(1 + x²/6 + ...)).

Each is within 1 ulp (tests/test_vecmath_hyperbolic.py) with libm's special values."""

from __future__ import annotations

from collections.abc import Callable

from . import MathFunction, register
from .builder import Builder
from .exp import expm1_reduced, reduce

# bounds the arguments are clamped to, each beyond where the result settles: expm1(x)
# rounds to -1 from x = -37.42994775023705 down, tanh|x| to 1 from 19.061547465398498 up,
# and sinh, cosh overflow above 710.4758600739439 (expm1 above 709.782712893384, which
# 2^n·v overflowing takes care of)
EXPM1_MIN, EXPM1_MAX = -40.0, 710.0
TANH_MAX = 20.0
COSH_MAX = 710.5
# (expm1(r) - r - r²/2) / r³ on |r| ≤ 0.3466 (just over ln2/2): a degree-9 Chebyshev fit
# (mpmath.chebyfit at 200 bits), coefficients rounded to doubles; relative error 2^-52.8,
# so under 2^-58 of expm1(r) itself
CUBIC = [float.fromhex(h) for h in (
    "0x1.5555555555556p-3", "0x1.5555555555555p-5", "0x1.11111111109b4p-7",
    "0x1.6c16c16c167e1p-10", "0x1.a01a01a7c3d59p-13", "0x1.a01a01a47adc4p-16",
    "0x1.71de0daf7a6ccp-19", "0x1.27e4e1f5246c7p-22", "0x1.af38a71a18cb9p-26",
    "0x1.1f66de051eb02p-29")]


def _imin(b: Builder, n: str, bound: int) -> str:
    c = b.i(bound)
    return b.iselect(b.icmp("sgt", n, c), c, n)


def _pow2_minus(b: Builder, n: str, k: int) -> str:
    """2^(n-k) for an i64 n with n - k in [-1022, 1023]."""
    return b.from_bits(b.shl(b.iadd(n, b.i(1023 - k)), b.i(52)))


def _expm1_parts(b: Builder, r: str, r_lo: str) -> tuple[str, str]:
    """expm1(r + r_lo) for |r| ≤ ln2/2 as an unevaluated sum (hi, lo) with an error under
    2^-56·|r|: r + r²/2 is carried exactly (exp's ``expm1_reduced`` rounds r²/2, which is
    within 1 ulp where expm1(r) is added to 1 but not where it is the result or cancels
    against 1 - 2^-n)."""
    rr = b.mul(r, r)
    rr_lo = b.fma(r, r, b.neg(rr))                 # r² = rr + rr_lo exactly
    hi, e = b.fast_two_sum(r, b.mul(rr, b.f(0.5)))
    cubic = b.mul(b.mul(rr, r), b.horner(r, CUBIC))
    small = b.add(b.fma(rr_lo, b.f(0.5), cubic), b.fma(r_lo, r, r_lo))   # + r_lo·e^r
    return hi, b.add(e, small)


def _one_plus(b: Builder, hi: str, lo: str) -> tuple[str, str]:
    """u = 1 + hi + lo as a normalised double-double (|hi| < 1/2, |lo| < 0.07)."""
    s, e = b.fast_two_sum(b.f(1.0), hi)
    return b.fast_two_sum(s, b.add(e, lo))


def build_expm1(b: Builder, x: str) -> str:
    xc = b.below(b.above(x, EXPM1_MIN), EXPM1_MAX)       # n in [-58, 1024]; nan stays nan
    n, r_hi, r_lo = reduce(b, xc)
    hi, lo = _expm1_parts(b, r_hi, r_lo)
    # c + c_lo = 1 - P exactly (TwoSum); P = 2^-n, or 2^-1000 for larger n (negligible)
    p = b.pow2(b.isub(b.i(0), _imin(b, n, 1000)))
    c = b.sub(b.f(1.0), p)
    back = b.sub(c, b.f(1.0))
    c_lo = b.sub(b.sub(b.f(1.0), b.sub(c, back)), b.add(p, back))
    s, e = b.fast_two_sum(c, hi)
    v = b.add(s, b.add(e, b.add(lo, c_lo)))
    # v·2^n with n up to 1024: v·2 is exact, and the product by 2^(n-1) rounds once
    y = b.mul(b.mul(v, b.f(2.0)), _pow2_minus(b, n, 1))
    return b.copysign(y, xc)                         # expm1(-0) = -0


def build_tanh(b: Builder, x: str) -> str:
    a = b.below(b.fabs(x), TANH_MAX)
    n, r_hi, r_lo = reduce(b, b.mul(a, b.f(-2.0)))     # n in [-58, 0], r ≤ 0 where n = 0
    u_hi, u_lo = _one_plus(b, *_expm1_parts(b, r_hi, r_lo))
    # e^-2|x| = u/P, P = 2^-n ≥ 1 ≥ u: tanh|x| = (P - u)/(P + u), each a double-double
    p = b.pow2(b.isub(b.i(0), n))
    num, e = b.fast_two_sum(p, b.neg(u_hi))
    num_lo = b.sub(e, u_lo)
    den, e = b.fast_two_sum(p, u_hi)
    den_lo = b.add(e, u_lo)
    # the quotient from the reciprocal, corrected by the exact remainder num - q0·den
    y = b.div(b.f(1.0), den)
    q0 = b.mul(num, y)
    rem = b.fma(b.neg(q0), den, num)
    rem = b.fma(b.neg(q0), den_lo, b.add(rem, num_lo))
    q = b.fma(rem, y, q0)
    q = b.select(b.fcmp("olt", a, b.f(2.0 ** -28)), a, q)    # see the module's docstring
    return b.copysign(q, x)


def _sinh_cosh(b: Builder, x: str, sign: float,
               parts: Callable[[Builder, str, str], tuple[str, str]]) -> tuple[str, str]:
    """2^(n-1)·(u + sign·4^-n/u) for |x| = n·ln2 + r, u = e^r = 1 + p, p from ``parts``."""
    a = b.below(b.fabs(x), COSH_MAX)                 # n in [0, 1025]
    n, r_hi, r_lo = reduce(b, a)
    u_hi, u_lo = _one_plus(b, *parts(b, r_hi, r_lo))
    # w = 1/u: y, corrected by the exact remainder 1 - y·u_hi
    y = b.div(b.f(1.0), u_hi)
    w_lo = b.mul(y, b.fma(b.neg(y), u_lo, b.fma(b.neg(y), u_hi, b.f(1.0))))
    # ±4^-n, or ±4^-60 for larger n, where either is below 2^-120·u and leaves u as it is:
    # a smaller one would make g's low part subnormal, which costs the CPU a microcode
    # assist per lane (sinh of |x| > 350 ran at a sixth of exp's speed)
    p = b.pow2(b.isub(b.i(0), _imin(b, n, 60)))
    k = b.mul(b.mul(p, b.f(sign)), p)
    g_hi, g_lo = b.mul(y, k), b.mul(w_lo, k)
    # u ≥ |g|: for n = 0, r = |x| ≥ 0 so u ≥ 1 ≥ 1/u; for n ≥ 1, |g| ≤ 4^-1·√2 < u
    s, e = b.fast_two_sum(u_hi, g_hi)
    t = b.add(s, b.add(e, b.add(u_lo, g_lo)))
    # t·2^(n-1) with n up to 1025: t·2 is exact, the product by 2^(n-2) rounds once
    return a, b.mul(b.mul(t, b.f(2.0)), _pow2_minus(b, n, 2))


def build_sinh(b: Builder, x: str) -> str:
    a, y = _sinh_cosh(b, x, -1.0, _expm1_parts)
    y = b.select(b.fcmp("olt", a, b.f(2.0 ** -28)), a, y)    # see the module's docstring
    return b.copysign(y, x)


def build_cosh(b: Builder, x: str) -> str:
    return _sinh_cosh(b, x, 1.0, expm1_reduced)[1]


register(MathFunction("expm1", 1, build_expm1, tiny=(2.0 ** -54, "x")))
register(MathFunction("tanh", 1, build_tanh, tiny=(2.0 ** -28, "x")))
register(MathFunction("sinh", 1, build_sinh, tiny=(2.0 ** -28, "x")))
register(MathFunction("cosh", 1, build_cosh, tiny=(2.0 ** -28, "one")))
