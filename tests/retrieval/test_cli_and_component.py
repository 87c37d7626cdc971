"""``offers index|search|eval`` through the Typer app, and the KFP ``index_offers`` component, on the
embedded Postgres the settings name (``LOYALTYLENS_POSTGRES_URL`` pointing at this test's database)."""

import re

import pytest
from typer.testing import CliRunner

from loyaltylens.config import get_settings
from loyaltylens.data import GeneratorConfig, dataset_id, generate_dataset
from loyaltylens.features.store import FeatureStore
from loyaltylens.retrieval.cli import app
from loyaltylens.retrieval.factory import build_retriever

CONFIG = GeneratorConfig(n_customers=400, n_days=120, seed=8)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate_dataset(CONFIG, tmp_path_factory.mktemp("datasets") / dataset_id(CONFIG)).path


@pytest.fixture
def settings(pg_url, isolated_settings, monkeypatch):
    monkeypatch.setenv("LOYALTYLENS_POSTGRES_URL", pg_url)
    get_settings.cache_clear()
    return get_settings()


def run(*args):
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_index_search_and_reindex(settings, dataset):
    assert re.search(r"pgvector: 200 offers indexed · embedded 200", run("index", "--dataset", str(dataset)))
    assert "embedded 0 · written 0 · deleted 0 · unchanged 200" in run("index", "--dataset", str(dataset))
    output = run(
        "search", "nappies and baby wipes", "-k", "3", "--filter", "channel=mobile", "--filter", "category=baby"
    )
    assert output.count("baby") >= 3 and "in_store" not in output
    exact = run("search", "nappies and baby wipes", "-k", "3", "--mode", "dense", "--retriever", "exact")
    assert "exact · dense" in exact


def test_bad_filter_is_one_clear_error(settings, dataset):
    from loyaltylens.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="unknown filter"):
        CliRunner().invoke(app, ["search", "milk", "--filter", "colour=red"], catch_exceptions=False)


def test_eval_prints_quality_per_mode(settings, dataset):
    FeatureStore.from_settings(settings).build(dataset)
    run("index", "--dataset", str(dataset))
    output = run("eval", "--dataset", str(dataset), "--customers", "20")
    for mode in ("dense", "sparse", "hybrid"):
        assert re.search(rf"{mode}\s+│\s+[01]\.\d{{3}}", output)


def test_index_offers_component_runs_against_the_service(settings, dataset, tmp_path):
    from kfp.dsl import Dataset, Metrics

    from components.retrieval import index_offers

    source = Dataset(name="dataset", uri=str(dataset))
    report = Metrics(name="index_report", uri=str(tmp_path / "metrics"))
    assert index_offers.python_func(dataset=source, index_report=report) == 200
    assert report.metadata["offers"] == 200 and report.metadata["embedded"] == 200
    assert index_offers.python_func(dataset=source, index_report=report) == 200
    assert report.metadata["embedded"] == 0 and report.metadata["unchanged"] == 200
    with build_retriever(get_settings()) as retriever:
        assert retriever.search("baby wipes", 1)[0].category == "baby"
