"""Record a benchmark run: full results as JSON in benchmarks/results/, a summary table in BENCHMARKS.md.

Each benchmark owns one section of BENCHMARKS.md (between its markers) and rewrites it on every run,
so the file always shows the latest measured figures together with the machine they came from.
"""

from __future__ import annotations

import json
import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\nEvery figure here was written by a script in `benchmarks/` (full output in "
    "`benchmarks/results/*.json`). Re-run one with `.venv/bin/python -m benchmarks.<name>`.\n"
)


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def record(name: str, title: str, results: dict, rows: list[dict], notes: str = "", script: str | None = None) -> Path:
    """Write ``results/<name>.json`` and replace the ``name`` section of BENCHMARKS.md with ``rows`` as a table.

    ``script``: the benchmark module that wrote it, when one module records several sections (default ``name``).
    """
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    meta = machine()
    out = RESULTS_DIR / f"{name}.json"
    out.write_text(
        json.dumps({"benchmark": name, "machine": meta, "results": results}, indent=2, default=str)
    )

    columns = list(dict.fromkeys(key for row in rows for key in row))
    table = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    table += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    section = "\n".join(
        [
            f"<!-- {name}:start -->",
            f"## {title}",
            "",
            f"`benchmarks/{script or name}.py`, {meta['timestamp']}, {meta['cpus']} CPUs, Python {meta['python']}.",
            "",
            *table,
            *(["", notes] if notes else []),
            f"<!-- {name}:end -->",
        ]
    )
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else HEADER
    pattern = re.compile(rf"<!-- {re.escape(name)}:start -->.*?<!-- {re.escape(name)}:end -->", re.S)
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + section + "\n"
    )
    BENCHMARKS_MD.write_text(text)
    return out


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
