"""The shape of a result document: every field a reader relies on, its kind and its bounds.

One description (DOCUMENT_SHAPE) that the reader checks a file against before it builds any
object from it, so a hand-edited or foreign file is refused with the field's path.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dbkit.model.faults import FaultRecord
from dbkit.model.keys import json_keys
from dbkit.model.records import ErrorRecord
from dbkit.model.results import Run, SweepSection
from dbkit.model.rightsize import Advice
from dbkit.model.spec import strategy_names
from dbkit.model.timeline import SERIES, Timeline
from dbkit.model.verdict import OPERATORS


@dataclass(frozen=True)
class _Object:
    """A JSON object's expected keys (``key?`` may be absent); ``closed`` refuses other keys,
    ``values`` is the shape of every value (for maps such as counts by SQLSTATE), ``rules``
    relate fields once each has its kind: each returns None or (field, what is wrong)."""

    fields: Mapping[str, Any]
    closed: bool = False
    values: Any = None
    rules: tuple[Callable[[Mapping[str, Any]], tuple[str, str] | None], ...] = ()


@dataclass(frozen=True)
class _Kind:
    """A JSON leaf: its type, and the values a real run can produce (NaN and infinity never)."""

    name: str
    types: type | tuple[type, ...]
    minimum: int | None = None
    choices: Callable[[], tuple[str, ...]] | None = None  # read when checking

    def expected(self, value: Any) -> str | None:
        """None if ``value`` fits, else what was expected, as the message says it."""
        # bool is an int to Python, not to JSON: true is no count and 1 is no flag
        if not isinstance(value, self.types) or isinstance(value, bool) != (self.types is bool):
            return self.name
        if isinstance(value, float) and not math.isfinite(value):
            return "a finite number"
        if self.minimum is not None and isinstance(value, int | float) and value < self.minimum:
            return f"{self.name} >= {self.minimum}"
        if self.choices is not None and value not in self.choices():
            return f"one of {', '.join(self.choices())}"
        return None


# What report, export and plot read, and the values it may hold: the one description of the
# format's constraints. A shape is a kind name, an _Object, [shape] (a list of it),
# (None, shape) (it or null) or (first, second) (a [first, second] pair).
KINDS: dict[str, _Kind] = {
    "int": _Kind("an integer", int),
    "count": _Kind("an integer", int, minimum=0),  # tasks, connections, errors
    "number": _Kind("a number", (int, float)),  # a time since the run began: may be < 0
    "amount": _Kind("a number", (int, float), minimum=0),  # a duration, a rate, a share
    "str": _Kind("a string", str),
    "strategy": _Kind("a string", str, choices=strategy_names),
    "bool": _Kind("true or false", bool),
    "object": _Kind("an object", dict),
}


def _run_counts(run: Mapping[str, Any]) -> tuple[str, str] | None:
    tasks, ok, failed = run["tasks"], run["ok"], run["failed"]
    if ok > tasks:
        return "ok", f"{ok} is more than tasks ({tasks})"
    if ok + failed > tasks:
        return "failed", f"ok + failed ({ok + failed}) is more than tasks ({tasks})"
    return None


AMOUNT_OR_NULL = (None, "amount")
SQLSTATE_COUNTS = _Object({}, values="count")  # {sqlstate, or type without one: count}
SUMMARY_SHAPE = _Object(
    {f"{k}?": AMOUNT_OR_NULL for k in ("p50", "p90", "p99", "max")}, closed=True
)


def record_shape(
    cls: type,
    *,
    closed: bool = False,
    rules: tuple[Callable[[Mapping[str, Any]], tuple[str, str] | None], ...] = (),
) -> _Object:
    """The shape of a record's JSON object, from its fields (see dbkit.model.keys): a field's
    shape is a kind name, a name in NAMED_SHAPES, another record, or those combined as in
    KINDS' comment."""
    keys = json_keys(cls)
    fields = {name + ("?" if k.optional else ""): _resolve(k.shape) for name, k in keys}
    return _Object(fields, closed=closed, rules=rules)


def _resolve(shape: Any) -> Any:
    if isinstance(shape, str):
        return NAMED_SHAPES.get(shape, shape)
    if isinstance(shape, type):
        return record_shape(shape)
    if isinstance(shape, list):
        return [_resolve(shape[0])]
    if isinstance(shape, tuple):
        return tuple(None if s is None else _resolve(s) for s in shape)
    return shape


