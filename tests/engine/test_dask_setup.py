"""--cluster without a cluster: what is accepted, what is refused, and Dask loaded only when
asked for (the fleets themselves run in tests/integration/test_dask.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dbkit.engine.dask_setup import ClusterSpec
from dbkit.model.errors import ConfigError
from tests.helpers import assert_one_line_error, dbkit


@pytest.mark.parametrize(
    ("text", "address", "local"),
    [
        ("local:2", None, 2),
        ("local:64", None, 64),
        ("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786", None),
        ("scheduler.internal:8786", "tcp://scheduler.internal:8786", None),
        ("tls://sched:8786", "tls://sched:8786", None),
        ("tcp://[::1]:8786", "tcp://[::1]:8786", None),
    ],
)
def test_a_cluster_is_a_scheduler_address_or_local_workers(
    text: str, address: str | None, local: int | None
) -> None:
    spec = ClusterSpec.parse(text)
    assert (spec.address, spec.local) == (address, local)
    assert ClusterSpec.parse(str(spec)) == spec


@pytest.mark.parametrize(
    "text",
    ["local:0", "local:65", "local:", "local:two", "", "sched", "http://sched:8786",
     "tcp://sched", "tcp://sched:99999", "tcp://sched:8786/x"],
)  # fmt: skip
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="cluster"):
        ClusterSpec.parse(text)


def test_a_bad_cluster_is_one_line_and_exit_2_before_any_server_starts() -> None:
    proc = dbkit("fleet", "--service", "api:replicas=1,workers=1,pool_size=1", "--cluster", "x")
    assert_one_line_error(proc, 2, "cluster: expected a scheduler address")
    proc = dbkit("fleet", "--service", "a:replicas=1,workers=1,pool_size=1", "--cluster", "local:0")
    assert_one_line_error(proc, 2, "local:N takes 1 to 64 worker processes")


def test_without_distributed_a_cluster_is_refused_with_how_to_install_it() -> None:
    code = (
        "import sys\n"
        "sys.modules['distributed'] = None  # as if not installed\n"
        "from dbkit.engine.fleet import run_fleet\n"
        "from dbkit.model.errors import ConfigError\n"
        "from dbkit.model.service import Service\n"
        "from dbkit.servers import ServerSpec\n"
        "try:\n"
        "    run_fleet([Service('a', 1, 1, 1)], ServerSpec('embedded'), cluster='local:2')\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "pip install 'dbkit[dask]'" in out.stdout, out.stderr


def test_dask_is_loaded_only_when_a_cluster_is_asked_for() -> None:
    code = (
        "import sys, dbkit.cli, dbkit.cli.fleet, dbkit.engine.fleet, dbkit.engine.dask_setup\n"
        "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
