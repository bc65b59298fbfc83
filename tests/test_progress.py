"""Compile progress: the stages report in order with monotone counts, a bar appears on
stderr only when asked (or on a terminal) and only after the delay, and importing chaincc
does not import tqdm."""

from __future__ import annotations

import io
import itertools
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import chaincc
from chaincc import progress
from chaincc.calling import ArgumentTypeError
from chaincc.cli import main

_fresh = itertools.count()


def rnn(steps: int) -> tuple[str, float]:
    """An unrolled recurrence no other test compiled (a fresh constant), and that
    constant."""
    c = 0.01 * (next(_fresh) + 1) + 1e-6 * (os.getpid() % 997)
    lines = ["h0 = 0"] + [f"h{t} = tanh(w·h{t - 1} + u·x + {c!r})"
                          for t in range(1, steps + 1)]
    lines.append(f"f(w, u, x) = h{steps}²")
    return "\n".join(lines) + "\n", c


def oracle(steps: int, c: float, point: tuple[float, float, float]):
    """Value, gradient and Hessian by SymPy: the expression built by hand, differentiated
    with sympy.diff."""
    w, u, x = syms = sp.symbols("w u x", real=True)
    h = sp.Integer(0)
    for _ in range(steps):
        h = sp.tanh(w * h + u * x + sp.Float(c, 30))
    f = h ** 2
    grad = [sp.diff(f, s) for s in syms]
    hess = [[sp.diff(g, s) for s in syms] for g in grad]
    value = sp.lambdify(syms, [f, grad, hess], "math")
    v, g, hs = value(*point)
    return v, g, np.array(hs)


