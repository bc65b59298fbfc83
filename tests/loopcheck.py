"""Differential checking of sources that iterate (``randsource.loop_source``) against the
reference interpreter (``chaincc.reference``), path by path:

    llvm      the LLVM kernels (chaincc's default CPU backend), one call per point:
              value and gradient (the Jacobian for a vector-valued function)
    batch     the LLVM batch kernel over ``nbatch`` points (>= 19: two groups of 8 points
              run in vector lanes, the rest one by one) against the scalar calls at the
              same points, and against the reference at the first points
    sum       the LLVM reduction kernel (``reduce="sum"``) against the sum of the scalar
              calls
    loops     the same three with every loop compiled as a loop, however short
              (``chaincc.iterate.UNROLL_ITERATIONS = 0``; by default loops of at most 16
              iterations are unrolled)
    numba     Numba's kernels (``CHAINCC_CPU_BACKEND=numba``): scalar calls against the
              reference, the batch kernel against the scalar calls; a NotImplementedError
              is counted as ``numba-unsupported``, not as a disagreement

Tolerances are those of tests/diffcheck.py (relative 1e-9 plus an absolute floor of
1e-11 times the largest magnitude among the inputs, the value and the derivatives, at
least 1; NaN must meet NaN); the documented excuses (near ties, ill-conditioned points,
overflow) are counted as ``excused:...`` rather than as disagreements. A disagreement
names the source and the point.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import diffcheck
import numpy as np
from diffcheck import Disagreement, Result, Tally
from randsource import LoopSource

PATHS = ("llvm", "batch", "sum", "loops", "numba")
NPOINTS = 3
NBATCH = 19


@contextlib.contextmanager
def unrolling(iterations: int) -> Iterator[None]:
    """Compile (and run) the functions made inside the block with loops of at most
    ``iterations`` iterations unrolled."""
    from chaincc import iterate
    saved, iterate.UNROLL_ITERATIONS = iterate.UNROLL_ITERATIONS, iterations
    try:
        yield
    finally:
        iterate.UNROLL_ITERATIONS = saved


def has_loops(fn) -> bool:
    """Whether the function's program holds a loop (rather than unrolled iterations)."""
    from chaincc.ir import Loop
    return any(isinstance(s, Loop) for s in fn.forward_program.body)


def point_text(point: dict) -> str:
    return ", ".join(f"{k}={np.asarray(v).tolist()!r}" for k, v in point.items())


def _peak(point: dict, want: Result) -> float:
    mags = [np.abs(np.asarray(v, dtype=float)).max(initial=0.0) for v in point.values()]
    for x in (want.value, *want.grads):
        if x is not None:
            a = np.abs(np.asarray(x, dtype=float))
            mags.append(a[np.isfinite(a)].max(initial=0.0))
    return max(mags, default=0.0)


