"""pow and cbrt (cbrt: see build_cbrt).

pow: |x|^y = exp(y·log|x|) with log|x| and the product as double-doubles, then the sign
and C99's special cases by selects. Within 0.63 ulp (1,000,000 points against mpmath).

log|x|: |x| = 2^k·m with m in [sqrt(3)/2, sqrt(3)) by integer operations on its bits
(subnormals first scaled by 2^52), and a base point c = 1 or 1.5 (m below or above
sqrt(3/2)), so that log|x| = k·ln2 + log(c) + 2·atanh(s), s = (m - c)/(m + c), |s| ≤ 0.101:
2s + (2/3)s³ + s⁵·R(s²). s, s³ and the sums are carried with their rounding errors
(FMAs), so the relative error of log|x| is about 2^-66: y·log|x| is then within 2^-56.4
(absolute) wherever the result is finite and nonzero, under 0.1 ulp of the result.

exp of the double-double t: t = n·ln2 + r, exp(r) = 1 + r + r²·P(r), 2^n applied in two
exact halves; a result below 2^-1022 is rounded once onto the subnormals' spacing from
the double-double 1 + r + r²·P(r). Polynomials by Estrin's scheme: shorter chains of
dependent operations, which is much of what a vector call costs."""

from __future__ import annotations

import math

from . import MathFunction, register
from .builder import Builder, bits_of
from .exp import LN2_HI, LN2_LO, LOG2E

TINY_NORMAL = float.fromhex("0x1p-1022")
TWO52 = float.fromhex("0x1p52")
MAGIC = 1.5 * 2.0 ** 52                          # rounds to an integer in the low bits
ROOT3_HALF = bits_of(float.fromhex("0x1.bb67ae8584caap-1"))   # bits of sqrt(3)/2
MANTISSA = 0x000FFFFFFFFFFFFF
# m at or above sqrt(3/2) (0x1.3988e1409212ep+0): base point 1.5, in m's bits above
# ROOT3_HALF
UPPER = bits_of(float.fromhex("0x1.3988e1409212ep+0")) - ROOT3_HALF
K_LN2_HI = float.fromhex("0x1.62e42fefa3800p-1")  # ln 2 to 42 bits: k·K_LN2_HI exact, |k| < 2^11
K_LN2_LO = float.fromhex("0x1.ef35793c76730p-45")  # ln 2 - K_LN2_HI (rest under 2^-100)
LN1_5_HI = float.fromhex("0x1.9f323ecbfa000p-2")  # ln 1.5 to a multiple of 2^-42
LN1_5_LO = float.fromhex("-0x1.ed03525ca2643p-44")  # ln 1.5 - LN1_5_HI
TWO_THIRDS_HI = float.fromhex("0x1.5555555555555p-1")  # 2/3 rounded
TWO_THIRDS_LO = float.fromhex("0x1.5555555555555p-55")  # 2/3 - TWO_THIRDS_HI
# R(z) = (2·atanh(s) - 2s - (2/3)s³)/s⁵, z = s², as a polynomial in z on [0, 0.010409]
# (s up to 1.01·0.10102): its constant term 2/5 rounded, the others fitted by least squares
# (mpmath, 200 bits) weighted by z²/2, which is what an error in R is worth relative to
# log; so weighted, the fit's error is under 2^-76 after rounding the coefficients.
R = [float.fromhex(h) for h in (
    "0x1.999999999999ap-2", "0x1.2492492492248p-2", "0x1.c71c71c7c208cp-3",
    "0x1.745d16830ea52p-3", "0x1.3b14335d951c5p-3", "0x1.10df483237550p-3",
    "0x1.f6294ece20926p-4")]
# (exp(r) - 1 - r)/r² as a polynomial in r on [-0.3466, 0.3466] (|r| up to 1.0001·ln2/2):
# interpolation at 11 Chebyshev nodes (mpmath, 200 bits), degree 10; after rounding the
# coefficients, the error times r² (relative to exp(r)) is under 2^-61.
EXPM1 = [float.fromhex(h) for h in (
    "0x1.0000000000000p-1", "0x1.5555555555557p-3", "0x1.5555555555556p-5",
    "0x1.11111111100dcp-7", "0x1.6c16c16c162d4p-10", "0x1.a01a01abe7fe1p-13",
    "0x1.a01a01a6d889cp-16", "0x1.71de0231960ebp-19", "0x1.27e4db646b17ep-22",
    "0x1.af4de97ca4194p-26", "0x1.1f730349868cep-29")]
