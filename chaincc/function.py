"""``chaincc.Function``: one function of a compiled source, with its calls (the calling
convention of ``frontend.py``), run on the CPU (``cpu.py``) unless retargeted, and its
C text, explanation and graph."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .cpu import CpuExecutor
from .frontend import Frontend
from .version import __version__

if TYPE_CHECKING:
    from .cbuild import CFunction
    from .ir import Program
    from .pipeline import Compiled
    from .scipy import Objective
    from .unit import Unit


MATHS = ("default", "fast", "libm")


class Function(Frontend):
    """A compiled function with its exact derivatives.

    ``fn(*args, **kwargs)`` is the value; ``fn.grad`` one gradient entry per parameter, in
    that parameter's shape; ``fn.value_and_grad`` both from one fused pass. Scalars give
    floats; arguments with extra leading (batch) dimensions give per-point results with
    the batch shape in front, or with ``reduce="sum"``/``"mean"`` their sum or mean over
    the batch, reduced inside the kernel.
    """

    target = "cpu"

    def __init__(self, unit: Unit, index: int) -> None:
        self.unit = unit
        self.index = index
        info = unit.meta["functions"][index]
        self.name: str = info["name"]
        self.params: tuple[str, ...] = tuple(info["params"])
        self.shapes: tuple[tuple[int, ...], ...] = tuple(tuple(s) for s in info["shapes"])
        self.out_shape: tuple[int, ...] = tuple(info["out_shape"])
        self.line: int = info["line"]
        detail = unit.detail(index)
        self._op_counts: dict[str, int] = dict(detail["op_counts"])
        self._cpu = CpuExecutor(unit, index, info["kernel"], detail["statements"],
                                detail["selections"])
        self._executor = self._cpu

    def __repr__(self) -> str:
        return f"<chaincc.Function {self.name}({', '.join(self.params)})>"

    # -- pickling: the source and options, compiled again where unpickled ----------------
    def __reduce__(self) -> tuple:
        """A function pickles as its source (text, name and syntax; for one compiled
        from a SymPy expression, its lowered forward program, SymPy objects only) and its
        options (entry, ``wrt``, target, dtype), never as kernels: unpickling compiles it
        again, which finds the kernels in that process's own disk cache (see
        ``pickling.py``)."""
        from .pickling import state_of, unpickle
        return (unpickle, (state_of(self),))

    @property
    def compiled(self) -> Compiled:
        return self.unit.compiled[self.index]

    @property
    def forward_program(self) -> Program:
        return self.compiled.forward

    @property
    def program(self) -> Program:
        """The fused program: value and gradient (value and Jacobian when the value is
        an array)."""
        return self.compiled.fused

    def op_counts(self) -> dict[str, int]:
        """Operations in the forward and the fused value-and-gradient program (the one
        over ``wrt``'s parameters, for a function compiled with ``wrt=``)."""
        if self.wrt is None:
            return dict(self._op_counts)
        from .optimize import count_ops
        kind = self._wrt_kind("vg", None)
        return {"forward": self._op_counts["forward"],
                "value_and_grad": count_ops(self._cpu.program(kind))}

    def with_wrt(self, wrt: str | list | tuple) -> Function:
        """This function with its derivatives taken with respect to ``wrt`` (parameter
        names) only, by default in every call; the other parameters are data."""
        from .calling import check_wrt
        fn = Function(self.unit, self.index)
        fn.wrt = check_wrt(self.params, self.name, wrt)
        fn._cpu.math = self.math
        return fn

    @property
    def math(self) -> str:
        """Its kernels' elementary functions: "default", "fast" or "libm" (see
        :meth:`with_math`)."""
        return self._cpu.math

    def with_math(self, math: str) -> Function:
        """This function with other elementary functions in its CPU kernels:

        - ``"default"``: chaincc's own exp, log, pow, sin, cos, tan, tanh, erf... (all
          but atan2, hypot and lgamma, which are libm's), each within 1 ulp of the exact
          value, which LLVM vectorises with the loop over points.
        - ``"fast"``: where a batch kernel's loop vectorises, its libm calls go to
          glibc's vector maths (libmvec) for several points at once, within 4 ulp
          (glibc's bound). Scalar calls, large programs and machines without libmvec
          (not x86-64 glibc) run as by default.
        - ``"libm"``: the C library's scalar functions throughout, as the generated C
          and the Numba kernels call them, so results match theirs bit for bit; slower
          where a loop would have vectorised.

        benchmarks/accuracy.py measures each function's error in every mode."""
        from .calling import ArgumentError
        if math not in MATHS:
            raise ArgumentError(f"math must be one of {', '.join(map(repr, MATHS))}, not "
                                f"{math!r}")
        fn = Function(self.unit, self.index)
        fn.wrt = self.wrt
        fn._cpu.math = math
        return fn

    def scipy(self, *args, wrt: str | list | tuple | None = None, reduce: str | None = None,
              **kwargs) -> Objective:
        """This function as an objective for ``scipy.optimize.minimize``, over the
        parameters ``wrt`` (default: this function's ``wrt``, else all), starting from
        their values among the arguments; the other arguments are data (a batch of them
        with ``reduce="sum"``/``"mean"``). See :class:`chaincc.scipy.Objective`."""
        from .scipy import objective
        return objective(self, *args, wrt=wrt, reduce=reduce, **kwargs)

    # -- the CPU kernels behind the calls (for tests and tools) -------------------------
    def _native(self, kind: str) -> bool:
        return self._cpu.native(kind)

    def _fname(self, kind: str) -> str:
        return self._cpu.fname(kind)

    def _scalar_kernel(self, kind: str):
        return self._cpu.scalar_kernel(kind)

    @property
    def _loops(self) -> dict:
        return self._cpu.loops

    # -- C (chaincc/backends/c.py, chaincc/cbuild.py) ----------------------------------
    def c_source(self, prefix: str | None = None) -> tuple[str, str]:
        """``(header, source)``: this function as C99 needing only <math.h> and
        <stddef.h> (and <stdlib.h> for the scratch memory of loops that keep a tape);
        the source includes the header as ``PREFIX.h`` (default: the
        function's C name). With ``math="fast"`` (:meth:`with_math`) its batch loops may
        call glibc's vector maths where GCC vectorises them."""
        from .backends.c import c_sources, function_names, kind_of
        fwd, fused = self.compiled.forward, self.compiled.fused
        if prefix is None:
            prefix = function_names([(fwd.name, kind_of(fwd))])[0][0]
        return c_sources(__version__, self.unit.source.name, [(fwd, fused)], prefix,
                         "fast" if self.math == "fast" else "default")

    def compile_c(self) -> CFunction:
        """Build :meth:`c_source` with the system C compiler (cached) and load it: a
        callable with this function's interface, running the C code through ctypes."""
        from .cbuild import compile_c
        return compile_c(self)

    # -- formulas out (chaincc/sympy_output.py) ------------------------------------------
    def sympy(self, cse: bool = False, wrt: str | list | tuple | None = None) -> tuple:
        """The value and derivatives as plain SymPy: ``(value, (d1, d2, ...))``, one
        derivative per parameter (of ``wrt``), in the symbols of
        ``chaincc.sympy_output.parameter_symbols(fn)`` (a real ``Symbol`` per scalar, a
        real ``IndexedBase`` per array: elements ``W[i, j]``); arrays are SymPy matrices.
        With ``cse=True``: ``(assignments, (value, (d1, ...)))``, the fused program as
        ``(symbol, expression)`` pairs and the outputs in terms of them."""
        from .sympy_output import formulas
        return formulas(self, cse=cse, wrt=wrt)

    # -- the chain rule shown (chaincc/explain.py, chaincc/graph.py) ---------------------
    def explain(self, at: dict | None = None, format: str = "unicode",
                full: bool = False, output: int | tuple[int, ...] | None = None) -> str:
        """The chain rule worked out: intermediates, local partials, adjoints; with
        ``at={"x": 1, "y": 2}`` every line's value there, ending with the gradient.
        ``format`` is ``unicode``, ``ascii``, ``latex`` or ``markdown``. A vector-valued
        function is explained output by output (the first few, every one with ``full``,
        or only ``output``: a flat index or one index per axis)."""
        from .explain import explain
        return explain(self.forward_program, at, format, full, self._source_names(),
                       output)

    def graph(self, at: dict | None = None) -> str:
        """The computational graph as Graphviz DOT text (forward and adjoint edges)."""
        from .graph import to_dot
        return to_dot(self.forward_program, at, self._source_names())

    def _repr_latex_(self) -> str:
        from .explain import latex_summary
        return latex_summary(self.forward_program, self._source_names())

    def _source_names(self) -> frozenset[str]:
        """The names the source defines, which names made up by explain must avoid."""
        from .parser import parse
        if not self.unit.source.text.strip():
            return frozenset()
        return frozenset(st.name for st in parse(self.unit.source).statements)
