"""High-precision real arithmetic and forward-mode dual numbers for the reference
interpreter (``chaincc/reference.py``).

Everything here is written from docs/language.md, independently of the compiler's
operation registry: values are mpmath numbers at ``PRECISION`` bits in a private mpmath
context, and each operation states its own derivative. A ``Dual`` carries a value and a
sparse gradient over the flattened parameters (a parameter a value does not depend on has
no entry, so a partial derivative is never multiplied by a tangent that is structurally
zero: ``x + sqrt(y)`` at y = 0 has ∂/∂x = 1, as reverse mode gives).

IEEE float64 conventions for the rest (docs: "everything else follows IEEE float64"):
nothing raises; a real function outside its domain is NaN (never complex), division by
zero is ±inf (or NaN for 0/0), and, when ``IEEE_RANGE`` holds, each operation's value and
each gradient entry is brought into float64's range as it is produced (beyond the largest
float64 it is ±inf, below half the smallest subnormal it is 0), so ``exp(800)/exp(800)``
is NaN as a float64 kernel computes it, while rounding inside the range is not modelled.
Values keep IEEE's signed zero beside the mpmath number (``Dual.neg``, which mpmath
lacks): ``ceil(-0.5)`` is -0, so ``1/ceil(-0.5)`` is -inf and ``atan2(-0, -1)`` is -π.
Gradients do not carry it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import mpmath
from mpmath.libmp import to_float

# 200 bits (about 60 decimal digits): far beyond float64, so the reference's own rounding
# never shows after rounding to float64 except at ties.
PRECISION = 200
M = mpmath.MPContext()
M.prec = PRECISION

INF = M.inf
NAN = M.nan
ZERO = M.zero
ONE = M.one

IEEE_RANGE = True


# Decisions taken at a near tie: a comparison (where, max, min) of two values, or floor or
# ceil of a value, within TIE_REL (relative) of the jump. At such a point float64 rounding
# may decide either way, so a kernel and the reference may both be right and still differ
# (``floor(3·mean(softmax([x, x, x])))`` is floor(1) exactly, floor(0.999...) in float64).
# Counted here for the differential harness, which reads and resets it.
TIE_REL = mpmath.mpf("1e-12")
NEAR_TIES = 0


# Values (or gradient entries) beyond float64's range, brought to ±inf by ``clamp``:
# derivatives through them are inf, nan or 0 depending on the order of operations.
OVERFLOWS = 0
# and values too small for float64 (below half its smallest subnormal), brought to 0
UNDERFLOWS = 0

# Periodic functions of arguments this large depend on the argument's last float64 bits
# (its rounding error is beyond 2^-32 in absolute terms, and a derivative multiplies
# it): counted, as near ties are.
ILL_CONDITIONED = 0
_PERIODIC = frozenset({"sin", "cos", "tan"})
# where a function's domain ends (for |x|, but x itself for acosh and log1p): a value
# rounded onto the edge or across it decides between a number, ±inf and nan
_EDGE_OF_DOMAIN = {"asin": ONE, "acos": ONE, "atanh": ONE, "acosh": ONE, "log1p": -ONE,
                   # and 0, where the derivative is infinite (a tiny value rounded to 0)
                   "sqrt": ZERO, "cbrt": ZERO, "log": ZERO, "ln": ZERO, "log2": ZERO,
                   "log10": ZERO}
_LARGE = mpmath.mpf(2) ** 20


def reset_counts() -> None:
    """Zero NEAR_TIES, OVERFLOWS and ILL_CONDITIONED (read after an evaluation)."""
    global NEAR_TIES, OVERFLOWS, UNDERFLOWS, ILL_CONDITIONED
    NEAR_TIES = OVERFLOWS = UNDERFLOWS = ILL_CONDITIONED = 0


def save_counts() -> tuple[int, int, int, int]:
    """NEAR_TIES, OVERFLOWS, UNDERFLOWS and ILL_CONDITIONED, for ``restore_counts``."""
    return NEAR_TIES, OVERFLOWS, UNDERFLOWS, ILL_CONDITIONED


def restore_counts(counts: tuple[int, int, int, int]) -> None:
    global NEAR_TIES, OVERFLOWS, UNDERFLOWS, ILL_CONDITIONED
    NEAR_TIES, OVERFLOWS, UNDERFLOWS, ILL_CONDITIONED = counts


def note_decision(a: mpmath.mpf, b: mpmath.mpf) -> None:
    """Count a comparison of ``a`` with ``b`` that falls within TIE_REL of a tie."""
    global NEAR_TIES
    if finite(a) and finite(b) and abs(a - b) <= TIE_REL * max(abs(a), abs(b), ONE):
        NEAR_TIES += 1


def mpf(x: float | int | str) -> mpmath.mpf:
    return M.mpf(x)


def as_int(x: mpmath.mpf) -> int | None:
    """``x`` as a Python integer if it is one (finite, no fraction), else None."""
    m = getattr(x, "_mpf_", None)
    if m is None or (not m[1] and m[2]):          # not an mpf; ±inf or nan
        return None
    sign, man, exp, _ = m
    if exp < 0:                                   # the mantissa is odd: a fraction
        return None
    k = man << exp
    return -k if sign else k


def finite(x: mpmath.mpf) -> bool:
    return bool(M.isfinite(x))


def isnan(x: mpmath.mpf) -> bool:
    return bool(M.isnan(x))


def to_f64(x: mpmath.mpf) -> float:
    """The float64 nearest ``x`` (ties to even; beyond the range ±inf)."""
    if isnan(x):
        return math.nan
    return to_float(x._mpf_, rnd="n")


# The binary exponent (bits before the point) of a finite nonzero mpf is exp + bc in its
# (sign, mantissa, exp, bc) tuple: within these bounds a value is well inside float64's
# range, so the common case needs no conversion.
_SAFE_EXPONENT = 1000


def is_zero(x: mpmath.mpf) -> bool:
    """``x == 0``, read from the mpf's representation (a zero is the one with mantissa
    and exponent 0; ±inf and nan have mantissa 0 and a special exponent)."""
    m = getattr(x, "_mpf_", None)
    if m is None:
        return x == 0
    return not m[1] and not m[2]


def clamp(x: mpmath.mpf) -> mpmath.mpf:
    """``x`` brought into float64's range: ±inf beyond it, 0 below its smallest step."""
    m = getattr(x, "_mpf_", None)
    if m is not None and m[1] and -_SAFE_EXPONENT < m[2] + m[3] < _SAFE_EXPONENT:
        return x
    if not IEEE_RANGE or x == 0 or not finite(x):
        return x
    f = to_float(x._mpf_, rnd="n")
    if math.isinf(f):
        global OVERFLOWS
        OVERFLOWS += 1
        return INF if f > 0 else -INF
    if f == 0.0:
        global UNDERFLOWS
        UNDERFLOWS += 1
        return ZERO
    return x


