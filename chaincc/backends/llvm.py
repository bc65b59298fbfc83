"""LLVM backend for large programs: the fused program as LLVM IR, compiled in-process
with llvmlite (which Numba brings) and called through ctypes.

Numba's front end costs milliseconds per statement, so a program of tens of thousands of
statements (an unrolled RNN, a scalarised layer) would take minutes; LLVM itself
compiles such straight-line code in about a second. Kernels are the same family as the
Numba backend's: a scalar kernel and per-chunk loops over points (outputs per point, or
summed), each input read through a base pointer and a stride in elements (0 when shared
by every point). The machine code is cached on disk.
"""

from __future__ import annotations

import struct

import sympy as sp
from sympy.logic.boolalg import BooleanFalse, BooleanTrue

from ..functions import Where
from ..ir import Affine, Assign, Loop, Program, Read, Write, output_array, walk
from ..libm import LIBMVEC, arity
from ..ops import op_of, power
from . import vecmath
from .machine import Kernel, Plan, compile_object

__all__ = ["Kernel", "Plan", "compile_object", "module_ir", "plan"]

# lanes of a double vector per x86-64 vector ABI: b SSE4, d AVX2, e AVX-512
VECTOR_LANES = {"b": 2, "d": 4, "e": 8}

RELATIONS = {"<": "olt", "<=": "ole", ">": "ogt", ">=": "oge", "==": "oeq", "!=": "une"}


def double(v: float) -> str:
    """An exact LLVM double literal."""
    bits = struct.unpack("<Q", struct.pack("<d", float(v)))[0]
    return f"0x{bits:016X}"


