"""Compiled functions inside JAX programs: ``chaincc.jax.function(fn)``.

The returned :class:`JaxFunction` takes JAX arrays (or anything ``jax.numpy.asarray``
takes) and works inside ``jax.jit``, ``jax.vmap``, ``jax.grad``, ``jax.value_and_grad``,
``jax.vjp``, ``jax.jacrev``, ``jax.jvp``, ``jax.jacfwd`` and ``jax.hessian``:

- the value is ``jax.pure_callback`` into chaincc's value kernel, with
  ``vmap_method="expand_dims"``, so a ``vmap`` (nested or not) hands the whole batch to
  chaincc's batch kernel in one call;
- derivatives are a ``jax.custom_jvp`` rule whose primal part is one call of the fused
  value-and-gradient kernel (value and Jacobian for an array value) and whose tangent
  part is a contraction written in ``jax.numpy``, linear in the tangents. JAX transposes
  that contraction for reverse mode, so ``grad`` and ``vjp`` cost one fused kernel call
  and no callback is ever transposed;
- second derivatives of a scalar function differentiate the gradient through a second
  rule whose primal part is chaincc's Hessian kernel; third derivatives, and second
  derivatives of a vector-valued function, raise :class:`UnsupportedTransform`.

Arguments and results are float64: the bridge needs JAX's 64-bit mode
(``jax.config.update("jax_enable_x64", True)``) and raises an ``ArgumentTypeError``
without it, since JAX would otherwise round chaincc's results to float32. Integer,
bool and lower-precision float inputs are converted to float64 (exactly). This module
imports JAX; ``import chaincc`` does not import it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from .calling import ArgumentError, ArgumentTypeError, bind, check_wrt, shape_text
from .diagnostics import ChainccError
from .executor import require

if TYPE_CHECKING:
    from .frontend import Frontend

__all__ = ["JaxFunction", "UnsupportedTransform", "function"]

_F64 = np.dtype(np.float64)


class UnsupportedTransform(ChainccError, NotImplementedError):
    """A JAX transformation the bridge cannot apply soundly: third derivatives, second
    derivatives of a vector-valued function, derivatives with respect to data."""


def function(fn: Frontend) -> JaxFunction:
    """``fn`` (a compiled :class:`chaincc.Function`) as a function of JAX arrays, usable
    inside ``jax.jit``, ``jax.vmap`` and JAX's derivatives; see :class:`JaxFunction`."""
    return JaxFunction(fn)


