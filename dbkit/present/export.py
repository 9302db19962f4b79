"""Result documents out to other tools: one CSV row per run, and the never-overwrite writer."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dbkit.model.errors import ConfigError
from dbkit.model.results import Result, Run
from dbkit.store.files import write_new

PARAMS = ("pool_size", "max_overflow", "limit", "batch_size", "mode")
SUMMARIES = ("latency", "wait", "service")  # one latency and its two parts (dbkit.model.results)
QUANTILES = ("p50", "p90", "p99", "max")
COLUMNS = (
    "source",
    "backend",
    "server_version",
    "max_connections",
    "strategy",
    "name",
    *PARAMS,
    "tasks",
    "ok",
    "failed",
    "interrupted",
    "wall_s",
    "ideal_s",
    "efficiency",
    "throughput_qps",
    *(f"{part}_{q}_s" for part in SUMMARIES for q in QUANTILES),
    "peak_connections",
    "peak_server_connections",
    "active_peak",
    "active_p99",
    "demand",
    "errors",
)


def error_counts(run: Run) -> str:
    """``53300:808;TimeoutError:20``: counts by SQLSTATE, or by exception type without one."""
    counts: dict[str, int] = {}
    for err in run.errors:
        counts[err.label] = counts.get(err.label, 0) + err.count
    return ";".join(f"{label}:{count}" for label, count in counts.items())


def _cell(value: Any) -> Any:
    return "" if value is None else value


def csv_row(source: Path, result: Result, run: Run) -> dict[str, Any]:
    """One run as a CSV row keyed by ``COLUMNS``; missing values are empty cells."""
    meta = result.metadata
    summaries = {"latency": run.latency_s, "wait": run.wait_s, "service": run.service_s}
    row: dict[str, Any] = {
        "source": str(source),
        "backend": meta.get("backend"),
        "server_version": meta.get("server_version"),
        "max_connections": meta.get("max_connections"),
        "strategy": run.strategy,
        "name": run.name,
        **{key: run.params.get(key) for key in PARAMS},
        "tasks": run.tasks,
        "ok": run.ok,
        "failed": run.failed,
        "interrupted": run.interrupted,  # a partial run: its figures stop at the Ctrl-C
        "wall_s": run.wall_s,
        "ideal_s": run.ideal_s,
        "efficiency": run.efficiency,
        "throughput_qps": run.throughput_qps,
        **{f"{part}_{q}_s": getattr(summaries[part], q) for part in SUMMARIES for q in QUANTILES},
        "peak_connections": run.peak_connections,
        "peak_server_connections": run.peak_server_connections,
        "active_peak": run.active_peak,
        "active_p99": run.active_p99,
        "demand": run.demand,
        "errors": error_counts(run),
    }
    return {key: _cell(value) for key, value in row.items()}


def write_csv(results: Sequence[tuple[Path, Result]], path: Path) -> Path:
    """One row per run of every (source file, result) pair, under a header of ``COLUMNS``.

    Written atomically. Raises ConfigError when ``path`` exists (it is never overwritten) or
    cannot be written (``cannot write PATH: <reason>``).
    """
    path = Path(path)
    if path.exists():  # checked first so nothing is formatted for a doomed file
        raise ConfigError(f"{path} already exists; dbkit never overwrites a CSV")
    rows = [csv_row(source, result, run) for source, result in results for run in result.runs]

    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    data = text.getvalue().encode("utf-8")
    try:
        return write_new(path, lambda out: out.write(data))
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
