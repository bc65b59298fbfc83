"""One definition of every operation.

Each entry of ``OPS`` states once, for one operation: its language name(s) and arity, its
SymPy class, its derivative rule, what a kernel computes (one libm call, or a formula in
the primitives of a ``Machine``), whether its partials stay finite, and its spellings for
``explain`` (ASCII and Unicode) and LaTeX. Everything else reads this table:

- ``builtins.py`` (the language's names), ``rules.py`` (the derivative table),
- ``evaluate.py`` and constant folding (the float64 meaning: ``Op.f64``),
- the printers (C, CUDA C, Numba CPU and CUDA), the LLVM emitter and the C backend's
  lists of libm calls, and ``mathprint.py`` (explain, LaTeX, graph).

A formula is written once, as a function of a ``Machine``: the float64 machine here
computes it (libm through ctypes, IEEE arithmetic), the printers' machine writes it as
source text and the LLVM machine as instructions, so a folded constant has the bits the
kernels compute, by construction. Adding a builtin is one entry here (see
docs/adding-a-builtin.md).

The Program's own arithmetic (``+ - * / ^``, ``where``) is structural: ``power`` below is
``^`` for every writer and for folding; sums and products are written by each writer in
argument order, and evaluate.py computes them in that order; arith.py builds and folds
them (IEEE, no rewriting at special points).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import sympy as sp
from sympy.codegen.cfunctions import expm1, hypot, log1p, log2, log10

from . import libm
from .functions import (
    Cbrt,
    Digamma,
    Gelu,
    Lgamma,
    LogSumExp,
    Maximum,
    Minimum,
    Relu,
    Sigmoid,
    Softplus,
    Where,
    as_float,
    from_float,
    relation,
)

S = sp.Symbol
half = sp.Rational(1, 2)
SQRT2 = math.sqrt(2.0)


class Machine(Protocol):
    """The primitives a formula is written in. Values are whatever the machine computes
    with: floats, source text, SSA names."""

    def num(self, v: float) -> Any: ...
    def call(self, name: str, *args: Any) -> Any: ...          # a libm function
    def add(self, a: Any, b: Any) -> Any: ...
    def sub(self, a: Any, b: Any) -> Any: ...
    def mul(self, a: Any, b: Any) -> Any: ...
    def div(self, a: Any, b: Any) -> Any: ...
    def neg(self, a: Any) -> Any: ...
    def cmp(self, rel: str, a: Any, b: Any) -> Any: ...        # rel: < <= > >=
    def select(self, c: Any, a: Any, b: Any) -> Any: ...


class Float64:
    """The machine that computes: IEEE float64, the elementary functions the kernels
    call (chaincc's own, backends/vecmath, where it has them; else libm's, through
    ctypes); nothing raises."""

    def num(self, v: float) -> float:
        return float(v)

    def call(self, name: str, *args: float) -> float:
        from .backends import vecmath
        if name in vecmath.FUNCTIONS:
            from .backends.vecmath import library
            return float(library.functions()[name](*(float(a) for a in args)))
        return libm.call(name, *args)

    def add(self, a: float, b: float) -> float:
        return a + b

    def sub(self, a: float, b: float) -> float:
        return a - b

    def mul(self, a: float, b: float) -> float:
        return a * b

    def div(self, a: float, b: float) -> float:
        return libm.divide(a, b)

    def neg(self, a: float) -> float:
        return -a

    def cmp(self, rel: str, a: float, b: float) -> bool:
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[rel]

    def select(self, c: bool, a: float, b: float) -> float:
        return a if c else b


F64 = Float64()


class Libm64(Float64):
    """Float64 with the C library's functions throughout: what the generated C, the
    Numba kernels and ``math="libm"`` compute."""

    def call(self, name: str, *args: float) -> float:
        return libm.call(name, *args)


LIBM64 = Libm64()


# -- formulas (each op that is not one libm call) -----------------------------------------
def _relu(m: Machine, x: Any) -> Any:
    z = m.num(0.0)
    return m.select(m.cmp(">", x, z), x, z)


def _sign(m: Machine, x: Any) -> Any:
    z = m.num(0.0)
    return m.select(m.cmp(">", x, z), m.num(1.0),
                    m.select(m.cmp("<", x, z), m.num(-1.0), m.mul(x, z)))


def _sigmoid(m: Machine, x: Any) -> Any:
    one = m.num(1.0)
    return m.div(one, m.add(one, m.call("exp", m.neg(x))))


def _softplus(m: Machine, x: Any) -> Any:
    return m.add(_relu(m, x), m.call("log1p", m.call("exp", m.neg(m.call("fabs", x)))))


def _gelu(m: Machine, x: Any) -> Any:
    return m.mul(m.mul(x, m.num(0.5)),
                 m.add(m.num(1.0), m.call("erf", m.div(x, m.num(SQRT2)))))


def _extremum(rel: str) -> Callable[..., Any]:
    # acc = acc >= a ? acc : a, left to right: ties go to the first, a nan loses every
    # comparison (so max(nan, 1) is 1 and max(1, nan) is nan)
    def f(m: Machine, *xs: Any) -> Any:
        acc = xs[0]
        for a in xs[1:]:
            acc = m.select(m.cmp(rel, acc, a), acc, a)
        return acc
    return f


def _logsumexp(m: Machine, top: Any, *xs: Any) -> Any:
    # shifted by the largest x where it is finite, by 0 where it is ±inf (inf - inf would
    # be nan: logsumexp([inf, 1]) is inf and logsumexp([-inf, -inf]) is -inf)
    shift = m.select(m.cmp("<", m.call("fabs", top), m.num(math.inf)), top, m.num(0.0))
    total = None
    for x in xs:
        e = m.call("exp", m.sub(x, shift))
        total = e if total is None else m.add(total, e)
    return m.add(shift, m.call("log", total))


def power(m: Machine, b: Any, p: sp.Basic, pv: Any) -> Any:
    """``b ^ p`` as every backend computes it (``p`` the Program's exponent, ``pv`` its
    value on the machine): small integer powers by repeated multiplication, ±1/2 by sqrt,
    anything else by libm pow."""
    if p.is_Integer and 0 < abs(p) <= SMALL_POWER:
        acc = b
        for _ in range(abs(int(p)) - 1):
            acc = m.mul(acc, b)
        return acc if p > 0 else m.div(m.num(1.0), acc)
    # + 0.0: pow(-0, ±1/2) is +0 and +inf, where sqrt(-0) is -0
    if p == half:
        return m.add(m.call("sqrt", b), m.num(0.0))
    if p == -half:
        return m.div(m.num(1.0), m.add(m.call("sqrt", b), m.num(0.0)))
    return m.call("pow", b, pv)


# Integer powers up to this magnitude are emitted as repeated multiplication.
SMALL_POWER = 8


# -- derivative rules: (args, t, a) -> the contribution to each argument (None: none) ------
Rule = Callable[[tuple, sp.Expr, sp.Expr], tuple]


def _d(f: Callable[[sp.Expr, sp.Expr, sp.Expr], sp.Expr]) -> Rule:
    """The rule of a one-argument op from ``f(x, t, a)``: x's contribution, where t is the
    op's value and a its adjoint."""
    return lambda args, t, a: (f(args[0], t, a),)


