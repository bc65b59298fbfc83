"""The disk cache's housekeeping: what it holds, its size limit and least-recently-used
eviction, and clearing it (``chaincc cache info|clear|limit``).

An entry is one unit of eviction: a kernel module's directory (the module and Numba's
files beside it), an object file, a metadata file, a C build's directory, or the whole
directory of another chaincc or Numba version. Its last use is the newest modification
time of its files: reads touch the entry (``cache.touch``), since access times are not
kept on many file systems.

The limit is ``$CHAINCC_CACHE_MAX_BYTES`` if set, else the one set with ``chaincc cache
limit SIZE`` (stored in ``settings.json`` in the cache directory), else
:data:`DEFAULT_LIMIT`. After writes, once the cache has grown past its limit, the least
recently used entries are removed until it is back under 90% of it. Eviction skips
temporary files of writes under way (and the entries they are in), and the entry just
written. Any entry may disappear under a reader; every read treats a missing entry as a
miss, and a metadata file whose kernels are gone only costs their rebuilding.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from . import cache
from .diagnostics import ChainccError

LIMIT_ENV = "CHAINCC_CACHE_MAX_BYTES"
SETTINGS = "settings.json"
DEFAULT_LIMIT = 2 * 1000 ** 3            # 2 GB
# Eviction goes down to this fraction of the limit, so that it does not run at every write.
LOW_WATER = 0.9
# A temporary file younger than this belongs to a write under way (older: a leftover of a
# process that died, removed like any entry).
BUSY_SECONDS = 3600.0
# A process rescans the cache at a write at least this often (other processes write too).
RESCAN_SECONDS = 60.0
_LOCK_FILE = ".evict.lock"

KINDS = ("kernels", "objects", "meta", "c", "other")
KIND_NAMES = {"kernels": "kernel modules", "objects": "object files",
              "meta": "metadata files", "c": "C builds",
              "other": "directories of other versions"}

_KEY = re.compile(r"[0-9a-f]{24}")
_NAMES = {"kernels": _KEY, "objects": re.compile(r"[0-9a-f]{24}\.o"),
          "meta": re.compile(r"[0-9a-f]{24}\.json")}
_TEMP = re.compile(r"\.tmp-.*")
_BUILD = re.compile(r"\.build-.*")


@dataclass(frozen=True)
class Entry:
    """One evictable entry: its kind, path, size in bytes, last use (a time stamp), and
    whether a write is under way in it."""

    kind: str
    path: Path
    size: int
    used: float
    busy: bool


@dataclass(frozen=True)
class Usage:
    """What ``chaincc cache info`` shows."""

    root: Path
    exists: bool
    counts: dict[str, int]
    size: int
    limit: int | None
    limit_source: str


@dataclass(frozen=True)
class Removed:
    """What a clear or an eviction removed (counts by kind, bytes), and what it left
    because a write was under way."""

    counts: dict[str, int]
    size: int
    busy: int


# ------------------------------------------------------------------ sizes and the limit

_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000 ** 2, "gb": 1000 ** 3, "tb": 1000 ** 4,
          "kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3, "tib": 1024 ** 4}
_SIZE = re.compile(r"([0-9]{1,20}(?:\.[0-9]{0,9})?|\.[0-9]{1,9}) ?([A-Za-z]{0,3})")
MAX_LIMIT = 2 ** 63 - 1


def parse_size(text: str, what: str = "the cache size limit") -> int | None:
    """``500MB``, ``2GiB``, ``1000000`` (bytes) or ``none`` (no limit) as a number of
    bytes (None for no limit); anything else is a :class:`ChainccError`."""
    shown = text if len(text) <= 40 else text[:40] + "..."
    shown = shown.encode("unicode_escape").decode("ascii")
    t = text.strip()
    if t.lower() in ("none", "unlimited"):
        return None
    m = _SIZE.fullmatch(t)
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in _UNITS:
        raise ChainccError(f"{what} must be a size such as 500MB, 2GiB or 1000000 "
                           f"(bytes), or none; got '{shown}'")
    try:
        value = int(Decimal(m.group(1)) * _UNITS[unit])
    except InvalidOperation:                # pragma: no cover - the pattern excludes it
        raise ChainccError(f"{what}: '{shown}' is not a number") from None
    if value < 1:
        raise ChainccError(f"{what} must be at least 1 byte (write none for no limit); "
                           f"got '{shown}'")
    if value > MAX_LIMIT:
        raise ChainccError(f"{what} is too large: '{shown}' (at most {MAX_LIMIT} bytes; "
                           f"write none for no limit)")
    return value


def format_size(n: int) -> str:
    """``123456789 bytes (123.5 MB)``."""
    return f"{n} bytes ({n / 1e6:.1f} MB)"


def root() -> Path:
    """The cache directory chaincc would use (not made, no fallback)."""
    return cache._configured(os.environ.get("CHAINCC_CACHE_DIR", ""))


def _settings_path(where: Path) -> Path:
    return where / SETTINGS


def _stored_limit(where: Path) -> tuple[bool, int | None]:
    """(whether a limit is stored, the limit); a damaged settings file is an error."""
    path = _settings_path(where)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return False, None
    except OSError as err:
        raise ChainccError(f"cannot read the cache settings {path}: "
                           f"{err.strerror or err}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
        value = doc["max_bytes"]
        if value is not None and (type(value) is not int or not 1 <= value <= MAX_LIMIT):
            raise ValueError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        raise ChainccError(f"the cache settings file {path} is damaged; set the limit "
                           f"again with 'chaincc cache limit SIZE'") from None
    return True, value


def limit(where: Path | None = None) -> tuple[int | None, str]:
    """The size limit in bytes (None: no limit) and where it comes from."""
    env = os.environ.get(LIMIT_ENV, "")
    if env.strip():
        return parse_size(env, f"${LIMIT_ENV}"), f"${LIMIT_ENV}"
    where = root() if where is None else where
    stored, value = _stored_limit(where)
    if stored:
        return value, f"set with 'chaincc cache limit' ({_settings_path(where)})"
    return DEFAULT_LIMIT, "the default"


def set_limit(value: int | None, where: Path | None = None, default: bool = False) -> None:
    """Store a limit in the cache directory (``default``: remove the stored one)."""
    where = root() if where is None else where
    path = _settings_path(where)
    if default:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        return
    cache._mkdirs(where)
    cache.write_bytes(path, json.dumps({"max_bytes": value}).encode("ascii"))


# ------------------------------------------------------------------ what the cache holds

def _walk(path: Path, now: float) -> tuple[int, float, bool]:
    """(bytes, newest modification time, a write under way) of a directory's files,
    without following links."""
    size, used, busy = 0, 0.0, False
    stack = [path]
    while stack:
        d = stack.pop()
        try:
            st = d.lstat()
            used = max(used, st.st_mtime)
            items = list(os.scandir(d))
        except OSError:
            continue
        for e in items:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if e.is_dir(follow_symlinks=False):
                stack.append(Path(e.path))
                continue
            size += st.st_size
            used = max(used, st.st_mtime)
            if _TEMP.fullmatch(e.name) and now - st.st_mtime < BUSY_SECONDS:
                busy = True
    return size, used, busy


def _file_entry(kind: str, e: os.DirEntry, now: float) -> Entry | None:
    try:
        st = e.stat(follow_symlinks=False)
    except OSError:
        return None
    busy = bool(_TEMP.fullmatch(e.name)) and now - st.st_mtime < BUSY_SECONDS
    return Entry(kind, Path(e.path), st.st_size, st.st_mtime, busy)


def _dir_entry(kind: str, path: Path, now: float, busy: bool = False) -> Entry:
    size, used, inner = _walk(path, now)
    return Entry(kind, path, size, used, busy or inner)


def _listing(d: Path) -> list[os.DirEntry]:
    if d.is_symlink() or not d.is_dir():
        return []
    try:
        return list(os.scandir(d))
    except OSError:
        return []


def scan(where: Path) -> list[Entry]:
    """Every chaincc entry under a cache directory (nothing else is listed)."""
    now = time.time()
    found: list[Entry] = []
    current = cache.space_name()
    for e in _listing(where):
        if not e.is_dir(follow_symlinks=False):
            continue
        if e.name != current and cache._SPACE.fullmatch(e.name):
            found.append(_dir_entry("other", Path(e.path), now))
    space = where / current
    for kind, pattern in _NAMES.items():
        for e in _listing(space / kind):
            is_dir = e.is_dir(follow_symlinks=False)
            if kind == "kernels" and is_dir and pattern.fullmatch(e.name):
                found.append(_dir_entry(kind, Path(e.path), now))
            elif not is_dir and (pattern.fullmatch(e.name) or _TEMP.fullmatch(e.name)):
                entry = _file_entry(kind, e, now)
                if entry is not None:
                    found.append(entry)
    for e in _listing(where / "c"):
        if not e.is_dir(follow_symlinks=False):
            continue
        if _KEY.fullmatch(e.name):
            found.append(_dir_entry("c", Path(e.path), now))
        elif _BUILD.fullmatch(e.name):
            entry = _dir_entry("c", Path(e.path), now)
            found.append(Entry("c", entry.path, entry.size, entry.used,
                               now - entry.used < BUSY_SECONDS))
    return found


def usage(where: Path | None = None) -> Usage:
    """The cache directory, its entries by kind, their total size and the limit."""
    where = root() if where is None else where
    entries = scan(where)
    counts = dict.fromkeys(KINDS, 0)
    for e in entries:
        if not _TEMP.fullmatch(e.path.name):
            counts[e.kind] += 1
    value, source = limit(where)
    return Usage(where, where.is_dir(), counts, sum(e.size for e in entries), value, source)


# ------------------------------------------------------------------ removing entries

def _remove(entry: Entry) -> bool:
    try:
        if entry.path.is_dir() and not entry.path.is_symlink():
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            entry.path.unlink()
    except FileNotFoundError:
        return False
    except OSError:
        return False
    return True


def _tally(entries: list[Entry], busy: int) -> Removed:
    counts = dict.fromkeys(KINDS, 0)
    for e in entries:
        counts[e.kind] += 1
    return Removed(counts, sum(e.size for e in entries), busy)


def clear(where: Path | None = None) -> Removed:
    """Remove every chaincc entry of the cache directory but those being written; files
    chaincc did not make, and the settings, stay."""
    where = root() if where is None else where
    removed, busy = [], 0
    for e in scan(where):
        if e.busy:
            busy += 1
        elif _remove(e):
            removed.append(e)
    if where.is_dir():
        cache.evict_others(where)                # the layout of format 3 and before
    with _state_lock:
        _estimates.pop(where, None)
    return _tally(removed, busy)


class _EvictionLock:
    """An exclusive, non-blocking lock on the cache directory, so that one process at a
    time evicts (the others skip it); held is False when another process has it."""

    def __init__(self, where: Path) -> None:
        self.path = where / _LOCK_FILE
        self.fd: int | None = None
        self.held = False

    def __enter__(self) -> _EvictionLock:
        try:
            import fcntl
        except ImportError:                      # no flock: evict unlocked
            self.held = True
            return self
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.held = True
        except OSError:
            self.held = False
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)                    # releases the lock


def evict(where: Path, max_bytes: int, keep: Path | None = None) -> tuple[Removed, int]:
    """If the cache is over ``max_bytes``, remove the least recently used entries until
    it is under ``LOW_WATER`` of it (never one being written, nor ``keep``); returns what
    was removed and the size left."""
    with _EvictionLock(where) as lock:
        entries = scan(where)
        total = sum(e.size for e in entries)
        if not lock.held or total <= max_bytes:
            return _tally([], 0), total
        goal = int(max_bytes * LOW_WATER)
        removed = []
        # other versions' directories first (no process of this version reads them)
        order = sorted((e for e in entries if not e.busy and e.path != keep),
                       key=lambda e: (e.kind != "other", e.used))
        for e in order:
            if total <= goal:
                break
            if _remove(e):
                removed.append(e)
            total -= e.size
        return _tally(removed, sum(e.busy for e in entries)), total


# ------------------------------------------------------------------ after every write

_state_lock = threading.Lock()
# per cache directory: (estimated size, when it was last scanned, its stored limit)
_estimates: dict[Path, tuple[int, float, int | None]] = {}
_warned: set[str] = set()


def _entry_of(where: Path, path: Path) -> Path | None:
    """The entry (under ``where``) that a written file belongs to."""
    try:
        parts = path.relative_to(where).parts
    except ValueError:
        return None
    return where.joinpath(*parts[:3]) if len(parts) >= 3 else None


def _quiet(read, *args) -> int | None:
    """A limit, or the default with one warning when it is not valid."""
    try:
        return read(*args)
    except ChainccError as err:
        if err.message not in _warned:
            _warned.add(err.message)
            cache._warn(f"{err.message}; the cache is kept within the default limit "
                        f"of {format_size(DEFAULT_LIMIT)}")
        return DEFAULT_LIMIT


def _env_limit() -> int | None | bool:
    """The limit ``$CHAINCC_CACHE_MAX_BYTES`` sets (False when it is not set)."""
    env = os.environ.get(LIMIT_ENV, "")
    return _quiet(parse_size, env, f"${LIMIT_ENV}") if env.strip() else False


def _stored_or_default(where: Path) -> int | None:
    stored, value = _stored_limit(where)
    return value if stored else DEFAULT_LIMIT


def after_write(path: Path, size: int) -> None:
    """Account for ``size`` bytes written at ``path``; evict when the cache is past its
    limit. The settings file is read, and the cache measured, at a process's first write,
    when its estimate passes the limit, and every ``RESCAN_SECONDS``. Never raises: a
    cache that cannot be measured or trimmed still works."""
    where = cache.cache_dir()
    now = time.monotonic()
    env = _env_limit()
    with _state_lock:
        known = _estimates.get(where)
        if known is not None and now - known[1] < RESCAN_SECONDS:
            max_bytes = known[2] if env is False else env
            if max_bytes is None or known[0] + size <= max_bytes:
                _estimates[where] = (known[0] + size, known[1], known[2])
                return
    stored = _quiet(_stored_or_default, where)
    max_bytes = stored if env is False else env
    total = 0
    if max_bytes is not None:
        try:
            _, total = evict(where, max_bytes, _entry_of(where, path))
        except OSError:
            return
    with _state_lock:
        _estimates[where] = (total, time.monotonic(), stored)
