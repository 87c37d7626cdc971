"""Train the local offer-copy generator and register it in MLflow."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components import TRAIN_IMAGE


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def train_generator(
    dataset: Input[Dataset],
    steps: int,
    seed: int,
    model: Output[Model],
) -> NamedTuple("GeneratorOutputs", run_id=str, version=int):
    """Train the small GPT-style copy model on copy built from the dataset's offer catalogue.

    The ``model`` artifact is the model directory (Hugging Face format + tokenizer + the prompt it answers);
    the same directory is logged as an MLflow run of ``settings.generator_model_name`` and registered as a
    new version with alias ``challenger``.
    """
    import dataclasses
    from collections import namedtuple
    from pathlib import Path

    from loyaltylens.config import task_settings
    from loyaltylens.data import load_table
    from loyaltylens.generation.model_store import generator_registry, register_generator
    from loyaltylens.generation.registry import PromptRegistry
    from loyaltylens.generation.training import CopyModelConfig, train_generator

    settings = task_settings()
    prompt = PromptRegistry.from_settings(settings).active("offer_copy")
    config = dataclasses.replace(CopyModelConfig(), steps=steps, seed=seed)
    offers = load_table(Path(dataset.path), "offers")
    report = train_generator(offers, prompt, Path(model.path), config)
    run_id, version = register_generator(
        generator_registry(settings),
        Path(model.path),
        report,
        params=dataclasses.asdict(config),
        lineage={"prompt": prompt.ref, **{k: str(v) for k, v in dataset.metadata.items()}},
    )
    model.metadata.update(
        {
            "framework": "transformers",
            "prompt": prompt.ref,
            "mlflow_run_id": run_id,
            "version": version,
            "final_loss": report.final_loss,
        }
    )
    return namedtuple("GeneratorOutputs", ["run_id", "version"])(run_id, version)
