"""Differential run: generated programs through every chaincc path against the reference
interpreter (tests/progs.py generates, tests/diffcheck.py compares).

    python benchmarks/differential.py --n 20000 --workers 2 --out diff-run

Program ``i`` is ``progs.generate(seed0 + i)``: several main functions with helpers and
bindings, each checked at a few points. Every program goes through the cheap paths (the
float64 evaluator, the structured derivation); one program in ``--llvm-every`` (default
every one) also through the LLVM backend, one in
``--numba-every`` (default every one) through the Numba scalar kernel, whose
compilation is most of the time; one in ``--slow-every`` through the Numba batch and
reduce kernels, C and the ``explain`` text; ``--cuda N`` checks N programs on the CUDA
simulator in a child process at the end. Results go to ``OUT/results.jsonl`` one line per
program, so a run that is stopped and started again with the same ``--out`` skips what is
done. At the end (and with ``--report`` alone) it prints the checks per backend and a
table of disagreements by backend and kind, and writes a minimised reproducer for the
first few of each kind to ``OUT/repro/``.

    python benchmarks/differential.py --loops --n 500 --out diff-loops

``--loops`` draws sources that iterate instead (``randsource.loop_source``: sums and
products over an index, nested and dependent ranges, recurrences with one or two scalar
or vector states, arrays defined element by element, fixed points; trip counts on both
sides of the unrolling threshold), checked by tests/loopcheck.py on the LLVM kernels
(scalar, a batch of 19 points against the scalar calls, ``reduce="sum"``), on the same
with every loop compiled as a loop, and one in ``--numba-every`` on Numba's kernels.
A program that takes longer than ``--program-seconds`` (compiling or running) is stopped
and reported as a ``timeout``. Reproducers of loop sources are written as found (they are
not minimised).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import diffcheck  # noqa: E402
import loopcheck  # noqa: E402
import progs  # noqa: E402
import randsource  # noqa: E402

CHEAP = ("eval", "derive")
SLOW = ("batch", "sum", "c", "explain")


def paths_for(seed: int, numba_every: int, slow_every: int,
              llvm_every: int = 1) -> tuple[str, ...]:
    """The paths program ``seed`` goes through: the cheap ones always, the LLVM backend
    one in ``llvm_every``, the Numba scalar kernel (its compilation is most of a
    program's time) one in ``numba_every``, the slow ones one in ``slow_every``."""
    return (("numba",) if seed % numba_every == 0 else ()) + CHEAP + \
        (("llvm",) if seed % llvm_every == 0 else ()) + \
        (SLOW if seed % slow_every == 0 else ())


def _oracle(name: str):
    if name == "reference":
        return None
    if name == "eval":          # only for trying the runner out without the reference
        import chaincc

        def by_eval(source, fname, point, out_shape, shapes):
            return diffcheck.run_eval(chaincc.compile_unit(source).function(fname), point)
        return by_eval
    raise SystemExit(f"unknown oracle {name}")


def _work(job: tuple) -> dict:
    seed, backends, functions, npoints, oracle = job
    t = time.perf_counter()
    tally = diffcheck.Tally({})
    prog = progs.generate(seed, functions=functions)
    try:
        found = diffcheck.check_program(prog, backends, npoints, tally,
                                        oracle=_oracle(oracle))
    except Exception as ex:  # noqa: BLE001 - a crash of the harness is recorded too
        found = [diffcheck.Disagreement("harness", "exception", "*", seed, "",
                                        f"{type(ex).__name__}: {ex}", prog.source())]
    return {"seed": seed, "functions": len(prog.functions()), "checks": tally.checks,
            "seconds": round(time.perf_counter() - t, 3),
            "found": [asdict(d) for d in found]}


def loop_paths_for(seed: int, numba_every: int) -> tuple[str, ...]:
    """The paths loop source ``seed`` goes through (tests/loopcheck.py): the LLVM ones
    always, Numba's one in ``numba_every``."""
    return ("llvm", "batch", "sum", "loops") + (("numba",) if seed % numba_every == 0 else ())


class ProgramTimeout(BaseException):
    """A program ran past its time (a BaseException: no path's handler takes it)."""


def _stop_after(seconds: int) -> None:
    def stop(*_) -> None:
        raise ProgramTimeout(f"more than {seconds} s")
    signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)


