"""sin, cos, tan: Cody–Waite reduction x = q·π/2 + r (π/2 in three parts applied with
FMAs, r carried as a double-double), polynomials for sin and cos on the reduced range,
and q's low bits choosing the polynomial and the sign; tan is their quotient, corrected
to a double-double's accuracy. Within 1 ulp for |x| < BOUND; larger finite arguments are
computed by libm (the guard), which reduces them exactly.

The reduction, for |x| < BOUND (so |x·2/π| < 2^51, the most that MAGIC rounds):
- q = rint(x·TWO_OVER_PI), the exact product rounded once (an FMA adding MAGIC), so
  |r| ≤ π/4 + |x|·|2/π - TWO_OVER_PI|·π/2 < 1.01.
- t1 = x - q·PIO2_1 is exact (an FMA: |t1| < 2, a multiple of 2^-52 or of ulp(x)).
- q·PIO2_2 = h + l exactly (a product and its error from an FMA); t1 - h = s + e exactly
  by Fast2Sum (t1 is a multiple of ulp(h), as |h| < 1).
- r = s + (e - l - q·PIO2_3), kept as r_hi = s and r_lo = e - l - q·PIO2_3 (one
  rounding), is within about |q|·2^-160 of x - q·π/2. The doubles closest to multiples
  of π/2 below BOUND are 2^-60.5 away (at x = 0x1.6c6cbc45dc8dep+5) and, above 2^47, at
  least 2^-55.5 away, so r's relative error stays under 2^-56.5 everywhere below BOUND
  (2^-80 below 2^30): measured exactly at the closest double of every binade, found from
  the continued fractions of 2^(e-52)/(π/2).
- A lane's result is exactly libm's special value: ±0 and tiny x give x (sin, tan) or
  1 (cos); ±inf and nan give nan (the reduction's inf - inf)."""

from __future__ import annotations

import math

from . import MathFunction, register
from .builder import Builder, bits_of

TWO_OVER_PI = float.fromhex("0x1.45f306dc9c883p-1")   # 2/π rounded to a double
PIO2_1 = float.fromhex("0x1.921fb54442d18p+0")        # π/2 rounded to a double
PIO2_2 = float.fromhex("0x1.1a62633145c07p-54")       # π/2 - PIO2_1, rounded
PIO2_3 = float.fromhex("-0x1.f1976b7ed8fbcp-110")     # π/2 - PIO2_1 - PIO2_2, rounded
# (π/2 - PIO2_1 - PIO2_2 - PIO2_3 = 5.6e-50 = 2^-163.6)
MAGIC = 1.5 * 2.0 ** 52          # x + MAGIC rounds x to an integer held in the low bits
# From BOUND up, q may not fit under MAGIC (|q| < 2^51): libm reduces those.
BOUND = float.fromhex("0x1.9p+51")                   # 3.519e15
TINY = float.fromhex("0x1p-27")  # |x| below: sin x and tan x round to x (x² < 2^-54)

# sin r = r + r³·(C0 + r²·S(r²)), C0 = -1/6 = C0_HI + C0_LO (C0's rounding would cost
# 2^-56 of sin r). S is the weighted minimax fit (Remez, mpmath at 200 bits) of
# ((sin r - r)/r³ + 1/6)/r² on r² ∈ (0, 1.01²] (|r| < 1.01 covers the reduction's
# range), its error measured relative to sin r: 2^-62.4 fitted, 2^-59.8 with the
# coefficients rounded to doubles, 2^-61.3 for |r| ≤ π/4.
C0_HI = float.fromhex("-0x1.5555555555555p-3")     # -1/6 rounded
C0_LO = float.fromhex("-0x1.5555555555555p-57")    # -1/6 - C0_HI, rounded
SIN = [float.fromhex("0x1.11111111110e0p-7"),
       float.fromhex("-0x1.a01a01a010056p-13"),
       float.fromhex("0x1.71de3a492a54ap-19"),
       float.fromhex("-0x1.ae6447b2991e0p-26"),
       float.fromhex("0x1.611af209139d2p-33"),
       float.fromhex("-0x1.a8657b025d620p-41")]
# cos r = 1 - r²/2 + r⁴·C(r²). C fitted the same way to (cos r - 1 + r²/2)/r⁴ on
# r² ∈ (0, 1.01²], error relative to cos r: 2^-68.3 fitted, 2^-60.8 rounded, 2^-62.8 for
# |r| ≤ π/4.
COS = [float.fromhex("0x1.5555555555555p-5"),
       float.fromhex("-0x1.6c16c16c16b78p-10"),
       float.fromhex("0x1.a01a01a00a68bp-16"),
       float.fromhex("-0x1.27e4fb6b0ae40p-22"),
       float.fromhex("0x1.1eed83c2eeb1fp-29"),
       float.fromhex("-0x1.938bcd9394d72p-37"),
       float.fromhex("0x1.a840a524fb677p-45")]


def reduce(b: Builder, x: str) -> tuple[str, str, str]:
    """x = q·π/2 + r_hi + r_lo for |x| < BOUND: (q as an i64, r_hi, r_lo), |r| < 1.01.
    r_lo is not normalised: |r_lo| ≤ ulp(r_hi) + ulp(q·PIO2_2), where ulp(q·PIO2_2) <
    2^-52 ulp(x) (the polynomials take r_lo to first order: its square is negligible)."""
    t = b.fma(x, b.f(TWO_OVER_PI), b.f(MAGIC))     # MAGIC + rint(x·TWO_OVER_PI)
    qf = b.sub(t, b.f(MAGIC))
    q = b.isub(b.bits(t), b.i(bits_of(MAGIC)))
    nq = b.neg(qf)
    t1 = b.fma(nq, b.f(PIO2_1), x)                   # exact
    h = b.mul(qf, b.f(PIO2_2))
    l = b.fma(qf, b.f(PIO2_2), b.neg(h))             # q·PIO2_2 = h + l
    s = b.sub(t1, h)                                 # Fast2Sum: t1 - h = s + e
    e = b.sub(b.sub(t1, s), h)
    return q, s, b.fma(nq, b.f(PIO2_3), b.sub(e, l))


