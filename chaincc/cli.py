"""The command line: ``chaincc eval|check|compile|explain|graph|cache``. Argument handling and
printing only; the compiler lives behind the Python API."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__, progress
from .diagnostics import ChainccError, SourceWarning, WarningsAsErrors
from .lazy_numpy import np

Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Configure, Run, str]] = {}


def command(name: str, help: str, configure: Configure) -> Callable[[Run], Run]:
    """Register a subcommand: ``configure(parser)`` adds its arguments, the function runs."""
    def register(run: Run) -> Run:
        COMMANDS[name] = (configure, run, help)
        return run
    return register


def fmt(v) -> str:
    """A number as its shortest exact text (``24``, ``0.1``); an array as nested lists."""
    if not isinstance(v, (float, int)) and isinstance(v, np.ndarray):
        return "[" + ", ".join(fmt(x) for x in v) + "]" if v.ndim else fmt(float(v))
    text = repr(float(v))
    return text[:-2] if text.endswith(".0") else text


def _split_top(item: str) -> list[str]:
    """``x=1,W=[[1,2],[3,4]]`` at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(item):
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(item[start:i])
            start = i + 1
    parts.append(item[start:])
    return [p for p in parts if p.strip()]


# Deepest array value accepted on the command line (NumPy's own limit on dimensions).
MAX_VALUE_DEPTH = 32


def _depth(text: str) -> int:
    deepest = depth = 0
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        deepest = max(deepest, depth)
    return deepest


def _value(text: str, name: str):
    text = text.strip()
    if _depth(text) > MAX_VALUE_DEPTH:
        raise ChainccError(f"the value for {name} is nested more than {MAX_VALUE_DEPTH} "
                           "levels deep")
    try:
        if text.startswith("["):
            # a JSON array of numbers: read as data, never evaluated
            a = np.asarray(json.loads(text), dtype=np.float64)
            if a.ndim == 0 or a.dtype == object:
                raise ValueError
            return a
        return float(text)
    except (ValueError, TypeError, RecursionError):
        raise ChainccError(f"'{text}' is not a number or an array of numbers "
                           f"(for {name})") from None


def parse_assignments(items: Sequence[str], allowed: Sequence[str]) -> dict:
    """``x=1 y=2``, ``x=1,y=2`` or ``W=[[1,2],[3,4]]`` into values; names must be
    parameters."""
    out: dict = {}
    for item in items:
        for part in _split_top(item):
            name, eq, value = part.partition("=")
            name = name.strip()
            if not eq:
                raise ChainccError(f"expected NAME=VALUE, got '{part}'")
            if name not in allowed:
                raise ChainccError(f"'{name}' is not a parameter; the parameters are "
                                   f"{', '.join(allowed)}")
            out[name] = _value(value, name)
    return out


def load(args: argparse.Namespace):
    from .api import compile_unit
    from .source import read_source
    source = read_source(args.file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SourceWarning)     # printed by report_warnings
        unit = compile_unit(source)
    report_warnings(unit.warnings, args)
    return unit


def report_warnings(found: Sequence[SourceWarning], args: argparse.Namespace) -> None:
    """Print the source's warnings to stderr; with ``--Werror`` they are errors."""
    if found and getattr(args, "werror", False):
        raise WarningsAsErrors(list(found))
    for w in found:
        print(str(w), file=sys.stderr)


def _werror(p: argparse.ArgumentParser) -> None:
    p.add_argument("--Werror", dest="werror", action="store_true",
                   help="treat warnings (forms a reader might take another way) as errors")


def entry(args: argparse.Namespace):
    unit = load(args)
    try:
        return unit.function(getattr(args, "entry", None))
    except KeyError as e:
        raise ChainccError(e.args[0]) from None


def _progress_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show the progress of a long compile on stderr (default: when "
                   "stderr is a terminal)")


def _file_and_entry(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="source file (a .tex file is read as LaTeX)")
    p.add_argument("--entry", help="function to use (default: the last one in the file)")
    _werror(p)
    _progress_flag(p)


def _eval_args(p: argparse.ArgumentParser) -> None:
    _file_and_entry(p)
    p.add_argument("point", nargs="*", help="parameter values: x=1 y=2")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: the point, the value and the gradient "
                   "(the Jacobian of a vector-valued function)")
    p.add_argument("--symbolic", action="store_true",
                   help="print the value and gradient (Jacobian) as formulas, in SymPy's "
                   "notation, instead of evaluating them at a point")
    p.add_argument("--cse", action="store_true",
                   help="with --symbolic: print the fused program as assignments, each "
                   "shared subexpression once, and the formulas in terms of them")


