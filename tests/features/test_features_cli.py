"""``loyaltylens features ...`` end to end through Typer, with paths from the settings."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loyaltylens.config import get_settings
from loyaltylens.data import GeneratorConfig
from loyaltylens.errors import UnknownCustomerError
from loyaltylens.features.cli import app
from loyaltylens.features.definitions import FEATURE_NAMES


@pytest.fixture
def settings_for(
    dataset_dir: Path, dataset_config: GeneratorConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Settings whose default dataset is the shared one and whose feature store is empty and private."""
    data_dir = tmp_path / "state"
    (data_dir / "datasets").mkdir(parents=True)
    (data_dir / "datasets" / dataset_dir.name).symlink_to(dataset_dir)
    for name, value in {
        "DATA_DIR": data_dir,
        "N_CUSTOMERS": dataset_config.n_customers,
        "SEED": dataset_config.seed,
    }.items():
        monkeypatch.setenv(f"LOYALTYLENS_{name}", str(value))
    get_settings.cache_clear()
    yield data_dir
    get_settings.cache_clear()


def test_build_list_show_get_diff(settings_for: Path) -> None:
    runner = CliRunner()
    for args in (["build"], ["build", "--as-of", "2026-09-01"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert (settings_for / "feature_store" / "catalog.sqlite").is_file()  # the settings' default local store

    result = runner.invoke(app, ["list"])
    assert "v0001" in result.output and "v0002 (latest)" in result.output
    assert "2026-09-01" in runner.invoke(app, ["show"]).output

    result = runner.invoke(app, ["get", "3", "1", "--json", "--version", "v0001"])
    payload = json.loads(result.output)
    assert payload["version"] == "v0001" and [r["customer_id"] for r in payload["records"]] == [3, 1]
    assert set(FEATURE_NAMES) <= set(payload["records"][0])
    assert "customer 3" in runner.invoke(app, ["get", "3"]).output

    result = runner.invoke(app, ["diff", "v0001", "v0002"])
    assert "as-of: 2026-11-01 -> 2026-09-01" in result.output and "recency_days: mean" in result.output


def test_domain_errors_reach_the_root_cli(settings_for: Path) -> None:
    runner = CliRunner()
    runner.invoke(app, ["build"])
    result = runner.invoke(app, ["get", "999999"])
    assert isinstance(result.exception, UnknownCustomerError)
