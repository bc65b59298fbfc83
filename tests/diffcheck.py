"""Differential checking: every evaluation path of chaincc against the reference interpreter.

For one program (tests/progs.py) and a few points per function, the value and the gradient
(the Jacobian for a vector-valued function) from each path are compared with
``chaincc.reference``, which evaluates the syntax tree directly in high precision:

    numba     Numba scalar kernel (``CHAINCC_CPU_BACKEND=numba``), ``fn.value_and_grad(floats)``
    batch     Numba batch kernels: all points in one call (arrays with a batch dimension)
    sum       Numba reduction kernel, ``reduce="sum"``, against the sum of the references
    llvm      the LLVM backend (chaincc's default for CPU programs): scalar, batch, and
              its reduction kernel (``llvm-sum``)
    c         ``fn.compile_c()`` through ctypes: scalar and batch
    cuda      the Numba CUDA kernels (only in a process with NUMBA_ENABLE_CUDASIM=1 or a GPU)
    eval      the float64 evaluator (chaincc/evaluate.py) over the fused program
    derive    the structured derivation ``explain`` prints (chaincc/derivation.py)
    explain   the numbers at the end of ``fn.explain(at=...)`` text

Tolerance: relative 1e-9, plus an absolute floor of 1e-11 times the largest magnitude of
any input or intermediate of the fused program at that point, at least 1 (rounding in a sum
is relative to its largest term, not to the result). NaN must meet NaN, and an infinity
the same infinity. Documented cases are counted as ``excused:near-tie``,
``excused:ill-conditioned`` (also wherever the reference itself moves beyond the
tolerance when the inputs move by 4 ulps) and ``excused:overflow`` rather than as
disagreements (see ``excused`` and ``FunctionCheck.unstable``). Disagreements are
classified by backend and kind: ``value``,
``gradient``, ``nan-mismatch`` (one side NaN), ``inf-mismatch``, ``shape``,
``exception`` and, on the CUDA simulator, ``simulator-limit``.

Run as a script (``python tests/diffcheck.py --cuda SEED...``) it checks the CUDA path of
the given seeds and prints the disagreements as JSON; the caller sets
NUMBA_ENABLE_CUDASIM=1 for that process.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import progs  # noqa: E402

REL = 1e-9
FLOOR = 1e-11
FAST = ("numba", "batch", "sum", "eval", "derive")
SLOW = ("llvm", "c", "explain")
ALL = FAST + SLOW


@dataclass(frozen=True)
class Result:
    """A value and one derivative array per parameter (shape: value shape + parameter
    shape), or the exception text."""

    value: np.ndarray | None
    grads: tuple[np.ndarray, ...] = ()
    error: str | None = None
    near_tie: bool = False          # (the reference) a decision at a near tie was taken
    ill_conditioned: bool = False   # (the reference) sin/cos/tan of an argument > 2^20
    overflowed: bool = False        # (the reference) a value beyond float64's range
    #                                 (above it, or below its smallest subnormal)


@dataclass(frozen=True)
class Disagreement:
    backend: str
    kind: str               # value, gradient, nan-mismatch, inf-mismatch, exception
    function: str
    seed: int
    point: str              # the point, as text (repr of floats)
    detail: str
    source: str

    def key(self) -> tuple[str, str]:
        return (self.backend, self.kind)


# ------------------------------------------------------------------ the reference -----

def reference(source: str, name: str, point: dict, out_shape: tuple,
              shapes: Sequence[tuple]) -> Result:
    """The reference interpreter's value and derivatives at ``point``."""
    from chaincc import reference as ref
    from chaincc import reference_math
    reference_math.reset_counts()
    try:
        value, grads = ref.evaluate(source, dict(point), entry=name)
    except Exception as ex:  # noqa: BLE001 - reported as a disagreement of the reference
        return Result(None, (), f"{type(ex).__name__}: {ex}")
    value = np.asarray(value, dtype=float).reshape(out_shape)
    gs = tuple(np.asarray(grads[p], dtype=float).reshape(out_shape + s)
               for p, s in zip(point, shapes))
    return Result(value, gs, near_tie=reference_math.NEAR_TIES > 0,
                  ill_conditioned=reference_math.ILL_CONDITIONED > 0,
                  overflowed=reference_math.OVERFLOWS + reference_math.UNDERFLOWS > 0)


# How far (relative) ``unstable`` moves every input: 4 ulps.
NUDGE = 4 * 2.0 ** -52

