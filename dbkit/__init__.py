"""dbkit: PostgreSQL connection-limit experiments from Python."""

from dbkit.deploy import build_plan, load_deploy
from dbkit.errors import ConfigError, DbkitError, ResultExistsError, ServerError
from dbkit.experiment import expand, run_experiment, run_one
from dbkit.fleet import run_fleet
from dbkit.plan import Budget, Plan, Service, plan_fleet
from dbkit.results import Result, Run, read_result, write_result
from dbkit.scenario import Scenario, load_scenario
from dbkit.servers import EmbeddedServer, ServerSpec, start_server
from dbkit.spec import RunSpec
from dbkit.strategies import STRATEGIES
from dbkit.sweep import run_sweep

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
