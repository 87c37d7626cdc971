"""1M customers within 4 GB (issue #17): generating the dataset, then building its features.

Each step runs in a child process of its own, so each peak RSS (``wait4``'s ``ru_maxrss`` of that child) is
that step's alone. The feature build is ``FeatureStore.build`` at its defaults (as-of = the day after the
dataset ends, 14-day label window) into a local store: the online features, the offer tables and the
(customer, offer) training frame over every campaign snapshot, published as one DuckLake commit.

Run from the repository root:  .venv/bin/python -m benchmarks.million [--customers N]
(``benchmarks/training.py --offers --million`` runs it too, as the last rows of the offer-aware section).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RSS_TARGET_GB = 4.0
NOTES = (
    "Each step in a child process of its own; peak RSS is that child's ru_maxrss (wait4), in GiB. The feature "
    "build is FeatureStore.build at its defaults (as-of = dataset end, 14-day label window), publish included. "
    "DuckDB runs with connect()'s defaults: memory_limit 1GB, spilling to a temporary directory, 50,000 customers "
    "a chunk."
)
ROOT = Path(__file__).resolve().parent.parent


def _child(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; its wall time, peak RSS and the JSON it printed last."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, code, output)
    lines = output.strip().splitlines()
    return {
        "seconds": seconds,
        "peak_rss_gb": usage.ru_maxrss / 1024**2,  # KiB on Linux
        **(json.loads(lines[-1]) if lines else {}),
    }


def generate(dataset_dir: Path, customers: int) -> dict:
    """Generate ``customers`` customers into ``dataset_dir`` in a child process."""
    return _child(
        "from pathlib import Path; from loyaltylens.data import GeneratorConfig, generate_dataset; "
        f"generate_dataset(GeneratorConfig(n_customers={customers}), Path({str(dataset_dir)!r}))"
    )


def feature_build(dataset_dir: Path, store_dir: Path) -> dict:
    """Build the features of ``dataset_dir`` into a store at ``store_dir`` in a child process."""
    return _child(f"import benchmarks.million as m; m.build_in_this_process({str(dataset_dir)!r}, {str(store_dir)!r})")


def build_in_this_process(dataset_dir: str, store_dir: str) -> None:
    """The child of ``feature_build``: ``FeatureStore.build`` at its defaults into a local store, publish
    included; prints the version's row counts as JSON."""
    from loyaltylens.features.store import FeatureStore

    info = FeatureStore.at(Path(store_dir)).build(Path(dataset_dir))
    rows = {"online": info.online_rows, "training": info.training_rows}
    print(json.dumps({"rows": rows, "snapshots": len(info.metadata["snapshots"])}))


def run(workdir: Path, customers: int = 1_000_000) -> dict:
    """Generate, then build features, each in its own child process."""
    dataset = workdir / "million"
    generated = generate(dataset, customers)
    return {"customers": customers, "generate": generated, "feature_build": feature_build(dataset, workdir / "store")}


def rows(result: dict) -> list[dict]:
    """Summary rows for BENCHMARKS.md."""
    generated, built = result["generate"], result["feature_build"]
    n = f"{result['customers'] / 1e6:g}M" if result["customers"] >= 1_000_000 else f"{result['customers']:,}"
    return [
        {
            "measure": f"generate {n} customers: wall time / peak RSS (target ≤ {RSS_TARGET_GB:g} GB)",
            "value": f"{generated['seconds']:.0f} s / {generated['peak_rss_gb']:.2f} GB",
        },
        {
            "measure": f"feature-store build of {n} customers (online + offer tables + the (customer, offer) "
            f"training frame over {built['snapshots']} campaigns, published): wall time / peak RSS "
            f"(target ≤ {RSS_TARGET_GB:g} GB)",
            "value": f"{built['seconds']:.0f} s / {built['peak_rss_gb']:.2f} GB",
        },
        {
            "measure": f"feature-store build of {n} customers: rows (online, training)",
            "value": f"{built['rows']['online']:,}, {built['rows']['training']:,}",
        },
    ]


def main() -> None:
    from benchmarks.report import record

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-million-") as tmp:
        result = run(Path(tmp), args.customers)
    summary = rows(result)
    record("million", "1M customers within 4 GB: generation and feature build", result, summary, NOTES)
    for row in summary:
        print(row)


if __name__ == "__main__":
    main()
