"""The dashboard script under Streamlit's AppTest: populated, empty, and with a failing service."""

import pytest
from streamlit.testing.v1 import AppTest

from loyaltylens.dashboard import data
from loyaltylens.dashboard.cli import APP_PATH
from loyaltylens.errors import ServiceUnavailableError

TIMEOUT = 120  # the first run imports MLflow and Altair


def _run(at: AppTest) -> AppTest:
    at.run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    return at


def _texts(elements) -> list[str]:
    return [e.value for e in elements]


def test_populated_dashboard_shows_every_section(populated_settings, metrics_server: str) -> None:
    at = _run(AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT))
    assert not at.error, _texts(at.error)
    assert at.selectbox(key="registry_metric").value == "val_auc"
    assert at.selectbox(key="drift_reference").options == ["v0001", "v0002"]
    assert at.selectbox(key="eval_metric").value == "metrics.eval_aggregate"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["gate decisions"] == "3" and metrics["passed"] == "1"
    assert metrics["intervals covering the simulator's truth"].endswith("%")
    # the registry table lists both the model's and the prompt's alias
    aliases = at.dataframe[0].value
    assert {("model", "champion"), ("prompt", "production")} <= set(zip(aliases["kind"], aliases["alias"], strict=True))

    # keyed widgets drive the package functions: another reference, another outcome, the server's latency
    at.selectbox(key="drift_reference").set_value("v0002")
    at.radio(key="effect_outcome").set_value("margin")
    at.text_input(key="metrics_url").set_value(metrics_server)
    _run(at)
    assert not at.error, _texts(at.error)
    latency = at.dataframe[-1].value
    assert set(latency["stage"]) >= {"preprocess", "predict", "postprocess"}
    predict = latency[latency["stage"] == "predict"]["mean_ms"].iloc[0]
    assert predict == pytest.approx(10.0, rel=0.01)


def test_empty_data_dir_explains_each_section_and_a_dead_server_is_an_error(isolated_settings) -> None:
    at = _run(AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT))
    assert not at.error, _texts(at.error)
    infos = " ".join(_texts(at.info))
    for hint in (
        "No registered model",
        "policy_value",
        "No eval run",
        "No gate decision",
        "two feature versions",
        "No dataset",
        "metrics URL",
    ):
        assert hint in infos, hint
    # an unreachable metrics server is an error, not an empty chart
    at.text_input(key="metrics_url").set_value("http://127.0.0.1:9/metrics")
    _run(at)
    assert any("could not be read" in e for e in _texts(at.error))


def test_gate_decisions_and_policy_values_are_found_by_tag_and_metric_name(populated_settings) -> None:
    runs = data.mlflow_runs(populated_settings.tracking_uri)
    decisions = data.gate_decisions(runs)
    assert sorted(decisions["gate"].unique()) == ["loyaltylens.gate", "loyaltylens.gate_decision"]
    assert decisions["passed"].tolist().count(False) == 2
    values = data.policy_values(runs)
    assert sorted(values["campaign"].unique()) == [23, 24, 25]
    assert len(data.eval_runs(runs)) == 2


def test_unreachable_tracking_server_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with pytest.raises(ServiceUnavailableError, match="could not be read"):
        data.registry_aliases("http://127.0.0.1:9")
    with pytest.raises(ServiceUnavailableError, match="could not be read"):
        data.mlflow_runs("http://127.0.0.1:9")
