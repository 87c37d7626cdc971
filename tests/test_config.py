"""The one configuration source: defaults, the services overlay, per-task scratch dirs."""

from pathlib import Path

import pytest

from loyaltylens.config import Settings, get_settings, setting_default, task_settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOYALTYLENS_DATA_DIR", str(tmp_path / "data"))
    for key in ("LOYALTYLENS_MLFLOW_TRACKING_URI", "LOYALTYLENS_TASK_SCRATCH", "LOYALTYLENS_FEATURE_STORE_URI"):
        monkeypatch.delenv(key, raising=False)
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


def test_every_path_derives_from_the_absolute_data_dir(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(data_dir.parent)
    monkeypatch.setenv("LOYALTYLENS_DATA_DIR", "relative/state")
    settings = Settings()
    assert settings.data_dir == data_dir.parent / "relative" / "state"
    assert settings.tracking_uri == f"sqlite:///{settings.data_dir / 'mlflow.db'}"
    assert settings.feature_store_catalog_uri == f"sqlite:{settings.data_dir / 'feature_store' / 'catalog.sqlite'}"
    assert settings.feature_store_data_uri == str(settings.data_dir / "feature_store" / "data")


def test_services_env_points_the_settings_at_local_services(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_settings().tracking_uri.startswith("sqlite:")
    env_file = Settings().services_env_path
    env_file.parent.mkdir(parents=True)
    env_file.write_text(
        "LOYALTYLENS_MLFLOW_TRACKING_URI=http://127.0.0.1:5000\nLOYALTYLENS_FEATURE_STORE_URI=s3://b/fs\n"
    )
    get_settings.cache_clear()
    assert get_settings().tracking_uri == "http://127.0.0.1:5000"
    assert get_settings().feature_store_data_uri == "s3://b/fs"

    monkeypatch.setenv("LOYALTYLENS_FEATURE_STORE_URI", "s3://explicit/fs")  # the environment still wins
    get_settings.cache_clear()
    assert get_settings().feature_store_data_uri == "s3://explicit/fs"


def test_task_scratch_gives_each_task_an_empty_data_dir(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert task_settings().data_dir == data_dir
    monkeypatch.setenv("LOYALTYLENS_TASK_SCRATCH", "true")
    get_settings.cache_clear()
    first, second = task_settings(), task_settings()
    assert first.data_dir != second.data_dir and data_dir not in (first.data_dir, second.data_dir)
    assert list(first.data_dir.iterdir()) == []


def test_pipeline_defaults_are_the_declared_ones_not_the_environment(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOYALTYLENS_N_CUSTOMERS", "123")
    get_settings.cache_clear()
    assert get_settings().n_customers == 123
    assert setting_default("n_customers") == Settings.model_fields["n_customers"].default != 123