def _sign(x: mpmath.mpf) -> int:
    return 1 if x > 0 else -1 if x < 0 else 0


def _float_fn(fn: Callable[..., float], *args: mpmath.mpf) -> mpmath.mpf:
    """A function at non-finite arguments, where its IEEE value is a special number
    that float64 states exactly enough (±inf, 0, ±1, a multiple of π/4)."""
    try:
        return M.mpf(fn(*(to_f64(a) for a in args)))
    except (ValueError, OverflowError):
        return NAN


# -- real arithmetic on mpf (IEEE specials, never raises, never complex) -----------------
def add(a: mpmath.mpf, b: mpmath.mpf) -> mpmath.mpf:
    return a + b


def sub(a: mpmath.mpf, b: mpmath.mpf) -> mpmath.mpf:
    return a - b


def mul(a: mpmath.mpf, b: mpmath.mpf) -> mpmath.mpf:
    return a * b


def div(a: mpmath.mpf, b: mpmath.mpf) -> mpmath.mpf:
    if isnan(a) or isnan(b):
        return NAN
    if b == 0:
        return NAN if a == 0 else INF * _sign(a)
    if not finite(a) and not finite(b):
        return NAN
    return a / b


def _is_int(x: mpmath.mpf) -> bool:
    return finite(x) and x == M.floor(x)


