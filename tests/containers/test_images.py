"""The images for real: the training pipeline with every task in the train image (kfp.local.DockerRunner,
uid 10001, only its artifacts and the service URIs), then the registered champion served from the serve
image (predictor + transformer, the model pulled from ``models:/…@champion`` over the tracking server) and
the generator container answering the ``openai`` client. The services are `loyaltylens services up`'s, on
this host's loopback; the containers share the host network.
"""

from pathlib import Path

import httpx
import numpy as np
import pytest
from kfp import local
from openai import OpenAI

from loyaltylens.config import Settings, get_settings
from loyaltylens.decision.scorers import InProcessScorer
from loyaltylens.features.store import FeatureStore
from loyaltylens.generation.corpus import synthetic_offers
from loyaltylens.generation.prompts import load_prompt, offer_variables
from loyaltylens.kfp_runner.containers import SERVE_IMAGE, container_service_env, in_container
from loyaltylens.kfp_runner.runner import run_local
from loyaltylens.local.launcher import LOOPBACK, ServerProcess
from loyaltylens.local.services import local_services
from loyaltylens.local.stack import DEFAULT_MODEL_NAME, ServerAddress, predictor_process, transformer_process
from loyaltylens.propensity.registry import ModelRegistry
from loyaltylens.retrieval.base import OfferHit
from loyaltylens.runtime.model_source import champion_uri, resolve_model_dir

REPO = Path(__file__).resolve().parents[2]
TINY = {"n_customers": 1500, "n_days": 150, "max_epochs": 2, "generator_train_steps": 30}
PERMISSIVE_GATE = {"gate_min_auc": 0.5, "gate_max_ece": 0.5, "gate_max_baseline_auc_gap": 1.0}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory):
    """The local services, and this process's settings pointed at them (a driver data dir of its own)."""
    root = tmp_path_factory.mktemp("containers")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOYALTYLENS_DATA_DIR", str(root / "services-host"))
        get_settings.cache_clear()
        with local_services(get_settings()) as running:
            for key, value in running.env.items():
                patch.setenv(key, value)
            patch.setenv("LOYALTYLENS_DATA_DIR", str(root / "driver"))
            get_settings.cache_clear()
            yield get_settings()
    get_settings.cache_clear()
    local.config.LocalExecutionConfig.instance = None


@pytest.fixture(scope="module")
def trained(services: Settings) -> Settings:
    run = run_local("training", {**TINY, **PERMISSIVE_GATE}, services, services.logs_dir / "run.log", "docker")
    assert set(run.task_status.values()) == {"SUCCESS"} and "register-model" in run.task_status, run.task_status
    assert ModelRegistry.from_settings(services).ensure_champion() == 1
    return services


def test_every_task_ran_in_the_train_image_as_uid_10001(trained: Settings) -> None:
    log = (trained.logs_dir / "run.log").read_text()
    assert "Found image 'ghcr.io/loyaltylens/loyaltylens-train:0.1.0'" in log
    # kfp.local left only artifacts on the host, written by the containers' user
    outputs = [path for path in trained.pipeline_root.rglob("*") if path.is_file()]
    assert outputs and {path.stat().st_uid for path in outputs} == {10001}


def test_serve_image_serves_the_champion_through_the_transformer_as_in_process(
    trained: Settings, tmp_path: Path
) -> None:
    store = FeatureStore.from_settings(trained)
    ids = np.repeat(store.get_online_frame()["customer_id"].to_numpy()[:3], 2).tolist()
    offers = np.tile(store.get_offers()["offer_id"].to_numpy()[:2], 3).tolist()
    predictor_address, transformer_address = ServerAddress.free(), ServerAddress.free()
    with container_service_env(trained) as env:
        predictor = predictor_process(champion_uri(trained), predictor_address, tmp_path / "predictor.log")
        transformer = transformer_process(predictor_address.http_host, transformer_address, tmp_path / "t.log")
        with in_container(predictor, SERVE_IMAGE, env), in_container(transformer, SERVE_IMAGE, env):
            body = {
                "inputs": [
                    {"name": "customer_ids", "datatype": "INT64", "shape": [len(ids)], "data": ids},
                    {"name": "offer_ids", "datatype": "INT64", "shape": [len(offers)], "data": offers},
                ]
            }
            url = f"{transformer_address.http_url}/v2/models/{DEFAULT_MODEL_NAME}/infer"
            response = httpx.post(url, json=body, timeout=60).raise_for_status().json()
    outputs = {output["name"]: output for output in response["outputs"]}
    assert outputs["customer_ids"]["data"] == ids and outputs["offer_ids"]["data"] == offers
    served = np.array(outputs["propensity"]["data"])
    champion = resolve_model_dir(champion_uri(trained), trained.tracking_uri, tmp_path / "download")
    expected = InProcessScorer(champion).score(store.get_pair_features(ids, offers).values)
    np.testing.assert_allclose(served, np.ravel(expected), atol=1e-6)


def test_generator_container_answers_the_openai_client(trained: Settings, tmp_path: Path) -> None:
    address = ServerAddress.free()
    model_uri = f"models:/{trained.generator_model_name}@challenger"  # what the pipeline registered
    cmd = ["python", "-m", "serving.generator", "--model_name", "generator", "--model_uri", model_uri]
    cmd += ["--http_port", str(address.http_port), "--grpc_port", str(address.grpc_port)]
    server = ServerProcess(cmd, f"{address.http_url}/v2/models/generator/ready", tmp_path / "generator.log")
    with container_service_env(trained) as env, in_container(server, SERVE_IMAGE, env):
        client = OpenAI(base_url=f"http://{LOOPBACK}:{address.http_port}/openai/v1", api_key="unused", timeout=60)
        assert [model.id for model in client.models.list().data] == ["generator"]
        # a request must follow the active prompt's template (the server rejects others with 400)
        offer = next(synthetic_offers(5, seed=3).itertuples(index=False))
        hit = OfferHit(int(offer.offer_id), 1.0, offer.title, offer.category, float(offer.discount_pct),
                       offer.channel, offer.text, float(offer.min_spend))  # fmt: skip
        messages = load_prompt(REPO / "prompts", "offer_copy").render(offer_variables(hit, "premium", "mobile"))
        response = client.chat.completions.create(model="generator", messages=messages, temperature=0)
    assert response.choices[0].message.content and response.usage.completion_tokens > 0
