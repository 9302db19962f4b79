"""Faults as data: what a run is asked to suffer (``KIND@SECONDS``) and what it did."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from dbkit.model.errors import ConfigError
from dbkit.model.keys import Key, read, write

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
    """What a fault did: when, how long the action took, and the run's recovery after it
    (``recovery_s`` None: no query succeeded after it); the failures after it by SQLSTATE (or
    exception type without one) and the backends a terminate ended. The fields are the JSON
    keys of a run's ``faults``."""

    kind: Annotated[str, Key("str")]
    at_s: Annotated[float, Key("number")]
    action_s: Annotated[float, Key("amount")]
    recovery_s: Annotated[float | None, Key((None, "amount"), absent=None)]
    failed: Annotated[int, Key("count")]
    errors_by_sqlstate: Annotated[dict[str, int], Key("sqlstate_counts", absent={})]
    terminated: Annotated[int | None, Key((None, "count"), absent=None)] = None

    def to_dict(self) -> dict[str, Any]:
        return {**write(self), "errors_by_sqlstate": dict(self.errors_by_sqlstate)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultRecord:
        counts = dict(data.get("errors_by_sqlstate", {}))
        return cls(**read(cls, data, errors_by_sqlstate=counts))
