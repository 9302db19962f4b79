"""--procs shares: tasks and bounds add up, and tasks follow the bound."""

from __future__ import annotations

import pytest

from dbkit.model.errors import ConfigError
from dbkit.model.spec import RunSpec
from dbkit.strategies.shares import split


def test_tasks_follow_an_uneven_pool_split() -> None:
    # 5 connections over 2 processes is 3 + 2: an even split of the tasks would leave the
    # smaller pool busy while the larger one idles (efficiency 0.77 measured before).
    parts = split(RunSpec("pool", tasks=100, pool_size=5, procs=2), 2)
    assert [p.pool_size for p in parts] == [3, 2]
    assert [p.tasks for p in parts] == [60, 40]


@pytest.mark.parametrize(
    ("spec", "knob"),
    [
        (RunSpec("pool", tasks=201, pool_size=21, min_size=7, procs=3), "pool_size"),
        (RunSpec("sqlalchemy", tasks=50, pool_size=9, max_overflow=4, procs=2), "max_overflow"),
        (RunSpec("semaphore", tasks=99, limit=10, procs=4), "limit"),
        (RunSpec("batched", tasks=1000, procs=3), "batch_size"),
        (RunSpec("unbatched", tasks=7, procs=3), "tasks"),
    ],
)
def test_shares_add_up(spec: RunSpec, knob: str) -> None:
    parts = split(spec, spec.procs)
    assert sum(p.tasks for p in parts) == spec.tasks
    whole = spec.effective_batch_size if knob == "batch_size" else getattr(spec, knob)
    assert sum(getattr(p, knob) for p in parts) == whole
    assert {p.name for p in parts} == {spec.name} and all(p.procs == 1 for p in parts)


def test_a_strategy_that_does_not_split_says_which_do() -> None:
    with pytest.raises(ConfigError, match="--procs applies to unbatched, batched"):
        split(RunSpec("sleep", tasks=10, mode="batched"), 2)
