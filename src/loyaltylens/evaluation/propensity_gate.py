"""The eval gate for a propensity challenger: compare a registered version with the ``@champion`` on the
validation campaign only (never test), and either move ``champion`` to it (audited) or keep the champion and
record why.

Two rules, both paired on the same rows and CI-aware, so noise alone never blocks a release and a clear loss
always does:

- **validation AUC**: the customer-cluster bootstrap interval of (challenger - champion)
  (:func:`loyaltylens.propensity.uncertainty.bootstrap_auc`) must not lie wholly below zero;
- **policy value**: deciding by expected margin with the challenger's p(redeem) must not be worse than with
  the champion's on the validation campaign's logs (:func:`loyaltylens.decision.evaluation.challenger_not_worse`).

A registry without a champion takes the challenger as its first one. The pipeline records every decision as
one run of the gate experiment (:func:`loyaltylens.evaluation.gate.record_decision`, kind :data:`GATE_KIND`); a
promotion is also an entry of the registry's alias audit (:func:`loyaltylens.registry.audit.record_move`: from,
to, who, why).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from loyaltylens.config import Settings, get_settings
from loyaltylens.decision.evaluation import ValidationCampaign, challenger_not_worse, validation_campaign_of
from loyaltylens.errors import InvalidInputError, NotFoundError
from loyaltylens.evaluation.gate import GATE_WHO, GateDecision, promote_audited
from loyaltylens.features.definitions import AS_OF_COLUMN, ENTITY_COLUMN, LABEL_COLUMN
from loyaltylens.propensity.frame import temporal_split
from loyaltylens.propensity.registry import CHALLENGER, CHAMPION, ModelRegistry
from loyaltylens.propensity.scoring import score_frame
from loyaltylens.propensity.uncertainty import bootstrap_auc
from loyaltylens.registry.audit import AuditEntry

GATE_KIND = "propensity"


@dataclass(frozen=True)
class PropensityGateOutcome:
    """What the gate measured on the validation campaign and decided (nothing moved yet)."""

    challenger: int
    champion: int | None
    validation_campaign: int
    decision: GateDecision
    metrics: dict[str, float]  # AUCs, their paired difference, policy values and theirs (empty parts: no champion)

    @property
    def summary(self) -> str:
        """One line for the audit's ``why`` and the logs."""
        if self.champion is None:
            return f"v{self.challenger} is the first champion (no champion to compare with)"
        m = self.metrics
        return (
            f"validation campaign {self.validation_campaign}: AUC v{self.challenger} {m['challenger_val_auc']:.4f} "
            f"vs v{self.champion} {m['champion_val_auc']:.4f} (difference {m['val_auc_difference']:+.4f} "
            f"[{m['val_auc_difference_low']:+.4f}, {m['val_auc_difference_high']:+.4f}]); policy value difference "
            f"{m['policy_value_difference']:+.3f} EUR [{m['policy_value_difference_low']:+.3f}, "
            f"{m['policy_value_difference_high']:+.3f}] per targeted customer"
        )


def _validation_scores(registry: ModelRegistry, version: int, rows: pd.DataFrame, logs: ValidationCampaign):
    """One version's p(redeem) on the validation rows and its policy value on the validation campaign."""
    with tempfile.TemporaryDirectory(prefix="gate-model-") as tmp:
        model_dir = registry.download(version, Path(tmp))
        return score_frame(model_dir, rows), logs.policy_value(lambda x: score_frame(model_dir, x))


def evaluate_propensity_challenger(
    training_frame: pd.DataFrame,
    dataset_dir: Path,
    challenger: str = CHALLENGER,
    settings: Settings | None = None,
) -> PropensityGateOutcome:
    """Compare ``challenger`` (alias, version or ``models:/`` URI) with the champion; decide, move nothing.

    Args:
        training_frame: the pair training frame of the feature version the challenger was trained on; its
            validation snapshot (the temporal split's) is the one campaign compared on.
        dataset_dir: the dataset behind it (the validation campaign's logs for the policy value).

    Raises:
        NotFoundError: no such challenger version.
        InvalidInputError: the challenger is the champion already.
    """
    settings = settings or get_settings()
    registry = ModelRegistry.from_settings(settings)
    version = registry.resolve(challenger)
    try:
        champion = registry.resolve(CHAMPION)
    except NotFoundError:
        champion = None
    if champion == version:
        raise InvalidInputError(f"v{version} of '{registry.model_name}' is the champion already; nothing to gate")
    validation = temporal_split(training_frame).val
    campaign = validation_campaign_of(dataset_dir, pd.Timestamp(validation[AS_OF_COLUMN].max()))
    if champion is None:
        return PropensityGateOutcome(version, None, campaign, GateDecision(True, ()), {})

    logs = ValidationCampaign.prepare(dataset_dir, campaign, settings)
    challenger_scores, challenger_policy = _validation_scores(registry, version, validation, logs)
    champion_scores, champion_policy = _validation_scores(registry, champion, validation, logs)
    auc = bootstrap_auc(
        validation[LABEL_COLUMN].to_numpy(),
        {"challenger": challenger_scores, "champion": champion_scores},
        validation[ENTITY_COLUMN].to_numpy(),
        reference="champion",
        seed=settings.seed,
    )
    auc_difference = auc.difference["challenger"]
    policy_ok, policy_difference = challenger_not_worse(challenger_policy, champion_policy)
    reasons = []
    if auc_difference.high < 0.0:
        reasons.append(
            f"validation AUC {auc.auc['challenger'].estimate:.4f} is significantly below the champion's "
            f"{auc.auc['champion'].estimate:.4f} (difference {auc_difference})"
        )
    if not policy_ok:
        reasons.append(
            f"policy value by expected margin {policy_difference.value:+.3f} EUR per targeted customer below the "
            f"champion's, 95% interval [{policy_difference.low:+.3f}, {policy_difference.high:+.3f}] wholly below 0"
        )
    metrics = {
        "validation_campaign": float(campaign),
        "challenger_val_auc": auc.auc["challenger"].estimate,
        "champion_val_auc": auc.auc["champion"].estimate,
        "val_auc_difference": auc_difference.estimate,
        "val_auc_difference_low": auc_difference.low,
        "val_auc_difference_high": auc_difference.high,
        "challenger_policy_value_dr": challenger_policy.value["dr"].value,
        "champion_policy_value_dr": champion_policy.value["dr"].value,
        "policy_value_difference": policy_difference.value,
        "policy_value_difference_low": policy_difference.low,
        "policy_value_difference_high": policy_difference.high,
    }
    metrics = {key: float(np.round(value, 6)) for key, value in metrics.items()}
    return PropensityGateOutcome(version, champion, campaign, GateDecision(not reasons, tuple(reasons)), metrics)


def promote_propensity_challenger(
    version: int, why: str, settings: Settings | None = None, who: str = GATE_WHO
) -> AuditEntry:
    """Move ``champion`` to ``version`` and audit the move (from, to, who, why) in MLflow."""
    return promote_audited(ModelRegistry.from_settings(settings or get_settings()), version, why, who)
