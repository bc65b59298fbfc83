"""chaincc: textbook math in, exact fused value-and-gradient kernels out."""

from .version import __version__

__all__ = ["ChainccError", "Function", "compile", "compile_unit", "__version__"]

# after __version__, which modules read as chaincc.__version__
from .api import compile, compile_unit  # noqa: E402
from .diagnostics import ChainccError  # noqa: E402
from .function import Function  # noqa: E402
