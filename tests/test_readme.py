"""The README's Python example runs as written and prints what its comments say."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs():
    block = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert block is not None
    code = block.group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)   # the README's own example
    fn = scope["fn"]
    # every "expression   # result" line of the example gives that result
    for line in code.splitlines():
        expr, _, comment = line.partition("#")
        if expr.strip().startswith("fn") and "=" not in expr and comment.strip():
            assert repr(eval(expr, scope)) == comment.strip()
    assert scope["value"][-1] == fn(1.0, 2.0)
    assert scope["out"][1][0][-1] == fn.grad(1.0, 2.0)[0]