def power(a: mpmath.mpf, b: mpmath.mpf) -> mpmath.mpf:
    """C99 ``pow(a, b)`` over the reals."""
    if b == 0 or a == 1:
        return ONE
    if isnan(a) or isnan(b):
        return NAN
    if not finite(a) or not finite(b):
        return _float_fn(math.pow, a, b)
    if a == 0:
        if b < 0:
            return INF
        return ZERO
    if a < 0:
        if not _is_int(b):
            return NAN
        mag = M.power(-a, b)
        return -mag if int(b) % 2 else mag
    return M.power(a, b)


def sqrt(x: mpmath.mpf) -> mpmath.mpf:
    if isnan(x) or x < 0:
        return NAN
    return M.sqrt(x)


def log(x: mpmath.mpf) -> mpmath.mpf:
    if isnan(x) or x < 0:
        return NAN
    if x == 0:
        return -INF
    return M.log(x)


def exp(x: mpmath.mpf) -> mpmath.mpf:
    if not finite(x):
        return _float_fn(math.exp, x) if not isnan(x) else NAN
    return M.exp(x)


def sin(x: mpmath.mpf) -> mpmath.mpf:
    return M.sin(x) if finite(x) else NAN


def cos(x: mpmath.mpf) -> mpmath.mpf:
    return M.cos(x) if finite(x) else NAN


def sign(x: mpmath.mpf) -> mpmath.mpf:
    if isnan(x):
        return NAN
    return M.mpf(_sign(x))


def erf(x: mpmath.mpf) -> mpmath.mpf:
    return M.erf(x) if finite(x) else _float_fn(math.erf, x)


def sigmoid(x: mpmath.mpf) -> mpmath.mpf:
    return div(ONE, add(ONE, exp(-x)))


def _unary_value(name: str, x: mpmath.mpf) -> mpmath.mpf:
    """The value of a one-argument builtin at ``x``."""
    if name in _SPECIAL_AWARE:
        return _SPECIAL_AWARE[name](x)
    if isnan(x):
        return NAN
    if not finite(x):
        return _float_fn(_FLOAT_FALLBACK[name], x)
    try:
        return _FINITE[name](x)
    except (OverflowError, ValueError, ZeroDivisionError):
        # mpmath gives up only at extreme arguments, where the float64 value is exact
        return _float_fn(_FLOAT_FALLBACK[name], x)


def _asin(x):
    return NAN if abs(x) > 1 else M.asin(x)


def _acos(x):
    return NAN if abs(x) > 1 else M.acos(x)


def _acosh(x):
    return NAN if x < 1 else M.acosh(x)


def _atanh(x):
    if abs(x) > 1:
        return NAN
    if abs(x) == 1:
        return INF * _sign(x)
    return M.atanh(x)


def _log1p(x):
    if x < -1:
        return NAN
    if x == -1:
        return -INF
    return M.log1p(x)


def _log_base(base: int) -> Callable[[mpmath.mpf], mpmath.mpf]:
    def f(x):
        v = log(x)
        return v if not finite(v) else v / M.log(base)
    return f


def _cbrt(x):
    return _sign(x) * M.cbrt(abs(x))


def _lgamma(x):
    if x <= 0 and _is_int(x):
        return INF
    if x > 0:
        return M.loggamma(x)
    return M.re(M.loggamma(x))          # Re log Γ(x) = log |Γ(x)|


def _relu(x):
    return x if x > 0 else ZERO           # NaN > 0 is false: relu(nan) = 0


def _softplus(x):
    if isnan(x):
        return NAN
    if x == INF:
        return INF
    if x == -INF:
        return ZERO
    return M.log1p(M.exp(x))


def _gelu(x):
    if isnan(x):
        return NAN
    if not finite(x):
        return INF if x > 0 else NAN         # -inf · Φ(-inf) = -inf · 0
    return x / 2 * (1 + M.erf(x / M.sqrt(2)))


