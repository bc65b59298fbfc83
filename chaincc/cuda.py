"""``target="cuda"``: compiled functions whose evaluation runs on an NVIDIA GPU.

``chaincc.compile(src, target="cuda", dtype=numpy.float32)`` returns a
:class:`CudaFunction`, a :class:`~chaincc.api.Function` with the same calls whose batch
evaluation is one fused CUDA kernel (see ``backends/numba_cuda.py``). NumPy inputs are
copied to the device and the results copied back; device arrays (anything with
``__cuda_array_interface__``) are read in place and the results stay on the device as
Numba device arrays. ``reduce="sum"``/``"mean"`` sums on the device (see
:func:`reduce_config`); only the per-block sums come back to the host.

numba.cuda is imported here only when a CUDA function is made, never at package import,
so every CPU feature works without it.
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from types import ModuleType

import numpy as np

from . import __version__, cache
from .api import Function, Unit
from .calling import as_float, bind, is_scalar
from .diagnostics import ChainccError

TARGETS = ("cpu", "cuda")
THREADS = 256            # threads per block
BLOCKS_PER_SM = 32       # grid-stride loop: a fixed grid, a multiple of the SM count
REDUCE_BLOCKS = 64       # reduce kernels: one grid on every GPU, so sums do not vary with it
HOW = ("install the CUDA target with `pip install chaincc[cuda]` (the numba-cuda package) "
       "on a machine with an NVIDIA GPU and its driver, or set NUMBA_ENABLE_CUDASIM=1 to "
       "run on Numba's CUDA simulator (slow; meant for tests)")


class CudaUnavailable(ChainccError, RuntimeError):
    """``target="cuda"`` was asked for where no GPU (or no CUDA target) can run it."""


def cuda_module() -> ModuleType:
    """``numba.cuda``, once it is known to work here; else a CudaUnavailable that says
    how to get a GPU target."""
    try:
        import numba_cuda  # noqa: F401  (the maintained CUDA target, not numba's old one)
    except ImportError:
        raise CudaUnavailable(f"target='cuda' needs the numba-cuda package, which is not "
                              f"installed: {HOW}") from None
    from numba import cuda
    if not cuda.is_available():
        why = " ".join(str(getattr(cuda, "cuda_error", lambda: "")() or "").split())
        raise CudaUnavailable(f"target='cuda' found no usable NVIDIA GPU"
                              f"{' (' + why + ')' if why else ''}: {HOW}")
    return cuda


def retarget(fn: Function, target: str, dtype: object = None) -> Function:
    """``fn`` for ``target`` ("cpu" or "cuda") computing in ``dtype``."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; the targets are "
                         f"{', '.join(map(repr, TARGETS))}")
    dt = np.dtype(np.float64 if dtype is None else dtype)
    if dt not in (np.float64, np.float32):
        raise TypeError(f"dtype must be numpy.float64 or numpy.float32, got {dt}")
    if target == "cpu":
        if dt != np.float64:
            raise TypeError("the CPU target computes in float64; dtype=numpy.float32 is "
                            "for target='cuda'")
        return fn
    return CudaFunction(fn.unit, fn.index, dt)


def _module_text(unit: Unit, dtype: str) -> str:
    from .backends.numba_cuda import module_source
    stamps = []
    for c in unit.compiled:
        oc = c.op_counts()
        ps = ", ".join(p.name for p in c.forward.params)
        stamps.append(f"{c.forward.name}({ps}) at line {c.forward.line}: forward "
                      f"{oc['forward']} ops, value+grad {oc['value_and_grad']} ops")
    return module_source(__version__, unit.source.name,
                         [(c.forward, c.fused) for c in unit.compiled], dtype, stamps)


