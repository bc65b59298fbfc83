"""C99 backend: a header and a source file that need only ``<math.h>`` and ``<stddef.h>``.

Per function ``f(x, y)``::

    double f(double x, double y);
    double f_value_and_grad(double x, double y, double *grad);      /* grad[0], grad[1] */
    void f_batch(size_t n, const double *x, const double *y, double *value);
    void f_value_and_grad_batch(size_t n, const double *x, const double *y,
                                double *value, double *grad_x, double *grad_y);

An array parameter ``W[2,3]`` is ``const double *W`` (6 values, row-major); in the batch
functions each point's values are contiguous (``W[6*i + k]``), and so are its gradient's.
The batch loops carry ``#pragma omp parallel for`` (guarded by ``_OPENMP``, so a build
without OpenMP sees no unknown pragma) and repeat the statement list inline rather than
call the scalar function, so that the loop vectorises without relying on inlining; where
the program calls libm, the loop is staged around the calls (c_staged.py).

A program with loops (sums, products and recurrences that are not unrolled) is written
with its loops (c_loops.py), so the code does not grow with their trip counts. Where its
loops keep a tape (buffers), each call of a scalar function allocates its scratch memory
with ``malloc`` (the source then includes ``<stdlib.h>``), and each thread of a batch
function allocates its own once for all its points; where the memory cannot be had,
every output is NaN.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from .. import escape
from ..ir import Assign, Param, Program, Read, output_array, walk
from ..libm import LIBMVEC, arity
from ..optimize import count_ops
from .c_loops import (
    SCRATCH,
    Array,
    LoopWriter,
    buffer_arrays,
    has_loops,
    nan_fill,
    scratch_size,
)
from .c_names import (
    FILE_SCOPE_RESERVED,
    MACRO_PREFIX,
    RESERVED,
    candidates,
    is_plain,
    place,
    transliterate,
)
from .c_staged import staged_loop
from .printer import Printer

RESTRICT = MACRO_PREFIX + "RESTRICT"
INDENT = "    "


class CPrinter(Printer):
    """The base printer's tables are C99's; every symbol must be named."""

    def operand(self, e: sp.Basic) -> str:
        if isinstance(e, sp.Symbol):
            return self.names[e]
        return super().operand(e)


# -- names ---------------------------------------------------------------------------------
def derived(base: str, suffix: str) -> str:
    if not suffix:
        return base
    return base + suffix if base.endswith("_") else f"{base}_{suffix}"


def suffixes(kind: str) -> tuple[str, str, str, str]:
    """``kind`` is ``grad`` for a scalar value, ``jacobian`` for an array value."""
    return ("", "batch", f"value_and_{kind}", f"value_and_{kind}_batch")


@dataclass(frozen=True)
class Names:
    """The C identifiers of one function and of its parameters."""

    functions: tuple[str, str, str, str]    # f, f_batch, f_value_and_grad, ..._batch
    params: tuple[str, ...]
    count: str                              # the batch functions' n
    value: str                              # the value output (batch, or an array value)
    deriv: str                              # f_value_and_grad's grad (or jacobian)
    derivs: tuple[str, ...]                 # the batch derivative outputs, per parameter
    renamed: tuple[tuple[str, str], ...]    # (user name, C name) where they differ


def function_names(functions: Sequence[tuple[str, str]],
                   reserved: frozenset[str] = FILE_SCOPE_RESERVED
                   ) -> list[tuple[str, str, str, str]]:
    """File-scope identifiers for every (name, kind): none may clash with the C library
    (``reserved``), with another function's identifiers, or with another function's own
    name."""
    used: set[str] = set()
    wanted = {n for n, _ in functions}

    def take(base: str, kind: str, own: str) -> tuple[str, ...] | None:
        ids = tuple(derived(base, s) for s in suffixes(kind))
        if any(i in used or (i in wanted and i != own) or not is_plain(i, reserved)
               for i in ids):
            return None
        used.update(ids)
        return ids

    # plain names first, so that a renamed function never takes a user's name
    out = [take(n, k, n) if is_plain(n, reserved) else None for n, k in functions]
    for i, (n, k) in enumerate(functions):
        for c in candidates(n):
            if out[i] is not None:
                break
            out[i] = take(c, k, n)
    return out  # type: ignore[return-value]


# what a function with scratch memory calls, which a parameter of it must not hide
SCRATCH_CALLS = frozenset({"malloc", "free"})


def needs_scratch(*progs: Program | None) -> bool:
    """Whether a function's programs have buffers (per-call scratch memory)."""
    return any(p is not None and p.buffers for p in progs)


