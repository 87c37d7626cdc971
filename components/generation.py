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
    from_feedback: bool,
    model: Output[Model],
) -> NamedTuple("GeneratorOutputs", run_id=str, version=int):
    """Train the small GPT-style copy model on copy built from the dataset's offer catalogue; ``from_feedback``:
    plus the copies users rated highest in the feedback store (supervised on chosen copies).

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
    from loyaltylens.retraining.loop import preferred_copies

    settings = task_settings()
    prompt = PromptRegistry.from_settings(settings).active("offer_copy")
    config = dataclasses.replace(CopyModelConfig(), steps=steps, seed=seed)
    offers = load_table(Path(dataset.path), "offers")
    preferred = preferred_copies(settings) if from_feedback else []
    report = train_generator(offers, prompt, Path(model.path), config, preferred=preferred)
    run_id, version = register_generator(
        generator_registry(settings),
        Path(model.path),
        report,
        params=dataclasses.asdict(config),
        lineage={
            "prompt": prompt.ref,
            "preferred_copies": str(len(preferred)),
            **{k: str(v) for k, v in dataset.metadata.items()},
        },
    )
    model.metadata.update(
        {
            "framework": "transformers",
            "prompt": prompt.ref,
            "mlflow_run_id": run_id,
            "version": version,
            "final_loss": report.final_loss,
            "preferred_copies": len(preferred),
        }
    )
    return namedtuple("GeneratorOutputs", ["run_id", "version"])(run_id, version)
