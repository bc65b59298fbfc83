"""The calling convention of every compiled function, on every target, written once.

:class:`Frontend` gives a compiled function its calls (``fn(...)``, ``grad``,
``value_and_grad``, ``jacobian``, ``vjp``, ``hessian``, ``hvp``): it binds the arguments
to the parameters, checks and converts them, broadcasts batch dimensions, checks
``out=`` and ``reduce=``, asks the function's executor (``executor.py``) to run the
kernel, and shapes what comes back. Scalars in give Python floats out; a batch gives
arrays of the batch shape in front of each output's shape; ``reduce="sum"``/``"mean"``
gives the sum or mean over the batch (the mean of an empty batch is NaN, as NumPy's).
"""

from __future__ import annotations

import math
import sys

from .calling import (
    ArgumentError,
    ArgumentTypeError,
    bind,
    check_out,
    check_reduce,
    check_wrt,
    prepare,
    real_array,
    scalar_call,
    split_outputs,
)
from .executor import Executor, require, split_kind, with_wrt
from .lazy_numpy import np


class Frontend:
    """Calls of a compiled function with parameters ``params`` of ``shapes`` and a value
    of ``out_shape``, run by ``_executor``."""

    name: str
    params: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    out_shape: tuple[int, ...]
    _executor: Executor

    # -- what each program kind takes and gives -------------------------------------------
    def _signature(self, kind: str) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...],
                                             list[tuple[int, ...]]]:
        """(input names, input shapes, output shapes) of one program kind."""
        known = self.__dict__.setdefault("_signatures", {})
        if kind not in known:
            known[kind] = self._make_signature(kind)
        return known[kind]

    def _make_signature(self, kind: str) -> tuple[tuple[str, ...],
                                                  tuple[tuple[int, ...], ...],
                                                  list[tuple[int, ...]]]:
        params, shapes, out = self.params, self.shapes, self.out_shape
        base, wrt = split_kind(kind)
        dshapes = shapes if wrt is None else tuple(shapes[i] for i in wrt)
        total = sum(math.prod(s) for s in dshapes)
        if base == "value":
            return params, shapes, [out]
        if base in ("vg", "jacfwd"):
            return params, shapes, [out] + [out + s for s in dshapes]
        if base == "jvp":
            return params + ("tangents",), shapes + ((total,),), [out, out]
        if base == "vjp":
            return params + ("cotangent",), shapes + (out,), [out, *dshapes]
        if base == "hessian":
            return params, shapes, [(total, total)]
        assert base == "hvp", kind
        return params + ("direction",), shapes + ((total,),), list(dshapes)

    # -- which parameters are differentiated ---------------------------------------------
    wrt: tuple[str, ...] | None = None          # the default of every call: all of them

    def _wrt_kind(self, kind: str, wrt) -> str:
        """The program kind for derivatives with respect to ``wrt`` (names; the
        function's own default when None): the plain kind when that is every parameter
        in order."""
        names = self.wrt if wrt is None else check_wrt(self.params, self.name, wrt)
        if names is None:
            return kind
        idx = tuple(self.params.index(n) for n in names)
        return kind if idx == tuple(range(len(self.params))) else with_wrt(kind, idx)

    def _run(self, op: str, kind: str, values: list, reduce: str | None = None,
             out: list | None = None) -> list:
        """One call: the outputs of program ``kind`` for the bound ``values``."""
        if sys.modules.get("dask.array") is not None and _any_dask(values):
            from .dask import run  # Dask arrays in, Dask arrays out
            return run(self, op, kind, values, reduce, out)
        ex = self._executor
        require(ex, kind, op, self.name)
        check_reduce(reduce)
        names, shapes, outputs = self._signature(kind)
        if out is None and not any(outputs):
            scalars = scalar_call(values, shapes, outputs)
            if scalars is not None:             # floats in and out: NumPy is not needed
                return split_outputs(ex.point(kind, scalars), outputs)
        batch, call = prepare(values, names, shapes, outputs, self.name, ex.dtype,
                              ex.device_view)
        if batch is None:
            if out is not None:
                check_out(out, None, outputs, reduce, ex.dtype, ex.device_view)
            return split_outputs(ex.point(kind, call), outputs, ex.dtype)
        if reduce is not None:
            if out is not None:
                check_out(out, batch, outputs, reduce, ex.dtype, ex.device_view)
            if call.n == 0:
                total = np.zeros(sum(call.sizes)) if reduce == "sum" else \
                    np.full(sum(call.sizes), np.nan)
            else:
                total = ex.sum(kind, call)
                if reduce == "mean":
                    total = total / call.n
            return split_outputs(total, outputs, ex.dtype)
        targets = [None] * len(outputs) if out is None else \
            check_out(out, batch, outputs, reduce, ex.dtype, ex.device_view)
        results = ex.points(kind, call, targets)
        given = [None] * len(outputs) if out is None else list(out)
        return [r.reshape(batch + s) if o is None else o
                for r, s, o in zip(results, outputs, given)]

    def _scalar_only(self, what: str) -> None:
        if self.out_shape:
            raise ArgumentTypeError(
                f"{self.name} is vector-valued (its value has shape {self.out_shape}), so "
                f"it has a Jacobian rather than a gradient: use {self.name}.jacobian(...) "
                f"or .vjp(...)" if what == "grad" else
                f"{what} needs a scalar-valued function; {self.name}'s value has shape "
                f"{self.out_shape}")

    # -- the calls ----------------------------------------------------------------------
    def __call__(self, *args, reduce: str | None = None, out=None, **kwargs):
        """The value. ``out``: an array of the batch shape to write it into."""
        values = bind(self.params, self.name, args, kwargs)
        return self._run("__call__", "value", values, reduce,
                         None if out is None else [out])[0]

    def value_and_grad(self, *args, reduce: str | None = None, out=None, wrt=None,
                       **kwargs):
        """(value, gradients), from one fused pass. ``out``: ``(value_array,
        (grad_arrays...))`` of the batch shapes to write into and return, so repeated
        batch calls allocate nothing. ``wrt``: the parameters (names) to differentiate
        with respect to, in the order their gradients come back; the others are data."""
        kind = self._wrt_kind("vg", wrt)
        require(self._executor, kind, "value_and_grad", self.name)
        self._scalar_only("grad")
        flat = None
        if out is not None:
            try:
                value_out, grads_out = out
                flat = [value_out, *grads_out]
            except (TypeError, ValueError):
                raise ArgumentTypeError("out must be (value_array, (grad_array, ...))") \
                    from None
        values = bind(self.params, self.name, args, kwargs)
        r = self._run("value_and_grad", kind, values, reduce, flat)
        return r[0], tuple(r[1:])

    def grad(self, *args, reduce: str | None = None, wrt=None, **kwargs) -> tuple:
        """One gradient entry per parameter (of ``wrt``), in that parameter's shape."""
        return self.value_and_grad(*args, reduce=reduce, wrt=wrt, **kwargs)[1]

    def jacobian(self, *args, wrt=None, mode: str = "reverse", out=None, **kwargs) -> tuple:
        """One array per parameter (of ``wrt``), shaped (output shape + parameter
        shape). ``mode``: ``"reverse"`` (one reverse sweep per output element),
        ``"forward"`` (one tangent sweep per input element) or ``"auto"`` (forward where
        the outputs outnumber the inputs). ``out``: one array per parameter (of ``wrt``)
        of the batch shape in front, to write into and return."""
        if mode not in ("reverse", "forward", "auto"):
            raise ArgumentError(f"mode must be 'reverse', 'forward' or 'auto', got "
                                f"{mode!r}")
        kind = self._wrt_kind("vg", wrt)
        if mode != "reverse":
            _, idx = split_kind(kind)
            inputs = sum(math.prod(self.shapes[i])
                         for i in (idx if idx is not None else range(len(self.params))))
            if mode == "forward" or math.prod(self.out_shape) > inputs:
                kind = self._wrt_kind("jacfwd", wrt)
        require(self._executor, kind, "jacobian", self.name)
        values = bind(self.params, self.name, args, kwargs)
        return tuple(self._run("jacobian", kind, values, None,
                               _outs(out, "one array per parameter", skip=1))[1:])

    def jvp(self, *args, tangents=None, wrt=None, out=None, **kwargs) -> tuple:
        """``(value, J · tangents)``, as JAX's ``jvp``: the derivative along a direction,
        one forward-mode sweep. ``tangents`` has one entry per parameter (of ``wrt``; each
        in that parameter's shape) or is one flat vector over them. ``out``:
        ``(value_array, tangent_array)`` of the batch shapes, to write into."""
        kind = self._wrt_kind("jvp", wrt)
        require(self._executor, kind, "jvp", self.name)
        if tangents is None:
            if not args:
                raise ArgumentTypeError("jvp needs the tangents: fn.jvp(*args, tangents)")
            *args, tangents = args
        values = bind(self.params, self.name, tuple(args), kwargs)
        flat = self._flat_direction(tangents, kind, "tangents")
        value, tangent = self._run("jvp", kind, values + [flat], None,
                                   _outs(out, "(value_array, tangent_array)"))
        return value, tangent

    def vjp(self, *args, cotangent=None, reduce: str | None = None, wrt=None, out=None,
            **kwargs) -> tuple:
        """``cotangent · J`` per parameter (the cotangent has the value's shape): the
        reverse-mode product, one sweep. ``reduce="sum"``/``"mean"``: its sum or mean
        over the batch, reduced inside the kernel. ``out``: one array per parameter (of
        ``wrt``) of the batch shape in front, to write into and return."""
        kind = self._wrt_kind("vjp", wrt)
        require(self._executor, kind, "vjp", self.name)
        if cotangent is None:
            if not args:
                raise ArgumentTypeError("vjp needs the cotangent: fn.vjp(*args, cotangent)")
            *args, cotangent = args
        values = bind(self.params, self.name, tuple(args), kwargs) + [cotangent]
        return tuple(self._run("vjp", kind, values, reduce,
                               _outs(out, "one array per parameter", skip=1))[1:])

    def hessian(self, *args, reduce: str | None = None, wrt=None, out=None,
                **kwargs) -> np.ndarray:
        """The Hessian as one matrix over the flattened parameters (row-major within each
        parameter, parameters in order; those of ``wrt`` only, in its order), by
        differentiating the fused gradient program again. ``reduce="sum"``/``"mean"``:
        the Hessian of the batch's summed or mean value, in one kernel call. ``out``: an
        array of the batch shape + (n, n) to write into and return."""
        kind = self._wrt_kind("hessian", wrt)
        require(self._executor, kind, "hessian", self.name)
        self._scalar_only("hessian")
        values = bind(self.params, self.name, args, kwargs)
        return self._run("hessian", kind, values, reduce,
                         None if out is None else [out])[0]

    def hvp(self, *args, direction=None, reduce: str | None = None, wrt=None, out=None,
            **kwargs) -> tuple:
        """Hessian-vector product, one entry per parameter (of ``wrt``). ``direction``
        has one entry per parameter (each in that parameter's shape) or is one flat
        vector over them. ``reduce``: of the batch's summed or mean value. ``out``: one
        array per parameter (of ``wrt``) of the batch shape in front, to write into."""
        kind = self._wrt_kind("hvp", wrt)
        require(self._executor, kind, "hvp", self.name)
        self._scalar_only("hvp")
        if direction is None:
            if not args:
                raise ArgumentTypeError("hvp needs a direction: fn.hvp(*args, direction)")
            *args, direction = args
        values = bind(self.params, self.name, tuple(args), kwargs)
        return tuple(self._run("hvp", kind, values + [self._flat_direction(direction, kind)],
                               reduce, _outs(out, "one array per parameter")))

    def _flat_direction(self, direction, kind: str, what: str = "direction") -> np.ndarray:
        _, wrt = split_kind(kind)
        shapes = self.shapes if wrt is None else [self.shapes[i] for i in wrt]
        total = sum(math.prod(s) for s in shapes)
        dtype = self._executor.dtype
        if isinstance(direction, (tuple, list)) and len(direction) == len(shapes) \
                and len(shapes) != total:
            parts = [real_array(d, what, dtype).reshape(-1) for d in direction]
            direction = np.concatenate(parts) if parts else np.zeros(0, dtype)
        d = real_array(direction, what, dtype)
        if d.ndim == 0 and total == 1:          # one scalar parameter: a scalar
            d = d.reshape(1)
        if d.shape[-1:] != (total,):
            raise ArgumentError(f"{what} must have one entry per parameter or {total} "
                                f"values in all, got shape {d.shape}")
        return d


def _outs(out, what: str, skip: int = 0) -> list | None:
    """A call's ``out=`` as the list ``_run`` takes: ``skip`` leading outputs the call
    does not return (the value, beside a Jacobian) left to the kernel."""
    if out is None:
        return None
    try:
        given = list(out)
    except TypeError:
        raise ArgumentTypeError(f"out must be {what}") from None
    return [None] * skip + given


def _any_dask(values: list) -> bool:
    """Whether a Dask array is among ``values`` (asked only once ``dask.array`` is
    imported)."""
    array = getattr(sys.modules["dask.array"], "Array", None)
    return array is not None and any(isinstance(v, array) for v in values)
