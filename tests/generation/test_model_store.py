"""The generator in MLflow: the KFP component trains and registers it (@challenger), promotion moves
@champion, and servers resolve models:/loyaltylens-generator@champion to a local directory they can load."""

from __future__ import annotations

from pathlib import Path

import pytest
from kfp.dsl import Dataset, Model

from components.generation import train_generator as train_generator_component
from loyaltylens.config import get_settings
from loyaltylens.data import GeneratorConfig, generate_dataset
from loyaltylens.errors import NotFoundError
from loyaltylens.generation.local_model import LocalCopyModel
from loyaltylens.generation.model_store import generator_registry, resolve_generator_dir
from tests.generation.conftest import PROMPTS


@pytest.fixture
def settings(isolated_settings, monkeypatch):
    monkeypatch.setenv("LOYALTYLENS_PROMPTS_DIR", str(PROMPTS))
    get_settings.cache_clear()
    return get_settings()


def test_component_trains_registers_and_servers_resolve_the_champion(settings, tmp_path):
    dataset_dir = tmp_path / "dataset"
    generate_dataset(GeneratorConfig(n_customers=20, n_days=60, n_offers=12, seed=5), dataset_dir)
    dataset = Dataset(uri=str(dataset_dir), metadata={"content_hash": "abc"})
    model = Model(uri=str(tmp_path / "model"))
    outputs = train_generator_component.python_func(dataset=dataset, steps=5, seed=5, from_feedback=False, model=model)

    assert outputs.version == 1 and model.metadata["prompt"] == "offer_copy@1.0.0"
    assert (Path(model.path) / "generator.json").is_file()
    registry = generator_registry(settings)
    assert registry.resolve("challenger") == 1
    run = registry.client.get_run(outputs.run_id)
    assert run.data.tags["loyaltylens.prompt"] == "offer_copy@1.0.0" and "final_loss" in run.data.metrics

    with pytest.raises(NotFoundError, match="champion"):
        resolve_generator_dir(settings.generator_model_uri, settings)
    registry.promote()
    local = resolve_generator_dir(settings.generator_model_uri, settings)
    assert local == settings.models_dir / "loyaltylens-generator-v1"
    assert LocalCopyModel(local).prompt.ref == "offer_copy@1.0.0"
    assert resolve_generator_dir(settings.generator_model_uri, settings) == local  # reused, not downloaded again


def test_a_directory_that_is_not_a_generator_is_refused(settings, tmp_path):
    with pytest.raises(NotFoundError, match="not a 'loyaltylens-generator' model directory"):
        resolve_generator_dir(tmp_path, settings)


def test_component_compiles_with_a_model_artifact_output(tmp_path):
    import yaml
    from kfp import compiler

    compiler.Compiler().compile(train_generator_component, str(tmp_path / "component.yaml"))
    spec = yaml.safe_load((tmp_path / "component.yaml").read_text())
    outputs = spec["components"]["comp-train-generator"]["outputDefinitions"]
    assert outputs["artifacts"]["model"]["artifactType"]["schemaTitle"] == "system.Model"
    assert set(outputs["parameters"]) == {"run_id", "version"}
