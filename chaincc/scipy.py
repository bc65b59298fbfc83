"""A compiled scalar function as an objective for ``scipy.optimize.minimize``.

``fn.scipy(*args, wrt=["w", "b"], reduce="mean")`` binds the data arguments (the
parameters not in ``wrt``; a batch of data needs ``reduce``) and takes the starting point
from the ``wrt`` arguments. The :class:`Objective` it returns works on one flat float64
vector ``x``: the ``wrt`` parameters, each flattened row-major, in ``wrt`` order
(:meth:`Objective.pack` and :meth:`Objective.unpack` convert). Each of ``fun``, ``hess``
and ``hessp`` is one kernel call over the whole batch, reduced inside the kernel.

Only :meth:`Objective.minimize` imports SciPy; the rest needs NumPy alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .calling import (
    FLOAT64,
    ArgumentError,
    ArgumentTypeError,
    bind,
    check_reduce,
    check_wrt,
    real_array,
    real_scalar,
    shape_text,
)

if TYPE_CHECKING:
    from .function import Function

__all__ = ["Layout", "Objective", "objective"]

# methods of scipy.optimize.minimize by what they take besides fun and jac
_USES_HESS = frozenset({"dogleg", "trust-exact"})
_USES_HESSP = frozenset({"newton-cg", "trust-ncg", "trust-krylov", "trust-constr"})
_NO_GRADIENT = frozenset({"nelder-mead", "powell", "cobyla", "cobyqa"})


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each fitted parameter lies in the flat vector: ``names[i]`` of shape
    ``shapes[i]`` is ``x[offsets[i]:offsets[i] + prod(shapes[i])]``, row-major."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]
    size: int

    @staticmethod
    def of(names: Sequence[str], shapes: Sequence[tuple[int, ...]]) -> Layout:
        offsets, k = [], 0
        for s in shapes:
            offsets.append(k)
            k += math.prod(s)
        return Layout(tuple(names), tuple(shapes), tuple(offsets), k)

    def views(self, x: np.ndarray) -> list:
        """Each parameter's part of ``x``: a float, or a view of ``x`` in its shape."""
        return [float(x[o]) if not s else x[o:o + math.prod(s)].reshape(s)
                for s, o in zip(self.shapes, self.offsets)]