def _work_loops(job: tuple) -> dict:
    seed, backends, npoints, seconds = job
    t = time.perf_counter()
    tally = diffcheck.Tally({})
    src = randsource.loop_source(seed)
    if seconds:
        _stop_after(seconds)
    try:
        found = loopcheck.check(src, backends, npoints, tally=tally)
    except ProgramTimeout as ex:     # compiling or running took too long: a finding too
        found = [diffcheck.Disagreement("time", "timeout", src.entry, seed, "",
                                        f"{ex} for the paths {', '.join(backends)}",
                                        src.text)]
    except Exception as ex:  # noqa: BLE001 - a crash of the harness is recorded too
        found = [diffcheck.Disagreement("harness", "exception", "*", seed, "",
                                        f"{type(ex).__name__}: {ex}", src.text)]
    finally:
        signal.alarm(0)
    return {"seed": seed, "functions": 1, "checks": tally.checks,
            "seconds": round(time.perf_counter() - t, 3),
            "found": [asdict(d) for d in found]}


def _done(results: Path) -> dict[int, dict]:
    out = {}
    if results.exists():
        for line in results.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                out[r["seed"]] = r
    return out


def run_cuda(seeds: list[int], out: Path) -> dict:
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "diffcheck.py"), "--cuda",
                        *map(str, seeds)], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        return {"checks": {}, "found": [{"backend": "cuda", "kind": "exception",
                                         "function": "*", "seed": -1, "point": "",
                                         "detail": r.stderr[-2000:], "source": ""}]}
    data = json.loads(r.stdout.strip().splitlines()[-1])
    (out / "cuda.json").write_text(json.dumps(data))
    return data


def kind_of(d: dict) -> str:
    """The kind, with NaN mismatches split by side: ``nan-extra`` (the path gives NaN
    where the reference has a number) and ``nan-missing`` (the other way round)."""
    if d["kind"] == "nan-mismatch":
        return "nan-extra" if " got nan," in d["detail"] else "nan-missing"
    return d["kind"]


def report(records: list[dict], out: Path, minimise: int, oracle: str,
           functions: int, seconds: float, loops: bool = False) -> int:
    checks: Counter = Counter()
    kinds: Counter = Counter()
    firsts: dict[tuple[str, str], list[dict]] = {}
    programs = sum(1 for r in records if r["seed"] >= 0)
    for r in records:
        checks.update(r["checks"])
        for d in r["found"]:
            key = (d["backend"], kind_of(d))
            kinds[key] += 1
            firsts.setdefault(key, []).append(d)
    print(f"programs: {programs}   functions: {sum(r.get('functions', 0) for r in records)}")
    excused = {k.split(":", 1)[1]: checks.pop(k) for k in list(checks)
               if k.startswith("excused:")}
    print("checks (function x point) per backend:")
    for b, n in sorted(checks.items()):
        print(f"  {b:10s} {n:8d}")
    print("checks excused as docs/language.md states (near-tie: rounding decides a "
          "comparison, max/min, floor/ceil or a domain's edge; ill-conditioned: the "
          "reference moves with its inputs' last bits; overflow: a derivative through a "
          "value beyond float64's range):")
    for k, n in sorted(excused.items()) or [("none", 0)]:
        print(f"  {k:10s} {n:8d}")
    print("disagreements by backend and kind (one per function and backend at most):")
    if not kinds:
        print("  none")
    for (b, k), n in sorted(kinds.items()):
        print(f"  {b:10s} {k:14s} {n:6d}")
    repro = out / "repro"
    repro.mkdir(parents=True, exist_ok=True)
    deadline = time.perf_counter() + seconds
    for (b, k), ds in sorted(firsts.items()):
        # programs this generator still writes first: only those can be shrunk
        if not loops:
            ds = sorted(ds, key=lambda d: progs.generate(d["seed"], functions=functions)
                        .source() != d["source"] if d["seed"] >= 0 else True)
        for i, d in enumerate(ds[:minimise]):
            path = repro / f"{b}-{k}-{i}.txt"
            if path.exists():
                continue
            shrink = time.perf_counter() < deadline
            path.write_text(_reproducer(d, oracle, functions, shrink and not loops))
    return 1 if kinds else 0


