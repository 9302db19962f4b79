"""Where CPU time goes during a measurement: a process tree's and the machine's, from /proc.

A tree's CPU is its root's own time, what its reaped children left in the root's cutime/cstime,
and the live children's own time. Before-and-after differences of that sum are exact for a
PostgreSQL server (the postmaster reaps every backend; backends start no children of their own)
and for a process that waits for its multiprocessing children. Linux only; on a machine without
/proc every figure is None.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# Fields of /proc/stat's "cpu" line (after the label): user nice system idle iowait irq softirq
# steal. Interrupt time (loopback TCP is mostly softirq) is in no process's times.
PROCESS_FIELDS = (0, 1, 2)
IRQ_FIELDS = (5, 6)
STEAL_FIELD = 7


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (which may hold spaces and parentheses)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    pids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return pids
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as listing:
                pids += [int(p) for p in listing.read().split()]
        except OSError:
            continue
    return pids


def tree_cpu_s(pid: int, *, include_root: bool = True) -> float | None:
    """CPU seconds (user + system) of ``pid`` and its children, live and reaped, so far.

    Without the root's own time (``include_root=False``) it is what the children used: for the
    current process, the load processes it spawned.
    """
    root = _stat_fields(pid)
    if root is None:
        return None
    # fields from "state" on: utime 11, stime 12, cutime 13, cstime 14
    ticks = int(root[13]) + int(root[14])
    if include_root:
        ticks += int(root[11]) + int(root[12])
    for child in _children(pid):
        fields = _stat_fields(child)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / TICK


def machine_s() -> tuple[float, float, float] | None:
    """CPU seconds all cores spent since boot (/proc/stat), anyone's: in processes, serving
    interrupts, stolen by the hypervisor."""
    try:
        with open("/proc/stat") as stat:
            first = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None

    def seconds(fields: tuple[int, ...]) -> float:
        return sum(first[i] for i in fields if i < len(first)) / TICK

    return seconds(PROCESS_FIELDS), seconds(IRQ_FIELDS), seconds((STEAL_FIELD,))


@dataclass(frozen=True)
class Sample:
    """CPU seconds so far, at ``perf_counter()`` time ``at``."""

    at: float
    load: float | None  # this process's children (the load processes)
    parent: float | None  # this process itself (the fleet's coordinator and monitor)
    server: float | None  # the server's process tree
    machine: float | None  # every process on the machine
    irq: float | None  # interrupts (loopback TCP's softirq among them), in no process's times
    steal: float | None  # taken by the hypervisor


def sample(server_pid: int | None) -> Sample:
    times = os.times()
    machine = machine_s()
    return Sample(
        at=time.perf_counter(),
        load=tree_cpu_s(os.getpid(), include_root=False),
        parent=times.user + times.system,
        server=tree_cpu_s(server_pid) if server_pid is not None else None,
        machine=machine[0] if machine else None,
        irq=machine[1] if machine else None,
        steal=machine[2] if machine else None,
    )


class Sampler:
    """``with Sampler(server_pid) as s:`` samples every ``interval`` s in a thread, into
    ``s.samples``; ``cores(start, end)`` is the CPU each part used over that window, in cores."""

    def __init__(self, server_pid: int | None, interval: float = 0.25) -> None:
        self.server_pid = server_pid
        self.interval = interval
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self.samples.append(sample(self.server_pid))
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(sample(self.server_pid))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(sample(self.server_pid))

    def _at(self, when: float, part: str) -> float | None:
        """A part's CPU seconds at ``when``, interpolated between the samples around it."""
        points = [(s.at, getattr(s, part)) for s in self.samples]
        points = [(t, v) for t, v in points if v is not None]
        if not points:
            return None
        before = [p for p in points if p[0] <= when] or points[:1]
        after = [p for p in points if p[0] >= when] or points[-1:]
        (t0, v0), (t1, v1) = before[-1], after[0]
        return float(v0) if t1 <= t0 else v0 + (v1 - v0) * (when - t0) / (t1 - t0)

    def cores(self, start: float, end: float) -> dict[str, float | None]:
        """Cores each part kept busy on average from ``start`` to ``end`` (perf_counter times):
        load processes, the coordinating parent, the server, every other process on the machine
        (``others``), interrupts and steal.
        """
        out: dict[str, float | None] = {}
        for part in ("load", "parent", "server", "machine", "irq", "steal"):
            a, b = self._at(start, part), self._at(end, part)
            out[part] = None if a is None or b is None else round((b - a) / (end - start), 3)
        known = [out[p] for p in ("load", "parent", "server")]
        if out["machine"] is not None and all(v is not None for v in known):
            out["others"] = round(out["machine"] - sum(v for v in known if v is not None), 3)
        return out
