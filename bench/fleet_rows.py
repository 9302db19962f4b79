"""Fleet efficiency: completions of a `dbkit.run_fleet` run against connections x duration / hold.

Each pool of pool_size connections can complete at most pool_size statements of `hold` seconds
each `hold` seconds, so a fleet of P pools of size S can complete at most P x S x duration / hold
(the issue's "pools x duration / hold" at pool size 1). The runs use run_fleet's own defaults
for processes and concurrency, as `dbkit fleet` does; bench/fleet_probe.py varies them. Each
run's note says which processes kept the CPUs busy during the fleet's window (bench/cpu.py).
"""

from __future__ import annotations

import statistics
from functools import partial
from typing import Any

from rows import Goal, Row, Settings, guarded, say, work

from dbkit.servers.embedded import EmbeddedServer

MAX_CONNECTIONS = 300
HOLD_S = 0.05
GOAL = 0.95
SHAPES = ((10, 9), (250, 1))  # (pools, pool_size)


def fleet_job(
    server: EmbeddedServer, pools: int, pool_size: int, duration: float, **options: Any
) -> dict[str, Any]:
    """A bench/worker.py job: run_fleet on ``server`` (as a DSN: the bench started it)."""
    return {
        "kind": "fleet",
        "app_dsn": server.app_dsn,
        "server_pid": server.pid,
        "pools": pools,
        "pool_size": pool_size,
        "duration": duration,
        "hold": HOLD_S,
        **options,
    }


def where_time_goes(run: dict[str, Any]) -> str:
    """``load procs 1.7 of 2 cores, server 0.3, ...``: average cores in the fleet's window."""
    cores, cost, opening = run["cores"], run["cpu_us_per_ok"], run["opening"]
    full, while_open = opening["all_open_s"], run["efficiency_while_open"]

    def show(part: str) -> str:
        value = cores.get(part)
        return "?" if value is None else f"{value:.2f}"

    return (
        f"all connections open at {'-' if full is None else f'{full:.2f}'} s "
        f"({opening['share_lost']:.0%} of the ideal lost opening them; efficiency while open "
        f"{'-' if while_open is None else f'{while_open:.2f}'}); "
        f"load procs {show('load')} of {run['cpu_count']} cores, server {show('server')}, "
        f"coordinator {show('parent')}, other processes {show('others')}, "
        f"interrupts {show('irq')}, steal {show('steal')}; per completion: load procs "
        f"{cost.get('load')} us, server {cost.get('server')} us"
    )


def fleet_rows(cfg: Settings) -> list[Row]:
    """Both shapes on a server of max_connections 300, ``cfg.repeats`` runs each."""
    say("7. fleet efficiency")
    rows = []
    with EmbeddedServer(max_connections=MAX_CONNECTIONS) as server:
        for pools, size in SHAPES:
            row = Row(
                "fleet", f"fleet efficiency, {pools} pools x {size}", "ok",
                Goal("ratio", ">=", GOAL, f"eff >= {GOAL}"),
            )  # fmt: skip
            measure = partial(_fleet, server=server, cfg=cfg, pools=pools, size=size)
            rows.append(guarded(row, measure))
    return rows


def _fleet(row: Row, server: EmbeddedServer, cfg: Settings, pools: int, size: int) -> None:
    runs = [work(fleet_job(server, pools, size, cfg.duration_s)) for _ in range(cfg.repeats)]
    runs.sort(key=lambda r: r["efficiency"])
    middle = runs[len(runs) // 2]  # the median run, whose CPU split the note gives
    row.kit = statistics.median(r["ok"] for r in runs)
    row.reference = middle["ideal"]
    row.ratio = statistics.median(r["efficiency"] for r in runs)
    spread = f"{runs[0]['efficiency']:.2f}-{runs[-1]['efficiency']:.2f}"
    row.note = (
        f"{row.ratio:.2f} (median of {len(runs)}, {spread}; {where_time_goes(middle)}); "
        f"ideal {pools} x {size} x {cfg.duration_s} s / {HOLD_S} s"
    )
    row.raw = {
        "statistic": f"median of {len(runs)} runs",
        "max_connections": MAX_CONNECTIONS,
        "efficiency": [r["efficiency"] for r in runs],
        "runs": runs,
    }
