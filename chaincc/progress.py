"""Progress of long compiles: the stages call a small reporting interface, and a sink shows
it (a progress bar on stderr, or any callback).

The compiler's stages open a :func:`stage` (a name and, where known, the amount of work)
and advance it as they go: statements lowered, statements swept by the adjoint, kernels
compiled. Which reporter hears them is set around a compile with :func:`reporting`; with
none set, :func:`stage` returns a shared object whose methods do nothing, so a compile
without progress pays one context-variable lookup per stage.

A sink is called as ``sink(stage, done, total)`` (``total`` None where the amount of work
is not known in advance): once when a stage opens (``done`` 0), as it advances (``done``
never decreasing) and when it ends. :class:`TqdmSink` draws it with tqdm, imported only
when a bar is made, and only once the compile has run for ``delay`` seconds, so quick
compiles print nothing.
"""

from __future__ import annotations

import contextvars
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

Callback = Callable[[str, int, "int | None"], None]
# What a compile is given: False or None (silent), True (a bar on stderr after DELAY
# seconds), or a callback, called for every event without delay.
Setting = bool | Callback | None

# Seconds a compile runs before a bar appears.
DELAY = 2.0

# The stages, in the order a compile meets them.
PARSE = "parsing"
LOWER = "lowering"
ADJOINT = "adjoint"
KERNEL_SOURCE = "kernel source"
KERNELS = "compiling kernels"

# What each stage counts (the bar's unit).
UNITS = {PARSE: "files", LOWER: "statements", ADJOINT: "statements",
         KERNEL_SOURCE: "modules", KERNELS: "kernels"}


class Sink:
    """Where progress goes: called for every event; ``end`` when a stage ends, ``close``
    when the compile is done."""

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        raise NotImplementedError

    def end(self, stage: str) -> None:
        pass

    def close(self) -> None:
        pass


class _CallbackSink(Sink):
    def __init__(self, callback: Callback) -> None:
        self._callback = callback

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        self._callback(stage, done, total)


class Stage:
    """One stage of a compile, open as a context manager: ``advance(n)`` adds work done,
    ``update(done)`` sets it (never backwards). On a normal exit a stage with a total
    reports it complete."""

    __slots__ = ("name", "total", "done", "_reporter")

    def __init__(self, reporter: Reporter, name: str, total: int | None) -> None:
        self._reporter = reporter
        self.name = name
        self.total = total
        self.done = 0

    def advance(self, n: int = 1) -> None:
        self._reporter.move(self, self.done + n)

    def update(self, done: int) -> None:
        self._reporter.move(self, done)

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, kind, value, tb) -> None:
        self._reporter.finish(self, complete=kind is None)


class _NullStage:
    """The stage when no reporter is set: every method does nothing."""

    __slots__ = ()
    name, total, done = "", None, 0

    def advance(self, n: int = 1) -> None:
        pass

    def update(self, done: int) -> None:
        pass

    def __enter__(self) -> _NullStage:
        return self

    def __exit__(self, kind, value, tb) -> None:
        pass


NULL = _NullStage()
AnyStage = Stage | _NullStage


class Reporter:
    """Passes stage events to a sink, one event at a time (stages may advance from
    several threads)."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self._lock = threading.Lock()

    def open(self, name: str, total: int | None) -> Stage:
        stage = Stage(self, name, total)
        with self._lock:
            self.sink(name, 0, total)
        return stage

    def move(self, stage: Stage, done: int) -> None:
        with self._lock:
            if stage.total is not None:
                done = min(done, stage.total)
            if done > stage.done:
                stage.done = done
                self.sink(stage.name, done, stage.total)

    def finish(self, stage: Stage, complete: bool) -> None:
        with self._lock:
            if complete and stage.total is not None and stage.done < stage.total:
                stage.done = stage.total
                self.sink(stage.name, stage.done, stage.total)
            self.sink.end(stage.name)

    def close(self) -> None:
        with self._lock:
            self.sink.close()


_current: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar(
    "chaincc_progress", default=None)


def stage(name: str, total: int | None = None) -> AnyStage:
    """A stage of the compile under way, reported to the current reporter (use it as a
    context manager); the do-nothing stage when there is none."""
    reporter = _current.get()
    if reporter is None:
        return NULL
    return reporter.open(name, total)


def active() -> bool:
    """Whether progress is being reported here."""
    return _current.get() is not None


def make_sink(setting: Setting) -> Sink | None:
    """The sink for a setting: None (silent) for False or None, a bar on stderr for True,
    the callback itself for a callable."""
    if setting is None or setting is False:
        return None
    if setting is True:
        return TqdmSink()
    if isinstance(setting, Sink):
        return setting
    if callable(setting):
        return _CallbackSink(setting)
    raise TypeError(f"progress must be True, False or a callable (stage, done, total), "
                    f"got {type(setting).__name__}")


@contextmanager
def reporting(setting: Setting) -> Iterator[Reporter | None]:
    """Report the stages run inside to ``setting``'s sink; inside another ``reporting``
    the reporter already set is kept (one bar per compile, whoever asked first)."""
    current = _current.get()
    if current is not None:
        yield current
        return
    sink = make_sink(setting)
    if sink is None:
        yield None
        return
    reporter = Reporter(sink)
    token = _current.set(reporter)
    try:
        yield reporter
    finally:
        _current.reset(token)
        reporter.close()


@contextmanager
def task(setting: Setting, name: str, total: int | None = None) -> Iterator[AnyStage]:
    """One stage, reported to the current reporter or else to ``setting``'s sink."""
    with reporting(setting), stage(name, total) as st:
        yield st


_COUNTED = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}]"
_COUNTING = "{desc}: {n_fmt} {unit} [{elapsed}]"


class TqdmSink(Sink):
    """A tqdm bar per stage on ``file`` (default stderr), shown only once ``delay``
    seconds have passed since the sink was made (tqdm's ``delay``), and removed when the
    stage ends. A stage that runs long without advancing (one kernel compiling) has its
    bar redrawn every half second, so its elapsed time keeps moving."""

    TICK = 0.5

    def __init__(self, file: IO[str] | None = None, delay: float | None = None) -> None:
        self.file = file if file is not None else sys.stderr
        self.delay = DELAY if delay is None else delay
        self._start = time.monotonic()
        self._lock = threading.RLock()
        self._bars: dict[str, object] = {}
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        with self._lock:
            bar = self._bars.get(stage)
            if bar is None:
                from tqdm import tqdm
                wait = max(0.0, self._start + self.delay - time.monotonic())
                bar = tqdm(total=total, desc=stage, unit=UNITS.get(stage, "steps"),
                           file=self.file, delay=wait, leave=False, mininterval=0.1,
                           dynamic_ncols=True,
                           bar_format=_COUNTED if total is not None else _COUNTING)
                self._bars[stage] = bar
                self._tick_soon()
            step = done - bar.n
            if step > 0:
                bar.update(step)

    def end(self, stage: str) -> None:
        with self._lock:
            bar = self._bars.pop(stage, None)
            if bar is not None:
                bar.close()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            for bar in self._bars.values():
                bar.close()
            self._bars.clear()

    def _tick_soon(self) -> None:
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="chaincc-progress",
                                            daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.TICK):
            with self._lock:
                if time.monotonic() < self._start + self.delay:
                    continue
                for bar in self._bars.values():
                    bar.refresh()