# Beyond this (about the square root of the largest float64) a product of two values
# overflows: a derivative's formula may then overflow where the exact derivative is finite.
HUGE = 1e154


def excused(bad: tuple[str, str], want: Result, huge: bool = False) -> str | None:
    """Why a disagreement is not a fault of the path, or None. ``near-tie``: the
    reference took a decision (a comparison, max/min, floor/ceil) within rounding of a
    tie, where float64 may decide the other way. ``ill-conditioned``: sin, cos or tan of
    an argument beyond 2^20, which depends on the argument's last float64 bits.
    ``overflow``: a derivative at a point where a value overflowed or underflowed
    float64 (the reference's ±inf or 0), where the kernel's program holds values beyond
    HUGE (``huge``), or a derivative that is ±inf on one side and nan on the other:
    contributions that overflow meet (inf − inf, 0·inf) in a different order in the
    reverse sweep than in the reference's forward one; docs/language.md states these."""
    if want.near_tie:
        return "near-tie"
    if want.ill_conditioned:
        return "ill-conditioned"
    kind, detail = bad
    if detail.startswith("d/d") and (want.overflowed or huge or kind == "nan-mismatch" and any(
            detail.endswith(e) for e in ("got nan, want inf", "got nan, want -inf",
                                         "got inf, want nan", "got -inf, want nan"))):
        return "overflow"
    return None


def reference_available() -> bool:
    try:
        from chaincc import reference  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------ the paths ---------

def _both(fn, args: list, out_shape: tuple, **kw) -> Result:
    if out_shape:
        jac = fn.jacobian(*args) if not kw else ()
        return Result(np.asarray(fn(*args, **kw), dtype=float),
                      tuple(np.asarray(j, dtype=float) for j in jac))
    v, g = fn.value_and_grad(*args, **kw)
    return Result(np.asarray(v, dtype=float), tuple(np.asarray(x, dtype=float) for x in g))


def _stack(points: list[dict], names: Sequence[str]) -> list[np.ndarray]:
    return [np.stack([np.asarray(p[n], dtype=float) for p in points]) for n in names]


def _split(r: Result, k: int) -> list[Result]:
    return [Result(r.value[i], tuple(g[i] for g in r.grads)) for i in range(k)]


def run_scalar(fn, points: list[dict], out_shape: tuple) -> list[Result]:
    return [_guard(lambda p=p: _both(fn, [p[n] for n in fn.params], out_shape))
            for p in points]


def run_batch(fn, points: list[dict], out_shape: tuple) -> list[Result]:
    r = _guard(lambda: _both(fn, _stack(points, fn.params), out_shape))
    return [r] * len(points) if r.error else _split(r, len(points))


def run_sum(fn, points: list[dict], out_shape: tuple) -> Result:
    return _guard(lambda: _both(fn, _stack(points, fn.params), out_shape, reduce="sum"))


def _guard(f: Callable[[], Result]) -> Result:
    try:
        return f()
    except Exception as ex:  # noqa: BLE001 - every exception is a finding
        return Result(None, (), f"{type(ex).__name__}: {str(ex)[:300]}")


def _fused_values(fn, point: dict) -> tuple[dict, float]:
    """Every statement of the fused program evaluated in float64 (chaincc/evaluate.py),
    and the largest finite magnitude among them and the inputs."""
    from chaincc.evaluate import evaluate
    prog = fn.program
    values: dict = {}
    for p in prog.params:
        for s, v in zip(p.symbols, np.ravel(np.asarray(point[p.name], dtype=float))):
            values[s] = float(v)
    for st in prog.body:
        values[st.target] = evaluate(st.expr, values)
    finite = [abs(v) for v in values.values() if math.isfinite(v)]
    return values, max(finite, default=0.0)


def run_eval(fn, point: dict) -> Result:
    from chaincc.evaluate import evaluate
    prog = fn.program
    values, _ = _fused_values(fn, point)
    outs = [np.array([evaluate(e, values) if e not in values else values[e]
                      for e in o.exprs], dtype=float).reshape(o.shape)
            for o in prog.outputs]
    return Result(outs[0], tuple(outs[1:]))


def run_derive(fn, point: dict) -> Result:
    from chaincc.derivation import derive
    d = derive(fn.forward_program, dict(point))
    value = np.asarray(d.nodes[d.out].value, dtype=float)
    grads, syms = [], iter(d.params)
    for s in fn.shapes:
        flat = [d.nodes[next(syms)].adjoint for _ in range(math.prod(s))]
        grads.append(np.asarray(flat, dtype=float).reshape(s))
    return Result(value, tuple(grads))


