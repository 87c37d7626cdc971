"""Build a feature-store version and hand its (customer, offer) pair training frame to the trainer."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components import TRAIN_IMAGE


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def build_features(
    dataset: Input[Dataset], label_window_days: int, training_frame: Output[Dataset]
) -> NamedTuple("FeatureOutputs", feature_version=str, schema_hash=str):
    """Publish a new immutable version to the feature store the settings name (a DuckLake reached by URI,
    so servers and later steps read it too) and export its pair training frame (one row per offer sent at
    each campaign) as this task's artifact, so training depends on an artifact, not on the store."""
    from collections import namedtuple
    from pathlib import Path

    from loyaltylens.config import task_settings
    from loyaltylens.features.store import FeatureStore

    store = FeatureStore.from_settings(task_settings())
    info = store.build(Path(dataset.path), label_window_days=label_window_days)
    frame = store.get_training_frame(info.version)
    frame.to_parquet(training_frame.path, index=False)
    training_frame.metadata.update(
        {
            "feature_version": info.version,
            "as_of": str(info.as_of),
            "rows": len(frame),
            "kind": "customer x offer pairs",
            "schema_hash": info.schema_hash,
        }
    )
    return namedtuple("FeatureOutputs", ["feature_version", "schema_hash"])(info.version, info.schema_hash)
