"""Batch kernels for programs with loops: several points at once, one per vector lane.

A loop's iterations depend on each other (a recurrence's step needs the last one), so a
point's loop runs at the speed of its chain of dependent operations, and LLVM's loop
vectoriser, which vectorises innermost loops, cannot spread the loop over points. Every
point runs the same iterations, though (the trip counts are the program's, not the
data's), so ``lanes`` points can run the program together, each value a vector of one
element per point: the operations of the points interleave (filling the pipeline that one
point's chain leaves idle) and each is one vector instruction.

The vector body (``NAME_vbody``) reads a parameter's element for each lane from its point
(a gather: the points lie a parameter's size apart; a parameter every point shares is
read once and broadcast), keeps the loops' scratch memory (tapes) lane by lane in vector
order (one vector load or store per element), writes outputs lane by lane, and calls
chaincc's own elementary functions in their vector versions (libm's functions one lane
at a time). A fixed point's loop ends when every lane has converged; a lane that
converged first iterates on at its solution. The batch kernel runs the vector body over
the points in groups of ``lanes`` and the scalar body (llvm.py) over the rest; a sum over
points adds the lanes' outputs in point order, as the scalar kernel does.
"""

from __future__ import annotations

import sympy as sp

from ..ir import Program, output_array
from . import vecmath
from .llvm import _ALLOC, Emitter, _body_function, _size, double, scratch_size

LANES = 8


class LaneEmitter(Emitter):
    """Instructions on ``<lanes x double>`` values; ``arrays`` maps an array's name to
    (kind, base pointer, stride between lanes): kind "gather" (parameters and outputs,
    lane l's element at base + l·stride + index) or "vector" (scratch, element-major)."""

    def __init__(self, lanes: int, own: tuple[int, ...] | None) -> None:
        super().__init__({}, (), (lanes,) if own is not None else None, False)
        self.width = lanes
        self.ty = f"<{lanes} x double>"
        self.bty = f"<{lanes} x i1>"
        self.reduce_used = False

    def num(self, v: float) -> str:
        return "<" + ", ".join([f"double {double(v)}"] * self.width) + ">"

    def truth(self, v: bool) -> str:
        word = "true" if v else "false"
        return "<" + ", ".join([f"i1 {word}"] * self.width) + ">"

    def splat(self, scalar: str) -> str:
        one = self.ins(f"insertelement {self.ty} undef, double {scalar}, i32 0")
        return self.ins(f"shufflevector {self.ty} {one}, {self.ty} undef, "
                        f"<{self.width} x i32> zeroinitializer")

    def index_value(self, i: str) -> str:
        return self.splat(self.ins(f"sitofp i64 {i} to double"))

    def until_head(self, tag: str, pred: str) -> None:
        # the lanes that have converged, each frozen at its solution from then on, so
        # that a point's result is what it would be alone
        self.lines.append(f"  %{tag}.m = phi {self.bty} [{self.truth(False)}, %{pred}], "
                          f"[%{tag}.mnext, %{tag}.latch]")

    def until_latch(self, tag: str, phis: list[str], nexts: list[str], done: str
                    ) -> tuple[list[str], str]:
        kept = [self.select(f"%{tag}.m", ph, n) for ph, n in zip(phis, nexts)]
        self.lines.append(f"  %{tag}.mnext = or {self.bty} %{tag}.m, {done}")
        self.reduce_used = True
        every = self.ins(f"call i1 @llvm.vector.reduce.and.v{self.width}i1("
                         f"{self.bty} %{tag}.mnext)")
        return kept, every

    def call(self, fname: str, *args: str) -> str:
        if self.own is not None and fname in vecmath.FUNCTIONS:
            self.own_used.add(fname)
            arglist = ", ".join(f"{self.ty} {a}" for a in args)
            return self.ins(f"call {self.ty} @{vecmath.symbol(fname, self.width)}({arglist})")
        self.declared.add(fname)
        acc = "undef"
        for lane in range(self.width):
            scalars = [self.ins(f"extractelement {self.ty} {a}, i32 {lane}") for a in args]
            r = self.ins(f"call double @{fname}({', '.join('double ' + x for x in scalars)})")
            acc = self.ins(f"insertelement {self.ty} {acc}, double {r}, i32 {lane}")
        return acc

    def _lane_pointer(self, base: str, at: str, lane: int, stride: int) -> str:
        if lane and stride:
            at = self.ins(f"add nsw i64 {at}, {lane * stride}")
        return self.ins(f"getelementptr inbounds double, double* {base}, i64 {at}")

    def read(self, array: str, at: str) -> str:
        kind, base, stride = self.arrays[array]
        if kind == "vector":
            p = self.ins(f"getelementptr inbounds {self.ty}, {self.ty}* {base}, i64 {at}")
            return self.ins(f"load {self.ty}, {self.ty}* {p}, align 8")
        if stride == 0:
            p = self._lane_pointer(base, at, 0, 0)
            return self.splat(self.ins(f"load double, double* {p}, align 8"))
        acc = "undef"
        for lane in range(self.width):
            p = self._lane_pointer(base, at, lane, stride)
            v = self.ins(f"load double, double* {p}, align 8")
            acc = self.ins(f"insertelement {self.ty} {acc}, double {v}, i32 {lane}")
        return acc

    def write(self, array: str, at: str, v: str) -> None:
        kind, base, stride = self.arrays[array]
        if kind == "vector":
            p = self.ins(f"getelementptr inbounds {self.ty}, {self.ty}* {base}, i64 {at}")
            self.lines.append(f"  store {self.ty} {v}, {self.ty}* {p}, align 8")
            return
        for lane in range(self.width):
            p = self._lane_pointer(base, at, lane, stride)
            x = self.ins(f"extractelement {self.ty} {v}, i32 {lane}")
            self.lines.append(f"  store double {x}, double* {p}, align 8")

    def declarations(self) -> list[str]:
        out = super().declarations()
        if self.reduce_used:
            out.append(f"declare i1 @llvm.vector.reduce.and.v{self.width}i1({self.bty})")
        return out


