"""log, log1p and asinh, and a double-double log for other functions (``log_dd``).

Reduction: a positive normal u is 2^k·(1 + f) with 1 + f in [sqrt(1/2), sqrt(2)), split
by integer operations on its bits (subnormal inputs are first scaled by 2^52). Then
log1p(f) = 2·atanh(s) with s = f/(2 + f), |s| ≤ 0.1716: 2s + s³·P(s²). s is carried as
s_hi + s_lo (the division's remainder is exact with FMAs), k·ln2 as k·LN2_HI (exact) +
k·LN2_LO, and k·LN2_HI + 2·s_hi as an exact sum, so only the small terms round before the
last addition: within 0.52 ulp. An input with a low part (u_hi + u_lo, as log1p's 1 + x
and asinh's |x| + sqrt(x² + 1) are) adds u_lo·2^-k to f's low part.

For other functions: ``log_dd(b, x)`` (log as a double-double, relative error under
2^-67), and the pieces: ``prescale`` and ``split`` (the reduction), ``low_part``,
``log_reduced`` / ``log_reduced_dd`` (k·ln2 + log1p(f + fl), rounded or as a pair)."""

from __future__ import annotations

import math

from . import MathFunction, register
from .builder import Builder

LN2_HI = float.fromhex("0x1.62e42fefa3800p-1")    # ln 2 to 42 bits: k·LN2_HI exact, |k| < 2^11
LN2_LO = float.fromhex("0x1.ef35793c76730p-45")   # ln 2 - LN2_HI (rest under 2^-102)
SQRT_HALF = 0x3FE6A09E667F3BCD                    # bits of sqrt(1/2)
MANTISSA = 0x000FFFFFFFFFFFFF
EXPONENT_ONE = 0x3FF0000000000000                 # bits of 1.0
K_MAGIC = 0x4330000000000000                      # bits of 2^52: 2^52 + e in its low bits
TINY_NORMAL = float.fromhex("0x1p-1022")
TWO52 = float.fromhex("0x1p52")

# (2·atanh(s) - 2s)/s³ as a polynomial in z = s², z in [0, 0.03003] (s up to 1.01·0.17157):
# mpmath chebyfit, degree 7; after rounding the coefficients the error times z/2 (the
# error relative to log1p(f) ≈ 2s) is under 2^-60.6.
TAIL = [float.fromhex(h) for h in (
    "0x1.5555555555555p-1", "0x1.9999999999a4fp-2", "0x1.249249247343fp-2",
    "0x1.c71c72078b928p-3", "0x1.745cf674f6889p-3", "0x1.3b1cbf421a439p-3",
    "0x1.0fb04d4fa4e54p-3", "0x1.0c97816496c47p-3")]
# The same at degree 8 with the first two coefficients as double-doubles (C0 + C0_LO,
# C1 + the first entry of TAIL_DD): the tail's error under 2^-72 absolute.
TAIL_DD_C0 = float.fromhex("0x1.5555555555555p-1")
TAIL_DD_C0_LO = float.fromhex("0x1.557be348b96e0p-55")
TAIL_DD_C1 = float.fromhex("0x1.9999999999998p-2")
TAIL_DD = [float.fromhex(h) for h in (
    "0x1.b21aac11cd42fp-61", "0x1.2492492492a12p-2", "0x1.c71c71c631c11p-3",
    "0x1.745d17e26c5c0p-3", "0x1.3b13769e26b97p-3", "0x1.111debb6010e0p-3",
    "0x1.de9ccd933ac7cp-4", "0x1.e7e15d9067410p-4")]


def prescale(b: Builder, x: str) -> tuple[str, str]:
    """(x, or x·2^52 where x is subnormal; the exponent bias for ``split`` that undoes
    that scaling)."""
    sub = b.fcmp("olt", x, b.f(TINY_NORMAL))
    xs = b.select(sub, b.mul(x, b.f(TWO52)), x)
    bias = b.select(sub, b.f(TWO52 + 1023.0 + 52.0), b.f(TWO52 + 1023.0))
    return xs, bias


