"""The command line: ``chaincc eval|check|compile|explain|graph``. Argument handling and
printing only; the compiler lives behind the Python API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from . import __version__
from .diagnostics import ChainccError

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
    if isinstance(v, np.ndarray):
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
    return compile_unit(read_source(args.file))


def entry(args: argparse.Namespace):
    unit = load(args)
    try:
        return unit.function(getattr(args, "entry", None))
    except KeyError as e:
        raise ChainccError(e.args[0]) from None


def _file_and_entry(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="source file")
    p.add_argument("--entry", help="function to use (default: the last one in the file)")


def _eval_args(p: argparse.ArgumentParser) -> None:
    _file_and_entry(p)
    p.add_argument("point", nargs="*", help="parameter values: x=1 y=2")


@command("eval", "evaluate the value and gradient at a point", _eval_args)
def run_eval(args: argparse.Namespace) -> int:
    fn = entry(args)
    point = parse_assignments(args.point, fn.params)
    missing = [p for p in fn.params if p not in point]
    if missing:
        raise ChainccError(f"no value given for {', '.join(missing)} "
                           f"(write {' '.join(p + '=...' for p in missing)})")
    value, grad = fn.value_and_grad(**point)
    at = ", ".join(f"{p}={fmt(point[p])}" for p in fn.params)
    print(f"{fn.name}({at}) = {fmt(value)}")
    for p, g in zip(fn.params, grad):
        print(f"∂{fn.name}/∂{p} = {fmt(g)}")
    return 0


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
    from .explain import FORMATS
    _file_and_entry(p)
    p.add_argument("--at", metavar="x=1,y=2", help="show every value at this point")
    p.add_argument("--format", choices=FORMATS, default="unicode",
                   help="unicode (default), ascii, latex (an align* block) or markdown")
    p.add_argument("--full", action="store_true",
                   help="show every line of a large program instead of a summary")


@command("explain", "show the chain rule at work: intermediates, local partial "
         "derivatives, adjoints", _explain_args)
def run_explain(args: argparse.Namespace) -> int:
    fn = entry(args)
    print(fn.explain(at=_at(args, fn), format=args.format, full=args.full), end="")
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
    p.add_argument("file", help="source file")
    p.add_argument("-o", "--output-dir", default=".", metavar="DIR",
                   help="where to write (default: the current directory)")
    p.add_argument("--emit", type=_emit_kinds, default=("c",), metavar="KINDS",
                   help="comma-separated: c (NAME.h, NAME.c), numba (NAME.py), ir (NAME.ir), "
                   "cuda (NAME.cu); default c")
    p.add_argument("--prefix", metavar="NAME", help="file names (default: the file's stem)")


@command("compile", "write standalone C (and a Numba module, the IR) for every function "
         "in a file", _compile_args)
def run_compile(args: argparse.Namespace) -> int:
    from .emit import generate, read_source, table, write_all
    source = read_source(args.file)
    prefix = args.prefix if args.prefix is not None else Path(args.file).stem
    files, rows = generate(source, prefix, args.emit)
    written = write_all(Path(args.output_dir), files)
    print(table(rows, list(files)))
    print(f"wrote {', '.join(str(p) for p in written)}")
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
        return COMMANDS[args.command][1](args)
    except ChainccError as e:
        print(str(e), file=sys.stderr)
        return 1
    except (TypeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