def run_explain(fn, point: dict) -> Result:
    text = fn.explain(at=dict(point), full=True)
    tail = text[text.rindex("\nGradient at"):].strip().splitlines()[1:]
    numbers = [float(line.rsplit(" = ", 1)[1]) for line in tail if " = " in line]
    total = sum(math.prod(s) for s in fn.shapes)
    assert len(numbers) == 1 + total, (len(numbers), total, text[-2000:])
    grads, pos = [], 1
    for s in fn.shapes:
        n = math.prod(s)
        grads.append(np.asarray(numbers[pos:pos + n], dtype=float).reshape(s))
        pos += n
    return Result(np.asarray(numbers[0]), tuple(grads))


def _on(fn, backend: str):
    """A fresh Function of the same unit whose value and gradient programs run on
    ``backend`` (the choice is made at the first use of each program kind)."""
    from chaincc import native
    forced = type(fn)(fn.unit, fn.index)
    with native.using(backend):
        for which in ("value", "vg"):
            forced._native(which)
    return forced


def llvm_function(fn):
    """The same function on the LLVM backend (chaincc's default for CPU programs)."""
    forced = _on(fn, "llvm")
    assert forced._native("value") and forced._native("vg")
    return forced


def numba_function(fn):
    """The same function on Numba's kernels (``CHAINCC_CPU_BACKEND=numba``); programs over
    that backend's size thresholds still run on LLVM."""
    return _on(fn, "numba")


# ------------------------------------------------------------------ comparing ---------

def _fmt(x: float) -> str:
    return repr(float(x))


def compare_arrays(got: np.ndarray, want: np.ndarray, floor: float) -> tuple[str, str] | None:
    """None when they agree, else (kind suffix, detail)."""
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    if got.shape != want.shape:
        return "shape", f"shape {got.shape} != {want.shape}"
    for idx in np.ndindex(want.shape):
        g, w = float(got[idx]), float(want[idx])
        where = f"[{','.join(map(str, idx))}]" if idx else ""
        if math.isnan(w) or math.isnan(g):
            if math.isnan(w) != math.isnan(g):
                return "nan-mismatch", f"{where} got {_fmt(g)}, want {_fmt(w)}"
            continue
        if math.isinf(w) or math.isinf(g):
            if g != w:
                return "inf-mismatch", f"{where} got {_fmt(g)}, want {_fmt(w)}"
            continue
        if abs(g - w) > REL * abs(w) + floor:
            return "", f"{where} got {_fmt(g)}, want {_fmt(w)}"
    return None


def compare(got: Result, want: Result, floor: float, params: Sequence[str]
            ) -> tuple[str, str] | None:
    """None when ``got`` agrees with ``want``, else (kind, detail)."""
    if got.error is not None:
        return "exception", got.error
    bad = compare_arrays(got.value, want.value, floor)
    if bad:
        return bad[0] or "value", "value" + bad[1]
    for p, g, w in zip(params, got.grads, want.grads):
        bad = compare_arrays(g, w, floor)
        if bad:
            return bad[0] or "gradient", f"d/d{p}" + bad[1]
    return None


def _point_text(point: dict) -> str:
    return ", ".join(f"{k}={np.asarray(v).tolist()!r}" for k, v in point.items())


# ------------------------------------------------------------------ one program --------

@dataclass
class Tally:
    """How many (function, point) checks each backend ran."""

    checks: dict[str, int]

    def add(self, backend: str, n: int = 1) -> None:
        self.checks[backend] = self.checks.get(backend, 0) + n


def check_program(prog: progs.Program, backends: Sequence[str], npoints: int = 3,
                  tally: Tally | None = None, only: str | None = None,
                  oracle: Callable | None = None,
                  select: Callable[[progs.Statement], bool] | None = None
                  ) -> list[Disagreement]:
    """Every function of ``prog`` (or just ``only``, or those ``select`` accepts) through
    ``backends`` at ``npoints`` points, against the reference interpreter (or
    ``oracle``, with its signature)."""
    import chaincc
    tally = tally or Tally({})
    source = prog.source()
    try:
        unit = chaincc.compile_unit(source)
    except Exception as ex:  # noqa: BLE001
        # rejected by both: the generator wrote an invalid program, not a chaincc bug
        backend = "generator" if _reference_rejects(source) else "compile"
        return [Disagreement(backend, "exception", "*", prog.seed, "",
                             f"{type(ex).__name__}: {str(ex)[:400]}", source)]
    found: list[Disagreement] = []
    for st in prog.functions():
        if (only is None or st.name == only) and (select is None or select(st)):
            check = FunctionCheck(prog, st, unit, npoints, tally, oracle or reference)
            found += check.run(backends)
    return found