def cuda_kernel_module(unit: Unit, dtype: str) -> tuple[ModuleType, dict]:
    """The unit's CUDA module for ``dtype`` and its metadata, generated once per program
    and cached on disk beside the CPU kernels."""
    from .backends import numba_cuda
    # the generator's own text is in the key, so a changed backend never reads old modules
    key = cache.digest("cuda", __version__, str(cache.FORMAT), dtype, unit.meta["module"],
                       Path(numba_cuda.__file__).read_text(encoding="utf-8"))
    meta = cache.read_meta(key)
    if meta is None or not cache.module_path(meta["module"]).exists():
        meta = {"module": cache.store_module(_module_text(unit, dtype))}
        cache.write_meta(key, meta)
    module = cache.load_module(meta["module"])
    assert module is not None, "CUDA kernel module vanished from the cache"
    return module, meta


def launch_config(cuda: ModuleType, n: int) -> tuple[int, int]:
    """(blocks, threads per block) for n points: enough blocks to fill every
    multiprocessor many times over, fewer when n is small."""
    if cuda.config.ENABLE_CUDASIM:
        # the simulator runs each thread as a Python thread: a tiny grid that still
        # makes each thread stride over several points
        return max(1, min(2, math.ceil(n / 32))), 32
    sms = cuda.get_current_device().MULTIPROCESSOR_COUNT
    return max(1, min(math.ceil(n / THREADS), sms * BLOCKS_PER_SM)), THREADS


def _device_view(cuda: ModuleType, v: object) -> object | None:
    """A Numba device array viewing ``v`` if it lives on the GPU, else None."""
    if getattr(v, "__cuda_ndarray__", False):
        return v
    if hasattr(v, "__cuda_array_interface__"):
        if not hasattr(cuda, "as_cuda_array"):
            raise TypeError("the CUDA simulator cannot read __cuda_array_interface__ "
                            "objects; pass Numba device arrays (numba.cuda.to_device)")
        return cuda.as_cuda_array(v)
    return None


def reduce_config(cuda: ModuleType) -> tuple[int, int]:
    """(blocks, threads per block) of a reduce kernel: fixed, not taken from the device,
    so the order of the additions, and so the rounding, is the same on every GPU."""
    from .backends.numba_cuda import REDUCE_THREADS
    if cuda.config.ENABLE_CUDASIM:
        return 2, 32                 # Python threads in the simulator: a small grid
    return REDUCE_BLOCKS, REDUCE_THREADS