@command("eval", "evaluate the value and gradient (the Jacobian of a vector-valued "
         "function) at a point", _eval_args)
def run_eval(args: argparse.Namespace) -> int:
    if getattr(args, "cse", False) and not getattr(args, "symbolic", False):
        print("chaincc eval: error: --cse goes with --symbolic", file=sys.stderr)
        return 2
    fn = entry(args)
    if getattr(args, "symbolic", False):
        return _run_symbolic(fn, args)
    point = parse_assignments(args.point, fn.params)
    missing = [p for p in fn.params if p not in point]
    if missing:
        raise ChainccError(f"no value given for {', '.join(missing)} "
                           f"(write {' '.join(p + '=...' for p in missing)})")
    if fn.out_shape:
        value, derivs = np.asarray(fn(**point), dtype=float), fn.jacobian(**point)
    else:
        value, derivs = fn.value_and_grad(**point)
    if getattr(args, "json", False):
        print(eval_json(fn, point, value, derivs))
        return 0
    at = ", ".join(f"{p}={fmt(point[p])}" for p in fn.params)
    print(f"{fn.name}({at}) = {fmt(value)}")
    if not fn.out_shape:
        for p, g in zip(fn.params, derivs):
            print(f"∂{fn.name}/∂{p} = {fmt(g)}")
        return 0
    # one line per output element and parameter: line ∂g[i]/∂p is row i of the Jacobian
    ij = ",".join("ijklmn"[k] if k < 6 else f"i{k + 1}" for k in range(len(fn.out_shape)))
    print(f"Jacobian, row by row: ∂{fn.name}[{ij}]/∂p for each output {fn.name}[{ij}] "
          f"({_shape_text(fn.out_shape)}) and each parameter p")
    for idx in np.ndindex(*fn.out_shape):
        out = f"{fn.name}[{','.join(map(str, idx))}]"
        for p, g in zip(fn.params, derivs):
            print(f"∂{out}/∂{p} = {fmt(np.asarray(g)[idx])}")
    return 0


def _run_symbolic(fn, args: argparse.Namespace) -> int:
    """``eval --symbolic [--cse]``: the formulas (chaincc/sympy_output.py), no point."""
    from .sympy_output import formulas_text
    if args.point:
        raise ChainccError(f"--symbolic prints formulas and takes no point (got "
                           f"{' '.join(args.point)})")
    if getattr(args, "json", False):
        raise ChainccError("--symbolic prints formulas as text; it does not go with --json")
    print(formulas_text(fn, cse=args.cse), end="")
    return 0


def _shape_text(shape: Sequence[int]) -> str:
    """``2 outputs`` for a vector, ``2×3`` for a matrix."""
    if len(shape) == 1:
        return f"{shape[0]} output{'s' if shape[0] != 1 else ''}"
    return "×".join(map(str, shape))


def _json_number(v: float) -> float | str:
    """A float for JSON, which has no NaN or infinities: those as "nan", "inf", "-inf"."""
    v = float(v)
    return v if np.isfinite(v) else fmt(v)


def _json_value(v) -> object:
    a = np.asarray(v, dtype=float)
    if a.ndim == 0:
        return _json_number(a)
    return [_json_value(x) for x in a]


def eval_json(fn, point: dict, value, derivs: Sequence) -> str:
    """``chaincc eval --json``: the function, its parameters, the point, the value (and
    its shape), and the gradient, or for a vector-valued function the Jacobian: one
    array per parameter shaped (value shape + parameter shape)."""
    key = "jacobian" if fn.out_shape else "gradient"
    doc = {
        "function": fn.name,
        "params": list(fn.params),
        "point": {p: _json_value(point[p]) for p in fn.params},
        "shape": list(fn.out_shape),
        "value": _json_value(value),
        key: {p: _json_value(g) for p, g in zip(fn.params, derivs)},
    }
    return json.dumps(doc, ensure_ascii=False, allow_nan=False)