def local_names(fwd: Program, functions: tuple[str, str, str, str], kind: str,
                reserved: frozenset[str] = RESERVED) -> Names:
    params = place([p.name for p in fwd.params], lambda c: c not in reserved)
    taken = set(params)
    fixed = place(["n", "value", kind, *(f"{kind}_{c}" for c in params)],
                  lambda c: c not in taken)
    pairs = [(fwd.name, functions[0])] + [(p.name, c) for p, c in zip(fwd.params, params)]
    return Names(functions, tuple(params), fixed[0], fixed[1], fixed[2], tuple(fixed[3:]),
                 tuple((u, c) for u, c in pairs if u != c))


def kind_of(fwd: Program) -> str:
    return "grad" if fwd.output("value").shape == () else "jacobian"


# -- text helpers --------------------------------------------------------------------------
def comment_text(text: str) -> str:
    """Text that cannot end, nest or splice a C comment (see chaincc/escape.py)."""
    return escape.comment_text(text, limit=None)


def include_guard(prefix: str) -> str:
    return MACRO_PREFIX + re.sub(r"[^A-Z0-9]", "_", transliterate(prefix).upper()) + "_H"


def _shape(p: Param) -> str:
    return "[" + ",".join(map(str, p.shape)) + "]" if p.shape else ""


def _temp_names(prog: Program) -> dict[sp.Symbol, str]:
    out = {}
    for k, a in enumerate(prog.body):
        name = a.target.name
        out[a.target] = name if re.fullmatch(r"_t\d+", name) else f"_v{k}"
    return out


def _used(prog: Program) -> set[sp.Basic]:
    used: set[sp.Basic] = set()
    for a in prog.body:
        used |= a.expr.free_symbols
    for o in prog.outputs:
        for e in o.exprs:
            used |= e.free_symbols
    return used


def _statements(prog: Program, pr: CPrinter, indent: str) -> list[str]:
    labels = dict(prog.labels)
    lines = []
    for a in prog.body:
        note = f"  /* {comment_text(labels[a.target])} */" if a.target in labels else ""
        lines.append(f"{indent}const double {pr.names[a.target]} = {pr.expr(a.expr)};{note}")
    return lines


def temporaries(prog: Program) -> int:
    """The values a program computes (in its loops too, each once as written)."""
    return sum(isinstance(a, (Assign, Read)) for a in walk(prog.body))


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _at(size: int, j: int) -> str:
    return "_i" if size == 1 else f"{size} * _i + {j}"


def _decl(ret: str, name: str, params: list[str]) -> str:
    head = f"{ret} {name}("
    text = head + (", ".join(params) or "void") + ");"
    if len(text) <= 100:
        return text
    lines, line = [], head
    for i, p in enumerate(params):
        piece = p + (");" if i == len(params) - 1 else ",")
        if len(line) + len(piece) + 1 > 100 and line.strip() != head.strip():
            lines.append(line.rstrip())
            line = " " * len(head)
        line += piece + " "
    lines.append(line.rstrip())
    return "\n".join(lines)