_FINITE: dict[str, Callable[[mpmath.mpf], mpmath.mpf]] = {
    "sin": M.sin, "cos": M.cos, "tan": M.tan, "asin": _asin, "acos": _acos,
    "atan": M.atan, "sinh": M.sinh, "cosh": M.cosh, "tanh": M.tanh, "asinh": M.asinh,
    "acosh": _acosh, "atanh": _atanh, "expm1": M.expm1, "log1p": _log1p,
    "log2": _log_base(2), "log10": _log_base(10), "cbrt": _cbrt, "abs": abs,
    "floor": M.floor, "ceil": M.ceil, "erfc": M.erfc, "lgamma": _lgamma,
}

_FLOAT_FALLBACK: dict[str, Callable[[float], float]] = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin,
    "acos": math.acos, "atan": math.atan, "sinh": math.sinh, "cosh": math.cosh,
    "tanh": math.tanh, "asinh": math.asinh, "acosh": math.acosh, "atanh": math.atanh,
    "expm1": math.expm1, "log1p": math.log1p, "log2": math.log2, "log10": math.log10,
    "cbrt": lambda v: math.copysign(abs(v) ** (1 / 3), v) if math.isfinite(v) else v,
    "abs": abs, "floor": lambda v: v if math.isinf(v) else math.floor(v),
    "ceil": lambda v: v if math.isinf(v) else math.ceil(v), "erfc": math.erfc,
    "lgamma": math.lgamma,
}

_SPECIAL_AWARE: dict[str, Callable[[mpmath.mpf], mpmath.mpf]] = {
    "exp": exp, "log": log, "ln": log, "sqrt": sqrt, "sign": sign, "erf": erf,
    "relu": _relu, "sigmoid": sigmoid, "softplus": _softplus, "gelu": _gelu,
}

UNARY_NAMES = frozenset(_FINITE) | frozenset(_SPECIAL_AWARE)

# f(-0) = -0 (odd functions, and the rounding ones: floor(-0) is -0)
_KEEP_ZERO_SIGN = frozenset({"sin", "tan", "asin", "atan", "sinh", "tanh", "asinh",
                             "atanh", "expm1", "log1p", "cbrt", "erf", "sqrt", "floor",
                             "ceil", "sign", "gelu"})


# -- derivatives of the one-argument builtins: f'(x) from x and t = f(x) -------------------
# None: piecewise constant (no derivative at all, not even 0 times a tangent).
def _inv(x):
    return div(ONE, x)


def _phi(x):                                  # standard normal density
    return exp(-x * x / 2) / M.sqrt(2 * M.pi)


_DERIV: dict[str, Callable[[mpmath.mpf, mpmath.mpf], mpmath.mpf] | None] = {
    "sin": lambda x, t: cos(x),
    "cos": lambda x, t: -sin(x),
    "tan": lambda x, t: 1 + t * t,
    "asin": lambda x, t: _inv(sqrt(1 - x * x)),
    "acos": lambda x, t: -_inv(sqrt(1 - x * x)),
    "atan": lambda x, t: _inv(1 + x * x),
    "sinh": lambda x, t: _unary_value("cosh", x),
    "cosh": lambda x, t: _unary_value("sinh", x),
    "tanh": lambda x, t: 1 - t * t,
    "asinh": lambda x, t: _inv(sqrt(x * x + 1)),
    "acosh": lambda x, t: _inv(sqrt(x * x - 1)),
    "atanh": lambda x, t: _inv(1 - x * x),
    "exp": lambda x, t: exp(x),
    "expm1": lambda x, t: exp(x),
    "log": lambda x, t: _inv(x),
    "ln": lambda x, t: _inv(x),
    "log1p": lambda x, t: _inv(1 + x),
    "log2": lambda x, t: _inv(x * M.log(2)),
    "log10": lambda x, t: _inv(x * M.log(10)),
    "sqrt": lambda x, t: _inv(2 * sqrt(x)),
    "cbrt": lambda x, t: _inv(3 * t * t),
    "abs": lambda x, t: sign(x),                       # abs'(0) = 0
    "sign": None, "floor": None, "ceil": None,
    "erf": lambda x, t: 2 / M.sqrt(M.pi) * exp(-x * x),
    "erfc": lambda x, t: -2 / M.sqrt(M.pi) * exp(-x * x),
    "relu": lambda x, t: ONE if x > 0 else ZERO,       # multiplies: 0·nan is nan
    "sigmoid": lambda x, t: t * (1 - t),
    "softplus": lambda x, t: sigmoid(x),
    "gelu": lambda x, t: (1 + erf(x / M.sqrt(2))) / 2 + x * _phi(x),
    "lgamma": lambda x, t: M.digamma(x) if finite(x) and not (x <= 0 and _is_int(x))
    else (NAN if not (x == INF) else INF),
}
assert set(_DERIV) == UNARY_NAMES


