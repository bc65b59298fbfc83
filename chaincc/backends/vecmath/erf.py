"""erf and erfc, each within 1 ulp (0.78 and 0.80 ulp the most over a million points
against mpmath), with libm's special values.

erf(x), |x| < 0.84375: x + x·p(x²), one FMA, p(0) = 2/√π - 1: ±0 keep their sign, and
tiny and subnormal x give x·(1 + p(0)) rounded once (libm's fused x + x·c). |x| ≥ 0.84375:
±(1 - erfc(|x|)) with erfc(a) = e^(-a²)·K(a), K a polynomial in a - 1.5 fitted where
e^(-a²)·K(a) is what counts; erf rounds to ±1 from 5.9216 on, and |x| is clamped to 6.
Both are computed for every lane and one is selected.

erfc(x), x ≥ 0, one formula over the whole range: with q = x/(2 + x) and t = 1 - q =
2/(2 + x) (one division; both carried as double-doubles),
    erfc(x) = t·exp(-x² - q·M(q)),
where M = M0 + S(q - 15/32) is nearly constant (1.2568 to 1.3436). -x² is split exactly
by an FMA and q·M0 is an exact product, so only terms under 0.05 round before the
exponent reaches exp's reduction as a double-double: its error, which is the relative
error of the result, is about 2^-57. The result 2^n·(t·e^r) is scaled by 2^n in two
steps, so that a subnormal result comes from one more rounding only (within 0.81 ulp
there); from 27.226 on, erfc rounds to +0 (x is clamped to 27.3). x < 0: 2 - erfc(|x|).

Both functions' polynomials are evaluated partly by Estrin's scheme: their chains of
dependent operations are what a vectorised loop waits on."""

from __future__ import annotations

from . import MathFunction, register
from .builder import Builder
from .exp import LN2_HI, LN2_LO, LOG2E, expm1_reduced
from .hyperbolic import CUBIC


def _hex(*values: str) -> list[float]:
    return [float.fromhex(v) for v in values]


# erf, |x| < SMALL_MAX: p(z) = erf(x)/x - 1 as a polynomial in z = x², z in [0, 0.712]:
# p(0) = 2/√π - 1 rounded (relative error 2^-56.3, the floor of x + x·p(0)), the other
# coefficients a minimax fit of the error relative to erf (mpmath at 200 bits, Lawson
# iterations on 120 Chebyshev nodes), rounded to doubles one by one, the rest refitted
# after each: within 2^-56.3 relative, p(0)'s floor.
SMALL_MAX = 0.84375
SMALL = _hex(
    "0x1.06eba8214db69p-3", "-0x1.812746b037a2ep-2", "0x1.ce2f21a0467b5p-4",
    "-0x1.b82ce313c5eccp-6", "0x1.565bcd4491707p-8", "-0x1.c02dbece9489cp-11",
    "0x1.f9a47f2176573p-14", "-0x1.f4edcccfa1d3ap-17", "0x1.bb4c7eb442cf6p-20",
    "-0x1.6a9a494fb6749p-23", "0x1.2e8eb80c86ceep-26", "-0x1.e0e4467fd66d3p-30")
# erf, |x| ≥ SMALL_MAX: K(a) = e^(a²)·erfc(a) as a polynomial in v = a - 1.5 (exact for
# a in [0.75, 6]), degree 22, fitted the same way on a in [0.84375, 5.95] minimising
# the largest error of e^(-a²)·K(a) (what an error in K costs erf): 2^-58.4 after
# rounding. erf(a) rounds to 1 from a = 5.9216 on (erfc(a) < 2^-54).
TAIL_CENTRE = 1.5
ERF_ONE = 6.0
TAIL = _hex(
    "0x1.494daffa2ad68p-2", "-0x1.4f1988444caf1p-3", "0x1.37ea271bc560dp-4",
    "-0x1.0dc51d2942102p-5", "0x1.b65944f337f75p-7", "-0x1.513ed760035b7p-8",
    "0x1.ee705e7cf3799p-10", "-0x1.5b0abfeb61a8cp-11", "0x1.d4509b288fdbfp-13",
    "-0x1.30c0ea431dbfap-14", "0x1.7f99abdbcb63bp-16", "-0x1.d416439721540p-18",
    "0x1.156a162a9155ep-19", "-0x1.3ff2c513c8c57p-21", "0x1.67d2ea08aa189p-23",
    "-0x1.8c2d9710e8f26p-25", "0x1.ab7f3f9171b65p-27", "-0x1.ba73f33fc561ep-29",
    "0x1.9c66959622861p-31", "-0x1.3a4804b32d7adp-33", "0x1.5d4ef535c5c20p-36",
    "-0x1.e7849f988dffep-40", "0x1.3b3797dd36d51p-44")