class Emitter:
    """Writes SSA instructions for Program statements into ``lines``: for one point
    (``double`` values), or in ``llvm_lanes.LaneEmitter`` for several in vector lanes
    (``ty``, ``bty``: the types of a value and of a condition; ``num``: a constant)."""

    ty = "double"
    bty = "i1"

    def __init__(self, names: dict[sp.Basic, str], vector: tuple[str, ...] = (),
                 own: tuple[int, ...] | None = (), inline: bool = False) -> None:
        self.names = dict(names)
        self.lines: list[str] = []
        self.count = 0
        self.declared: set[str] = set()
        # math="fast": the vector ISAs (``vector_isas``) whose libmvec variants calls
        # may use; LLVM's loop vectoriser then calls them for several points at once
        self.vector = vector
        self.vectorised: dict[str, int] = {}
        # the default: chaincc's own elementary functions (``vecmath``) where it has
        # them, with vector versions of ``own`` lanes (None: libm's functions only);
        # ``inline``: written into a loop LLVM vectorises (see vecmath.definitions)
        self.own = own
        self.inline = inline
        self.own_used: set[str] = set()

    def fresh(self) -> str:
        self.count += 1
        return f"%v{self.count}"

    def ins(self, text: str) -> str:
        r = self.fresh()
        self.lines.append(f"  {r} = {text}")
        return r

    def value(self, e: sp.Basic) -> str:
        if isinstance(e, sp.Symbol):
            return self.names[e]
        if isinstance(e, (BooleanTrue, BooleanFalse)):
            return self.truth(isinstance(e, BooleanTrue))
        if e is sp.zoo or e is sp.nan:
            return self.num(float("nan"))
        if e.is_number:
            return self.num(float(e))
        return self.op(e)

    def truth(self, v: bool) -> str:
        return "true" if v else "false"

    def call(self, fname: str, *args: str) -> str:
        arglist = ", ".join("double " + a for a in args)
        if self.own is not None and not (self.vector and fname in LIBMVEC) and \
                fname in vecmath.FUNCTIONS:
            self.own_used.add(fname)
            tag = ""
            if vecmath.offers_vectors(fname, self.own, self.inline):
                group = self.vectorised.setdefault("own:" + fname, len(self.vectorised) + 1)
                tag = f" #{group}"
            return self.ins(f"call double @{vecmath.symbol(fname)}({arglist}){tag}")
        self.declared.add(fname)
        tag = ""
        if self.vector and fname in LIBMVEC:
            group = self.vectorised.setdefault(fname, len(self.vectorised) + 1)
            tag = f" #{group}"
        return self.ins(f"call double @{fname}({arglist}){tag}")

    def fbin(self, op: str, a: str, b: str) -> str:
        return self.ins(f"{op} {self.ty} {a}, {b}")

    def select(self, c: str, a: str, b: str) -> str:
        return self.ins(f"select {self.bty} {c}, {self.ty} {a}, {self.ty} {b}")

    def cmp(self, rel: str, a: str, b: str) -> str:
        """``rel``: ``<``, ``<=``, ... (or an fcmp condition code)."""
        return self.ins(f"fcmp {RELATIONS.get(rel, rel)} {self.ty} {a}, {b}")

    # ops.Machine: a registry formula written as instructions
    def num(self, v: float) -> str:
        return double(v)

    def add(self, a: str, b: str) -> str:
        return self.fbin("fadd", a, b)

    def sub(self, a: str, b: str) -> str:
        return self.fbin("fsub", a, b)

    def mul(self, a: str, b: str) -> str:
        return self.fbin("fmul", a, b)

    def div(self, a: str, b: str) -> str:
        return self.fbin("fdiv", a, b)

    def neg(self, a: str) -> str:
        return self.ins(f"fneg {self.ty} {a}")

    def cond(self, e: sp.Basic) -> str:
        """An i1 for a condition: a relation, its logic, or a boolean statement's name."""
        if isinstance(e, (BooleanTrue, BooleanFalse, sp.Symbol)):
            return self.value(e)
        if isinstance(e, sp.core.relational.Relational):
            return self.cmp(RELATIONS[e.rel_op], self.value(e.lhs), self.value(e.rhs))
        if isinstance(e, sp.Not):
            return self.ins(f"xor {self.bty} {self.cond(e.args[0])}, {self.truth(True)}")
        parts = [self.cond(a) for a in e.args]
        acc = parts[0]
        for p in parts[1:]:
            acc = self.ins(f"{'and' if isinstance(e, sp.And) else 'or'} {self.bty} {acc}, {p}")
        return acc

    def op(self, e: sp.Basic) -> str:
        if isinstance(e, (sp.core.relational.Relational, sp.Not, sp.And, sp.Or)):
            return self.cond(e)            # a boolean statement: an i1
        if isinstance(e, sp.Add):
            acc = None
            for t in e.args:
                if isinstance(t, sp.Mul) and t.args[0].is_Number:
                    c, s = t.args
                    if c == -1 and acc is not None:
                        acc = self.fbin("fsub", acc, self.value(s))
                        continue
                    v = self.fbin("fmul", self.value(c), self.value(s))
                else:
                    v = self.value(t)
                acc = v if acc is None else self.fbin("fadd", acc, v)
            return acc
        if isinstance(e, sp.Mul):
            args = list(e.args)
            neg = args[0] == -1
            if neg:
                args = args[1:]
            num = [a for a in args if not (isinstance(a, sp.Pow) and a.exp == -1)]
            den = [a.base for a in args if isinstance(a, sp.Pow) and a.exp == -1]
            acc = self.value(num[0]) if num else self.num(1.0)
            for a in num[1:]:
                acc = self.fbin("fmul", acc, self.value(a))
            if den:
                d = self.value(den[0])
                for a in den[1:]:
                    d = self.fbin("fmul", d, self.value(a))
                acc = self.fbin("fdiv", acc, d)
            return self.neg(acc) if neg else acc
        if isinstance(e, sp.Pow):
            return power(self, self.value(e.base), e.exp, self.value(e.exp))
        if isinstance(e, Where):
            return self.select(self.cond(e.args[0]), self.value(e.args[1]),
                               self.value(e.args[2]))
        op = op_of(e)
        assert op is not None, f"no LLVM lowering for {type(e).__name__}"
        return op.run(self, *(self.value(a) for a in e.args))

    def body(self, prog: Program, arrays: dict[str, str] | None = None) -> None:
        """The program's statements; ``arrays``: the base pointer of every array its
        Reads and Writes name (parameters, outputs, buffers)."""
        self.arrays = arrays or {}
        self.ints: dict[sp.Symbol, str] = {}
        self.block = "entry"
        self.loops = 0
        self.statements(prog.body)

    def statements(self, body) -> None:
        for a in body:
            if isinstance(a, Assign):
                # (a value under another name: a fixed point's solution in its adjoint)
                self.names[a.target] = self.op(a.expr) if a.expr.args else \
                    self.value(a.expr)
            elif isinstance(a, Read):
                self.names[a.target] = self.read(a.array, self.integer(a.index))
            elif isinstance(a, Write):
                v = self.value(a.value)
                at = self.integer(a.index)
                if a.add:
                    v = self.fbin("fadd", self.read(a.array, at), v)
                self.write(a.array, at, v)
            else:
                self.loop(a)

    def read(self, array: str, at: str) -> str:
        return _gep_load(self, self.arrays[array], at)

    def write(self, array: str, at: str, v: str) -> None:
        _store(self, v, self.arrays[array], at)

    def index_value(self, i: str) -> str:
        """A loop index as a value."""
        return self.ins(f"sitofp i64 {i} to double")

    def until_head(self, tag: str, pred: str) -> None:
        """A fixed point's loop head: nothing more for one point (see LaneEmitter)."""

    def until_latch(self, tag: str, phis: list[str], nexts: list[str], done: str
                    ) -> tuple[list[str], str]:
        """A fixed point's next values and exit condition: for one point, as computed."""
        return nexts, done

    def integer(self, a: Affine) -> str:
        """An i64 for an affine index."""
        acc: str | None = None
        for c, v in a.terms:
            term = self.ints[v] if c == 1 else self.ins(f"mul nsw i64 {self.ints[v]}, {c}")
            acc = term if acc is None else self.ins(f"add nsw i64 {acc}, {term}")
        if acc is None:
            return str(a.const)
        return acc if not a.const else self.ins(f"add nsw i64 {acc}, {a.const}")

    def loop(self, lp: Loop) -> None:
        """A loop as blocks: head (phis, test), body, latch; its results are the head's
        phis at the exit."""
        self.loops += 1
        tag = f"L{self.loops}"
        start, stop = self.integer(lp.start), self.integer(lp.stop)
        first = self.ins(f"sub nsw i64 {stop}, 1") if lp.reverse else start
        inits = [self.value(c.init) for c in lp.carries]
        pred = self.block
        self.lines.append(f"  br label %{tag}.head")
        self.lines.append(f"{tag}.head:")
        i = f"%{tag}.i"
        self.lines.append(f"  {i} = phi i64 [{first}, %{pred}], [%{tag}.inext, %{tag}.latch]")
        phis = []
        for k, init in enumerate(inits):
            ph = f"%{tag}.c{k}"
            phis.append(ph)
            self.lines.append(f"  {ph} = phi {self.ty} [{init}, %{pred}], "
                              f"[%{tag}.n{k}, %{tag}.latch]")
        if lp.until is not None:
            self.until_head(tag, pred)
        test = f"icmp sge i64 {i}, {start}" if lp.reverse else f"icmp slt i64 {i}, {stop}"
        more = self.ins(test)
        self.lines.append(f"  br i1 {more}, label %{tag}.body, label %{tag}.exit")
        self.lines.append(f"{tag}.body:")
        self.block = f"{tag}.body"
        self.ints[lp.index] = i
        self.names[lp.index] = self.index_value(i)
        for c, ph in zip(lp.carries, phis):
            self.names[c.var] = ph
        self.statements(lp.body)
        nexts = [self.value(c.next) for c in lp.carries]
        until = None
        if lp.until is not None:
            nexts, until = self.until_latch(tag, phis, nexts, self.cond(lp.until))
        self.lines.append(f"  br label %{tag}.latch")
        self.lines.append(f"{tag}.latch:")
        for k, n in enumerate(nexts):
            # a copy, so that the phi names a value of this loop even for a constant
            self.lines.append(f"  %{tag}.n{k} = fadd {self.ty} {n}, {self.num(-0.0)}")
        step = "sub" if lp.reverse else "add"
        self.lines.append(f"  %{tag}.inext = {step} nsw i64 {i}, 1")
        if until is None:
            self.lines.append(f"  br label %{tag}.head")
        else:   # a fixed point: done after this iteration, its next values the results
            self.lines.append(f"  br i1 {until}, label %{tag}.exit, label %{tag}.head")
        self.lines.append(f"{tag}.exit:")
        self.block = f"{tag}.exit"
        for k, (c, ph) in enumerate(zip(lp.carries, phis)):
            if until is None:
                self.names[c.out] = ph
            else:
                self.names[c.out] = self.ins(f"phi {self.ty} [{ph}, %{tag}.head], "
                                             f"[%{tag}.n{k}, %{tag}.latch]")

    def declarations(self) -> list[str]:
        """The functions the instructions call: chaincc's own (defined here), and libm's
        as LLVM may treat them: pure (they touch no memory that the kernels read: errno
        is never looked at), so loads and stores move across them and loops that call
        them still vectorise around the calls."""
        own, variants, fallback = vecmath.definitions(self.own_used, self.own or (),
                                                      self.inline)
        out = []
        for f in sorted(self.declared | fallback):
            out.append(f"declare double @{f}({', '.join(['double'] * arity(f))}) #0")
        if out:
            out.append("attributes #0 = { nounwind willreturn memory(none) }")
        out += own
        for f, group in self.vectorised.items():
            if f.startswith("own:"):
                f = f[4:]
                out.append(f'attributes #{group} = {{ "vector-function-abi-variant"='
                           f'"{vecmath.variant_attribute(f, self.own or ())}" }}')
                continue
            n = arity(f)
            mangled = []
            for isa in self.vector:
                lanes = VECTOR_LANES[isa]
                name = f"_ZGV{isa}N{lanes}{'v' * n}_{f}"
                vec = f"<{lanes} x double>"
                out.append(f"declare {vec} @{name}({', '.join([vec] * n)}) #0")
                mangled.append(f"_ZGV_LLVM_N{lanes}{'v' * n}_{f}({name})")
                variants.append(name)
            out.append(f'attributes #{group} = {{ "vector-function-abi-variant"='
                       f'"{",".join(mangled)}" }}')
        if variants:
            # kept alive, or LLVM drops the declarations and ignores the attribute
            out.append(f"@llvm.compiler.used = appending global [{len(variants)} x ptr] "
                       f"[{', '.join('ptr @' + v for v in variants)}], "
                       f'section "llvm.metadata"')
        return out


