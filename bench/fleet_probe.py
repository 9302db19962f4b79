"""Where a fleet's time goes: its efficiency over load processes x concurrency, and the CPU split.

Starts one server (max_connections 300, as the bench's fleet row) and runs every combination
of ``--procs`` and ``--concurrency`` (``default`` for run_fleet's own choice) ``--repeats`` times,
each run in a fresh interpreter (bench/worker.py), printing one line per run:

    .venv/bin/python bench/fleet_probe.py --pools 250 --pool-size 1 --procs 2 4 8 \\
        --concurrency default 1 2 4 [--out probe.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fleet_rows import MAX_CONNECTIONS, fleet_job, where_time_goes
from rows import BenchError, work

from dbkit.servers.embedded import EmbeddedServer


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, default=250, help="pools (replicas x 1 worker)")
    parser.add_argument("--pool-size", type=int, default=1, help="connections per pool")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per run")
    parser.add_argument(
        "--procs",
        nargs="+",
        default=["default"],
        help="load processes to try ('default': run_fleet's)",
    )
    parser.add_argument(
        "--concurrency",
        nargs="+",
        default=["default"],
        help="load tasks per pool to try ('default': 2 x pool size)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs per combination")
    parser.add_argument("--out", type=Path, help="also write every run's figures here (JSON)")
    return parser.parse_args(argv)


def _choice(text: str) -> int | None:
    return None if text == "default" else int(text)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    runs: list[dict[str, Any]] = []
    with EmbeddedServer(max_connections=MAX_CONNECTIONS) as server:
        # Repeats outermost: the machine's other load drifts, and each pass sees every setting.
        for _ in range(args.repeats):
            for procs in map(_choice, args.procs):
                for concurrency in map(_choice, args.concurrency):
                    job = fleet_job(
                        server, args.pools, args.pool_size, args.duration,
                        procs=procs, concurrency=concurrency,
                    )  # fmt: skip
                    try:
                        run = work(job)
                    except BenchError as exc:
                        print(f"procs {procs} concurrency {concurrency}: {exc}", flush=True)
                        continue
                    runs.append(run)
                    print(
                        f"procs {run['processes']:>2} concurrency {run['concurrency']:>2}: "
                        f"eff {run['efficiency']:.3f} ({run['ok']:,}/{run['ideal']:,.0f}, "
                        f"{run['failed']} failed) {where_time_goes(run)}; "
                        f"load CPU {run['load_cpu_s']:.1f} s in {run['call_s']:.1f} s call",
                        flush=True,
                    )
    if args.out is not None:
        args.out.write_text(json.dumps(runs, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