CLAMP_Y = float.fromhex("0x1p1000")     # |y| beyond: |y·log|x|| > 760 unless log|x| = 0
T_MAX = 760.0                            # |y·log|x|| beyond: overflow, or underflow to 0
MAX_BITS = bits_of(1.7976931348623157e308)   # the largest finite double


def log_dd(b: Builder, ax: str) -> tuple[str, str]:
    """log(ax) as an unevaluated sum (hi, lo) for a positive finite ax (normal or
    subnormal), relative error about 2^-66 (at most 2^-65.98 in tests near the reduction's
    edges, where |s| is largest); other ax give unspecified values."""
    # bits of ax, or of ax·2^52 with 52 taken off the exponent (an integer, maybe < 0)
    ix = b.iselect(b.fcmp("olt", ax, b.f(TINY_NORMAL)),
                   b.isub(b.bits(b.mul(ax, b.f(TWO52))), b.i(52 << 52)), b.bits(ax))
    t = b.isub(ix, b.i(ROOT3_HALF))
    low = b.iand(t, b.i(MANTISSA))
    m = b.from_bits(b.iadd(low, b.i(ROOT3_HALF)))      # m in [sqrt(3)/2, sqrt(3))
    kf = b.int_to_float(b.ashr(t, b.i(52)))
    upper = b.icmp("uge", low, b.i(UPPER))
    c = b.select(upper, b.f(1.5), b.f(1.0))
    # k·ln2 + log(c): exact (multiples of 2^-42 under 2^10), and its low part
    head = b.fma(kf, b.f(K_LN2_HI), b.select(upper, b.f(LN1_5_HI), b.f(0.0)))
    head_lo = b.fma(kf, b.f(K_LN2_LO), b.select(upper, b.f(LN1_5_LO), b.f(0.0)))
    # s = (m - c)/(m + c) as s + s_lo: m - c is exact, m + c = d + d_lo exactly
    f = b.sub(m, c)
    d = b.add(m, c)
    d_lo = b.sub(m, b.sub(d, c))
    inv = b.div(b.f(1.0), d)
    s = b.mul(f, inv)
    ns = b.neg(s)
    rem = b.fma(ns, d_lo, b.fma(ns, d, f))           # s_lo = rem/d
    # s² = z + z_e, s³ = a + a_lo
    z = b.mul(s, s)
    z_e = b.fma(s, s, b.neg(z))
    a = b.mul(z, s)
    a_lo = b.fma(s, z_e, b.fma(z, s, b.neg(a)))
    # head + 2s + (2/3)s³ = hi + u_e + hi_e exactly, t3 = (2/3)s³ rounded (Fast2Sums:
    # |head| ≥ |2s| or head = 0, and |head + 2s| > |(2/3)s³|)
    t3 = b.mul(z, b.mul(s, b.f(TWO_THIRDS_HI)))
    s2 = b.add(s, s)
    u = b.add(head, s2)
    u_e = b.add(b.sub(head, u), s2)
    hi = b.add(u, t3)
    hi_e = b.add(b.sub(u, hi), t3)
    # the small terms: (2/3)s³ - t3, k·ln2's and log(c)'s low parts; then s_lo times
    # 2·atanh's derivative 2/(1 - s²) ≈ 2 + 2z + 2z², and s⁵·R(s²)
    x1 = b.fma(a, b.f(TWO_THIRDS_HI), b.neg(t3))
    x1 = b.fma(a_lo, b.f(TWO_THIRDS_HI), x1)
    x1 = b.fma(a, b.f(TWO_THIRDS_LO), x1)
    small = b.add(b.add(u_e, hi_e), b.add(x1, head_lo))
    s5 = b.mul(a, z)
    small = b.fma(s5, b.estrin(z, b.mul(z, z), R), small)
    dw = b.mul(inv, b.fma(b.fma(z, z, z), b.f(2.0), b.f(2.0)))
    return hi, b.fma(rem, dw, small)


