"""Drift between feature versions: a drifted period fires the retraining rule, an undrifted one does not;
the Evidently report is written; `loyaltylens drift check` exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from loyaltylens.cli import app
from loyaltylens.data.validate import validate_dataset
from loyaltylens.errors import InvalidInputError
from loyaltylens.features.definitions import CAMPAIGN_SCHEDULE_FEATURES, FEATURE_NAMES
from loyaltylens.monitoring.drift import (
    EXIT_RETRAIN,
    EXIT_STABLE,
    DriftThresholds,
    check_drift,
    drift_history,
    evidently_report,
)
from loyaltylens.monitoring.psi import DriftLevel


def test_promotion_season_recommends_retraining(promotion) -> None:
    result = check_drift(promotion.store, promotion.reference, promotion.current)
    levels = {d.name: d.level for d in result.features}
    assert levels["frequency_30d"] is DriftLevel.MAJOR  # every purchase of the season repeated
    assert len(result.major_features) >= 3, result.to_json()
    assert result.retrain_recommended and result.exit_code == EXIT_RETRAIN
    assert levels["segment"] is DriftLevel.STABLE  # the promotion does not change who the customers are


def test_undrifted_period_is_stable(undrifted) -> None:
    result = check_drift(undrifted.store, undrifted.reference, undrifted.current)
    assert not result.retrain_recommended, result.reasons
    assert result.exit_code == EXIT_STABLE
    assert result.major_features == []


def test_drifted_dataset_is_still_valid_and_says_so(promotion) -> None:
    report = validate_dataset(promotion.dataset_dir)
    manifest = json.loads((promotion.dataset_dir / "manifest.json").read_text())
    assert report.dataset_id.endswith("drift-promotion-42d")
    assert manifest["drift"]["kind"] == "promotion"
    assert manifest["row_counts"]["transactions"] > manifest["drift"]["transactions_before"]


def test_score_drift_alone_recommends_retraining(undrifted) -> None:
    rng = np.random.default_rng(0)
    scores = {undrifted.reference: rng.beta(2, 30, 2000), undrifted.current: rng.beta(4, 20, 2000)}
    result = check_drift(undrifted.store, undrifted.reference, undrifted.current, scorer=lambda s, v: scores[v])
    assert result.score is not None and result.score.level is DriftLevel.MAJOR
    assert result.major_features == [] and result.retrain_recommended


def test_same_version_is_refused(undrifted) -> None:
    with pytest.raises(InvalidInputError, match="same feature version"):
        check_drift(undrifted.store, undrifted.current, "latest")


def test_history_has_one_row_per_later_version_and_feature(promotion) -> None:
    history = drift_history(promotion.store, promotion.reference, DriftThresholds())
    assert list(history["version"].unique()) == [promotion.current]
    assert set(history["feature"]) == set(FEATURE_NAMES)


def test_evidently_report_is_written_with_a_verdict_per_feature(promotion, tmp_path: Path) -> None:
    store = promotion.store
    summary = evidently_report(
        store.get_online_frame(promotion.reference), store.get_online_frame(promotion.current), tmp_path / "r.html"
    )
    html = summary.html_path.read_text()
    assert html.lstrip().lower().startswith("<!doctype html") and "frequency_30d" in html and "root_metric_" in html
    verdicts = {c.column: c for c in summary.columns}
    assert set(verdicts) == set(FEATURE_NAMES)
    assert verdicts["frequency_30d"].drifted and verdicts["frequency_30d"].method
    assert not verdicts["segment"].drifted


def _cli_env(dataset, tmp_path: Path) -> dict[str, str]:
    return {
        "LOYALTYLENS_DATA_DIR": str(tmp_path / "data"),
        "LOYALTYLENS_FEATURE_STORE_CATALOG": f"sqlite:{dataset.store_root / 'catalog.sqlite'}",
        "LOYALTYLENS_FEATURE_STORE_URI": str(dataset.store_root / "data"),
    }


@pytest.mark.parametrize(("which", "code"), [("undrifted", EXIT_STABLE), ("promotion", EXIT_RETRAIN)])
def test_drift_check_exit_codes(which, code, request, tmp_path: Path, monkeypatch) -> None:
    from loyaltylens.config import get_settings

    dataset = request.getfixturevalue(which)
    for key, value in _cli_env(dataset, tmp_path).items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        out = tmp_path / "drift.json"
        result = CliRunner().invoke(app, ["drift", "check", "--reference", dataset.reference, "--json", str(out)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == code, result.output
    assert json.loads(out.read_text())["retrain_recommended"] is (code == EXIT_RETRAIN)


def test_drift_check_error_exits_2_with_one_line(undrifted, tmp_path: Path) -> None:
    """Through the installed entry point's error handler: an unknown version is an error, not 'stable'."""
    env = {**os.environ, **_cli_env(undrifted, tmp_path)}
    code = "from loyaltylens.cli import main; main()"
    run = subprocess.run(
        [sys.executable, "-c", code, "drift", "check", "--reference", "v0042"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "unknown feature version 'v0042'" in run.stderr


def test_score_drift_of_an_exported_offer_aware_model(promotion, tmp_path: Path) -> None:
    """The production model's kind: each member scored with seeded offers of the version's catalogue."""
    from loyaltylens.monitoring.scores import OFFERS_PER_CUSTOMER, model_scorer
    from tests.model_samples import export_untrained_model

    scorer = model_scorer(export_untrained_model(tmp_path / "model", pairs=True))
    scores = scorer(promotion.store, promotion.current)
    members = promotion.store.describe(promotion.current).online_rows
    assert len(scores) == members * OFFERS_PER_CUSTOMER
    assert np.all((scores > 0) & (scores < 1)) and scores.std() > 0
    result = check_drift(promotion.store, promotion.reference, promotion.current, scorer=scorer)
    assert result.score is not None and result.score.name == "score" and np.isfinite(result.score.psi)


def test_calendar_set_features_are_reported_but_never_retrain(undrifted) -> None:
    result = check_drift(undrifted.store, undrifted.reference, undrifted.current)
    reported = {f.name: f for f in result.features}
    assert set(CAMPAIGN_SCHEDULE_FEATURES) <= set(reported)  # measured and shown...
    assert not set(CAMPAIGN_SCHEDULE_FEATURES) & set(result.major_features)  # ...but not a reason to retrain
