"""``target="cuda"``: compiled functions whose evaluation runs on an NVIDIA GPU.

``chaincc.compile(src, target="cuda", dtype=numpy.float32)`` returns a
:class:`CudaFunction`, a :class:`~chaincc.function.Function` with the same calls (the
calling convention of ``frontend.py``) run by a :class:`CudaExecutor`: each evaluation is
one fused CUDA kernel (see ``backends/numba_cuda.py``). NumPy inputs are
copied to the device and the results copied back; device arrays (anything with
``__cuda_array_interface__``) are read in place and the results stay on the device as
Numba device arrays. ``reduce="sum"``/``"mean"`` sums on the device (see
:func:`reduce_config`); only the per-block sums come back to the host.

numba.cuda is imported here only when a CUDA function is made, never at package import,
so every CPU feature works without it.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from . import cache
from .calling import ArgumentError, ArgumentTypeError, Call
from .diagnostics import ChainccError
from .function import Function
from .version import __version__

if TYPE_CHECKING:
    from .unit import Unit

TARGETS = ("cpu", "cuda")
THREADS = 256            # threads per block
BLOCKS_PER_SM = 32       # grid-stride loop: a fixed grid, a multiple of the SM count
REDUCE_BLOCKS = 64       # reduce kernels: one grid on every GPU, so sums do not vary with it
# most bytes of scratch memory (a program's loops) per launch: a kernel whose threads
# would need more runs on fewer blocks, each thread taking more points
SCRATCH_BYTES = 1 << 30
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
    source = unit.key or cache.digest(*(c.forward.dump() for c in unit.compiled))
    key = cache.digest("cuda", __version__, str(cache.FORMAT), dtype, source,
                       Path(numba_cuda.__file__).read_text(encoding="utf-8"))
    meta = cache.read_meta(key, required=("module",))
    module = cache.load_module(meta["module"]) if meta is not None else None
    if module is None:                  # never made, or missing or damaged: make it again
        meta = {"module": cache.store_module(_module_text(unit, dtype))}
        cache.write_meta(key, meta)
        module = cache.load_module(meta["module"])
        assert module is not None, "a kernel module just written is unreadable"
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
            raise ArgumentTypeError("the CUDA simulator cannot read __cuda_array_interface__ "
                                    "objects; pass Numba device arrays "
                                    "(numba.cuda.to_device)")
        return cuda.as_cuda_array(v)
    return None


def reduce_config(cuda: ModuleType) -> tuple[int, int]:
    """(blocks, threads per block) of a reduce kernel: fixed, not taken from the device,
    so the order of the additions, and so the rounding, is the same on every GPU."""
    from .backends.numba_cuda import REDUCE_THREADS
    if cuda.config.ENABLE_CUDASIM:
        return 2, 32                 # Python threads in the simulator: a small grid
    return REDUCE_BLOCKS, REDUCE_THREADS


class CudaExecutor:
    """Runs one function's CUDA kernels (of ``module``, named after ``kernel``) in
    ``dtype``: the value and the fused value and gradient (or Jacobian), per point or
    summed on the device. The derived programs (vjp, hessian, hvp) are CPU-only.

    Host arguments are copied to the device, device arrays read in place. Results stay
    on the device when any argument was on it, else they are copied back to the host."""

    target = "cuda"
    kinds = frozenset({"value", "vg"})

    def __init__(self, cuda: ModuleType, module: ModuleType, kernel: str,
                 dtype: np.dtype) -> None:
        self.cuda = cuda
        self.module = module
        self.dtype = np.dtype(dtype)
        names = {"value_batch": f"{kernel}_batch",
                 "vg_batch": f"{kernel}_value_and_grad_batch",
                 "value_reduce": f"{kernel}_reduce",
                 "vg_reduce": f"{kernel}_value_and_grad_reduce"}
        self.kernels = {k: getattr(module, name) for k, name in names.items()}
        # elements of scratch memory per thread that each kernel takes (a program's loops)
        scratch = getattr(module, "SCRATCH", {})
        self.scratch = {k: scratch.get(name, 0) for k, name in names.items()}

    def device_view(self, value: object) -> object | None:
        d = _device_view(self.cuda, value)
        if d is not None and not d.is_c_contiguous():
            raise ArgumentError("device arrays must be C-contiguous")
        return d

    def _inputs(self, call: Call) -> list:
        """The kernel's arguments: a scalar in ``dtype``, a flat device array (shared),
        or a device array of shape (n,) or (n, size) (per point)."""
        cuda, dt, n = self.cuda, self.dtype, call.n
        xs = []
        for a, shape, shared in zip(call.args, call.shapes, call.shared):
            if isinstance(a, float):
                xs.append(dt.type(a))
                continue
            if not shared and shape:
                a = a.reshape(n, math.prod(shape))
            xs.append(cuda.to_device(a) if isinstance(a, np.ndarray) else a)
        return xs

    def _outputs(self, call: Call, targets: list) -> list:
        """Device arrays the kernel writes: (n,) or (n, size) per output, the target
        itself where it is on the device."""
        outs = []
        for t, size, shape in zip(targets, call.sizes, call.outputs):
            dims = (call.n, size) if shape else (call.n,)
            if t is not None and not isinstance(t, np.ndarray):
                outs.append(t.reshape(*dims))
            else:
                outs.append(self.cuda.device_array(dims, dtype=self.dtype))
        return outs

    def _blocks(self, kernel: str, blocks: int, threads: int) -> int:
        """``blocks``, or fewer (at least one) where the kernel's scratch memory for that
        many would pass SCRATCH_BYTES."""
        per_block = self.scratch[kernel] * threads * self.dtype.itemsize
        return max(1, min(blocks, SCRATCH_BYTES // per_block)) if per_block else blocks

    def _scratch(self, kernel: str, threads: int) -> list:
        """The kernel's scratch memory, if it takes any: one column per thread of the
        launch (``threads`` in all), which the thread reuses for every point it takes."""
        size = self.scratch[kernel]
        return [self.cuda.device_array((size, threads), dtype=self.dtype)] if size else []

    def _batch(self, kind: str, call: Call, targets: list) -> list:
        outs = self._outputs(call, targets)
        if call.n:
            kernel = kind + "_batch"
            blocks, threads = launch_config(self.cuda, call.n)
            blocks = self._blocks(kernel, blocks, threads)
            self.kernels[kernel][blocks, threads](
                call.n, *self._inputs(call), *outs, *self._scratch(kernel, blocks * threads))
        return outs

    def point(self, kind: str, call: Call) -> np.ndarray:
        outs = self._batch(kind, call, [None] * len(call.sizes))
        return np.concatenate([o.copy_to_host().reshape(-1) for o in outs])

    def points(self, kind: str, call: Call, targets: list) -> list:
        outs = self._batch(kind, call, targets)
        result = []
        for t, o in zip(targets, outs):
            if isinstance(t, np.ndarray):
                o.copy_to_host(t.reshape(o.shape))
                result.append(t)
            elif t is not None or call.on_device:
                result.append(o.reshape(o.size))
            else:
                result.append(o.copy_to_host().reshape(-1))
        return result

    def sum(self, kind: str, call: Call) -> np.ndarray:
        """The outputs summed over the points on the device: one row of sums per block
        comes back, and the rows are added here in float64."""
        kernel = kind + "_reduce"
        blocks, threads = reduce_config(self.cuda)
        blocks = self._blocks(kernel, blocks, threads)      # the same grid on every GPU
        part = self.cuda.device_array((blocks, sum(call.sizes)), dtype=self.dtype)
        self.kernels[kernel][blocks, threads](
            call.n, *self._inputs(call), part, *self._scratch(kernel, blocks * threads))
        return part.copy_to_host().sum(axis=0, dtype=np.float64)


class CudaFunction(Function):
    """A compiled function evaluated by CUDA kernels; the calls are those of
    :class:`~chaincc.function.Function`.

    NumPy arrays in, NumPy arrays out (host-device copies included); device arrays in,
    Numba device arrays out, with no copy to the host. Scalars broadcast, and host arrays
    broadcast as NumPy does (converted to ``dtype``); a device array must have the full
    batch shape, or none for a shared array parameter. Results are in ``dtype``.

    ``reduce="sum"``/``"mean"`` returns, as on the CPU, the sum or mean over the batch of
    the value and of each gradient, shaped like one point's (floats and NumPy arrays,
    also for device inputs). Each GPU thread sums its points in ``dtype``, each block
    combines its threads' sums in ``dtype``, and the host adds the blocks' rows in float64
    (divided by n for the mean; an empty batch sums to 0 and has a NaN mean, as on the
    CPU).
    """

    target = "cuda"

    def __init__(self, unit: Unit, index: int, dtype: np.dtype) -> None:
        from .backends.numba_cuda import kernel_name
        super().__init__(unit, index)
        self.dtype = np.dtype(dtype)
        cuda = cuda_module()            # first: a clear error where no GPU target runs
        module, _ = cuda_kernel_module(unit, self.dtype.name)
        self._executor = CudaExecutor(cuda, module, kernel_name(self.name), self.dtype)

    def __repr__(self) -> str:
        return (f"<chaincc.Function {self.name}({', '.join(self.params)}) "
                f"target='cuda' {self.dtype.name}>")

    def with_wrt(self, wrt: str | list | tuple) -> Function:
        from .executor import require, with_wrt
        require(self._executor, with_wrt("vg", (0,)), "with_wrt", self.name)
        raise AssertionError("a CUDA executor that specialises")

    @property
    def _module(self) -> ModuleType:
        return self._executor.module

    @property
    def _kernels(self) -> dict[str, object]:
        return self._executor.kernels