def split(b: Builder, u: str, bias: str | None = None) -> tuple[str, str, str]:
    """u = 2^k·(1 + f) for a positive normal u, 1 + f in [sqrt(1/2), sqrt(2)): (f exactly,
    k as a double, 2^(2-k)). ``bias`` from ``prescale`` for a scaled u: it corrects k,
    not 2^(2-k), which is for u as given."""
    t = b.iadd(b.bits(u), b.i(EXPONENT_ONE - SQRT_HALF))
    m = b.from_bits(b.iadd(b.iand(t, b.i(MANTISSA)), b.i(SQRT_HALF)))
    f = b.sub(m, b.f(1.0))
    kf = b.sub(b.from_bits(b.ior(b.lshr(t, b.i(52)), b.i(K_MAGIC))),
               bias if bias is not None else b.f(TWO52 + 1023.0))
    # 2^(2-k): exponent field 1025 - k = 2048 - (k + 1023), t's exponent field k + 1023
    scale = b.from_bits(b.isub(b.i(1 << 63), b.iand(t, b.i(~MANTISSA))))
    return f, kf, scale


def low_part(b: Builder, u_lo: str, scale: str) -> str:
    """u_lo·2^-k (``scale`` from ``split``): the low part of f for u = u_hi + u_lo, where
    |u_lo| is at least 2^-1020 or is negligible."""
    return b.mul(b.mul(u_lo, scale), b.f(0.25))


def _atanh_arg(b: Builder, f: str, fl: str | None) -> tuple[str, str]:
    """s + s_lo = (f + fl)/(2 + f + fl) to about 2^-104·|s| + 2^-53·|fl| (s_lo's
    denominator is taken as 2 + f)."""
    d = b.add(b.f(2.0), f)
    ed = b.add(b.sub(b.f(2.0), d), f)                 # 2 + f = d + ed exactly
    inv = b.div(b.f(1.0), d)
    s = b.mul(f, inv)
    ns = b.neg(s)
    rem = b.fma(ns, ed, b.fma(ns, d, f))              # f - s·(2 + f), exact
    if fl is not None:                                # + fl·(1 - s)
        rem = b.fma(ns, fl, b.add(rem, fl))
    return s, b.mul(rem, inv)


def _head(b: Builder, s: str, kf: str) -> tuple[str, str]:
    """k·LN2_HI + 2s exactly, as (rounded sum, error)."""
    kl = b.mul(kf, b.f(LN2_HI))
    hi = b.fma(s, b.f(2.0), kl)
    return hi, b.fma(s, b.f(2.0), b.sub(kl, hi))      # Fast2Sum: |k·ln2| ≥ |2s| or k = 0


def log_reduced(b: Builder, f: str, fl: str | None, kf: str) -> str:
    """k·ln2 + log1p(f + fl), rounded, for |f| ≤ 0.415 (from ``split``) and a low part
    fl (or None) with |fl| ≤ 2^-50: fl adds an error of about 2^-52·|fl|, so it must be
    small next to f where k = 0 (log1p passes x itself there)."""
    s, s_lo = _atanh_arg(b, f, fl)
    z = b.mul(s, s)
    tail = b.mul(b.mul(s, z), b.horner(z, TAIL))
    hi, err = _head(b, s, kf)
    # 2·atanh's derivative 2/(1 - s²) ≈ 2 + 2z times s_lo
    lo = b.add(err, b.fma(kf, b.f(LN2_LO), b.fma(s_lo, b.fma(z, b.f(2.0), b.f(2.0)), tail)))
    return b.add(hi, lo)


