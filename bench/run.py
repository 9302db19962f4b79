"""`make bench`: the kit against its references, as a table of ratios and a result file.

A benchmark, not a test: every row runs the kit and its reference (the ideal time, pgbench, the
bare post script, a bare asyncpg gather, the bare server binaries) in the same run, then says
whether the ratio meets the issue's goal. See bench/README.md.

    .venv/bin/python bench/run.py [--quick] [--out PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import dask_rows
import fleet_rows
import machine
import pgbouncer_rows
import rows as bench_rows
from rows import FULL, QUICK, Row, Settings

from dbkit.servers.embedded import EmbeddedServer, find_bindir
from dbkit.store.files import write_new
from dbkit.store.results import default_path

FORMAT = "dbkit.bench/1"
RESULTS = Path(__file__).resolve().parent / "results"
HEADERS = ("row", "kit", "reference", "ratio", "goal", "met?")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a fast smoke pass: small N, 2-second windows (~2 minutes)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="result file, never overwritten (default bench/results/bench-<UTC time>.json)",
    )
    return parser.parse_args(argv)


def measure_all(cfg: Settings) -> tuple[list[Row], dict[str, Any]]:
    """Every row, server rows first; the server stops before the CPU-bound sleep rows."""
    out: list[Row] = []
    with EmbeddedServer(max_connections=100) as server:
        assert server.info is not None
        info = {"server_version": server.info.server_version, "max_connections": 100}
        out += bench_rows.pool_rows(server, cfg)
        out += bench_rows.qps_rows(server, cfg)
        out += bench_rows.connect_rows(server, cfg)
        out.append(bench_rows.storm_row(server, cfg))
        out += pgbouncer_rows.pgbouncer_rows(server, cfg)
    out += fleet_rows.fleet_rows(cfg)  # its own server: max_connections 300
    out += dask_rows.dask_rows(cfg)  # its own server too
    out += bench_rows.sleep_rows(cfg)
    out += bench_rows.start_rows(cfg)
    order = (
        "pool", "sleep", "qps", "pgbouncer", "connect", "storm", "fleet", "dask", "memory", "start"
    )  # fmt: skip
    out.sort(key=lambda row: order.index(row.group))
    return out, info


# -- formatting -----------------------------------------------------------------------------


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("q/s", "conn/s"):
        return f"{value:,.0f} {unit}"
    if unit == "ok":
        return f"{value:,.0f} {unit}"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:.2f} {unit}"


def met_text(row: Row) -> str:
    if row.met is None:
        return "-" if row.goal.on == "none" else "n/a"
    return "yes" if row.met else "MISS"


def format_table(table_rows: Sequence[Row]) -> list[str]:
    """The table as lines: row | kit | reference | ratio | goal | met?, then the misses."""
    cells = [
        (r.name, fmt(r.kit, r.unit), fmt(r.reference, r.unit),
         "-" if r.ratio is None else f"{r.ratio:.2f}", r.goal.text, met_text(r))
        for r in table_rows
    ]  # fmt: skip
    widths = [max(len(c[i]) for c in [HEADERS, *cells]) for i in range(len(HEADERS))]
    align = ("<", ">", ">", ">", "<", "<")

    def line(values: Sequence[str]) -> str:
        return "  ".join(f"{v:{a}{w}}" for v, a, w in zip(values, align, widths, strict=True))

    lines = [line(HEADERS), line(["-" * w for w in widths])]
    lines += [line(c) for c in cells]
    misses = [r for r in table_rows if r.met is False or r.note.startswith("not measured")]
    if misses:
        lines += ["", "misses and notes:"]
        lines += [f"  {r.name}: {r.note}" for r in misses]
    return lines


def document(
    table_rows: Sequence[Row],
    meta: dict[str, Any],
    cfg: Settings,
    argv: Sequence[str],
    started: dt.datetime,
    elapsed: float,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "metadata": {
            **meta,
            "command": ["bench/run.py", *argv],
            "started_at": started.isoformat(timespec="seconds"),
            "elapsed_s": round(elapsed, 1),
            "quick": cfg is QUICK,
            "settings": asdict(cfg),
            "load_average_at_end": machine.load_average(),
        },
        "rows": [r.to_dict() for r in table_rows],
    }


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    cfg = QUICK if args.quick else FULL
    started = dt.datetime.now(dt.UTC)
    out = args.out or default_path("bench", RESULTS, started)
    if out.exists():
        print(f"{out} already exists; the bench never overwrites a result", file=sys.stderr)
        return 2
    meta = machine.describe()
    meta["pgbench"] = machine.pgbench_version(str(find_bindir() / "pgbench"))
    clock = time.perf_counter()
    table_rows, server = measure_all(cfg)
    meta["server"] = server
    doc = document(table_rows, meta, cfg, argv, started, time.perf_counter() - clock)
    print("\n".join(format_table(table_rows)))
    path = write_new(out, lambda f: f.write((json.dumps(doc, indent=2) + "\n").encode()))
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    print(f"\nresult: {shown} ({doc['metadata']['elapsed_s']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