def _reference_rejects(source: str) -> bool:
    from chaincc import reference as ref
    from chaincc.diagnostics import ChainccError
    try:
        sig = ref.signature(source)
        ref.evaluate(source, {p: np.zeros(s) if s else 0.0
                              for p, s in zip(sig.params, sig.shapes)})
    except ChainccError:
        return True
    return False


class FunctionCheck:
    """One function of a program at a few points, path by path."""

    def __init__(self, prog: progs.Program, st: progs.Statement, unit, npoints: int,
                 tally: Tally, oracle: Callable) -> None:
        self.prog, self.name, self.unit, self.tally = prog, st.name, unit, tally
        self.source = prog.source()
        self.fn = numba_function(unit.function(st.name))
        self.out_shape = tuple(self.fn.out_shape)
        self.pts = progs.points(prog.seed, st.name, st.params, npoints)
        self.wants = [oracle(self.source, st.name, p, self.out_shape, self.fn.shapes)
                      for p in self.pts]
        self.found: list[Disagreement] = []
        self.floors = []
        self.huge: list[bool] = []      # values beyond HUGE in the kernel's own program
        self.nudged: dict[int, Result] = {}     # the reference at nudged inputs
        self.oracle = oracle
        for p in self.pts:
            try:
                values, peak = _fused_values(self.fn, p)
                self.floors.append(FLOOR * max(1.0, peak))
                self.huge.append(any(abs(v) > HUGE for v in values.values()))
            except Exception:  # noqa: BLE001 - the eval path reports it
                self.floors.append(FLOOR)
                self.huge.append(False)

    def note(self, backend: str, kind: str, detail: str, point: dict | None) -> None:
        self.found.append(Disagreement(backend, kind, self.name, self.prog.seed,
                                       "" if point is None else _point_text(point),
                                       detail, self.source))

    def per_point(self, backend: str, results: list[Result]) -> None:
        self.tally.add(backend, len(results))
        for i, (p, r, w, fl, huge) in enumerate(zip(self.pts, results, self.wants,
                                                    self.floors, self.huge)):
            bad = compare(r, w, fl, self.fn.params)
            why = excused(bad, w, huge) if bad and bad[0] != "exception" else None
            if bad and not why and bad[0] != "exception" and self.unstable(i, fl):
                why = "ill-conditioned"
            if why:
                self.tally.add("excused:" + why)
                continue
            if bad:
                self.note(backend, bad[0], bad[1], p)
                return

    def unstable(self, i: int, floor: float) -> bool:
        """Whether the reference itself moves beyond the tolerance when every input moves
        by NUDGE relative (a few ulps, less than any float64 computation's own rounding
        of them): then float64 cannot be expected to agree with it at this point. Asked
        only after a disagreement."""
        if self.oracle is not reference:
            return False
        if i not in self.nudged:
            moved = {k: np.asarray(v, dtype=float) * (1 + NUDGE) for k, v in self.pts[i].items()}
            self.nudged[i] = reference(self.source, self.name, moved, self.out_shape,
                                       self.fn.shapes)
        other, want = self.nudged[i], self.wants[i]
        return other.error is None and compare(other, want, floor, self.fn.params) is not None

    def run(self, backends: Sequence[str]) -> list[Disagreement]:
        bad_ref = [w for w in self.wants if w.error]
        if bad_ref:
            self.note("reference", "exception", bad_ref[0].error or "", None)
            return self.found
        for backend in backends:
            # a path's own checks ("llvm-sum") are made by its backend's method
            getattr(self, "_" + backend.split("-")[0])()
        return self.found

    def _numba(self) -> None:
        self.per_point("numba", run_scalar(self.fn, self.pts, self.out_shape))

    def _batch(self) -> None:
        self.per_point("batch", run_batch(self.fn, self.pts, self.out_shape))

    def _sum(self, fn=None, label: str = "sum") -> None:
        r = run_sum(fn or self.fn, self.pts, self.out_shape)
        self.tally.add(label)
        wants = self.wants
        grads = () if self.out_shape else tuple(
            np.sum([w.grads[i] for w in wants], axis=0) for i in range(len(self.fn.params)))
        want = Result(np.sum([w.value for w in wants], axis=0), grads)
        if self.out_shape:
            r = Result(r.value, (), r.error)
        # a sum's rounding is relative to its largest term
        terms = [np.abs(np.nan_to_num(x, posinf=0, neginf=0)).max(initial=0)
                 for w in wants for x in (w.value, *w.grads)]
        floor = sum(self.floors) + FLOOR * len(wants) * max(terms, default=0)
        bad = compare(r, want, floor, self.fn.params)
        why = excused(bad, Result(None, near_tie=any(w.near_tie for w in wants),
                                  ill_conditioned=any(w.ill_conditioned for w in wants),
                                  overflowed=any(w.overflowed for w in wants))) \
            if bad and bad[0] != "exception" else None
        if why:
            self.tally.add("excused:" + why)
        elif bad:
            self.note(label, bad[0], bad[1], None)

    def _compiled_paths(self, backend: str, make: Callable, batch_only: bool = False
                        ) -> None:
        other = _guard_fn(make)
        if isinstance(other, Result):
            self.tally.add(backend)
            self.note(backend, "exception", other.error or "", None)
            return
        if not batch_only:
            self.per_point(backend, run_scalar(other, self.pts, self.out_shape))
        self.per_point(backend, run_batch(other, self.pts, self.out_shape))

    def _llvm(self) -> None:
        self._compiled_paths("llvm", lambda: llvm_function(self.fn))
        forced = _guard_fn(lambda: llvm_function(self.fn))
        if not isinstance(forced, Result):
            self._sum(forced, "llvm-sum")

    def _c(self) -> None:
        self._compiled_paths("c", self.fn.compile_c)

    def _cuda(self) -> None:
        before = len(self.found)
        self._cuda_paths()
        for i in range(before, len(self.found)):
            d = self.found[i]
            if d.kind == "exception" and any(m in d.detail for m in SIMULATOR_LIMITS):
                self.found[i] = Disagreement(d.backend, "simulator-limit", d.function,
                                             d.seed, d.point, d.detail, d.source)

    def _cuda_paths(self) -> None:
        import chaincc
        self._compiled_paths("cuda", lambda: chaincc.compile(self.source, entry=self.name,
                                                             target="cuda"),
                             batch_only=True)

    def _eval(self) -> None:
        self.per_point("eval", [_guard(lambda p=p: run_eval(self.fn, p)) for p in self.pts])

    def _chain_rule(self, backend: str, run: Callable) -> None:
        if self.out_shape:
            return                      # the chain rule is shown for scalar functions
        self.per_point(backend, [_guard(lambda p=p: run(self.fn, p)) for p in self.pts])

    def _derive(self) -> None:
        self._chain_rule("derive", run_derive)

    def _explain(self) -> None:
        self._chain_rule("explain", run_explain)


