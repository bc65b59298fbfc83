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

from ..functions import Where
from ..ir import Program
from ..libm import arity
from ..ops import op_of, power

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
        """``rel``: ``<``, ``<=``, ... (or an fcmp condition code)."""
        return self.ins(f"fcmp {RELATIONS.get(rel, rel)} double {a}, {b}")

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
        return self.ins(f"fneg double {a}")

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
            return power(self, self.value(e.base), e.exp, self.value(e.exp))
        if isinstance(e, Where):
            return self.select(self.cond(e.args[0]), self.value(e.args[1]),
                               self.value(e.args[2]))
        op = op_of(e)
        assert op is not None, f"no LLVM lowering for {type(e).__name__}"
        return op.run(self, *(self.value(a) for a in e.args))

    def body(self, prog: Program) -> None:
        for a in prog.body:
            self.names[a.target] = self.op(a.expr)

    def declarations(self) -> list[str]:
        out = []
        for f in sorted(self.declared):
            out.append(f"declare double @{f}({', '.join(['double'] * arity(f))})")
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
        with _compiler_lock():
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


def _compiler_lock():
    """Numba's lock around LLVM work: llvmlite parses into one global LLVM context, which
    is not safe to use from several threads at once (Numba's compiler included)."""
    from numba.core.compiler_lock import global_compiler_lock
    return global_compiler_lock


def compile_object(ir_text: str) -> bytes:
    """Optimise and compile the IR to an object file for this machine."""
    llvm = _llvm()
    with _compiler_lock():
        mod = llvm.parse_assembly(ir_text)
        mod.verify()
        tm = _target_machine()
        pb = llvm.create_pass_builder(tm,
                                      llvm.create_pipeline_tuning_options(speed_level=OPT))
        pb.getModulePassManager().run(mod, pb)
        return tm.emit_object(mod)


POINTS = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
                          ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
SUM = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
                       ctypes.c_void_p, ctypes.c_void_p)


class Kernel:
    """One loaded kernel (machine code from ``compile_object``); calls release the GIL.

    Object files read from the disk cache are checked against their hash before they
    get here (``cache.read_object``): LLVM's loader trusts the bytes it is given."""

    def __init__(self, obj: bytes, symbol: str, kind: str) -> None:
        assert obj, "empty object file"
        llvm = _llvm()
        with _compiler_lock():
            self._engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""),
                                                      _target_machine())
            self._engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
            self._engine.finalize_object()
            address = self._engine.get_function_address(symbol)
        assert address, f"object file has no symbol {symbol}"
        proto = POINTS if kind == "points" else SUM
        self.call = proto(address)
