"""Fuzz chaincc: every input must end in a result or a located ChainccError, in time.

    python benchmarks/fuzz.py --n 100000 --workers 2 --seed 1 --out fuzz-report.json

Inputs come from two generators, both seeded (input ``i`` of seed ``s`` is always the
same text):

* grammar-aware: sources drawn from the language's grammar (functions, bindings, helper
  calls, arrays and indexing, reductions, ``where`` with comparisons and and/or/not,
  superscripts, implicit products and ``xy`` splitting, comments and continuation lines,
  deep nesting, names that collide with built-ins, constants and generated names);
* byte-level: random bytes, and valid sources with bytes deleted, inserted, replaced,
  duplicated or cut (stray brackets, NUL, invalid UTF-8, U+2028, surrogates).

Each input runs in a worker subprocess under a memory limit (``resource.setrlimit``) and a
time limit per input; a worker that overruns is killed and restarted (a *hang*), one
that dies is restarted (a *crash*). Most inputs go through the front end and every text
writer (parse, lower, differentiate; C, CUDA C, the Numba module, whose text must
compile as Python, and the IR); one in ``--call-every`` is compiled with
``chaincc.compile`` and called once; one in ``--cli-every`` runs ``chaincc eval``,
``check`` and ``compile`` in subprocesses, which must exit 0 or 1 without a traceback.

The report gives the inputs run, the outcomes, every raw exception (grouped by type and
place, with the shortest reproducer), hangs and crashes with reproducers, and the 50th,
99th percentile and worst time per input. The exit status is 1 when anything was found.
This file needs only the standard library; chaincc is imported inside the workers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass

# ------------------------------------------------------------------ the grammar

UNARY = ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh",
         "acosh", "atanh", "exp", "expm1", "log", "ln", "log1p", "log2", "log10", "sqrt",
         "cbrt", "abs", "sign", "floor", "ceil", "erf", "erfc", "relu", "sigmoid",
         "softplus")
BINARY_CALLS = ("atan2", "pow", "hypot", "min", "max", "log")
REDUCTIONS = ("sum", "mean", "prod", "norm", "logsumexp", "max", "min", "softmax",
              "transpose")
OPERATORS = ("+", "-", "*", "/", "^", "**", "·", "×", "@", " ")
RELATIONS = ("<", "<=", ">", ">=", "==", "!=")
NUMBERS = ("0", "1", "2", "0.5", ".5", "1e-3", "2.5E+4", "3", "10", "1e308", "1e-320",
           "7", "0.1", "123456789", "2e", "1e400", "0.0", "00", "9" * 30)
CONSTANTS = ("pi", "π", "e", "inf")
SUPERSCRIPTS = ("²", "³", "⁻¹", "¹⁰", "⁰", "⁻²", "⁺¹")
# names a user may pick that mean something elsewhere: built-ins, constants, Python, C,
# CUDA and generated names
ODD_NAMES = ("x", "y", "z", "xy", "β", "σ", "μ", "h_t", "x1", "e", "pi", "inf", "sin",
             "sum", "where", "and1", "math", "np", "njit", "OPTS", "double", "int",
             "restrict", "main", "errno", "NULL", "threadIdx", "f_batch", "f_points",
             "value", "grad", "n", "lambda", "None", "True", "ǅ", "ⅸ", "𝑥", "Ω", "名前",
             "abc" * 20, "q" * 256)


@dataclass
class Ctx:
    rng: random.Random
    scalars: list[str]
    arrays: list[tuple[str, tuple[int, ...]]]
    helpers: list[tuple[str, int]]
    bindings: list[str]


def _name(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.6:
        return rng.choice("xyzabuvwpqt")
    if r < 0.9:
        return rng.choice(ODD_NAMES)
    alphabet = "abcxyzβσ_019"
    return rng.choice("abcxyzβσ") + "".join(rng.choice(alphabet)
                                            for _ in range(rng.randint(0, 12)))


def _atom(c: Ctx) -> str:
    rng = c.rng
    r = rng.random()
    if r < 0.45 and c.scalars:
        return rng.choice(c.scalars)
    if r < 0.55 and c.arrays:
        name, shape = rng.choice(c.arrays)
        if rng.random() < 0.5:
            return name
        idx = ", ".join(str(rng.randrange(-1, s + 1)) for s in shape)
        return f"{name}[{idx}]"
    if r < 0.65 and c.bindings:
        return rng.choice(c.bindings)
    if r < 0.8:
        return rng.choice(NUMBERS)
    if r < 0.88:
        return rng.choice(CONSTANTS)
    if r < 0.94 and len(c.scalars) >= 2:
        return "".join(rng.sample(c.scalars, 2))       # xy: an implicit product by name
    return _name(rng) if rng.random() < 0.3 else rng.choice(c.scalars or ["pi"])


def expression(c: Ctx, depth: int) -> str:
    """A random expression, mostly well formed, sometimes not."""
    rng = c.rng
    if depth <= 0 or rng.random() < 0.25:
        atom = _atom(c)
        if rng.random() < 0.08:
            atom += rng.choice(SUPERSCRIPTS)
        if rng.random() < 0.04:
            atom += "'"
        return atom
    sub = depth - 1
    r = rng.random()
    if r < 0.3:
        op = rng.choice(OPERATORS)
        return f"{expression(c, sub)}{op}{expression(c, sub)}"
    if r < 0.45:
        return f"{rng.choice(UNARY)}({expression(c, sub)})"
    if r < 0.52:
        name = rng.choice(BINARY_CALLS)
        args = [expression(c, sub) for _ in range(rng.choice((1, 2, 2, 2, 3)))]
        return f"{name}({', '.join(args)})"
    if r < 0.6:
        return f"({expression(c, sub)})"
    if r < 0.66:
        return f"{rng.choice(('-', '+', '- ', '--'))}{expression(c, sub)}"
    if r < 0.72:
        cond = f"{expression(c, sub)} {rng.choice(RELATIONS)} {expression(c, sub)}"
        if rng.random() < 0.4:
            cond = f"{cond} {rng.choice(('and', 'or'))} not {_atom(c)} < 1"
        return f"where({cond}, {expression(c, sub)}, {expression(c, sub)})"
    if r < 0.8:
        items = ", ".join(expression(c, sub) for _ in range(rng.choice((0, 1, 2, 2, 3, 3))))
        if rng.random() < 0.3:
            items = ", ".join(f"[{items}]" for _ in range(rng.randint(1, 3)))
        lit = f"[{items}]"
        return f"{rng.choice(REDUCTIONS)}({lit})" if rng.random() < 0.6 else lit
    if r < 0.86 and c.arrays:
        name, _ = rng.choice(c.arrays)
        other = rng.choice(c.arrays)[0]
        return rng.choice((f"{rng.choice(REDUCTIONS)}({name})", f"dot({name}, {other})",
                           f"{name} @ {other}", f"sum({name} * {expression(c, sub)})"))
    if r < 0.93 and c.helpers:
        name, arity = rng.choice(c.helpers)
        if rng.random() < 0.1:
            arity += rng.choice((-1, 1))
        return f"{name}({', '.join(expression(c, sub) for _ in range(max(arity, 0)))})"
    if r < 0.96:
        n = rng.choice((50, 200, 1000))
        atom = _atom(c)
        kind = rng.choice(("(", "-(", "sin(", "^", "(-", "2^"))
        close = {"(": ")", "-(": ")", "sin(": ")", "^": "", "(-": ")", "2^": ""}[kind]
        if kind == "^":
            return f"{atom}^" * n + atom
        return kind * n + atom + close * n
    return f"{expression(c, sub)}{rng.choice(('', ' ', '  # note', ' +'))}\n"


def grammar_source(rng: random.Random) -> str:
    """A random source: bindings and functions, the last one the entry point."""
    lines: list[str] = []
    c = Ctx(rng, [], [], [], [])
    count = rng.randint(1, 4)
    for k in range(count):
        if rng.random() < 0.25 and k < count - 1:
            name = _name(rng)
            lines.append(f"{name} = {expression(c, rng.randint(0, 3))}")
            c.bindings.append(name)
            continue
        params, scalars, arrays = [], [], []
        for _ in range(rng.randint(0, 4)):
            p = _name(rng)
            if p in scalars or any(p == a for a, _ in arrays):
                continue
            if rng.random() < 0.2:
                shape = tuple(rng.randint(1, 4) for _ in range(rng.choice((1, 1, 2))))
                params.append(f"{p}[{', '.join(map(str, shape))}]")
                arrays.append((p, shape))
            else:
                params.append(p)
                scalars.append(p)
        fname = rng.choice(("f", "g", "h", "loss", "f_batch", "σ", "main", "double",
                            _name(rng)))
        c.scalars, c.arrays = scalars, arrays
        body = expression(c, rng.randint(1, 5))
        lines.append(f"{fname}({', '.join(params)}) = {body}")
        c.helpers.append((fname, len(params)))
    sep = rng.choice(("\n", "\n", "; ", "\r\n", "\n# a comment\n"))
    return sep.join(lines) + rng.choice(("", "\n", "  # end"))


# ------------------------------------------------------------------ byte level

INTERESTING = [b"(", b")", b"[", b"]", b"^", b",", b"=", b"\n", b";", b"#", b"\x00", b"1.",
               "⁻".encode(), b"[" * 40,
               b"\xff", b"\xed\xa0\x80", b"\xe2\x80\xa8", "²".encode(), "⁻".encode(),
               b"\\", b"'", b'"', b"*/", b"_", b"e", b"1e999", b"\r", b"\t", b"@",
               "β".encode(), b"\xc3", b"where(", b"sum(", b"x"]


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        r = rng.random()
        pos = rng.randint(0, len(b))
        if r < 0.25 and b:
            del b[pos:pos + rng.randint(1, 4)]
        elif r < 0.55:
            b[pos:pos] = rng.choice(INTERESTING)
        elif r < 0.7 and b:
            b[min(pos, len(b) - 1)] = rng.randrange(256)
        elif r < 0.85 and b:
            end = min(len(b), pos + rng.randint(1, 20))
            b[pos:pos] = b[pos:end] * rng.randint(1, 50)
        else:
            del b[pos:]
    return bytes(b)


def byte_source(rng: random.Random) -> bytes:
    if rng.random() < 0.15:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
    return mutate(rng, grammar_source(rng).encode("utf-8"))


# ------------------------------------------------------------------ cases

@dataclass(frozen=True)
class Case:
    index: int
    mode: str            # "front", "call" or "cli"
    data: bytes          # the source file's bytes


def make_case(seed: int, index: int, call_every: int, cli_every: int) -> Case:
    rng = random.Random(f"{seed}:{index}")
    if rng.random() < 0.6:
        data = grammar_source(rng).encode("utf-8")
    else:
        data = byte_source(rng)
    mode = "front"
    if cli_every and index % cli_every == cli_every - 1:
        mode = "cli"
    elif call_every and index % call_every == call_every - 1:
        mode = "call"
    return Case(index, mode, data)


# ------------------------------------------------------------------ the worker

def _point(fn) -> list:
    import numpy as np
    return [np.full(s, 0.5) if s else 0.5 for s in fn.shapes]


def _front(path: str) -> None:
    """Parse, lower, differentiate; every writer's text (the Python text must compile)."""
    from chaincc import __version__
    from chaincc.backends.c import c_sources
    from chaincc.backends.cuda_c import cuda_source
    from chaincc.emit import ir_text, numba_module
    from chaincc.pipeline import pipeline
    from chaincc.source import read_source
    src = read_source(path)
    compiled = pipeline(src)
    pairs = [(c.forward, c.fused) for c in compiled]
    c_sources(__version__, src.name, pairs, "k")
    cuda_source(__version__, src.name, pairs)
    compile(numba_module(src.name, compiled), "<numba module>", "exec")
    ir_text(src.name, compiled)


