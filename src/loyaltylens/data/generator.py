"""Generate a synthetic loyalty dataset: the event tables, the hidden truth and a manifest.

Customers are simulated in fixed-size chunks (so a million customers fit in memory), each with its
own random stream derived from the seed, so the output is byte-identical for a seed. Tables are
written into a staging directory that is renamed to its final name only when complete.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from loyaltylens.config import Settings
from loyaltylens.data.behaviour import calendar_factors
from loyaltylens.data.config import GeneratorConfig
from loyaltylens.data.drift import DriftScenario
from loyaltylens.data.io import content_hash, read_manifest
from loyaltylens.data.offers import OfferCatalogue, generate_offers
from loyaltylens.data.population import generate_population
from loyaltylens.data.progress import ProgressCallback
from loyaltylens.data.schema import (
    MANIFEST_FILENAME,
    OFFER_CHANNELS,
    TABLE_SCHEMAS,
    TRUTH_DIRNAME,
    TRUTH_SCHEMAS,
    schema_of,
    schema_to_dict,
    table_relpath,
)
from loyaltylens.data.simulate import Assignments, campaign_days, simulate_chunk
from loyaltylens.data.staging import new_staging_dir, remove_stale_staging, replace_dir
from loyaltylens.vocabulary import SEGMENTS

CHUNK_SIZE = 25_000  # customers simulated together; bounds memory at ~1 GB whatever the population size
GENERATOR_VERSION = 3  # bump when the same config would produce different data

# Independent random streams, so e.g. changing the offer count does not reshuffle the customers.
_POPULATION_STREAM, _OFFER_STREAM, _CHUNK_STREAM = 0, 1, 2


@dataclass(frozen=True)
class DatasetInfo:
    """A generated dataset: where it is and its manifest."""

    path: Path
    manifest: dict


def dataset_id(config: GeneratorConfig) -> str:
    """Deterministic readable name, e.g. ``seed42-c50000-d365``.

    Any other field that differs from its default adds a short hash suffix, so different data never
    shares a name.
    """
    name = f"seed{config.seed}-c{config.n_customers}-d{config.n_days}"
    main_fields = {"seed", "n_customers", "n_days"}
    others = {
        f.name: getattr(config, f.name)
        for f in fields(config)
        if f.name not in main_fields and getattr(config, f.name) != f.default
    }
    if others:
        name += "-" + hashlib.sha256(json.dumps(others, sort_keys=True).encode()).hexdigest()[:8]
    return name


def config_from_settings(settings: Settings, **overrides: object) -> GeneratorConfig:
    """The generator config the settings describe, with ``overrides`` (``None`` values ignored) applied."""
    values = {
        "n_customers": settings.n_customers,
        "n_days": settings.n_days,
        "start_date": settings.start_date,
        "seed": settings.seed,
        "label_window_days": settings.label_window_days,
    }
    values.update({key: value for key, value in overrides.items() if value is not None})
    return GeneratorConfig(**values)


def default_dataset_dir(settings: Settings) -> Path:
    """Where the dataset the settings describe lives: ``datasets_dir / dataset_id(config)``."""
    return settings.datasets_dir / dataset_id(config_from_settings(settings))


def generate_customers(config: GeneratorConfig) -> pd.DataFrame:
    """The ``customers`` table alone, exactly as ``generate_dataset`` writes it (cheap: no events)."""
    population = generate_population(config, np.random.default_rng([config.seed, _POPULATION_STREAM]))
    return population.customers_table(config.start).to_pandas(date_as_object=False)


def generate_dataset(
    config: GeneratorConfig,
    out_dir: Path,
    progress: ProgressCallback | None = None,
    drift: DriftScenario | None = None,
) -> DatasetInfo:
    """Simulate ``config`` and write the dataset to ``out_dir`` (replacing an older one there).

    Args:
        config: what to simulate.
        out_dir: the dataset directory to create; usually ``settings.datasets_dir / dataset_id(config)``.
        progress: optional callback ``(message, fraction_done)``.
        drift: a drifted period (``data/drift.py``) rewritten into the tables before the manifest is written.

    Returns:
        ``DatasetInfo`` with the path and the manifest (config, row counts, schemas, content hash,
        truth summary).

    Example:
        >>> info = generate_dataset(GeneratorConfig(n_customers=1000), Path("/tmp/ds"))
        >>> info.manifest["row_counts"]["customers"]
        1000
    """
    started = time.perf_counter()
    report = progress or (lambda message, fraction: None)
    out_dir = Path(out_dir)
    remove_stale_staging(out_dir.parent)
    staging = new_staging_dir(out_dir.parent, out_dir.name)
    try:
        summary = _write_tables(config, staging, report)
        manifest = _manifest(config, staging, summary, time.perf_counter() - started)
        if drift is not None:
            drift.rewrite(staging, manifest)  # also updates the manifest: drift block, id, row count, content hash
        (staging / MANIFEST_FILENAME).write_text(json.dumps(manifest, indent=2))
        replace_dir(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report("done", 1.0)
    return DatasetInfo(path=out_dir, manifest=manifest)


SYNTHETIC_SOURCE = "synthetic"


def acquire_dataset(
    source: str, config: GeneratorConfig, out_dir: Path, progress: ProgressCallback | None = None
) -> DatasetInfo:
    """The one way a dataset enters the platform: simulate ``config`` (``source="synthetic"``) or copy the
    complete dataset directory ``source`` into ``out_dir``.

    The CLI and the pipeline's ``load_data`` step both call this, so a dataset made either way is the same.

    Raises:
        NotFoundError: ``source`` is a path that holds no complete dataset.
    """
    if source == SYNTHETIC_SOURCE:
        return generate_dataset(config, out_dir, progress)
    manifest = read_manifest(Path(source))
    shutil.copytree(source, out_dir, dirs_exist_ok=True)
    return DatasetInfo(path=Path(out_dir), manifest=manifest)


def _write_tables(config: GeneratorConfig, target: Path, report: ProgressCallback) -> dict:
    """Write every table into ``target``; return the row counts and the truth summary."""
    report("customers and offers", 0.0)
    population = generate_population(config, np.random.default_rng([config.seed, _POPULATION_STREAM]))
    offers = generate_offers(config, np.random.default_rng([config.seed, _OFFER_STREAM]))
    (target / TRUTH_DIRNAME).mkdir()
    pq.write_table(population.customers_table(config.start), target / table_relpath("customers"))
    pq.write_table(offers.table(config.start), target / table_relpath("offers"))
    pq.write_table(population.truth_table(config.n_days), target / table_relpath("customers_truth"))

    chunked = ("transactions", "campaigns", "offer_events", "assignments_truth", "pair_truth")
    writers = {name: pq.ParquetWriter(target / table_relpath(name), schema_of(name)) for name in chunked}
    day_factor = calendar_factors(config.start, config.n_days)
    start_epoch_second = int(np.datetime64(config.start, "s").astype(np.int64))
    rows = dict.fromkeys(chunked, 0)
    treated = []
    try:
        for index, chunk_start in enumerate(range(0, config.n_customers, CHUNK_SIZE)):
            chunk_stop = min(chunk_start + CHUNK_SIZE, config.n_customers)
            report(f"customers {chunk_start + 1:,}-{chunk_stop:,}", chunk_start / config.n_customers)
            tables = simulate_chunk(
                population.rows(chunk_start, chunk_stop),
                offers,
                day_factor,
                config,
                np.random.default_rng([config.seed, _CHUNK_STREAM, index]),
                start_epoch_second,
                first_txn_id=rows["transactions"] + 1,
                first_assignment_id=rows["campaigns"] + 1,
            )
            for name in chunked:
                table = getattr(tables, name)
                writers[name].write_table(table)
                rows[name] += table.num_rows
            treated.append(tables.treated)
    finally:
        for writer in writers.values():
            writer.close()

    row_counts = {
        "customers": len(population),
        "offers": len(offers),
        **rows,
        "customers_truth": len(population),
    }
    truth_summary = _truth_summary(Assignments.concat(treated), population.segment, offers)
    return {"row_counts": row_counts, "truth_summary": truth_summary}


def _truth_summary(treated: Assignments, segment: np.ndarray, offers: OfferCatalogue) -> dict:
    """What the hidden truth says about the sends that happened: rates by segment, discount and channel
    match, the oracle AUC, and the economics (subsidised redemptions, incremental margin)."""
    redeemed, p_redeem = treated.redeemed_if_treated, treated.p_redeem
    if not len(redeemed):
        return {"treated_assignments": 0, "redemption_rate": 0.0, "mean_p_redeem": 0.0, "oracle_auc": None}

    def rates(codes: np.ndarray, names: tuple) -> dict[str, float]:
        return {str(names[c]): float(redeemed[codes == c].mean()) for c in np.unique(codes)}

    discounts = np.unique(offers.discount_pct)
    return {
        "treated_assignments": int(len(redeemed)),
        "redemption_rate": float(redeemed.mean()),
        "mean_p_redeem": float(p_redeem.mean()),
        "oracle_auc": roc_auc(redeemed, p_redeem),
        "redemption_rate_by_segment": rates(segment[treated.customer], SEGMENTS),
        "redemption_rate_by_discount": rates(
            np.searchsorted(discounts, offers.discount_pct[treated.offer_index]), tuple(discounts.tolist())
        ),
        "redemption_rate_by_offer_channel": rates(offers.channel[treated.offer_index], OFFER_CHANNELS),
        "subsidised_share_of_redemptions": float(treated.subsidised_if_treated[redeemed].mean())
        if redeemed.any()
        else 0.0,
        "opt_out_rate_per_send": float(treated.opted_out_if_treated.mean()),
        "mean_incremental_margin_eur": float(treated.incremental_margin.mean()),
        "negative_incremental_margin_share": float((treated.incremental_margin < 0).mean()),
    }


def _manifest(config: GeneratorConfig, dataset_dir: Path, summary: dict, seconds: float) -> dict:
    return {
        "dataset_id": dataset_id(config),
        "generator_version": GENERATOR_VERSION,
        "config": asdict(config),
        "period": {
            "start_date": config.start.isoformat(),
            "end_date": config.end.isoformat(),  # exclusive
            "campaign_dates": [(config.start + timedelta(days=int(d))).isoformat() for d in campaign_days(config)],
        },
        "row_counts": summary["row_counts"],
        "schemas": {name: schema_to_dict(schema) for name, schema in {**TABLE_SCHEMAS, **TRUTH_SCHEMAS}.items()},
        "content_hash": content_hash(dataset_dir),
        "truth_summary": summary["truth_summary"],
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "generation_seconds": round(seconds, 2),
    }


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties averaged); ``None`` if only one class is present."""
    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
