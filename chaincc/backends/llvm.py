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

import ctypes
import struct

import sympy as sp
from sympy.logic.boolalg import BooleanFalse, BooleanTrue

from ..functions import (
    Cbrt,
    LogSumExp,
    Maximum,
    Minimum,
    Relu,
    Sigmoid,
    Softplus,
    Where,
    expm1,
    hypot,
    log1p,
    log2,
    log10,
)
from ..ir import Program
from ..optimize import SMALL_POWER

LIBM = {sp.sin: "sin", sp.cos: "cos", sp.tan: "tan", sp.asin: "asin", sp.acos: "acos",
        sp.atan: "atan", sp.sinh: "sinh", sp.cosh: "cosh", sp.tanh: "tanh",
        sp.asinh: "asinh", sp.acosh: "acosh", sp.atanh: "atanh", sp.exp: "exp",
        expm1: "expm1", sp.log: "log", log1p: "log1p", log2: "log2", log10: "log10",
        Cbrt: "cbrt", sp.erf: "erf", sp.erfc: "erfc", sp.atan2: "atan2", hypot: "hypot",
        sp.floor: "floor", sp.ceiling: "ceil", sp.Abs: "fabs"}
RELATIONS = {"<": "olt", "<=": "ole", ">": "ogt", ">=": "oge", "==": "oeq", "!=": "une"}


def double(v: float) -> str:
    """An exact LLVM double literal."""
    bits = struct.unpack("<Q", struct.pack("<d", float(v)))[0]
    return f"0x{bits:016X}"


class Emitter:
    """Writes SSA instructions for Program statements into ``lines``."""

    def __init__(self, names: dict[sp.Basic, str]) -> None:
        self.names = dict(names)
        self.lines: list[str] = []
        self.count = 0
        self.declared: set[str] = set()

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
            return "true" if isinstance(e, BooleanTrue) else "false"
        if e is sp.zoo or e is sp.nan:
            return double(float("nan"))
        if e.is_number:
            return double(float(e))
        return self.op(e)

    def call(self, fname: str, *args: str) -> str:
        self.declared.add(fname)
        return self.ins(f"call double @{fname}({', '.join('double ' + a for a in args)})")

    def fbin(self, op: str, a: str, b: str) -> str:
        return self.ins(f"{op} double {a}, {b}")

    def select(self, c: str, a: str, b: str) -> str:
        return self.ins(f"select i1 {c}, double {a}, double {b}")

    def cmp(self, rel: str, a: str, b: str) -> str:
        return self.ins(f"fcmp {rel} double {a}, {b}")

    def cond(self, e: sp.Basic) -> str:
        if isinstance(e, (BooleanTrue, BooleanFalse)):
            return self.value(e)
        if isinstance(e, sp.core.relational.Relational):
            return self.cmp(RELATIONS[e.rel_op], self.value(e.lhs), self.value(e.rhs))
        if isinstance(e, sp.Not):
            return self.ins(f"xor i1 {self.cond(e.args[0])}, true")
        parts = [self.cond(a) for a in e.args]
        acc = parts[0]
        for p in parts[1:]:
            acc = self.ins(f"{'and' if isinstance(e, sp.And) else 'or'} i1 {acc}, {p}")
        return acc

    def op(self, e: sp.Basic) -> str:
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
            acc = self.value(num[0]) if num else double(1.0)
            for a in num[1:]:
                acc = self.fbin("fmul", acc, self.value(a))
            if den:
                d = self.value(den[0])
                for a in den[1:]:
                    d = self.fbin("fmul", d, self.value(a))
                acc = self.fbin("fdiv", acc, d)
            return self.ins(f"fneg double {acc}") if neg else acc
        if isinstance(e, sp.Pow):
            x, p = self.value(e.base), e.exp
            if p.is_Integer and 0 < abs(p) <= SMALL_POWER:
                acc = x
                for _ in range(abs(int(p)) - 1):
                    acc = self.fbin("fmul", acc, x)
                return acc if p > 0 else self.fbin("fdiv", double(1.0), acc)
            if p == sp.Rational(1, 2):
                return self.call("sqrt", x)
            if p == sp.Rational(-1, 2):
                return self.fbin("fdiv", double(1.0), self.call("sqrt", x))
            return self.call("pow", x, self.value(p))
        t = type(e)
        if t in LIBM:
            return self.call(LIBM[t], *(self.value(a) for a in e.args))
        if t is Where:
            return self.select(self.cond(e.args[0]), self.value(e.args[1]),
                               self.value(e.args[2]))
        x = self.value(e.args[0]) if e.args else ""
        zero = double(0.0)
        if t is sp.sign:
            neg = self.select(self.cmp("olt", x, zero), double(-1.0),
                              self.fbin("fmul", x, zero))
            return self.select(self.cmp("ogt", x, zero), double(1.0), neg)
        if t is Relu:
            return self.select(self.cmp("ogt", x, zero), x, zero)
        if t is Sigmoid:
            ex = self.call("exp", self.ins(f"fneg double {x}"))
            return self.fbin("fdiv", double(1.0), self.fbin("fadd", double(1.0), ex))
        if t is Softplus:
            m = self.select(self.cmp("ogt", x, zero), x, zero)
            ex = self.call("exp", self.ins(f"fneg double {self.call('fabs', x)}"))
            return self.fbin("fadd", m, self.call("log1p", ex))
        if t in (Maximum, Minimum):
            rel = "oge" if t is Maximum else "ole"
            acc = x
            for a in e.args[1:]:
                v = self.value(a)
                acc = self.select(self.cmp(rel, acc, v), acc, v)
            return acc
        if t is LogSumExp:
            m = x
            total = None
            for a in e.args[1:]:
                ex = self.call("exp", self.fbin("fsub", self.value(a), m))
                total = ex if total is None else self.fbin("fadd", total, ex)
            return self.fbin("fadd", m, self.call("log", total))
        raise AssertionError(f"no LLVM lowering for {t.__name__}")

    def body(self, prog: Program) -> None:
        for a in prog.body:
            self.names[a.target] = self.op(a.expr)

    def declarations(self) -> list[str]:
        out = []
        for f in sorted(self.declared):
            arity = 2 if f in ("atan2", "hypot", "pow") else 1
            out.append(f"declare double @{f}({', '.join(['double'] * arity)})")
        return out


