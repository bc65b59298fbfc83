"""NumPy, imported at its first use rather than with the modules that use it.

A warm ``chaincc eval f.txt x=1 y=2`` reads a kernel from the disk cache and calls it on
two floats: NumPy's import (about 0.1 s) would be most of its run time. The modules on
that path (the CLI, the calling conventions, the CPU executor, the LLVM kernels' runner)
name NumPy ``np`` through this proxy, and their scalar paths do not touch it. The first
attribute read imports NumPy and rebinds ``np`` to it in every module that holds the
proxy, so later calls pay nothing."""

from __future__ import annotations

import sys
from typing import Any


class _Numpy:
    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        import numpy
        for module in list(sys.modules.values()):
            if getattr(module, "np", None) is self and \
                    getattr(module, "__name__", "").startswith("chaincc"):
                module.np = numpy  # type: ignore[attr-defined]
        return getattr(numpy, name)

    def __repr__(self) -> str:
        return "<numpy, imported at its first use>"


np: Any = _Numpy()