def _gep_load(em: Emitter, base: str, index: str | int, tags: str = "") -> str:
    p = em.ins(f"getelementptr inbounds double, double* {base}, i64 {index}")
    return em.ins(f"load double, double* {p}, align 8{tags}")


def _store(em: Emitter, value: str, base: str, index: str | int, tags: str = "") -> None:
    p = em.ins(f"getelementptr inbounds double, double* {base}, i64 {index}")
    em.lines.append(f"  store double {value}, double* {p}, align 8{tags}")


def _scopes(outputs: int) -> tuple[str, list[str], list[str]]:
    """Alias scopes of an inlined loop over points: the inputs, and each output array,
    overlap nothing else (``native.run`` makes sure), stated as function-wide metadata
    so that it holds across the loop's iterations (the noalias arguments of an inlined
    body hold only within one call, which leaves LLVM run-time overlap checks, and past a
    few arrays it does not vectorise at all). Returns the loads' tags, each output's
    stores' tags and the metadata (the module's only metadata)."""
    if not outputs:
        return "", [], []
    meta = ['!0 = distinct !{!0, !"chaincc"}', '!1 = distinct !{!1, !0, !"in"}']
    meta += [f'!{2 + o} = distinct !{{!{2 + o}, !0, !"out{o}"}}' for o in range(outputs)]
    first = 2 + outputs
    meta += [f"!{first} = !{{!1}}",
             f"!{first + 1} = !{{{', '.join(f'!{2 + o}' for o in range(outputs))}}}"]
    stores = []
    for o in range(outputs):
        own = first + 2 + 2 * o
        others = ", ".join(["!1"] + [f"!{2 + q}" for q in range(outputs) if q != o])
        meta += [f"!{own} = !{{!{2 + o}}}", f"!{own + 1} = !{{{others}}}"]
        stores.append(f", !alias.scope !{own}, !noalias !{own + 1}")
    return f", !alias.scope !{first}, !noalias !{first + 1}", stores, meta