# erfc: M(q) = -log(erfc(x)·e^(x²)/t)/q for q = x/(2 + x) in [0, 0.9317] (x ≤ 27.3):
# M = M0 + S(q - Q_CENTRE), M0 the middle of M's range and S of degree 24, fitted the
# same way (150 nodes in q) minimising the largest |q·(M - M0 - S)|, the absolute error
# of the exponent and so the relative error of erfc: 2^-57.6 after rounding.
ERFC_MAX = 27.3                     # erfc(x) < 2^-1075 (rounds to 0) from 27.226 on
M0 = float.fromhex("0x1.4cd8682858d9fp+0")
Q_CENTRE = 0.46875                  # q - Q_CENTRE is exact for q in [0.2344, 0.9375]
S = _hex(
    "0x1.5faaa1b3fecadp-5", "0x1.c2e40f867aefdp-6", "-0x1.8b2586a8a4373p-2",
    "-0x1.b20110d00a13bp-7", "0x1.12b7df54c0e95p-2", "0x1.fb970a3e27db0p-5",
    "-0x1.dadca6cda727ap-3", "-0x1.20be29abfc4dbp-3", "0x1.7d5bcfe0226d0p-3",
    "0x1.e7d5555a2e611p-3", "-0x1.5ee6da9c2f935p-4", "-0x1.41a66a89fb063p-2",
    "-0x1.6653c02872fe6p-4", "0x1.324f00ff7a3fcp-2", "0x1.2a0c415900e60p-2",
    "-0x1.124308a711a78p-3", "-0x1.a16dcd0d8d5fep-2", "-0x1.30c3925d7968fp-3",
    "0x1.412efbd79aa3bp-2", "0x1.84adfa0d68a9bp-2", "-0x1.2e38b985a0b3dp-5",
    "-0x1.7b73a9471b7d6p-2", "-0x1.6bc87f61f3221p-3", "0x1.410249fe658f4p-3",
    "0x1.0ee29f1c503dcp-3")
# D(q) = D0 + D1·q, a line for d(q·M(q))/dq (the exponent's sensitivity to q's low part
# q_lo, up to 2^-52·q) fitted the same way: |q·(D - d(q·M)/dq)| ≤ 0.025, so D·q_lo is
# within 2^-57.3 of what q_lo adds to the exponent
D0 = float.fromhex("0x1.93c97caea08b4p+0")
D1 = float.fromhex("-0x1.120f187489b1cp-1")


def _poly(b: Builder, x: str, coefficients: list[float], head: int) -> str:
    """c0 + c1·x + ...: Horner's rule for the first ``head`` coefficients, on a tail
    evaluated by Estrin's scheme (``Builder.estrin``; a shorter chain of dependent
    operations), whose rounding errors the factor x^head damps."""
    acc = b.estrin(x, b.mul(x, x), coefficients[head:])
    for c in reversed(coefficients[:head]):
        acc = b.fma(acc, x, b.f(c))
    return acc


def _exp_parts(b: Builder, e_hi: str, e_lo: str,
               accurate: bool) -> tuple[str, str, str]:
    """exp(e_hi + e_lo) = 2^n·(s + s_lo) for e_hi in [-750, 0] and |e_lo| ≤ 2^-40:
    (n as an i64, s, s_lo with |s_lo| < 0.07). e_hi = n·ln2 + t exactly (``exp.reduce``'s
    first step), and e_lo is added to t exactly, so that the reduced argument r + r_lo has
    a low part under ulp(r). exp(r + r_lo) = 1 + r + r²/2 + r³·C(r) + r_lo·(1 + r): with
    ``accurate``, 1 + r is exact and only the terms under 0.07 round (within 2^-56);
    else ``exp.expm1_reduced`` (r² and its polynomial rounded: within 2^-55)."""
    nf, n = b.round_to_int(b.mul(e_hi, b.f(LOG2E)))
    t = b.fma(b.neg(nf), b.f(LN2_HI), e_hi)                  # exact
    c = b.fma(b.neg(nf), b.f(LN2_LO), e_lo)
    # Fast2Sum, exact: |t| ≥ |c| where n = 0 (t = e_hi, c = e_lo); elsewhere t is a
    # multiple of 2^-54 and |c| < 2^-41, which keeps r - t and c - (r - t) exact too
    r = b.add(t, c)
    r_lo = b.add(b.sub(t, r), c)
    if not accurate:
        hi, lo = expm1_reduced(b, r, r_lo)
        s = b.add(b.f(1.0), hi)
        return n, s, b.add(b.add(b.sub(b.f(1.0), s), hi), lo)   # Fast2Sum: |hi| < 1
    rr = b.mul(r, r)
    small = b.fma(b.mul(rr, r), b.horner(r, CUBIC), b.fma(r_lo, r, r_lo))
    s = b.add(b.f(1.0), r)
    return n, s, b.add(b.add(b.sub(b.f(1.0), s), r), b.fma(rr, b.f(0.5), small))