# -- dual numbers ---------------------------------------------------------------------
Grad = dict[int, mpmath.mpf]


# How many Duals have been made (the interpreter bounds the work of one evaluation by it).
CREATED = 0


class Dual:
    """A value and its sparse gradient over the flattened parameters; ``neg`` marks a
    zero value as IEEE -0. Never changed once made: Duals share numbers and gradient
    dicts."""

    __slots__ = ("v", "d", "neg")

    def __init__(self, v: mpmath.mpf, d: Grad | None = None, neg: bool = False) -> None:
        global CREATED
        CREATED += 1
        self.v = v
        self.d: Grad = d if d is not None else {}
        self.neg = bool(neg) and v == 0

    def __repr__(self) -> str:
        grad = ", ".join(f"{k}: {M.nstr(g, 12)}" for k, g in sorted(self.d.items()))
        return f"Dual({M.nstr(self.v, 20)}, {{{grad}}})"

    def key(self) -> tuple:
        """Exact identity of the value and gradient (for memoising pure calls)."""
        return (self.v, self.neg, tuple(sorted(self.d.items())))

    # operators, so that NumPy object arrays of duals can use them
    def __add__(self, o: Dual) -> Dual:
        return binary("+", self, lift(o))

    __radd__ = __add__

    def __mul__(self, o: Dual) -> Dual:
        return binary("*", self, lift(o))

    __rmul__ = __mul__


def lift(x: Dual | float | int) -> Dual:
    return x if isinstance(x, Dual) else Dual(M.mpf(x))


def const(v: mpmath.mpf) -> Dual:
    return Dual(clamp(v))


def negative(a: Dual) -> bool:
    """The sign bit of ``a``'s value: -0 and negative numbers."""
    m = getattr(a.v, "_mpf_", None)
    if m is None:
        return a.neg if a.v == 0 else bool(a.v < 0)
    if not m[1] and not m[2]:
        return a.neg                    # zero
    return m[0] == 1                    # a negative number or -inf (nan has sign 0)


def from_float(f: float, d: Grad | None = None) -> Dual:
    """A float64 as a dual, its zero's sign kept."""
    return Dual(M.mpf(f), d, f == 0 and math.copysign(1.0, f) < 0)


def as_float(a: Dual) -> float:
    """The float64 nearest ``a``'s value, -0.0 for a negative zero."""
    f = to_f64(a.v)
    return -0.0 if f == 0 and (a.neg if a.v == 0 else a.v < 0) else f


Partial = tuple[Dual, Callable[[], mpmath.mpf]]


def combine(v: mpmath.mpf, parts: list[Partial], neg: bool = False) -> Dual:
    """The dual of an operation of value ``v`` with partial derivative ``p()`` in each
    argument: d = Σ p·d(arg). A partial is computed only for an argument that depends on
    some parameter. ``neg``: the value is -0 if it is exactly 0 (a value too small for
    float64 becomes a zero of its own sign)."""
    d: Grad = {}
    for arg, p in parts:
        if not arg.d:
            continue
        pv = p()
        for k, g in arg.d.items():
            term = g if pv is ONE else pv * g        # 1·g is g, exactly
            d[k] = d[k] + term if k in d else term
    c = clamp(v)
    if is_zero(c) and not is_zero(v):
        neg = bool(v < 0)
    return Dual(c, {k: clamp(g) for k, g in d.items()}, neg)


