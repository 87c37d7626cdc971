"""The anyway term as the margin needs it: conditional on the customer redeeming, measured from the next window."""

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from loyaltylens.decision.campaign import bought_category
from loyaltylens.decision.margin import (
    AnywayModel,
    Economics,
    MarginModel,
    OptOutModel,
    margin_of_pair_rows,
    redeemer_anyway_shift,
)
from loyaltylens.features.definitions import PAIR_FEATURE_NAMES

ECONOMICS = Economics(0.3, 0.4, 0.01, 0.02, 1.125, 1.5)


@pytest.mark.parametrize("planted", [0.0, 0.4])
def test_the_shift_recovers_a_planted_excess_of_redeemers(planted: float) -> None:
    rng = np.random.default_rng(7)
    n = 60_000
    p_anyway = expit(rng.normal(-1.0, 1.2, n))
    redeemed = rng.random(n) < 0.1
    bought_later = rng.random(n) < expit(logit(p_anyway) + planted * redeemed)
    assert redeemer_anyway_shift(p_anyway, redeemed, bought_later) == pytest.approx(planted, abs=0.08)


def test_the_shift_needs_both_outcomes() -> None:
    p = np.full(10, 0.3)
    with pytest.raises(ValueError, match="with and without a redemption"):
        redeemer_anyway_shift(p, np.zeros(10), np.arange(10) % 2)


def test_the_window_after_the_label_window_counts_the_category_before_the_cutoff() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE offers AS SELECT * FROM (VALUES (1, 'dairy'), (2, 'bakery')) t(offer_id, category)")
    send_day = datetime(2026, 1, 1)
    day = lambda d: send_day + timedelta(days=d, hours=12)  # noqa: E731
    transactions = pd.DataFrame(
        [
            (10, day(3), "dairy"),  # customer 10: only inside the label window
            (11, day(16), "dairy"),  # customer 11: in the next window
            (12, day(16), "produce"),  # customer 12: next window, another category
            (13, day(30), "bakery"),  # customer 13: after the next window
            (14, day(20), "bakery"),  # customer 14: in the next window but after the cutoff
        ],
        columns=["customer_id", "ts", "category"],
    )
    con.register("transactions", transactions)
    sends = pd.DataFrame(
        {
            "assignment_id": [1, 2, 3, 4, 5],
            "customer_id": [10, 11, 12, 13, 14],
            "offer_id": [1, 1, 1, 2, 2],
            "as_of": [send_day] * 5,
        }
    )
    got = bought_category(con, sends, 14, 14, before=send_day + timedelta(days=19))
    assert got.tolist() == [False, True, False, False, False]
    got_later_cutoff = bought_category(con, sends, 14, 14, before=send_day + timedelta(days=60))
    assert got_later_cutoff.tolist() == [False, True, False, False, True]
    in_label_window = bought_category(con, sends, 0, 14, before=send_day + timedelta(days=60))
    assert in_label_window.tolist() == [True, False, False, False, False]


def test_the_margin_discounts_a_redemption_by_the_shifted_anyway_probability() -> None:
    rng = np.random.default_rng(3)
    rows = rng.uniform(0, 10, size=(400, len(PAIR_FEATURE_NAMES))).astype(np.float32)
    anyway = AnywayModel().fit(rows, rows[:, 0] > 5)
    never = OptOutModel().fit(rows, np.arange(len(rows)) == 0)
    p_redeem = np.full(len(rows), 0.2)
    shifted = MarginModel(anyway, never, None, None, ECONOMICS, redeemer_anyway_shift=0.5)
    unshifted = MarginModel(anyway, never, None, None, ECONOMICS)

    by_hand = margin_of_pair_rows(
        rows, p_redeem, expit(logit(anyway.predict(rows)) + 0.5), ECONOMICS, never.predict(rows)
    )
    np.testing.assert_allclose(shifted.margin_terms(rows, p_redeem).expected_margin, by_hand.expected_margin)
    gain_shifted = shifted.margin_terms(rows, p_redeem).gain_if_redeemed
    gain_unshifted = unshifted.margin_terms(rows, p_redeem).gain_if_redeemed
    assert (gain_shifted < gain_unshifted).all()  # a redeemer's purchase is likelier to have happened anyway
    without_shift = margin_of_pair_rows(rows, p_redeem, anyway.predict(rows), ECONOMICS, never.predict(rows))
    np.testing.assert_allclose(unshifted.margin_terms(rows, p_redeem).expected_margin, without_shift.expected_margin)
