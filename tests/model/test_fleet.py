"""dbkit.model.fleet: a fleet's section of a result, its keys listed once in its records and
written in the format's order, byte for byte as before; older files read back."""

from __future__ import annotations

import json
from dataclasses import replace

from dbkit.model.faults import FaultRecord
from dbkit.model.fleet import FirstFailure, FleetSection, ServiceFigures
from dbkit.model.keys import json_keys
from dbkit.model.records import ErrorRecord
from dbkit.model.rightsize import advise
from dbkit.model.shape import FLEET_SERVICE_SHAPE, FLEET_SHAPE, problem_in, record_shape

ERROR = ErrorRecord("asyncpg.exceptions.TooManyConnectionsError", "53300", 4, 0.123456, 1.98771,
                    "sorry, too many clients already", tasks=3)  # fmt: skip
FAULT = FaultRecord("terminate", 1.0, 0.01, 0.2, 3, {"57P01": 3}, terminated=4)


def _section() -> FleetSection:
    api = ServiceFigures("api", 8, 80, 900, 4, 450.5, 0.2, 0.01, {"53300": 4}, 0, 9, 8.5, 7.25)
    jobs = ServiceFigures("jobs", 2, 20, 100, 0, 50.0, None, None, {}, 0)
    return FleetSection(
        budget=96, max_connections=100, total_peak_planned=100, peak_connections=97,
        peak_server_connections=98, ok=1000, failed=4, fits_plan=False, throughput_qps=500.5,
        p99_s=0.2, acquire_wait_p99_s=0.01, services=(api, jobs),
        first_failure=FirstFailure("api", "53300", ERROR.type, 0.1235),
        budget_parts={"max_connections": 100, "superuser_reserved": 3, "reserved": 0,
                      "headroom": 0, "in_use": 1},
        application_name="dbkit-abc", processes=2, errors=(ERROR,), fault=FAULT,
        advice=(advise("api", pool_size=10, processes=8, active_peak=9, active_p99=8.5,
                       demand=7.25),),
        margin=0.25,
    )  # fmt: skip


def test_a_fleet_section_writes_the_format_s_keys_in_its_order() -> None:
    data = _section().to_dict()
    assert list(data) == [
        "budget", "budget_parts", "max_connections", "total_peak_planned", "peak_connections",
        "peak_server_connections", "application_name", "processes", "ok", "failed", "errors",
        "first_failure", "fits_plan", "throughput_qps", "p99_s", "acquire_wait_p99_s",
        "services", "margin", "advice", "fault",
    ]  # fmt: skip
    assert list(data["services"][0]) == [
        "name", "processes", "planned_peak", "ok", "failed", "throughput_qps", "p99_s",
        "acquire_wait_p99_s", "errors_by_sqlstate", "pool_timeouts", "active_peak",
        "active_p99", "demand",
    ]  # fmt: skip
    # a fleet's errors: rounded times, and no count of tasks
    assert data["errors"] == [{"type": ERROR.type, "sqlstate": "53300", "count": 4,
                               "first_s": 0.1235, "last_s": 1.9877,
                               "example": "sorry, too many clients already"}]  # fmt: skip
    assert data["first_failure"] == {"service": "api", "sqlstate": "53300", "type": ERROR.type,
                                     "at_s": 0.1235}  # fmt: skip
    assert list(data["first_failure"]) == ["service", "sqlstate", "type", "at_s"]
    assert data["fault"] == {"kind": "terminate", "at_s": 1.0, "action_s": 0.01,
                             "recovery_s": 0.2, "failed": 3, "errors_by_sqlstate": {"57P01": 3},
                             "terminated": 4}  # fmt: skip
    assert list(data["fault"]) == list(FAULT.to_dict())
    assert problem_in(json.loads(json.dumps(data)), FLEET_SHAPE) is None


def test_what_a_fleet_lacks_is_left_out_as_before() -> None:
    bare = replace(_section(), first_failure=FirstFailure("api", None, None, 0.5), fault=None,
                   advice=(), margin=None)  # fmt: skip
    data = bare.to_dict()
    assert "fault" not in data and "advice" not in data and "margin" not in data
    assert data["first_failure"] == {"service": "api", "sqlstate": None, "at_s": 0.5}
    assert replace(bare, first_failure=None).to_dict()["first_failure"] is None


def test_a_fleet_section_reads_back_to_the_same_bytes() -> None:
    for section in (_section(), replace(_section(), fault=None, advice=(), margin=None)):
        text = json.dumps(section.to_dict(), indent=2)
        again = FleetSection.from_dict(json.loads(text))
        assert json.dumps(again.to_dict(), indent=2) == text
        assert again.services == section.services and again.fault == section.fault
        assert again.first_failure == section.first_failure


def test_a_fleet_section_of_an_older_file_reads_with_what_it_lacks_unknown() -> None:
    data = _section().to_dict()
    for key in ("peak_connections", "budget_parts", "application_name", "processes", "errors",
                "advice", "margin"):  # fmt: skip
        del data[key]
    del data["first_failure"]["type"]
    for key in ("failed", "errors_by_sqlstate", "terminated"):
        del data["fault"][key]
    for key in ("active_peak", "active_p99", "demand"):
        del data["services"][0][key]
    old = FleetSection.from_dict(data)
    assert (old.peak_connections, old.application_name, old.processes) == (None, None, None)
    assert (old.budget_parts, old.errors, old.advice, old.margin) == ({}, (), (), None)
    assert old.first_failure == FirstFailure("api", "53300", None, 0.1235)
    assert old.fault == FaultRecord("terminate", 1.0, 0.01, 0.2, 0, {}, None)
    assert old.services[0].active_peak is None and old.services[0].demand is None


def test_the_records_name_the_keys_the_format_s_shape_checks() -> None:
    # ServiceFigures and FirstFailure list their keys (dbkit.model.keys) as the shape does;
    # every key the fleet's shape checks is one of FleetSection's, optional alike.
    assert record_shape(ServiceFigures) == FLEET_SERVICE_SHAPE
    assert record_shape(FirstFailure) == FLEET_SHAPE.fields["first_failure"][1]
    keys = {name: key.optional for name, key in json_keys(FleetSection)}
    for field in FLEET_SHAPE.fields:
        name = field.rstrip("?")
        assert name in keys and keys[name] == field.endswith("?"), field