# -- one function --------------------------------------------------------------------------
class FunctionWriter:
    """The declarations and definitions of one function's four C functions."""

    def __init__(self, fwd: Program, fused: Program | None, names: Names,
                 stage: bool = False, simd: bool = False) -> None:
        self.fwd, self.fused, self.n = fwd, fused, names
        self.stage = stage                     # staged batch loops where libm is called
        # math="fast": the batch loops are OpenMP's "parallel for simd", which vectorises
        # them even where OpenMP's outlining drops the pointers' restrict
        self.simd = simd
        self.scalar = fwd.output("value").shape == ()
        if fused is not None:
            assert len(fused.outputs) == 1 + len(fused.params), "value, then one per param"

    def _ins(self, restrict: str) -> list[str]:
        return [f"const double *{restrict}{c}" if p.shape else f"double {c}"
                for p, c in zip(self.fwd.params, self.n.params)]

    def _batch(self, restrict: str, derivs: bool) -> list[str]:
        ins = [f"const double *{restrict}{c}" for c in self.n.params]
        outs = [self.n.value] + (list(self.n.derivs) if derivs else [])
        return [f"size_t {self.n.count}", *ins, *(f"double *{restrict}{o}" for o in outs)]

    def prototypes(self, restrict: str = "") -> list[str]:
        """The declarations; ``restrict`` goes before every pointer's name."""
        f, fb, fg, fgb = self.n.functions
        ins, ptr = self._ins(restrict), f"double *{restrict}"
        ret = "double" if self.scalar else "void"
        value = [] if self.scalar else [ptr + self.n.value]
        out = [_decl(ret, f, ins + value), _decl("void", fb, self._batch(restrict, False))]
        if self.fused is not None:
            out.insert(1, _decl(ret, fg, ins + value + [ptr + self.n.deriv]))
            out.append(_decl("void", fgb, self._batch(restrict, True)))
        return out

    def _scalar_body(self, prog: Program, derivs: bool) -> list[str]:
        if has_loops(prog):
            return self._scalar_looped(prog, derivs)
        names = _temp_names(prog)
        used = _used(prog)
        lines = []
        for p, c in zip(prog.params, self.n.params):
            if not any(s in used for s in p.symbols):
                lines.append(f"{INDENT}(void){c};")
            for j, s in enumerate(p.symbols):
                names[s] = f"{c}[{j}]" if p.shape else c
        pr = CPrinter(names)
        lines += _statements(prog, pr, INDENT)
        if derivs:
            flat = [e for o in prog.outputs[1:] for e in o.exprs]
            lines += [f"{INDENT}{self.n.deriv}[{k}] = {pr.operand(e)};"
                      for k, e in enumerate(flat)]
            if not flat:
                lines.append(f"{INDENT}(void){self.n.deriv};")
        value = prog.outputs[0].exprs
        if self.scalar:
            lines.append(f"{INDENT}return {pr.operand(value[0])};")
        else:
            lines += [f"{INDENT}{self.n.value}[{j}] = {pr.operand(e)};"
                      for j, e in enumerate(value)]
        return lines

    def _batch_parts(self, prog: Program, derivs: bool):
        """(unused-parameter lines, temporaries' names, (input, C read at point _i) for
        every input used, (output lvalue at point _i, operand) for every output value)."""
        temps = _temp_names(prog)
        used = _used(prog)
        head, inputs = [], []
        for p, c in zip(prog.params, self.n.params):
            if not any(s in used for s in p.symbols):
                head.append(f"{INDENT}(void){c};")
            inputs += [(s, f"{c}[{_at(p.size, j)}]") for j, s in enumerate(p.symbols)
                       if s in used]
        outs = [self.n.value] + (list(self.n.derivs) if derivs else [])
        stores = [(f"{name}[{_at(len(o.exprs), j)}]", e)
                  for name, o in zip(outs, prog.outputs) for j, e in enumerate(o.exprs)]
        return head, temps, inputs, stores

    def _batch_body(self, prog: Program, derivs: bool) -> list[str]:
        """One loop over the points, the statements inline."""
        head, names, inputs, stores = self._batch_parts(prog, derivs)
        inner = INDENT * 2
        index = {s: k for k, s in enumerate(prog.input_symbols)}
        names.update({s: f"_p{index[s]}" for s, _ in inputs})
        loads = [f"{inner}const double {names[s]} = {read};" for s, read in inputs]
        pr = CPrinter(names)
        return [*head,
                f"{INDENT}const ptrdiff_t _n = (ptrdiff_t){self.n.count};",
                "#ifdef _OPENMP",
                f"#pragma omp parallel for{' simd' if self.simd else ''} schedule(static)",
                "#endif",
                f"{INDENT}for (ptrdiff_t _i = 0; _i < _n; ++_i) {{",
                *loads, *_statements(prog, pr, inner),
                *(f"{inner}{lv} = {pr.operand(e)};" for lv, e in stores),
                f"{INDENT}}}"]

    def _batch_loop(self, prog: Program, derivs: bool) -> list[str]:
        """The staged loop (c_staged.py) where the program calls libm, else the plain one."""
        if has_loops(prog):
            return self._batch_looped(prog, derivs)
        if self.stage:
            head, temps, inputs, stores = self._batch_parts(prog, derivs)
            labels = {s: comment_text(t) for s, t in prog.labels}
            staged = staged_loop(prog, temps, inputs, stores, self.n.count, CPrinter, labels)
            if staged is not None:
                return head + staged
        return self._batch_body(prog, derivs)

    # -- programs with loops (c_loops.py) ------------------------------------------------
    def _writer(self, prog: Program, inputs: dict[sp.Basic, str], params: dict[str, Array],
                outputs: dict[str, Array]) -> LoopWriter:
        buffers = buffer_arrays(prog)
        writes = {**buffers, **outputs}
        reads = {**outputs, **buffers, **params}
        labels = {s: comment_text(t) for s, t in prog.labels}
        return LoopWriter(prog, inputs, writes, reads, CPrinter, labels)

    def _unused(self, prog: Program, w: LoopWriter) -> list[str]:
        """``(void)p;`` for each parameter that nothing reads."""
        return [f"{INDENT}(void){c};" for p, c in zip(prog.params, self.n.params)
                if p.name not in w.arrays_read and not any(s in w.used for s in p.symbols)]

    def _scratch(self, prog: Program, fills: list[tuple[Array, int]], indent: str,
                 fail: str) -> list[str]:
        """The scratch memory of one call, and what a call that cannot have it does:
        every output NaN, then ``fail``."""
        return [f"{indent}double *const {SCRATCH} = "
                f"(double *)malloc({max(1, scratch_size(prog))} * sizeof(double));",
                f"{indent}if ({SCRATCH} == NULL) {{",
                *(line for a, size in fills for line in nan_fill(a, size, indent + INDENT)),
                f"{indent}{INDENT}{fail}",
                f"{indent}}}"]

    def _scalar_looped(self, prog: Program, derivs: bool) -> list[str]:
        inputs: dict[sp.Basic, str] = {}
        params: dict[str, Array] = {}
        for p, c in zip(prog.params, self.n.params):
            for j, s in enumerate(p.symbols):
                inputs[s] = f"{c}[{j}]" if p.shape else c
            params[p.name] = Array(c, scalar=not p.shape)
        value = prog.outputs[0]
        assert not (self.scalar and value.written), "a scalar value is an operand"
        outputs = {} if self.scalar else {output_array(value.name): Array(self.n.value)}
        fills = [] if self.scalar else [(Array(self.n.value), _size(value.shape))]
        at = 0
        if derivs:
            for o in prog.outputs[1:]:
                outputs[output_array(o.name)] = Array(self.n.deriv, (), at)
                at += _size(o.shape)
            if at:
                fills.append((Array(self.n.deriv), at))
        w = self._writer(prog, inputs, params, outputs)
        lines = self._unused(prog, w)
        if prog.buffers:
            lines += self._scratch(prog, fills, INDENT,
                                   "return NAN;" if self.scalar else "return;")
        lines += w.lines(INDENT)
        if prog.buffers:
            lines.append(f"{INDENT}free({SCRATCH});")
        if derivs:
            k = 0
            for o in prog.outputs[1:]:
                lines += [f"{INDENT}{self.n.deriv}[{k + j}] = {w.operand(e)};"
                          for j, e in enumerate(o.exprs)]
                k += _size(o.shape)
            if not at:
                lines.append(f"{INDENT}(void){self.n.deriv};")
        if self.scalar:
            lines.append(f"{INDENT}return {w.operand(value.exprs[0])};")
        else:
            lines += [f"{INDENT}{self.n.value}[{j}] = {w.operand(e)};"
                      for j, e in enumerate(value.exprs)]
        return lines

    def _point_parts(self, prog: Program, derivs: bool, indent: str
                     ) -> tuple[list[str], list[str], list[tuple[Array, int]]]:
        """A program with loops at point ``_i`` of a batch: (unused-parameter lines, the
        lines of one point, the outputs at the point with their sizes)."""
        index = {s: k for k, s in enumerate(prog.input_symbols)}
        inputs = {s: f"_p{index[s]}" for s in prog.input_symbols}
        params = {p.name: Array(c, ((p.size, "_i"),))
                  for p, c in zip(prog.params, self.n.params)}
        names = [self.n.value] + (list(self.n.derivs) if derivs else [])
        outs = [(Array(c, ((_size(o.shape), "_i"),)), _size(o.shape))
                for c, o in zip(names, prog.outputs)]
        w = self._writer(prog, inputs, params,
                         {output_array(o.name): a for o, (a, _) in zip(prog.outputs, outs)})
        loads = [f"{indent}const double {inputs[s]} = {c}[{_at(p.size, j)}];"
                 for p, c in zip(prog.params, self.n.params)
                 for j, s in enumerate(p.symbols) if s in w.used]
        stores = [f"{indent}{a.pointer}[{_at(size, j)}] = {w.operand(e)};"
                  for o, (a, size) in zip(prog.outputs, outs) for j, e in enumerate(o.exprs)]
        return self._unused(prog, w), [*loads, *w.lines(indent), *stores], outs

    def _batch_looped(self, prog: Program, derivs: bool) -> list[str]:
        """One loop over the points, OpenMP's threads sharing them out; with scratch
        memory, each thread has its own, allocated once for all its points."""
        pragma = ["#ifdef _OPENMP", "#pragma omp {} schedule(static)", "#endif"]
        count = f"{INDENT}const ptrdiff_t _n = (ptrdiff_t){self.n.count};"
        if not prog.buffers:
            head, point, _ = self._point_parts(prog, derivs, INDENT * 2)
            return [*head, count, pragma[0], pragma[1].format("parallel for"), pragma[2],
                    f"{INDENT}for (ptrdiff_t _i = 0; _i < _n; ++_i) {{", *point, f"{INDENT}}}"]
        i1, i2, i3 = INDENT, INDENT * 2, INDENT * 3
        head, point, outs = self._point_parts(prog, derivs, i3)
        size = max(1, scratch_size(prog))
        return [*head, count, "#ifdef _OPENMP", "#pragma omp parallel", "#endif",
                f"{i1}{{",
                f"{i2}double *const {SCRATCH} = (double *)malloc({size} * sizeof(double));",
                pragma[0], pragma[1].format("for"), pragma[2],
                f"{i2}for (ptrdiff_t _i = 0; _i < _n; ++_i) {{",
                f"{i3}if ({SCRATCH} == NULL) {{  /* no scratch memory: NaN */",
                *(line for a, n in outs for line in nan_fill(a, n, i3 + INDENT)),
                f"{i3}{INDENT}continue;",
                f"{i3}}}",
                *point,
                f"{i2}}}",
                f"{i2}free({SCRATCH});",
                f"{i1}}}"]

    def definitions(self) -> list[str]:
        protos = self.prototypes(RESTRICT + " ")
        bodies = [self._scalar_body(self.fwd, False), self._batch_loop(self.fwd, False)]
        if self.fused is not None:
            bodies.insert(1, self._scalar_body(self.fused, True))
            bodies.append(self._batch_loop(self.fused, True))
        out = []
        for proto, body in zip(protos, bodies):
            out += ["", proto[:-1], "{", *body, "}"]
        return out

    def summary(self, file: str) -> list[str]:
        """The header comment: where the function comes from and how to call it."""
        fwd, n = self.fwd, self.n
        sig = ", ".join(p.name + _shape(p) for p in fwd.params)
        value = fwd.outputs[0]
        ops = f"forward {count_ops(fwd)}"
        if self.fused is not None:
            temps = temporaries(self.fused)
            ops += f", value and {'gradient' if self.scalar else 'Jacobian'} " \
                   f"{count_ops(self.fused)} ({temps} temporar{'y' if temps == 1 else 'ies'})"
        lines = [f"{fwd.name}({sig}), line {fwd.line} of {file}",
                 "parameters: " + (", ".join(
                     c + (f" ({p.size} values, row-major)" if p.shape else "")
                     for p, c in zip(fwd.params, n.params)) or "none"),
                 f"operations: {ops}"]
        if not self.scalar:
            lines.append(f"value: {_size(value.shape)} values, row-major, written to {n.value}")
        if self.fused is not None and fwd.params:
            parts, k = [], 0
            for o in self.fused.outputs[1:]:
                size = _size(o.shape)
                parts.append(f"[{k}]" if size == 1 else f"[{k}..{k + size - 1}]")
                k += size
            what = "gradient" if self.scalar else "Jacobian (value index first)"
            where = f"{n.deriv}[0..{k - 1}]" if k > 1 else f"{n.deriv}[0]"
            if len(parts) < k:
                where = n.deriv + ", ".join(parts)
            lines.append(f"{n.functions[2]}: the {what} in {where}, in parameter order")
        lines.append(f"batch: {n.count} points, each point's values contiguous; no output "
                     f"may overlap another or an input")
        scratch = max((scratch_size(p) for p in (fwd, self.fused) if p is not None),
                      default=0)
        if scratch:
            lines.append(f"scratch memory: {scratch} values per call (malloc; per thread in "
                         f"the batch functions); where it cannot be had, every output is NaN")
        if n.renamed:
            lines.append("renamed for C: " + ", ".join(f"{u} -> {c}" for u, c in n.renamed))
        wrapped = [w for t in lines
                   for w in textwrap.wrap(comment_text(t), 95, subsequent_indent="    ",
                                          break_long_words=False, break_on_hyphens=False)]
        return ["/*", *(f" * {w}" for w in wrapped), " */"]