class Objective:
    """``fn`` as a function of one flat vector, for ``scipy.optimize.minimize``.

    ``x0`` is the starting point; ``fun(x)`` gives ``(value, gradient)`` (for
    ``jac=True``), ``hess(x)`` the Hessian matrix and ``hessp(x, p)`` the Hessian times
    ``p``; ``value(x)`` and ``jac(x)`` give the value and the gradient on their own.
    The value and gradient at the last ``x``, and the Hessian at the last ``x`` it was
    asked for, are kept, so that asking again at the same point runs no kernel.
    ``kernel_calls`` counts the kernel calls made.
    """

    def __init__(self, fn: Function, wrt: tuple[str, ...], reduce: str | None,
                 start: list, data: dict[str, Any]) -> None:
        self.fn = fn
        self.wrt = wrt
        self.reduce = reduce
        self.layout = Layout.of(wrt, [fn.shapes[fn.params.index(n)] for n in wrt])
        self._data = data
        self._x0 = self.pack(*start)
        self._x0.flags.writeable = False
        self._calls = {"value": 0, "value_and_grad": 0, "hessian": 0, "hvp": 0}
        self._vg: tuple[np.ndarray, float, np.ndarray] | None = None
        self._h: tuple[np.ndarray, np.ndarray] | None = None

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}{shape_text(s) if s else ''}"
                          for n, s in zip(self.layout.names, self.layout.shapes))
        return (f"<chaincc.scipy.Objective of {self.fn.name} over {parts}: "
                f"{self.layout.size} values, reduce={self.reduce!r}>")

    # -- the flat layout ---------------------------------------------------------------
    @property
    def x0(self) -> np.ndarray:
        """The starting point (a new array on every access)."""
        return self._x0.copy()

    @property
    def size(self) -> int:
        """The length of the flat vector."""
        return self.layout.size

    @property
    def kernel_calls(self) -> dict[str, int]:
        """How many times each kernel ran (value, value_and_grad, hessian, hvp)."""
        return dict(self._calls)

    def pack(self, *params: Any, **named: Any) -> np.ndarray:
        """One flat float64 vector from the ``wrt`` parameters' values (in ``wrt`` order,
        or by name), each of exactly its parameter's shape."""
        lay = self.layout
        values = bind(lay.names, "pack", params, named)
        x = np.empty(lay.size)
        for v, name, s, o in zip(values, lay.names, lay.shapes, lay.offsets):
            x[o:o + math.prod(s)] = _fitted_value(v, name, s).reshape(-1)
        return x

    def unpack(self, x: Any) -> tuple:
        """The ``wrt`` parameters' values in a flat vector: a float for a scalar
        parameter, a new array of its shape for an array parameter."""
        return tuple(v if isinstance(v, float) else v.copy()
                     for v in self.layout.views(self._flat(x, "x")))

    # -- what minimize calls -------------------------------------------------------------
    def fun(self, x: Any) -> tuple[float, np.ndarray]:
        """``(value, gradient)`` at ``x``: one value-and-gradient kernel call (none when
        ``x`` is the last point asked for)."""
        x = self._flat(x, "x")
        f, g = self._value_and_grad(x)
        return f, g.copy()

    def value(self, x: Any) -> float:
        """The value at ``x`` (the kept one at the last point; otherwise the value
        kernel alone runs)."""
        x = self._flat(x, "x")
        if self._vg is not None and np.array_equal(self._vg[0], x):
            return self._vg[1]
        self._calls["value"] += 1
        return self._scalar(self.fn(*self._arguments(x), reduce=self.reduce))

    def jac(self, x: Any) -> np.ndarray:
        """The gradient at ``x``, flat (from the value-and-gradient kernel)."""
        return self._value_and_grad(self._flat(x, "x"))[1].copy()

    def hess(self, x: Any) -> np.ndarray:
        """The Hessian at ``x``: a ``size`` × ``size`` matrix, from one kernel call."""
        x = self._flat(x, "x")
        if self._h is None or not np.array_equal(self._h[0], x):
            self._calls["hessian"] += 1
            h = self.fn.hessian(*self._arguments(x), reduce=self.reduce, wrt=self.wrt)
            self._h = (x.copy(), np.asarray(h, dtype=FLOAT64).reshape(self.size, self.size))
        return self._h[1].copy()

    def hessp(self, x: Any, p: Any) -> np.ndarray:
        """The Hessian at ``x`` times the vector ``p``, from one kernel call (the Hessian
        itself is never formed)."""
        x = self._flat(x, "x")
        p = self._flat(p, "p")
        self._calls["hvp"] += 1
        parts = self.fn.hvp(*self._arguments(x), direction=p, reduce=self.reduce,
                            wrt=self.wrt)
        return self._join(parts)

    def minimize(self, method: str = "trust-ncg", **kwargs: Any) -> Any:
        """``scipy.optimize.minimize`` from ``x0`` with this objective: ``fun`` with
        ``jac=True``, and ``hessp`` (Newton-CG, trust-ncg, trust-krylov, trust-constr) or
        ``hess`` (dogleg, trust-exact) where the method uses them; other keyword arguments
        go to ``minimize`` (one of ``x0``, ``jac``, ``hess``, ``hessp`` given there
        replaces this objective's). The result also has ``params``: ``unpack(result.x)``.
        """
        from scipy.optimize import minimize
        m = method.lower() if isinstance(method, str) else None
        kwargs.setdefault("x0", self.x0)
        if m in _NO_GRADIENT:
            result = minimize(self.value, method=method, **kwargs)
        else:
            kwargs.setdefault("jac", True)
            if m in _USES_HESS:
                kwargs.setdefault("hess", self.hess)
            elif m in _USES_HESSP and "hess" not in kwargs:
                kwargs.setdefault("hessp", self.hessp)
            f = self.fun if kwargs["jac"] is True else self.value
            result = minimize(f, method=method, **kwargs)
        result.params = self.unpack(result.x)
        return result

    # -- the kernel calls ----------------------------------------------------------------
    def _value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        if self._vg is None or not np.array_equal(self._vg[0], x):
            self._calls["value_and_grad"] += 1
            f, grads = self.fn.value_and_grad(*self._arguments(x), reduce=self.reduce,
                                              wrt=self.wrt)
            self._vg = (x.copy(), self._scalar(f), self._join(grads))
        return self._vg[1], self._vg[2]

    def _arguments(self, x: np.ndarray) -> list:
        """Every parameter's argument: the data as bound, the fitted ones from ``x``."""
        fitted = dict(zip(self.layout.names, self.layout.views(x)))
        return [fitted[p] if p in fitted else self._data[p] for p in self.fn.params]

    def _join(self, parts: Sequence) -> np.ndarray:
        out = np.empty(self.size)
        for v, s, o in zip(parts, self.layout.shapes, self.layout.offsets):
            out[o:o + math.prod(s)] = np.ravel(v)
        return out

    def _scalar(self, f: Any) -> float:
        assert isinstance(f, float) or np.ndim(f) == 0, \
            f"objective value of shape {np.shape(f)}"
        return float(f)

    def _flat(self, x: Any, what: str) -> np.ndarray:
        a = real_array(x, what, FLOAT64)
        if a.shape != (self.size,):
            raise ArgumentError(f"{what} must be a flat vector of {self.size} values (the "
                                f"parameters {', '.join(self.layout.names)}), got shape "
                                f"{shape_text(a.shape)}")
        return a


