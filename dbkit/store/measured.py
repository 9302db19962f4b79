"""``plan --measured``: a deploy's plan beside the pool sizes a fleet result says it needs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dbkit.model.errors import ConfigError
from dbkit.model.plan import Plan
from dbkit.model.rightsize import DEFAULT_MARGIN, Advice, advise_runs, check_margin
from dbkit.store.deploy import build_plan
from dbkit.store.results import read_result


def plan_with_advice(
    deploy_file: str | Path | None = None,
    services: Sequence[str] = (),
    *,
    measured: str | Path | None = None,
    margin: float = DEFAULT_MARGIN,
    **budget: Any,
) -> tuple[Plan, tuple[Advice, ...]]:
    """The plan (``build_plan`` with ``budget``'s keywords), and with ``measured`` (a
    ``dbkit fleet`` result file) each service's advice from the fleet's run of the same name
    (dbkit.model.rightsize), with ``margin`` spare. The result file is read, and the margin
    checked, before any server is asked. Raises ConfigError for a file that is not a fleet's."""
    check_margin(margin)
    runs = None
    if measured is not None:
        result = read_result(Path(measured))
        if result.fleet is None:
            raise ConfigError(f"{measured}: not a fleet result (dbkit fleet writes one)")
        runs = result.runs
    plan = build_plan(deploy_file, services, **budget)
    return plan, () if runs is None else advise_runs(plan.services, runs, margin)
