"""``loyaltylens feedback ...`` (quality, exports, OpenAPI) and ``loyaltylens serve feedback``.

    loyaltylens serve feedback [--port 8070]
    loyaltylens feedback quality [--as-of 2026-12-02T00:00:00Z]
    loyaltylens feedback export sft|dpo --out FILE
    loyaltylens feedback openapi [--out docs/feedback-openapi.json]
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from loyaltylens.config import Settings, get_settings
from loyaltylens.errors import InvalidInputError
from loyaltylens.feedback.api import openapi_document
from loyaltylens.feedback.export import chat_examples, preference_pairs, write_jsonl
from loyaltylens.feedback.process import feedback_process
from loyaltylens.feedback.quality import recent_quality
from loyaltylens.feedback.store import open_feedback_store
from loyaltylens.local.launcher import LOOPBACK
from loyaltylens.local.serve_cli import _handle_sigterm_like_ctrl_c, _log_dir, _wait_until_interrupted

app = typer.Typer(help="Ratings of generated offers: copy quality, preference exports, the service's OpenAPI.")
console = Console()


def _settings() -> Settings:
    """The settings, with the embedded Postgres started when the feedback store is Postgres and no
    LOYALTYLENS_POSTGRES_URL is set (the library's store only connects to a URL)."""
    settings = get_settings()
    if settings.feedback_store != "postgres":
        return settings
    from loyaltylens.local.postgres import with_postgres

    return with_postgres(settings)


def serve_feedback(port: Annotated[int, typer.Option(help="HTTP port on loopback.")] = 8070) -> None:
    """Serve the feedback API and web UI over the settings' feedback store."""
    _handle_sigterm_like_ctrl_c()
    settings = _settings()
    env = {"LOYALTYLENS_POSTGRES_URL": settings.postgres_url} if settings.postgres_url else None
    with feedback_process(port, _log_dir() / "feedback.log", env=env) as server:
        console.print(f"feedback     http://{LOOPBACK}:{port}/  API http://{LOOPBACK}:{port}/docs")
        _wait_until_interrupted([server])


def _as_of(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInputError(f"--as-of {value!r} is not an ISO 8601 timestamp") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command()
def quality(as_of: Annotated[str | None, typer.Option(help="End of the window (ISO 8601); default now.")] = None):
    """Copy quality over the last feedback_window_days, per prompt version and generator version."""
    settings = _settings()
    table = Table(title=f"{settings.feedback_window_days}-day copy quality")
    for column in ("prompt", "generator", "mean stars", "thumbs up", "star ratings", "thumb ratings"):
        table.add_column(column)
    for row in recent_quality(settings, _as_of(as_of)).itertuples(index=False):
        table.add_row(
            row.prompt_version,
            row.generator_version,
            "-" if pd.isna(row.mean_stars) else f"{row.mean_stars:.2f}",
            "-" if pd.isna(row.thumbs_up_rate) else f"{row.thumbs_up_rate:.0%}",
            str(row.star_ratings),
            str(row.thumb_ratings),
        )
    console.print(table)


@app.command()
def export(
    kind: Annotated[Literal["sft", "dpo"], typer.Argument(help="sft: top-rated chat examples; dpo: pairs.")],
    out: Annotated[Path, typer.Option(help="JSONL file to write.")],
) -> None:
    """Export preference data from every rating in the store."""
    with open_feedback_store(_settings()) as store:
        frame = store.feedback_frame()
    rows = chat_examples(frame) if kind == "sft" else preference_pairs(frame)
    console.print(f"{write_jsonl(rows, out)} {kind} lines -> {out}")


@app.command()
def openapi(out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None) -> None:
    """The feedback service's OpenAPI document (docs/feedback-openapi.json is this, committed)."""
    text = json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
