"""The progress bar of a batch, on stderr: a module of its own, loaded by a batch only, because
rich.progress (with rich.live) costs a cold `callqa score CALL`, which shows no bar, 2 % of its start."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text


class SpeedColumn(ProgressColumn):
    """Calls per second."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.0f} 通/秒" if task.speed else "", style="cyan")


def batch_progress(console: Console) -> Progress:
    """A transient bar (calls done of all, calls per second, time left), off when not a terminal."""
    return Progress(
        TextColumn("评分"),
        BarColumn(),
        MofNCompleteColumn(),
        SpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
