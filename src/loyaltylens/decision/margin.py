"""Expected incremental margin of sending an offer (EUR, sent minus not sent), from learnable parts and the
offer's known economics. Derivation and the estimator of each term: docs/DECISION.md.

    EM = p_redeem * ((1 - p_anyway) * m * B  -  d * s * B  -  v * points)  -  c_send  -  p_opt_out * L * m * b

``p_redeem`` is p(redeem | customer, offer): the propensity model's score blended with a logistic regression on
the pair features (:class:`PairLogisticModel`) and recalibrated on the last labelled campaign
(:class:`PlattRecalibration`); ``p_anyway`` the probability that a customer who redeems would have bought in the
offer's category within the window without an offer (:class:`AnywayModel`, learnt from hold-out customers, its
log-odds raised by the redeemers' measured excess, :func:`redeemer_anyway_shift`); ``B`` the basket at stake (the
customer's mean basket, topped up to the offer's minimum spend); ``b`` the usual basket; ``m, s, v, c_send, L`` the
retailer's economics (Settings) and ``d`` the offer's discount. ``p_opt_out`` is the customer's probability of
opting out after a send (:class:`OptOutModel`, learnt from logged sends). Nothing here reads the simulator's
truth (tests/test_architecture.py checks it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Self

import numpy as np

from loyaltylens.config import Settings
from loyaltylens.errors import InvalidInputError
from loyaltylens.features.definitions import BASKET_FEATURE, FEATURE_NAMES, PAIR_FEATURE_NAMES, PAIR_FEATURES
from loyaltylens.vocabulary import CATEGORICAL, SEGMENTS

# Below this many rows the learnt margin parts predict on one thread (see BoostedProbability.predict).
SINGLE_THREAD_ROWS = 2048
# The margin model's file in a registered propensity model directory: the version that scores decides.
MARGIN_MODEL_FILENAME = "margin_model.json"
_MARGIN_MODEL_KEYS = (
    "anyway", "redeemer_anyway_shift", "opt_out", "pair_logistic", "pair_logistic_weight", "recalibration", "economics"
)  # fmt: skip


@dataclass(frozen=True)
class Economics:
    """The retailer's side of an offer: what a basket earns and what a send and a redemption cost (defaults:
    Settings)."""

    gross_margin: float
    discounted_share: float
    point_value_eur: float
    send_cost_eur: float
    min_spend_top_up: float
    opt_out_loss_baskets: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Economics:
        return cls(
            gross_margin=settings.gross_margin,
            discounted_share=settings.discounted_share,
            point_value_eur=settings.point_value_eur,
            send_cost_eur=settings.send_cost_eur,
            min_spend_top_up=settings.min_spend_top_up,
            opt_out_loss_baskets=settings.opt_out_loss_baskets,
        )


@dataclass(frozen=True)
class MarginTerms:
    """Each term of the expected margin for N (customer, offer) pairs, so a decision can say why."""

    expected_margin: np.ndarray  # EUR, sent minus not sent
    gain_if_redeemed: np.ndarray  # EUR: incremental basket margin less discount and points
    redemption_cost: np.ndarray  # EUR: discount plus points, paid on every redemption
    basket_at_stake: np.ndarray  # EUR


def expected_incremental_margin(
    p_redeem: np.ndarray,
    p_anyway: np.ndarray,
    usual_basket: np.ndarray,
    discount_pct: np.ndarray,
    min_spend: np.ndarray,
    bonus_points: np.ndarray,
    economics: Economics,
    p_opt_out: float | np.ndarray = 0.0,
) -> MarginTerms:
    """The expected incremental margin of each (customer, offer) pair (arrays of one element per pair)."""
    e = economics
    usual_basket = np.maximum(np.asarray(usual_basket, dtype=np.float64), 0.0)
    basket = np.maximum(usual_basket, e.min_spend_top_up * np.asarray(min_spend, dtype=np.float64))
    redemption_cost = np.asarray(discount_pct) / 100.0 * e.discounted_share * basket + e.point_value_eur * np.asarray(
        bonus_points
    )
    gain = (1.0 - np.clip(p_anyway, 0.0, 1.0)) * e.gross_margin * basket - redemption_cost
    opt_out_loss = np.asarray(p_opt_out) * e.opt_out_loss_baskets * e.gross_margin * usual_basket
    margin = np.asarray(p_redeem, dtype=np.float64) * gain - e.send_cost_eur - opt_out_loss
    return MarginTerms(margin, gain, redemption_cost, basket)


def margin_of_pair_rows(
    rows: np.ndarray, p_redeem: np.ndarray, p_anyway: np.ndarray, economics: Economics, p_opt_out: float = 0.0
) -> MarginTerms:
    """:func:`expected_incremental_margin` of pair feature rows (``PAIR_FEATURE_NAMES`` columns): the basket and
    the offer's terms are read from the rows themselves."""

    def column(name: str) -> np.ndarray:
        return rows[:, PAIR_FEATURE_NAMES.index(name)].astype(np.float64)

    return expected_incremental_margin(
        p_redeem,
        p_anyway,
        column(BASKET_FEATURE),
        column("discount_pct"),
        column("min_spend"),
        column("bonus_points"),
        economics,
        p_opt_out,
    )