def _call(path: str) -> None:
    from pathlib import Path

    import chaincc
    fn = chaincc.compile(Path(path))
    point = _point(fn)
    fn(*point)
    if fn.out_shape:
        fn.jacobian(*point)
    else:
        fn.value_and_grad(*point)


def _cli(path: str, timeout: float) -> None:
    from pathlib import Path

    import chaincc
    from chaincc.diagnostics import ChainccError
    try:
        fn = chaincc.compile_unit(Path(path)).function()
        point = []
        for p, s in zip(fn.params, fn.shapes):
            value = 0.5
            for n in reversed(s):
                value = [value] * n
            point.append(f"{p}={json.dumps(value)}")
    except ChainccError:
        point = ["x=0.5"]
    out = tempfile.mkdtemp(prefix="fuzz-out-")
    for args in (["eval", path, *point], ["check", path, "--points", "2"],
                 ["compile", path, "-o", out, "--emit", "c,numba,ir", "--prefix", "k"]):
        r = subprocess.run([sys.executable, "-m", "chaincc", *args], capture_output=True,
                           text=True, timeout=timeout, errors="replace")
        if r.returncode not in (0, 1) or "Traceback" in r.stderr:
            raise AssertionError(f"chaincc {args[0]} exited {r.returncode}: "
                                 f"{r.stderr[-2000:]}")


