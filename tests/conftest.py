"""Fixtures shared by every test folder."""

import os
from pathlib import Path

import pytest

from loyaltylens.config import Settings, get_settings

REPO = Path(__file__).resolve().parent.parent
# kubectl and helm installed by scripts/install-k8s-tools.sh (a `make test` prerequisite).
TOOLS_BIN = REPO / ".tools" / "bin"
if TOOLS_BIN.is_dir():
    os.environ["PATH"] = f"{TOOLS_BIN}{os.pathsep}{os.environ['PATH']}"


@pytest.fixture
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose data dir is a fresh temp dir; restored (and the settings cache cleared) afterwards."""
    monkeypatch.setenv("LOYALTYLENS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
