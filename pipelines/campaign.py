"""The campaign pipeline: a decision for every member of a feature version, sharded.

data (the dataset the feature version was built from: offer dates, app flags) → ``list-campaign`` (the audience
and its eligible (customer, offer) pairs at the version's as-of, cut into shards; ``latest`` and the model alias
pinned to a version) → ``dsl.ParallelFor`` over the shard indices (``campaign_shards``): ``score-campaign-shard``
(one pod each: the pinned model and its registered margin model from MLflow, pair features from the feature
store, expected incremental margin of every pair) → ``decide-campaign-shards`` over ``dsl.Collected`` shards: the
send decision once for the whole campaign, within its budget and contact cap (negative: no limit), written as a
parquet artifact with the versions that produced it. Nothing crosses steps but artifacts, parameters and the
services the settings name.

Run locally: ``loyaltylens pipeline run campaign`` (kfp.local); on a cluster: ``--host URL``.
Compile: ``python -m pipelines.campaign`` (writes campaign.yaml beside this file; a test checks it is current).
"""

from pathlib import Path

from kfp import compiler, dsl

from components.campaign import decide_campaign_shards, list_campaign, score_campaign_shard
from components.data import load_data
from loyaltylens.config import setting_default
from loyaltylens.decision.batch import NO_LIMIT
from loyaltylens.kfp_runner.platform import on_cluster
from loyaltylens.runtime.model_source import CHAMPION_ALIAS

COMPILED = Path(__file__).with_name("campaign.yaml")
USES_POSTGRES = False  # no task reads or writes Postgres


@dsl.pipeline(
    name="loyaltylens-campaign",
    description="Decide every customer of a campaign by expected incremental margin, in shards, within its limits.",
)
def pipeline(
    source: str = "synthetic",
    n_customers: int = setting_default("n_customers"),
    n_days: int = setting_default("n_days"),
    seed: int = setting_default("seed"),
    label_window_days: int = setting_default("label_window_days"),
    feature_version: str = "latest",
    model_alias: str = CHAMPION_ALIAS,
    # the settings' limits when set (LOYALTYLENS_CAMPAIGN_BUDGET_EUR, ..._CONTACT_CAP); KFP has no null parameter
    campaign_budget_eur: float = NO_LIMIT,
    campaign_contact_cap: int = NO_LIMIT,
):
    # The number of shards fixes the fan-out, so it is read when the pipeline is compiled (as the rolling
    # evaluation's origins are): LOYALTYLENS_CAMPAIGN_SHARDS has no effect on the committed YAML.
    n_shards = setting_default("campaign_shards")
    data = on_cluster(load_data(source=source, n_customers=n_customers, n_days=n_days, seed=seed))
    # the listing pins `latest` and the alias to versions that can move between runs: never cached
    listing = on_cluster(
        list_campaign(
            dataset=data.outputs["dataset"],
            feature_version=feature_version,
            model_alias=model_alias,
            label_window_days=label_window_days,
            shards=n_shards,
        ).set_caching_options(False)
    )
    with dsl.ParallelFor(list(range(n_shards)), name="shards") as shard:
        scoring = on_cluster(
            score_campaign_shard(
                pairs=listing.outputs["pairs"],
                shard=shard,
            )
            .set_cpu_limit("2")
            .set_memory_limit("4G")
        )
    on_cluster(
        decide_campaign_shards(
            scored=dsl.Collected(scoring.outputs["scored"]),
            audience=listing.outputs["audience"],
            campaign_budget_eur=campaign_budget_eur,
            campaign_contact_cap=campaign_contact_cap,
        )
    )


if __name__ == "__main__":
    compiler.Compiler().compile(pipeline, str(COMPILED))