def _vector_body(prog: Program, name: str, lanes: int, strides: list[int],
                 ostrides: list[int], own: tuple[int, ...] | None
                 ) -> tuple[list[str], list[str]]:
    """``NAME_vbody(p0, ..., o0, ..., scratch)``: the program for ``lanes`` points, lane
    l's parameter j at p_j + l·strides[j] and output o at o_o + l·ostrides[o]."""
    em = LaneEmitter(lanes, own)
    arrays: dict[str, tuple[str, str, int]] = {}
    for j, p in enumerate(prog.params):
        arrays[p.name] = ("gather", f"%p{j}", strides[j])
    for o, out in enumerate(prog.outputs):
        arrays[output_array(out.name)] = ("gather", f"%o{o}", ostrides[o])
    if prog.buffers:
        vs = em.ins(f"bitcast double* %scratch to {em.ty}*")
        at = 0
        for b in prog.buffers:
            arrays[b.name] = ("vector", em.ins(
                f"getelementptr inbounds {em.ty}, {em.ty}* {vs}, i64 {at}"), 0)
            at += b.size
    em.arrays = arrays
    for p in prog.params:
        for k, s in enumerate(p.symbols):
            em.names[s] = em.read(p.name, str(k))
    em.ints, em.block, em.loops = {}, "entry", 0
    em.statements(prog.body)
    for out in prog.outputs:
        for k, e in enumerate(out.exprs):
            em.write(output_array(out.name), str(k), em.value(e))
    args = ", ".join([f"double* noalias nocapture readonly %p{j}"
                      for j in range(len(prog.params))]
                     + [f"double* noalias nocapture %o{o}" for o in range(len(prog.outputs))]
                     + ["double* noalias nocapture %scratch"])
    return ([f"define internal void @{name}_vbody({args}) nounwind noinline {{", "entry:",
             *em.lines, "  ret void", "}", ""], em.declarations())


