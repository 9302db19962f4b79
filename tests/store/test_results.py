"""Result files read in a process that has loaded nothing else of dbkit."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import GOLDEN


def _fresh(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_read_result_reads_a_result_file_in_a_fresh_process() -> None:
    # A result names its runs' strategies; they are known once dbkit.strategies has registered
    # them, which reading a file must not leave to whatever the caller imported before.
    done = _fresh(
        "from dbkit.store.results import read_result\n"
        f"print(len(read_result({str(GOLDEN)!r}).runs))"
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 0


def test_the_public_api_knows_the_strategies_in_a_fresh_process() -> None:
    done = _fresh(
        "import dbkit\n"
        "print(dbkit.RunSpec(strategy='pool').strategy)\n"
        f"print(len(dbkit.read_result({str(GOLDEN)!r}).runs) > 0)"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["pool", "True"]