def _scale_down(b: Builder, v: str, n: str) -> str:
    """v·2^n for v in [2^-5, 2] and n in [-1080, 0], rounded once: v·2^(n+64) is exact
    (a normal number), and the product by 2^-64 rounds (to a subnormal or to 0)."""
    return b.mul(b.mul(v, b.pow2(b.iadd(n, b.i(64)))), b.f(2.0 ** -64))


def build_erf(b: Builder, x: str) -> str:
    a = b.fabs(x)
    # |x| < SMALL_MAX
    z = b.mul(x, x)
    r = _poly(b, z, SMALL[1:], 3)
    # p(x²) = SMALL[0] + (z + z_lo)·r, x² = z + z_lo exactly: z_lo·r stands for z_lo·p'(z)
    # (within 0.1·|z_lo|)
    p = b.fma(b.fma(x, x, b.neg(z)), r, b.fma(z, r, b.f(SMALL[0])))
    small = b.fma(x, p, x)
    # |x| ≥ SMALL_MAX: 1 - e^(-a²)·K(a); -a² = -(h + l) exactly
    a = b.below(a, ERF_ONE)
    h = b.mul(a, a)
    l = b.fma(a, a, b.neg(h))
    n, s, s_lo = _exp_parts(b, b.neg(h), b.neg(l), False)
    v = b.sub(a, b.f(TAIL_CENTRE))
    k = _poly(b, v, TAIL, 3)
    w = b.mul(b.fma(s, k, b.mul(s_lo, k)), b.pow2(n))       # n in [-53, -1]: exact
    tail = b.copysign(b.sub(b.f(1.0), w), x)
    return b.select(b.fcmp("olt", a, b.f(SMALL_MAX)), small, tail)


def build_erfc(b: Builder, x: str) -> str:
    a = b.below(b.fabs(x), ERFC_MAX)
    # d + d_lo = 2 + a exactly; q = a/(d + d_lo) and t = 1 - q as double-doubles
    d = b.add(a, b.f(2.0))
    d_lo = b.sub(a, b.sub(d, b.f(2.0)))     # Fast2Sum(2, a): d - 2 exact, then Sterbenz
    q = b.div(a, d)
    t = b.sub(b.f(1.0), q)
    t_e = b.sub(b.sub(b.f(1.0), t), q)                        # Fast2Sum: q ≤ 1
    rem = b.fma(b.neg(q), d_lo, b.fma(b.neg(q), d, a))        # a - q·(d + d_lo)
    q_lo2 = b.mul(rem, t)                       # 2·q_lo: q_lo = rem/d, and 1/d = t/2
    t_lo = b.fma(q_lo2, b.f(-0.5), t_e)
    # (q + q_lo)·M(q + q_lo) = p + p_e + qm + q_lo·D(q), p + p_e = q·M0 exactly and
    # |qm| < 0.041
    m = _poly(b, b.sub(q, b.f(Q_CENTRE)), S, 0)
    p = b.mul(q, b.f(M0))
    p_e = b.fma(q, b.f(M0), b.neg(p))
    qm = b.mul(q, m)
    # exponent -(h + l) - q·M(q): -h - p - qm summed exactly (|h + p| ≥ 29·|qm|)
    h = b.mul(a, a)
    l = b.fma(a, a, b.neg(h))
    s1, e1 = b.two_sum(b.neg(h), b.neg(p))
    e_hi = b.sub(s1, qm)
    e2 = b.sub(b.sub(s1, e_hi), qm)
    lo_terms = b.fma(q_lo2, b.fma(q, b.f(D1 / 2), b.f(D0 / 2)), p_e)
    e_lo = b.sub(b.add(e1, e2), b.add(l, lo_terms))
    n, s, s_lo = _exp_parts(b, e_hi, e_lo, True)
    # (s + s_lo)·(t + t_lo): t_lo is up to 2^-51·t (d's rounding) and s_lo up to 0.07·s,
    # so their product counts
    v = b.fma(s, t, b.fma(b.add(s, s_lo), t_lo, b.mul(s_lo, t)))
    y = _scale_down(b, v, n)
    return b.select(b.fcmp("olt", x, b.f(0.0)), b.sub(b.f(2.0), y), y)


# below 2^-28, p(x²) rounds to SMALL[0] (x²·p' is under half its ulp): erf x = x + x·SMALL[0]
register(MathFunction("erf", 1, build_erf, tiny=(2.0 ** -28, SMALL[0])))
register(MathFunction("erfc", 1, build_erfc, tiny=(2.0 ** -56, "one")))
