"""Run a list of steps, each owning the cleanup of what it made; on any failure or Ctrl-C, undo in reverse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console

from tm351vce.ami.aws import error_text
from tm351vce.ami.waiting import Clock
from tm351vce.shelf.errors import OperationFailed, UsageProblem


@dataclass
class Step:
    name: str
    run: Callable[[], None]
    # Undoes what run made, also when run stopped half way; must tolerate finding nothing to undo.
    cleanup: Callable[[], None] | None = None
    # What the step would create or change, for --dry-run.
    plan: str = ""


@dataclass
class StepResult:
    timings_s: dict[str, float] = field(default_factory=dict)


class StepFailed(OperationFailed):
    def __init__(self, step: str, reason: str, leftovers: list[str]) -> None:
        message = f"Step '{step}' failed: {reason}"
        if leftovers:
            message += f". Some cleanups failed too, so these may remain: {'; '.join(leftovers)}"
        super().__init__(message)
        self.step = step
        self.leftovers = leftovers


def run_steps(
    steps: list[Step],
    *,
    keep_on_error: bool = False,
    clock: Clock | None = None,
    console: Console | None = None,
    result: StepResult | None = None,
) -> StepResult:
    """Run steps in order; `result` fills in as they finish, so a late step can read the earlier timings."""
    clock = clock or Clock()
    console = console or Console(stderr=True, soft_wrap=True)
    result = result if result is not None else StepResult()
    started: list[Step] = []
    for step in steps:
        started.append(step)
        console.print(f"[bold]→ {step.name}[/bold]", highlight=False)
        began = clock.now()
        try:
            step.run()
        except BaseException as problem:  # Ctrl-C and every error must undo what was made
            reason = "interrupted (Ctrl-C)" if isinstance(problem, KeyboardInterrupt) else error_text(problem)
            if keep_on_error:
                console.print("--keep-on-error: leaving what was made for inspection.", highlight=False)
                raise StepFailed(step.name, reason, []) from problem
            leftovers = undo(started, console)
            if isinstance(problem, UsageProblem) and not leftovers:
                raise  # bad input stays exit 2, with its own message naming the fix
            raise StepFailed(step.name, reason, leftovers) from problem
        result.timings_s[step.name] = round(clock.now() - began, 3)
    return result


def undo(steps: list[Step], console: Console) -> list[str]:
    """Run the cleanups of steps in reverse; every one is tried, and those that fail are returned."""
    leftovers = []
    for step in reversed(steps):
        if step.cleanup is None:
            continue
        console.print(f"  undoing: {step.name}", highlight=False)
        try:
            step.cleanup()
        except BaseException as problem:  # a second Ctrl-C must not skip the other cleanups
            reason = error_text(problem) if isinstance(problem, Exception) else "interrupted"
            leftovers.append(f"{step.name} ({reason})")
    return leftovers