def _param_list(prefix: str, n: int, attrs: str) -> str:
    return ", ".join(f"double* {attrs} %{prefix}{j}" for j in range(n))


def _body_function(prog: Program, name: str, inline: bool, vector: tuple[str, ...] = (),
                   own: tuple[int, ...] | None = ()) -> tuple[list[str], list[str]]:
    """``NAME_body(p0, ..., o0, ...)``: the program at one point, parameter j's elements
    read from p_j and output o's written to o_o. Every kernel calls it: inlined into
    small kernels' loops (which LLVM then vectorises), called from large ones, whose
    loops stay small for LLVM's loop passes. Returns (definition, declarations)."""
    em = Emitter({}, vector, own, inline)
    for j, p in enumerate(prog.params):
        for k, s in enumerate(p.symbols):
            em.names[s] = _gep_load(em, f"%p{j}", k)
    em.body(prog, _arrays(em, prog, "%scratch"))
    for o, out in enumerate(prog.outputs):
        for k, e in enumerate(out.exprs):
            _store(em, em.value(e), f"%o{o}", k)
    args = ", ".join(a for a in (
        _param_list("p", len(prog.params), "noalias nocapture readonly"),
        _param_list("o", len(prog.outputs), "noalias nocapture"),
        "double* noalias nocapture %scratch" if prog.buffers else "") if a)
    attrs = "alwaysinline" if inline else "noinline"
    return ([f"define internal void @{name}_body({args}) nounwind {attrs} {{", "entry:",
             *em.lines, "  ret void", "}", ""], em.declarations())


