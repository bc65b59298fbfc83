"""A compiled function as a PyTorch operation that takes part in autograd.

``chaincc.torch.function(fn)`` wraps a :class:`~chaincc.function.Function` in a callable
on tensors (a ``torch.autograd.Function`` underneath): its forward runs the compiled
kernels, its backward the compiled gradient or vector-Jacobian product, scaled by the
incoming gradient. The arguments bind as every chaincc call binds them (by position or by
name, batch dimensions broadcast, ``reduce="sum"``/``"mean"`` over the batch inside the
kernel), and errors are chaincc's own ``ArgumentError``.

- Scalar-valued functions: when any argument requires a gradient, the forward pass runs
  the fused value-and-gradient kernel over exactly the parameters whose tensors require
  it (``wrt=``), keeps the gradients, and the backward pass only scales them.
- Vector-valued functions: the forward pass runs the value kernel, the backward pass the
  VJP kernel with the incoming gradient as the cotangent.
- The backward pass is not differentiable: gradients made with ``create_graph=True``
  raise a RuntimeError that says so when they are differentiated (no double backward).
- CPU float64 tensors are read in place and results come back with ``torch.from_numpy``
  (no copies); other dtypes are converted to float64, values come back in the inputs'
  floating dtype and each gradient in its input's dtype. CUDA tensors run on chaincc's
  CUDA target, read in place through ``__cuda_array_interface__``.

``import chaincc`` never imports this module or PyTorch; ``import chaincc.torch`` does.
See docs/torch.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch

from .calling import ArgumentError, ArgumentTypeError, bind, check_reduce
from .function import Function

__all__ = ["TorchFunction", "function"]

_UNSET = object()
F64 = torch.float64


def function(fn: Function, reduce: str | None = None) -> TorchFunction:
    """``fn`` as an operation on tensors that takes part in autograd.

    ``reduce`` is the default of every call (``"sum"``/``"mean"``: the sum or mean over
    the batch, inside the kernel); a call may override it with ``reduce=``. A function
    compiled with ``target="cuda"`` is used for CUDA tensors as it is (its dtype too);
    otherwise CUDA tensors run on a float64 CUDA build of ``fn``, made on first use."""
    return TorchFunction(fn, reduce)


class TorchFunction:
    """A compiled function called on tensors: ``tf(*args, reduce=..., **kwargs)`` is the
    value as a tensor, differentiable with respect to every tensor argument that requires
    a gradient. Arguments that are not tensors (floats, NumPy arrays) are constants."""

    def __init__(self, fn: Function, reduce: str | None = None) -> None:
        if not isinstance(fn, Function):
            raise ArgumentTypeError(f"chaincc.torch.function needs a compiled function "
                                    f"(chaincc.compile(...)), got {type(fn).__name__}")
        check_reduce(reduce)
        if fn.target == "cuda":
            self.cpu: Function = Function(fn.unit, fn.index)
            self._cuda: Function | None = fn
        else:
            self.cpu, self._cuda = fn, None
        self.reduce = reduce
        self.name = fn.name
        self.params = fn.params
        self.shapes = fn.shapes
        self.out_shape = fn.out_shape

    def __repr__(self) -> str:
        return f"<chaincc.torch.function {self.name}({', '.join(self.params)})>"

    def cuda(self) -> Function:
        """The function that runs on CUDA tensors (made on first use)."""
        if self._cuda is None:
            from .cuda import retarget
            self._cuda = retarget(self.cpu, "cuda")
        return self._cuda

    def __call__(self, *args, reduce: object = _UNSET, **kwargs) -> torch.Tensor:
        values = bind(self.params, self.name, args, kwargs)
        how = self.reduce if reduce is _UNSET else reduce
        check_reduce(how)
        # needs_input_grad follows requires_grad even under torch.no_grad()
        return _Apply.apply(self, how, torch.is_grad_enabled(), *values)


# -- where tensors live: the hooks between PyTorch and chaincc's CUDA target ---------------
def _is_cuda(t: torch.Tensor) -> bool:
    return t.is_cuda


def _device_array(t: torch.Tensor) -> object:
    """A contiguous CUDA tensor as chaincc's CUDA target takes it: the tensor itself,
    read in place through ``__cuda_array_interface__``."""
    return t


def _from_device(x: object, device: torch.device) -> torch.Tensor:
    """A device array from chaincc's CUDA target as a tensor on ``device``, in place."""
    return torch.as_tensor(x, device=device)


@contextmanager
def _gpu(device: torch.device) -> Iterator[None]:
    """Run chaincc's CUDA kernels on ``device``: after PyTorch's pending work on it, and
    finished before PyTorch reads their results."""
    from .cuda import cuda_module
    cuda = cuda_module()
    index = device.index if device.index is not None else torch.cuda.current_device()
    torch.cuda.current_stream(device).synchronize()
    with cuda.gpus[index]:
        yield
        cuda.synchronize()