# -- the two files -------------------------------------------------------------------------
def c_sources(version: str, file: str, functions: Sequence[tuple[Program, Program | None]],
              prefix: str, math: str = "default") -> tuple[str, str]:
    """``(header, source)`` for ``prefix.h`` and ``prefix.c``; the source includes the
    header by that name. ``math="fast"``: the batch loops may call glibc's vector maths
    (``vector_math``)."""
    assert math in MATHS, math
    stamp = f"/* generated by chaincc {version} from {comment_text(file)}; do not edit */"
    kinds = [kind_of(fwd) for fwd, _ in functions]
    all_names = function_names([(fwd.name, k) for (fwd, _), k in zip(functions, kinds)])
    writers = [FunctionWriter(fwd, vg, local_names(fwd, fn, k, RESERVED | SCRATCH_CALLS
                                                   if needs_scratch(fwd, vg) else RESERVED),
                              stage=math != "fast", simd=math == "fast")
               for (fwd, vg), fn, k in zip(functions, all_names, kinds)]
    guard = include_guard(prefix)
    header = [stamp, f"#ifndef {guard}", f"#define {guard}", "", "#include <stddef.h>", "",
              "#ifdef __cplusplus", 'extern "C" {', "#endif"]
    for w in writers:
        header += ["", *w.summary(file), *w.prototypes()]
    header += ["", "#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {guard} */"]
    # scratch memory (a program's buffers) comes from malloc
    stdlib = ["#include <stdlib.h>"] if any(needs_scratch(fwd, vg) for fwd, vg in functions) \
        else []
    source = [stamp, "#include <math.h>", "#include <stddef.h>", *stdlib, "",
              f'#include "{prefix}.h"', "",
              "/* restrict lets the batch loops vectorise; C++ spells it __restrict */",
              f"#ifndef {RESTRICT}", "#ifdef __cplusplus", f"#define {RESTRICT} __restrict",
              "#else", f"#define {RESTRICT} restrict", "#endif", "#endif"]
    body = [line for w in writers for line in w.definitions()]
    if math == "fast":
        source += vector_math(sorted({m.group(1) for line in body
                                      for m in _CALL.finditer(line)} & LIBMVEC))
    source += body
    return "\n".join(header) + "\n", "\n".join(source) + "\n"


