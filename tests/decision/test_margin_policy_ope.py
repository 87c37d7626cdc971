"""Expected incremental margin on planted economics, the send decision's limits, and the off-policy estimators
on a planted logging policy whose value is known."""

import numpy as np
import pandas as pd
import pytest

from loyaltylens.config import Settings
from loyaltylens.decision.margin import Economics, expected_incremental_margin
from loyaltylens.decision.ope import doubly_robust, ips, snips
from loyaltylens.decision.policy import NO_POSITIVE_MARGIN, OVER_BUDGET, OVER_CAP, SendLimits, decide_campaign

ECONOMICS = Economics(
    gross_margin=0.3,
    discounted_share=0.4,
    point_value_eur=0.01,
    send_cost_eur=0.02,
    min_spend_top_up=1.125,
    opt_out_loss_baskets=1.5,
)


def test_planted_economics_give_the_hand_computed_margin() -> None:
    terms = expected_incremental_margin(
        p_redeem=np.array([0.1, 0.1]),
        p_anyway=np.array([0.5, 0.5]),
        usual_basket=np.array([50.0, 8.0]),
        discount_pct=np.array([20.0, 20.0]),
        min_spend=np.array([10.0, 40.0]),
        bonus_points=np.array([100.0, 0.0]),
        economics=ECONOMICS,
        p_opt_out=0.01,
    )
    # Basket 50: discount 0.2*0.4*50 = 4 + points 1 = 5; gain 0.5*0.3*50 - 5 = 2.5; opt-out 0.01*1.5*0.3*50.
    # Basket 8 below the min spend 40: the basket at stake is 45, cost 3.6, gain 0.5*0.3*45 - 3.6 = 3.15.
    np.testing.assert_allclose(terms.basket_at_stake, [50.0, 45.0])
    np.testing.assert_allclose(terms.redemption_cost, [5.0, 3.6])
    np.testing.assert_allclose(terms.expected_margin, [0.25 - 0.02 - 0.225, 0.315 - 0.02 - 0.036])
    assert Economics.from_settings(Settings()).gross_margin == Settings().gross_margin


def _candidates(margins: dict[int, list[float]]) -> pd.DataFrame:
    rows = [(c, 100 + i, m, 1.0) for c, ms in margins.items() for i, m in enumerate(ms)]
    return pd.DataFrame(rows, columns=["customer_id", "offer_id", "expected_margin", "expected_cost"])


def test_policy_sends_nothing_when_every_margin_is_negative() -> None:
    decisions = decide_campaign(_candidates({1: [-0.1, -0.3], 2: [-0.01]}))
    assert not decisions["send"].any() and decisions["offer_id"].isna().all()
    assert decisions["reason"].str.startswith(NO_POSITIVE_MARGIN).all()


def test_policy_sends_the_best_offer_and_respects_budget_and_cap() -> None:
    candidates = _candidates({1: [0.1, 0.5], 2: [0.3], 3: [0.2, -1.0], 4: [-0.2]})
    decisions = decide_campaign(candidates).set_index("customer_id")
    assert decisions.loc[1, "offer_id"] == 101 and decisions["send"].sum() == 3
    budgeted = decide_campaign(candidates, SendLimits(budget_eur=2.0)).set_index("customer_id")
    assert list(budgeted.index[budgeted["send"]]) == [1, 2]  # the two most profitable, 1 EUR cost each
    assert budgeted.loc[3, "reason"] == OVER_BUDGET
    capped = decide_campaign(candidates, SendLimits(contact_cap=1)).set_index("customer_id")
    assert list(capped.index[capped["send"]]) == [1] and capped.loc[2, "reason"] == OVER_CAP
    assert capped.loc[4, "reason"].startswith(NO_POSITIVE_MARGIN)


@pytest.fixture(scope="module")
def planted_log():
    """Contexts x in {0, 1}, three actions; the logging policy depends on x (known probabilities), rewards are
    normal around a known mean per (x, action); the target policy takes action 2 for x=0 and 0 for x=1."""
    rng = np.random.default_rng(3)
    n = 40_000
    x = rng.integers(0, 2, n)
    logging = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    means = np.array([[1.0, 0.0, 3.0], [2.0, -1.0, 0.5]])
    action = np.array([rng.choice(3, p=logging[xi]) for xi in x])
    reward = means[x, action] + rng.normal(0, 1.0, n)
    policy = np.where(x == 0, 2, 0)
    true_value = 0.5 * means[0, 2] + 0.5 * means[1, 0]
    return dict(x=x, action=action, reward=reward, p=logging[x, action], policy=policy, truth=true_value, means=means)


def test_each_ope_estimator_is_unbiased_on_a_planted_logging_policy(planted_log) -> None:
    log = planted_log
    matches = log["action"] == log["policy"]
    wrong_model = np.zeros((2, 3))  # DR stays unbiased with a wrong reward model: the logging policy is known
    estimates = {
        "ips": ips(log["reward"], log["p"], matches),
        "snips": snips(log["reward"], log["p"], matches),
        "dr_wrong_model": doubly_robust(
            log["reward"], log["p"], matches, wrong_model[log["x"], log["action"]], wrong_model[log["x"], log["policy"]]
        ),
        "dr_right_model": doubly_robust(
            log["reward"],
            log["p"],
            matches,
            log["means"][log["x"], log["action"]],
            log["means"][log["x"], log["policy"]],
        ),
    }
    for name, estimate in estimates.items():
        assert estimate.low <= log["truth"] <= estimate.high, (name, estimate, log["truth"])
        assert estimate.high - estimate.low < 0.3, (name, estimate)
    naive = log["reward"][matches].mean()  # the unweighted mean of matching rows is biased here
    assert abs(naive - log["truth"]) > estimates["ips"].high - estimates["ips"].low
    right = estimates["dr_right_model"]
    assert right.high - right.low < estimates["ips"].high - estimates["ips"].low  # a good model cuts variance