# -- one call ----------------------------------------------------------------------------
def _result_dtype(tensors: Sequence[torch.Tensor]) -> torch.dtype:
    """The inputs' floating dtype (promoted), float64 when none is floating."""
    dt = None
    for t in tensors:
        if t.is_floating_point():
            dt = t.dtype if dt is None else torch.promote_types(dt, t.dtype)
    return F64 if dt is None else dt


def _batch_of(value: object, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The batch dimensions of an argument for a parameter of ``shape`` (None when its
    shape does not end in ``shape``: the call then raises chaincc's error)."""
    try:
        have = tuple(value.shape) if isinstance(value, torch.Tensor) else np.shape(value)
    except (TypeError, ValueError):
        return None
    k = len(shape)
    if len(have) < k or tuple(have[len(have) - k:]) != shape:
        return None
    return tuple(have[:len(have) - k])


class _Run:
    """One call of a :class:`TorchFunction`: the arguments as the kernels take them, the
    forward pass, and what the backward pass needs."""

    def __init__(self, tf: TorchFunction, reduce: str | None, values: Sequence,
                 needs: Sequence[bool]) -> None:
        self.tf = tf
        self.reduce = reduce
        tensors = [v for v in values if isinstance(v, torch.Tensor)]
        self.dtype = _result_dtype(tensors)
        self.wrt = tuple(i for i, need in enumerate(needs) if need)
        self.in_shapes = {i: tuple(values[i].shape) for i in self.wrt}
        self.in_dtypes = {i: values[i].dtype for i in self.wrt}
        self.in_devices = {i: values[i].device for i in self.wrt}
        batches = [_batch_of(v, s) for v, s in zip(values, tf.shapes)]
        try:
            self.batch: tuple[int, ...] | None = tuple(torch.broadcast_shapes(
                *(b for b in batches if b is not None)))
        except RuntimeError:
            self.batch = None                  # the call raises chaincc's error
        # a gradient over batch dimensions is a gradient per point, not a reduced one
        self.per_point = any(batches[i] for i in self.wrt)
        devices = {v.device for v in tensors if _is_cuda(v)}
        if len(devices) > 1:
            raise ArgumentError(f"{tf.name}: tensors on different CUDA devices "
                                f"({', '.join(sorted(map(str, devices)))})")
        self.device: torch.device | None = next(iter(devices)) if devices else None
        self.fn = tf.cpu if self.device is None else tf.cuda()
        self.args = [self._arg(v, name, shape, b)
                     for v, name, shape, b in zip(values, tf.params, tf.shapes, batches)]
        self.grads: list[torch.Tensor] = []
        self.scale = 1.0

    # -- arguments in, results out ---------------------------------------------------
    def _arg(self, v: object, name: str, shape: tuple[int, ...],
             batch: tuple[int, ...] | None) -> object:
        if not isinstance(v, torch.Tensor):
            return v                           # chaincc checks and converts it
        t = v.detach()
        if t.layout != torch.strided:
            raise ArgumentTypeError(f"parameter '{name}' is a {t.layout} tensor; pass a "
                                    f"dense one (tensor.to_dense())")
        if self.device is not None and _is_cuda(t):
            dt = {np.float64: F64, np.float32: torch.float32}[self.fn.dtype.type]
            if not shape and t.dim() == 0 and not t.is_complex():
                return float(t.item())
            if not t.is_complex():             # chaincc refuses complex numbers
                t = t.to(dt)
            if batch and self.batch is not None and batch != self.batch:
                t = t.expand(self.batch + shape)   # device arrays are not broadcast
            return _device_array(t.contiguous())
        if t.device.type != "cpu":
            raise ArgumentTypeError(f"parameter '{name}' is on device {t.device}; "
                                    f"chaincc runs on the CPU and on CUDA devices")
        if t.dtype != F64 and not t.is_complex():
            t = t.to(F64)
        return t.resolve_conj().resolve_neg().numpy()     # the same memory for float64

    def _tensor(self, x: object) -> torch.Tensor:
        """A kernel result as a tensor (in the kernel's dtype) where the inputs are."""
        if isinstance(x, float):
            return torch.tensor(x, dtype=F64, device=self.device or "cpu")
        if isinstance(x, np.ndarray):
            t = torch.from_numpy(x)
            return t if self.device is None else t.to(self.device)
        assert self.device is not None, type(x)
        return _from_device(x, self.device)

    def _calls(self):
        return _gpu(self.device) if self.device is not None else _nothing()

    # -- forward and backward --------------------------------------------------------
    def forward(self) -> torch.Tensor:
        fn, reduce = self.fn, self.reduce
        names = [self.tf.params[i] for i in self.wrt]
        with self._calls():
            if not self.wrt or self.tf.out_shape:
                value = self._tensor(fn(*self.args, reduce=reduce))
            else:
                one = None if self.per_point else reduce
                if fn.target == "cuda":        # no wrt= there: every gradient, some kept
                    value, grads = fn.value_and_grad(*self.args, reduce=one)
                    grads = tuple(grads[i] for i in self.wrt)
                else:
                    value, grads = fn.value_and_grad(*self.args, reduce=one, wrt=names)
                value = self._tensor(value)
                self.grads = [self._tensor(g) for g in grads]
                if one != reduce:              # reduce the per-point results here
                    n = value.numel()
                    value = value.sum() if reduce == "sum" else value.mean()
                    self.scale = 1.0 if reduce == "sum" else 1.0 / n if n else math.nan
                self.args = []                 # the backward pass needs only the gradients
        return value.to(self.dtype)

    def backward(self, grad: torch.Tensor) -> list[torch.Tensor | None]:
        go = grad.detach().to(F64)
        if self.tf.out_shape:
            grads = self._vjp(go)
        else:
            grads = [g * go.reshape(go.shape + (1,) * len(self.tf.shapes[i]))
                     for i, g in zip(self.wrt, self.grads)]
        out: list[torch.Tensor | None] = [None] * len(self.tf.params)
        for i, g in zip(self.wrt, grads):
            if self.scale != 1.0:
                g = g * self.scale
            out[i] = g.sum_to_size(self.in_shapes[i]).to(device=self.in_devices[i],
                                                         dtype=self.in_dtypes[i])
        return out

    def _vjp(self, go: torch.Tensor) -> list[torch.Tensor]:
        """cotangent · J per parameter of ``wrt``, for the incoming gradient ``go``."""
        fn, reduce = self.fn, self.reduce
        n = math.prod(self.batch or ())
        mean = 1.0 / n if n else math.nan
        if fn.target == "cuda":                # no vjp there: the Jacobian, contracted
            with self._calls():
                jac = fn.jacobian(*self.args)
            if reduce == "mean" and self.batch:
                self.scale = mean
            k = len(self.tf.out_shape)
            grads = []
            for i in self.wrt:
                j = self._tensor(jac[i])
                s = len(self.tf.shapes[i])
                lead = j.dim() - k - s
                prod = j * go.reshape(go.shape + (1,) * s)
                grads.append(prod.sum(dim=tuple(range(lead, lead + k))))
            return grads                       # per point: summed to the inputs' shapes
        one = None if self.per_point else reduce
        if one != reduce and reduce == "mean":
            self.scale = mean
        names = [self.tf.params[i] for i in self.wrt]
        cot = go.cpu().numpy()
        grads = fn.vjp(*self.args, cotangent=cot, reduce=one, wrt=names)
        return [self._tensor(g) for g in grads]


@contextmanager
def _nothing() -> Iterator[None]:
    yield


class _Apply(torch.autograd.Function):
    """The autograd node of one call: ``apply(tf, reduce, grad_enabled, *values)``."""

    @staticmethod
    def forward(ctx, tf: TorchFunction, reduce: str | None,  # type: ignore[override]
                grad_enabled: bool, *values: object) -> torch.Tensor:
        needs = ctx.needs_input_grad[3:] if grad_enabled else (False,) * len(values)
        run = _Run(tf, reduce, values, needs)
        value = run.forward()
        if run.wrt:
            ctx.run = run
            ctx.save_for_backward(*(v for v in values if isinstance(v, torch.Tensor)))
        return value

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple:  # type: ignore[override]
        run: _Run = ctx.run
        inputs = ctx.saved_tensors             # (and PyTorch's check for in-place changes)
        twice = torch.is_grad_enabled()        # backward(create_graph=True)
        with torch.no_grad():
            grads = run.backward(grad)
        if twice:          # gradients that depend on the inputs through a node that refuses
            grads = [None if g is None else _Once.apply(g, *inputs) for g in grads]
        return (None, None, None, *grads)


DOUBLE_BACKWARD = (
    "chaincc.torch: the gradient of a compiled function is not differentiable in PyTorch "
    "(no double backward); for second derivatives use the compiled function's own "
    "fn.hessian(...) or fn.hvp(...)")


class _Once(torch.autograd.Function):
    """A gradient handed back under ``create_graph=True``: the same values, depending on
    the call's inputs through a backward pass that raises a RuntimeError saying that
    second derivatives are not taken (rather than PyTorch seeing no dependence, and
    second derivatives of zero)."""

    @staticmethod
    def forward(ctx, g: torch.Tensor,  # type: ignore[override]
                *inputs: torch.Tensor) -> torch.Tensor:
        return g.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple:  # type: ignore[override]
        raise RuntimeError(DOUBLE_BACKWARD)