def log_reduced_dd(b: Builder, f: str, fl: str | None, kf: str) -> tuple[str, str]:
    """``log_reduced`` as an unevaluated sum (hi, lo), |lo| ≤ ulp(hi)/2, relative error
    under 2^-67: the tail's terms in s³ and s⁵ are carried with their rounding errors."""
    s, s_lo = _atanh_arg(b, f, fl)
    z = b.mul(s, s)
    z_e = b.fma(s, s, b.neg(z))                       # s² = z + z_e
    a3 = b.mul(s, z)
    e3 = b.fma(s, z_e, b.fma(s, z, b.neg(a3)))        # s³ = a3 + e3
    a5 = b.mul(a3, z)
    e5 = b.fma(e3, z, b.fma(a3, z_e, b.fma(a3, z, b.neg(a5))))   # s⁵ = a5 + e5
    t0 = b.mul(a3, b.f(TAIL_DD_C0))
    lo0 = b.fma(e3, b.f(TAIL_DD_C0), b.fma(a3, b.f(TAIL_DD_C0), b.neg(t0)))
    t1 = b.mul(a5, b.f(TAIL_DD_C1))
    lo1 = b.fma(e5, b.f(TAIL_DD_C1), b.fma(a5, b.f(TAIL_DD_C1), b.neg(t1)))
    rest = b.fma(a5, b.horner(z, TAIL_DD), b.mul(a3, b.f(TAIL_DD_C0_LO)))
    # 2·atanh's derivative 2/(1 - s²) times s_lo
    s_lo2 = b.add(s_lo, s_lo)
    low = b.fma(s_lo2, b.fma(z, b.fma(z, z, z), z), s_lo2)   # to the z³ term
    hi, err = _head(b, s, kf)
    v = b.add(hi, t0)
    v_e = b.add(b.sub(hi, v), t0)                     # Fast2Sum: |hi| ≥ |t0|
    w = b.add(v, t1)
    w_e = b.add(b.sub(v, w), t1)                      # Fast2Sum: |v| ≥ |t1|
    lo = b.add(b.add(b.add(err, v_e), b.add(w_e, lo0)),
               b.add(b.add(lo1, rest), b.fma(kf, b.f(LN2_LO), low)))
    out = b.add(w, lo)
    return out, b.add(b.sub(w, out), lo)


def log_dd(b: Builder, x: str) -> tuple[str, str]:
    """log(x) as an unevaluated sum (hi, lo) for a positive finite x (normal or
    subnormal): |lo| ≤ ulp(hi)/2, |hi + lo - log(x)| under 2^-67·|log(x)| (tests measure
    it). Other x give unspecified values: callers select their special cases."""
    xs, bias = prescale(b, x)
    f, kf, _ = split(b, xs, bias)
    return log_reduced_dd(b, f, None, kf)


def _log_specials(b: Builder, x: str, y: str) -> str:
    """y for a positive finite x (bits 1 to 0x7FEF...F); else -inf at ±0, nan below 0,
    x itself at inf and nan."""
    ok = b.icmp("ult", b.isub(b.bits(x), b.i(1)), b.i(0x7FEFFFFFFFFFFFFF))
    special = b.select(b.fcmp("olt", x, b.f(0.0)), b.f(math.nan), x)
    special = b.select(b.fcmp("oeq", x, b.f(0.0)), b.f(-math.inf), special)
    return b.select(ok, y, special)


def build_log(b: Builder, x: str) -> str:
    xs, bias = prescale(b, x)
    f, kf, _ = split(b, xs, bias)
    return _log_specials(b, x, log_reduced(b, f, None, kf))


# 1/ln 2 and 1/ln 10, each as an unevaluated sum of two doubles (mpmath at 300 bits)
INV_LN2 = (float.fromhex("0x1.71547652b82fep+0"), float.fromhex("0x1.777d0ffda0d24p-56"))
INV_LN10 = (float.fromhex("0x1.bcb7b1526e50ep-2"), float.fromhex("0x1.95355baaafad3p-57"))


