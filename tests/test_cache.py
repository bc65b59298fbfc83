"""The disk cache: keys that cover the whole package, where the cache lives (absolute,
user-only, with a fallback when it cannot be used), and eviction of old formats."""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import chaincc
from chaincc import cache
from chaincc.diagnostics import ChainccWarning

PACKAGE = Path(chaincc.__file__).resolve().parent
_fresh = itertools.count()


def fresh_source() -> tuple[str, float]:
    """A source no earlier test compiled (so nothing comes from memory), and its
    value at x = 0.5 by hand."""
    c = next(_fresh) + 0.25 + 1000 * os.getpid()
    return f"f(x) = x*exp(x) + {c!r}", 0.5 * math.exp(0.5) + c


def compile_and_check(src: str, want: float) -> None:
    f = chaincc.compile(src)
    v, (g,) = f.value_and_grad(0.5)
    assert v == pytest.approx(want, rel=1e-14)
    assert g == pytest.approx(1.5 * math.exp(0.5), rel=1e-14)


def chaincc_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, ChainccWarning)]


# ------------------------------------------------------------------ the key

KEY_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import chaincc
assert chaincc.__file__.startswith(sys.argv[1]), chaincc.__file__
f = chaincc.compile("f(x) = sigmoid(x)")
v, g = f.value_and_grad(0.3)
print(json.dumps({"key": f.unit.key, "cached": f.unit.cached, "value": v, "grad": g[0]}))
"""


def test_an_edited_rule_is_a_cache_miss(tmp_path: Path) -> None:
    copies = {}
    for name in ("same", "edited"):
        copies[name] = tmp_path / name
        shutil.copytree(PACKAGE, copies[name] / "chaincc",
                        ignore=shutil.ignore_patterns("__pycache__"))
    # an edit that changes no behaviour must still change the key ...
    rules = copies["edited"] / "chaincc" / "rules.py"
    rules.write_text(rules.read_text(encoding="utf-8") + "\n# an edited rule\n",
                     encoding="utf-8")
    # ... and one that changes sigmoid's derivative changes the answer too
    ops = copies["edited"] / "chaincc" / "ops.py"
    rule = "_d(lambda x, t, a: a * t * (1 - t))"
    semantic = ops.is_file() and rule in ops.read_text(encoding="utf-8")
    if semantic:
        ops.write_text(ops.read_text(encoding="utf-8").replace(
            rule, "_d(lambda x, t, a: 2 * a * t * (1 - t))"), encoding="utf-8")
    env = dict(os.environ, CHAINCC_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("NUMBA_CACHE_DIR", None)

    def start(name: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", KEY_SCRIPT, str(copies[name])],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def result(p: subprocess.Popen) -> dict:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])

    # the first run of each copy at once (they share no entry), then the unedited again
    runs = [start("same"), start("edited")]
    first, edited = (result(p) for p in runs)
    again = result(start("same"))
    assert not first["cached"] and again["cached"] and again["key"] == first["key"]
    assert not edited["cached"] and edited["key"] != first["key"]
    s = 1 / (1 + math.exp(-0.3))
    assert first["grad"] == pytest.approx(s * (1 - s), rel=1e-14)
    if semantic:
        assert edited["grad"] == pytest.approx(2 * s * (1 - s), rel=1e-14)


def test_the_package_digest_covers_every_module() -> None:
    # computed once per process, over the package's modules (not only the writers)
    assert cache.package_digest() == cache.package_digest()
    assert len(list(PACKAGE.rglob("*.py"))) > 10


# ------------------------------------------------------------------ where it lives

@pytest.mark.parametrize("kind", ["file", "under-a-file"])
def test_an_unusable_cache_dir_falls_back_with_one_warning(tmp_path, monkeypatch,
                                                           kind) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    monkeypatch.setenv("CHAINCC_CACHE_DIR",
                       str(blocker if kind == "file" else blocker / "cache"))
    src, want = fresh_source()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        compile_and_check(src, want)
        compile_and_check(*fresh_source())
    messages = chaincc_warnings(record)
    assert len(messages) == 1 and "cannot use the cache directory" in messages[0]
    assert blocker.read_text() == "not a directory"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="permissions do not bind the superuser")
def test_a_read_only_cache_dir_falls_back(tmp_path, monkeypatch) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        monkeypatch.setenv("CHAINCC_CACHE_DIR", str(ro))
        with pytest.warns(ChainccWarning, match="cannot use the cache directory"):
            compile_and_check(*fresh_source())
    finally:
        ro.chmod(0o700)


def test_a_failed_write_falls_back_with_one_warning(tmp_path, monkeypatch) -> None:
    root = tmp_path / "cache"
    monkeypatch.setenv("CHAINCC_CACHE_DIR", str(root))
    real = cache.write_bytes

    def full_disk(path: Path, data: bytes) -> None:
        if root in path.parents:
            raise OSError(28, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(cache, "write_bytes", full_disk)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        compile_and_check(*fresh_source())
        compile_and_check(*fresh_source())
    messages = chaincc_warnings(record)
    assert len(messages) == 1 and "cannot write to its cache" in messages[0]


def test_a_relative_cache_dir_is_resolved_once(tmp_path, monkeypatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    monkeypatch.setenv("CHAINCC_CACHE_DIR", "rel-cache")
    compile_and_check(*fresh_source())
    monkeypatch.chdir(tmp_path / "b")
    compile_and_check(*fresh_source())
    assert len([p for p in (tmp_path / "a" / "rel-cache").rglob("*") if p.is_file()]) >= 2
    assert not (tmp_path / "b" / "rel-cache").exists()


def test_the_cache_dir_is_private(tmp_path, monkeypatch) -> None:
    root = tmp_path / "new" / "cache"
    monkeypatch.setenv("CHAINCC_CACHE_DIR", str(root))
    compile_and_check(*fresh_source())
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(d.stat().st_mode) == 0o700
               for d in root.rglob("*") if d.is_dir() and d.name != "__pycache__")


def test_entries_of_other_formats_and_versions_are_evicted(tmp_path, monkeypatch) -> None:
    root = tmp_path / "cache"
    old_space = root / "v3-chaincc0.0.9-numba0.60.0-llvmlite0.43.0"
    (old_space / "kernels").mkdir(parents=True)
    (old_space / "kernels" / "x.py").write_text("")
    key = "0123456789abcdef01234567"
    (root / "kernels" / key).mkdir(parents=True)
    (root / "kernels" / key / f"chaincc_k{key}.py").write_text("")
    (root / "meta").mkdir()
    (root / "meta" / f"{key}.json").write_text("{}")
    (root / "objects").mkdir()
    (root / "objects" / f"{key}.o").write_bytes(b"")
    (root / "objects" / "notes.txt").write_text("kept: not a cache entry")
    (root / "c").mkdir()
    (root / "notes.txt").write_text("kept")
    monkeypatch.setenv("CHAINCC_CACHE_DIR", str(root))
    compile_and_check(*fresh_source())
    assert not old_space.exists()
    assert not (root / "kernels").exists() and not (root / "meta").exists()
    assert sorted(p.name for p in (root / "objects").iterdir()) == ["notes.txt"]
    assert (root / "c").is_dir() and (root / "notes.txt").read_text() == "kept"
    assert (root / cache.space_name()).is_dir()


def test_no_temporary_files_are_left(tmp_path, monkeypatch) -> None:
    root = tmp_path / "cache"
    monkeypatch.setenv("CHAINCC_CACHE_DIR", str(root))
    compile_and_check(*fresh_source())
    assert not [p for p in root.rglob("*") if ".tmp" in p.name]


def test_an_unreadable_entry_is_rebuilt_with_one_warning(tmp_path, monkeypatch) -> None:
    root = tmp_path / "cache"
    monkeypatch.setenv("CHAINCC_CACHE_DIR", str(root))
    src, want = fresh_source()
    compile_and_check(src, want)
    # the source's own metadata (beside it, the index entries of its kernels)
    meta = root / cache.space_name() / "meta" / f"{chaincc.compile(src).unit.key}.json"
    meta.unlink()
    meta.mkdir()                          # reading it fails with an OSError
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        compile_and_check(src, want)
    messages = chaincc_warnings(record)
    assert len(messages) == 1 and "unreadable" in messages[0]
    assert meta.is_file()
