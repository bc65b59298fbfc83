"""chaincc's own elementary functions, as LLVM IR that the loop vectoriser can widen:
the default maths of the LLVM backend's kernels.

glibc's scalar libm is accurate, but a loop that calls it is not vectorised: every
point's exp is one call. glibc's vector libm (libmvec, ``math="fast"``) is up to 4 ulp.
These functions are within 1 ulp (benchmarks/accuracy.py measures them against mpmath)
and come in a scalar version and vector versions of 2, 4 and 8 lanes that compute the
same bits per lane (``builder.py``). A kernel calls the scalar function, marked with the
``vector-function-abi-variant`` attribute that names the vector versions, so where LLVM
vectorises the loop over points it calls them for several points at once.

A function whose fast formula is only valid on part of its domain (the trigonometric
functions' argument reduction, for huge arguments) has a guard: the lanes it marks are
computed by libm instead (a branch in the scalar version; in a vector version, taken only
when some lane needs it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .builder import Builder


@dataclass(frozen=True)
class MathFunction:
    """One elementary function: ``build(b, *args)`` writes it into a Builder and returns
    the result; ``guard(b, *args)``, where present, returns the mask of lanes that libm's
    function of the same name computes instead.

    ``tiny`` (bound, what): below the bound in magnitude the function rounds to its
    argument (what "x": sin, tanh, ...), to 1 ("one": exp, cos, ...) or to x + c·x (a
    number c: erf), and gives that there, the rest of the code computing on 0.5 instead:
    tiny arguments would make its intermediate values subnormal, and each subnormal
    result costs the CPU a microcode assist (atan of log-uniform arguments down to
    1e-300 ran at a tenth of its usual speed)."""

    name: str
    arity: int
    build: Callable[..., str]
    guard: Callable[..., str] | None = None
    tiny: tuple[float, str | float] | None = None


FUNCTIONS: dict[str, MathFunction] = {}


def register(fn: MathFunction) -> MathFunction:
    assert fn.name not in FUNCTIONS, fn.name
    FUNCTIONS[fn.name] = fn
    return fn


def symbol(name: str, lanes: int = 1) -> str:
    """The IR name of a function's scalar (lanes 1) or vector version."""
    return f"chaincc_{name}" if lanes == 1 else f"chaincc_{name}_v{lanes}"


def offers_vectors(name: str, widths: tuple[int, ...], inline: bool) -> bool:
    """Whether calls of ``name`` name vector versions for the loop vectoriser. In a loop
    LLVM vectorises (``inline``), a function without a guard is inlined instead and
    vectorised with the loop (faster than a call); a guarded one, whose scalar version
    branches, is called, its vector versions in place of it."""
    return bool(widths) and not (inline and FUNCTIONS[name].guard is None)


