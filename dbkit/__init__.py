"""dbkit: PostgreSQL connection-limit experiments from Python."""

from dbkit.errors import ConfigError, DbkitError, ResultExistsError, ServerError
from dbkit.experiment import expand, run_experiment, run_one
from dbkit.results import Result, Run, read_result, write_result
from dbkit.scenario import Scenario, load_scenario
from dbkit.servers import EmbeddedServer, ServerSpec, start_server
from dbkit.spec import RunSpec
from dbkit.strategies import STRATEGIES

__all__ = [
    "STRATEGIES",
    "ConfigError",
    "DbkitError",
    "EmbeddedServer",
    "Result",
    "ResultExistsError",
    "Run",
    "RunSpec",
    "Scenario",
    "ServerError",
    "ServerSpec",
    "expand",
    "load_scenario",
    "read_result",
    "run_experiment",
    "run_one",
    "start_server",
    "write_result",
]