def _zero(args: tuple, t: sp.Expr, a: sp.Expr) -> tuple:
    return (None,) * len(args)                    # piecewise constant: derivative 0


def _atan2(args: tuple, t: sp.Expr, a: sp.Expr) -> tuple:
    y, x = args
    r = x ** 2 + y ** 2
    return (a * x / r, -a * y / r)


def _hypot(args: tuple, t: sp.Expr, a: sp.Expr) -> tuple:
    return tuple(a * x / t for x in args)


def _logsumexp_rule(args: tuple, t: sp.Expr, a: sp.Expr) -> tuple:
    # the softmax weights exp(x - m)/Σ exp(xj - m), exact in relative terms however large
    # the x are (exp(x - t) would round t's own log Σ away: weights 1, 1 for [1e17, 1e17]);
    # nothing goes to the shift m, which only keeps exp from overflowing
    top, xs = args[0], args[1:]
    # unevaluated: SymPy would split exp(844464.6 - m) into 2e366746·exp(-m), inf·0
    es = [sp.exp(x - top, evaluate=False) for x in xs]
    inv = 1 / sp.Add(*es)
    return (None, *(a * e * inv for e in es))


def _gelu_rule(x: sp.Expr, t: sp.Expr, a: sp.Expr) -> sp.Expr:
    return a * (half * (1 + sp.erf(x / sp.sqrt(2)))
                + x * sp.exp(-x ** 2 / 2) / sp.sqrt(2 * sp.pi))


