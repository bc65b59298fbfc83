"""``chaincc cache info|clear|limit`` and the size limit: counts and sizes checked against
a listing of the directory made here, clear touching chaincc's entries only, least-
recently-used eviction that keeps the cache under its limit, and hostile limits refused."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

import chaincc
from chaincc import cache
from chaincc.cli import main
from chaincc.diagnostics import ChainccWarning

_fresh = itertools.count()


def fresh() -> tuple[str, float]:
    """A source no other compile made (a fresh constant) and that constant."""
    c = next(_fresh) + 0.125 + 1000 * (os.getpid() % 1000)
    return f"f(x, y) = x*exp(y) + {c!r}*x^2\n", c


def compile_and_check(src: str, c: float) -> chaincc.Function:
    """Compile, run, and compare with the formula worked by hand."""
    fn = chaincc.compile(src)
    x, y = 0.7, -0.3
    v, (gx, gy) = fn.value_and_grad(x, y)
    assert v == pytest.approx(x * math.exp(y) + c * x * x, rel=1e-14)
    assert gx == pytest.approx(math.exp(y) + 2 * c * x, rel=1e-14)
    assert gy == pytest.approx(x * math.exp(y), rel=1e-14)
    return fn


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "cache"
    monkeypatch.setenv("CHAINCC_CACHE_DIR", str(where))
    monkeypatch.delenv("CHAINCC_CACHE_MAX_BYTES", raising=False)
    return where


def listing(root: Path) -> dict[str, int]:
    """Entries by kind, counted from the directory itself."""
    space = root / cache.space_name()

    def names(kind: str, suffix: str, dirs: bool) -> list[str]:
        d = space / kind
        if not d.is_dir():
            return []
        return [p.name for p in d.iterdir() if p.is_dir() == dirs and
                p.name.endswith(suffix) and not p.name.startswith(".")]

    return {"kernels": len(names("kernels", "", True)),
            "objects": len(names("objects", ".o", False)),
            "meta": len(names("meta", ".json", False))}


def entry_bytes(root: Path) -> int:
    """Bytes of every file under the cache but the settings, the lock and foreign files."""
    total = 0
    for base in (root / cache.space_name(), root / "c"):
        for dirpath, _, files in os.walk(base):
            total += sum(os.lstat(os.path.join(dirpath, f)).st_size for f in files
                         if f != "notes.txt")
    return total


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def info(capsys) -> dict:
    rc, out, err = cli(capsys, "cache", "info", "--json")
    assert rc == 0, err
    return json.loads(out)


def test_info_counts_two_sources(root: Path, capsys) -> None:
    empty = info(capsys)
    assert empty["bytes"] == 0 and not any(empty["entries"].values())
    assert empty["path"] == str(root)
    fns = [compile_and_check(*fresh()) for _ in range(2)]
    doc = info(capsys)
    counted = listing(root)
    assert {k: doc["entries"][k] for k in counted} == counted
    assert counted["meta"] >= 2 and counted["kernels"] + counted["objects"] >= 2
    for fn in fns:                       # each source's own metadata is there
        assert (root / cache.space_name() / "meta" / f"{fn.unit.key}.json").is_file()
    assert doc["bytes"] == entry_bytes(root) > 0
    assert doc["limit"] == 2 * 10 ** 9 and doc["limit_source"] == "the default"
    rc, out, _ = cli(capsys, "cache", "info")
    assert rc == 0 and str(root) in out and f"{counted['meta']} metadata files" in out


def test_clear_removes_only_chainccs_entries(root: Path, capsys) -> None:
    src, c = fresh()
    compile_and_check(src, c)
    assert cli(capsys, "cache", "limit", "1GB")[0] == 0
    foreign = root / "notes.txt"
    foreign.write_text("mine", encoding="utf-8")
    inner = root / cache.space_name() / "meta" / "notes.txt"
    inner.write_text("mine too", encoding="utf-8")
    lookalike = root / "kernels-backup"
    lookalike.mkdir()
    before = listing(root)
    rc, out, _ = cli(capsys, "cache", "clear")
    assert rc == 0
    assert f"removed {sum(before.values())} entries" in out
    assert listing(root) == {"kernels": 0, "objects": 0, "meta": 0}
    assert foreign.read_text(encoding="utf-8") == "mine"
    assert inner.read_text(encoding="utf-8") == "mine too"
    assert lookalike.is_dir()
    assert info(capsys)["limit"] == 10 ** 9          # the setting stays
    compile_and_check(src, c)                        # and the cache fills again
    assert listing(root)["meta"] >= 1


def test_a_write_under_way_is_left_alone(root: Path, capsys) -> None:
    compile_and_check(*fresh())
    meta = root / cache.space_name() / "meta"
    writing = meta / ".tmp-abc123.json"
    writing.write_bytes(b"x" * 100)
    stale = meta / ".tmp-old999.json"
    stale.write_bytes(b"x" * 100)
    hours_ago = time.time() - 3 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    rc, out, _ = cli(capsys, "cache", "clear")
    assert rc == 0 and "left 1 being written" in out
    assert writing.is_file() and not stale.exists()


def entries(root: Path) -> set[Path]:
    """The cache's entries, listed here: kernel directories, object and metadata files."""
    space = root / cache.space_name()
    return {p for kind in ("kernels", "objects", "meta") if (space / kind).is_dir()
            for p in (space / kind).iterdir() if not p.name.startswith(".")}


