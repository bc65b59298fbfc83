"""The cache corruption matrix: every kind of file the disk cache holds (metadata JSON,
kernel module, Numba's index and machine code, LLVM object file) damaged every way
(empty, truncated, random bytes, one bit flipped, a forged file that would run code or
mislead if it were trusted), then read by a new process.

Each cell has its own source, so the cells are built by some processes and recovered by
others that have seen none of them (two of each, side by side, each taking half of the
cells). ``python tests/cache_matrix.py DIR`` builds, damages and recovers in DIR and
prints the table; tests/test_cache_corruption.py asserts every cell.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import random
import re
import subprocess
import sys
from pathlib import Path

ROWS = ("meta", "py", "nbi", "nbc", "o")
COLUMNS = ("empty", "truncated", "random", "bitflip", "forged")
X, Y = 1.25, 0.5


def cells() -> list[tuple[str, str]]:
    return [(r, c) for r in ROWS for c in COLUMNS]


def source(row: str, column: str) -> str:
    return f"f(x, y) = x*sin(y) + x^2 + {cells().index((row, column)) + 1}"


def expected(row: str, column: str) -> tuple[float, tuple[float, float]]:
    """By hand: the value and gradient of ``source(row, column)`` at (X, Y)."""
    c = cells().index((row, column)) + 1
    return X * math.sin(Y) + X * X + c, (math.sin(Y) + 2 * X, X * math.cos(Y))


# ------------------------------------------------- checks that share no code with chaincc

def valid(row: str, path: Path) -> bool:
    """Whether a cache file is a well-formed entry, checked independently of chaincc's
    reader: modules and objects hash to their names, metadata and Numba files carry the
    SHA-256 of their body."""
    if not path.is_file():
        return False
    data = path.read_bytes()
    if row == "meta":
        head, _, body = data.partition(b"\n")
        return head.decode("ascii", "replace") == hashlib.sha256(body).hexdigest()
    if row == "py":
        key = path.stem.removeprefix("chaincc_k")
        return hashlib.sha256(data + b"\0").hexdigest()[:24] == key
    if row == "o":
        return hashlib.sha256(data).hexdigest()[:24] == path.stem
    m = re.match(rb"\x80\x02X....(chaincc-verified-\d+)q\x00\.", data, re.DOTALL)
    if m is None:
        return False
    n = m.end()
    return data[n:n + 32] == hashlib.sha256(data[n + 32:]).digest()


def damage(row: str, column: str, path: Path, marker: Path) -> None:
    import numba
    data = path.read_bytes()
    rng = random.Random(f"{row}-{column}")
    if column == "empty":
        new = b""
    elif column == "truncated":
        new = data[:len(data) // 2]
    elif column == "random":
        new = rng.randbytes(len(data))
    elif column == "bitflip":
        bit = rng.randrange(8 * len(data))
        new = bytearray(data)
        new[bit // 8] ^= 1 << (bit % 8)
        new = bytes(new)
    else:                                                    # forged
        new = {"meta": b"{}",
               "py": f"import os\nos.mkdir({str(marker)!r})\n".encode(),
               "nbi": pickle.dumps(numba.__version__) + pickle.dumps(_Payload(marker)),
               "nbc": pickle.dumps(_Payload(marker)),
               "o": b"\x7fELF\x02\x01\x01" + bytes(57)}[row]
    path.write_bytes(new)


class _Payload:
    """Unpickling this makes a directory: proof that a forged file was trusted."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


# ------------------------------------------------- the two processes

def _compile(row: str, column: str):
    import chaincc
    from chaincc import native
    # the LLVM backend for the object-file row, Numba's for the rows of its files
    with native.using("llvm" if row == "o" else "numba"):
        f = chaincc.compile(source(row, column))
        return f, f.value_and_grad(X, Y)


def target(row: str, f) -> Path:
    """The file of ``row``'s kind that holds f's entry."""
    from chaincc import cache
    unit = f.unit
    if row == "meta":
        return cache.space() / "meta" / f"{unit.key}.json"
    if row == "o":
        # the scalar call's kernel: program "vg", mode "point", no sharing pattern
        entry = cache.read_meta(cache.digest(unit.key, "0", "vg", "point", ""))
        return cache.space() / "objects" / f"{entry['object']}.o"
    module = cache.module_path(unit.detail(0)["module"])
    if row == "py":
        return module
    ext = "nbi" if row == "nbi" else "*.nbc"
    (path,) = module.parent.glob(f"__pycache__/*.f_value_and_grad-*.{ext}")
    return path


