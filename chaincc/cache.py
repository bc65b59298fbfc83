"""The on-disk cache: generated kernel modules keyed by a hash of their text (so Numba's
own cache beside them keeps the machine code), and per-source metadata keyed by a hash of
the source, so a second compile of the same source in a new process redoes no work."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

# Bumped whenever what the cache holds changes shape, so old entries are never misread.
FORMAT = 3


_generator: str | None = None


def generator_digest() -> str:
    """A hash of the code that writes kernels, so a changed code generator never loads
    kernels an older one wrote."""
    global _generator
    if _generator is None:
        here = Path(__file__).resolve().parent
        files = sorted((here / "backends").glob("*.py")) + [here / "api.py", here / "unit.py"]
        _generator = digest(*(f.read_text(encoding="utf-8") for f in files))
    return _generator


def cache_dir() -> Path:
    root = os.environ.get("CHAINCC_CACHE_DIR")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chaincc"


def digest(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:24]


def write_atomic(path: Path, text: str) -> None:
    """Write by renaming a finished temporary file, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def store_module(text: str) -> str:
    """Put generated kernel source in the cache; returns its key."""
    key = digest(text)
    path = module_path(key)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        write_atomic(path, text)
    return key


def module_path(key: str) -> Path:
    return cache_dir() / "kernels" / key / f"chaincc_k{key}.py"


def load_module(key: str) -> ModuleType | None:
    """Import a cached kernel module (Numba then finds its machine code beside it)."""
    path = module_path(key)
    if not path.exists():
        return None
    name = f"chaincc_k{key}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def store_object(obj: bytes) -> str:
    """Put machine code (an object file) in the cache; returns its key."""
    key = digest(obj.hex())
    path = cache_dir() / "objects" / f"{key}.o"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".o")
        with os.fdopen(fd, "wb") as f:
            f.write(obj)
        os.replace(tmp, path)
    return key


def read_object(key: str) -> bytes | None:
    try:
        return (cache_dir() / "objects" / f"{key}.o").read_bytes()
    except OSError:
        return None


def read_meta(key: str) -> dict | None:
    path = cache_dir() / "meta" / f"{key}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_meta(key: str, meta: dict) -> None:
    write_atomic(cache_dir() / "meta" / f"{key}.json", json.dumps(meta, sort_keys=True))