def objective(fn: Function, /, *args: Any, wrt: str | Sequence[str] | None = None,
              reduce: str | None = None, **kwargs: Any) -> Objective:
    """``fn`` (a scalar-valued function) as an :class:`Objective` over the parameters
    ``wrt`` (default: ``fn``'s own ``wrt``, else every parameter), starting from their
    values in ``args``/``kwargs``; the other parameters are data, bound once (converted
    to float64 once; a C-contiguous float64 array is used in place, not copied). Data
    with batch dimensions needs ``reduce="sum"`` or ``"mean"``: the objective is the sum
    or mean over the batch. The value and gradient at ``x0`` are computed here, which
    checks the call (and compiles that kernel)."""
    check_reduce(reduce)
    if fn.out_shape:
        raise ArgumentTypeError(f"an objective for scipy.optimize must be scalar-valued; "
                                f"{fn.name}'s value has shape {shape_text(fn.out_shape)}")
    names = check_wrt(fn.params, fn.name, wrt) if wrt is not None else \
        fn.wrt if fn.wrt is not None else fn.params
    values = dict(zip(fn.params, bind(fn.params, fn.name, args, kwargs)))
    shapes = dict(zip(fn.params, fn.shapes))
    start = [_fitted_value(values[n], n, shapes[n]) for n in names]
    data = _bind_data({p: v for p, v in values.items() if p not in names}, shapes, reduce,
                      fn.name)
    obj = Objective(fn, tuple(names), reduce, start, data)
    obj.fun(obj.x0)      # checks the call on fn's target; minimize starts at x0 anyway
    return obj


def _fitted_value(v: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The value of a fitted parameter: exactly its shape (it is one point, not a
    batch)."""
    f = real_scalar(v, name) if not shape else None
    a = np.array(f) if f is not None else real_array(v, name, FLOAT64)
    if a.shape != shape:
        what = "a scalar" if not shape else f"shape {shape_text(shape)}"
        raise ArgumentError(f"the starting value of '{name}' must be {what}, got an array "
                            f"of shape {shape_text(a.shape)} (a fitted parameter has one "
                            f"value, not a batch)")
    return a


def _bind_data(data: dict[str, Any], shapes: dict[str, tuple[int, ...]],
               reduce: str | None, fname: str) -> dict[str, Any]:
    """The data arguments as float64 (C-contiguous arrays, broadcast to one batch shape
    once), checked: parameter shapes, batch dimensions that broadcast, ``reduce`` for a
    batch, and a batch that is not empty."""
    out: dict[str, Any] = {}
    batches: dict[str, tuple[int, ...]] = {}
    for p, v in data.items():
        shape = shapes[p]
        f = real_scalar(v, p) if not shape else None
        if f is not None:
            out[p] = f
            continue
        a = real_array(v, p, FLOAT64)
        k = len(shape)
        if a.ndim < k or a.shape[a.ndim - k:] != shape:
            want = f"shape {shape_text(shape)} or a batch of them" if shape else \
                "a scalar or an array of them"
            raise ArgumentError(f"data parameter '{p}' must have {want}, got an array of "
                                f"shape {shape_text(a.shape)}")
        out[p] = a
        if a.ndim > k:
            batches[p] = a.shape[:a.ndim - k]
    if not batches:
        return out
    try:
        batch = np.broadcast_shapes(*batches.values())
    except ValueError:
        desc = ", ".join(f"{p} {shape_text(b)}" for p, b in batches.items())
        raise ArgumentError(f"the data's batch dimensions cannot be broadcast together: "
                            f"{desc}") from None
    if reduce is None:
        raise ArgumentError(f"the data have batch shape {shape_text(batch)}, so {fname} "
                            f"has one value per point; an objective is one number: pass "
                            f"reduce='mean' or reduce='sum'")
    if math.prod(batch) == 0:
        raise ArgumentError(f"the data have an empty batch (shape {shape_text(batch)}); "
                            f"there is nothing to fit")
    for p, b in batches.items():
        a = out[p]
        if b != batch:
            a = np.broadcast_to(a, batch + shapes[p])
        out[p] = np.ascontiguousarray(a)
    return out
