"""Load shapes for loadtest/locustfile.py: paper, ramp, spike, soak.

    LOAD_SHAPE=paper .venv-load/bin/locust -f loadtest/locustfile.py,loadtest/shapes.py --headless ...

LOAD_SHAPE picks one (paper, ramp, spike, soak); the shape then drives the user count and stops
the run by itself, and -u/-r/-t are ignored. Without LOAD_SHAPE all four are offered, for the
web UI's `--class-picker`; headless, locust takes the first, paper.

Sizes and durations come from the environment, so a smoke run takes seconds:
  LOAD_DURATION   whole run, seconds or 90s/5m/1h   (paper 5m, ramp 10m, spike 5m, soak 1h)
  LOAD_USERS      steady users                      (paper 100, spike's baseline 100, soak 200)
  LOAD_PEAK       the top of ramp and spike         (1000)
  LOAD_SPAWN_RATE users started per second          (paper/soak 50; spike 200; ramp: even climb)
"""

from __future__ import annotations

import logging
import os
from typing import ClassVar

from locust import LoadTestShape

log = logging.getLogger("surveybot.load")


def duration_seconds(text: str) -> float:
    """'90', '90s', '5m', '1h' -> seconds."""
    text = text.strip().lower()
    factor = {"s": 1, "m": 60, "h": 3600}.get(text[-1:], None)
    value = float(text[:-1] if factor else text)
    if value <= 0:
        raise ValueError(f"duration must be positive: {text!r}")
    return value * (factor or 1)


def _number(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class _Shape(LoadTestShape):
    """A run of `duration` seconds whose user count follows `target(fraction of the run)`."""

    abstract = True
    name: ClassVar[str] = ""
    default_duration: ClassVar[str] = "5m"
    _announced = False

    def __init__(self) -> None:
        super().__init__()
        self.duration = duration_seconds(os.environ.get("LOAD_DURATION", self.default_duration))
        self.users = int(_number("LOAD_USERS", self.default_users()))
        self.peak = int(_number("LOAD_PEAK", 1000))

    def default_users(self) -> int:
        return 100

    def target(self, fraction: float) -> tuple[int, float]:
        raise NotImplementedError

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        if elapsed >= self.duration:
            log.info("shape %s: %.0f s done, stopping", self.name, self.duration)
            return None
        if not self._announced:
            self._announced = True
            log.info(
                "shape %s: %.0f s, users %d, peak %d",
                self.name,
                self.duration,
                self.users,
                self.peak,
            )
        return self.target(elapsed / self.duration)


class PaperShape(_Shape):
    """The study's requirement: 100 concurrent users, steady."""

    abstract = True
    name = "paper"

    def target(self, fraction: float) -> tuple[int, float]:
        return self.users, _number("LOAD_SPAWN_RATE", 50)


class RampShape(_Shape):
    """An even climb to LOAD_PEAK users over the first 80% of the run, then a hold at the peak."""

    abstract = True
    name = "ramp"
    default_duration = "10m"

    def target(self, fraction: float) -> tuple[int, float]:
        climb = 0.8 * self.duration
        rate = _number("LOAD_SPAWN_RATE", max(self.peak / climb, 1.0))
        if fraction < 0.8:
            # Ask for the level reached by now, so the count climbs steadily whatever the tick.
            return max(int(self.peak * fraction / 0.8), 1), rate
        return self.peak, rate


class SpikeShape(_Shape):
    """Baseline users; at 30% of the run a sudden jump to LOAD_PEAK for 20%; back to baseline."""

    abstract = True
    name = "spike"

    def target(self, fraction: float) -> tuple[int, float]:
        rate = _number("LOAD_SPAWN_RATE", 200)
        if 0.3 <= fraction < 0.5:
            return self.peak, rate
        return self.users, rate


class SoakShape(_Shape):
    """A long steady run, to show leaks, pool exhaustion, growing tables and slow drift."""

    abstract = True
    name = "soak"
    default_duration = "1h"

    def default_users(self) -> int:
        return 200

    def target(self, fraction: float) -> tuple[int, float]:
        return self.users, _number("LOAD_SPAWN_RATE", 50)


SHAPES: dict[str, type[_Shape]] = {
    shape.name: shape for shape in (PaperShape, RampShape, SpikeShape, SoakShape)
}

_chosen = os.environ.get("LOAD_SHAPE", "").strip().lower()
if _chosen and _chosen not in SHAPES:
    raise SystemExit(f"LOAD_SHAPE={_chosen!r}: choose one of {', '.join(SHAPES)}")
for _name, _shape in SHAPES.items():
    # locust runs the shape classes that are not abstract: the chosen one, or all for the picker.
    _shape.abstract = bool(_chosen) and _name != _chosen
