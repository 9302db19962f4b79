"""dbkit: PostgreSQL connection-limit experiments from Python.

The names below load on first use (PEP 562), so ``import dbkit`` is cheap: the ``dbkit``
command imports the package before it can catch a Ctrl-C, and must not spend start-up here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dbkit.engine.fleet import run_fleet
    from dbkit.engine.repeat import run_repeated
    from dbkit.engine.run import expand, run_experiment, run_one
    from dbkit.engine.sweep import run_sweep
    from dbkit.model.errors import ConfigError, DbkitError, ResultExistsError, ServerError
    from dbkit.model.plan import Budget, Plan, plan_fleet
    from dbkit.model.results import Result, Run
    from dbkit.model.service import Service
    from dbkit.model.spec import RunSpec
    from dbkit.servers import EmbeddedServer, ServerSpec, start_server
    from dbkit.store.deploy import build_plan, load_deploy
    from dbkit.store.results import read_result, write_result
    from dbkit.store.scenario import Scenario, load_scenario
    from dbkit.strategies import STRATEGIES

_HOMES = {
    "run_fleet": "dbkit.engine.fleet",
    "run_repeated": "dbkit.engine.repeat",
    "expand": "dbkit.engine.run",
    "run_experiment": "dbkit.engine.run",
    "run_one": "dbkit.engine.run",
    "run_sweep": "dbkit.engine.sweep",
    "ConfigError": "dbkit.model.errors",
    "DbkitError": "dbkit.model.errors",
    "ResultExistsError": "dbkit.model.errors",
    "ServerError": "dbkit.model.errors",
    "Budget": "dbkit.model.plan",
    "Plan": "dbkit.model.plan",
    "Service": "dbkit.model.service",
    "plan_fleet": "dbkit.model.plan",
    "Result": "dbkit.model.results",
    "Run": "dbkit.model.results",
    "RunSpec": "dbkit.model.spec",
    "EmbeddedServer": "dbkit.servers",
    "ServerSpec": "dbkit.servers",
    "start_server": "dbkit.servers",
    "build_plan": "dbkit.store.deploy",
    "load_deploy": "dbkit.store.deploy",
    "read_result": "dbkit.store.results",
    "write_result": "dbkit.store.results",
    "Scenario": "dbkit.store.scenario",
    "load_scenario": "dbkit.store.scenario",
    "STRATEGIES": "dbkit.strategies",
}

__all__ = [
    "STRATEGIES",
    "Budget",
    "ConfigError",
    "DbkitError",
    "EmbeddedServer",
    "Plan",
    "Result",
    "ResultExistsError",
    "Run",
    "RunSpec",
    "Scenario",
    "ServerError",
    "ServerSpec",
    "Service",
    "build_plan",
    "expand",
    "load_deploy",
    "load_scenario",
    "plan_fleet",
    "read_result",
    "run_experiment",
    "run_fleet",
    "run_one",
    "run_repeated",
    "run_sweep",
    "start_server",
    "write_result",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'dbkit' has no attribute {name!r}")
    if home != "dbkit.model.errors":
        # A spec or a result names strategies, known once dbkit.strategies registered them.
        importlib.import_module("dbkit.strategies")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
