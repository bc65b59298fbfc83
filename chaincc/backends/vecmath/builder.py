"""Straight-line LLVM IR for one elementary function, written once for every width: a
``Builder`` of lanes 1 writes scalar ``double`` code, of lanes 2, 4 or 8 the same
operations on ``<n x double>``. The scalar and vector versions of a function are the same
operations in the same order, so every lane of a vector result has the bits of the scalar
function at that point (the loop vectoriser's scalar epilogue and a point kernel get what
the vector body gets).

Values are SSA names or constants (strings); each method names its operand kinds: f for
doubles, i for 64-bit integers, m for masks (i1 per lane). No branches, tables or memory:
code that selects between cases computes both and picks with ``select``."""

from __future__ import annotations

import struct


def bits_of(v: float) -> int:
    """A double's bit pattern as an unsigned 64-bit integer."""
    return struct.unpack("<Q", struct.pack("<d", float(v)))[0]


def float_of(b: int) -> float:
    """The double whose bit pattern is ``b`` (taken modulo 2^64)."""
    return struct.unpack("<d", struct.pack("<Q", b & (2 ** 64 - 1)))[0]


class Builder:
    """Instructions of one function at ``lanes`` lanes (1: scalar)."""

    def __init__(self, lanes: int) -> None:
        assert lanes in (1, 2, 4, 8), lanes
        self.lanes = lanes
        vec = (lambda t: f"<{lanes} x {t}>") if lanes > 1 else (lambda t: t)
        self.F, self.I, self.M = vec("double"), vec("i64"), vec("i1")
        self.suffix = f"v{lanes}f64" if lanes > 1 else "f64"
        self.lines: list[str] = []
        self.intrinsics: set[str] = set()
        self._count = 0

    # -- constants -----------------------------------------------------------------
    def f(self, v: float) -> str:
        """A double constant (every lane)."""
        lit = f"0x{bits_of(v):016X}"
        return lit if self.lanes == 1 else f"splat (double {lit})"

    def i(self, v: int) -> str:
        """A 64-bit integer constant (every lane), given signed or unsigned."""
        v &= 2 ** 64 - 1
        if v >= 2 ** 63:
            v -= 2 ** 64
        return str(v) if self.lanes == 1 else f"splat (i64 {v})"

    def m(self, v: bool) -> str:
        lit = "true" if v else "false"
        return lit if self.lanes == 1 else f"splat (i1 {lit})"

    # -- plumbing ------------------------------------------------------------------
    def _ins(self, text: str) -> str:
        self._count += 1
        name = f"%t{self._count}"
        self.lines.append(f"  {name} = {text}")
        return name

    def _intrinsic(self, base: str, args: list[str], ret: str | None = None) -> str:
        name = f"llvm.{base}.{self.suffix}"
        n = len(args)
        self.intrinsics.add(f"declare {ret or self.F} @{name}({', '.join([self.F] * n)})")
        return self._ins(f"call {ret or self.F} @{name}("
                         f"{', '.join(f'{self.F} {a}' for a in args)})")

    # -- doubles -------------------------------------------------------------------
    def add(self, a: str, b: str) -> str:
        return self._ins(f"fadd {self.F} {a}, {b}")

    def sub(self, a: str, b: str) -> str:
        return self._ins(f"fsub {self.F} {a}, {b}")

    def mul(self, a: str, b: str) -> str:
        return self._ins(f"fmul {self.F} {a}, {b}")

    def div(self, a: str, b: str) -> str:
        return self._ins(f"fdiv {self.F} {a}, {b}")

    def neg(self, a: str) -> str:
        return self._ins(f"fneg {self.F} {a}")

    def fma(self, a: str, b: str, c: str) -> str:
        """a·b + c rounded once (a hardware FMA on x86-64 with FMA3; LLVM's correctly
        rounded software FMA elsewhere)."""
        return self._intrinsic("fma", [a, b, c])

    def fabs(self, a: str) -> str:
        return self._intrinsic("fabs", [a])

    def copysign(self, magnitude: str, sign: str) -> str:
        return self._intrinsic("copysign", [magnitude, sign])

    def sqrt(self, a: str) -> str:
        """Correctly rounded square root."""
        return self._intrinsic("sqrt", [a])

    def rint(self, a: str) -> str:
        """Round to the nearest integer, ties to even (one instruction with SSE4.1)."""
        return self._intrinsic("rint", [a])

    def floor(self, a: str) -> str:
        return self._intrinsic("floor", [a])

    def trunc(self, a: str) -> str:
        return self._intrinsic("trunc", [a])

    def fmin(self, a: str, b: str) -> str:
        """IEEE minNum: the other operand where one is nan."""
        return self._intrinsic("minnum", [a, b])

    def fmax(self, a: str, b: str) -> str:
        return self._intrinsic("maxnum", [a, b])

    # -- polynomials ---------------------------------------------------------------
    def horner(self, x: str, coefficients: list[float]) -> str:
        """c0 + c1·x + c2·x² + ... by Horner's rule with FMAs."""
        assert coefficients
        acc = self.f(coefficients[-1])
        for c in reversed(coefficients[:-1]):
            acc = self.fma(acc, x, self.f(c))
        return acc

    def estrin(self, x: str, x2: str, coefficients: list[float]) -> str:
        """c0 + c1·x + c2·x² + ... by Estrin's scheme (x2 = x²): pairs c_2i + c_2i+1·x,
        then pairs of those with x², x⁴, ...: a chain of dependent operations log2 of the
        degree long, where Horner's rule's is the degree long."""
        terms = [self.f(c) for c in coefficients]
        power = x
        while True:
            terms = [self.fma(terms[j + 1], power, terms[j]) if j + 1 < len(terms)
                     else terms[j] for j in range(0, len(terms), 2)]
            if len(terms) == 1:
                return terms[0]
            power = x2 if power == x else self.mul(power, power)

    # -- exact sums ----------------------------------------------------------------
    def two_sum(self, a: str, c: str) -> tuple[str, str]:
        """a + c as (the rounded sum, its exact error), whatever their magnitudes
        (finite)."""
        s = self.add(a, c)
        cc = self.sub(s, a)
        return s, self.add(self.sub(a, self.sub(s, cc)), self.sub(c, cc))

    def fast_two_sum(self, big: str, small: str) -> tuple[str, str]:
        """(s, e) with s + e = big + small exactly, s the rounded sum, where |big| ≥
        |small| (or big = 0)."""
        s = self.add(big, small)
        return s, self.add(self.sub(big, s), small)

    # -- comparisons and choices ---------------------------------------------------
    def below(self, x: str, bound: float) -> str:
        """min(x, bound), where a nan x stays nan (a compare and a select)."""
        c = self.f(bound)
        return self.select(self.fcmp("ogt", x, c), c, x)

    def above(self, x: str, bound: float) -> str:
        """max(x, bound), where a nan x stays nan."""
        c = self.f(bound)
        return self.select(self.fcmp("olt", x, c), c, x)

    def fcmp(self, cond: str, a: str, b: str) -> str:
        """A mask: ``cond`` is an LLVM fcmp condition (olt, oge, uno, one, ...)."""
        return self._ins(f"fcmp {cond} {self.F} {a}, {b}")

    def icmp(self, cond: str, a: str, b: str) -> str:
        """A mask: ``cond`` is an LLVM icmp condition (eq, slt, ugt, ...)."""
        return self._ins(f"icmp {cond} {self.I} {a}, {b}")

    def select(self, mask: str, a: str, b: str) -> str:
        """Doubles: a where the mask is set, else b."""
        return self._ins(f"select {self.M} {mask}, {self.F} {a}, {self.F} {b}")

    def iselect(self, mask: str, a: str, b: str) -> str:
        return self._ins(f"select {self.M} {mask}, {self.I} {a}, {self.I} {b}")

    def and_(self, a: str, b: str) -> str:
        return self._ins(f"and {self.M} {a}, {b}")

    def or_(self, a: str, b: str) -> str:
        return self._ins(f"or {self.M} {a}, {b}")

    def not_(self, a: str) -> str:
        return self._ins(f"xor {self.M} {a}, {self.m(True)}")

    # -- integers and bit patterns -------------------------------------------------
    def bits(self, a: str) -> str:
        """A double's bit pattern as an i64."""
        return self._ins(f"bitcast {self.F} {a} to {self.I}")

    def from_bits(self, a: str) -> str:
        """The double with this bit pattern."""
        return self._ins(f"bitcast {self.I} {a} to {self.F}")

    def _iop(self, op: str, a: str, b: str) -> str:
        return self._ins(f"{op} {self.I} {a}, {b}")

    def iadd(self, a: str, b: str) -> str:
        return self._iop("add", a, b)

    def isub(self, a: str, b: str) -> str:
        return self._iop("sub", a, b)

    def iand(self, a: str, b: str) -> str:
        return self._iop("and", a, b)

    def ior(self, a: str, b: str) -> str:
        return self._iop("or", a, b)

    def ixor(self, a: str, b: str) -> str:
        return self._iop("xor", a, b)

    def shl(self, a: str, b: str) -> str:
        return self._iop("shl", a, b)

    def lshr(self, a: str, b: str) -> str:
        return self._iop("lshr", a, b)

    def ashr(self, a: str, b: str) -> str:
        return self._iop("ashr", a, b)

    def round_to_int(self, a: str) -> tuple[str, str]:
        """(rint(a) as a double, as an i64) for |a| < 2^51, without a float-to-integer
        conversion (AVX2 has no packed one): a + 1.5·2^52 puts the rounded integer in the
        low bits of the sum's bit pattern."""
        magic = 1.5 * 2.0 ** 52
        t = self.add(a, self.f(magic))
        return self.sub(t, self.f(magic)), self.isub(self.bits(t), self.i(bits_of(magic)))

    def int_to_float(self, n: str) -> str:
        """An i64 n with |n| < 2^51 as a double, without an integer-to-float conversion."""
        magic = 1.5 * 2.0 ** 52
        return self.sub(self.from_bits(self.iadd(n, self.i(bits_of(magic)))), self.f(magic))

    def pow2(self, n: str) -> str:
        """2^n for an i64 n in [-1022, 1023], built from its exponent bits."""
        return self.from_bits(self.shl(self.iadd(n, self.i(1023)), self.i(52)))