def _call_body(lines: list[str], name: str, ins: list[str], outs: list[str],
               scratch: str | None = None) -> None:
    args = ", ".join(f"double* {a}" for a in [*ins, *outs, *([scratch] if scratch else [])])
    lines.append(f"  call void @{name}_body({args})")


def _arrays(em: Emitter, prog: Program, scratch: str) -> dict[str, str]:
    """Base pointers of the arrays that Reads and Writes name: parameter j at %p_j,
    output o at %o_o, the buffers one after another in the scratch memory."""
    out = {p.name: f"%p{j}" for j, p in enumerate(prog.params)}
    out.update({output_array(o.name): f"%o{k}" for k, o in enumerate(prog.outputs)})
    at = 0
    for b in prog.buffers:
        out[b.name] = em.ins(f"getelementptr inbounds double, double* {scratch}, i64 {at}")
        at += b.size
    return out


def scratch_size(prog: Program) -> int:
    """Elements of per-point scratch memory the program's loops need."""
    return sum(b.size for b in prog.buffers)


# scratch memory comes from the C library: one allocation per kernel call (per chunk of
# points, so per thread), reused by every point of the chunk
_ALLOC = ["declare noalias i8* @malloc(i64) nounwind", "declare void @free(i8*) nounwind"]


def _alloc(lines: list[str], prog: Program) -> str | None:
    if not prog.buffers:
        return None
    lines.append(f"  %scratch.raw = call i8* @malloc(i64 {8 * max(1, scratch_size(prog))})")
    lines.append("  %scratch = bitcast i8* %scratch.raw to double*")
    return "%scratch"


def _load_pointers(em: Emitter, table: str, n: int) -> list[str]:
    """The n pointers of a table, loaded once before the loop."""
    out = []
    for k in range(n):
        pp = em.ins(f"getelementptr inbounds double*, double** {table}, i64 {k}")
        out.append(em.ins(f"load double*, double** {pp}, align 8"))
    return out


def _element(em: Emitter, base: str, k: int) -> str:
    return em.ins(f"getelementptr inbounds double, double* {base}, i64 {k}")


def _offset(em: Emitter, size: int) -> str | int:
    """Where point %i's elements start in an array of ``size`` elements per point."""
    return "%i" if size == 1 else em.ins(f"mul i64 %i, {size}")


MODES = ("point", "points", "sum")