class BoostedProbability:
    """A LightGBM classifier of one binary outcome over (some of) the pair feature columns, kept as its booster so
    it saves in LightGBM's text format (portable across processes and versions, unlike a pickle). Subclasses name
    the outcome, the hyper-parameters and the columns."""

    params: ClassVar[dict[str, float | int]]
    n_columns: ClassVar[int] = len(PAIR_FEATURE_NAMES)  # the first columns of a pair row the model reads

    def __init__(self, seed: int = 42) -> None:
        from lightgbm import LGBMClassifier

        self._model = LGBMClassifier(**self.params, verbose=-1, random_state=seed)

    def fit(self, rows: np.ndarray, outcome: np.ndarray) -> Self:
        self._model.fit(np.asarray(rows)[:, : self.n_columns], np.asarray(outcome, dtype=int))
        self._booster = self._model.booster_
        return self

    def predict(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.float64)[:, : self.n_columns]
        # One customer's few candidates on one thread: waking LightGBM's thread pool costs milliseconds (more on a
        # loaded machine) where the trees take microseconds; a batch uses every core.
        threads = 1 if len(rows) < SINGLE_THREAD_ROWS else 0  # 0: LightGBM's default, all cores
        return self._booster.predict(rows, num_threads=threads)  # binary objective: p(class 1)

    def to_text(self) -> str:
        return self._booster.model_to_string()

    @classmethod
    def from_text(cls, text: str) -> Self:
        from lightgbm import Booster

        model = cls.__new__(cls)
        model._booster = Booster(model_str=text)
        return model


class AnywayModel(BoostedProbability):
    """p(the customer buys in the offer's category within the window without an offer), learnt from hold-out
    assignments (no offer reached them): features are the pair rows, the label whether a purchase of the
    offer's category followed in the window. LightGBM, so category share and recency interact freely."""

    params = {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 50}


class OptOutModel(BoostedProbability):
    """p(the customer opts out of offers after a send), learnt from logged sends: features are the customer's
    (contact pressure, redemption and open history), the label whether that send was followed by an
    unsubscription. Opt-outs are rare (under 1 % of sends) and driven by recent sends the customer columns see
    only in part, so the trees are few, shallow and heavily regularised."""

    params = {
        "n_estimators": 300,
        "learning_rate": 0.02,
        "num_leaves": 7,
        "min_child_samples": 200,
        "reg_lambda": 5.0,
    }
    n_columns = len(FEATURE_NAMES)  # a customer's columns: the first of a pair row


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def redeemer_anyway_shift(p_anyway: np.ndarray, redeemed: np.ndarray, bought_later: np.ndarray) -> float:
    """How much likelier (log-odds) a customer who redeems buys the offer's category than the anyway model says,
    measured on logged sends: the coefficient of ``redeemed`` in a logistic regression of ``bought_later`` (a
    purchase of the category in the window after the label window, when this offer no longer runs) on the anyway
    model's logit and ``redeemed``.

    Why: redeeming and buying anyway both rise with how often the customer shops the category, which the features
    see only in part, so among redeemers the anyway purchase is likelier than the model's p(anyway | features): the
    expected margin multiplies p(redeem) by the gain of a redemption, whose anyway term must be conditional on the
    redemption. The same window cannot show it (a redemption may be the anyway purchase, discounted); the next
    window, free of this offer, shows the shopping habit the redemption revealed."""
    from sklearn.linear_model import LogisticRegression

    redeemed = np.asarray(redeemed, dtype=np.float64)
    bought_later = np.asarray(bought_later, dtype=int)
    if len(np.unique(redeemed)) < 2 or len(np.unique(bought_later)) < 2:
        raise ValueError("the redeemers' anyway shift needs sends with and without a redemption and a later purchase")
    fitted = LogisticRegression(C=1e6, max_iter=1000).fit(np.c_[_logit(p_anyway), redeemed], bought_later)
    return float(fitted.coef_[0, 1])


def shift_log_odds(p: np.ndarray, shift: float) -> np.ndarray:
    """``p`` with ``shift`` added to its log-odds."""
    from scipy.special import expit

    return expit(_logit(p) + shift)


