"""``chaincc check``: a compiled function against two independent oracles at random points.

- the reference interpreter (``chaincc/reference.py``), which evaluates the source's
  syntax tree directly in high precision with its own derivatives: the compiled value and
  gradient (Jacobian for a vector-valued function) must agree with it, so a bug in
  lowering, the adjoint or a backend cannot pass;
- central finite differences of the compiled value, for the gradient.

Relative errors are ``|a - b| / max(1, |a|, |b|)``; NaN agrees only with NaN and an
infinity only with the same infinity (otherwise the error is inf).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import reference
from .diagnostics import ChainccError


@dataclass(frozen=True)
class Mismatch:
    """The worst disagreement with the reference for one quantity: the value
    (``param`` is None) or the derivative with respect to one parameter."""

    param: str | None
    point: tuple[tuple[str, object], ...]     # (parameter, float or nested list)
    index: tuple[int, ...]                    # the element (output + parameter index)
    compiled: float
    reference: float
    error: float
    along: bool = False                       # a derivative along a random direction


@dataclass(frozen=True)
class CheckReport:
    points: int                     # points used (value or derivatives finite somewhere)
    worst: tuple[float, ...]        # central differences: worst relative error per param
    reference: tuple[float, ...] = ()   # reference: worst relative error per parameter
    value: float = 0.0              # reference: worst relative error of the value
    mismatches: tuple[Mismatch, ...] = ()   # the worst point of the value and each param
    reference_error: str | None = None      # the reference refused the source (a bug)

    def worst_reference(self) -> float:
        return max((self.value, *self.reference), default=0.0)


def _arguments(flat: np.ndarray, shapes: list[tuple[int, ...]]) -> list:
    """One argument per parameter from a flat vector: floats for scalars, arrays in shape."""
    out, k = [], 0
    for s in shapes:
        n = math.prod(s)
        out.append(float(flat[k]) if not s else flat[k:k + n].reshape(s))
        k += n
    return out


def relative_error(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return 0.0 if math.isnan(a) and math.isnan(b) else math.inf
    if math.isinf(a) or math.isinf(b):
        return 0.0 if a == b else math.inf
    return abs(a - b) / max(1.0, abs(a), abs(b))


def _compiled(fn, args: list) -> tuple[np.ndarray, list[np.ndarray]]:
    """Value and derivative blocks (output shape + parameter shape) of the compiled fn."""
    if fn.out_shape:
        value, grads = fn(*args), fn.jacobian(*args)
    else:
        value, grads = fn.value_and_grad(*args)
    return np.asarray(value, dtype=float), [np.asarray(g, dtype=float) for g in grads]


def _fd(fn, x: np.ndarray, shapes: list, out_shape: tuple) -> list[np.ndarray]:
    """Central differences of the compiled value, one block per parameter."""
    cols = []
    for i in range(len(x)):
        h = 1e-6 * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        hi = np.asarray(fn(*_arguments(up, shapes)), dtype=float)
        lo = np.asarray(fn(*_arguments(down, shapes)), dtype=float)
        cols.append((hi - lo) / (2 * h))
    blocks, k = [], 0
    for s in shapes:
        n = math.prod(s)
        part = np.stack(cols[k:k + n], axis=-1) if n else np.zeros(out_shape + (0,))
        blocks.append(part.reshape(out_shape + s))
        k += n
    return blocks


def _point(fn, args: list) -> tuple[tuple[str, object], ...]:
    return tuple((p, a if isinstance(a, float) else np.asarray(a).tolist())
                 for p, a in zip(fn.params, args))


def _all_finite(*arrays: np.ndarray) -> bool:
    return all(bool(np.all(np.isfinite(a))) for a in arrays)


def finite_difference_check(fn, points: int = 20, seed: int = 0,
                            low: float = -2.0, high: float = 2.0,
                            use_reference: bool = True) -> CheckReport:
    """Worst relative errors of the compiled value and derivatives at random points:
    against the reference interpreter (value and each parameter's derivative), and
    central differences of the compiled value (each parameter's derivative; over every
    element of an array parameter and of a vector-valued function's value).

    A point where neither the compiled function nor the reference is finite (outside the
    function's domain) is skipped; so is a point where the compiled value is not finite
    for the finite-difference check. If too few points remain, points are drawn from
    (0.1, high) instead.
    """
    rng = np.random.default_rng(seed)
    dir_rng = np.random.default_rng(seed + 1)
    shapes = [tuple(s) for s in fn.shapes]
    out_shape = tuple(fn.out_shape)
    size = sum(math.prod(s) for s in shapes)
    source = fn.unit.source
    fd_worst = [0.0] * len(fn.params)
    ref_worst = [0.0] * len(fn.params)
    value_worst = 0.0
    worst_at: dict[str | None, Mismatch] = {}
    used = 0
    for attempt in range(points * 10):
        if used >= points:
            break
        along = size > FULL_GRADIENT_LIMIT
        lo = low if attempt < points * 5 else 0.1
        x = rng.uniform(lo, high, size=size)
        args = _arguments(x, shapes)
        value, full = _compiled(fn, args)
        grads = full
        compiled_finite = _all_finite(value, *full)
        ref = None
        if use_reference:
            try:
                ref, grads = _reference(fn, source, args, grads, shapes, out_shape,
                                        along, dir_rng)
            except ChainccError as e:
                return CheckReport(used, tuple(fd_worst), tuple(ref_worst), value_worst,
                                   tuple(worst_at.values()), e.message)
        ref_finite = ref is not None and _all_finite(ref[0], *ref[1])
        if not compiled_finite and not ref_finite:
            continue
        used += 1
        if ref is not None:
            pairs = [(None, value, ref[0])] + [(p, g, r) for p, g, r in
                                               zip(fn.params, grads, ref[1])]
            for k, (p, got, want) in enumerate(pairs):
                for idx in np.ndindex(*got.shape):
                    err = relative_error(float(got[idx]), float(want[idx]))
                    prev = worst_at.get(p)
                    if prev is None or err > prev.error:
                        worst_at[p] = Mismatch(p, _point(fn, args), idx, float(got[idx]),
                                               float(want[idx]), err, along and p is not None)
                    if p is None:
                        value_worst = max(value_worst, err)
                    else:
                        ref_worst[k - 1] = max(ref_worst[k - 1], err)
        if not compiled_finite:
            continue
        fds = _fd(fn, x, shapes, out_shape)
        errs = [max((relative_error(float(a), float(b)) for a, b in
                     zip(g.reshape(-1), d.reshape(-1))), default=0.0)
                for g, d in zip(full, fds)]
        if all(math.isfinite(e) for e in errs):
            fd_worst = [max(w, e) for w, e in zip(fd_worst, errs)]
    return CheckReport(used, tuple(fd_worst), tuple(ref_worst), value_worst,
                       tuple(worst_at.values()))


# Above this many parameter elements, the reference is compared along one random direction
# per parameter (one pass of the reference) instead of element by element.
FULL_GRADIENT_LIMIT = 64


def _reference(fn, source, args: list, grads: list[np.ndarray], shapes: list,
               out_shape: tuple, along: bool, rng: np.random.Generator):
    """The reference's value and derivative blocks, and the compiled blocks to compare
    them with: the full derivatives, or (``along``) each parameter's derivative along a
    random direction (output-shaped), the compiled one contracted with the same
    direction."""
    point = dict(zip(fn.params, args))
    if not along:
        rv, rg = reference.evaluate(source, point, entry=fn.name)
        return (np.asarray(rv, dtype=float),
                [np.asarray(rg[p], dtype=float).reshape(out_shape + s)
                 for p, s in zip(fn.params, shapes)]), grads
    dirs = [rng.standard_normal(s) for s in shapes]
    rv, rd = reference.directional(source, point, dict(zip(fn.params, dirs)), entry=fn.name)
    contracted = [(g * d).reshape(out_shape + (-1,)).sum(axis=-1)
                  for g, d in zip(grads, dirs)]
    return (np.asarray(rv, dtype=float),
            [np.asarray(rd[p], dtype=float).reshape(out_shape) for p in fn.params]), \
        contracted


def describe(fn, m: Mismatch) -> str:
    """One line naming the quantity, the point and both numbers."""
    at = ", ".join(f"{p}={v!r}" for p, v in m.point)
    if m.param is None:
        what = f"the value of {fn.name}"
    else:
        what = f"∂{fn.name}/∂{m.param}"
    if m.along:
        what += " along a random direction"
    if m.index:
        what += f" at output index {list(m.index)}" if m.along or m.param is None \
            else f" at index {list(m.index)}"
    if len(at) > 300:
        at = at[:300] + " ..."
    return (f"{what} disagrees with the reference interpreter at {at}: "
            f"compiled {m.compiled!r}, reference {m.reference!r}")


def render(fn, report: CheckReport, tol: float) -> tuple[str, bool]:
    """The text ``chaincc check`` prints, and whether the check passed: a header (with
    the value's worst error against the reference), one row per parameter (central
    differences, then the reference), the disagreements above ``tol``, and ``ok`` or
    ``FAILED: ...`` on the last line."""
    what = f"{report.points} points, central differences"
    if fn.out_shape:       # the rows are over every entry of the Jacobian
        n = math.prod(fn.out_shape)
        shape = ", " + "×".join(map(str, fn.out_shape)) if len(fn.out_shape) > 1 else ""
        what = (f"vector-valued ({n} outputs{shape}): {report.points} points, its "
                f"Jacobian against central differences")
    lines = [f"{fn.name}({', '.join(fn.params)}): {what} and the reference interpreter "
             f"(value: worst relative error {report.value:.3e})"]
    width = max([len(p) for p in fn.params] + [9])
    lines.append(f"  {'parameter':<{width}}  {'differences':<11}  reference")
    refs = report.reference or (0.0,) * len(fn.params)
    for p, fd, ref in zip(fn.params, report.worst, refs):
        lines.append(f"  {p:<{width}}  {fd:<11.3e}  {ref:.3e}")
    bad = [m for m in report.mismatches if not m.error <= tol]
    lines += ["  " + describe(fn, m) for m in bad]
    if report.reference_error is not None:
        lines.append(f"FAILED: the reference interpreter refused the source: "
                     f"{report.reference_error}")
        return "\n".join(lines), False
    if report.points == 0:
        lines.append("FAILED: no point where the function is finite")
        return "\n".join(lines), False
    if bad:
        lines.append(f"FAILED: disagrees with the reference interpreter above {tol:g}")
        return "\n".join(lines), False
    if not max(report.worst, default=0.0) <= tol:
        lines.append(f"FAILED: central differences disagree above {tol:g}")
        return "\n".join(lines), False
    lines.append("ok")
    return "\n".join(lines), True
