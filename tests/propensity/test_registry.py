"""The MLflow registry on a real SQLite tracking store in tmp_path: aliases, promote, rollback, download."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from loyaltylens.errors import InvalidInputError, LoyaltyLensError, NotFoundError
from loyaltylens.propensity.export import load_model_dir
from loyaltylens.propensity.model_card import ModelCard
from loyaltylens.propensity.registry import (
    CHALLENGER,
    CHAMPION,
    ModelRef,
    ModelRegistry,
    parse_model_ref,
    validate_alias,
)
from loyaltylens.propensity.workflow import Candidate, log_candidate


def _log_and_register(registry: ModelRegistry, candidate: Candidate) -> int:
    run_id = log_candidate(registry, candidate)
    return registry.register(candidate.model_dir, run_id, candidate.metrics)


def test_training_run_records_params_metrics_lineage_and_artifacts(
    registry: ModelRegistry, candidate
) -> None:
    run_id = log_candidate(registry, candidate)

    run = registry.client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["learning_rate"] == str(candidate.params["learning_rate"])
    assert run.data.metrics["test_auc"] == pytest.approx(candidate.metrics["test_auc"])
    assert run.data.tags["loyaltylens.feature_version"] == "v-test"
    assert run.data.tags["loyaltylens.dataset_hash"] == "d" * 12
    val_auc_history = registry.client.get_metric_history(run_id, "epoch/val_auc")
    assert [m.step for m in val_auc_history] == list(range(1, len(candidate.epoch_metrics) + 1))
    artifacts = {a.path for a in registry.client.list_artifacts(run_id, "model")}
    assert {
        "model/model.pt",
        "model/feature_contract.json",
        "model/model_card.md",
        "model/metrics.json",
    } <= artifacts
    assert [a.path for a in registry.client.list_artifacts(run_id, "plots")] == ["plots/reliability_test.png"]
    # The default local store keeps artifacts under settings.artifact_root.
    assert run.info.artifact_uri.startswith(registry.artifact_root.as_uri())


def test_register_promote_rollback(registry: ModelRegistry, candidate) -> None:
    first = _log_and_register(registry, candidate)
    assert registry.list_versions()[0].aliases == (CHALLENGER,)

    assert registry.promote() == first  # the challenger becomes champion
    second = _log_and_register(registry, candidate)
    assert _aliases(registry) == {first: (CHAMPION,), second: (CHALLENGER,)}

    registry.promote(second)
    assert _aliases(registry) == {first: (), second: (CHAMPION,)}

    assert registry.rollback() == first
    assert _aliases(registry) == {first: (CHAMPION,), second: ()}
    with pytest.raises(NotFoundError, match="no previous champion"):
        registry.rollback()


def test_rollback_walks_back_through_several_promotions(registry: ModelRegistry, candidate) -> None:
    versions = [_log_and_register(registry, candidate) for _ in range(3)]
    for version in versions:
        registry.promote(version)

    assert registry.promote(versions[-1]) == versions[-1]  # re-promoting the champion changes nothing
    assert registry.rollback() == versions[1]
    assert registry.rollback() == versions[0]
    with pytest.raises(NotFoundError):
        registry.rollback()


def test_a_registry_writes_nothing_until_used(settings_env) -> None:
    registry = ModelRegistry.from_settings(settings_env)

    assert not settings_env.data_dir.exists()
    assert registry.list_versions() == []  # first use creates the SQLite store under the data dir
    assert (settings_env.data_dir / "mlflow.db").is_file()


def test_promote_and_rollback_errors_on_an_empty_registry(registry: ModelRegistry) -> None:
    with pytest.raises(NotFoundError, match="no challenger"):
        registry.promote()
    with pytest.raises(NotFoundError, match="no version 7"):
        registry.promote(7)
    with pytest.raises(NotFoundError, match="no previous champion"):
        registry.rollback()
    assert registry.list_versions() == []


def test_champion_uri_downloads_a_loadable_model_dir(
    registry: ModelRegistry, candidate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = _log_and_register(registry, candidate)
    registry.promote(version)

    # Exactly what the servers do: the global tracking URI plus models:/<name>@champion.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.tracking_uri)
    champion_uri = f"models:/{registry.model_name}@champion"
    served = Path(mlflow.artifacts.download_artifacts(champion_uri, dst_path=str(tmp_path / "served")))
    _, contract = load_model_dir(served)
    assert contract.feature_version == "v-test"
    assert ModelCard.load(served).version == version  # the registry stamped the version into the card

    refs = (
        CHAMPION,
        version,
        str(version),
        f"models:/{registry.model_name}@champion",
        f"models:/{registry.model_name}/{version}",
    )
    for index, ref in enumerate(refs):
        local = registry.download(ref, tmp_path / f"download-{index}")
        assert {"model.pt", "feature_contract.json", "model_card.md", "model_card.json", "metrics.json"} <= {
            p.name for p in local.iterdir()
        }
    assert candidate.card.version is None  # registering did not modify the caller's directory
    assert ModelCard.load(candidate.model_dir).version is None


def test_list_versions_reports_metrics_and_creation_time(registry: ModelRegistry, candidate) -> None:
    version = _log_and_register(registry, candidate)

    [info] = registry.list_versions()

    assert info.version == version
    assert info.metrics["test_auc"] == pytest.approx(candidate.metrics["test_auc"])
    assert info.created.tzinfo is not None


def test_unknown_alias_and_version_are_not_found(registry: ModelRegistry, candidate) -> None:
    _log_and_register(registry, candidate)
    with pytest.raises(NotFoundError, match="alias 'champion'"):
        registry.download(CHAMPION)
    with pytest.raises(NotFoundError, match="no version 99"):
        registry.download(99)


def test_register_refuses_a_directory_servers_cannot_load(
    registry: ModelRegistry, candidate, tmp_path: Path
) -> None:
    run_id = registry.log_training_run(
        params={}, epoch_metrics=[], metrics={}, model_dir=candidate.model_dir, lineage={}
    )
    with pytest.raises(LoyaltyLensError, match="has no model.pt"):
        registry.register(tmp_path, run_id, {})
    assert registry.list_versions() == []


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("champion", ModelRef("m", None, "champion")),
        (3, ModelRef("m", 3, None)),
        ("12", ModelRef("m", 12, None)),
        ("models:/m@challenger", ModelRef("m", None, "challenger")),
        ("models:/m/4", ModelRef("m", 4, None)),
    ],
)
def test_parse_model_ref(ref, expected: ModelRef) -> None:
    assert parse_model_ref(ref, "m") == expected


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("latest", "reserved"),
        ("v3", "reserved"),
        ("models:/other@champion", "names model 'other'"),
        ("models:/m/x", "cannot parse"),
        ("models:/m", "cannot parse"),
        ("bad alias!", "letters, digits"),
        ("", "empty"),
    ],
)
def test_bad_model_refs_are_rejected(ref: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_model_ref(ref, "m")


def test_validate_alias_accepts_ordinary_names() -> None:
    assert validate_alias("champion") == "champion"
    assert validate_alias("shadow-2") == "shadow-2"


def _aliases(registry: ModelRegistry) -> dict[int, tuple[str, ...]]:
    return {info.version: info.aliases for info in registry.list_versions()}


def test_an_unreachable_tracking_server_is_an_error_not_an_empty_registry(monkeypatch) -> None:
    from loyaltylens.errors import ServiceUnavailableError

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    unreachable = ModelRegistry("http://127.0.0.1:9", "loyaltylens-propensity")  # port 9: discard, nothing listens
    with pytest.raises(ServiceUnavailableError, match="127.0.0.1:9 is unavailable"):
        unreachable.list_versions()
    with pytest.raises(ServiceUnavailableError):
        unreachable.resolve("champion")
