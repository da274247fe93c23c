"""Run a long command with a live one-line summary, keeping its whole output in a log file."""

from __future__ import annotations

import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tm351vce.shelf.constants import CACHE_DIR

console = Console(stderr=True, soft_wrap=True)
LOG_DIR = CACHE_DIR


@dataclass(frozen=True)
class Finished:
    returncode: int
    tail: list[str]
    log: Path

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run_with_progress(
    command: list[str],
    title: str,
    log: Path,
    *,
    stdin_text: str | None = None,
    summarise: Callable[[str], str | None] = lambda line: line,
    tail_lines: int = 30,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Finished:
    """Run command, showing title and the latest summarised output line with the time spent."""
    log.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=tail_lines)
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[step]}"),
    )
    with log.open("w", encoding="utf-8") as log_file, Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(title, step="")
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            cwd=cwd,
            env=env,
        )
        if process.stdin is not None and stdin_text is not None:
            process.stdin.write(stdin_text)
            process.stdin.close()
        for line in process.stdout or ():
            log_file.write(line)
            line = line.rstrip()
            tail.append(line)
            step = summarise(line)
            if step:
                progress.update(task, step=step[: max(20, console.width - 40)])
        returncode = process.wait()
        elapsed = progress.tasks[0].elapsed or 0.0
    mark = "[green]done[/green]" if returncode == 0 else "[red]failed[/red]"
    console.print(f"{title}: {mark} in {elapsed:.1f} s")
    return Finished(returncode, list(tail), log)


def wait_with_progress(check: Callable[[], bool], title: str, timeout_s: float, interval_s: float = 2.0) -> bool:
    """Call check until it returns True or timeout_s passes, showing title and the time spent."""
    columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn())
    deadline = time.monotonic() + timeout_s
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(title)
        while True:
            if check():
                ok = True
                break
            if time.monotonic() >= deadline:
                ok = False
                break
            time.sleep(interval_s)
        elapsed = progress.tasks[task].elapsed or 0.0
    mark = "[green]done[/green]" if ok else "[red]timed out[/red]"
    console.print(f"{title}: {mark} in {elapsed:.1f} s")
    return ok
