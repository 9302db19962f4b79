"""A run's timeline: dense rows from a tally's ticks, written compactly, read back, old files."""

from __future__ import annotations

import dataclasses
import json

import pytest

import dbkit.strategies  # noqa: F401  (registers the strategy names the reader checks)
from dbkit.model.results import Result, Run
from dbkit.model.shape import problem_in
from dbkit.model.tally import TICK_S, Tally
from dbkit.model.timeline import Timeline
from tests.helpers import sample_result


def _refusal() -> Exception:
    exc = Exception("sorry, too many clients already")
    exc.sqlstate = "53300"  # type: ignore[attr-defined]
    return exc


def test_build_is_dense_and_sums_to_the_rows() -> None:
    rows = [(0.0, 3, {}), (0.3, 2, {"53300": 4})]
    samples = [(0.02, 5), (0.07, 9), (0.33, 2)]
    tl = Timeline.build(rows, samples, start_s=-0.04, end_s=0.45, interval_s=0.1)
    assert tl.t == (-0.04, 0.06, 0.16, 0.26, 0.36, 0.46)[: len(tl)]
    assert len(tl) == 5  # -0.04 .. 0.45: five intervals
    assert tl.done == (3, 0, 0, 2, 0)
    assert tl.errors == {"53300": (0, 0, 0, 4, 0)}
    assert tl.failed == (0, 0, 0, 4, 0)
    # the most seen within a row, else the nearest sample; none far from every sample
    assert tl.connections[0] == 5 and tl.connections[1] == 9 and tl.connections[3] == 2
    assert tl.throughput()[0] == pytest.approx(30.0)


def test_a_tally_timeline_counts_what_happened_before_the_window_in_its_first_row() -> None:
    tally = Tally()
    tally.refused(_refusal())  # a pool's connection refused while it opened
    tally.t0 -= 0.5  # (as if opened half a second before the window began)
    tally.begin(tally.t0 + 0.5)
    tally.success(tally.t0, tally.t0, 1)
    tally.end()
    rows = tally.timeline()
    assert sum(n for _, n, _ in rows) == 1
    assert sum(e.get("53300", 0) for *_, e in rows) == 1


def test_a_run_with_a_timeline_round_trips_through_json(tmp_path: object) -> None:
    tl = Timeline(
        interval_s=TICK_S,
        t=(-0.02, 0.08),
        done=(3, 1),
        errors={"53300": (2, 0)},
        connections=(4, None),
    )
    base = sample_result()
    runs = (dataclasses.replace(base.runs[1], timeline=tl), base.runs[1])
    doc = json.loads(dataclasses.replace(base, runs=runs).dumps())
    assert problem_in(doc) is None
    assert doc["runs"][0]["timeline"] == {
        "interval_s": 0.1,
        "t": [-0.02, 0.08],
        "done": [3, 1],
        "errors": {"53300": [2, 0]},
        "connections": [4, None],
    }
    assert "timeline" not in doc["runs"][1]  # nothing recorded: nothing written
    back = Result.from_dict(doc)
    assert back.runs[0].timeline == tl
    assert back.runs[1].timeline == Timeline() and not back.runs[1].timeline


def test_files_without_timelines_read_as_empty() -> None:
    doc = sample_result().to_dict()
    for run in doc["runs"]:
        run.pop("timeline", None)
    assert problem_in(doc) is None
    assert all(not run.timeline for run in Result.from_dict(doc).runs)


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("done", [1], "runs[0].timeline.done: 1 entries for 2 intervals"),
        ("errors", {"53300": [1, 2, 3]}, "runs[0].timeline.errors.53300: 3 entries"),
        ("connections", [1, -1], "runs[0].timeline.connections[1]: expected an integer >= 0"),
        ("interval_s", 0, "runs[0].timeline.interval_s: expected a number > 0"),
    ],
)
def test_a_timeline_that_does_not_line_up_is_refused(key: str, value: object, problem: str) -> None:
    tl = Timeline(t=(0.0, 0.1), done=(1, 2), errors={"53300": (0, 1)}, connections=(1, 2))
    run: Run = dataclasses.replace(sample_result().runs[0], timeline=tl)
    doc = dataclasses.replace(sample_result(), runs=(run,)).to_dict()
    doc["runs"][0]["timeline"][key] = value
    found = problem_in(doc)
    assert found is not None and found.startswith(problem), found