def build(out: Path, shard: int, shards: int) -> None:
    from chaincc import cache
    found = {"package": cache.package_digest()}
    for row, column in cells()[shard::shards]:
        f, _ = _compile(row, column)
        found[f"{row}/{column}"] = str(target(row, f))
    out.write_text(json.dumps(found), encoding="utf-8")


def recover(paths: dict[str, str], markers: Path, shard: int, shards: int) -> None:
    import warnings

    from chaincc import cache
    from chaincc.diagnostics import ChainccWarning
    # the package's code is part of every key: the same code must build and recover
    assert cache.package_digest() == paths["package"], "the package changed meanwhile"
    for row, column in cells()[shard::shards]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            f, (v, g) = _compile(row, column)
        ours = [str(w.message) for w in caught if issubclass(w.category, ChainccWarning)]
        want_v, want_g = expected(row, column)
        rebuilt = target(row, f)
        print(json.dumps({
            "row": row, "column": column,
            "right": math.isclose(v, want_v, rel_tol=1e-14) and all(
                math.isclose(a, b, rel_tol=1e-14) for a, b in zip(g, want_g)),
            "warnings": ours, "other_warnings": len(caught) - len(ours),
            "rebuilt": valid(row, rebuilt) and str(rebuilt) == paths[f"{row}/{column}"],
            "ran_forged_code": (markers / f"{row}-{column}").exists()}), flush=True)


def _run_all(commands: list[list[str]], env: dict, timeout: float) -> list[str]:
    """Run processes side by side (2 cores halve the time); their outputs."""
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for c in commands]
    outs = []
    for c, p in zip(commands, procs):
        out, err = p.communicate(timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(c[1:])} failed:\n{out}\n{err}")
        outs.append(out)
    return outs


def run_matrix(cache_dir: Path, shards: int = 2, timeout: float = 600) -> list[dict]:
    """Build every cell, damage each cell's file, then recover in new processes that
    never saw the cells; one result per cell. Cells are split over ``shards``
    processes at a time."""
    env = dict(os.environ, CHAINCC_CACHE_DIR=str(cache_dir / "cache"))
    env.pop("NUMBA_CACHE_DIR", None)
    me = [sys.executable, str(Path(__file__).resolve())]
    manifests = [cache_dir / f"files{k}.json" for k in range(shards)]
    _run_all([[*me, "build", str(m), str(k), str(shards)] for k, m in enumerate(manifests)],
             env, timeout)
    markers = cache_dir / "markers"
    markers.mkdir(exist_ok=True)
    for m in manifests:
        paths = json.loads(m.read_text(encoding="utf-8"))
        for cell, path in paths.items():
            if cell != "package":
                row, column = cell.split("/")
                damage(row, column, Path(path), markers / f"{row}-{column}")
    outs = _run_all([[*me, "recover", str(m), str(markers), str(k), str(shards)]
                     for k, m in enumerate(manifests)], env, timeout)
    return [json.loads(line) for out in outs for line in out.splitlines()
            if line.startswith("{")]


def table(results: list[dict]) -> str:
    """The matrix as text: each cell ok (right answer, one warning, rebuilt, nothing
    forged ran) or what went wrong."""
    def cell(r: dict) -> str:
        bad = [k for k, ok in (("wrong", r["right"]), ("warnings", len(r["warnings"]) == 1),
                               ("not-rebuilt", r["rebuilt"]),
                               ("RAN", not r["ran_forged_code"])) if not ok]
        return ",".join(bad) or "ok"
    by = {(r["row"], r["column"]): cell(r) for r in results}
    lines = ["kind  " + "".join(f"{c:>11}" for c in COLUMNS)]
    for row in ROWS:
        lines.append(f"{row:<6}" + "".join(f"{by.get((row, c), 'missing'):>11}"
                                           for c in COLUMNS))
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if argv[0] == "build":
        build(Path(argv[1]), int(argv[2]), int(argv[3]))
    elif argv[0] == "recover":
        recover(json.loads(Path(argv[1]).read_text(encoding="utf-8")), Path(argv[2]),
                int(argv[3]), int(argv[4]))
    else:
        import tempfile
        print(table(run_matrix(Path(argv[0]) if argv else Path(tempfile.mkdtemp()))))


if __name__ == "__main__":
    main(sys.argv[1:])
