"""The on-disk cache: generated kernel modules keyed by a hash of their text (with Numba's
own cache of their machine code beside them), LLVM object files keyed by a hash of their
bytes, and JSON metadata keyed by a hash of the source and of everything that shapes
generated code, so a second compile of the same source in a new process redoes no work.

Nothing is used as read: a kernel module and an object file must hash to their names,
a metadata file and Numba's index and data files carry a SHA-256 of their bytes. An
entry that fails its check (empty, truncated, damaged, unreadable) is deleted with one
:class:`~chaincc.diagnostics.ChainccWarning` and rebuilt; it is never executed. Writes
are atomic and durable (temporary file, fsync, rename). A cache directory that cannot
be used gives one warning and a private temporary directory for the process.

Layout under the cache root (``$CHAINCC_CACHE_DIR``, default ``~/.cache/chaincc``)::

    v4-chaincc0.1.0-numba0.68.1-llvmlite0.50.0/    one directory per format and versions
        kernels/KEY/chaincc_kKEY.py                 a kernel module (KEY: hash of its text)
        kernels/KEY/__pycache__/*.nbi, *.nbc        Numba's index and machine code, framed
        objects/KEY.o                               LLVM machine code (KEY: hash of bytes)
        meta/KEY.json                               "SHA256\\n" + JSON
    c/                                              standalone C builds (cbuild.py)
    settings.json, .evict.lock                      the size limit, eviction's lock

Directories of other formats or versions are removed the first time a process uses the
cache. Reads mark an entry as used (:func:`touch`) and writes report to
``cache_usage.py``, which keeps the cache under its size limit by evicting the least
recently used entries.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import os
import pickle
import re
import shutil
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from . import __version__
from .diagnostics import ChainccWarning

# Bumped whenever what the cache holds changes shape, so old entries are never misread.
FORMAT = 5

# Numba index and data files written by chaincc start with this pickled string, then
# the SHA-256 of the rest: stock Numba reads the string as a foreign version and ignores
# the file; chaincc unpickles nothing before the hash matches.
_FRAME = pickle.dumps(f"chaincc-verified-{FORMAT}", protocol=2)
_HASH = 32

# Held while a kernel module is checked, run and published, so no thread ever sees a
# half-initialised module; re-entrant because loading may store.
_lock = threading.RLock()


# ------------------------------------------------------------------ keys and versions

def digest(*parts: str) -> str:
    """A short hash (96 bits, hex) of text parts."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:24]


def _bytes_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:24]


_package: str | None = None


def package_digest() -> str:
    """A hash of every module of the chaincc package (relative paths and bytes, in
    sorted order), computed once per process: any change to parsing, lowering, rules,
    optimisation or a code writer gives new cache keys."""
    global _package
    if _package is None:
        root = Path(__file__).resolve().parent
        files = sorted((f.relative_to(root).as_posix(), f) for f in root.rglob("*.py")
                       if "__pycache__" not in f.parts)
        h = hashlib.sha256()
        for rel, f in files:
            data = f.read_bytes()
            h.update(f"{rel}\0{len(data)}\0".encode("utf-8", "surrogatepass"))
            h.update(data)
        _package = h.hexdigest()[:24]
    return _package


# the former name; the whole package is hashed now
generator_digest = package_digest


_versions: tuple[str, ...] | None = None


def versions() -> tuple[str, ...]:
    """(chaincc version, cache format, Numba version, llvmlite version): part of every
    key and of the name of the directory that holds the entries."""
    global _versions
    if _versions is None:
        import llvmlite
        _versions = (__version__, str(FORMAT), installed_version("numba"),
                     llvmlite.__version__)
    return _versions


def installed_version(package: str) -> str:
    """An installed package's version, from its metadata, without importing it (Numba
    takes a third of a second) or ``importlib.metadata`` (a fiftieth): the ``Version:``
    line of the ``METADATA`` file beside the package, else ``importlib.metadata``'s
    answer; "none" when it is not installed."""
    import importlib.util
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin:
        site = Path(spec.origin).resolve().parent.parent
        found = list(site.glob(f"{package}-*.dist-info/METADATA"))
        if len(found) == 1:
            try:
                with found[0].open(encoding="utf-8") as f:
                    for _, line in zip(range(40), f):
                        if line.startswith("Version:"):
                            return line.split(":", 1)[1].strip()
            except OSError:
                pass
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(package)
    except PackageNotFoundError:
        return "none"


def space_name() -> str:
    v, f, nb, ll = versions()
    return re.sub(r"[^A-Za-z0-9._+-]", "_", f"v{f}-chaincc{v}-numba{nb}-llvmlite{ll}")