def _reproducer(d: dict, oracle: str, functions: int, shrink: bool) -> str:
    """The disagreement with its program shrunk while the same kind persists, searched
    on the float64 evaluator when it shows the same kind (cheap), else on the path."""
    kind = kind_of(d)
    head = (f"# backend {d['backend']}, kind {kind}, function {d['function']}, "
            f"seed {d['seed']}\n# at {d['point']}\n# {d['detail']}\n")
    if not shrink or d["seed"] < 0 or d["function"] == "*" or \
            d["backend"] in ("cuda", "harness", "compile", "generator"):
        return head + d["source"]
    prog = progs.generate(d["seed"], functions=functions)
    if prog.source() != d["source"]:       # written by another version of the generator
        return head + "# (not minimised: the generator has changed since)\n" + d["source"]

    def shows(p: progs.Program, backend: str) -> bool:
        found = diffcheck.check_program(p, (backend,), only=d["function"],
                                        oracle=_oracle(oracle))
        return any(x.backend == backend and kind_of(asdict(x)) == kind for x in found)

    path = "numba" if d["backend"] == "reference" else d["backend"]
    search = "eval" if path != "eval" and shows(prog, "eval") else path
    try:
        small = progs.minimise(prog, d["function"], lambda p, _: shows(p, search),
                               budget=60)
    except Exception as ex:  # noqa: BLE001
        return head + f"# (not minimised: {ex})\n" + d["source"]
    again = diffcheck.check_program(small, (path,), only=d["function"],
                                    oracle=_oracle(oracle))
    detail = "\n".join(f"# minimised, on {x.backend}: {kind_of(asdict(x))} at {x.point}: "
                       f"{x.detail}" for x in again)
    return head + detail + "\n" + small.source()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200, help="programs to check")
    ap.add_argument("--seed", type=int, default=0, help="first program's seed")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--functions", type=int, default=4, help="main functions per program")
    ap.add_argument("--points", type=int, default=3, help="points per function")
    ap.add_argument("--slow-every", type=int, default=10,
                    help="one program in this many also runs batch, sum, C and explain")
    ap.add_argument("--llvm-every", type=int, default=1,
                    help="one program in this many also runs the LLVM backend")
    ap.add_argument("--numba-every", type=int, default=1,
                    help="one program in this many also runs the Numba scalar kernel")
    ap.add_argument("--cuda", type=int, default=0, help="programs to check on the CUDA "
                    "simulator (in a child process)")
    ap.add_argument("--minimise", type=int, default=2,
                    help="reproducers minimised per backend and kind")
    ap.add_argument("--minimise-seconds", type=float, default=600,
                    help="time for shrinking reproducers; the rest are written as found")
    ap.add_argument("--oracle", default="reference", choices=("reference", "eval"))
    ap.add_argument("--loops", action="store_true",
                    help="draw sources that iterate (randsource.loop_source) instead")
    ap.add_argument("--program-seconds", type=int, default=300,
                    help="with --loops: a program taking longer is stopped and reported "
                    "as a timeout (0: no limit)")
    ap.add_argument("--out", type=Path, default=None,
                    help="results folder (default differential-run, or "
                    "differential-loops-run with --loops)")
    ap.add_argument("--report", action="store_true", help="only report what is done")
    ap.add_argument("--time", type=float, default=0, help="stop after this many seconds")
    args = ap.parse_args(argv)
    if args.loops and (args.cuda or args.oracle != "reference"):
        ap.error("--loops checks against the reference on the CPU paths only")
    if args.out is None:
        args.out = Path("differential-loops-run" if args.loops else "differential-run")
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    os.environ.setdefault("CHAINCC_CACHE_DIR", str(args.out / "cache"))
    done = _done(results)
    # a stopped run (SIGTERM) ends the workers too; run again with --out to resume
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not args.report:
        seeds = [s for s in range(args.seed, args.seed + args.n) if s not in done]
        if args.loops:
            work = _work_loops
            jobs = [(s, loop_paths_for(s, args.numba_every), args.points,
                     args.program_seconds) for s in seeds]
        else:
            work = _work
            jobs = [(s, paths_for(s, args.numba_every, args.slow_every, args.llvm_every),
                     args.functions, args.points, args.oracle) for s in seeds]
        start = time.perf_counter()
        with mp.get_context("spawn").Pool(args.workers, maxtasksperchild=50) as pool, \
                results.open("a") as fh:
            for i, r in enumerate(pool.imap_unordered(work, jobs)):
                fh.write(json.dumps(r) + "\n")
                fh.flush()
                done[r["seed"]] = r
                if (i + 1) % 20 == 0:
                    el = time.perf_counter() - start
                    bad = sum(len(x["found"]) for x in done.values())
                    print(f"{i + 1}/{len(jobs)} programs in {el:.0f} s, "
                          f"{bad} disagreements so far", flush=True)
                if args.time and time.perf_counter() - start > args.time:
                    pool.terminate()
                    break
        if args.cuda:
            cuda_seeds = list(range(args.seed, args.seed + args.cuda))
            data = run_cuda(cuda_seeds, args.out)
            done[-1] = {"seed": -1, "functions": 0, "checks": data["checks"],
                        "found": data["found"]}
    elif (args.out / "cuda.json").exists():
        data = json.loads((args.out / "cuda.json").read_text())
        done[-1] = {"seed": -1, "functions": 0, "checks": data["checks"],
                    "found": data["found"]}
    return report(list(done.values()), args.out, args.minimise, args.oracle,
                  args.functions, args.minimise_seconds, args.loops)


if __name__ == "__main__":
    sys.exit(main())
