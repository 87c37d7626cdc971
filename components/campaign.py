"""The campaign pipeline's steps: list a campaign's audience, score one shard of its pairs, decide them all."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components import TRAIN_IMAGE


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def list_campaign(
    dataset: Input[Dataset],
    feature_version: str,
    model_alias: str,
    label_window_days: int,
    shards: int,
    audience: Output[Dataset],
    pairs: Output[Dataset],
) -> NamedTuple("CampaignListing", feature_version=str, model_uri=str):
    """Every member of the feature version (``latest`` pinned to its name) and their eligible pairs on its
    as-of, cut into shards; the model alias pinned to a version, so every shard scores with the same one."""
    from collections import namedtuple
    from pathlib import Path

    from loyaltylens.config import task_settings
    from loyaltylens.decision.batch import campaign_audience
    from loyaltylens.features.store import FeatureStore
    from loyaltylens.propensity.registry import ModelRegistry

    settings = task_settings()
    listed = campaign_audience(
        Path(dataset.path), FeatureStore.from_settings(settings), feature_version, label_window_days, shards
    )
    registry = ModelRegistry.from_settings(settings)
    model_uri = f"models:/{registry.model_name}/{registry.resolve(model_alias)}"
    listed.customers.to_parquet(audience.path, index=False)
    listed.pairs.to_parquet(pairs.path, index=False)
    facts = {"feature_version": listed.feature_version, "as_of": listed.as_of, "model_uri": model_uri}
    audience.metadata.update({**facts, "customers": len(listed.customers), "shards": len(listed.shards)})
    pairs.metadata.update({**facts, "pairs": len(listed.pairs)})
    return namedtuple("CampaignListing", ["feature_version", "model_uri"])(listed.feature_version, model_uri)


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def score_campaign_shard(pairs: Input[Dataset], shard: int, scored: Output[Dataset]):
    """Expected incremental margin of one shard's pairs: the model version the listing pinned (in the pairs
    artifact's metadata, with the feature version) and its registered margin model from MLflow, the pair features
    from the feature store the settings name."""
    from pathlib import Path

    import pandas as pd

    from loyaltylens.config import task_settings
    from loyaltylens.decision.batch import margin_model_id, require_margin_model, score_shard
    from loyaltylens.decision.scorers import InProcessScorer
    from loyaltylens.features.store import FeatureStore
    from loyaltylens.runtime.model_source import resolve_model_dir

    settings = task_settings()
    model_uri, feature_version = pairs.metadata["model_uri"], pairs.metadata["feature_version"]
    model_dir = resolve_model_dir(model_uri, settings.tracking_uri, settings.models_dir)
    scorer = InProcessScorer(model_dir)
    frame = score_shard(
        pd.read_parquet(pairs.path),
        shard,
        FeatureStore.from_settings(settings),
        feature_version,
        scorer.score,
        require_margin_model(scorer.margin_model, model_uri),
        settings.max_batch_size,
    )
    frame.to_parquet(scored.path, index=False)
    scored.metadata.update(
        {
            "shard": shard,
            "pairs": len(frame),
            "model_uri": model_uri,
            "feature_version": feature_version,
            "margin_model": margin_model_id(Path(model_dir)),
        }
    )


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def decide_campaign_shards(
    scored: Input[list[Dataset]],
    audience: Input[Dataset],
    campaign_budget_eur: float,
    campaign_contact_cap: int,
    decisions: Output[Dataset],
):
    """The send decision once over every shard's scored pairs, within the campaign's budget and contact cap
    (negative: no limit): one row per audience member, with the versions that produced it (columns and artifact
    metadata)."""
    import pandas as pd

    from loyaltylens.decision.batch import campaign_provenance, decide_scored, send_limits, with_provenance

    provenance = campaign_provenance([shard.metadata for shard in scored])
    limits = send_limits(campaign_budget_eur, campaign_contact_cap)
    decided = decide_scored([pd.read_parquet(shard.path) for shard in scored], pd.read_parquet(audience.path), limits)
    with_provenance(decided, provenance).to_parquet(decisions.path, index=False)
    sent = decided[decided["send"]]
    decisions.metadata.update(
        {
            **provenance,
            "customers": len(decided),
            "sent": len(sent),
            "expected_margin_eur": float(sent["expected_margin"].sum()),
            "expected_cost_eur": float(sent["expected_cost"].sum()),
            "budget_eur": limits.budget_eur,
            "contact_cap": limits.contact_cap,
        }
    )
