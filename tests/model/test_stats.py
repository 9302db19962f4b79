"""Percentiles and latency summaries."""

from __future__ import annotations

import pytest

from dbkit.model.stats import LatencySummary, percentile


def test_percentiles_interpolate_like_numpy() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 100) == 100.0
    summary = LatencySummary.of([3.0, 1.0, 2.0])
    assert (summary.p50, summary.max) == (2.0, 3.0)
    assert LatencySummary.of([]) == LatencySummary()