def _guard_fn(f: Callable):
    try:
        return f()
    except Exception as ex:  # noqa: BLE001
        return Result(None, (), f"{type(ex).__name__}: {str(ex)[:300]}")


def dump(found: list[Disagreement]) -> str:
    return json.dumps([asdict(d) for d in found])


# What the Numba CUDA simulator runs differently from a GPU: cuda.cbrt is ``a ** (1/3)``
# there (NaN for a < 0), and kernels run as Python, where 1/0 and math.log(-1) raise.
SIMULATOR_LIMITS = ("division by zero", "math domain error", "math range error",
                    "complex")


def _simulated_exactly(prog: progs.Program, st: progs.Statement) -> bool:
    return "cbrt(" not in progs.closure(prog, st.name).source()


def main(argv: list[str]) -> int:
    """``--cuda SEED...``: the CUDA path of generated programs, as JSON on stdout. The
    programs stay in-domain (no bare log of a negative, no NaN-producing where branch)
    and functions that use cbrt are left out, as the simulator computes those
    differently from a GPU (SIMULATOR_LIMITS); what it still raises for that reason is
    the kind ``simulator-limit``."""
    assert argv and argv[0] == "--cuda", "usage: diffcheck.py --cuda SEED..."
    tally = Tally({})
    found: list[Disagreement] = []
    for seed in map(int, argv[1:]):
        prog = progs.generate(seed, functions=4, raw=0.0)
        found += check_program(prog, ("cuda",), tally=tally,
                               select=lambda st, p=prog: _simulated_exactly(p, st))
    print(json.dumps({"checks": tally.checks, "found": [asdict(d) for d in found]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