MATHS = ("default", "fast")
VECTOR_MATH = MACRO_PREFIX + "VECTOR_MATH"
_CALL = re.compile(r"\b([a-z][a-z0-9]*)\(")


def vector_math(called: list[str]) -> list[str]:
    """``math="fast"``: the libm functions the program calls, declared again as GCC's
    ``simd`` functions, so that GCC vectorises the batch loops (not staged: one loop
    each) and calls glibc's vector variants for several points at once. ``const`` says
    the calls read and write no memory (the kernels never look at errno), which GCC
    needs to vectorise them without -fno-math-errno. Other compilers and platforms see
    nothing (C++ too: its <cmath> declares these otherwise) and call libm as usual."""
    if not called:
        return []
    lines = ["", "/* math fast: with GCC on x86-64 glibc (2.35 or later), the batch loops call",
             " * glibc's vector maths (libmvec: up to 4 ulp where libm is within 1) for several",
             " * points at once; -lm brings libmvec. Elsewhere libm is called as usual. */",
             "#if defined(__GNUC__) && !defined(__clang__) && !defined(__cplusplus) && "
             "defined(__x86_64__) && defined(__GLIBC__)",
             f"#define {VECTOR_MATH} __attribute__((simd(\"notinbranch\"), const))"]
    for f in called:
        args = ", ".join(["double"] * arity(f))
        lines.append(f"{VECTOR_MATH} double {f}({args});")
    return [*lines, "#endif"]


def check_prefix(prefix: str) -> str | None:
    """Why ``prefix`` cannot name the generated files, or None if it can."""
    if not prefix or prefix in (".", ".."):
        return "the prefix is empty"
    bad = [ch for ch in prefix if ch in '/\\"' or not ch.isprintable()]
    if bad or "??" in prefix:
        return f"the prefix '{prefix}' cannot name a C header (it has " \
               f"{repr(bad[0]) if bad else '??'}); choose one with --prefix"
    return None