def run_case(mode: str, path: str, timeout: float) -> dict:
    """Run one input; the outcome is ok, error (located), unlocated or raw."""
    from chaincc.diagnostics import ChainccError
    start = time.perf_counter()
    result: dict = {"outcome": "ok"}
    try:
        if mode == "front":
            _front(path)
        elif mode == "call":
            _call(path)
        else:
            _cli(path, timeout)
    except ChainccError as e:
        result["outcome"] = "error" if e.span is not None else "unlocated"
        result["message"] = e.message[:300]
    except Exception as e:             # a finding: report it, keep fuzzing
        tb = traceback.extract_tb(e.__traceback__)
        inside = [f for f in tb if "chaincc" in f.filename] or tb
        where = f"{os.path.basename(inside[-1].filename)}:{inside[-1].lineno}" if inside \
            else "?"
        result.update(outcome="raw", kind=type(e).__name__, where=where,
                      message=str(e)[:300])
    result["seconds"] = time.perf_counter() - start
    return result


def worker() -> None:
    """Read ``{"mode", "path", "timeout"}`` lines on stdin, answer one JSON line each."""
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)                      # anything the library prints goes to stderr
    sys.setrecursionlimit(10_000)
    import chaincc  # noqa: F401        (import once, before the clock starts)
    for line in sys.stdin:
        job = json.loads(line)
        result = run_case(job["mode"], job["path"], job["timeout"])
        out.write(json.dumps(result) + "\n")
        out.flush()


