"""What a load process runs: a share of a run's burst, or one fleet worker's pool."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dbkit.engine.processes import stop_requests
from dbkit.model.identity import member_tag
from dbkit.model.spec import RunSpec
from dbkit.model.tally import Tally
from dbkit.strategies import Target, get_strategy
from dbkit.strategies.base import Deadline


def _stopped() -> bool:
    return stop_requests() > 0


@dataclass(frozen=True)
class Burst:
    """A share of a run (``--procs``): its strategy's tasks, all handed over at once."""

    group: str
    spec: RunSpec
    ends_on_stop: bool = False

    async def run(
        self,
        app_dsn: str,
        app_name: str,
        tally: Tally,
        start_at: float,
        stopped: Callable[[], bool] = _stopped,
    ) -> None:
        strategy = get_strategy(self.spec.strategy)  # a stop cancels a burst (run_share)
        await strategy.execute(self.spec, Target(app_dsn, app_name), tally)

    def prepare(self) -> None:
        get_strategy(self.spec.strategy).prepare()


@dataclass(frozen=True)
class Worker:
    """One simulated worker process of a fleet service: its own pool (the spec's strategy)
    under ``concurrency`` request handlers from the common start for ``duration`` seconds.
    With ``member`` (its service's index), its connections carry the fleet's member tag for
    that service (model.identity) rather than the fleet's own."""

    group: str
    spec: RunSpec
    concurrency: int
    duration: float
    ends_on_stop: bool = True
    member: int | None = None

    @property
    def max_connections(self) -> int:
        """The most connections its pool holds."""
        return get_strategy(self.spec.strategy).peak_connections(self.spec) or 0

    async def run(
        self,
        app_dsn: str,
        app_name: str,
        tally: Tally,
        start_at: float,
        stopped: Callable[[], bool] = _stopped,
    ) -> None:
        strategy = get_strategy(self.spec.strategy)
        assert strategy.serve is not None
        if not tally.started:
            tally.begin(start_at)  # a fleet's window is the common start, for every worker
        deadline = Deadline(start_at + self.duration, stopped)
        if self.member is not None:
            app_name = member_tag(app_name, self.member)
        await strategy.serve(
            self.spec, Target(app_dsn, app_name), tally, deadline, self.concurrency
        )

    def prepare(self) -> None:
        get_strategy(self.spec.strategy).prepare()
