"""Heavy drivers load only when used: a run's process carries what it measures, no more."""

from __future__ import annotations

import subprocess
import sys


def test_the_engine_loads_neither_psycopg_nor_sqlalchemy_until_a_run_needs_one() -> None:
    # psycopg (the PgBouncer console, the psycopg strategy) is about 5 MB of every process
    # that imports it; SQLAlchemy's objects would sit on every run's heap (bench/README.md).
    code = (
        "import sys, dbkit.cli, dbkit.engine.run, dbkit.engine.fleet, dbkit.engine.monitor\n"
        "print(sorted(m for m in ('psycopg', 'psycopg_pool', 'sqlalchemy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