# ------------------------------------------------------------------ the driver

def _limit_memory(limit: int):
    def apply() -> None:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


class Worker:
    def __init__(self, memory: int, env: dict) -> None:
        self.memory, self.env = memory, env
        self.proc: subprocess.Popen | None = None

    def start(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--worker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, env=self.env, preexec_fn=_limit_memory(self.memory))
        return self.proc

    def run(self, mode: str, path: str, timeout: float) -> dict:
        proc = self.start()
        assert proc.stdin is not None and proc.stdout is not None
        start = time.perf_counter()
        try:
            proc.stdin.write(json.dumps({"mode": mode, "path": path,
                                         "timeout": timeout}) + "\n")
            proc.stdin.flush()
        except BrokenPipeError:
            return self.crashed(start)
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready:
            self.stop()
            return {"outcome": "hang", "seconds": time.perf_counter() - start}
        line = proc.stdout.readline()
        if not line:
            return self.crashed(start)
        return json.loads(line)

    def crashed(self, start: float) -> dict:
        code = self.proc.wait() if self.proc else None
        self.proc = None
        return {"outcome": "crash", "kind": f"exit {code}",
                "seconds": time.perf_counter() - start}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def fuzz(n: int, seed: int, workers: int, timeout: float, memory: int,
         call_every: int, cli_every: int, progress: bool = False, start: int = 0) -> dict:
    """Run inputs ``start .. start+n-1`` of ``seed``; the report as a dict."""
    tmp = tempfile.mkdtemp(prefix="chaincc-fuzz-")
    env = dict(os.environ, CHAINCC_CACHE_DIR=os.path.join(tmp, "cache"))
    pool = [Worker(memory, env) for _ in range(workers)]
    cases: Iterator[Case] = (make_case(seed, i, call_every, cli_every)
                             for i in range(start, start + n))
    lock = threading.Lock()
    results: list[tuple[Case, dict]] = []
    began = time.perf_counter()

    def loop(w: Worker, k: int) -> None:
        path = os.path.join(tmp, f"input-{k}.txt")
        while True:
            with lock:
                case = next(cases, None)
            if case is None:
                w.stop()
                return
            with open(path, "wb") as f:
                f.write(case.data)
            limit = timeout * (4 if case.mode == "cli" else 1)
            r = w.run(case.mode, path, limit)
            with lock:
                results.append((case, r))
                if progress and len(results) % 500 == 0:
                    print(f"{len(results)} inputs, {time.perf_counter() - began:.0f} s",
                          file=sys.stderr, flush=True)

    threads = [threading.Thread(target=loop, args=(w, k)) for k, w in enumerate(pool)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return report(results, seed, time.perf_counter() - began)


def _repro(case: Case) -> str:
    return case.data.decode("utf-8", "backslashreplace")[:600]


def report(results: list[tuple[Case, dict]], seed: int, wall: float) -> dict:
    counts: dict[str, int] = {}
    findings: dict[str, dict] = {}
    times = [r["seconds"] for _, r in results if r["outcome"] not in ("hang", "crash")]
    for case, r in results:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        if r["outcome"] in ("ok", "error"):
            continue
        key = f"{r['outcome']} {r.get('kind', '')} {r.get('where', '')}".strip()
        f = findings.setdefault(key, {"count": 0, "seed": seed, "index": case.index,
                                      "mode": case.mode, "message": r.get("message", ""),
                                      "input": _repro(case)})
        f["count"] += 1
        if len(case.data) < len(f["input"].encode()):
            f.update(index=case.index, mode=case.mode, message=r.get("message", ""),
                     input=_repro(case))
    worst = max(results, key=lambda cr: cr[1]["seconds"], default=None)
    return {
        "inputs": len(results), "seed": seed, "wall_seconds": round(wall, 1),
        "outcomes": counts,
        "modes": {m: sum(1 for c, _ in results if c.mode == m)
                  for m in ("front", "call", "cli")},
        "p50_seconds": round(percentile(times, 0.50), 4),
        "p99_seconds": round(percentile(times, 0.99), 4),
        "worst_seconds": round(max(times, default=0.0), 3),
        "worst_input": {"index": worst[0].index, "mode": worst[0].mode,
                        "outcome": worst[1]["outcome"], "input": _repro(worst[0])[:300]}
        if worst else None,
        "findings": findings,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=1000, help="inputs to run (default 1000)")
    p.add_argument("--start", type=int, default=0, help="index of the first input")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per input")
    p.add_argument("--memory-gib", type=float, default=6.0, help="per worker")
    p.add_argument("--call-every", type=int, default=25,
                   help="compile and call one input in this many (0: never)")
    p.add_argument("--cli-every", type=int, default=500,
                   help="run the CLI on one input in this many (0: never)")
    p.add_argument("--out", help="write the JSON report here too")
    args = p.parse_args(argv)
    if args.worker:
        worker()
        return 0
    rep = fuzz(args.n, args.seed, args.workers, args.timeout,
               int(args.memory_gib * (1 << 30)), args.call_every, args.cli_every,
               progress=True, start=args.start)
    text = json.dumps(rep, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    bad = sum(v for k, v in rep["outcomes"].items() if k not in ("ok", "error"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
