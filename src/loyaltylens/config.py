"""The one configuration source: environment variables prefixed ``LOYALTYLENS_`` (or a ``.env`` file).

All state lives under ``data_dir``; every other path is derived from it unless set explicitly.
Nothing here touches the disk: directories are created by the code that writes into them.
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def packaged_prompts_dir() -> Path:
    """The prompt files shipped with the package (the wheel maps the repository's ``prompts/`` to
    ``loyaltylens/prompts``); in a source checkout or editable install, that source directory itself.
    An absolute path either way, so the CLI and pipeline steps find prompts from any working directory."""
    package = Path(__file__).resolve().parent
    shipped = package / "prompts"
    return shipped if shipped.is_dir() else package.parents[1] / "prompts"


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
    prompts_dir: Path = Field(
        default_factory=packaged_prompts_dir,
        description="Versioned prompt YAML files; default: the copy shipped in the installed package.",
    )
    # A little above the simulator's ~5 % redemption rate per send: offers go to customers likelier than average to
    # redeem (about a third of the population with the 50k reference model).
    propensity_threshold: float = Field(
        default=0.05, ge=0.0, le=1.0, description="Below this redemption probability no offer is sent."
    )
    # The retailer's offer economics (decision/margin.py, docs/DECISION.md): known to the business, not learnt.
    gross_margin: float = Field(default=0.30, gt=0, lt=1, description="Margin the retailer earns on a basket.")
    discounted_share: float = Field(
        default=0.4, gt=0, le=1, description="Share of a redeemed basket in the offer's category (the discount base)."
    )
    point_value_eur: float = Field(default=0.01, ge=0, description="Cost to the retailer of one bonus point (EUR).")
    send_cost_eur: float = Field(default=0.02, ge=0, description="Cost of sending one offer (EUR).")
    min_spend_top_up: float = Field(
        default=1.125, ge=1, description="Mean redeemed basket over the min spend when the usual basket is below it."
    )
    opt_out_loss_baskets: float = Field(
        default=1.5, ge=0, description="Future margin lost when a customer opts out, in baskets of margin."
    )
    campaign_budget_eur: float | None = Field(
        default=None, ge=0, description="Most expected discount + points spend per campaign (None: no budget)."
    )
    campaign_contact_cap: int | None = Field(
        default=None, ge=0, description="Most offers sent per campaign (None: no cap)."
    )
    campaign_shards: int = Field(
        default=4,
        ge=1,
        description="Shards (one pod each) the campaign pipeline scores a campaign's pairs in (read when compiled).",
    )
    rolling_origins: int = Field(
        default=3, ge=1, description="Test campaigns of the rolling-origin evaluation pipeline (one pod each)."
    )
    offer_candidates: int = Field(
        default=10,
        ge=1,
        description="Eligible offers retrieval hands the offer-aware model to score for one customer.",
    )
    # --- the offer API (serving/offers): POST /v1/offers runs the decision chain for one or many customers ---
    offer_api_max_customers: int = Field(
        default=1000, ge=1, le=10_000, description="Most customers one POST /v1/offers may ask for."
    )
    offer_predictor_url: str | None = Field(
        default=None,
        description="KServe predictor (v2 REST) the offer API scores with; None: the champion in-process.",
    )
    # --- services every pipeline step and server reaches by URI (`loyaltylens services up` starts local ones) ---
    feature_store_uri: str | None = Field(
        default=None,
        description="Where feature-store data files live: a directory or s3://bucket/prefix; "
        "default data_dir/feature_store/data.",
    )
    feature_store_catalog: str | None = Field(
        default=None,
        description="DuckLake catalog of the feature store: 'sqlite:<file>', 'postgres:<libpq keywords>' or a "
        "'.ducklake' file; default SQLite under data_dir/feature_store.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, moto); None = AWS S3 itself."
    )
    s3_region: str = Field(default="us-east-1", description="Region of the S3 endpoint.")
    s3_access_key_id: str | None = Field(
        default=None, description="S3 key id; None = the standard AWS provider chain (AWS_ACCESS_KEY_ID, ...)."
    )
    s3_secret_access_key: SecretStr | None = Field(default=None, description="S3 secret key (see s3_access_key_id).")
    task_scratch: bool = Field(
        default=False,
        description="Give every pipeline task its own empty data dir, as a pod has on a cluster "
        "(cluster-like local mode): state can then only cross steps as artifacts, parameters or services.",
    )
    # --- Kubeflow Pipelines backend (submitting and scheduling runs) ---
    kfp_host: str | None = Field(
        default=None, description="KFP API endpoint for `pipeline run --host` and `pipeline schedule`; None = none."
    )
    # KFP's cron has six fields (seconds first): Mondays at 03:00, after the weekend's campaign labels close.
    retraining_schedule_cron: str = Field(
        default="0 0 3 * * 1", description="Cron of the retraining pipeline's KFP recurring run (6 fields)."
    )
    # --- training pipeline: its parameters default to these ---
    max_epochs: int = Field(default=30, ge=1, description="Training epochs at most (early stopping ends sooner).")
    propensity_learning_rate: float = Field(
        default=2e-3, gt=0.0, description="AdamW learning rate of the propensity model (a pipeline parameter too)."
    )
    # On the 50k pair frame the validation AUC peaks within the first few epochs (each ~40 s on one core), and
    # later epochs change it by less than a bootstrap interval: two epochs without a gain end training.
    early_stopping_patience: int = Field(
        default=2, ge=1, description="Epochs without a better validation AUC before training stops."
    )
    # Simulator v2 hides the latent state behind redemption: the offer-aware model reaches ~0.80 validation AUC at
    # 50k customers and a customer-only one ~0.69 (the truth, which knows the latent state and the offer, 0.86):
    # 0.65 rejects a broken model, not an honest one.
    gate_min_auc: float = Field(
        default=0.65, ge=0.0, le=1.0, description="Gate: the candidate's validation AUC at least this."
    )
    gate_max_ece: float = Field(
        default=0.03, ge=0.0, le=1.0, description="Gate: the candidate's validation ECE at most this."
    )
    generator_train_steps: int = Field(
        default=600, ge=1, description="Optimiser steps of the local copy generator in the training pipeline."
    )
    gate_max_baseline_auc_gap: float = Field(
        default=0.01, ge=0.0, description="Gate: the candidate may trail the best baseline's AUC by this much."
    )
    # The generator gate compares the challenger's per-case eval aggregate with the champion's on the same cases
    # (paired bootstrap, 95%): 0.0 refuses a challenger only when it is significantly worse at all.
    generator_gate_max_aggregate_drop: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Generator gate: refuse when the paired 95% interval of the challenger's eval aggregate minus "
        "the champion's lies wholly below minus this.",
    )
    postgres_url: str | None = Field(
        default=None,
        description="libpq URL of the Postgres server (password from PGPASSWORD); None = embedded pgserver "
        "under data_dir/postgres.",
    )
    postgres_connect_timeout_s: int = Field(
        default=5, ge=1, description="Seconds to wait for a Postgres connection before failing."
    )
    retriever: str = Field(
        default="pgvector", description="Offer retrieval backend: pgvector | llamaindex | weaviate | exact."
    )
    offers_table: str = Field(default="offers", description="Offer index name (Postgres table data_<name>).")
    weaviate_url: str | None = Field(default=None, description="Weaviate REST URL, e.g. http://127.0.0.1:8080.")
    weaviate_grpc_port: int = Field(default=50051, description="Weaviate gRPC port (on the REST URL's host).")
    # A denser graph than pgvector's defaults (m 16, ef_construction 64) buys recall at the same search beam;
    # benchmarks/retrieval.py measures recall@10 and latency at 100k offers for several ef_search values.
    hnsw_m: int = Field(default=24, ge=2, le=100, description="HNSW graph degree.")
    hnsw_ef_construction: int = Field(default=128, ge=4, le=1000, description="HNSW build beam width.")
    hnsw_ef_search: int = Field(default=100, ge=1, le=1000, description="HNSW query beam width.")
    query_cache_size: int = Field(default=4096, ge=0, description="Query embeddings kept in memory (LRU).")
    # --- generation (offer copy) ---
    generator_backend: Literal["openai", "hf", "local"] = Field(
        default="local", description="Copy generator: OpenAI-compatible endpoint, HF causal LM path, or local model."
    )
    openai_base_url: str | None = Field(
        default=None, description="OpenAI-compatible base URL (e.g. http://host/openai/v1); None = OpenAI's own."
    )
    openai_model: str = Field(default="loyaltylens-generator", description="Model name sent to the endpoint.")
    openai_timeout_s: float = Field(default=10.0, gt=0, description="Per-request timeout of the OpenAI client.")
    openai_retries: int = Field(default=2, ge=0, description="Transport retries (with backoff) of the client.")
    hf_model_path: Path | None = Field(default=None, description="Local transformers causal LM for backend hf.")
    guardrail_competitors: list[str] = Field(
        default=[
            "lidl", "aldi", "tesco", "sainsbury's", "asda", "morrisons", "waitrose", "carrefour", "auchan",
            "kaufland", "rewe", "edeka", "netto", "albert heijn", "delhaize", "colruyt", "walmart", "costco",
            "kroger", "amazon", "ocado", "mercadona", "intermarche", "leclerc",
        ],  # brand names that are also common words ("plus", "target", "jumbo") would flag honest copy
        description="Retailers offer copy must never name (matched as whole words, also spaced or leet-spelt).",
    )
    guardrail_allowed_domains: list[str] = Field(
        default=[], description="Domains offer copy may link to (and their subdomains); empty: no links at all."
    )
    guardrail_max_discount_pct: float = Field(
        default=70.0, gt=0, lt=100, description="Largest discount an offer may carry before copy is written."
    )
    guardrail_max_min_spend: float = Field(
        default=500.0, gt=0, description="Largest minimum spend (EUR) an offer may carry before copy is written."
    )
    generator_model_name: str = Field(default="loyaltylens-generator", description="Registered generator model.")
    generator_model_uri: str = Field(
        default="models:/loyaltylens-generator@champion", description="Local generator: registry URI or directory."
    )
    generation_max_retries: int = Field(
        default=2, ge=0, description="Re-asks after invalid or unsafe copy before the safe fallback."
    )
    judge_base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint of the eval LLM judge; None = the deterministic rubric."
    )
    judge_model: str = Field(default="loyaltylens-judge", description="Model name sent to the judge endpoint.")
    clip_weights_path: Path | None = Field(
        default=None, description="Local open_clip ViT-B/32 weights for brand scoring; None = not configured."
    )

    # --- drift monitoring (loyaltylens.monitoring): the usual PSI reading, < 0.1 stable, 0.1-0.2 minor, > 0.2 major ---
    drift_psi_minor: float = Field(default=0.1, ge=0.0, description="PSI from which a feature's shift is minor.")
    drift_psi_major: float = Field(default=0.2, ge=0.0, description="PSI above which a feature's shift is major.")
    drift_retrain_major_features: int = Field(
        default=3, ge=1, description="Retraining is recommended when this many features drift majorly."
    )
    drift_psi_bins: int = Field(default=10, ge=2, description="Quantile bins of numeric features in the PSI.")

    dashboard_metrics_url: str | None = Field(
        default=None, description="Prometheus /metrics URL of a model server whose stage latency the dashboard shows."
    )
    dashboard_port: int = Field(default=8501, ge=1, le=65535, description="Port of `loyaltylens dashboard`.")

    # --- feedback on generated offers (loyaltylens.feedback) and the retraining triggers read from it ---
    feedback_store: Literal["sqlite", "postgres"] = Field(
        default="sqlite",
        description="Feedback store: SQLite (WAL) under data_dir/feedback, or the platform's Postgres (postgres_url).",
    )
    # Writes queued while one commit fsyncs are committed together (group commit); 1 = each write alone.
    feedback_sqlite_max_batch: int = Field(
        default=256, ge=1, description="Most ratings one SQLite commit of the feedback store takes."
    )
    feedback_ui_dir: Path | None = Field(
        default=None, description="Built feedback web UI to serve; None = the one shipped in the package."
    )
    feedback_window_days: int = Field(default=7, ge=1, description="Window of the rolling copy quality.")
    # Simulated users give faithful, relevant, on-brand copy ~4.3 stars and flawed copy ~2: a 7-day mean under
    # 3.5 means a flaw in a sizeable share of the copy, not noise (with at least feedback_min_ratings ratings).
    retrain_min_mean_stars: float = Field(
        default=3.5, ge=1.0, le=5.0, description="Trigger: retrain when a version's 7-day mean stars fall below."
    )
    retrain_min_thumbs_up_rate: float = Field(
        default=0.6, ge=0.0, le=1.0, description="Trigger: retrain when a version's 7-day thumbs-up rate falls below."
    )
    feedback_min_ratings: int = Field(
        default=30, ge=1, description="Ratings a version needs in the window before its quality can trigger."
    )
    retrain_min_new_campaigns: int = Field(
        default=4, ge=1, description="Trigger: retrain after this many new labelled campaigns since the last run."
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        """Every derived path is absolute, so it means the same in a subprocess with another working dir."""
        return value.expanduser().resolve()

    @property
    def services_env_path(self) -> Path:
        """Written by ``loyaltylens services up``: the settings that point at the local services."""
        return self.data_dir / "services" / "services.env"

    @property
    def feature_store_data_uri(self) -> str:
        return self.feature_store_uri or str(self.feature_store_dir / "data")

    @property
    def feature_store_catalog_uri(self) -> str:
        return self.feature_store_catalog or f"sqlite:{self.feature_store_dir / 'catalog.sqlite'}"

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
        return f"sqlite:///{self.data_dir / 'mlflow.db'}"

    @property
    def feedback_sqlite_path(self) -> Path:
        return self.data_dir / "feedback" / "feedback.sqlite"

    @property
    def artifact_root(self) -> Path:
        return self.data_dir / "mlartifacts"

    @property
    def registry_artifact_root(self) -> Path | None:
        """Where new MLflow runs keep artifacts: under the data dir for the default local store; a configured
        tracking server decides its own (``None``)."""
        return self.artifact_root if self.mlflow_tracking_uri is None else None


def setting_default(name: str) -> Any:
    """The built-in default of one setting (not the environment's value): pipeline signatures use these, so
    the compiled pipeline YAML does not depend on who compiled it."""
    return Settings.model_fields[name].default


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process; tests call ``get_settings.cache_clear()`` after changing env.

    After ``loyaltylens services up``, ``<data_dir>/services/services.env`` points the settings at the local
    services; variables set in the environment still win over it.
    """
    settings = Settings()
    if settings.services_env_path.is_file():
        return Settings(_env_file=(".env", settings.services_env_path))
    return settings


def task_settings() -> Settings:
    """The settings of one pipeline task (every KFP component starts with this).

    With ``task_scratch`` the task gets a fresh empty data dir, as a pod on a cluster does: whatever it
    reads must then come from an artifact, a parameter or a service named in the settings.
    """
    settings = get_settings()
    if not settings.task_scratch:
        return settings
    return settings.model_copy(update={"data_dir": Path(tempfile.mkdtemp(prefix="loyaltylens-task-"))})