class Recorder:
    """A fake sink: every event, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, int | None]] = []
        self.lock = threading.Lock()

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        with self.lock:
            self.events.append((stage, done, total))

    def stages(self) -> list[str]:
        seen: list[str] = []
        for name, _, _ in self.events:
            if name not in seen:
                seen.append(name)
        return seen


def check_monotone(events: list[tuple[str, int, int | None]]) -> None:
    """Each stage run starts at 0, never goes back, never passes its total, and ends at
    it when it has one."""
    runs: list[list[tuple[int, int | None]]] = []
    open_: dict[str, list] = {}
    for name, done, total in events:
        if done == 0 and (name not in open_ or open_[name][-1][0] != 0):
            open_[name] = []
            runs.append(open_[name])
        open_[name].append((done, total))
    assert runs
    for run in runs:
        counts = [d for d, _ in run]
        assert counts[0] == 0
        assert counts == sorted(counts), run
        total = run[0][1]
        assert all(t == total for _, t in run)
        if total is not None:
            assert counts[-1] == total and max(counts) <= total, run


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHAINCC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_stages_in_order_with_monotone_counts(cache_dir: Path) -> None:
    steps = 400                       # 1,600 forward statements: adjoint counts advance
    src, c = rnn(steps)
    rec = Recorder()
    fn = chaincc.compile(src, progress=rec)
    point = (0.3, -0.7, 0.9)
    v, g = fn.value_and_grad(*point)
    stages = rec.stages()
    assert stages[:3] == [progress.PARSE, progress.LOWER, progress.ADJOINT]
    assert progress.KERNELS in stages
    assert stages.index(progress.KERNELS) > stages.index(progress.ADJOINT)
    check_monotone(rec.events)
    lowered = [d for s, d, _ in rec.events if s == progress.LOWER]
    assert lowered[-1] >= steps                 # statements lowered, counted as made
    adjoint = [(d, t) for s, d, t in rec.events if s == progress.ADJOINT]
    assert adjoint[-1][1] >= 4 * steps and len(adjoint) > 2   # advanced along the way
    # reporting changes nothing in what is compiled
    quiet = chaincc.compile(src.replace("h0 = 0", "h0 = 0.0"))
    assert quiet.value_and_grad(*point) == (v, g)


def test_work_after_compile_reports_to_the_same_setting(cache_dir: Path) -> None:
    steps = 4
    src, c = rnn(steps)
    rec = Recorder()
    fn = chaincc.compile(src, progress=rec)
    point = (0.3, -0.7, 0.9)
    v, g = fn.value_and_grad(*point)
    before = len(rec.events)
    h = fn.hessian(*point)                      # a new program and kernel, at first call
    later = rec.events[before:]
    assert later and later[0][0] == progress.ADJOINT
    assert progress.KERNELS in {s for s, _, _ in later}
    check_monotone(later)
    want_v, want_g, want_h = oracle(steps, c, point)
    assert v == pytest.approx(want_v, rel=1e-13)
    assert np.allclose(g, want_g, rtol=1e-12, atol=1e-15)
    assert np.allclose(h, want_h, rtol=1e-11, atol=1e-14)


def test_silent_by_default_and_nothing_reported(cache_dir: Path, capfd) -> None:
    assert progress.stage(progress.LOWER, 10) is progress.NULL
    src, _ = rnn(30)
    fn = chaincc.compile(src)
    fn.value_and_grad(0.1, 0.2, 0.3)
    assert fn.unit.progress is None
    out, err = capfd.readouterr()
    assert err == ""


def test_progress_must_be_a_flag_or_a_callable() -> None:
    with pytest.raises(ArgumentTypeError, match="progress must be"):
        chaincc.compile("f(x) = x^2", progress="yes")


def test_threads_advance_one_stage() -> None:
    rec = Recorder()
    with progress.reporting(rec), progress.stage("work", 4000) as st:
        threads = [threading.Thread(target=lambda: [st.advance() for _ in range(1000)])
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert rec.events[-1] == ("work", 4000, 4000)
    check_monotone(rec.events)


def test_bar_waits_for_the_delay() -> None:
    out = io.StringIO()
    sink = progress.TqdmSink(file=out, delay=60.0)
    with progress.reporting(sink):
        with progress.stage(progress.LOWER) as st:
            st.update(5000)
        with progress.stage(progress.ADJOINT, 100) as st:
            st.advance(100)
    assert out.getvalue() == ""
    out = io.StringIO()
    with progress.reporting(progress.TqdmSink(file=out, delay=0.0)):
        with progress.stage(progress.LOWER) as st:
            st.update(5000)
        with progress.stage(progress.ADJOINT, 100) as st:
            st.advance(50)
    text = out.getvalue()
    assert "lowering" in text and "adjoint" in text


def write_program(tmp_path: Path, steps: int) -> Path:
    path = tmp_path / "rnn.txt"
    path.write_text(rnn(steps)[0], encoding="utf-8")
    return path


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("flag,tty,shown", [
    ("--progress", False, True),        # forced on without a terminal
    (None, False, False),               # not a terminal, not asked: silent
    (None, True, True),                 # a terminal: on by default
    ("--no-progress", True, False),     # forced off on a terminal
])
def test_cli_progress(cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys, flag, tty, shown) -> None:
    monkeypatch.setattr(progress, "DELAY", 0.0)      # show at once, however quick
    path = write_program(tmp_path, 300)
    argv = ["eval", str(path), "w=0.3", "u=-0.7", "x=0.9"] + ([flag] if flag else [])
    err = Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    assert main(argv) == 0
    assert "∂f/∂w" in capsys.readouterr().out
    text = err.getvalue()
    if shown:
        for name in (progress.PARSE, progress.LOWER, progress.ADJOINT, progress.KERNELS):
            assert name in text, text
    else:
        assert text == ""


def test_cli_without_terminal_prints_nothing(tmp_path: Path) -> None:
    path = write_program(tmp_path, 300)
    env = dict(os.environ, CHAINCC_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-m", "chaincc", "eval", str(path), "w=0.3",
                           "u=-0.7", "x=0.9"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "∂f/∂w" in done.stdout


def test_import_does_not_import_tqdm() -> None:
    code = ("import sys, chaincc; fn = chaincc.compile('f(x) = x^3'); "
            "assert fn(2.0) == 8.0; print('tqdm' in sys.modules)")
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    assert "tqdm" not in done.stderr          # the import-time table names every module
