"""Result documents as text: ``format_*`` functions return lines; printing is the caller's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from dbkit.model.repeats import Spread, groups, repeated, same_run
from dbkit.model.results import Result, Run, SweepSection
from dbkit.present.tables import align

# The background post's sleep figures (2021, 2.6 GHz i7), by (tasks, mode), in seconds.
POST_SLEEP_S: dict[tuple[int, str], float] = {
    (10_000, "unbatched"): 0.51,
    (10_000, "batched"): 1.69,
    (100_000, "unbatched"): 6.24,
    (100_000, "batched"): 5.86,
}

COLUMNS = (
    ("run", "<"),
    ("tasks", ">"),
    ("ok", ">"),
    ("failed", ">"),
    ("wall s", ">"),
    ("ideal s", ">"),
    ("eff", ">"),
    ("q/s", ">"),
    ("p50 s", ">"),
    ("p99 s", ">"),
    ("active pk/p99", ">"),
    ("demand", ">"),
    ("peak conn", ">"),
    ("errors", "<"),
)


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def error_cell(run: Run) -> str:
    """``53300 x808, TimeoutError x20``: counts by SQLSTATE (or type when there is none)."""
    if not run.errors:
        return "none"
    return ", ".join(f"{err.label} x{err.count}" for err in run.errors)


def peak_cell(own: int | None, server: int | None) -> str:
    """``97``, or ``97 (server 102)`` where other clients held connections too; ``server 96``
    for files from before the kit told its own connections apart."""
    if own is None:
        return "-" if server is None else f"server {server}"
    return str(own) if server is None or server == own else f"{own} (server {server})"


def active_cell(run: Run) -> str:
    """``5/4.2``: the run's own connections in state active, peak and p99 over its window
    (dbkit.model.rightsize); ``-`` when not sampled."""
    if run.active_peak is None:
        return "-"
    return f"{run.active_peak}/{_num(run.active_p99, 1)}"


def run_cell(run: Run) -> str:
    """The run's name, and ``via pgbouncer`` when it went through a pooler: every figure and
    error of that row came through the pooler (the workload's only peer)."""
    return run.name if run.pooler is None else f"{run.name} via {run.pooler.kind}"


def _row(run: Run) -> list[str]:
    own, server = _peaks(run)
    return [
        run_cell(run),
        str(run.tasks),
        str(run.ok),
        str(run.failed),
        _num(run.wall_s),
        _num(run.ideal_s),
        _num(run.efficiency, 2),
        f"{run.throughput_qps:,.0f}",
        _num(run.latency_s.p50),
        _num(run.latency_s.p99),
        active_cell(run),
        _num(run.demand, 1),
        peak_cell(own, server),
        error_cell(run),
    ]


def _peaks(run: Run) -> tuple[int | None, int | None]:
    # Through a pooler the server's connections are the pooler's, not the run's: each
    # carries the application_name PgBouncer last set on it, which asyncpg's pool reset
    # (RESET ALL) clears; so the row shows the server's count only.
    return run.peak_connections if run.pooler is None else None, run.peak_server_connections


def spread_cell(values: Sequence[float | None], show: Callable[[float], str]) -> str:
    """Repeats' values as ``median (min-max)``, the median alone when all read the same,
    ``-`` when none was measured."""
    spread = Spread.of(values)
    if spread is None:
        return "-"
    low, high = show(spread.low), show(spread.high)
    if low == high:  # equal as shown: no range to show
        return show(spread.median)
    return f"{show(spread.median)} ({low}-{high})"


def _count(value: float) -> str:
    return f"{value:g}"


def repeats_row(runs: Sequence[Run]) -> list[str]:
    """One row for a run's repeats: each figure's median (min-max) over them, and how many;
    errors by class, each count a median over the repeats (0 where a repeat had none)."""
    own = [_peaks(run)[0] for run in runs]
    server = [_peaks(run)[1] for run in runs]
    peak = spread_cell(own, _count)
    if any(s is not None and s != o for o, s in zip(own, server, strict=True)):
        others = spread_cell(server, _count)  # as peak_cell: other clients held some too
        peak = f"server {others}" if peak == "-" else f"{peak} (server {others})"
    labels = dict.fromkeys(err.label for run in runs for err in run.errors)
    counts = {
        label: [sum(e.count for e in run.errors if e.label == label) for run in runs]
        for label in labels
    }
    errors = ", ".join(f"{label} x{spread_cell(n, _count)}" for label, n in counts.items())
    return [
        run_cell(runs[0]),
        str(len(runs)),
        spread_cell([run.tasks for run in runs], _count),
        spread_cell([run.ok for run in runs], _count),
        spread_cell([run.failed for run in runs], _count),
        spread_cell([run.wall_s for run in runs], _num),
        spread_cell([run.ideal_s for run in runs], _num),
        spread_cell([run.efficiency for run in runs], lambda v: _num(v, 2)),
        spread_cell([run.throughput_qps for run in runs], lambda v: f"{v:,.0f}"),
        spread_cell([run.latency_s.p50 for run in runs], _num),
        spread_cell([run.latency_s.p99 for run in runs], _num),
        spread_cell([run.active_peak for run in runs], _count),
        spread_cell([run.demand for run in runs], lambda v: _num(v, 1)),
        peak,
        errors or "none",
    ]


def format_table(runs: Sequence[Run]) -> list[str]:
    """One aligned text row per run, under a header. Where a run was repeated (see
    dbkit.model.repeats), one row for its repeats that finished (``repeats_row``), a
    ``runs`` column saying how many, and a row of its own for a repeat cut short."""
    columns = list(COLUMNS)
    if not repeated(runs):
        rows = [_row(run) for run in runs]
    else:
        columns.insert(1, ("runs", ">"))
        rows = []
        for group in groups(runs):
            finished = [run for run in group if not run.interrupted]
            if len(group) == 1 or not finished:
                rows += [[run_cell(run), "1", *_row(run)[1:]] for run in group]
                continue
            rows.append(repeats_row(finished))
            rows += [
                [f"{run_cell(run)} (interrupted)", "1", *_row(run)[1:]]
                for run in group
                if run.interrupted
            ]
    header = [name for name, _ in columns]
    left = [i for i, (_, side) in enumerate(columns) if side == "<"]
    return align(header, rows, left=left, rule=True)


def repeats_note(runs: Sequence[Run]) -> list[str]:
    """What a table of repeated runs shows, said once under it."""
    if not repeated(runs):
        return []
    return [
        "runs repeated: each figure is the median (min-max) of the repeats that finished; "
        "a repeat cut short by Ctrl-C has its own row"
    ]


def repeat_marks(runs: Sequence[Run]) -> list[str]:
    """Per run, `` #2`` for the second repeat of a run (`` #1`` for the first), nothing for a
    run not repeated: a line about one run must say which repeat it is about."""
    total = Counter(same_run(run) for run in runs)
    seen: Counter[tuple[str, str | None]] = Counter()
    marks = []
    for run in runs:
        seen[same_run(run)] += 1
        marks.append(f" #{seen[same_run(run)]}" if total[same_run(run)] > 1 else "")
    return marks


def format_server(result: Result) -> str:
    meta = result.metadata
    loop = f"{meta.get('event_loop')} loop, {meta.get('cpu_count')} CPUs"
    if not meta.get("backend"):
        return f"no database ({loop})"
    role = meta.get("app_role")
    kind = "superuser" if meta.get("app_role_is_superuser") else "plain role"
    reserved = meta.get("superuser_reserved_connections")
    return (
        f"PostgreSQL {meta.get('server_version')} ({meta.get('backend')}), "
        f"max_connections {meta.get('max_connections')}, {reserved} superuser-reserved; "
        f"workload as {role} ({kind}); {loop}" + pooler_note(meta.get("pooler"))
    )


def pooler_note(pooler: Any) -> str:
    """``; runs marked via pgbouncer went through PgBouncer 1.18.0 (transaction mode, pool
    20, max_client_conn 1001)``, or nothing when no run went through a pooler."""
    if not isinstance(pooler, dict):
        return ""
    settings = pooler.get("settings") or {}
    name = {"pgbouncer": "PgBouncer"}.get(str(pooler.get("kind")), str(pooler.get("kind")))
    return (
        f"; runs marked via {pooler.get('kind')} went through {name} {pooler.get('version')} "
        f"({settings.get('pool_mode')} mode, pool {settings.get('default_pool_size')}, "
        f"max_client_conn {settings.get('max_client_conn')})"
    )


def format_pooler(runs: Sequence[Run]) -> list[str]:
    """Per run through a pooler, its console's peaks: ``unbatched via pgbouncer: clients
    active 501, waiting 480; server connections active 20, idle 0; longest wait 0.91 s``."""
    lines = []
    for run, mark in zip(runs, repeat_marks(runs), strict=True):
        if run.pooler is None:
            continue
        peaks = run.pooler.peaks()
        if peaks["cl_active"] is None:
            lines.append(f"{run_cell(run)}{mark}: no console reading (a run split over processes)")
            continue
        wait = peaks["maxwait_s"]
        lines.append(
            f"{run_cell(run)}{mark}: clients active {peaks['cl_active']}, waiting "
            f"{peaks['cl_waiting']}; server connections active {peaks['sv_active']}, idle "
            f"{peaks['sv_idle']}; longest wait {_num(wait, 2)} s"
        )
    return lines


# Error classes of drivers that carry the server's SQLSTATE whenever they have it: one of them
# without a code is a failure the driver reported without it (psycopg's refused connection).
SQLSTATE_DRIVERS = ("psycopg.",)
NOT_REPORTED = "the driver did not report a SQLSTATE; "


def format_errors(runs: Sequence[Run]) -> list[str]:
    """One line per error class: count, SQLSTATE, type, first/last seen, example message."""
    lines = []
    for run, mark in zip(runs, repeat_marks(runs), strict=True):
        for err in run.errors:
            silent = err.sqlstate is None and err.type.startswith(SQLSTATE_DRIVERS)
            lines.append(
                f"{run_cell(run)}{mark}: {err.count} x {err.sqlstate or '-'} {err.type} "
                f"({NOT_REPORTED if silent else ''}"
                f"first {err.first_s:.2f} s, last {err.last_s:.2f} s): "
                f"{err.example or '(no message)'}"
            )
    return lines


def format_faults(runs: Sequence[Run]) -> list[str]:
    """``pool-50: restart at 2.00 s (0.12 s), first success 0.35 s later; 170 tasks failed``."""
    lines = []
    for run, mark in zip(runs, repeat_marks(runs), strict=True):
        for fault in run.faults:
            recovery = fault.recovery_s
            recovered = (
                f"first successful query {recovery:.2f} s after it"
                if recovery is not None
                else "no successful query after it"
            )
            errors = ", ".join(f"{k} x{v}" for k, v in fault.errors_by_sqlstate.items())
            lines.append(
                f"{run.name}{mark}: {fault.kind} at {fault.at_s:.2f} s (took "
                f"{fault.action_s:.2f} s), {recovered}; {fault.failed} tasks failed"
                + (f" ({errors})" if errors else "")
                + (f"; {run.retries} retries" if run.retries else "")
            )
    return lines


def format_post_comparison(runs: Sequence[Run]) -> list[str]:
    """The sleep runs next to the background post's figures, where the post measured them."""
    lines = []
    for run, mark in zip(runs, repeat_marks(runs), strict=True):
        mode = run.params.get("mode")
        post = POST_SLEEP_S.get((run.tasks, str(mode))) if run.strategy == "sleep" else None
        if post is not None:
            lines.append(
                f"{run.name}{mark} at {run.tasks:,}: {run.wall_s:.2f} s here, {post:.2f} s in the "
                f"background post ({run.wall_s / post:.2f}x)"
            )
    return lines


def format_sweep(sweep: SweepSection | None, interrupted: bool = False) -> list[str]:
    """``knee: pool_size 4 (1,234 q/s, within 5 % of the best: 1,250 q/s at pool_size 16)``."""
    if sweep is None:
        return []
    knee, param = sweep.knee, sweep.param
    if knee is None and interrupted:
        return [f"knee: none (interrupted before any {param} value finished)"]
    if knee is None:
        return [f"knee: none (no {param} value completed any task)"]
    noise = knee.noise
    measured = (
        f"noise {noise:.0%} over {sweep.repeat} rounds"
        if noise is not None
        else "noise not measured: --repeat 3 measures it"
    )
    best = f"{knee.best_throughput_qps:,.0f} q/s at {param} {knee.best_value}"
    if knee.value is None or knee.throughput_qps is None:
        return [
            f"knee: none within the grid (the best, {best}, is its largest {param}; {measured})"
        ]
    return [
        f"knee: {param} {knee.value} ({knee.throughput_qps:,.0f} q/s, within "
        f"{sweep.tolerance:.0%} of the best: {best}; {measured})"
    ]


def format_result(result: Result, title: str | None = None) -> list[str]:
    """The whole report of one document: server line, table, errors, post comparison."""
    lines = []
    if title:
        lines.append(title)
    lines.append(format_server(result))
    if result.interrupted:
        lines.append("INTERRUPTED: partial result")
    lines.append("")
    lines += format_table(result.runs)
    lines += repeats_note(result.runs)
    pooled = format_pooler(result.runs)
    if pooled:
        lines += ["", "pooler peaks (its console, SHOW POOLS):", *("  " + p for p in pooled)]
    faults = format_faults(result.runs)
    if faults:
        lines += ["", "faults:", *("  " + f for f in faults)]
    errors = format_errors(result.runs)
    if errors:
        lines += ["", "errors by SQLSTATE:", *("  " + e for e in errors)]
    knee = format_sweep(result.sweep, result.interrupted)
    if knee:
        lines += ["", *knee]
    post = format_post_comparison(result.runs)
    if post:
        lines += ["", "against the background post:", *("  " + p for p in post)]
    return lines


def format_notes(result: Result) -> list[str]:
    """Notes for stderr: a fault asked for that never fired (a fleet says it in its own table)."""
    if result.fleet is not None:
        return []
    return [
        f"note: fault {run.params['fault']} never fired: {run.name}{mark} ended at "
        f"{run.wall_s:.2f} s"
        for run, mark in zip(result.runs, repeat_marks(result.runs), strict=True)
        if run.params.get("fault") and not run.faults and not run.interrupted
    ]


def no_success(result: Result) -> str | None:
    """``no task succeeded in pool-10 (42601 x20)``, naming every run that had tasks and not
    one success with what its tasks failed with; None when each run had some success. A storm
    still has its survivors: nothing at all is a broken setup or statement."""
    marks = repeat_marks(result.runs)
    barren = [
        (run, mark)
        for run, mark in zip(result.runs, marks, strict=True)
        if run.tasks and not run.ok
    ]
    if not barren:
        return None
    return "no task succeeded in " + ", ".join(
        f"{run.name}{mark} ({error_cell(run)})" for run, mark in barren
    )