def offer_effect_design(rows: np.ndarray) -> np.ndarray:
    """The pair feature rows as a linear model reads them: each numeric feature as log1p, each categorical one-hot,
    and the shapes the offer's effect takes: the log of the category share (a customer buying a category twice as
    often is about as much likelier to redeem on it), the minimum spend above the usual basket, and the discount
    per segment (segments differ in how much a deeper discount moves them)."""
    rows = np.asarray(rows, dtype=np.float64)
    columns = []
    for i, field in enumerate(PAIR_FEATURES):
        if field.kind == CATEGORICAL:  # a code outside the vocabulary is no category: all zeros
            columns.append(rows[:, i, None].astype(np.int64) == np.arange(len(field.categories)))
        else:
            columns.append(np.log1p(np.clip(rows[:, i], 0.0, None))[:, None])

    def column(name: str) -> np.ndarray:
        return rows[:, PAIR_FEATURE_NAMES.index(name)]

    share = np.clip(np.log(column("category_share_365d") * 10 + 1e-3), -2.0, 2.0)
    excess_min_spend = np.clip(column("min_spend_ratio") - 1.0, 0.0, 2.0)
    segment = column("segment")[:, None].astype(np.int64) == np.arange(len(SEGMENTS))
    discount_by_segment = segment * column("discount_pct")[:, None] / 10.0
    return np.hstack([*columns, share[:, None], excess_min_spend[:, None], discount_by_segment])


class PairLogisticModel:
    """p(redeem) from :func:`offer_effect_design` alone: one L2-regularised logistic regression fitted on logged
    sends, blended with the propensity model's score in :meth:`MarginModel.redeem_probability`.

    Offers are assigned at random, one per customer and campaign, so how one customer's offers compare is learnt
    from few rows per offer effect; those effects are near-additive, and a low-variance linear model on the right
    transforms ranks a customer's offers closer to the truth than the TabTransformer does (docs/DECISION.md)."""

    def __init__(self, mean=None, scale=None, coef=None, intercept: float = 0.0) -> None:
        self.mean, self.scale, self.coef = (
            None if a is None else np.asarray(a, np.float64) for a in (mean, scale, coef)
        )
        self.intercept = float(intercept)

    def fit(self, rows: np.ndarray, redeemed: np.ndarray, c: float = 1.0) -> Self:
        from sklearn.linear_model import LogisticRegression

        design = offer_effect_design(rows)
        self.mean, self.scale = design.mean(axis=0), design.std(axis=0)
        self.scale[self.scale == 0] = 1.0  # a constant column (a category never seen) contributes nothing
        fitted = LogisticRegression(C=c, max_iter=3000).fit(
            (design - self.mean) / self.scale, np.asarray(redeemed, dtype=int)
        )
        self.coef, self.intercept = fitted.coef_[0], float(fitted.intercept_[0])
        return self

    def logit(self, rows: np.ndarray) -> np.ndarray:
        return ((offer_effect_design(rows) - self.mean) / self.scale) @ self.coef + self.intercept

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept}  # fmt: skip


# Weight of the pair logistic model's logit in the blend, the propensity model's taking the rest. Chosen on the
# policy benchmark's development campaigns 20-22, before its test campaigns 23-25 (docs/DECISION.md): the offer
# effects that rank one customer's offers are learnt better by the low-variance model, the customer's level by both.
PAIR_LOGISTIC_WEIGHT = 0.8


def blend_redeem_probability(
    rows: np.ndarray,
    raw_p_redeem: np.ndarray,
    pair_logistic: PairLogisticModel | None,
    weight: float = PAIR_LOGISTIC_WEIGHT,
) -> np.ndarray:
    """The weighted mean of the propensity model's logit and the pair logistic model's (``None``: the propensity
    model's score as it is), with ``weight`` on the latter. The weights are fixed: the propensity model has seen
    the sends a fitted weight would be learnt on, so a fit would trust it for its in-sample accuracy (a stack
    fitted that way earned a third of what the propensity model alone earns on the benchmark's first test
    campaign)."""
    from scipy.special import expit

    p = np.asarray(raw_p_redeem, np.float64)
    if pair_logistic is None:
        return p
    return expit((1.0 - weight) * _logit(p) + weight * pair_logistic.logit(rows))


class PlattRecalibration:
    """p(redeem) recalibrated where the decision acts: a logistic fit of the outcome on the model's logit over
    the validation campaign's sends (never test), so an expected value built on it is not biased by the drift
    between the campaigns the model learnt from and the one it decides."""

    def __init__(self, slope: float = 1.0, intercept: float = 0.0) -> None:
        self.slope, self.intercept = slope, intercept  # p' = sigmoid(slope * logit(p) + intercept)

    def fit(self, p_redeem: np.ndarray, redeemed: np.ndarray) -> PlattRecalibration:
        from sklearn.linear_model import LogisticRegression

        fitted = LogisticRegression(C=1e6).fit(_logit(p_redeem)[:, None], np.asarray(redeemed, dtype=int))
        self.slope, self.intercept = float(fitted.coef_[0, 0]), float(fitted.intercept_[0])
        return self

    def apply(self, p_redeem: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.slope * _logit(p_redeem) + self.intercept)))


