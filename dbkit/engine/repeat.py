"""Repeating a measurement: ``--repeat N`` on ``run`` and ``scenario``, a sweep's rounds.

The runs go in rounds (A, B, A, B, not A, A, B, B), so drift on the machine spreads over every
run instead of landing on one; each repeat is its own run record (own tag, own timeline) under
the same name, on the same server, in one result (dbkit.model.repeats reads them back as one).
Everything ``run_experiment`` refuses is refused here the same way, and Ctrl-C keeps every
repeat that finished and the one in progress, marked interrupted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict, Unpack

from dbkit.engine.run import OnServer, Progress, expand, run_experiment
from dbkit.model.errors import ConfigError
from dbkit.model.pooler import PoolerSpec
from dbkit.model.repeats import check_repeat
from dbkit.model.results import Result
from dbkit.model.spec import RunSpec
from dbkit.servers import ServerSpec


def rounds(specs: Sequence[RunSpec], repeat: int) -> list[RunSpec]:
    """``specs`` ``repeat`` times over, in rounds; a bad count is refused (ConfigError)."""
    check_repeat(repeat)
    return list(specs) * repeat


class RunOptions(TypedDict, total=False):
    """``run_experiment``'s keyword options, which ``run_repeated`` takes and passes on, each
    with run_experiment's own default when absent (tests/engine/test_repeat.py holds the two
    lists equal)."""

    loop: str
    command: Sequence[str]
    progress: Progress | None
    on_server: OnServer | None
    allow_storm: bool
    pooler: PoolerSpec | None
    pooled: Sequence[bool] | None


def run_repeated(
    specs: Sequence[RunSpec],
    server: ServerSpec,
    *,
    repeat: int = 1,
    **options: Unpack[RunOptions],
) -> Result:
    """``run_experiment`` with every spec measured ``repeat`` times (1 to 20), in rounds, on
    one server: ``repeat`` runs of each name in the result. ``options`` are run_experiment's;
    ``pooled`` has one flag per spec, as for ``run_experiment``."""
    pooled = options.get("pooled")
    if pooled is not None and len(pooled) != len(specs):
        raise ConfigError(f"pooled names {len(pooled)} runs; there are {len(specs)}")
    runs = rounds(specs, repeat)
    if pooled is not None:
        options["pooled"] = list(pooled) * repeat
    if repeat > 1:  # the progress line names the repeat
        options["progress"] = _marked(options.get("progress"), len(expand(specs)))
    return run_experiment(runs, server, **options)


def _marked(progress: Progress | None, per_round: int) -> Progress | None:
    # pool-5 #2
    if progress is None:
        return None
    report = progress
    return lambda index, name, status: report(index, f"{name} #{index // per_round + 1}", status)