# ------------------------------------------------------------------ where the cache is

_roots: dict[str, Path] = {}        # $CHAINCC_CACHE_DIR as given -> the root in use
_fallback: Path | None = None


def _warn(message: str) -> None:
    warnings.warn(message, ChainccWarning, stacklevel=3)


def _configured(raw: str) -> Path:
    if raw:
        return Path(os.path.abspath(os.path.expanduser(raw)))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(os.path.abspath(base)) / "chaincc"


def _temporary_root() -> Path:
    global _fallback
    if _fallback is None or not _fallback.is_dir():
        _fallback = Path(tempfile.mkdtemp(prefix="chaincc-cache-"))      # mode 0o700
        atexit.register(shutil.rmtree, str(_fallback), True)
    return _fallback


def _mkdirs(path: Path) -> None:
    """Make a directory and its missing parents, each readable by the user only."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            if not d.is_dir():
                raise


def _usable(root: Path) -> None:
    """Raises OSError unless chaincc can create files in ``root`` (made if missing)."""
    _mkdirs(root)
    if not root.is_dir():
        raise NotADirectoryError(f"not a directory: {root}")
    tempfile.TemporaryFile(dir=root).close()


def cache_dir() -> Path:
    """The cache root for this process: ``$CHAINCC_CACHE_DIR`` (made absolute the first
    time each value is seen, so a later ``os.chdir`` changes nothing) or
    ``~/.cache/chaincc``; a private temporary directory, removed at exit, when that
    cannot be used (with one warning)."""
    raw = os.environ.get("CHAINCC_CACHE_DIR", "")
    root = _roots.get(raw)
    if root is not None:
        return root
    with _lock:
        root = _roots.get(raw)
        if root is None:
            wanted = _configured(raw)
            try:
                _usable(wanted)
                root = wanted
            except OSError as err:
                root = _temporary_root()
                _warn(f"chaincc cannot use the cache directory {wanted} "
                      f"({err.strerror or err}); compiled kernels go to a temporary "
                      f"directory for this process and are not reused later")
            _roots[raw] = root
    return root


def _fall_back(err: OSError) -> None:
    """A write into the cache failed: use a temporary root for the rest of the
    process (one warning)."""
    raw = os.environ.get("CHAINCC_CACHE_DIR", "")
    with _lock:
        if _roots.get(raw) == _fallback:
            raise err
        _roots[raw] = _temporary_root()
    _warn(f"chaincc cannot write to its cache ({err.strerror or err}: "
          f"{err.filename or ''}); compiled kernels go to a temporary directory for this "
          f"process and are not reused later")


_evicted: set[Path] = set()


def space() -> Path:
    """The directory of this format's and these versions' entries (made, and those of
    other formats and versions removed, the first time a process uses a root)."""
    root = cache_dir()
    path = root / space_name()
    if root not in _evicted:
        with _lock:
            if root not in _evicted:
                _evicted.add(root)
                evict_others(root)
    return path


_SPACE = re.compile(r"v\d+-chaincc.*")
_LEGACY = {"kernels": re.compile(r"[0-9a-f]{24}"), "meta": re.compile(r"[0-9a-f]{24}\.json"),
           "objects": re.compile(r"[0-9a-f]{24}\.o")}


def evict_others(root: Path) -> None:
    """Remove the entries of other cache formats and versions under ``root``: the
    directories named like :func:`space_name` but not this one, and files of the
    layout of format 3 and before (matched by name, so nothing else is touched)."""
    current = space_name()
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for e in entries:
        if e.name != current and _SPACE.fullmatch(e.name) and \
                e.is_dir(follow_symlinks=False):
            shutil.rmtree(e.path, ignore_errors=True)
    for sub, pattern in _LEGACY.items():
        d = root / sub
        if d.is_symlink() or not d.is_dir():
            continue
        try:
            for e in os.scandir(d):
                if pattern.fullmatch(e.name):
                    if e.is_dir(follow_symlinks=False):
                        shutil.rmtree(e.path, ignore_errors=True)
                    else:
                        os.unlink(e.path)
            d.rmdir()
        except OSError:
            pass


# ------------------------------------------------------------------ reading and writing

def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes) -> None:
    """Write by renaming a finished, flushed and fsynced temporary file, so readers
    never see half a file and a crash never leaves one."""
    if not path.parent.is_dir():
        _mkdirs(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    except FileNotFoundError:             # the directory was just removed (cache clear)
        _mkdirs(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def write_atomic(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8", "surrogatepass"))


def _read(path: Path) -> bytes | None:
    """The file's bytes, None if it is missing; raises OSError if it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


