"""A sweep over three pool sizes on a real server names its knee."""

from __future__ import annotations

from dbkit.servers import ServerSpec
from dbkit.spec import RunSpec
from dbkit.sweep import run_sweep


def test_sweep_over_three_sizes_names_a_knee() -> None:
    base = RunSpec("pool", tasks=40, queries=1, hold=0.05)
    result = run_sweep(base, [2, 5, 10], ServerSpec("embedded", max_connections=30))
    assert [r.params["pool_size"] for r in result.runs] == [2, 5, 10]
    assert all(r.ok == 40 and not r.errors for r in result.runs)
    assert result.sweep is not None and result.sweep["param"] == "pool_size"
    knee = result.sweep["knee"]
    assert knee is not None and knee["pool_size"] in (2, 5, 10)
    best = max(r.throughput_qps for r in result.runs)
    assert knee["throughput_qps"] >= 0.95 * best
    # pg_sleep scales with connections: 2 connections cannot be within 5 % of 10
    assert knee["pool_size"] != 2
    assert all(r.peak_server_connections <= r.params["pool_size"] for r in result.runs)
