"""Progress reporting: library functions take an optional callback, the CLIs render it as a rich bar."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

ProgressCallback = Callable[[str, float], None]  # (what is happening, fraction done in [0, 1])


@contextmanager
def rich_progress(title: str) -> Iterator[ProgressCallback]:
    """A progress bar on stderr for the duration of the block; yields the callback to pass down."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[step]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(title, total=1.0, step="")

        def report(step: str, fraction: float) -> None:
            bar.update(task, completed=fraction, step=step)

        yield report