class LoopCheck:
    """One generated source at a few points, path by path."""

    def __init__(self, src: LoopSource, npoints: int = NPOINTS, nbatch: int = NBATCH,
                 tally: Tally | None = None) -> None:
        from chaincc import reference as ref
        self.src, self.tally = src, tally if tally is not None else Tally({})
        self.pts = src.points(max(npoints, nbatch))
        self.npoints = npoints
        self.found: list[Disagreement] = []
        sig = ref.signature(src.text, entry=src.entry)
        self.params, self.shapes = sig.params, sig.shapes
        assert list(self.params) == [p.name for p in src.params], (self.params, src.params)
        try:                    # the output shape is the reference value's shape
            self.out_shape = np.shape(ref.evaluate(src.text, dict(self.pts[0]),
                                                   entry=src.entry)[0])
        except Exception:  # noqa: BLE001 - reported by ``run`` as the reference's error
            self.out_shape = ()
        self.wants = [diffcheck.reference(src.text, src.entry, p, self.out_shape,
                                          self.shapes) for p in self.pts[:npoints]]
        self.floors = [diffcheck.FLOOR * max(1.0, _peak(p, w))
                       for p, w in zip(self.pts, self.wants)]
        self.nudged: dict[int, Result] = {}

    # -- reporting ------------------------------------------------------------------------
    def note(self, path: str, kind: str, detail: str, point: dict | None) -> None:
        self.found.append(Disagreement(path, kind, self.src.entry, self.src.seed,
                                       "" if point is None else point_text(point), detail,
                                       self.src.text))

    def unstable(self, i: int, floor: float) -> bool:
        """Whether the reference itself moves beyond the tolerance when every input moves
        by a few ulps (diffcheck.NUDGE): float64 cannot be expected to agree there."""
        if i not in self.nudged:
            moved = {k: np.asarray(v, dtype=float) * (1 + diffcheck.NUDGE)
                     for k, v in self.pts[i].items()}
            self.nudged[i] = diffcheck.reference(self.src.text, self.src.entry, moved,
                                                 self.out_shape, self.shapes)
        other = self.nudged[i]
        return other.error is None and \
            diffcheck.compare(other, self.wants[i], floor, self.params) is not None

    def against_reference(self, path: str, results: Sequence[Result]) -> None:
        self.tally.add(path, len(results))
        for i, (p, r, w, fl) in enumerate(zip(self.pts, results, self.wants, self.floors)):
            bad = diffcheck.compare(r, w, fl, self.params)
            if not bad:
                continue
            why = diffcheck.excused(bad, w) if bad[0] != "exception" else None
            if not why and bad[0] != "exception" and self.unstable(i, fl):
                why = "ill-conditioned"
            if why:
                self.tally.add("excused:" + why)
                continue
            self.note(path, bad[0], bad[1] + " (against the reference)", p)
            return

    def against_scalar(self, path: str, batch: Sequence[Result],
                       scalar: Sequence[Result]) -> None:
        """The batch kernel's results against the scalar calls' at the same points."""
        self.tally.add(path, len(batch))
        for p, b, s in zip(self.pts, batch, scalar):
            if s.error is not None:
                continue                    # the scalar path reports its own failure
            floor = diffcheck.FLOOR * max(1.0, _peak(p, s))
            bad = diffcheck.compare(b, s, floor, self.params)
            if bad:
                self.note(path, bad[0], bad[1] + " (batch against scalar calls)", p)
                return
            if not _identical(b, s):
                self.tally.add(path + ":bits-differ")

    def summed(self, path: str, got: Result, scalar: Sequence[Result]) -> None:
        """``reduce="sum"`` against the sum of the scalar calls."""
        self.tally.add(path)
        if any(s.error for s in scalar):
            return
        grads = () if self.out_shape else tuple(
            np.sum([s.grads[i] for s in scalar], axis=0) for i in range(len(self.params)))
        want = Result(np.sum([s.value for s in scalar], axis=0), grads)
        if self.out_shape:
            got = Result(got.value, (), got.error)
        terms = [np.abs(np.nan_to_num(np.asarray(x, dtype=float), posinf=0, neginf=0))
                 .max(initial=0) for s in scalar for x in (s.value, *s.grads)]
        floor = diffcheck.FLOOR * len(scalar) * max(1.0, max(terms, default=0.0))
        bad = diffcheck.compare(got, want, floor, self.params)
        if bad:
            self.note(path, bad[0], bad[1] + " (reduce='sum' against the scalar calls)", None)

    # -- the paths --------------------------------------------------------------------------
    def run(self, paths: Sequence[str] = PATHS) -> list[Disagreement]:
        bad_ref = [w for w in self.wants if w.error]
        if bad_ref:
            self.note("reference", "exception", bad_ref[0].error or "", None)
            return self.found
        if {"llvm", "batch", "sum"} & set(paths):
            self.compiled("llvm", paths, None)
        if "loops" in paths:
            self.compiled("loops", ("llvm", "batch", "sum"), 0)
        if "numba" in paths:
            self.numba()
        return self.found

    def compile(self, path: str):
        import chaincc
        try:
            return chaincc.compile(self.src.text, entry=self.src.entry)
        except Exception as ex:  # noqa: BLE001 - the reference accepted the source
            self.tally.add(path)
            self.note(path, "compile", f"{type(ex).__name__}: {str(ex)[:400]}", None)
            return None

    def compiled(self, label: str, paths: Sequence[str], unroll: int | None) -> None:
        """The LLVM kernels' paths; ``label`` names them (``loops``: with every loop
        compiled as a loop)."""
        names = {"llvm": label, "batch": "batch" if label == "llvm" else label + "-batch",
                 "sum": "sum" if label == "llvm" else label + "-sum"}
        with unrolling(unroll) if unroll is not None else contextlib.nullcontext():
            fn = self.compile(label)
            if fn is None:
                return
            try:
                fn = diffcheck.llvm_function(fn)
            except Exception as ex:  # noqa: BLE001
                self.note(label, "exception", f"{type(ex).__name__}: {str(ex)[:400]}", None)
                return
            self.tally.add(f"{label}:{'looped' if has_loops(fn) else 'unrolled'}")
            n = len(self.pts) if {"batch", "sum"} & set(paths) else self.npoints
            scalar = diffcheck.run_scalar(fn, self.pts[:n], self.out_shape)
            if "llvm" in paths:
                self.against_reference(names["llvm"], scalar[:self.npoints])
            if "batch" in paths:
                batch = diffcheck.run_batch(fn, self.pts, self.out_shape)
                self.against_reference(names["batch"], batch[:self.npoints])
                self.against_scalar(names["batch"], batch, scalar)
            if "sum" in paths:
                self.summed(names["sum"], diffcheck.run_sum(fn, self.pts, self.out_shape),
                            scalar)

    def numba(self) -> None:
        fn = self.compile("numba")
        if fn is None:
            return
        try:
            forced = diffcheck.numba_function(fn)
        except NotImplementedError:
            self.tally.add("numba-unsupported")
            return
        except Exception as ex:  # noqa: BLE001
            self.note("numba", "exception", f"{type(ex).__name__}: {str(ex)[:400]}", None)
            return
        if forced._native("vg") or forced._native("value"):
            self.tally.add("numba-ran-on-llvm")     # over Numba's size thresholds
        scalar = diffcheck.run_scalar(forced, self.pts, self.out_shape)
        if any(r.error and "NotImplementedError" in r.error for r in scalar):
            self.tally.add("numba-unsupported")
            return
        self.against_reference("numba", scalar[:self.npoints])
        batch = diffcheck.run_batch(forced, self.pts, self.out_shape)
        self.against_scalar("numba-batch", batch, scalar)


def _identical(a: Result, b: Result) -> bool:
    return all(np.array_equal(np.asarray(x, dtype=float), np.asarray(y, dtype=float),
                              equal_nan=True)
               for x, y in zip((a.value, *a.grads), (b.value, *b.grads)))


def check(src: LoopSource, paths: Sequence[str] = PATHS, npoints: int = NPOINTS,
          nbatch: int = NBATCH, tally: Tally | None = None) -> list[Disagreement]:
    """Every path of ``paths`` for the generated source, against the reference."""
    return LoopCheck(src, npoints, nbatch, tally).run(paths)


def describe(found: Sequence[Disagreement]) -> str:
    """The disagreements as text: path, kind, seed, point, detail and the source."""
    return "\n\n".join(f"{d.backend} {d.kind} (seed {d.seed}) at {d.point}: {d.detail}\n"
                       f"{d.source}" for d in found)