def digamma(x: sp.Expr) -> sp.Expr:
    """ψ(x) in operations every backend has (C, CUDA and Numba have no digamma): for
    x < 1/2 the reflection ψ(1 - x) - π/tan(πx), with πx reduced to [-π/2, π/2] first;
    ψ(z) = ψ(z + 10) - Σ 1/(z + k), and ψ(y) for y ≥ 10 by its asymptotic series to the
    y⁻¹⁴ term (truncation below 1e-17). Error below 2e-15·max(1, |ψ|) (measured against
    mpmath). ``where`` selects, so the branch not taken costs time, never a value."""
    small = relation(sp.Lt, x, half)
    z = Where(small, 1 - x, x)
    y = z + 10
    u = 1 / (y * y)
    series = (sp.log(y) - 1 / (2 * y) - u * (sp.Rational(1, 12) - u * (
        sp.Rational(1, 120) - u * (sp.Rational(1, 252) - u * (sp.Rational(1, 240) - u * (
            sp.Rational(1, 132) - u * (sp.Rational(691, 32760) - u / 12)))))))
    psi = series - sp.Add(*(1 / (z + k) for k in range(10)))
    # tan(πx) = tan(πr) with |r| ≤ 1/2, r exact; 1/4 where unused (no 1/0 computed)
    r = Where(small, x - sp.floor(x + half), sp.Rational(1, 4))
    return Where(small, psi - sp.pi / sp.tan(sp.pi * r), psi)


# -- the table ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Op:
    names: tuple[str, ...]                 # language names (the first one is canonical)
    cls: type                              # the SymPy class of its statements
    rule: Rule | None                      # derivative rule (None: structural, rules.py)
    libm: str | None = None                # kernels compute it as this one libm call ...
    formula: Callable[..., Any] | None = None   # ... or as this formula
    arity: int | None = 1                  # None: any number of arguments (at least 1)
    unicode: str | None = None             # explain's Unicode name (σ), if not the ASCII
    latex: str | None = None               # LaTeX operator name, where SymPy has none
    expand: Callable[..., sp.Expr] | None = None   # or: written out in other ops when
    #                                        emitted (the Builder), shown whole by explain
    builtin: bool = True                   # a name of the language (else internal)

    @property
    def name(self) -> str:
        return self.names[0]

    def run(self, m: Machine, *args: Any) -> Any:
        """The op on machine ``m``: its libm call or its formula."""
        assert self.expand is None, f"{self.name} is expanded before it is run"
        if self.libm is not None:
            return m.call(self.libm, *args)
        assert self.formula is not None, f"{self.name} has no float64 meaning"
        return self.formula(m, *args)

    def libm64(self, *args: float) -> float:
        """What a kernel calling the C library computes (``Libm64``), bit for bit; for an
        op that is not expanded."""
        assert self.expand is None, f"{self.name} is expanded before it is run"
        return float(self.run(LIBM64, *(float(a) for a in args)))

    def f64(self, *args: float) -> float:
        """What a kernel computes, bit for bit."""
        if self.expand is not None:
            # evaluate.py reads this table, so it is imported here, when first needed
            from .evaluate import evaluate
            xs = sp.symbols(f"_x0:{len(args)}")
            return evaluate(self.expand(*xs), dict(zip(xs, map(float, args))))
        return float(self.run(F64, *(float(a) for a in args)))


def _libm(names: str, cls: type, rule: Rule, fn: str | None = None, **kw: Any) -> Op:
    names_t = tuple(names.split())
    return Op(names_t, cls, rule, libm=fn or names_t[0], arity=libm.arity(fn or names_t[0]),
              **kw)


_SQRT_PI_2 = 2 / sp.sqrt(sp.pi)

