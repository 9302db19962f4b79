"""Faults as data: what a run is asked to suffer (``KIND@SECONDS``) and what it did."""

from __future__ import annotations

import math
from dataclasses import dataclass

from dbkit.model.errors import ConfigError

FAULT_KINDS = ("terminate", "restart", "stop")


@dataclass(frozen=True)
class Fault:
    kind: str
    at_s: float

    @classmethod
    def parse(cls, text: str) -> Fault:
        """``"restart@2.5"`` -> Fault("restart", 2.5)."""
        kind, sep, at = text.partition("@")
        try:
            at_s = float(at) if sep else -1.0
        except ValueError:
            at_s = -1.0
        if kind not in FAULT_KINDS or not 0 <= at_s < math.inf:
            raise ConfigError(
                f"fault must be KIND@SECONDS with KIND one of {', '.join(FAULT_KINDS)} "
                f"(got {text!r})"
            )
        return cls(kind, at_s)


@dataclass(frozen=True)
class FaultRecord:
    """What a fault did: when, how long the action took, and the run's recovery after it."""

    kind: str
    at_s: float
    action_s: float
    recovery_s: float | None
    failed: int
    errors_by_sqlstate: dict[str, int]
    terminated: int | None = None
