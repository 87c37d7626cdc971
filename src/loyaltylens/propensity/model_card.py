"""Model cards: what a registered propensity model is, what it was trained on, how good and how fair it is.

Each model directory carries ``model_card.json`` (machine-readable) and ``model_card.md`` (for people);
the registry stamps the version number into both when it registers the directory.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

CARD_JSON = "model_card.json"
CARD_MARKDOWN = "model_card.md"

INTENDED_USE = (
    "Estimate, for a loyalty-programme customer and an offer (the offer-aware model; the customer-level model "
    "for a customer alone), the probability that the customer redeems it within the label window after the "
    "as-of date if it is sent; the decision chain ranks a customer's eligible offers by it and sends only "
    "above a propensity threshold. Scores are calibrated probabilities, so the threshold reads as a "
    "redemption rate."
)
LIMITATIONS = (
    "Trained on synthetic data only.",
    "Learned from customers who were sent an offer: it estimates P(redeem | offer sent), not the uplift "
    "an offer causes, and it is less certain for customers the campaigns rarely targeted.",
    "Evaluated on the latest as-of snapshot(s); behaviour drifts, so retrain on new feature versions.",
    "Slice metrics on small groups are noisy; a missing AUC means the slice holds a single label class.",
    "Not for decisions with legal or similarly significant effects on a person "
    "(credit, pricing, eligibility).",
)
# Headline metrics shown in the markdown table, in this order.
CARD_METRICS = (
    "auc",
    "pr_auc",
    "log_loss",
    "brier",
    "ece",
    "top_decile_lift",
    "top_decile_capture",
    "truth_spearman",
    "truth_auc",
    "oracle_auc",
)


@dataclass(frozen=True)
class ModelCard:
    """One model's card; ``version`` is ``None`` until the model is registered."""

    model_name: str
    version: int | None
    created: str  # ISO timestamp of training
    lineage: dict[str, str]  # feature_version, dataset_hash, schema_hash, ...
    data: dict[str, dict]  # split name -> rows, positive rate, as-of range (TemporalSplit.summary)
    metrics: dict[str, dict[str, float]]  # model name -> test metrics; "transformer" is this model
    calibration: dict[str, object]  # method, temperature, ECE before/after temperature scaling
    training: dict[str, object]  # epochs, best epoch, seconds, hyper-parameters
    slices: dict[str, list[dict]]  # feature name -> per-category test metrics of this model
    # Bootstrap intervals, the paired difference to the best baseline and the ECE noise floor (training step).
    uncertainty: dict[str, float] = field(default_factory=dict)
    # Against the simulator's hidden truth (evaluation step): ceilings, offer ranking (NDCG), rolling origin.
    truth_evaluation: dict[str, float] = field(default_factory=dict)
    # The newest rolling-origin backtest of the training recipe in MLflow when this version was registered.
    recipe_backtest: dict[str, object] = field(default_factory=dict)
    intended_use: str = INTENDED_USE
    limitations: tuple[str, ...] = field(default=LIMITATIONS)

    def with_version(self, version: int) -> ModelCard:
        """The same card, stamped with its registered version."""
        return dataclasses.replace(self, version=version)

    def save(self, model_dir: Path) -> tuple[Path, Path]:
        """Write ``model_card.json`` and ``model_card.md`` into ``model_dir``."""
        model_dir = Path(model_dir)
        json_path, markdown_path = model_dir / CARD_JSON, model_dir / CARD_MARKDOWN
        json_path.write_text(json.dumps(dataclasses.asdict(self), indent=2))
        markdown_path.write_text(self.to_markdown())
        return json_path, markdown_path

    @classmethod
    def load(cls, model_dir: Path) -> ModelCard:
        """Read ``model_card.json`` from ``model_dir``."""
        data = json.loads((Path(model_dir) / CARD_JSON).read_text())
        data["limitations"] = tuple(data["limitations"])
        return cls(**data)

    def to_markdown(self) -> str:
        """The card for people: data, metrics of every model, calibration, training, slices, limitations."""
        version = f"v{self.version}" if self.version is not None else "(unregistered)"
        lines = [f"# Model card: {self.model_name} {version}", "", f"Trained {self.created}.", ""]
        lines += ["## Intended use", "", self.intended_use, ""]
        lines += ["## Data", ""]
        lines += [f"- {key}: `{value}`" for key, value in self.lineage.items()]
        split_columns = list(next(iter(self.data.values())))
        lines += [
            "",
            *_table(["split", *split_columns], [[name, *row.values()] for name, row in self.data.items()]),
        ]
        lines += ["", "## Metrics (test split)", ""]
        models = list(self.metrics)
        rows = [[m, *(self.metrics[name].get(m) for name in models)] for m in CARD_METRICS]
        lines += _table(["metric", *models], rows)
        lines += ["", "## Uncertainty (customer-cluster bootstrap, 95%)", ""]
        lines += [f"- {key}: {_format(value)}" for key, value in self.uncertainty.items()]
        if self.truth_evaluation:
            lines += ["", "## Against the simulator's truth (evaluation only)", ""]
            lines += [f"- {key}: {_format(value)}" for key, value in self.truth_evaluation.items()]
        if self.recipe_backtest:
            lines += ["", "## Rolling-origin backtest of the training recipe (newest at registration)", ""]
            lines += [f"- {key}: {_format(value)}" for key, value in self.recipe_backtest.items()]
        lines += ["", "## Calibration", ""]
        lines += [f"- {key}: {_format(value)}" for key, value in self.calibration.items()]
        lines += ["", "## Training", ""]
        lines += [f"- {key}: {_format(value)}" for key, value in self.training.items()]
        lines += ["", "## Fairness slices (test split)", ""]
        for feature, slices in self.slices.items():
            lines += [f"### By {feature}", ""]
            lines += _table(list(slices[0]), [list(s.values()) for s in slices])
            lines += [""]
        lines += ["## Limitations", "", *(f"- {item}" for item in self.limitations), ""]
        return "\n".join(lines)


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(_format(cell) for cell in row) + " |" for row in rows),
    ]


def _format(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
