"""dbkit: PostgreSQL connection-limit experiments from Python."""

from dbkit.engine.fleet import run_fleet
from dbkit.engine.run import expand, run_experiment, run_one
from dbkit.engine.sweep import run_sweep
from dbkit.model.errors import ConfigError, DbkitError, ResultExistsError, ServerError
from dbkit.model.plan import Budget, Plan, Service, plan_fleet
from dbkit.model.results import Result, Run
from dbkit.model.spec import RunSpec
from dbkit.servers import EmbeddedServer, ServerSpec, start_server
from dbkit.store.deploy import build_plan, load_deploy
from dbkit.store.results import read_result, write_result
from dbkit.store.scenario import Scenario, load_scenario
from dbkit.strategies import STRATEGIES

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
    "run_sweep",
    "start_server",
    "write_result",
]
