"""The corruption matrix (see tests/cache_matrix.py): every kind of cache file damaged
every way is discarded with one warning and rebuilt by a new process, which computes
the right answer and never runs what it read."""

from __future__ import annotations

from pathlib import Path

import pytest
from cache_matrix import ROWS, cells, run_matrix, table


@pytest.fixture(scope="module")
def matrix(tmp_path_factory) -> dict[tuple[str, str], dict]:
    results = run_matrix(Path(tmp_path_factory.mktemp("matrix")))
    print(table(results))
    return {(r["row"], r["column"]): r for r in results}


@pytest.mark.parametrize("row,column", cells())
def test_a_damaged_entry_is_rebuilt(matrix, row, column) -> None:
    r = matrix[(row, column)]
    assert r["right"], r
    assert len(r["warnings"]) == 1 and "damaged cache entry" in r["warnings"][0], r
    assert r["rebuilt"], r
    assert not r["ran_forged_code"], r


def test_the_matrix_covers_every_file_kind() -> None:
    assert set(ROWS) == {"meta", "py", "nbi", "nbc", "o"} and len(cells()) == 25