def _define(fn: MathFunction, lanes: int, attrs: str) -> tuple[list[str], set[str]]:
    """A function's definition at ``lanes`` lanes, and the intrinsics it declares."""
    b = Builder(lanes)
    params = [f"%x{k}" for k in range(fn.arity)]
    args, small = params, None
    if fn.tiny is not None:
        bound, gives = fn.tiny
        assert fn.arity == 1 and gives in ("x", "one") or isinstance(gives, float), fn.name
        small = b.fcmp("olt", b.fabs(params[0]), b.f(bound))
        args = [b.select(small, b.f(0.5), params[0])]
    result = fn.build(b, *args)
    if small is not None:
        x, gives = params[0], fn.tiny[1]
        near = x if gives == "x" else b.f(1.0) if gives == "one" else \
            b.fma(x, b.f(float(gives)), x)
        result = b.select(small, near, result)
    body, decls = list(b.lines), set(b.intrinsics)
    sig = f"{b.F} @{symbol(fn.name, lanes)}({', '.join(f'{b.F} {p}' for p in params)})"
    head = f"define internal {sig} #{attrs} {{"
    if fn.guard is None:
        return [head, "entry:", *body, f"  ret {b.F} {result}", "}", ""], decls
    g = Builder(lanes)
    g._count = b._count                     # fresh names after the body's
    mask = fn.guard(g, *params)
    decls |= g.intrinsics
    libm = f"@{fn.name}"
    if lanes == 1:
        call = f"call double {libm}({', '.join(f'double {p}' for p in params)})"
        return [head, "entry:", *g.lines, f"  br i1 {mask}, label %libm, label %own",
                "own:", *body, f"  ret double {result}",
                "libm:", f"  %l = {call}", "  ret double %l", "}", ""], decls
    reduce = f"llvm.vector.reduce.or.v{lanes}i1"
    decls.add(f"declare i1 @{reduce}({b.M})")
    lines = [head, "entry:", *g.lines, *body,
             f"  %any = call i1 @{reduce}({b.M} {mask})",
             "  br i1 %any, label %libm, label %own", "own:", f"  ret {b.F} {result}",
             "libm:"]
    acc = result
    for k in range(lanes):
        args = []
        for j, p in enumerate(params):
            lines.append(f"  %a{k}_{j} = extractelement {b.F} {p}, i64 {k}")
            args.append(f"double %a{k}_{j}")
        lines += [f"  %l{k} = call double {libm}({', '.join(args)})",
                  f"  %o{k} = extractelement {b.F} {result}, i64 {k}",
                  f"  %g{k} = extractelement {b.M} {mask}, i64 {k}",
                  f"  %s{k} = select i1 %g{k}, double %l{k}, double %o{k}",
                  f"  %r{k} = insertelement {b.F} {acc}, double %s{k}, i64 {k}"]
        acc = f"%r{k}"
    return [*lines, f"  ret {b.F} {acc}", "}", ""], decls


# attribute groups of these functions' definitions, numbered clear of the kernels' own
_CALLED, _INLINED = 90, 91
_GROUPS = {_CALLED: "nounwind willreturn memory(none) noinline",
           _INLINED: "nounwind willreturn memory(none) alwaysinline"}


def variant_attribute(name: str, widths: tuple[int, ...]) -> str:
    """The ``vector-function-abi-variant`` value naming a function's vector versions."""
    n = FUNCTIONS[name].arity
    return ",".join(f"_ZGV_LLVM_N{w}{'v' * n}_{symbol(name)}({symbol(name, w)})"
                    for w in widths)


def definitions(names: Iterable[str], widths: tuple[int, ...],
                inline: bool = False) -> tuple[list[str], list[str], set[str]]:
    """IR for the functions ``names``: each one's scalar version, and where it offers
    them (``offers_vectors``) its vector versions of ``widths`` lanes, with the intrinsics
    they declare and their attribute groups. Returns (the lines, the vector versions'
    symbols, the libm functions the guarded ones fall back to). The vector versions must
    be kept alive (``llvm.compiler.used``), or LLVM drops them before the vectoriser
    looks for them."""
    lines: list[str] = []
    decls: set[str] = set()
    kept: list[str] = []
    fallback: set[str] = set()
    used: set[int] = set()
    for name in sorted(set(names)):
        fn = FUNCTIONS[name]
        vectors = offers_vectors(name, widths, inline)
        attrs = _CALLED if vectors or not inline else _INLINED
        for lanes in (1, *(widths if vectors else ())):
            text, d = _define(fn, lanes, str(attrs))
            lines += text
            decls |= d
            used.add(attrs)
            if lanes > 1:
                kept.append(symbol(name, lanes))
        if fn.guard is not None:
            fallback.add(name)
    groups = [f"attributes #{g} = {{ {_GROUPS[g]} }}" for g in sorted(used)]
    return [*sorted(decls), *lines, *groups], kept, fallback


# each module registers its functions
from . import erf, exp, hyperbolic, inverse, log, power, trig  # noqa: E402, F401