def _exp_dd(b: Builder, t: str, t_lo: str) -> str:
    """exp(t + t_lo) for |t| ≤ 760 and |t_lo| ≤ 2^-14·|t|, rounded once (also to a
    subnormal, 0 or inf where it is out of range)."""
    # n = t/ln2 rounded: fma(t, 1/ln2, 1.5·2^52) has n in its low bits
    big = b.fma(t, b.f(LOG2E), b.f(MAGIC))
    nf = b.sub(big, b.f(MAGIC))
    n = b.isub(b.bits(big), b.i(bits_of(MAGIC)))
    # r + r_lo = t + t_lo - n·ln2: t - n·LN2_HI is exact; Fast2Sum, exact where
    # |t - n·LN2_HI| ≥ |the rest|, else |r| < 0.03 and it misses by under ulp(r)/2 ≤ 2^-59
    nn = b.neg(nf)
    ra = b.fma(nn, b.f(LN2_HI), t)
    rb = b.fma(nn, b.f(LN2_LO), t_lo)
    r = b.add(ra, rb)
    r_lo = b.add(b.sub(ra, r), rb)
    # exp(r + r_lo) ≈ 1 + r + r²·P(r) + (1 + r)·r_lo = one + e_lo
    one = b.add(b.f(1.0), r)
    e_lo = b.add(b.sub(b.f(1.0), one), r)
    # A result below 2^-1022 has the subnormals' spacing 2^-1074, 2^(-1074-n) in units of
    # 1 + r + ...: K = 2^(-1022-n) (K > one) puts K + 1 + r + ... in [K, 2K), where the
    # doubles have that spacing, so the sum rounds once onto it; K·2^n = 2^-1022 is taken
    # off exactly after the scaling.
    sub = b.or_(b.icmp("slt", n, b.i(-1022)),
                b.and_(b.icmp("eq", n, b.i(-1022)), b.fcmp("olt", one, b.f(1.0))))
    k = b.select(sub, b.from_bits(b.shl(b.isub(b.i(1), n), b.i(52))), b.f(0.0))
    h = b.add(k, one)
    h_lo = b.add(b.add(b.sub(k, h), one), e_lo)      # Fast2Sum (k = 0 or k > one)
    r2 = b.mul(r, r)
    v = b.add(h, b.fma(r2, b.estrin(r, r2, EXPM1), b.add(h_lo, b.fma(r, r_lo, r_lo))))
    # v·2^n - K·2^n: 2^n in two halves (each a normal power of two), the last product
    # rounded once, to inf above the range
    n1 = b.ashr(n, b.i(1))
    return b.fma(b.mul(v, b.pow2(n1)), b.pow2(b.isub(n, n1)),
                 b.select(sub, b.f(-TINY_NORMAL), b.f(0.0)))


def build_pow(b: Builder, x: str, y: str) -> str:
    ax = b.fabs(x)
    # |y| above 2^1000 (±inf included) acts as ±2^1000, an even integer: |y·log|x|| is
    # then beyond the range unless |x| = 1 (a nan y stays nan)
    yc = b.select(b.fcmp("ogt", b.fabs(y), b.f(CLAMP_Y)), b.copysign(b.f(CLAMP_Y), y), y)
    hi, lo = log_dd(b, ax)
    # x = ±0, ±inf or nan: log|x| = -inf, inf or nan, (|x| - 1)·inf
    finite = b.icmp("ult", b.isub(b.bits(ax), b.i(1)), b.i(MAX_BITS))
    hi = b.select(finite, hi, b.mul(b.sub(ax, b.f(1.0)), b.f(math.inf)))
    t = b.mul(yc, hi)
    t_lo = b.fma(yc, lo, b.fma(yc, hi, b.neg(t)))
    mag = _exp_dd(b, t, t_lo)
    # beyond the range (±inf included): 0 or inf; a nan t gives nan
    mag = b.select(b.fcmp("ogt", b.fabs(t), b.f(T_MAX)),
                   b.select(b.fcmp("ogt", t, b.f(0.0)), b.f(math.inf), b.f(0.0)), mag)
    # x's sign where y is an odd integer
    integer = b.fcmp("oeq", b.trunc(y), y)
    half = b.mul(y, b.f(0.5))
    odd = b.and_(integer, b.fcmp("one", b.trunc(half), half))
    r = b.copysign(mag, b.select(odd, x, b.f(1.0)))
    # nan at a finite x < 0 and y not an integer; 1 at x = 1 or y = ±0, even for a nan
    invalid = b.and_(b.and_(b.fcmp("olt", x, b.f(0.0)), finite), b.not_(integer))
    r = b.select(invalid, b.f(math.nan), r)
    return b.select(b.or_(b.fcmp("oeq", x, b.f(1.0)), b.fcmp("oeq", y, b.f(0.0))),
                    b.f(1.0), r)