def lanes_module(prog: Program, name: str, mode: str, shared: tuple[bool, ...],
                 own: tuple[int, ...] | None, lanes: int = LANES) -> str:
    """The batch kernel ``NAME_points`` or ``NAME_sum`` (llvm.module_ir's signatures) of
    a program with loops: groups of ``lanes`` points in the vector body, the rest one by
    one in the scalar body."""
    assert mode in ("points", "sum"), mode
    params, outputs = prog.params, prog.outputs
    sizes = [p.size for p in params]
    osizes = [_size(o.shape) for o in outputs]
    total = sum(osizes)
    strides = [0 if sh else n for sh, n in zip(shared, sizes)]
    ostrides = osizes if mode == "points" else [total] * len(outputs)
    vbody, vdecl = _vector_body(prog, name, lanes, strides, ostrides, own)
    sbody, sdecl = _body_function(prog, name, False, (), () if own is not None else None)
    L: list[str] = ["entry:"]
    n = [0]

    def v(text: str) -> str:
        n[0] += 1
        L.append(f"  %k{n[0]} = {text}")
        return f"%k{n[0]}"

    scratch = "null"
    if prog.buffers:
        L.append(f"  %scratch.raw = call i8* @malloc(i64 {8 * lanes * max(1, scratch_size(prog))})")
        L.append("  %scratch = bitcast i8* %scratch.raw to double*")
        scratch = "%scratch"
    bases = []
    for j in range(len(params)):
        pp = v(f"getelementptr inbounds double*, double** %inptr, i64 {j}")
        bases.append(v(f"load double*, double** {pp}, align 8"))
    if mode == "points":
        obases = []
        for o in range(len(outputs)):
            pp = v(f"getelementptr inbounds double*, double** %outptr, i64 {o}")
            obases.append(v(f"load double*, double** {pp}, align 8"))
    else:
        L.append(f"  %buf = alloca [{max(1, lanes * total)} x double], align 8")
        buf = v(f"getelementptr inbounds [{max(1, lanes * total)} x double], "
                f"[{max(1, lanes * total)} x double]* %buf, i64 0, i64 0")
    count = v("sub i64 %hi, %lo")
    whole = v(f"and i64 {count}, {-lanes}")
    vend = v(f"add i64 %lo, {whole}")
    L += ["  br label %vcheck", "vcheck:",
          "  %i = phi i64 [%lo, %entry], [%inext, %vlatch]"]
    more = v(f"icmp slt i64 %i, {vend}")
    L += [f"  br i1 {more}, label %vbody, label %scheck", "vbody:"]

    def pointers(point: str) -> tuple[list[str], list[str]]:
        ins = [base if sh else v(f"getelementptr inbounds double, double* {base}, i64 "
                                 f"{v(f'mul i64 {point}, {size}')}")
               for base, sh, size in zip(bases, shared, sizes)]
        if mode == "points":
            outs = [v(f"getelementptr inbounds double, double* {base}, i64 "
                      f"{v(f'mul i64 {point}, {size}')}") for base, size in zip(obases, osizes)]
        else:
            outs, at = [], 0
            for size in osizes:
                outs.append(v(f"getelementptr inbounds double, double* {buf}, i64 {at}"))
                at += size
        return ins, outs

    ins, outs = pointers("%i")
    args = ", ".join(f"double* {a}" for a in [*ins, *outs, scratch])
    L.append(f"  call void @{name}_vbody({args})")
    if mode == "sum":
        # acc[k] += buf[l·total + k], lane after lane (point order), k in order
        L += ["  br label %vadd", "vadd:", "  %q = phi i64 [0, %vbody], [%qnext, %vadd]"]
        k = v(f"urem i64 %q, {max(1, total)}")
        pb = v(f"getelementptr inbounds double, double* {buf}, i64 %q")
        bv = v(f"load double, double* {pb}, align 8")
        pa = v(f"getelementptr inbounds double, double* %acc, i64 {k}")
        av = v(f"load double, double* {pa}, align 8")
        s = v(f"fadd double {av}, {bv}")
        L.append(f"  store double {s}, double* {pa}, align 8")
        L.append("  %qnext = add nuw nsw i64 %q, 1")
        qmore = v(f"icmp slt i64 %qnext, {lanes * total}")
        L.append(f"  br i1 {qmore}, label %vadd, label %vlatch")
    else:
        L.append("  br label %vlatch")
    L += ["vlatch:", f"  %inext = add i64 %i, {lanes}", "  br label %vcheck",
          "scheck:", "  %j = phi i64 [%i, %vcheck], [%jnext, %slatch]"]
    smore = v("icmp slt i64 %j, %hi")
    L += [f"  br i1 {smore}, label %sbody, label %done", "sbody:"]
    ins, outs = pointers("%j")
    args = ", ".join(f"double* {a}" for a in [*ins, *outs, *([scratch] if prog.buffers else [])])
    L.append(f"  call void @{name}_body({args})")
    if mode == "sum":
        L += ["  br label %sadd", "sadd:", "  %r = phi i64 [0, %sbody], [%rnext, %sadd]"]
        pb = v(f"getelementptr inbounds double, double* {buf}, i64 %r")
        bv = v(f"load double, double* {pb}, align 8")
        pa = v("getelementptr inbounds double, double* %acc, i64 %r")
        av = v(f"load double, double* {pa}, align 8")
        s = v(f"fadd double {av}, {bv}")
        L.append(f"  store double {s}, double* {pa}, align 8")
        L.append("  %rnext = add nuw nsw i64 %r, 1")
        rmore = v(f"icmp slt i64 %rnext, {max(1, total)}")
        L.append(f"  br i1 {rmore}, label %sadd, label %slatch")
    else:
        L.append("  br label %slatch")
    L += ["slatch:", "  %jnext = add i64 %j, 1", "  br label %scheck", "done:"]
    if prog.buffers:
        L.append("  call void @free(i8* %scratch.raw)")
    L += ["  ret void", "}", ""]
    sig = ("double** nocapture readonly %inptr, double** nocapture readonly %outptr"
           if mode == "points" else
           "double** nocapture readonly %inptr, double* nocapture %acc")
    decls = _merge(sdecl, vdecl) + (_ALLOC if prog.buffers else [])
    return "\n".join([*decls, "", *sbody, *vbody,
                      f"define void @{name}_{mode}(i64 %lo, i64 %hi, {sig}) nounwind {{",
                      *L])


def _merge(a: list[str], b: list[str]) -> list[str]:
    """Two emitters' declarations without repeats (function definitions of chaincc's own
    functions and attribute groups may appear in both)."""
    out: list[str] = []
    seen: set[str] = set()
    block: list[str] = []
    for line in [*a, *b]:
        # a definition spans lines up to its closing brace: keep whole definitions
        if block or line.startswith("define "):
            block.append(line)
            if line == "}":
                text = "\n".join(block)
                head = block[0]
                block = []
                if head not in seen:
                    seen.add(head)
                    out.append(text)
            continue
        if line not in seen:
            seen.add(line)
            out.append(line)
    return out


__all__ = ["LANES", "LaneEmitter", "lanes_module", "sp"]