def _log_base(inverse: tuple[float, float]):
    """log(x)·(1/ln base): the double-double log times the double-double constant, the
    product's rounding error recovered with an FMA, so only the last addition rounds
    (log2 of a power of two and log10 of a power of ten come out exact)."""
    def build(b: Builder, x: str) -> str:
        hi, lo = log_dd(b, x)
        c_hi, c_lo = b.f(inverse[0]), b.f(inverse[1])
        p = b.mul(hi, c_hi)
        err = b.fma(hi, c_hi, b.neg(p))
        tail = b.fma(hi, c_lo, b.fma(lo, c_hi, err))
        return _log_specials(b, x, b.add(p, tail))
    return build


def build_log1p(b: Builder, x: str) -> str:
    u, corr = b.two_sum(b.f(1.0), x)                 # 1 + x = u + corr
    f, kf, scale = split(b, u)
    # where k = 0, f + fl is x itself (and fl = 0 keeps log_reduced's bound for small x)
    k0 = b.fcmp("oeq", kf, b.f(0.0))
    fl = b.select(k0, b.f(0.0), low_part(b, corr, scale))
    y = log_reduced(b, b.select(k0, x, f), fl, kf)
    # |x| < 2^-54: x (log1p(x) = x - x²/2 + ..., and keeps -0)
    y = b.select(b.fcmp("olt", b.fabs(x), b.f(float.fromhex("0x1p-54"))), x, y)
    # x > -1 and finite; else -inf at -1, nan below or at nan, inf at inf
    ok = b.and_(b.fcmp("ogt", x, b.f(-1.0)), b.fcmp("olt", x, b.f(math.inf)))
    special = b.select(b.fcmp("olt", x, b.f(-1.0)), b.f(math.nan), x)
    special = b.select(b.fcmp("oeq", x, b.f(-1.0)), b.f(-math.inf), special)
    return b.select(ok, y, special)


def build_asinh(b: Builder, x: str) -> str:
    """asinh(|x|) = log(A), A = |x| + sqrt(x² + 1) carried as a double-double, with the
    sign of x; above 2^28, log(2|x|) (x² + 1 rounds to x²; x² may overflow)."""
    y = b.fabs(x)
    p = b.mul(y, y)
    p_e = b.fma(y, y, b.neg(p))                       # y² = p + p_e
    big, small = b.fmax(p, b.f(1.0)), b.fmin(p, b.f(1.0))
    q = b.add(big, small)
    q_lo = b.add(b.sub(small, b.sub(q, big)), p_e)    # y² + 1 = q + q_lo (Fast2Sum)
    r = b.sqrt(q)
    r_e = b.fma(b.neg(r), r, q)                       # q - r², exact
    r_lo = b.div(b.add(r_e, q_lo), b.add(r, r))       # sqrt(q + q_lo) = r + r_lo
    a = b.add(r, y)
    a_lo = b.add(b.add(b.sub(r, a), y), r_lo)         # Fast2Sum: r ≥ y
    huge = b.fcmp("ogt", y, b.f(float.fromhex("0x1p28")))
    u = b.select(huge, y, a)
    f, kf, scale = split(b, u, b.select(huge, b.f(TWO52 + 1022.0), b.f(TWO52 + 1023.0)))
    fl = low_part(b, b.select(huge, b.f(0.0), a_lo), scale)
    v = b.copysign(log_reduced(b, f, fl, kf), x)
    # |x| < 2^-28 (asinh(x) = x - x³/6 + ...), ±inf and nan: x
    keep = b.or_(b.fcmp("ult", y, b.f(float.fromhex("0x1p-28"))),
                 b.fcmp("oeq", y, b.f(math.inf)))
    return b.select(keep, x, v)


register(MathFunction("log", 1, build_log))
register(MathFunction("log1p", 1, build_log1p, tiny=(2.0 ** -54, "x")))
register(MathFunction("asinh", 1, build_asinh, tiny=(2.0 ** -28, "x")))
register(MathFunction("log2", 1, _log_base(INV_LN2)))
register(MathFunction("log10", 1, _log_base(INV_LN10)))