POOLER_COUNTS = {"cl_active": "count", "cl_waiting": "count", "sv_active": "count",
                 "sv_idle": "count", "maxwait_s": "amount"}  # fmt: skip
POOLER_INFO_SHAPE = _Object(
    {"kind": "str", "version": "str", "settings": _Object({}, values="str")}
)
POOLER_RUN_SHAPE = _Object(  # a run's ``pooler`` section (dbkit.model.pooler.PoolerSection)
    {
        "kind": "str",
        "pool_mode": "str",
        "peaks": _Object({key: (None, kind) for key, kind in POOLER_COUNTS.items()}),
        "samples": [_Object({"t": "number", **POOLER_COUNTS})],
    }
)
NAMED_SHAPES: dict[str, Any] = {
    "sqlstate_counts": SQLSTATE_COUNTS, "summary": SUMMARY_SHAPE, "pooler_run": POOLER_RUN_SHAPE,
}  # fmt: skip
NAMED_SHAPES["error"] = ERROR_SHAPE = record_shape(ErrorRecord, closed=True)
NAMED_SHAPES["series_by_label"] = _Object({}, values=["count"])  # {sqlstate: [count, ...]}


def _series_align(timeline: Mapping[str, Any]) -> tuple[str, str] | None:
    # parallel arrays: a row is the same index in each, so each has one entry per row
    rows = len(timeline["t"])
    series = [("done", timeline["done"])]
    series += [(f"errors.{k}", v) for k, v in timeline.get("errors", {}).items()]
    for name in SERIES:  # empty or absent: not recorded
        if timeline.get(name):
            series.append((name, timeline[name]))
    for name, values in series:
        if len(values) != rows:
            return name, f"{len(values)} entries for {rows} intervals"
    if timeline["interval_s"] <= 0:
        return "interval_s", "expected a number > 0"
    return None


NAMED_SHAPES["timeline"] = TIMELINE_SHAPE = record_shape(Timeline, rules=(_series_align,))
FAULT_SHAPE = record_shape(FaultRecord)
RUN_SHAPE = record_shape(Run, rules=(_run_counts,))
FLEET_SERVICE_SHAPE = _Object(
    {
        "name": "str",
        "processes": "count",
        "planned_peak": "count",
        "ok": "count",
        "failed": "count",
        "throughput_qps": "amount",
        "p99_s": AMOUNT_OR_NULL,
        "acquire_wait_p99_s": AMOUNT_OR_NULL,
        "pool_timeouts": "count",
        "errors_by_sqlstate": SQLSTATE_COUNTS,
        "active_peak?": (None, "count"),
        "active_p99?": AMOUNT_OR_NULL,
        "demand?": AMOUNT_OR_NULL,
    }
)
ADVICE_SHAPE = record_shape(Advice)
FLEET_SHAPE = _Object(
    {
        "budget": "int",
        "max_connections": "count",
        "total_peak_planned": "count",
        "peak_server_connections": (None, "count"),
        "peak_connections?": (None, "count"),
        "ok": "count",
        "failed": "count",
        "fits_plan": "bool",
        "throughput_qps": "amount",
        "p99_s": AMOUNT_OR_NULL,
        "acquire_wait_p99_s": AMOUNT_OR_NULL,
        "first_failure": (
            None,
            _Object(
                {"service": "str", "at_s": "number", "sqlstate": (None, "str"), "type?": "str"}
            ),
        ),
        "fault?": (
            None,
            _Object(
                {
                    "kind": "str",
                    "at_s": "number",
                    "action_s": "amount",
                    "recovery_s": AMOUNT_OR_NULL,
                }
            ),
        ),
        "services": [FLEET_SERVICE_SHAPE],
        "margin?": AMOUNT_OR_NULL,
        "advice?": [ADVICE_SHAPE],
    }
)
SWEEP_SHAPE = record_shape(SweepSection)