def _gep_load(em: Emitter, base: str, index: str) -> str:
    p = em.ins(f"getelementptr double, double* {base}, i64 {index}")
    return em.ins(f"load double, double* {p}")


def module_ir(prog: Program, name: str, kind: str) -> str:
    """``NAME_points(lo, hi, inptr, instride, outptr, outstride)``: the outputs at points
    lo..hi-1, or with kind "sum" ``NAME_sum(lo, hi, inptr, instride, acc)``: acc += the
    outputs summed over them. Input j of point i is at ``inptr[j][i * instride[j]]``."""
    syms = prog.input_symbols
    outs = [e for o in prog.outputs for e in o.exprs]
    em = Emitter({})
    bases, strides = _table(em, "%inptr", "%instride", len(syms))
    if kind == "points":
        obases, ostrides = _table(em, "%outptr", "%outstride", len(outs))
    head = ["entry:", *em.lines]
    em.lines = []
    empty = em.ins("icmp sge i64 %lo, %hi")
    head += [*em.lines, f"  br i1 {empty}, label %done, label %loop", "loop:"]
    em.lines = []
    acc = [(em.fresh(), em.fresh()) for _ in outs] if kind == "sum" else []
    for k, s in enumerate(syms):
        off = em.ins(f"mul i64 %i, {strides[k]}")
        em.names[s] = _gep_load(em, bases[k], off)
    em.body(prog)
    for k, e in enumerate(outs):
        v = em.value(e)
        if kind == "points":
            off = em.ins(f"mul i64 %i, {ostrides[k]}")
            p = em.ins(f"getelementptr double, double* {obases[k]}, i64 {off}")
            em.lines.append(f"  store double {v}, double* {p}")
        else:
            em.lines.append(f"  {acc[k][1]} = fadd double {acc[k][0]}, {v}")
    phis = ["  %i = phi i64 [%lo, %entry], [%inext, %loop]"]
    phis += [f"  {phi} = phi double [{double(0.0)}, %entry], [{nxt}, %loop]"
             for phi, nxt in acc]
    tail = ["  %inext = add i64 %i, 1", "  %more = icmp slt i64 %inext, %hi",
            "  br i1 %more, label %loop, label %exit", "exit:"]
    for k, (_, nxt) in enumerate(acc):
        tail += [f"  %a{k} = getelementptr double, double* %acc, i64 {k}",
                 f"  %a{k}old = load double, double* %a{k}",
                 f"  %a{k}new = fadd double %a{k}old, {nxt}",
                 f"  store double %a{k}new, double* %a{k}"]
    tail += ["  br label %done", "done:", "  ret void", "}", ""]
    sig = ("double** %inptr, i64* %instride, double** %outptr, i64* %outstride"
           if kind == "points" else "double** %inptr, i64* %instride, double* %acc")
    return "\n".join([*em.declarations(), "",
                      f"define void @{name}_{kind}(i64 %lo, i64 %hi, {sig}) nounwind {{",
                      *head, *phis, *em.lines, *tail])


def _table(em: Emitter, ptrs: str, strides: str, n: int) -> tuple[list[str], list[str]]:
    """Loads of n base pointers and strides, once before the loop."""
    bases, steps = [], []
    for k in range(n):
        pp = em.ins(f"getelementptr double*, double** {ptrs}, i64 {k}")
        bases.append(em.ins(f"load double*, double** {pp}"))
        sp_ = em.ins(f"getelementptr i64, i64* {strides}, i64 {k}")
        steps.append(em.ins(f"load i64, i64* {sp_}"))
    return bases, steps


# The optimisation level for these large straight-line bodies: O1 keeps the compile
# time near linear in the program size; O2 and O3 mostly add scheduling time here.
OPT = 1
_initialised = False


def _llvm():
    global _initialised
    import llvmlite.binding as llvm
    if not _initialised:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _initialised = True
    return llvm


def _target_machine():
    llvm = _llvm()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(),
                                        opt=OPT, jit=True)


def compile_object(ir_text: str) -> bytes:
    """Optimise and compile the IR to an object file for this machine."""
    llvm = _llvm()
    mod = llvm.parse_assembly(ir_text)
    mod.verify()
    tm = _target_machine()
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=OPT))
    pb.getModulePassManager().run(mod, pb)
    return tm.emit_object(mod)


POINTS = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
                          ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
SUM = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
                       ctypes.c_void_p, ctypes.c_void_p)


class Kernel:
    """One loaded kernel (machine code from ``compile_object``); calls release the GIL."""

    def __init__(self, obj: bytes, symbol: str, kind: str) -> None:
        llvm = _llvm()
        self._engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""),
                                                  _target_machine())
        self._engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        self._engine.finalize_object()
        proto = POINTS if kind == "points" else SUM
        self.call = proto(self._engine.get_function_address(symbol))