class CudaFunction(Function):
    """A compiled function evaluated by a CUDA kernel; the calls are those of
    :class:`~chaincc.api.Function`.

    NumPy arrays in, NumPy arrays out (host-device copies included); device arrays in,
    Numba device arrays out, with no copy to the host. Scalars broadcast, and host arrays
    broadcast as NumPy does (converted to ``dtype``); a device array must have the full
    batch shape, or none for a shared array parameter. Results are in ``dtype``.

    ``reduce="sum"``/``"mean"`` returns, as on the CPU, the sum or mean over the batch of
    the value and of each gradient, shaped like one point's (floats and NumPy arrays,
    also for device inputs). Each GPU thread sums its points in ``dtype``, each block
    combines its threads' sums in ``dtype``, and the host adds the blocks' rows in float64
    (divided by n for the mean; an empty batch gives 0, as on the CPU).
    """

    target = "cuda"

    def __init__(self, unit: Unit, index: int, dtype: np.dtype) -> None:
        super().__init__(unit, index)
        self.dtype = np.dtype(dtype)
        self._cuda = cuda_module()
        self._module, _ = cuda_kernel_module(unit, self.dtype.name)

    def __repr__(self) -> str:
        return (f"<chaincc.Function {self.name}({', '.join(self.params)}) "
                f"target='cuda' {self.dtype.name}>")

    @cached_property
    def _kernels(self) -> dict[str, object]:
        m, k = self._module, self._kernel_name
        return {"value_batch": getattr(m, f"{k}_batch"),
                "vg_batch": getattr(m, f"{k}_value_and_grad_batch"),
                "value_reduce": getattr(m, f"{k}_reduce"),
                "vg_reduce": getattr(m, f"{k}_value_and_grad_reduce")}

    @property
    def _kernel_name(self) -> str:
        from .backends.numba_cuda import kernel_name
        return kernel_name(self.name)

    def _argument(self, v: object, name: str, shape: tuple[int, ...]) -> tuple:
        """(value, batch shape, on device): a device view, a host array in the kernel's
        dtype, or a float for a scalar parameter given a scalar."""
        dt = self.dtype
        d = _device_view(self._cuda, v)
        if d is None and not shape and is_scalar(v):
            return as_float(v, name), (), False
        if d is not None:
            if d.dtype != dt:
                raise TypeError(f"parameter '{name}' is a {d.dtype} device array but "
                                f"{self.name} was compiled for {dt.name}; convert it, or "
                                f"compile with dtype=numpy.{d.dtype}")
            if not d.is_c_contiguous():
                raise ValueError(f"parameter '{name}': device arrays must be C-contiguous")
            a = d
        else:
            try:
                a = np.asarray(v, dtype=dt)
            except (TypeError, ValueError):
                raise TypeError(f"parameter '{name}' must be a real number or an array of "
                                f"them, got {type(v).__name__}") from None
        k, got = len(shape), tuple(a.shape)
        if len(got) < k or got[len(got) - k:] != shape:
            raise ValueError(f"parameter '{name}' must have shape {shape} (or a batch of "
                             f"them, shape (..., {', '.join(map(str, shape))})), got "
                             f"{got}" if shape else
                             f"parameter '{name}' must be a scalar or an array of them")
        batch = got[:len(got) - k]
        if d is not None and not batch and not shape:
            raise ValueError(f"parameter '{name}': pass a scalar as a Python number, not "
                             f"as a 0-d device array")
        return a, batch, d is not None

    def _arguments(self, values: list) -> tuple[tuple[int, ...], list, bool]:
        """(batch shape, kernel arguments, whether any input was on the device).

        As on the CPU, each argument is per point — (n,) for a scalar parameter, (n, size)
        for an array one — or shared: a scalar, or a flat array. Host arrays broadcast as
        NumPy does; device arrays are used in place, so their batch shape must be the
        full one (or empty, for a shared array parameter).
        """
        cuda, dt = self._cuda, self.dtype
        got = [self._argument(v, p, s) for v, p, s in zip(values, self.params, self.shapes)]
        try:
            batch = np.broadcast_shapes(*(b for _, b, _ in got))
        except ValueError:
            desc = ", ".join(f"{p} {b}" for p, (_, b, _) in zip(self.params, got) if b)
            raise ValueError(f"batch dimensions cannot be broadcast together: {desc}") \
                from None
        n = math.prod(batch)
        xs: list = []
        for (a, b, on_dev), name, shape in zip(got, self.params, self.shapes):
            size = math.prod(shape)
            if isinstance(a, float):
                xs.append(dt.type(a))
            elif not b:                                  # shared by every point
                xs.append(a.reshape(size) if on_dev else cuda.to_device(a.reshape(size)))
            elif on_dev:
                if b != batch:
                    raise ValueError(f"parameter '{name}': a device array with batch shape "
                                     f"{b} is not broadcast on the GPU; give it the batch "
                                     f"shape {batch}, or pass a scalar or a host array")
                xs.append(a.reshape(n) if not shape else a.reshape(n, size))
            else:
                flat = np.ascontiguousarray(np.broadcast_to(a, batch + shape))
                xs.append(cuda.to_device(flat.reshape(n) if not shape else
                                         flat.reshape(n, size)))
        return batch, xs, any(on_dev for _, _, on_dev in got)

    def _out_arrays(self, out: list, batch: tuple[int, ...], outputs: list) -> list:
        """``out=``: (kernel output, host array to fill or None) per output. Device
        arrays are written by the kernel in place; NumPy arrays receive the copy."""
        if not batch:
            raise ValueError("out= is for batch calls without reduce (the results are then "
                             "arrays)")
        if len(out) != len(outputs):
            raise ValueError(f"out needs {len(outputs)} arrays, got {len(out)}")
        n, pairs = math.prod(batch), []
        for o, s in zip(out, outputs):
            want = tuple(batch) + tuple(s)
            d = _device_view(self._cuda, o)
            a = d if d is not None else o
            if d is not None:
                ok = d.dtype == self.dtype and tuple(d.shape) == want and d.is_c_contiguous()
            else:
                ok = isinstance(o, np.ndarray) and o.dtype == self.dtype and o.shape == want \
                    and o.flags.c_contiguous and o.flags.writeable
            if not ok:
                got = f"{a.dtype} {tuple(a.shape)}" if hasattr(a, "shape") else type(o).__name__
                raise ValueError(f"each out array must be a writable C-contiguous "
                                 f"{self.dtype.name} array of shape {want} (on the host or "
                                 f"the device), got {got}")
            flat = (n,) + ((math.prod(s),) if s else ())
            pairs.append((d.reshape(*flat), None) if d is not None else
                         (self._cuda.device_array(flat, dtype=self.dtype), o))
        return pairs

    def _run(self, which: str, args: tuple, kwargs: dict, reduce: str | None,
             out: list | None = None) -> list:
        if reduce not in (None, "sum", "mean"):
            raise ValueError(f"reduce must be None, 'sum' or 'mean', got {reduce!r}")
        cuda = self._cuda
        values = bind(self.params, self.name, args, kwargs)
        outputs = [self.out_shape]
        if which != "value":
            outputs += [self.out_shape + s for s in self.shapes]
        batch, xs, on_device = self._arguments(values)
        n = math.prod(batch)
        if reduce is not None and batch:
            if out is not None:
                raise ValueError("out= is for batch calls without reduce (the results are "
                                 "then arrays)")
            return self._reduce(which, n, xs, outputs, reduce)
        pairs = self._out_arrays(out, batch, outputs) if out is not None else \
            [(cuda.device_array((n,) + ((math.prod(s),) if s else ()), dtype=self.dtype), None)
             for s in outputs]
        outs = [d for d, _ in pairs]
        if n:
            blocks, threads = launch_config(cuda, n)
            self._kernels[which + "_batch"][blocks, threads](n, *xs, *outs)
        if out is not None:
            for d, host in pairs:
                if host is not None:
                    d.copy_to_host(host.reshape(d.shape))
            return list(out)
        if on_device:
            return [o.reshape(batch + s) for o, s in zip(outs, outputs)]
        host = [o.copy_to_host().reshape(batch + s) for o, s in zip(outs, outputs)]
        if not batch:                    # no batch dimension anywhere: floats, as on the CPU
            return [float(h) if not s else h for h, s in zip(host, outputs)]
        return host

    def _reduce(self, which: str, n: int, xs: list, outputs: list, reduce: str) -> list:
        """The outputs summed (or averaged) over the n points on the device: one row of
        sums per block comes back, and the rows are added here."""
        total = np.zeros(sum(math.prod(s) for s in outputs))
        if n:
            blocks, threads = reduce_config(self._cuda)
            part = self._cuda.device_array((blocks, total.size), dtype=self.dtype)
            self._kernels[which + "_reduce"][blocks, threads](n, *xs, part)
            total = part.copy_to_host().sum(axis=0, dtype=np.float64)
            if reduce == "mean":
                total /= n
        res, k = [], 0
        for s in outputs:
            size = math.prod(s)
            part_k = total[k:k + size]
            k += size
            res.append(float(part_k[0]) if not s else part_k.astype(self.dtype).reshape(s))
        return res

    def _on_cpu_only(self, what: str) -> None:
        raise NotImplementedError(f"{what} is not available with target='cuda' yet; compile "
                                  f"for the CPU (chaincc.compile(source)) to use it")

    def vjp(self, *args, **kwargs) -> tuple:
        self._on_cpu_only("vjp")

    def hessian(self, *args, **kwargs) -> np.ndarray:
        self._on_cpu_only("hessian")

    def hvp(self, *args, **kwargs) -> tuple:
        self._on_cpu_only("hvp")
