"""A populated data dir for the dashboard: a small dataset, two feature versions, and an MLflow store with a
registered model and prompt (aliases, version metrics), an eval run, gate decisions and policy values."""

import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from loyaltylens.config import Settings, get_settings
from loyaltylens.data.generator import GeneratorConfig, dataset_id, generate_dataset
from loyaltylens.features.store import FeatureStore

CONFIG = GeneratorConfig(n_customers=1000, n_days=90)
POPULATED_ENV = {"LOYALTYLENS_N_CUSTOMERS": str(CONFIG.n_customers), "LOYALTYLENS_N_DAYS": str(CONFIG.n_days)}


def _populate_mlflow(tracking_uri: str, artifacts: Path) -> None:
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment("loyaltylens-propensity", artifact_location=artifacts.as_uri())
    model = "loyaltylens-propensity"
    client.create_registered_model(model)
    for version, (auc, alias, gate) in enumerate(
        [(0.79, "champion", None), (0.61, None, "rejected: validation AUC 0.61 < 0.65")], start=1
    ):
        run = client.create_run(experiment, run_name=f"train-{version}")
        client.log_metric(run.info.run_id, "val_auc", auc)
        for campaign, value in ((23, 0.41), (24, 0.38), (25, 0.44)):
            client.log_metric(run.info.run_id, f"policy_value_campaign_{campaign}", value + version / 100)
        if gate:
            client.set_tag(run.info.run_id, "loyaltylens.gate", gate)
        client.set_terminated(run.info.run_id)
        client.create_model_version(
            model, artifacts.as_uri(), run_id=run.info.run_id, tags={"metric.val_auc": str(auc)}
        )
        if alias:
            client.set_registered_model_alias(model, alias, str(version))
    evals = client.create_experiment("loyaltylens-eval", artifact_location=artifacts.as_uri())
    for score, decision in ((0.82, "promoted: aggregate 0.82 >= 0.70"), (0.41, "rejected: aggregate 0.41 < 0.70")):
        run = client.create_run(evals, run_name="eval offer_copy", tags={"loyaltylens.run_kind": "prompt eval"})
        client.log_metric(run.info.run_id, "eval_aggregate", score)
        client.set_tag(run.info.run_id, "loyaltylens.gate_decision", decision)
        client.set_terminated(run.info.run_id)
    # Through the environment, restored after: a process-wide mlflow.set_tracking_uri would outlive this fixture
    # and redirect every later test that reads MLFLOW_TRACKING_URI.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        mlflow.genai.register_prompt("offer_copy", "Hello {{name}}", commit_message="v1")
        mlflow.genai.set_prompt_alias("offer_copy", "production", 1)


@pytest.fixture(scope="session")
def populated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("dashboard") / "data"
    settings = Settings(data_dir=data_dir)
    dataset_dir = settings.datasets_dir / dataset_id(CONFIG)
    generate_dataset(CONFIG, dataset_dir)
    store = FeatureStore.from_settings(settings)
    for days_before_end in (42, 28, 0):
        store.build(dataset_dir, as_of=CONFIG.end - timedelta(days=days_before_end))
    _populate_mlflow(settings.tracking_uri, data_dir / "mlartifacts")
    return data_dir


@pytest.fixture
def populated_settings(populated_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LOYALTYLENS_DATA_DIR", str(populated_dir))
    for key, value in POPULATED_ENV.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def metrics_server() -> str:
    """A loopback HTTP server exposing KServe's own stage histograms (observed a few times) as /metrics."""
    from kserve.metrics import POST_HIST_TIME, PRE_HIST_TIME, PREDICT_HIST_TIME
    from prometheus_client import REGISTRY, generate_latest

    for histogram, seconds in ((PRE_HIST_TIME, 0.002), (PREDICT_HIST_TIME, 0.010), (POST_HIST_TIME, 0.001)):
        for _ in range(4):
            histogram.labels(model_name="loyaltylens-propensity").observe(seconds)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
            body = generate_latest(REGISTRY)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()