@dataclass(frozen=True)
class MarginModel:
    """What turns a propensity model's raw pair scores into expected margins: the fitted pair logistic model, anyway
    and opt-out models, the validation recalibration and the economics. The batch decisions and ``DecisionChain``
    share it."""

    anyway: AnywayModel
    opt_out: OptOutModel
    pair_logistic: PairLogisticModel | None  # None: the propensity model's score alone
    recalibration: PlattRecalibration | None
    economics: Economics
    redeemer_anyway_shift: float = 0.0  # log-odds added to p(anyway) for a redeemer (redeemer_anyway_shift())
    # The blend's weight the recalibration was fitted with: saved, so a margin model decides as it was fitted.
    pair_logistic_weight: float = PAIR_LOGISTIC_WEIGHT

    def redeem_probability(self, rows: np.ndarray, raw_p_redeem: np.ndarray) -> np.ndarray:
        """p(redeem) of pair feature ``rows`` as the margin uses it, from the propensity model's raw scores: their
        blend with the pair logistic model (:func:`blend_redeem_probability`), recalibrated."""
        p = blend_redeem_probability(rows, raw_p_redeem, self.pair_logistic, self.pair_logistic_weight)
        return self.recalibration.apply(p) if self.recalibration else p

    def anyway_if_redeemed(self, rows: np.ndarray) -> np.ndarray:
        """p(the purchase would have happened anyway | the customer redeems) of pair feature ``rows``."""
        return shift_log_odds(self.anyway.predict(rows), self.redeemer_anyway_shift)

    def margins(self, rows: np.ndarray, raw_p_redeem: np.ndarray) -> tuple[np.ndarray, MarginTerms]:
        """p(redeem) (:meth:`redeem_probability`) and the margin terms of pair feature ``rows``."""
        p = self.redeem_probability(rows, raw_p_redeem)
        return p, self.margin_terms(rows, p)

    def margin_terms(self, rows: np.ndarray, p_redeem: np.ndarray) -> MarginTerms:
        """The margin terms of pair feature ``rows`` at the redemption probabilities ``p_redeem``."""
        return margin_of_pair_rows(
            rows, p_redeem, self.anyway_if_redeemed(rows), self.economics, self.opt_out.predict(rows)
        )

    def save(self, path: Path) -> Path:
        """Write the model as JSON (the anyway and opt-out models in LightGBM's text format) to ``path``."""
        recalibration = self.recalibration
        document = {  # the keys of _MARGIN_MODEL_KEYS
            "anyway": self.anyway.to_text(),
            "redeemer_anyway_shift": self.redeemer_anyway_shift,
            "opt_out": self.opt_out.to_text(),
            "pair_logistic": None if self.pair_logistic is None else self.pair_logistic.to_dict(),
            "pair_logistic_weight": self.pair_logistic_weight,
            "recalibration": None if recalibration is None else [recalibration.slope, recalibration.intercept],
            "economics": asdict(self.economics),
        }
        Path(path).write_text(json.dumps(document))
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> MarginModel:
        document = json.loads(Path(path).read_text())
        missing = sorted(set(_MARGIN_MODEL_KEYS) - set(document))
        if missing:
            raise InvalidInputError(
                f"{path} is a margin model of an older LoyaltyLens (no {', '.join(missing)}): refit it by training "
                "the model again"
            )
        recalibration, pair_logistic = document["recalibration"], document["pair_logistic"]
        return cls(
            anyway=AnywayModel.from_text(document["anyway"]),
            opt_out=OptOutModel.from_text(document["opt_out"]),
            pair_logistic=None if pair_logistic is None else PairLogisticModel(**pair_logistic),
            recalibration=None if recalibration is None else PlattRecalibration(*recalibration),
            economics=Economics(**document["economics"]),
            redeemer_anyway_shift=float(document["redeemer_anyway_shift"]),
            pair_logistic_weight=float(document["pair_logistic_weight"]),
        )


def load_margin_model(model_dir: Path) -> MarginModel | None:
    """The margin model registered with the propensity model in ``model_dir``; None for a directory without one
    (a model exported outside the training pipeline): the chain then ranks by propensity."""
    path = Path(model_dir) / MARGIN_MODEL_FILENAME
    return MarginModel.load(path) if path.is_file() else None