def neg(a: Dual) -> Dual:
    return Dual(-a.v, {k: -g for k, g in a.d.items()}, not negative(a))


def _odd_integer(y: mpmath.mpf) -> bool:
    return _is_int(y) and int(y) % 2 == 1


def _result(v: mpmath.mpf, d: Grad, neg: bool) -> Dual:
    """The dual of value ``v`` and tangents ``d`` (entries already in float64's range),
    as ``combine`` makes it."""
    c = clamp(v)
    if is_zero(c) and not is_zero(v):
        neg = bool(v < 0)
    return Dual(c, d, neg)


def _sum(a: Dual, b: Dual, op: str) -> Dual:
    """``a + b`` or ``a - b``: the tangents are added (subtracted), each sum brought into
    float64's range; a tangent only one side has is the same number (as combine, whose
    partials ±1 copy it)."""
    da, db = a.d, b.d
    if op == "+":       # -0 + -0 is -0; every other exact zero sum is +0
        v, neg = add(a.v, b.v), negative(a) and negative(b)
    else:
        v, neg = sub(a.v, b.v), negative(a) and not negative(b)
    if not db:
        d = da
    elif not da and op == "+":
        d = db
    else:
        d = dict(da)
        for k, g in db.items():
            if op == "-":
                g = -g
            d[k] = clamp(d[k] + g) if k in d else g
    return _result(v, d, neg)


def _product(a: Dual, b: Dual) -> Dual:
    """``a * b``: d = y·da + x·db. A factor that is the constant 0 makes the other's
    partial zero as a formula, before any value is known (docs/language.md): that
    contribution is dropped, not 0 times a tangent that may meet a nan partial further
    on."""
    x, y = a.v, b.v
    d: Grad = {}
    if a.d and (b.d or not is_zero(y)):
        for k, g in a.d.items():
            d[k] = y if g is ONE else y * g          # y·1 is y, exactly
    if b.d and (a.d or not is_zero(x)):
        for k, g in b.d.items():
            term = x if g is ONE else x * g
            d[k] = d[k] + term if k in d else term
    return _result(mul(x, y), {k: clamp(g) for k, g in d.items()},
                   negative(a) != negative(b))


def binary(op: str, a: Dual, b: Dual) -> Dual:
    """``a op b`` for op in ``+ - * / ^``."""
    if op == "+" or op == "-":
        return _sum(a, b, op)
    if op == "*":
        return _product(a, b)
    x, y = a.v, b.v
    sign = negative(a) != negative(b)
    if op == "/":
        t = div(x, y)
        if y == 0 and x != 0 and not isnan(x):
            t = -INF if sign else INF        # x/±0: the sign of x times the zero's
        return combine(t, [(a, lambda: div(ONE, y)),
                           (b, lambda: div(-x, mul(y, y)))], sign)
    assert op == "^", op
    if finite(x) and finite(y) and not _is_int(y):
        note_decision(x, ZERO)      # a base rounded to 0 or across it: 0 or nan
    t = power(x, y)
    if x == 0 and a.neg and _odd_integer(y) and y < 0:
        t = -INF                             # pow(-0, odd negative) = -inf
    return combine(t, [(a, lambda: mul(y, power(x, sub(y, ONE)))),
                       (b, lambda: mul(t, log(x)))],
                   x == 0 and a.neg and _odd_integer(y))


def unary(name: str, a: Dual) -> Dual:
    """A one-argument builtin."""
    x = a.v
    t = _unary_value(name, x)
    rule = _DERIV[name]
    # the sign of an exact zero result: odd functions keep -0, and ceil(-0.5) is -0
    neg = is_zero(t) and ((name in _KEEP_ZERO_SIGN and negative(a))
                          or (name == "ceil" and negative(a)))
    if name in ("floor", "ceil") and finite(x):
        note_decision(x, M.nint(x))
    if name in _EDGE_OF_DOMAIN and finite(x):    # atanh(1) is inf, atanh(1 + 1e-32) nan
        note_decision(x if name in ("acosh", "log1p") else abs(x), _EDGE_OF_DOMAIN[name])
    if name in _PERIODIC and finite(x) and abs(x) > _LARGE:
        global ILL_CONDITIONED
        ILL_CONDITIONED += 1
    if rule is None:
        return combine(t, [], neg)
    return combine(t, [(a, lambda: rule(x, t))], neg)