def _count(text: str) -> int:
    """A positive whole number (argparse type)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got '{text}'")
    return n


def _check_args(p: argparse.ArgumentParser) -> None:
    _file_and_entry(p)
    p.add_argument("--points", type=_count, default=20, help="random points (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tol", type=float, default=1e-5, help="largest relative error allowed")


@command("check", "compare the value and gradient with the reference interpreter and "
         "central finite differences", _check_args)
def run_check(args: argparse.Namespace) -> int:
    from .check import finite_difference_check, render
    fn = entry(args)
    report = finite_difference_check(fn, points=args.points, seed=args.seed)
    text, ok = render(fn, report, args.tol)
    print(text)
    return 0 if ok else 1


def _at(args: argparse.Namespace, fn) -> dict[str, float] | None:
    """``--at x=1,y=2`` as a point (every parameter needed), or None without it."""
    if args.at is None:
        return None
    point = parse_assignments([args.at], fn.params)
    missing = [p for p in fn.params if p not in point]
    if missing:
        raise ChainccError(f"--at gives no value for {', '.join(missing)} "
                           f"(write --at {','.join(p + '=...' for p in fn.params)})")
    return point


def _explain_args(p: argparse.ArgumentParser) -> None:
    from .formats import FORMATS
    _file_and_entry(p)
    p.add_argument("--at", metavar="x=1,y=2", help="show every value at this point")
    p.add_argument("--format", choices=FORMATS, default="unicode",
                   help="unicode (default), ascii, latex (align* blocks) or markdown")
    p.add_argument("--full", action="store_true",
                   help="show every line of a large program instead of a summary (and "
                   "every output of a vector-valued function)")
    p.add_argument("--output", type=_output, metavar="I",
                   help="for a vector-valued function, show output I only: a flat index "
                   "(row-major) or one index per axis, as 1,2")


def _output(text: str) -> int | tuple[int, ...]:
    """``3`` or ``1,2`` (argparse type): an output's flat index or its index per axis."""
    parts = [t.strip() for t in text.split(",")]
    if not all(t.isdigit() and len(t) <= 9 for t in parts):
        raise argparse.ArgumentTypeError(f"expected an output index such as 3 or 1,2, "
                                         f"got '{text}'")
    return int(parts[0]) if len(parts) == 1 else tuple(int(t) for t in parts)


@command("explain", "show the chain rule at work: intermediates, local partial "
         "derivatives, adjoints (for each output of a vector-valued function)",
         _explain_args)
def run_explain(args: argparse.Namespace) -> int:
    fn = entry(args)
    print(fn.explain(at=_at(args, fn), format=args.format, full=args.full,
                     output=args.output), end="")
    return 0


def _graph_args(p: argparse.ArgumentParser) -> None:
    _file_and_entry(p)
    p.add_argument("-o", "--output", metavar="FILE",
                   help="graph.svg, graph.png (with Graphviz's dot) or graph.dot; "
                   "without it the DOT text is printed")
    p.add_argument("--at", metavar="x=1,y=2", help="label nodes with values and adjoints")


@command("graph", "draw the computational graph: forward and adjoint edges", _graph_args)
def run_graph(args: argparse.Namespace) -> int:
    from .graph import write
    fn = entry(args)
    text = fn.graph(at=_at(args, fn))
    if args.output is None:
        print(text, end="")
    else:
        print(write(text, Path(args.output)))
    return 0


def _emit_kinds(text: str) -> tuple[str, ...]:
    from .emit import parse_emit
    try:
        return parse_emit(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _compile_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="source file (a .tex file is read as LaTeX)")
    p.add_argument("-o", "--output-dir", default=".", metavar="DIR",
                   help="where to write (default: the current directory)")
    p.add_argument("--emit", type=_emit_kinds, default=("c",), metavar="KINDS",
                   help="comma-separated: c (NAME.h, NAME.c), numba (NAME.py), ir (NAME.ir), "
                   "cuda (NAME.cu); default c")
    _progress_flag(p)
    p.add_argument("--prefix", metavar="NAME", help="file names (default: the file's stem)")
    p.add_argument("--math", choices=("default", "fast"), default="default",
                   help="fast: the C batch loops call glibc's vector maths (libmvec, up to "
                   "4 ulp) where GCC vectorises them; default: libm (within 1 ulp)")
    _werror(p)


@command("compile", "write standalone C (and a Numba module, the IR) for every function "
         "in a file", _compile_args)
