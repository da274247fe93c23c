"""Polling AWS until something is ready: configurable interval and timeout, elapsed time shown, clock injectable."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn

T = TypeVar("T")


@dataclass
class Clock:
    """Time as the waits see it; tests give one whose sleep only moves `now` forward."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Polling:
    interval_s: float = 15.0
    timeout_s: float = 3600.0


class WaitTimedOut(TimeoutError):
    pass


class WaitFailed(RuntimeError):
    pass


@dataclass
class Waiter:
    clock: Clock = field(default_factory=Clock)
    polling: Polling = field(default_factory=Polling)
    console: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True))

    def until(
        self,
        what: str,
        look: Callable[[], T],
        state_of: Callable[[T], str],
        done: set[str],
        failed: set[str] | frozenset[str] = frozenset(),
    ) -> T:
        """Poll `look` until its state is in `done`; a state in `failed` or the timeout raises."""
        started = self.clock.now()
        columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), TextColumn("{task.fields[status]}"))
        with Progress(*columns, console=self.console, transient=True) as progress:
            task = progress.add_task(what, status="")
            while True:
                seen = look()
                state = state_of(seen)
                elapsed = self.clock.now() - started
                progress.update(task, status=f"{state} · {_minutes(elapsed)}")
                if state in done:
                    self.console.print(f"{what}: {state} after {_minutes(elapsed)}", highlight=False)
                    return seen
                if state in failed:
                    raise WaitFailed(f"{what}: it became {state} after {_minutes(elapsed)}")
                if elapsed >= self.polling.timeout_s:
                    raise WaitTimedOut(
                        f"{what}: still {state} after {_minutes(elapsed)} (timeout {self.polling.timeout_s:.0f} s; "
                        "raise it with --timeout)"
                    )
                self.clock.sleep(min(self.polling.interval_s, max(0.0, self.polling.timeout_s - elapsed)))


def _minutes(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"
