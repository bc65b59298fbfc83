"""chaincc: textbook math in, exact fused value-and-gradient kernels out."""

__version__ = "0.1.0"

from .api import Function, compile, compile_unit  # noqa: E402
from .diagnostics import ChainccError  # noqa: E402

__all__ = ["ChainccError", "Function", "compile", "compile_unit", "__version__"]