_warned: set[str] = set()


def discard(path: Path, what: str, why: str) -> None:
    """Delete a damaged entry (a file, or a kernel's whole directory) and warn once."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
    except OSError:
        pass
    if str(path) not in _warned:
        _warned.add(str(path))
        _warn(f"chaincc discarded a damaged cache entry ({what}, {why}): {path}; "
              f"it is rebuilt")


def touch(path: Path) -> None:
    """Mark an entry as just used (its modification time), for least-recently-used
    eviction (``cache_usage.py``); access times are not kept on many file systems."""
    try:
        os.utime(path)
    except OSError:
        pass


def touch_modules(keys: Iterable[object]) -> None:
    """Mark the kernel modules named by ``keys`` (those that are keys) as just used."""
    for key in keys:
        if isinstance(key, str) and _KEY.fullmatch(key):
            touch(module_path(key).parent)


def _written(path: Path, size: int) -> None:
    """After a write: keep the cache within its size limit."""
    from .cache_usage import after_write
    after_write(path, size)


_KEY = re.compile(r"[0-9a-f]{24}")


def _entry(kind: str, key: str, suffix: str) -> Path:
    assert _KEY.fullmatch(key), f"bad cache key {key!r}"
    return space() / kind / f"{key}{suffix}"


def _store(path: Path, data: bytes) -> Path:
    """Write an entry; on failure, move the process to a temporary root and retry.
    Returns where it went."""
    try:
        write_bytes(path, data)
    except OSError as err:
        rel = path.relative_to(space())
        _fall_back(err)
        path = space() / rel
        write_bytes(path, data)
    _written(path, len(data))
    return path


# ------------------------------------------------------------------ metadata

def _meta_path(key: str) -> Path:
    return _entry("meta", key, ".json")


def read_meta(key: str, required: tuple[str, ...] = ()) -> dict | None:
    """The metadata stored under ``key``, or None: when there is none, and when it is
    damaged or lacks a ``required`` field (then it is discarded with one warning)."""
    path = _meta_path(key)
    try:
        raw = _read(path)
    except OSError as err:
        discard(path, "metadata", f"unreadable: {err.strerror or err}")
        return None
    if raw is None:
        return None
    head, sep, body = raw.partition(b"\n")
    if not sep or head != hashlib.sha256(body).hexdigest().encode("ascii"):
        discard(path, "metadata", "checksum mismatch" if raw else "empty file")
        return None
    meta = json.loads(body.decode("utf-8"))
    if not isinstance(meta, dict) or any(k not in meta for k in required):
        discard(path, "metadata", "missing fields")
        return None
    touch(path)
    return meta


def write_meta(key: str, meta: dict) -> None:
    body = json.dumps(meta, sort_keys=True).encode("utf-8")
    _store(_meta_path(key), hashlib.sha256(body).hexdigest().encode("ascii") + b"\n" + body)


# ------------------------------------------------------------------ object files

def _object_path(key: str) -> Path:
    return _entry("objects", key, ".o")


def store_object(obj: bytes) -> str:
    """Put machine code (an object file) in the cache; returns its key (a hash of its
    bytes)."""
    key = _bytes_key(obj)
    path = _object_path(key)
    if read_object(key) is None:
        _store(path, obj)
    return key


def read_object(key: str) -> bytes | None:
    """The object file named ``key``, checked against its name; None when missing or
    damaged (then deleted, with one warning)."""
    path = _object_path(key)
    try:
        data = _read(path)
    except OSError as err:
        discard(path, "object file", f"unreadable: {err.strerror or err}")
        return None
    if data is not None and _bytes_key(data) != key:
        discard(path, "object file", "its bytes do not match its hash")
        return None
    if data is not None:
        touch(path)
    return data


# ------------------------------------------------------------------ kernel modules

def module_path(key: str) -> Path:
    return _entry("kernels", key, "") / f"chaincc_k{key}.py"


def _module_text(key: str, path: Path) -> str | None:
    """The module's text if it hashes to its key; None if missing; a damaged module
    (and Numba's files beside it) is discarded with one warning."""
    try:
        raw = _read(path)
    except OSError as err:
        discard(path.parent, "kernel module", f"unreadable: {err.strerror or err}")
        return None
    if raw is None:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or digest(text) != key:
        discard(path.parent, "kernel module", "its text does not match its hash")
        return None
    return text


def has_module(key: str) -> bool:
    return module_path(key).is_file()


def store_module(text: str) -> str:
    """Put generated kernel source in the cache; returns its key (a hash of the text)."""
    key = digest(text)
    name = f"chaincc_k{key}"
    with _lock:
        if name in sys.modules:
            return key
        path = module_path(key)
        if _module_text(key, path) is None:
            path = _store(path, text.encode("utf-8", "surrogatepass"))
    return key


def load_module(key: str) -> ModuleType | None:
    """Import a cached kernel module, checked against its hash first; None when it is
    missing or damaged (then discarded with one warning). Numba then finds its machine
    code beside it, through :func:`guard_numba_caches`. Only finished modules are
    published in ``sys.modules``, under a lock, so concurrent first calls are safe."""
    name = f"chaincc_k{key}"
    module = sys.modules.get(name)
    if module is not None:
        touch(module_path(key).parent)
        return module
    with _lock:
        module = sys.modules.get(name)
        if module is not None:
            return module
        path = module_path(key)
        text = _module_text(key, path)
        if text is None:
            return None
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        # generated code only: its text hashes to the key it was stored under
        code = compile(text, str(path), "exec", dont_inherit=True)
        try:
            exec(code, module.__dict__)
        except RuntimeError:
            # Numba refuses to cache a function whose file is gone: the entry was
            # evicted by another process after it was read, which is a miss
            if not path.is_file():
                return None
            raise
        guard_numba_caches(module)
        sys.modules[name] = module
        touch(path.parent)
        return module


def stored_module(text: str) -> tuple[str, ModuleType]:
    """Store generated kernel source and import it: (its key, the module). A module
    removed between the two (by another process's eviction) is stored again."""
    for _ in range(3):
        key = store_module(text)
        module = load_module(key)
        if module is not None:
            return key, module
    raise AssertionError("a kernel module just written is unreadable")


# ------------------------------------------------------------------ Numba's cache files

class _Verified:
    """Numba's index and data files with a SHA-256 of their bytes: checked before
    anything is unpickled; a damaged file is deleted (one warning) and Numba compiles
    again; a failed write leaves the kernel working, uncached."""

    def _frame(self, payload: bytes) -> bytes:
        return _FRAME + hashlib.sha256(payload).digest() + payload

    def _unframe(self, path: str, what: str) -> bytes | None:
        p = Path(path)
        try:
            raw = _read(p)
        except OSError as err:
            discard(p, what, f"unreadable: {err.strerror or err}")
            return None
        if raw is None:
            return None
        n = len(_FRAME)
        body = raw[n + _HASH:]
        if raw[:n] != _FRAME or raw[n:n + _HASH] != hashlib.sha256(body).digest():
            discard(p, what, "checksum mismatch" if raw else "empty file")
            return None
        return body

    def _load_index(self) -> dict:
        body = self._unframe(self._index_path, "Numba index")
        if body is None:
            return {}
        version, stamp, overloads = pickle.loads(body)
        if version != self._version or stamp != self._source_stamp:
            return {}
        return overloads

    def _save_index(self, overloads: dict) -> None:
        data = self._frame(self._dump((self._version, self._source_stamp, overloads)))
        write_bytes(Path(self._index_path), data)
        _written(Path(self._index_path), len(data))

    def _save_data(self, name: str, data) -> None:
        body = self._frame(self._dump(data))
        write_bytes(Path(self._data_path(name)), body)
        _written(Path(self._data_path(name)), len(body))

    def load(self, key):
        name = self._load_index().get(key)
        if name is None:
            return None
        body = self._unframe(self._data_path(name), "Numba machine code")
        return None if body is None else pickle.loads(body)

    def save(self, key, data) -> None:
        try:
            super().save(key, data)
        except OSError:
            pass


_NEEDED = ("_index_path", "_version", "_source_stamp", "_data_path", "_data_name",
           "_dump", "save", "load")
_verified_classes: dict[type, type] = {}


def guard_numba_caches(module: ModuleType) -> None:
    """Make every Numba dispatcher of a kernel module check its cache files (or, with
    a Numba whose cache does not have the expected shape, not use them at all)."""
    for obj in list(vars(module).values()):
        cache = getattr(obj, "_cache", None) if hasattr(obj, "py_func") else None
        if cache is None or type(cache).__name__ == "NullCache":
            continue
        f = getattr(cache, "_cache_file", None)
        if isinstance(f, _Verified):
            continue
        if f is None or not all(hasattr(f, a) for a in _NEEDED):
            from numba.core.caching import NullCache
            obj._cache = NullCache()
            continue
        cls = _verified_classes.get(type(f))
        if cls is None:
            cls = type(f"Verified{type(f).__name__}", (_Verified, type(f)), {})
            _verified_classes[type(f)] = cls
        g = cls.__new__(cls)
        g.__dict__.update(f.__dict__)
        cache._cache_file = g


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