def module_ir(prog: Program, name: str, mode: str,
              shared: tuple[bool, ...] | None = None, inline: bool = True,
              vector: tuple[str, ...] = (), own: tuple[int, ...] | None = ()) -> str:
    """One kernel of the program (``shared``: per parameter, whether every point shares
    it; per-point parameters are read point after point, ``size`` elements each):

    - ``NAME_point(in, out)``: one point, its inputs' elements one after another in
      ``in`` and every output's elements one after another in ``out``;
    - ``NAME_points(lo, hi, inptr, outptr)``: points lo..hi-1, parameter j's elements
      from ``inptr[j]`` and output o's from ``outptr[o]`` (``size`` per point);
    - ``NAME_sum(lo, hi, inptr, acc)``: acc += the outputs summed over points lo..hi-1:
      point after point, as float64 adds them, for a large program; for a small one
      (``inline``) in partial sums LLVM may keep per lane, as a vectorised reduction
      adds (deterministic for given machine code, within float64's rounding of the
      sum).

    The per-point strides are constants of the kernel, and the pointers passed to the
    body overlap nothing (``native.run`` makes sure), so LLVM may vectorise across
    points. ``inline``: inline the body into the kernel (small programs). ``vector``:
    the vector ISAs whose libmvec variants libm calls may use (``math="fast"``).
    ``own``: the elementary functions chaincc has its own of (``vecmath``) are its own,
    with vector versions of these widths for a loop over points (None: libm's)."""
    assert mode in MODES, mode
    if prog.has_loops and mode != "point" and shared is not None:
        # points in vector lanes
        from .llvm_lanes import lanes_module
        return lanes_module(prog, name, mode, shared, own)
    params, outputs = prog.params, prog.outputs
    # an inlined points kernel writes the program into its loop itself (below)
    body, declared = ([], []) if mode == "points" and inline else \
        _body_function(prog, name, inline, vector if mode != "point" else (),
                       own if mode != "point" and inline or own is None else ())
    lines: list[str] = []
    em = Emitter({})
    em.lines = lines
    if mode == "point":
        ins, outs, k = [], [], 0
        for p in params:
            ins.append(em.ins(f"getelementptr inbounds double, double* %in, i64 {k}"))
            k += p.size
        k = 0
        for o in outputs:
            outs.append(em.ins(f"getelementptr inbounds double, double* %out, i64 {k}"))
            k += _size(o.shape)
        scratch = _alloc(lines, prog)
        _call_body(lines, name, ins, outs, scratch)
        if scratch:
            lines.append("  call void @free(i8* %scratch.raw)")
            declared = [*declared, *_ALLOC]
        return "\n".join([*declared, "", *body,
                          f"define void @{name}_point(double* nocapture readonly %in, "
                          f"double* nocapture %out) nounwind {{", "entry:", *lines,
                          "  ret void", "}", ""])
    assert shared is not None and len(shared) == len(params), (shared, len(params))
    scratch = _alloc(lines, prog)
    bases = _load_pointers(em, "%inptr", len(params))
    total = sum(_size(o.shape) for o in outputs)
    if mode == "points":
        obases = _load_pointers(em, "%outptr", len(outputs))
    else:
        lines.append(f"  %buf = alloca [{max(1, total)} x double], align 8")
        buf = em.ins(f"getelementptr inbounds [{max(1, total)} x double], "
                     f"[{max(1, total)} x double]* %buf, i64 0, i64 0")
        obuf, k = [], 0
        for o in outputs:
            obuf.append(em.ins(f"getelementptr inbounds double, double* {buf}, i64 {k}"))
            k += _size(o.shape)
    empty = em.ins("icmp sge i64 %lo, %hi")
    head = ["entry:", *lines, f"  br i1 {empty}, label %done, label %loop", "loop:",
            "  %i = phi i64 [%lo, %entry], [%inext, %next]"]
    lines.clear()
    ins = [base if sh else em.ins(f"getelementptr inbounds double, double* {base}, i64 "
                                  f"{_offset(em, p.size)}")
           for p, base, sh in zip(params, bases, shared)]
    if mode == "points":
        outs = [em.ins(f"getelementptr inbounds double, double* {base}, i64 "
                       f"{_offset(em, _size(o.shape))}") for o, base in zip(outputs, obases)]
        if inline:
            # the body written into the loop itself, its loads and stores in scopes
            # that say the arrays do not overlap (see _scopes)
            loads, stores, scope_meta = _scopes(len(outputs))
            em.vector, em.own, em.inline = vector, own, True
            for p, ptr in zip(params, ins):
                for k, sym in enumerate(p.symbols):
                    em.names[sym] = _gep_load(em, ptr, k, loads)
            em.body(prog)
            for o, ptr, tags in zip(outputs, outs, stores):
                for k, e in enumerate(o.exprs):
                    _store(em, em.value(e), ptr, k, tags)
            body, declared = [], [*em.declarations(), *scope_meta]
        else:
            _call_body(lines, name, ins, outs, scratch)
        lines.append("  br label %next")
        add: list[str] = []
    elif inline:
        # a small program: each output's running sum a phi, added with reassociation
        # allowed, so LLVM may keep several partial sums per output (vectorising across
        # points); for given machine code and chunks the sum is deterministic
        _call_body(lines, name, ins, obuf, scratch)
        for k in range(total):
            v = em.ins(f"load double, double* {_element(em, buf, k)}, align 8")
            lines.append(f"  %s{k}next = fadd reassoc double %s{k}, {v}")
        lines.append("  br label %next")
        head += [f"  %s{k} = phi double [{double(0.0)}, %entry], [%s{k}next, %next]"
                 for k in range(total)]
        add = []
    else:
        _call_body(lines, name, ins, obuf, scratch)
        # acc[k] += buf[k], k = 0..total-1, in order: the sum as float64 adds it
        lines.append("  br label %add")
        add = ["add:", "  %k = phi i64 [0, %loop], [%knext, %add]",
               f"  %bk = getelementptr inbounds double, double* {buf}, i64 %k",
               "  %bv = load double, double* %bk, align 8",
               "  %ak = getelementptr inbounds double, double* %acc, i64 %k",
               "  %av = load double, double* %ak, align 8",
               "  %as = fadd double %av, %bv",
               "  store double %as, double* %ak, align 8",
               "  %knext = add nuw nsw i64 %k, 1",
               f"  %kmore = icmp slt i64 %knext, {total}",
               "  br i1 %kmore, label %add, label %next"]
    tail = ["next:", "  %inext = add nsw i64 %i, 1", "  %more = icmp slt i64 %inext, %hi",
            "  br i1 %more, label %loop, label %exit", "exit:"]
    if mode == "sum" and inline:
        for k in range(total):
            tail += [f"  %a{k} = getelementptr inbounds double, double* %acc, i64 {k}",
                     f"  %a{k}old = load double, double* %a{k}, align 8",
                     f"  %a{k}new = fadd double %a{k}old, %s{k}next",
                     f"  store double %a{k}new, double* %a{k}, align 8"]
    tail += ["  br label %done", "done:"]
    if scratch:
        tail.append("  call void @free(i8* %scratch.raw)")
        declared = [*declared, *_ALLOC]
    tail += ["  ret void", "}", ""]
    sig = ("double** nocapture readonly %inptr, double** nocapture readonly %outptr"
           if mode == "points" else
           "double** nocapture readonly %inptr, double* nocapture %acc")
    return "\n".join([*declared, "", *body,
                      f"define void @{name}_{mode}(i64 %lo, i64 %hi, {sig}) nounwind"
                      f"{_wide(declared, vector, own)} {{",
                      *head, *lines, *add, *tail])


