"""The Dask executor: a fleet's shares as tasks on a Dask distributed cluster.

``--cluster ADDRESS`` connects to a running scheduler (``tcp://host:8786``); ``--cluster
local:N`` starts a LocalCluster of N worker processes on this machine for the fleet and closes
it after. Each share is one task pinned to one worker (round-robin over the cluster's workers),
running its units on the worker's event loop (engine/dask_worker.py, the worker's side). The
coordinator (this process) keeps the executor's contract as LocalProcesses does: a common
start, progress and a fault's marks on a timer, Ctrl-C stops every share and what each
measured is still collected. A worker process that dies mid-fleet is not silently dropped: its
share is counted as failed, one ``WorkerLost`` error per simulated worker it carried, with the
reason as the error's example, and listed in the result's metadata.

``distributed`` is imported by engine/dask_setup.py only, and only once a cluster is asked
for: without ``--cluster`` Dask is not needed (``pip install 'dbkit[dask]'`` adds it).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from time import perf_counter
from typing import Any
from urllib.parse import urlsplit

from dbkit.engine import dask_worker
from dbkit.engine.dask_setup import ClusterSpec, open_cluster, why
from dbkit.engine.dask_worker import Report, Start, boot_id
from dbkit.engine.machine import package_version
from dbkit.engine.processes import MARK_WAIT_S, PROCESS_READY_S, Outcome, Share
from dbkit.model.errors import ConfigError, DbkitError
from dbkit.model.tally import Tally

# The coordinator's timer. A sync is one broadcast through the scheduler (a connection to
# each worker): progress is read every PROGRESS_S, which costs the workers' event loops little
# (every 0.05 s took a quarter of a 2-core fleet's throughput); a fault's mark, its end and a
# stop are sent at the next SYNC_S tick, and the marks read back as fast.
SYNC_S = 0.05
PROGRESS_S = 0.25
CLOSE_S = 10.0
RESULT_S = 30.0  # the longest a finished share's report takes to fetch from its worker
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class WorkerLost(DbkitError):
    """A Dask worker process died (or left the cluster) before its share reported."""


Deal = Callable[[int], list[Share]]  # the cluster's worker count -> the shares to run


class DaskExecutor:
    """The executor over a ``distributed.Client``: each share a task on one worker."""

    kind = "dask"
    # The common start lies this far ahead of the start signal: the start goes to every worker
    # in one broadcast through the scheduler (about 0.26 s measured on 2 cores).
    start_ahead_s = 0.3

    def __init__(self, spec: ClusterSpec, deal: Deal) -> None:
        self.spec = spec
        self.deal = deal
        self.key = f"dbkit-fleet-{uuid.uuid4().hex[:12]}"
        self.shares: list[Share] = []
        self.client: Any = None
        self.cluster: Any = None
        self.workers: dict[str, dict[str, Any]] = {}  # address -> dask_worker.describe()
        self.placed: dict[int, str] = {}  # share index -> worker address
        self.futures: dict[int, Any] = {}
        self.gauges: dict[int, tuple[float, ...]] = {}  # done, failed, after_fault, marked, ready
        self.lost: dict[int, dict[str, Any]] = {}
        self.reports: dict[int, Report] = {}
        self.fault = 0.0
        self.stops = 0
        self.start_s: float | None = None
        self.begun_at: float | None = None
        self.sent = False
        self.synced_at = -float("inf")
        self.pushed = (0.0, 0)  # the fault state and stop count the workers have
        # A step of the timer runs in a thread (the client's calls block); one at a time, as a
        # cancelled step's thread may still be finishing when the next begins.
        self.lock = threading.Lock()

    # -- start -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start or reach the cluster, deal the shares over its workers, submit them and wait
        until every share says it is ready."""
        began = perf_counter()
        self.client, self.cluster = open_cluster(self.spec)
        if self.cluster is not None:
            self.client.run(dask_worker.ignore_interrupts)
        try:
            self.workers = dict(sorted(self.client.run(dask_worker.describe).items()))
        except Exception as exc:  # a worker without dbkit cannot even unpickle the call
            raise DbkitError(
                f"cluster {self.spec}: its workers cannot run dbkit ({why(exc)}): install "
                "dbkit, the same version, on every worker host"
            ) from None
        self._check_workers()
        self.shares = self.deal(len(self.workers))
        self._check_reach()
        addresses = list(self.workers)
        for share in self.shares:
            self.placed[share.index] = addresses[share.index % len(addresses)]
        self._check_slots()
        for share in self.shares:
            address = self.placed[share.index]
            self.futures[share.index] = self.client.submit(
                dask_worker.serve_share,
                self.key,
                share,
                key=f"{self.key}-{share.index}",
                workers=[address],
                allow_other_workers=False,
                pure=False,
            )
        self._wait_ready()
        self.start_s = perf_counter() - began

    def _check_workers(self) -> None:
        if not self.workers:
            raise DbkitError(f"cluster {self.spec}: no workers")
        mine = package_version("dbkit")
        other = sorted({str(w["dbkit"]) for w in self.workers.values() if w["dbkit"] != mine})
        if other:
            raise DbkitError(
                f"cluster {self.spec}: workers run dbkit {', '.join(other)}, this is {mine}: "
                "install the same dbkit on every worker host"
            )

    def _check_reach(self) -> None:
        """A DSN on this host's loopback cannot be reached from a worker on another host."""
        host = urlsplit(self.shares[0].app_dsn).hostname if self.shares else None
        mine = boot_id()
        away = [a for a, w in self.workers.items() if mine is None or w["boot"] != mine]
        if host in LOOPBACK and away:
            raise ConfigError(
                f"cluster {self.spec}: the fleet's DSN is on this host's loopback ({host}), "
                f"which workers on other hosts ({away[0]}) cannot reach: give a --dsn every "
                "worker host reaches"
            )

    def _check_slots(self) -> None:
        # An async task holds one of its worker's task slots (nthreads) while it runs: shares
        # beyond a worker's slots would wait for the others to finish, not run beside them.
        for address, worker in self.workers.items():
            on_it = sum(1 for a in self.placed.values() if a == address)
            if worker["nthreads"] is not None and on_it > worker["nthreads"]:
                raise ConfigError(
                    f"cluster {self.spec}: {on_it} shares on worker {address}, which runs "
                    f"{worker['nthreads']} task(s) at a time: give --procs at most the "
                    "cluster's task slots"
                )

    def _wait_ready(self) -> None:
        deadline = perf_counter() + PROCESS_READY_S
        while True:
            self._sync()
            self._raise_failed()
            if self.lost:
                (index, lost), *_ = self.lost.items()
                raise DbkitError(f"cluster {self.spec}: share {index}: {lost['reason']}")
            ready = sum(1 for i in self.futures if self.gauges.get(i, (0,) * 5)[4])
            if ready == len(self.futures):
                return
            if perf_counter() > deadline:
                raise DbkitError(
                    f"cluster {self.spec}: {len(self.futures) - ready} shares not ready after "
                    f"{PROCESS_READY_S:.0f} s"
                )
            time.sleep(SYNC_S)

    # -- the timer ---------------------------------------------------------------------------

    def _sync(self) -> None:
        """One broadcast: the fault state and stop count out, every share's gauges in; a share
        whose worker has left the cluster, and has not reported, is lost."""
        fault, stops = self.fault, self.stops
        try:
            answers = self.client.run(dask_worker.sync, self.key, fault, stops, on_error="return")
        except (OSError, TimeoutError) as exc:
            raise DbkitError(f"cluster {self.spec}: lost the scheduler: {why(exc)}") from None
        gauges = dict(self.gauges)  # replaced whole: the event loop's thread reads it
        for answer in answers.values():
            if isinstance(answer, dict):
                gauges.update(answer)
        self.gauges = gauges
        self.pushed, self.synced_at = (fault, stops), perf_counter()
        for index, address in self.placed.items():
            future = self.futures[index]
            if index in self.lost or future.status == "finished":
                continue
            if address not in answers or future.status == "cancelled":
                self._lose(index, address, "left the cluster" if address not in answers else
                           "its task was cancelled by the cluster")  # fmt: skip

    def _lose(self, index: int, address: str, what: str) -> None:
        worker = self.workers.get(address, {})
        units = len(next(s for s in self.shares if s.index == index).units)
        done, failed = self.gauges.get(index, (0.0, 0.0))[:2]
        since = "" if self.begun_at is None else f" {perf_counter() - self.begun_at:.1f} s in"
        reason = (
            f"worker {address} (host {worker.get('host')}, pid {worker.get('pid')}) {what}"
            f"{since}: the {units} simulated workers of its share are counted as failed, and "
            f"what they measured ({int(done)} requests seen done, {int(failed)} failed) is lost"
        )
        self.lost[index] = {
            "share": index,
            "worker": address,
            "host": worker.get("host"),
            "units": units,
            "seen_done": int(done),
            "seen_failed": int(failed),
            "reason": reason,
        }
        with contextlib.suppress(Exception):  # never to run again on a worker that may come back
            self.futures[index].cancel()

    def _raise_failed(self) -> None:
        for index, future in self.futures.items():
            if future.status == "error" and index not in self.lost:  # a lost one is counted
                exc = future.exception()
                raise DbkitError(
                    f"cluster {self.spec}: share {index} on worker {self.placed[index]} failed: "
                    f"{why(exc)}"
                )

    # -- the executor's contract -----------------------------------------------------------------

    def done(self) -> int:
        """Tasks done so far over every share (read on the timer)."""
        return int(sum(g[0] for g in self.gauges.values()))

    def failed(self) -> int:
        """Tasks failed so far over every share (read on the timer, with ``done``)."""
        return int(sum(g[1] for g in self.gauges.values()))

    def after_fault(self) -> int:
        """Statements that started after the fault's mark and succeeded, over every share."""
        return int(sum(g[2] for g in self.gauges.values()))

    async def mark_fault(self) -> None:
        """Every share snapshots its tallies' failures before a fault's action begins (the
        next sync carries the mark; each worker confirms it on the one after)."""
        self.fault = 1.0
        deadline = perf_counter() + MARK_WAIT_S
        while perf_counter() < deadline and not self._marked():
            await asyncio.sleep(SYNC_S / 4)

    def fault_over(self) -> None:
        self.fault = 2.0

    async def collect(
        self, start_at: float, give_up: float | None, tick: Callable[[], None] | None = None
    ) -> list[Outcome]:
        """Send the common start; collect every share's outcome (those of a Ctrl-C too: each
        signal is one more "stop now" to every share, and what they measured is kept); a share
        whose worker died is counted as failed. ``give_up``: a perf_counter() time after which
        shares still working are a failure."""
        start = Start(start_at, time.time() + (start_at - perf_counter()), boot_id())
        self.begun_at = start_at
        while True:
            try:
                if self._due():
                    await asyncio.to_thread(self._step, start)
                if tick is not None:
                    tick()
                if len(self.reports) + len(self.lost) == len(self.futures):
                    break
                if give_up is not None and perf_counter() > give_up:
                    raise DbkitError(
                        f"cluster {self.spec}: shares did not finish by {give_up - start_at:.0f} s"
                    )
                await asyncio.sleep(SYNC_S)
            except asyncio.CancelledError:
                # Ctrl-C or SIGTERM (each one): one more "stop now" to every share, carried by
                # the next step, at once; their outcomes are still awaited and kept.
                self.stops += 1
        return [self._outcome(share, start_at) for share in self.shares]

    def _due(self) -> bool:
        """Whether the timer syncs now: progress is due, there is news to send (a fault, a
        stop), a fault's marks are awaited, or a share has finished."""
        if perf_counter() - self.synced_at >= PROGRESS_S or self.pushed != (self.fault, self.stops):
            return True
        if self.fault == 1.0 and not self._marked():
            return True
        return any(
            f.status != "pending"
            for i, f in self.futures.items()
            if i not in self.reports and i not in self.lost
        )

    def _marked(self) -> bool:
        return all(
            self.gauges.get(i, (0,) * 5)[3] or i in self.lost or i in self.reports
            for i in self.futures
        )

    def _step(self, start: Start) -> None:
        with self.lock:
            if not self.sent:
                workers = sorted(set(self.placed.values()))
                self.client.run(
                    dask_worker.begin, self.key, start, workers=workers, on_error="ignore"
                )
                self.sent = True
            self._sync()
            self._harvest()

    def _harvest(self) -> None:
        self._raise_failed()
        gauges = dict(self.gauges)
        for index, future in self.futures.items():
            if index in self.reports or index in self.lost or future.status != "finished":
                continue
            try:
                report: Report = future.result(timeout=RESULT_S)
            except Exception as exc:  # its worker died before the report was fetched
                self._lose(index, self.placed[index], f"lost its report ({why(exc)})")
                continue
            self.reports[index] = report
            if report.outcome is not None:  # its final counts, which the timer may have missed
                tallies = report.outcome.tallies.values()
                gauges[index] = (
                    float(sum(t.done for t in tallies)),
                    float(sum(t.failed for t in tallies)),
                    float(sum(t.queries_after_fault for t in tallies)),
                    1.0,
                    1.0,
                )
        for index, lost in self.lost.items():
            gauges[index] = (float(lost["units"]), float(lost["units"]), 0.0, 1.0, 1.0)
        self.gauges = gauges

    def _outcome(self, share: Share, start_at: float) -> Outcome:
        report = self.reports.get(share.index)
        if report is not None and report.outcome is not None:
            return report.outcome
        # A lost share: each of its simulated workers is one failure, the reason its example.
        reason = self.lost.get(share.index, {}).get("reason", "its worker never reported")
        tallies: dict[str, Tally] = {}
        for unit in share.units:
            tally = tallies.setdefault(unit.group, Tally(share.sample_cap, seed=share.index))
            if not tally.started:
                tally.begin(start_at)
            tally.failure(WorkerLost(reason))
        for tally in tallies.values():
            tally.end()
        return Outcome(tallies, False)

    def close(self, wait: float = CLOSE_S) -> None:
        """Cancel whatever still runs of this fleet, and close the client (and the
        LocalCluster, with its worker processes, when this executor started one)."""
        if self.client is not None:
            with contextlib.suppress(Exception):  # best effort: the cluster may be gone
                self.client.run(dask_worker.close, self.key, on_error="ignore")
                self.client.cancel(list(self.futures.values()), force=True)
            with contextlib.suppress(Exception):
                self.client.close(timeout=max(wait, 1.0))
            self.client = None
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close(timeout=max(wait, 1.0))
            self.cluster = None

    def describe(self) -> dict[str, Any]:
        """The result's ``executor`` metadata: the cluster, its workers and their hosts, the
        start-up, how the start reached them, and any share lost with its worker."""
        lates = [r.late_s for r in self.reports.values() if r.outcome is not None]
        mine = boot_id()
        return {
            "kind": self.kind,
            "cluster": str(self.spec),
            "workers": len(self.workers),
            "hosts": [w["host"] for w in self.workers.values()],
            "addresses": list(self.workers),
            "worker_event_loop": sorted({str(w["loop"]) for w in self.workers.values()}),
            "worker_profiler": any(w["profiler"] for w in self.workers.values()),
            "shares": len(self.shares),
            "start_s": None if self.start_s is None else round(self.start_s, 3),
            "clock": "shared"
            if mine is not None and all(w["boot"] == mine for w in self.workers.values())
            else "wall",
            "start_late_s": round(max(lates), 4) if lates else None,
            "lost": [self.lost[i] for i in sorted(self.lost)],
        }
