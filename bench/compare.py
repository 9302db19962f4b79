"""Compare a bench result with a reference: which rows got worse beyond their spread.

    .venv/bin/python bench/compare.py NEW.json REFERENCE.json [EARLIER.json ...] \
        [--new MORE.json ...]

Each row is judged on its ratio to the reference measured in the same run where it has one
(whatever its goal is on: a slower machine, or a busier minute, moves both sides, as the start
rows' bare initdb does by 2x between runs here), else on the kit's own figure, in the goal's
direction (higher is better for ``>=``, lower otherwise). Its
spread is the largest of: the spread between the row's repeats in either file (sleep rows keep
every repeat; pgbench runs before and after the kit; the pool, storm and fleet rows keep every
run), and the range of the row over the runs of each side: the reference with each earlier file
given (more runs of the reference's code), the new file with each ``--new`` file (more runs of
the new code). With more runs on a side, its figure is their median. A row is "worse" when it
moved the wrong way by more than that.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def figure(row: dict[str, Any]) -> float | None:
    """The figure a row is judged on: its ratio to its same-run reference, else its own."""
    on_ratio = row["goal"]["on"] == "ratio" or row.get("ratio") is not None
    value = row["ratio"] if on_ratio else row["kit"]
    return None if value is None else float(value)


def higher_is_better(row: dict[str, Any]) -> bool:
    # a row without a goal still says which way is better (PgBouncer's qps kept: >=)
    return bool(row["goal"]["op"] == ">=")


def _relative_spread(values: Sequence[float]) -> float:
    values = [v for v in values if v]
    return (max(values) - min(values)) / min(values) if len(values) > 1 else 0.0


def repeat_spread(row: dict[str, Any]) -> float:
    """The spread between the row's own repeats, in units of its figure."""
    raw, value = row.get("raw") or {}, figure(row) or 0.0
    parts = []
    if "kit_call_s" in raw:  # sleep rows: ratio of best-of-n to best-of-n; both sides vary
        parts += [_relative_spread(raw["kit_call_s"]), _relative_spread(raw["bare_call_s"])]
    if "pgbench" in raw:  # the reference, run before and after the kit
        parts.append(_relative_spread([r["tps"] for r in raw["pgbench"]]))
    if "kit_wall_s" in raw:  # the storm row: the kit's wall time and the bare gather's
        parts += [_relative_spread(raw["kit_wall_s"]), _relative_spread(raw.get("bare_wall_s", []))]
    if "kit_s" in raw:  # the start rows: the kit's and the bare binaries', each repeat
        parts += [_relative_spread(raw["kit_s"]), _relative_spread(raw.get("bare_s", []))]
    if "kit_qps" in raw:  # the kit through PgBouncer, each repeat
        parts.append(_relative_spread(raw["kit_qps"]))
    if row["group"] == "pgbouncer" and "direct" in raw:  # both routes, each repeat
        key = "per_query_us" if row["unit"] == "us" else "qps"
        parts += [_relative_spread(raw["direct"][key]), _relative_spread(raw["pgbouncer"][key])]
    if "efficiency" in raw:  # fleet and pool rows: every run's efficiency, the row's figure
        return float(max(raw["efficiency"]) - min(raw["efficiency"]))
    if row["group"] == "memory":
        kit = raw.get("kit", [])
        parts.append(_relative_spread([s["hwm_kb"] - s["rss_before_kb"] for s in kit]))
    return value * sum(parts)


def compare(
    new: dict[str, Any],
    reference: dict[str, Any],
    earlier: Sequence[dict[str, Any]],
    more_new: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """One entry per row of ``new``: its figure, the reference's, the spread, the verdict; each
    side's figure the median over its runs (``new`` and ``more_new``; ``reference`` and
    ``earlier``)."""
    by_name = {r["name"]: r for r in reference["rows"]}
    earlier_by_name = [{r["name"]: r for r in doc["rows"]} for doc in earlier]
    more_by_name = [{r["name"]: r for r in doc["rows"]} for doc in more_new]
    out = []
    for row in new["rows"]:
        ref = by_name.get(row["name"])
        if ref is None or figure(row) is None or figure(ref) is None:
            now = figure(row)
            out.append({"name": row["name"], "now": now, "verdict": "new" if ref is None else "-"})
            continue
        news = _figures(row, more_by_name)
        thens = _figures(ref, earlier_by_name)
        now, then = statistics.median(news), statistics.median(thens)
        spread = max(
            repeat_spread(row), repeat_spread(ref), max(news) - min(news), max(thens) - min(thens)
        )
        change = now - then if higher_is_better(row) else then - now  # positive: better
        verdict = "worse" if change < -spread else ("better" if change > spread else "same")
        entry = {"name": row["name"], "now": now, "then": then, "spread": spread}
        out.append({**entry, "verdict": verdict, "runs": (len(news), len(thens))})
    return out


def _figures(row: dict[str, Any], others: Sequence[dict[str, dict[str, Any]]]) -> list[float]:
    """The row's figure in its own file and in each other file that has it."""
    values = [float(figure(row) or 0.0)]
    for other in others:
        if row["name"] in other and figure(other[row["name"]]) is not None:
            values.append(float(figure(other[row["name"]]) or 0.0))
    return values


def format_lines(entries: Sequence[dict[str, Any]]) -> list[str]:
    lines = [f"{'row':<52} {'now':>10} {'reference':>10} {'spread':>8}  verdict"]
    for e in entries:
        if "then" not in e:
            now = "-" if e["now"] is None else f"{e['now']:.4g}"
            lines.append(f"{e['name']:<52} {now:>10} {'-':>10} {'-':>8}  {e['verdict']}")
            continue
        lines.append(
            f"{e['name']:<52} {e['now']:>10.4g} {e['then']:>10.4g} {e['spread']:>8.3g}  "
            f"{e['verdict']}"
        )
    return lines


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("new", type=Path, help="the result to judge")
    parser.add_argument("reference", type=Path, help="the reference result")
    parser.add_argument(
        "earlier", type=Path, nargs="*", help="more runs of the reference's code: its spread"
    )
    parser.add_argument(
        "--new", dest="more", type=Path, action="append", default=[],
        help="more runs of the new code (repeatable): its spread",
    )  # fmt: skip
    args = parser.parse_args(argv)
    load = [json.loads(p.read_text()) for p in (args.new, args.reference, *args.earlier)]
    more = [json.loads(p.read_text()) for p in args.more]
    entries = compare(load[0], load[1], load[2:], more)
    print("\n".join(format_lines(entries)))
    worse = [e["name"] for e in entries if e["verdict"] == "worse"]
    print(f"\nworse beyond spread: {', '.join(worse) if worse else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