def atan2(a: Dual, b: Dual) -> Dual:
    y, x = a.v, b.v
    neg = False
    if isnan(y) or isnan(x):
        t = NAN
    elif finite(y) and finite(x) and y != 0 and x != 0:
        t = M.atan2(y, x)
    else:                       # a zero or an infinity: float64 states the result exactly
        f = math.atan2(as_float(a), as_float(b))
        t, neg = (M.pi if f == math.pi else -M.pi if f == -math.pi else M.mpf(f)), \
            f == 0 and math.copysign(1.0, f) < 0
    r = lambda: add(mul(x, x), mul(y, y))   # noqa: E731
    return combine(t, [(a, lambda: div(x, r())), (b, lambda: div(-y, r()))], neg)


def hypot(a: Dual, b: Dual) -> Dual:
    x, y = a.v, b.v
    if M.isinf(x) or M.isinf(y):
        t = INF
    elif isnan(x) or isnan(y):
        t = NAN
    else:
        t = M.hypot(x, y)
    return combine(t, [(a, lambda: div(x, t)), (b, lambda: div(y, t))])


def pick_extremum(args: list[Dual], largest: bool) -> Dual:
    """max/min: left to right, ``acc`` stays unless the next argument beats it (a tie
    or a NaN never beats it), so the first argument attaining the extremum gets the whole
    derivative. Written as ``acc = acc >= a ? acc : a`` (``<=`` for min): a NaN
    accumulator loses to the next argument."""
    acc = args[0]
    for a in args[1:]:
        note_decision(acc.v, a.v)
        keep = acc.v >= a.v if largest else acc.v <= a.v
        acc = acc if keep else a
    return acc


def _shifted(vs: list[mpmath.mpf]) -> tuple[mpmath.mpf, list[mpmath.mpf], mpmath.mpf]:
    """(m, exp(v_i - m), Σ exp(v_j - m)) for the largest finite v = m: the weights
    exp(v_i − logsumexp) = exp(v_i − m)/Σ stay exact in relative terms however large the
    v are (logsumexp itself would lose log 2 next to 1e308 even at 200 bits)."""
    m = max(vs)
    ws = [M.exp(v - m) if v != -INF else ZERO for v in vs]
    return m, ws, M.fsum(ws)


def logsumexp(xs: list[Dual]) -> Dual:
    """log Σ exp(x_i) in high precision; ∂/∂x_i = exp(x_i − value)."""
    vs = [x.v for x in xs]
    if any(isnan(v) for v in vs):
        t = NAN
        weights = [NAN] * len(vs)
    elif any(v == INF for v in vs):
        t = INF
        weights = [NAN] * len(vs)
    elif all(v == -INF for v in vs):
        t = -INF
        weights = [NAN] * len(vs)
    else:
        m, ws, total = _shifted(vs)
        t = m + M.log(total)
        weights = [w / total for w in ws]
    return combine(t, [(x, lambda w=w: w) for x, w in zip(xs, weights)])


def softmax(xs: list[Dual]) -> list[Dual]:
    """exp(x_i − logsumexp(x)); ∂s_i/∂x_j = s_i (δ_ij − s_j)."""
    vs = [x.v for x in xs]
    if any(isnan(v) or v == INF for v in vs) or all(v == -INF for v in vs):
        s = [NAN] * len(vs)
    else:
        _, ws, total = _shifted(vs)
        s = [w / total for w in ws]
    out = []
    for i in range(len(xs)):
        parts = [(xs[j], (lambda i=i, j=j: s[i] * ((1 if i == j else 0) - s[j])))
                 for j in range(len(xs))]
        out.append(combine(s[i], parts))
    return out
