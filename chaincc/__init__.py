"""chaincc: textbook math in, exact fused value-and-gradient kernels out.

``import chaincc`` loads nothing but this module: the compiler (SymPy), NumPy and the
bridges are imported when first used, so a process that runs functions it finds in the
disk cache never loads the compiler at all."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .version import __version__

__all__ = ["ChainccError", "Function", "compile", "compile_unit", "__version__"]

if TYPE_CHECKING:
    from .api import compile, compile_unit
    from .diagnostics import ChainccError
    from .function import Function

# public names and the modules that define them
_LAZY = {"compile": "api", "compile_unit": "api", "ChainccError": "diagnostics",
         "Function": "function"}
# bridges, reached as chaincc.torch, chaincc.jax, chaincc.dask, chaincc.scipy
_BRIDGES = frozenset({"torch", "jax", "dask", "scipy"})


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value
        return value
    if name in _BRIDGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'chaincc' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _BRIDGES)