def run_compile(args: argparse.Namespace) -> int:
    from .emit import generate, read_source, table, write_all
    source = read_source(args.file)
    prefix = args.prefix if args.prefix is not None else Path(args.file).stem
    found: list[SourceWarning] = []
    files, rows = generate(source, prefix, args.emit, found, args.math)
    report_warnings(found, args)
    written = write_all(Path(args.output_dir), files)
    print(table(rows, list(files)))
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def _cache_args(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    info = actions.add_parser("info", help="where the cache is, its entries by kind, "
                              "their size and the size limit")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    actions.add_parser("clear", help="remove chaincc's entries (nothing else in the "
                       "directory)")
    lim = actions.add_parser("limit", help="show or set the size limit: 500MB, 2GiB, "
                             "1000000 (bytes), none, or default")
    lim.add_argument("size", nargs="?", help="the new limit (without it: show the limit)")


def _kinds_text(counts: dict[str, int]) -> str:
    from .cache_usage import KIND_NAMES
    return ", ".join(f"{n} {KIND_NAMES[k]}" for k, n in counts.items())


def _limit_text(value: int | None, source: str) -> str:
    from .cache_usage import format_size
    return f"{'none' if value is None else format_size(value)} ({source})"


def _removed_text(removed) -> str:
    from .cache_usage import format_size
    n = sum(removed.counts.values())
    text = f"removed {n} entr{'y' if n == 1 else 'ies'}"
    if n:
        text += f", {format_size(removed.size)}: {_kinds_text(removed.counts)}"
    if removed.busy:
        text += f"; left {removed.busy} being written"
    return text


@command("cache", "the disk cache of compiled kernels: info, clear, limit", _cache_args)
def run_cache(args: argparse.Namespace) -> int:
    try:
        return _cache_action(args)
    except OSError as err:
        raise ChainccError(f"cannot use the cache directory: {err.strerror or err}"
                           f"{': ' + str(err.filename) if err.filename else ''}") from None


def _cache_action(args: argparse.Namespace) -> int:
    from . import cache_usage as cu
    if args.action == "info":
        u = cu.usage()
        if args.json:
            print(json.dumps({"path": str(u.root), "exists": u.exists, "entries": u.counts,
                              "bytes": u.size, "limit": u.limit,
                              "limit_source": u.limit_source}, ensure_ascii=False))
            return 0
        print(f"cache directory: {u.root}{'' if u.exists else ' (not made yet)'}")
        print(f"entries: {_kinds_text(u.counts)}")
        print(f"size: {cu.format_size(u.size)}")
        print(f"limit: {_limit_text(u.limit, u.limit_source)}")
        return 0
    if args.action == "clear":
        print(f"{cu.root()}: {_removed_text(cu.clear())}")
        return 0
    if args.size is not None:
        word = args.size.strip().lower()
        value = None if word == "default" else cu.parse_size(args.size)
        cu.set_limit(value, default=word == "default")
    value, source = cu.limit()
    print(f"limit: {_limit_text(value, source)}")
    if args.size is not None and source.startswith("$"):
        print(f"note: ${cu.LIMIT_ENV} is set, and takes precedence over the stored limit",
              file=sys.stderr)
    if args.size is not None and value is not None and cu.root().is_dir():
        removed, _ = cu.evict(cu.root(), value)
        if sum(removed.counts.values()):
            print(_removed_text(removed))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chaincc", description="Compile textbook math into exact, fused "
        "value-and-gradient code.")
    parser.add_argument("--version", action="version", version=f"chaincc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (configure, _, help) in COMMANDS.items():
        configure(sub.add_parser(name, help=help, description=help))
    return parser


def _progress_setting(args: argparse.Namespace) -> bool:
    """Whether a compiling command shows its progress: ``--progress``/``--no-progress``,
    else whether stderr is a terminal."""
    if not hasattr(args, "progress"):
        return False
    if args.progress is not None:
        return args.progress
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI: 0 ok, 1 for a diagnostic (bad input), 2 for bad usage."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        # ``eval FILE --entry g x=1``: argparse closes the point list at the option, so
        # the NAME=VALUE words after it come back here; anything else is a usage error
        if extra and hasattr(args, "point") and all("=" in w for w in extra):
            args.point = list(args.point) + extra
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:
        return int(e.code or 0)
    try:
        with progress.reporting(_progress_setting(args)):
            return COMMANDS[args.command][1](args)
    except ChainccError as e:
        print(str(e), file=sys.stderr)
        return 1
    except (TypeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1