OPS: tuple[Op, ...] = (
    _libm("sin", sp.sin, _d(lambda x, t, a: a * sp.cos(x))),
    _libm("cos", sp.cos, _d(lambda x, t, a: -a * sp.sin(x))),
    _libm("tan", sp.tan, _d(lambda x, t, a: a * (1 + t ** 2))),
    _libm("asin", sp.asin, _d(lambda x, t, a: a * (1 - x ** 2) ** -half)),
    _libm("acos", sp.acos, _d(lambda x, t, a: -a * (1 - x ** 2) ** -half)),
    _libm("atan", sp.atan, _d(lambda x, t, a: a / (1 + x ** 2))),
    _libm("sinh", sp.sinh, _d(lambda x, t, a: a * sp.cosh(x))),
    _libm("cosh", sp.cosh, _d(lambda x, t, a: a * sp.sinh(x))),
    _libm("tanh", sp.tanh, _d(lambda x, t, a: a * (1 - t ** 2))),
    _libm("asinh", sp.asinh, _d(lambda x, t, a: a * (x ** 2 + 1) ** -half)),
    _libm("acosh", sp.acosh, _d(lambda x, t, a: a * (x ** 2 - 1) ** -half)),
    _libm("atanh", sp.atanh, _d(lambda x, t, a: a / (1 - x ** 2))),
    _libm("exp", sp.exp, _d(lambda x, t, a: a * t)),
    _libm("expm1", expm1, _d(lambda x, t, a: a * (t + 1)), latex="expm1"),
    _libm("log ln", sp.log, _d(lambda x, t, a: a / x)),
    _libm("log1p", log1p, _d(lambda x, t, a: a / (x + 1)), latex="log1p"),
    _libm("log2", log2, _d(lambda x, t, a: a / (x * sp.log(2)))),
    _libm("log10", log10, _d(lambda x, t, a: a / (x * sp.log(10)))),
    _libm("cbrt", Cbrt, _d(lambda x, t, a: a / (3 * t ** 2))),
    _libm("abs", sp.Abs, _d(lambda x, t, a: a * sp.sign(x)), fn="fabs"),
    _libm("floor", sp.floor, _zero),
    _libm("ceil", sp.ceiling, _zero),
    _libm("erf", sp.erf, _d(lambda x, t, a: a * _SQRT_PI_2 * sp.exp(-x ** 2)), latex="erf"),
    _libm("erfc", sp.erfc, _d(lambda x, t, a: -a * _SQRT_PI_2 * sp.exp(-x ** 2)), latex="erfc"),
    _libm("lgamma", Lgamma, _d(lambda x, t, a: a * Digamma(x)), latex="lgamma"),
    Op(("digamma",), Digamma, None, expand=digamma, unicode="ψ", latex="digamma",
       builtin=False),
    _libm("atan2", sp.atan2, _atan2),
    _libm("hypot", hypot, _hypot, latex="hypot"),
    Op(("sign",), sp.sign, _zero, formula=_sign, latex="sign"),
    # relu' is 1 where x > 0, else 0 (at 0 and nan too): sign(t), which multiplies
    Op(("relu",), Relu, _d(lambda x, t, a: a * sp.sign(t)),
       formula=_relu, latex="relu"),
    Op(("sigmoid",), Sigmoid, _d(lambda x, t, a: a * t * (1 - t)), formula=_sigmoid, unicode="σ"),
    Op(("softplus",), Softplus, _d(lambda x, t, a: a * Sigmoid(x)), formula=_softplus,
       latex="softplus"),
    Op(("gelu",), Gelu, _d(_gelu_rule), formula=_gelu, latex="gelu"),
    Op(("max",), Maximum, None, formula=_extremum(">="), arity=None),
    Op(("min",), Minimum, None, formula=_extremum("<="), arity=None),
    Op(("logsumexp",), LogSumExp, _logsumexp_rule, formula=_logsumexp, arity=None),
)
# max and min's rules (the adjoint to the first argument attaining the extremum) and
# where's are structural, in rules.py, as are + - * / ^.

BY_CLASS: dict[type, Op] = {op.cls: op for op in OPS}
BY_NAME: dict[str, Op] = {n: op for op in OPS for n in op.names}


class _Recorder(Libm64):
    """The float64 machine, noting the libm functions a formula calls (a formula
    computes both sides of every select, so one run sees them all)."""

    def __init__(self) -> None:
        self.calls: set[str] = set()

    def call(self, name: str, *args: float) -> float:
        self.calls.add(name)
        return super().call(name, *args)


def _calls_of(op: Op) -> set[str]:
    """The libm functions an op's kernels call."""
    if op.expand is not None:
        return set()                                # its expansion's ops say
    m = _Recorder()
    op.run(m, *([1.0] * (op.arity or 2)))
    return m.calls


# every libm function a kernel may call (sqrt and pow: from powers)
LIBM_CALLS: frozenset[str] = frozenset(
    n for op in OPS for n in _calls_of(op)) | {"sqrt", "pow"}


def op_of(e: sp.Basic) -> Op | None:
    """The registry entry of a statement's operation (None for + * ^ where)."""
    return BY_CLASS.get(type(e))



# -- folding ------------------------------------------------------------------------------
def fold_call(cls: type, args: tuple) -> sp.Expr | None:
    """``cls(*args)`` folded in float64 when every argument is a number, else None (the
    hook of chaincc's SymPy classes and of the builtins' constructors)."""
    values = [as_float(a) for a in args]
    if any(v is None for v in values):
        return None
    op = BY_CLASS[cls]
    if cls in (Maximum, Minimum):              # the argument picked, kept exact
        return _pick(op, args, values)
    return from_float(op.f64(*values))


def _pick(op: Op, args: tuple, values: list[float]) -> sp.Expr:
    rel = ">=" if op.cls is Maximum else "<="
    k = 0
    for i in range(1, len(values)):
        if not F64.cmp(rel, values[k], values[i]):
            k = i
    return args[k]


def maker(op: Op) -> Callable[..., sp.Expr]:
    """How lowering builds a call of ``op``: folded in float64 when every argument is a
    number, else the SymPy class applied (which never rewrites a symbolic argument)."""
    def make(*args: sp.Expr) -> sp.Expr:
        folded = fold_call(op.cls, args)
        return folded if folded is not None else op.cls(*args)
    make.__name__ = op.name
    return make
