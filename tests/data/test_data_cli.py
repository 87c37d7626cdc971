"""``loyaltylens data ...`` end to end through Typer, with paths from the settings."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from loyaltylens.config import get_settings
from loyaltylens.data.cli import app
from loyaltylens.errors import NotFoundError


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOYALTYLENS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_generate_then_validate(data_dir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["generate", "--customers", "300", "--days", "60", "--seed", "1"])
    assert result.exit_code == 0, result.output
    dataset = data_dir / "datasets" / "seed1-c300-d60"
    assert (dataset / "manifest.json").is_file() and "oracle AUC" in result.output

    result = runner.invoke(app, ["validate", str(dataset)])
    assert result.exit_code == 0 and "valid" in result.output


def test_validate_lets_domain_errors_reach_the_root_cli(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(data_dir / "nothing")])
    assert isinstance(result.exception, NotFoundError)
