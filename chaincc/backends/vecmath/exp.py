"""exp: Cody–Waite reduction x = n·ln2 + r (|r| ≤ ln2/2, r carried as a double-double),
a degree-13 polynomial, and 2^n applied in two halves so that the scaling of a result
that underflows to a subnormal rounds once. Within 1 ulp (benchmarks/accuracy.py; the
subnormal results, rounded twice, come closest to it)."""

from __future__ import annotations

import math

from . import MathFunction, register
from .builder import Builder

LOG2E = float.fromhex("0x1.71547652b82fep+0")
LN2_HI = float.fromhex("0x1.62e42fefa39efp-1")        # ln 2 rounded to a double
LN2_LO = float.fromhex("0x1.abc9e3b39803fp-56")       # ln 2 - LN2_HI
OVERFLOW = 709.782712893384                           # above: exp(x) > DBL_MAX
UNDERFLOW = -745.1332191019412                        # below: exp(x) rounds to 0
# (exp(r) - 1 - r) / r² as a polynomial in r: 1/2!, 1/3!, ..., 1/13! (truncation error
# under 2^-57 relative for |r| ≤ ln2/2)
TAIL = [1.0 / math.factorial(k) for k in range(2, 14)]


def reduce(b: Builder, x: str) -> tuple[str, str, str]:
    """x = n·ln2 + r_hi + r_lo for |x| < 2^50: (n as an i64, r_hi, r_lo), |r| ≤ ln2/2."""
    nf, n = b.round_to_int(b.mul(x, b.f(LOG2E)))
    t = b.fma(b.neg(nf), b.f(LN2_HI), x)              # exact
    r_hi = b.fma(b.neg(nf), b.f(LN2_LO), t)
    # what rounding r_hi lost: (t - r_hi) - nf·LN2_LO
    r_lo = b.fma(b.neg(nf), b.f(LN2_LO), b.sub(t, r_hi))
    return n, r_hi, r_lo


def expm1_reduced(b: Builder, r_hi: str, r_lo: str) -> tuple[str, str]:
    """exp(r_hi + r_lo) - 1 for |r| ≤ ln2/2 as an unevaluated sum (hi, lo): hi is r_hi
    exactly, lo the rest (|lo| < 0.07)."""
    q = b.mul(b.mul(r_hi, r_hi), b.horner(r_hi, TAIL))
    return r_hi, b.add(r_lo, q)


def scale(b: Builder, v: str, n: str) -> str:
    """v·2^n for |n| ≤ 1100, rounded once: 2^n applied in two halves, each exact as a
    power of two, so only the last product rounds (to a subnormal, or to inf)."""
    n1 = b.ashr(n, b.i(1))
    return b.mul(b.mul(v, b.pow2(n1)), b.pow2(b.isub(n, n1)))


def build_exp(b: Builder, x: str) -> str:
    xc = b.fmin(b.fmax(x, b.f(-746.0)), b.f(710.0))   # keeps n in range; nan stays nan
    n, r_hi, r_lo = reduce(b, xc)
    hi, lo = expm1_reduced(b, r_hi, r_lo)
    # 1 + hi + lo with 1 + hi's rounding error carried (Fast2Sum: |hi| < 1)
    s = b.add(b.f(1.0), hi)
    err = b.add(b.sub(b.f(1.0), s), hi)
    e = b.add(s, b.add(err, lo))
    y = scale(b, e, n)
    y = b.select(b.fcmp("ogt", x, b.f(OVERFLOW)), b.f(math.inf), y)
    y = b.select(b.fcmp("olt", x, b.f(UNDERFLOW)), b.f(0.0), y)
    return b.select(b.fcmp("uno", x, x), x, y)


register(MathFunction("exp", 1, build_exp, tiny=(2.0 ** -55, "one")))
