"""Load and validate the loyalty dataset."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Output

from components import TRAIN_IMAGE


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def load_data(source: str, n_customers: int, n_days: int, seed: int, dataset: Output[Dataset]):
    """``source`` = "synthetic" generates the dataset; otherwise it is the path of an existing dataset to copy."""
    import shutil
    from pathlib import Path

    from loyaltylens.data import GeneratorConfig, generate_dataset

    target = Path(dataset.path)
    if source == "synthetic":
        config = GeneratorConfig(n_customers=n_customers, n_days=n_days, seed=seed)
        manifest = generate_dataset(config, target).manifest
    else:
        import json

        shutil.copytree(source, target)
        manifest = json.loads((target / "manifest.json").read_text())
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