def _verdict_agrees(verdict: Mapping[str, Any]) -> tuple[str, str] | None:
    # a verdict the file's own numbers contradict is not one a reader may trust
    value, passed = verdict["value"], verdict["passed"]
    if verdict["op"] not in OPERATORS:
        return "op", f"expected one of {', '.join(OPERATORS)}, got {verdict['op']!r}"
    if value is None:
        return ("passed", "true with no value measured") if passed else None
    if OPERATORS[verdict["op"]](value, verdict["threshold"]) != passed:
        return "passed", f"{str(passed).lower()}, but {value} {verdict['op']} " + (
            f"{verdict['threshold']} is {str(not passed).lower()}"
        )
    return None


VERDICT_SHAPE = _Object(
    {
        "check": "str",
        "run": (None, "str"),
        "figure": "str",
        "op": "str",
        "threshold": "amount",
        "value": AMOUNT_OR_NULL,
        "passed": "bool",
        "note?": (None, "str"),
    },
    closed=True,
    rules=(_verdict_agrees,),
)
DOCUMENT_SHAPE = _Object(
    {
        "metadata": _Object(
            {
                "max_connections?": (None, "count"),
                "superuser_reserved_connections?": (None, "count"),
                "reserved_connections?": (None, "count"),
                "pooler?": (None, POOLER_INFO_SHAPE),
            }
        ),
        "interrupted?": "bool",
        "runs": [RUN_SHAPE],
        "fleet?": (None, FLEET_SHAPE),
        "sweep?": (None, SWEEP_SHAPE),
        "checks?": [VERDICT_SHAPE],
    }
)


def _describe(shape: Any) -> str:
    if isinstance(shape, str):
        return KINDS[shape].name
    if isinstance(shape, _Object):
        return "an object"
    if isinstance(shape, list):
        return "a list"
    if shape[0] is None:
        return f"{_describe(shape[1])} or null"
    return f"a pair [{_describe(shape[0])}, {_describe(shape[1])}]"


def _show(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, list | dict) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _problem(value: Any, shape: Any, where: str) -> str | None:
    """The first place ``value`` does not have ``shape``, as ``runs[0].ok: expected ...``."""
    here = where or "document"
    wrong = f"{here}: expected {_describe(shape)}, got {_show(value)}"
    nullable = isinstance(shape, tuple) and shape[0] is None
    if nullable and value is None:
        return None
    leaf = shape[1] if nullable else shape
    if isinstance(leaf, str):
        expected = KINDS[leaf].expected(value)
        if expected is None:
            return None
        return f"{here}: expected {expected}{' or null' if nullable else ''}, got {_show(value)}"
    if nullable:
        problem = _problem(value, leaf, where)
        # wrong right here, not deeper in: say that null would do too
        return wrong if problem and problem.startswith(f"{here}: ") else problem
    if isinstance(shape, tuple):  # a [first, second] pair
        if not isinstance(value, list) or len(value) != 2:
            return wrong
        return _problem(value[0], shape[0], f"{where}[0]") or _problem(
            value[1], shape[1], f"{where}[1]"
        )
    if isinstance(shape, list):
        if not isinstance(value, list):
            return wrong
        for i, item in enumerate(value):
            problem = _problem(item, shape[0], f"{where}[{i}]")
            if problem is not None:
                return problem
        return None
    if not isinstance(value, dict):
        return wrong
    prefix = f"{where}." if where else ""
    if shape.values is not None:
        for key, item in value.items():
            problem = _problem(item, shape.values, f"{prefix}{key}")
            if problem is not None:
                return problem
    names = {key.rstrip("?") for key in shape.fields}
    for key, sub in shape.fields.items():
        name = key.rstrip("?")
        if name not in value:
            if key.endswith("?"):
                continue
            return f"{prefix}{name}: missing"
        problem = _problem(value[name], sub, prefix + name)
        if problem is not None:
            return problem
    extra = sorted(set(value) - names) if shape.closed else []
    if extra:
        return f"{prefix}{extra[0]}: unexpected key"
    for rule in shape.rules:
        broken = rule(value)
        if broken is not None:
            return f"{prefix}{broken[0]}: {broken[1]}"
    return None


def problem_in(document: Any, shape: Any = None) -> str | None:
    """What is wrong with ``document`` against ``shape`` (the whole document's by default):
    the first problem, with the field's path, or None."""
    return _problem(document, DOCUMENT_SHAPE if shape is None else shape, "")