def _wide(declared: list[str], vector: tuple[str, ...], own: tuple[int, ...] | None) -> str:
    """The loop's attributes: where it calls elementary functions that come in 8-lane
    versions (AVX-512), LLVM is asked for 512-bit vectors, which it otherwise avoids on
    CPUs that lower their clock for them. Those functions are compute-bound: in
    benchmarks/bench_speed.py the MLP and the trigonometric chain ran about twice as fast
    at 8 lanes as at 4, while the loops without calls (memory-bound) ran slower."""
    wide = "e" in vector or 8 in (own or ())
    calls = any("@chaincc_" in line or "@_ZGV" in line for line in declared)
    return ' "prefer-vector-width"="512"' if wide and calls else ""


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n   # () is one element


# Optimisation levels by program size: up to OPT_STATEMENTS statements, O3 with the
# loop and SLP vectorisers and the body inlined into the loop over points; beyond, O1 for
# the IR, the body called from the loop (so LLVM's loop passes see a small loop), and
# LLVM's fast instruction selection and register allocation. O3's time grows faster than
# the program (measured per kernel: 0.95 s at 900 statements, 2.0 s at 1,600); the fast
# code generator's linearly (0.08 s at 2,100, 0.1-0.2 s at 12,800), for code that runs
# 1.4-2 times slower. Beyond RAW_STATEMENTS the IR goes to the code generator as written
# (O0): it is already in SSA form with every repeated value shared, so O1 gains little
# (the 64x64 layer's 12,800-statement batch kernel ran 6% slower) for 2.4 times the
# compile time (0.45 s against 0.19 s).
OPT_STATEMENTS = 600
RAW_STATEMENTS = 4000


def plan(prog: Program) -> Plan:
    """How to compile a program's kernels, by its size."""
    n = sum(1 for _ in walk(prog.body))
    # a program with loops is called per point (its loops are the body's, not the
    # kernel's loop over points)
    inline = not prog.has_loops
    return Plan(3, 3, inline) if n <= OPT_STATEMENTS else \
        Plan(1, 0, False) if n <= RAW_STATEMENTS else Plan(0, 0, False)
