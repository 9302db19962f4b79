"""Checks: thresholds over a result's figures, and the verdicts they give. No I/O.

A check is ``[RUN.]FIGURE OP NUMBER``: ``p99<0.5``, ``errors==0``, ``errors[53300]==0``,
``peak<=90``, ``qps>=800``, ``wait_p99<0.1``, ``eff>=0.9``, ``pool-90.p99<4``. Times are in
seconds, as in the result. Where there is a base to compare with (``dbkit compare``), the
number may be a factor of the base's figure: ``qps>=0.95*base``, ``p99<=1.1*base`` (``base``
alone is ``1*base``); ``parse_checks(..., base=True)`` accepts it, everywhere else it is refused.
``parse_checks`` refuses a bad expression (ConfigError, one line)
before anything runs; ``evaluate`` gives one Verdict per check and run:

- a check without a run name applies to every run of the result (a scenario's or sweep's runs
  each give a verdict), or, for a fleet, to the fleet's totals;
- a run repeated (``--repeat``, a sweep's rounds; see dbkit.model.repeats) gives one verdict:
  the median of its repeats that finished is judged, as the table shows it and as ``dbkit
  compare`` judges; a repeat that did not measure the figure fails it;
- a check naming a run applies to that run (a fleet's runs are its services); when the names
  are known before the run (a scenario file, a fleet's services), ``refuse_unknown_runs``
  refuses a name that is not among them; a name still missing from the result (an interrupted
  scenario) gives a failed verdict saying so;
- a figure the run did not measure (no task succeeded, so no p99; an efficiency without an ideal
  time; a file from before the run's own connections were counted) fails: a gate that cannot
  be measured does not pass.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbkit.model.errors import ConfigError
from dbkit.model.repeats import Spread, groups, settled
from dbkit.model.verdict import OPERATORS, Verdict

if TYPE_CHECKING:
    from dbkit.model.results import Result, Run

LATENCIES = ("p50", "p90", "p99", "max")
# figure -> what it measures (the help text and --list of checks say it)
FIGURES: dict[str, str] = {
    **{p: f"{p} latency of successful tasks (s), arrival to completion" for p in LATENCIES},
    **{f"wait_{p}": f"{p} of the wait for a connection (s)" for p in LATENCIES},
    **{f"service_{p}": f"{p} of the time holding a connection (s)" for p in LATENCIES},
    "qps": "successful queries per second",
    "eff": "efficiency: ideal time / wall time x ok / tasks",
    "peak": "peak of the run's own server connections",
    "errors": "failed attempts, every error class (errors[SQLSTATE] or errors[Type]: one)",
    "ok": "tasks that succeeded",
    "failed": "tasks that failed",
}
TIMES = frozenset(f for f in FIGURES if f.endswith(LATENCIES))
# What a fleet's totals hold (dbkit.engine.fleet): the other figures are its services'.
FLEET_FIGURES = frozenset({"p99", "wait_p99", "qps", "peak", "errors", "ok", "failed"})
FLEET = "fleet"  # how a verdict on a fleet's totals names its run

_EXPR = re.compile(
    r"""^\s*(?:(?P<run>[^\s<>=!]+?)\.)?
    (?P<figure>[a-z_0-9]+)
    (?:\[(?P<key>[^\]]*)\])?
    \s*(?P<op><=|>=|==|!=|<|>|=)\s*
    (?P<value>\S+?)\s*$""",
    re.VERBOSE,
)
_NUMBER = re.compile(r"^(?P<num>[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)(?P<unit>ms|s)?$")
_BASE = re.compile(r"^(?:(?P<factor>[^*]+)\*)?base$")
_KEY = re.compile(r"^[A-Za-z0-9_.]+$")


@dataclass(frozen=True)
class Check:
    """One parsed ``--check``: its text as given, the run it names (None: every run, or a
    fleet's totals), the figure, an error class for ``errors[KEY]``, the operator and the
    threshold (seconds for times); with ``base``, the threshold is a factor of the base's
    value of the figure (``qps>=0.95*base``: threshold 0.95)."""

    text: str
    run: str | None
    figure: str
    key: str | None
    op: str
    threshold: float
    base: bool = False

    @property
    def label(self) -> str:
        """The figure as written: ``p99``, ``errors[53300]``."""
        return f"{self.figure}[{self.key}]" if self.key is not None else self.figure

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.threshold)


def parse_check(text: str, base: bool = False) -> Check:
    """A Check from ``[RUN.]FIGURE OP NUMBER``; ConfigError with one line saying what is wrong.
    With ``base`` (a comparison), the number may also be ``N*base``."""
    where = f"--check {text!r}: "
    match = _EXPR.match(text)
    if match is None:
        raise ConfigError(
            f"{where}expected [RUN.]FIGURE OP NUMBER, e.g. 'p99<0.5' or 'errors[53300]==0' "
            f"(operators: {', '.join(sorted(OPERATORS, key=len))})"
        )
    run, figure, key, op, raw = match.group("run", "figure", "key", "op", "value")
    if figure not in FIGURES:
        raise ConfigError(f"{where}unknown figure {figure!r} (known: {', '.join(FIGURES)})")
    if op == "=":
        raise ConfigError(f"{where}'=' is not an operator: write '=='")
    if key is not None:
        if figure != "errors":
            raise ConfigError(f"{where}only errors takes [KEY] (a SQLSTATE or exception type)")
        if not _KEY.match(key):
            raise ConfigError(f"{where}errors[{key}]: name a SQLSTATE (53300) or a type")
    relative = _BASE.match(raw)
    if relative is not None:
        if not base:
            raise ConfigError(f"{where}'base' is known only when comparing: dbkit compare")
        raw = relative.group("factor") or "1"
    number = _NUMBER.match(raw)
    if raw.startswith("-"):
        raise ConfigError(f"{where}{raw}: the figures are never negative")
    if number is None:
        also = ", or a factor of the base: 0.95*base" if base else ""
        raise ConfigError(
            f"{where}{raw!r} is not a number (times are in seconds: 0.5 or 500ms{also})"
        )
    value = float(number.group("num"))
    unit = number.group("unit")
    if unit is not None and relative is not None:
        raise ConfigError(f"{where}a factor of base has no unit: write e.g. '1.1*base'")
    if unit is not None and figure not in TIMES:
        raise ConfigError(f"{where}{figure} is not a time: give a plain number, not {raw!r}")
    if unit == "ms":
        value /= 1000
    if not math.isfinite(value):
        raise ConfigError(f"{where}{raw!r} is not a finite number")
    if figure == "eff" and value > 1 and relative is None:
        raise ConfigError(f"{where}efficiency is a share from 0 to 1, not {raw}")
    return Check(
        text=text.strip(),
        run=run,
        figure=figure,
        key=key,
        op=op,
        threshold=value,
        base=relative is not None,
    )


def parse_checks(texts: Iterable[str], base: bool = False) -> tuple[Check, ...]:
    """Every ``--check``, parsed before anything runs; the first bad one is refused. With
    ``base`` (a comparison), ``N*base`` thresholds are allowed."""
    return tuple(parse_check(text, base) for text in texts)


def refuse_unknown_runs(checks: Sequence[Check], names: Iterable[str], what: str = "run") -> None:
    """ConfigError, before anything runs, for a check naming a run not among ``names`` (a
    scenario's runs, a fleet's services)."""
    known = list(names)
    for check in checks:
        if check.run is not None and check.run not in known:
            raise ConfigError(
                f"--check {check.text!r}: no {what} named {check.run!r} "
                f"(known: {', '.join(known) or 'none'})"
            )


def refuse_for_fleet(checks: Sequence[Check], services: Iterable[str]) -> None:
    """What a fleet can answer: a named check names a service; an unnamed one a figure of
    the fleet's totals (p99, wait_p99, qps, peak, errors, ok, failed)."""
    refuse_unknown_runs(checks, services, "service")
    for check in checks:
        if check.run is None and check.figure not in FLEET_FIGURES:
            raise ConfigError(
                f"--check {check.text!r}: a fleet's totals have no {check.figure} "
                f"(they have {', '.join(sorted(FLEET_FIGURES))}); name a service: "
                f"'SERVICE.{check.text}'"
            )


def evaluate(checks: Sequence[Check], result: Result) -> tuple[Verdict, ...]:
    """One Verdict per check and run it applies to; every check gives at least one. A run
    repeated (dbkit.model.repeats) gives one verdict: its repeats' median is judged."""
    verdicts: list[Verdict] = []
    runs = groups(result.runs)
    for check in checks:
        if check.run is not None:
            named = [group for group in runs if group[0].name == check.run]
            if not named:
                verdicts.append(_verdict(check, None, None, f"no run named {check.run}"))
            else:
                verdicts += [_judge(check, group) for group in named]
        elif result.fleet is not None:
            verdicts.append(_measure(check, FLEET, fleet_figure(result.fleet, check)))
        elif not result.runs:
            verdicts.append(_verdict(check, None, None, "no run finished"))
        else:
            verdicts += [_judge(check, group) for group in runs]
    return tuple(verdicts)


def _judge(check: Check, repeats: Sequence[Run]) -> Verdict:
    # one run as it is; repeats by their median, every one of them measured
    name = repeats[0].name
    if len(repeats) == 1:
        return _measure(check, name, run_figure(repeats[0], check))
    used = settled(repeats)
    found = [run_figure(run, check) for run in used]
    missing = sum(value is None for value in found)
    if missing:
        note = f"{check.label} not measured in {missing} of {len(used)} repeats"
        return _verdict(check, name, None, note)
    spread = Spread.of(found)
    return _measure(check, name, None if spread is None else spread.median)


def all_passed(verdicts: Iterable[Verdict]) -> bool:
    return all(v.passed for v in verdicts)


def run_figure(run: Run, check: Check) -> float | None:
    """The figure ``check`` reads from one run (None: not measured)."""
    figure = check.figure
    if figure in TIMES:
        part, _, pct = figure.rpartition("_")
        summary = {"": run.latency_s, "wait": run.wait_s, "service": run.service_s}[part]
        value: float | None = getattr(summary, pct)
        return value
    if figure == "errors":
        return sum(e.count for e in run.errors if _matches(e.type, e.sqlstate, check.key))
    simple: dict[str, float | None] = {
        "qps": run.throughput_qps,
        "eff": run.efficiency,
        "peak": run.peak_connections,
        "ok": run.ok,
        "failed": run.failed,
    }
    return simple[figure]


def fleet_figure(fleet: Any, check: Check) -> float | None:
    """The figure ``check`` reads from a fleet's totals (a mapping today; the same names as
    attributes when it becomes a dataclass)."""

    def get(name: str, default: Any = None) -> Any:
        if isinstance(fleet, Mapping):
            return fleet.get(name, default)
        return getattr(fleet, name, default)

    figure = check.figure
    if figure == "errors":
        errors = get("errors")
        count: int
        if errors:  # a list of dicts today, of ErrorRecords in a fleet dataclass
            count = sum(
                _field(e, "count")
                for e in errors
                if _matches(_field(e, "type"), _field(e, "sqlstate"), check.key)
            )
            return count
        # none, or a file from before the fleet's errors: its services' counts by SQLSTATE
        counts = [c for s in get("services", ()) for c in _field(s, "errors_by_sqlstate").items()]
        count = sum(n for k, n in counts if _matches(k, k, check.key))
        return count
    name = {
        "p99": "p99_s",
        "wait_p99": "acquire_wait_p99_s",
        "qps": "throughput_qps",
        "peak": "peak_connections",
        "ok": "ok",
        "failed": "failed",
    }.get(figure)
    value: float | None = get(name) if name is not None else None
    return value


def _field(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, Mapping) else getattr(item, name)


def _matches(type_name: str | None, sqlstate: str | None, key: str | None) -> bool:
    # errors[KEY]: a SQLSTATE, or an exception type by its full or its class name
    if key is None:
        return True
    short = (type_name or "").rsplit(".", 1)[-1]
    return key in (sqlstate, type_name, short)


def _measure(check: Check, run: str, value: float | None) -> Verdict:
    if value is None:
        return _verdict(check, run, None, f"{check.label} not measured")
    return _verdict(check, run, value, None)


def _verdict(check: Check, run: str | None, value: float | None, note: str | None) -> Verdict:
    return Verdict(
        check=check.text,
        run=run,
        figure=check.label,
        op=check.op,
        threshold=check.threshold,
        value=value,
        passed=value is not None and check.holds(value),
        note=note,
    )