def test_least_recently_used_are_evicted(root: Path, capsys,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    sources = [fresh() for _ in range(5)]
    made: list[set[Path]] = []                       # each source's entries

    def compile_next(i: int) -> None:
        before = entries(root)
        time.sleep(0.05)
        compile_and_check(*sources[i])
        made.append(entries(root) - before)

    compile_next(0)
    one = entry_bytes(root)                          # what one source takes
    limit = int(2.5 * one)
    monkeypatch.setenv("CHAINCC_CACHE_MAX_BYTES", str(limit))
    compile_next(1)
    assert entries(root) == made[0] | made[1]        # two sources fit
    time.sleep(0.05)
    compile_and_check(*sources[0])                   # read: now the more recently used
    compile_next(2)                                  # a third does not fit
    assert entry_bytes(root) <= limit
    left = entries(root)
    assert made[0] <= left                           # read recently: all kept
    assert made[2] <= left                           # the newest: all kept
    assert made[1] - left                            # the least recently used: evicted
    for i in (3, 4):
        compile_next(i)
        assert entry_bytes(root) <= limit
    assert made[4] <= entries(root)
    compile_and_check(*sources[1])                   # an evicted source is a miss, no more
    assert entry_bytes(root) <= limit
    doc = info(capsys)
    assert doc["limit"] == limit and doc["limit_source"] == "$CHAINCC_CACHE_MAX_BYTES"


def test_setting_a_lower_limit_trims_now(root: Path, capsys) -> None:
    for _ in range(3):
        compile_and_check(*fresh())
    size = entry_bytes(root)
    rc, out, _ = cli(capsys, "cache", "limit", f"{size // 2}B")
    assert rc == 0 and f"limit: {size // 2} bytes" in out and "removed" in out
    assert entry_bytes(root) <= size // 2
    assert info(capsys)["limit"] == size // 2
    assert cli(capsys, "cache", "limit", "none")[0] == 0
    assert info(capsys)["limit"] is None
    assert cli(capsys, "cache", "limit", "default")[0] == 0
    assert info(capsys)["limit_source"] == "the default"


@pytest.mark.parametrize("value,want", [("500MB", 500 * 10 ** 6), ("2GiB", 2 * 2 ** 30),
                                        ("1.5kb", 1500), ("1000000", 10 ** 6),
                                        (" 3 KiB ", 3072)])
def test_sizes_are_read(root: Path, capsys, value: str, want: int) -> None:
    assert cli(capsys, "cache", "limit", value)[0] == 0
    assert info(capsys)["limit"] == want


HOSTILE = ["-5", "abc", "1e999", "nan", "inf", "0", "0.0001", "99999999999999999999TB",
           "5 XB", "\x00", "1" * 5000, "5MB5", "1,000", "٣MB", ""]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_limit_is_a_clear_error(root: Path, capsys, value: str) -> None:
    rc, out, err = cli(capsys, "cache", "limit", value)
    assert rc == 1
    assert err.startswith("error: the cache size limit") and "Traceback" not in err
    assert len(err) < 400
    assert not (root / "settings.json").exists()


@pytest.mark.parametrize("value", ["abc", "-1", "1e999"])
def test_a_hostile_environment_limit(root: Path, capsys, monkeypatch, value: str) -> None:
    monkeypatch.setenv("CHAINCC_CACHE_MAX_BYTES", value)
    rc, _, err = cli(capsys, "cache", "info")
    assert rc == 1 and "$CHAINCC_CACHE_MAX_BYTES" in err and "Traceback" not in err
    with warnings.catch_warnings(record=True) as caught:      # a compile still works
        warnings.simplefilter("always")
        compile_and_check(*fresh())
    assert any(issubclass(w.category, ChainccWarning) and "CHAINCC_CACHE_MAX_BYTES"
               in str(w.message) for w in caught)


def test_a_damaged_settings_file(root: Path, capsys) -> None:
    root.mkdir(parents=True)
    (root / "settings.json").write_text('{"max_bytes": "lots"}', encoding="utf-8")
    rc, _, err = cli(capsys, "cache", "info")
    assert rc == 1 and "damaged" in err and "Traceback" not in err
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        compile_and_check(*fresh())
    assert cli(capsys, "cache", "limit", "10MB")[0] == 0
    assert info(capsys)["limit"] == 10 ** 7


WORKER = textwrap.dedent("""
    import math, sys
    import chaincc
    base = float(sys.argv[1])
    for i in range(6):
        c = base + i
        for _ in range(2):                     # again: read back, or rebuilt if evicted
            fn = chaincc.compile(f"f(x, y) = x*exp(y) + {c!r}*x^2")
            v, (gx, gy) = fn.value_and_grad(0.7, -0.3)
            assert abs(v - (0.7 * math.exp(-0.3) + c * 0.49)) < 1e-12 * abs(v), v
            assert abs(gy - 0.7 * math.exp(-0.3)) < 1e-14, gy
    print("ok")
""")


def test_processes_share_a_small_cache(root: Path, tmp_path: Path) -> None:
    """Two processes compiling into one cache whose limit holds about two sources: each
    evicts the other's entries, and both always compute the right values."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    compile_and_check(*fresh())
    env = dict(os.environ, CHAINCC_CACHE_DIR=str(root),
               CHAINCC_CACHE_MAX_BYTES=str(2 * entry_bytes(root)))
    procs = [subprocess.Popen([sys.executable, str(script), str(base)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for base in (1e6 + 0.25, 2e6 + 0.25)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0 and out.strip() == "ok", err
        assert "Traceback" not in err
    assert entry_bytes(root) <= 2 * int(env["CHAINCC_CACHE_MAX_BYTES"])