class JaxFunction:
    """A compiled function as a JAX function: ``f(*args, **kwargs)`` binds its arguments
    to ``fn``'s parameters as ``fn`` does (each of its parameter's shape, or with
    leading batch dimensions that broadcast), and returns a float64 JAX array of the
    batch shape followed by the value's shape.

    Derivatives are taken with respect to ``fn``'s ``wrt`` parameters (every parameter
    for a function compiled without ``wrt=``); asking JAX for the derivative with
    respect to another parameter raises :class:`UnsupportedTransform`.
    ``kernel_calls`` counts the kernel calls made, by kind.
    """

    def __init__(self, fn: Frontend) -> None:
        from .frontend import Frontend
        if not isinstance(fn, Frontend):
            raise ArgumentTypeError(f"chaincc.jax.function needs a compiled function "
                                    f"(chaincc.compile(...)), got {type(fn).__name__}")
        self.fn = fn
        self.name: str = fn.name
        self.params: tuple[str, ...] = fn.params
        self.shapes: tuple[tuple[int, ...], ...] = fn.shapes
        self.out_shape: tuple[int, ...] = fn.out_shape
        names = fn.wrt if fn.wrt is not None else fn.params
        self.wrt: tuple[str, ...] = check_wrt(fn.params, fn.name, names) if names else ()
        self._wrt_index = tuple(fn.params.index(n) for n in self.wrt)
        require(fn._executor, "value", "__call__", fn.name)
        self._lock = threading.Lock()
        self._calls = {"value": 0, "value_and_grad": 0, "hessian": 0}

        value = jax.custom_jvp(self._value_primal)
        value.defjvp(self._value_jvp, symbolic_zeros=True)
        vd = jax.custom_jvp(self._vd_primal)
        vd.defjvp(self._vd_jvp, symbolic_zeros=True)
        hess = jax.custom_jvp(self._hess_primal)
        hess.defjvp(self._hess_jvp, symbolic_zeros=True)
        self._value, self._vd, self._hess = value, vd, hess

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}[{','.join(map(str, s))}]" if s else n
                          for n, s in zip(self.params, self.shapes))
        return f"<chaincc.jax.JaxFunction {self.name}({parts})>"

    @property
    def kernel_calls(self) -> dict[str, int]:
        """How many times each kernel ran: ``value``, ``value_and_grad`` (value and
        Jacobian for a vector-valued function) and ``hessian``. A ``vmap`` over a batch
        is one call."""
        with self._lock:
            return dict(self._calls)

    def __call__(self, *args: Any, **kwargs: Any) -> jax.Array:
        values = bind(self.params, self.name, args, kwargs)
        return self._value(*self._prepare(values))

    # -- arguments ----------------------------------------------------------------------
    def _prepare(self, values: Sequence[Any]) -> list:
        """Each argument as a float64 JAX array with the same number of batch dimensions
        (leading ones of size 1 added), so that the batch dimensions of every argument
        line up inside the callbacks, also under ``vmap``."""
        if not jax.config.jax_enable_x64:
            raise ArgumentTypeError(
                f"chaincc.jax computes in float64 and needs JAX's 64-bit mode, which is "
                f"off: without it JAX would round {self.name}'s values and derivatives to "
                f"float32. Enable it at start-up with jax.config.update('jax_enable_x64', "
                f"True) or the environment variable JAX_ENABLE_X64=1")
        arrays, batches = [], []
        for v, name, shape in zip(values, self.params, self.shapes):
            try:
                a = jnp.asarray(v)
            except TypeError:
                raise ArgumentTypeError(f"parameter '{name}' must be a real number or an "
                                        f"array of them, got {type(v).__name__}") from None
            if a.dtype.kind not in "biuf" and a.dtype != jnp.bfloat16:
                raise ArgumentTypeError(f"parameter '{name}' must be real, got an array "
                                        f"of {a.dtype}")
            a = a.astype(jnp.float64)
            k, have = len(shape), tuple(a.shape)
            if len(have) < k or have[len(have) - k:] != shape:
                want = f"shape {shape_text(shape)} (or a batch of them)" if shape else \
                    "a scalar or an array of them"
                raise ArgumentError(f"parameter '{name}' must have {want}, got an array "
                                    f"of shape {shape_text(have)}")
            arrays.append(a)
            batches.append(have[:len(have) - k])
        try:
            batch = np.broadcast_shapes(*batches) if batches else ()
        except ValueError:
            desc = ", ".join(f"{p} {shape_text(b)}" for p, b in zip(self.params, batches)
                             if b)
            raise ArgumentError(f"batch dimensions cannot be broadcast together: "
                                f"{desc}") from None
        nb = len(batch)
        return [a.reshape((1,) * (nb - len(b)) + a.shape) for a, b in zip(arrays, batches)]

    def _host(self, arrays: Sequence[Any]) -> tuple[list, tuple[int, ...]]:
        """The callback's arguments for ``fn`` and the batch shape they broadcast to.
        An argument whose batch dimensions all have size 1 (one not mapped by ``vmap``,
        or shared by the batch) is passed without them, as one shared value."""
        values, batches = [], []
        for a, shape in zip(arrays, self.shapes):
            a = np.asarray(a, dtype=_F64)
            b = a.shape[:a.ndim - len(shape)]
            batches.append(b)
            values.append(a.reshape(shape) if math.prod(b) == 1 else a)
        return values, np.broadcast_shapes(*batches)

    def _count(self, kind: str) -> None:
        with self._lock:
            self._calls[kind] += 1

    def _callback(self, host, shapes: list[tuple[int, ...]], arrays: Sequence[Any]) -> list:
        """``jax.pure_callback`` of ``host(values, batch)``, whose results have the
        batch shape followed by ``shapes``."""
        batch = jnp.broadcast_shapes(*(a.shape[:a.ndim - len(s)]
                                       for a, s in zip(arrays, self.shapes)))
        result = [jax.ShapeDtypeStruct(batch + s, jnp.float64) for s in shapes]

        def run(*xs: Any) -> list:
            values, b = self._host(xs)
            outs = host(values)
            return [np.asarray(o, dtype=_F64).reshape(b + s) for o, s in zip(outs, shapes)]

        return jax.pure_callback(run, result, *arrays, vmap_method="expand_dims")

    # -- the value -------------------------------------------------------------------------
    def _value_primal(self, *xs: Any) -> jax.Array:
        def host(values: list) -> list:
            self._count("value")
            return [self.fn(*values)]
        return self._callback(host, [self.out_shape], xs)[0]

    def _value_jvp(self, primals: tuple, tangents: tuple) -> tuple:
        self._check_tangents(tangents)
        v, *ds = self._vd(*primals)
        return v, self._contract(v, ds, tangents)

    # -- value and gradient (value and Jacobian) -------------------------------------------
    def _vd_primal(self, *xs: Any) -> list:
        fn = self.fn
        dshapes = [self.out_shape + self.shapes[i] for i in self._wrt_index]
        kind = fn._wrt_kind("vg", None)
        require(fn._executor, kind, "value_and_grad", self.name)

        def host(values: list) -> list:
            self._count("value_and_grad")
            if self.out_shape:
                return fn._run("jacobian", kind, values)
            v, grads = fn.value_and_grad(*values)
            return [v, *grads]
        return self._callback(host, [self.out_shape, *dshapes], xs)

    def _vd_jvp(self, primals: tuple, tangents: tuple) -> tuple:
        if self.out_shape:
            raise UnsupportedTransform(
                f"{self.name} is vector-valued: chaincc.jax differentiates its Jacobian no "
                f"further (second derivatives are available for scalar functions only)")
        self._check_tangents(tangents)
        v, *ds = self._vd(*primals)
        v_dot = self._contract(v, ds, tangents)
        batch = v.shape
        parts = []
        for i in self._wrt_index:
            t, size = tangents[i], math.prod(self.shapes[i])
            parts.append(jnp.zeros(batch + (size,), jnp.float64) if _zero(t) else
                         jnp.broadcast_to(t.reshape(t.shape[:len(batch)] + (size,)),
                                          batch + (size,)))
        h = self._hess(*primals)
        hd = jnp.einsum("...ij,...j->...i", h, jnp.concatenate(parts, axis=-1))
        d_dots, k = [], 0
        for i in self._wrt_index:
            size = math.prod(self.shapes[i])
            d_dots.append(hd[..., k:k + size].reshape(batch + self.shapes[i]))
            k += size
        return [v, *ds], [v_dot, *d_dots]

    # -- the Hessian -------------------------------------------------------------------------
    def _hess_primal(self, *xs: Any) -> jax.Array:
        fn = self.fn
        require(fn._executor, fn._wrt_kind("hessian", None), "hessian", self.name)
        total = sum(math.prod(self.shapes[i]) for i in self._wrt_index)

        def host(values: list) -> list:
            self._count("hessian")
            return [fn.hessian(*values)]
        return self._callback(host, [(total, total)], xs)[0]

    def _hess_jvp(self, primals: tuple, tangents: tuple) -> tuple:
        raise UnsupportedTransform(
            f"chaincc.jax gives derivatives of {self.name} up to the second order (the "
            f"Hessian); a third derivative was asked for")

    # -- the tangent rule ------------------------------------------------------------------
    def _check_tangents(self, tangents: tuple) -> None:
        for name, t in zip(self.params, tangents):
            if name not in self.wrt and not _zero(t):
                raise UnsupportedTransform(
                    f"JAX asked for the derivative of {self.name} with respect to "
                    f"'{name}', which is data: {self.name} was compiled with wrt="
                    f"{list(self.wrt)}. Compile with '{name}' in wrt (or without wrt=), "
                    f"or keep '{name}' out of the differentiated arguments")

    def _contract(self, v: jax.Array, ds: list, tangents: tuple) -> jax.Array:
        """The tangent of the value: each derivative block (batch + value shape +
        parameter shape) times its parameter's tangent, summed over the parameter's
        axes; linear in the tangents, so JAX transposes it for reverse mode."""
        out = jnp.zeros(v.shape, jnp.float64)
        nv = len(self.out_shape)
        for d, i in zip(ds, self._wrt_index):
            t, shape = tangents[i], self.shapes[i]
            if _zero(t):
                continue
            nb = t.ndim - len(shape)
            t = t.reshape(t.shape[:nb] + (1,) * nv + shape)
            axes = tuple(range(d.ndim - len(shape), d.ndim))
            out = out + jnp.sum(d * t, axis=axes) if axes else out + d * t
        return out


def _zero(t: object) -> bool:
    return isinstance(t, SymbolicZero)
