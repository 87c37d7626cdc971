"""The one configuration source: environment variables prefixed ``LOYALTYLENS_`` (or a ``.env`` file).

All state lives under ``data_dir``; every other path is derived from it unless set explicitly.
Nothing here touches the disk: directories are created by the code that writes into them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration. Override any field with ``LOYALTYLENS_<FIELD>`` (e.g. ``LOYALTYLENS_DATA_DIR``)."""

    model_config = SettingsConfigDict(env_prefix="LOYALTYLENS_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path(".loyaltylens"), description="Root of all local state.")
    seed: int = Field(default=42, description="Seed for data generation and training.")
    n_customers: int = Field(default=50_000, ge=10, description="Customers in the synthetic population.")
    n_days: int = Field(default=365, ge=60, description="Length of the simulated event history in days.")
    start_date: str = Field(default="2025-11-01", description="First simulated day (ISO date).")
    label_window_days: int = Field(default=14, ge=1, description="Label = redeemed within this many days.")
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; default is SQLite under data_dir."
    )
    propensity_model_name: str = Field(default="loyaltylens-propensity")
    max_batch_size: int = Field(default=4096, ge=1, description="Largest batch a server accepts.")
    prompts_dir: Path = Field(default=Path("prompts"), description="Versioned prompt YAML files.")
    propensity_threshold: float = Field(
        default=0.15, ge=0.0, le=1.0, description="Below this redemption probability no offer is sent."
    )

    @property
    def datasets_dir(self) -> Path:
        return self.data_dir / "datasets"

    @property
    def feature_store_dir(self) -> Path:
        return self.data_dir / "feature_store"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def retrieval_dir(self) -> Path:
        return self.data_dir / "retrieval"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def pipeline_root(self) -> Path:
        return self.data_dir / "pipeline_runs"

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"

    @property
    def artifact_root(self) -> Path:
        return self.data_dir / "mlartifacts"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()
