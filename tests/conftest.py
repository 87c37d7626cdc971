"""Fixtures shared by every test folder."""

from pathlib import Path

import pytest

from loyaltylens.config import Settings, get_settings


@pytest.fixture
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose data dir is a fresh temp dir; restored (and the settings cache cleared) afterwards."""
    monkeypatch.setenv("LOYALTYLENS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