register(MathFunction("pow", 2, build_pow))


# cbrt(a) for a in [1, 8): interpolation at 9 Chebyshev nodes (mpmath), degree 8,
# relative error under 2^-12.9: the start of cbrt's one correction step.
CBRT_START = [float.fromhex(h) for h in (
    "0x1.0b185bd47e645p-1", "0x1.6265cbdef2a96p-1", "-0x1.31ad7ec5adef5p-2",
    "0x1.b7855bce67578p-4", "-0x1.afcde627b3b01p-6", "0x1.155f9a25b9a39p-8",
    "-0x1.bc354b893c1b8p-12", "0x1.916ce728aadb1p-16", "-0x1.3832ba7b950f4p-21")]
# ((1 + u)^(-1/3) - 1)/u = -1/3 + (2/9)u - (14/81)u² + (35/243)u³ - ...: the rest is
# under 2^-60 relative for |u| ≤ 2^-11.4 (u ≈ 3 times the start's error)
CBRT_STEP = [-1 / 3, 2 / 9, -14 / 81, 35 / 243]
THIRD = 1 / 3
TWO54 = float.fromhex("0x1p54")


def build_cbrt(b: Builder, x: str) -> str:
    """cbrt: |x| = 2^(3q)·a with a in [1, 8) by integer operations on its bits (q from the
    exponent e as rint((e - 1)/3), in floating point: no integer division or multiply;
    subnormals first scaled by 2^54); c ≈ a^(1/3) from a polynomial, then one correction:
    u = (c³ - a)/a with c³ - a exact (FMAs), a^(1/3) = c·(1 + u)^(-1/3), a series in u.
    Before its one rounding the result is within about 2^-60 of a^(1/3): nearly always
    the correctly rounded cube root."""
    ax = b.fabs(x)
    # bits of ax, or of ax·2^54 with 54 taken off the exponent (an integer, maybe < 0)
    ix = b.iselect(b.fcmp("olt", ax, b.f(TINY_NORMAL)),
                   b.isub(b.bits(b.mul(ax, b.f(TWO54))), b.i(54 << 52)), b.bits(ax))
    # MAGIC + e - 1 (e: the exponent, biased by 1023), a double; fma(that, 1/3, 2^52) is
    # MAGIC + (e - 1)/3 - 1/8 rounded to an integer: q = floor(e/3) in its low bits (the
    # fractions are -11/24, -1/8 and 5/24)
    em1 = b.from_bits(b.iadd(b.ashr(ix, b.i(52)), b.i(bits_of(MAGIC) - 1024)))
    qs = b.shl(b.isub(b.bits(b.fma(em1, b.f(THIRD), b.f(2.0 ** 52))), b.i(bits_of(MAGIC))),
               b.i(52))                                   # q·2^52
    a = b.from_bits(b.isub(b.isub(ix, qs), b.shl(qs, b.i(1))))    # |x|·2^-3q in [1, 8)
    inv = b.div(b.f(1.0), a)
    c = b.estrin(a, b.mul(a, a), CBRT_START)
    # u = (c³ - a)/a, c³ - a = c2·c - a + c2_e·c with c·c = c2 + c2_e
    c2 = b.mul(c, c)
    d = b.fma(b.fma(c, c, b.neg(c2)), c, b.fma(c2, c, b.neg(a)))
    u = b.mul(d, inv)
    c = b.fma(b.mul(c, u), b.horner(u, CBRT_STEP), c)
    r = b.copysign(b.from_bits(b.iadd(b.bits(c), qs)), x)
    # ±0, ±inf, nan: x
    finite = b.icmp("ult", b.isub(b.bits(ax), b.i(1)), b.i(MAX_BITS))
    return b.select(finite, r, x)


register(MathFunction("cbrt", 1, build_cbrt))