def sincos_reduced(b: Builder, r_hi: str, r_lo: str) -> tuple[str, str, str, str]:
    """sin r and cos r for r = r_hi + r_lo, |r| < 1.01, each as a double-double (hi, lo)
    whose hi is the rounded value."""
    z = b.mul(r_hi, r_hi)
    ez = b.fma(r_hi, r_hi, b.neg(z))                 # r_hi² - z, exact
    hz = b.mul(z, b.f(0.5))
    # sin(r_hi + r_lo) = sin r_hi + r_lo·cos r_hi
    #                  = r_hi + C0·r_hi³ + r_hi³·z·S(z) + r_lo·(1 - z/2),
    # with r_hi³ = u + t3 (u = r_hi·z rounded) so that C0·r_hi³ rounds only once, in lo_s
    u = b.mul(r_hi, z)
    t3 = b.fma(r_hi, ez, b.fma(r_hi, z, b.neg(u)))   # r_hi³ - u
    e = b.fma(b.neg(hz), r_lo, r_lo)
    e = b.fma(b.f(C0_LO), u, b.fma(b.f(C0_HI), t3, e))
    e = b.fma(b.mul(u, z), b.horner(z, SIN), e)
    lo_s = b.fma(b.f(C0_HI), u, e)
    s_hi = b.add(r_hi, lo_s)
    s_lo = b.add(b.sub(r_hi, s_hi), lo_s)
    # cos(r_hi + r_lo) = cos r_hi - r_lo·sin r_hi = w + (1 - w - hz) - (r_hi² - z)/2
    #                    + z²·C(z) - r_hi·r_lo, with w = 1 - hz
    w = b.sub(b.f(1.0), hz)
    tail = b.sub(b.sub(b.f(1.0), w), hz)             # exact: Fast2Sum (1 ≥ hz)
    lo_c = b.fma(b.mul(z, z), b.horner(z, COS),
                 b.fma(b.neg(r_hi), r_lo, b.fma(ez, b.f(-0.5), tail)))
    c_hi = b.add(w, lo_c)
    c_lo = b.add(b.sub(w, c_hi), lo_c)
    return s_hi, s_lo, c_hi, c_lo


def _flip(b: Builder, v: str, bit: str) -> str:
    """v with its sign flipped where the i64 ``bit`` is 2 (unchanged where 0)."""
    return b.from_bits(b.ixor(b.bits(v), b.shl(bit, b.i(62))))


def _odd(b: Builder, q: str) -> str:
    return b.icmp("ne", b.iand(q, b.i(1)), b.i(0))


def _tiny(b: Builder, x: str) -> str:
    return b.fcmp("olt", b.fabs(x), b.f(TINY))


def build_sin(b: Builder, x: str) -> str:
    q, r_hi, r_lo = reduce(b, x)
    s, _, c, _ = sincos_reduced(b, r_hi, r_lo)
    # q mod 4 = 0: sin r, 1: cos r, 2: -sin r, 3: -cos r
    y = _flip(b, b.select(_odd(b, q), c, s), b.iand(q, b.i(2)))
    return b.select(_tiny(b, x), x, y)


def build_cos(b: Builder, x: str) -> str:
    q, r_hi, r_lo = reduce(b, x)
    s, _, c, _ = sincos_reduced(b, r_hi, r_lo)
    # q mod 4 = 0: cos r, 1: -sin r, 2: -cos r, 3: sin r
    return _flip(b, b.select(_odd(b, q), s, c), b.iand(b.iadd(q, b.i(1)), b.i(2)))


def build_tan(b: Builder, x: str) -> str:
    q, r_hi, r_lo = reduce(b, x)
    s_hi, s_lo, c_hi, c_lo = sincos_reduced(b, r_hi, r_lo)
    # q even: sin r / cos r; odd: -cos r / sin r
    odd = _odd(b, q)
    n_hi, n_lo = b.select(odd, c_hi, s_hi), b.select(odd, c_lo, s_lo)
    d_hi, d_lo = b.select(odd, s_hi, c_hi), b.select(odd, s_lo, c_lo)
    inv = b.div(b.f(1.0), d_hi)
    t = b.mul(n_hi, inv)
    # (n_hi + n_lo)/(d_hi + d_lo) - t = (n_hi - t·d_hi + n_lo - t·d_lo)/d
    err = b.fma(b.neg(t), d_hi, n_hi)
    y = b.fma(b.fma(b.neg(t), d_lo, b.add(err, n_lo)), inv, t)
    y = _flip(b, y, b.shl(b.iand(q, b.i(1)), b.i(1)))
    return b.select(_tiny(b, x), x, y)


def guard(b: Builder, x: str) -> str:
    """Finite |x| ≥ BOUND: libm reduces those."""
    a = b.fabs(x)
    return b.and_(b.fcmp("oge", a, b.f(BOUND)), b.fcmp("olt", a, b.f(math.inf)))


register(MathFunction("sin", 1, build_sin, guard, tiny=(2.0 ** -28, "x")))
register(MathFunction("cos", 1, build_cos, guard, tiny=(2.0 ** -28, "one")))
register(MathFunction("tan", 1, build_tan, guard, tiny=(2.0 ** -28, "x")))
