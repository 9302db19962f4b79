"""Right-sizing: the active and demand figures, the pool rule, its TOML, old files (no server)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import dbkit.strategies  # noqa: F401  (declares the strategy names a result file is checked for)
from dbkit.model.errors import ConfigError
from dbkit.model.fleet import FleetSection, ServiceFigures
from dbkit.model.rightsize import Advice, active_figures, advise, advise_runs, demand_of
from dbkit.model.service import Service
from dbkit.model.shape import FLEET_SHAPE, problem_in
from dbkit.store.results import read_result
from tests.helpers import GOLDEN, sample_result


def test_active_figures_are_over_the_samples_in_the_window_only() -> None:
    samples = [(0.9, 50), (1.0, 2), (1.5, 4), (2.0, 3), (2.1, 60)]
    peak, p99 = active_figures(samples, 1.0, 2.0)
    assert peak == 4 and p99 == pytest.approx(3.98)
    assert active_figures(samples, 5.0, 6.0) == (None, None)
    assert active_figures([], 0.0, 1.0) == (None, None)


def test_demand_is_tasks_per_second_times_the_mean_service_time() -> None:
    # Little's law: 100 tasks in 2 s, each holding its connection 0.1 s: 5 busy on average
    assert demand_of(100, 2.0, [0.1] * 100) == pytest.approx(5.0)
    # a uniform sample of the services is enough: its mean stands for all 1000
    assert demand_of(1000, 10.0, [0.05, 0.15]) == pytest.approx(10.0)
    assert demand_of(0, 2.0, []) is None  # nothing completed: unknown
    assert demand_of(3, 0.0, [0.1]) is None


def test_the_rule_takes_the_busier_figure_per_worker_with_the_margin() -> None:
    # K = ceil(max(active p99, demand) / workers x (1 + margin))
    a = advise("api", pool_size=10, processes=4, active_peak=9, active_p99=6.0, demand=7.2)
    assert a.advised == 3  # 7.2 / 4 x 1.25 = 2.25
    b = advise("api", pool_size=10, processes=4, active_peak=9, active_p99=7.2, demand=6.0)
    assert b.advised == 3  # whichever is busier
    assert advise("api", pool_size=10, processes=4, active_peak=9, active_p99=7.2, demand=6.0,
                  margin=0).advised == 2  # fmt: skip
    # 2.4 x 1.25 is 3.0000000000000004 in floats: still 3, not 4
    assert (
        advise("a", pool_size=5, processes=1, active_peak=3, active_p99=2.4, demand=None).advised
        == 3
    )
    # at least 1, even for a service that never ran a statement when sampled
    idle = advise("a", pool_size=5, processes=2, active_peak=0, active_p99=0.0, demand=0.0)
    assert idle.advised == 1 and not idle.saturated


def test_a_full_pool_is_saturated_and_unmeasured_gets_no_advice() -> None:
    full = advise("api", pool_size=5, processes=2, active_peak=10, active_p99=10.0, demand=9.7)
    assert full.saturated and full.advised == 7  # ceil(10 / 2 x 1.25): a floor
    assert "saturated" in full.toml_lines()[1]
    # measured with a pool of 20 per worker: 10 of 40 is not full
    roomy = dataclasses.replace(full, measured_pool=20)
    assert advise("api", pool_size=5, processes=2, active_peak=10, active_p99=10.0,
                  demand=9.7, measured_per_worker=20).saturated is False  # fmt: skip
    tail = (
        "at most 10 active of 2 x 20 (saturated: every connection was busy; the load may want more)"
    )
    assert roomy.toml_lines()[1].endswith(tail)
    none = advise("api", pool_size=5, processes=2, active_peak=None, active_p99=None, demand=3.0)
    assert none.advised is None and none.new_sizes is None
    assert none.toml_lines() == ["[services.api]", "# not measured: no active connections sampled"]


def test_the_change_renders_as_deploy_file_toml() -> None:
    one = advise("api", pool_size=25, processes=1, active_peak=7, active_p99=7.0, demand=8.0)
    assert one.toml_lines() == [
        "[services.api]",
        "pool_size = 10  # was 25: at most 7 active of 25",
    ]
    many = advise("api", pool_size=25, processes=4, active_peak=28, active_p99=26.0, demand=30.0)
    assert many.toml_lines()[1] == "pool_size = 10  # was 25: at most 28 active of 4 x 25"
    same = advise("jobs", pool_size=4, processes=1, active_peak=3, active_p99=3.0, demand=2.9)
    assert same.toml_lines()[1] == "pool_size = 4  # as now: at most 3 active of 4"
    # SQLAlchemy: K is pool_size + max_overflow; the overflow kept as far as it fits
    alchemy = advise("jobs", pool_size=5, max_overflow=4, processes=1, active_peak=2,
                     active_p99=2.0, demand=2.0)  # fmt: skip
    assert alchemy.advised == 3 and alchemy.new_sizes == (1, 2)
    assert alchemy.toml_lines()[1:] == [
        "pool_size = 1  # was 5: at most 2 active of 9",
        "max_overflow = 2  # was 4",
    ]
    # the pasted lines are TOML a deploy file reads
    import tomllib

    assert tomllib.loads("\n".join(alchemy.toml_lines())) == {
        "services": {"jobs": {"pool_size": 1, "max_overflow": 2}}
    }


@pytest.mark.parametrize("margin", [-0.1, float("nan"), float("inf")])
def test_a_bad_margin_is_refused(margin: float) -> None:
    with pytest.raises(ConfigError, match="margin must be a fraction, 0 or more"):
        advise("api", pool_size=5, processes=1, active_peak=1, active_p99=1.0, demand=1.0,
               margin=margin)  # fmt: skip


def test_advice_from_a_fleets_runs_uses_the_workers_it_measured() -> None:
    base = sample_result().runs[0]
    measured = dataclasses.replace(
        base, name="api", params={"replicas": 2, "workers": 2, "pool_size": 10},
        active_peak=12, active_p99=11.0, demand=12.0,
    )  # fmt: skip
    deploy = [Service("api", replicas=8, workers=4, pool_size=12), Service("jobs", 1, 1, 5)]
    api, jobs = advise_runs(deploy, [measured], margin=0.5)
    # 12 over the 4 workers measured, x 1.5 = 4.5: 5 per worker, whatever the deploy's count
    assert (api.advised, api.processes, api.measured_pool, api.pool_size) == (5, 4, 10, 12)
    assert api.toml_lines()[1] == "pool_size = 5  # was 12: at most 12 active of 4 x 10"
    assert jobs.advised is None and jobs.processes == 1  # no run of that name


def test_advice_round_trips_in_the_fleet_section_and_passes_its_shape() -> None:
    advice = advise("api", pool_size=25, processes=1, active_peak=7, active_p99=7.0, demand=8.0)
    figures = ServiceFigures("api", 1, 25, 10, 0, 5.0, 0.1, 0.0, {}, 0, 7, 7.0, 8.0)
    section = FleetSection(
        budget=97, max_connections=100, total_peak_planned=25, peak_connections=25,
        peak_server_connections=26, ok=10, failed=0, fits_plan=True, throughput_qps=5.0,
        p99_s=0.1, acquire_wait_p99_s=0.0, services=(figures,), advice=(advice,), margin=0.25,
    )  # fmt: skip
    data = json.loads(json.dumps(section.to_dict()))
    assert problem_in(data, FLEET_SHAPE) is None
    assert (
        data["advice"][0]["toml"]
        == "[services.api]\npool_size = 10  # was 25: at most 7 active of 25"
    )
    again = FleetSection.from_dict(data)
    assert again.advice == (advice,) and again.margin == 0.25
    assert again.services[0] == figures
    # a fleet written before right-sizing: no figures, no advice
    for key in ("active_peak", "active_p99", "demand"):
        del data["services"][0][key]
    del data["advice"], data["margin"]
    old = FleetSection.from_dict(data)
    assert old.advice == () and old.services[0].active_peak is None
    assert Advice.from_dict(advice.to_dict()) == advice


def test_result_files_from_before_the_figures_read_back_with_them_unknown(tmp_path: Path) -> None:
    data = json.loads(GOLDEN.read_text())
    for run in data["runs"]:
        del run["active_peak"], run["active_p99"], run["demand"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    storm = read_result(path).runs[0]
    assert (storm.active_peak, storm.active_p99, storm.demand) == (None, None, None)
    assert read_result(GOLDEN).runs[0].demand == 23.04
