"""Load and validate the loyalty dataset."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Output

from components import TRAIN_IMAGE


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def load_data(source: str, n_customers: int, n_days: int, seed: int, dataset: Output[Dataset]):
    """``source`` = "synthetic" simulates the dataset; otherwise it is the path of a dataset to copy in."""
    from pathlib import Path

    from loyaltylens.data import GeneratorConfig, acquire_dataset

    config = GeneratorConfig(n_customers=n_customers, n_days=n_days, seed=seed)
    manifest = acquire_dataset(source, config, Path(dataset.path)).manifest
    dataset.metadata.update(
        {"source": source, "content_hash": manifest["content_hash"], "rows": manifest["row_counts"]}
    )


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def validate_data(dataset: Input[Dataset], report: Output[Markdown]):
    """Schema and range checks; raising here stops the run before any feature or model is built."""
    from pathlib import Path

    from loyaltylens.data import validate_dataset

    result = validate_dataset(Path(dataset.path))
    Path(report.path).write_text(result.to_markdown())
