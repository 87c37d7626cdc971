"""TorchServe serving the offer-aware pair model: v1 records and rows of (customer, offer) pairs, malformed pairs.

One TorchServe instance serves an untrained model exported with the pair contract
(``FeatureContract.for_pairs()``: the customer features, then the offer and affinity ones). Its answers to
v1 records carrying customer and offer fields (categoricals as labels or codes) and to raw pair rows must
equal the in-process TorchScript model's; malformed pairs (an offer field missing or out of range, an unknown
offer label or code, a customer-only row of the old width) must get HTTP 400 with a JSON message naming the
problem while the server keeps serving. The same model and malformed records are served by the KServe
predictor in ``test_pair_contract``, whose fixtures and cases are reused here, as is the TorchServe start-up
(and clean-stop check) of ``test_torchserve``.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from loyaltylens.features.definitions import FEATURE_NAMES
from loyaltylens.propensity.contract import CONTRACT_FILENAME, FeatureContract
from loyaltylens.propensity.torchserve import build_archive
from tests.model_samples import random_feature_rows
from tests.serving.payloads import as_records, valid_record, without

# Module fixtures of the KServe pair-contract tests: the exported pair model, its contract and the in-process
# reference. Imported, they are this module's own (module-scoped) fixtures.
from tests.serving.test_pair_contract import (  # noqa: F401
    MALFORMED_PAIR_RECORDS,
    pair_model_dir,
    pair_reference,
    pairs,
)

# The torchserve marker, the Java 17 skip (and, on import, the skip without TorchServe installed).
from tests.serving.test_torchserve import ATOL, post, pytestmark, serving  # noqa: F401


@pytest.fixture(scope="module")
def pair_torchserve(pair_model_dir, tmp_path_factory):  # noqa: F811
    with serving(pair_model_dir, tmp_path_factory.mktemp("torchserve-pairs")) as server:
        yield server


def column(contract: FeatureContract, name: str) -> int:
    return contract.names.index(name)


# --- archive (no server) -----------------------------------------------------------------------------------


def test_archive_carries_the_pair_contract(pair_model_dir, pairs, tmp_path):  # noqa: F811
    archive = build_archive(pair_model_dir, tmp_path)
    with zipfile.ZipFile(archive) as mar:
        packed = FeatureContract.from_dict(json.loads(mar.read(CONTRACT_FILENAME)))
    assert packed == pairs
    assert packed.names == FeatureContract.for_pairs().names
    assert packed.n_features > len(FEATURE_NAMES)  # wider than the customer contract


# --- answers equal the in-process model --------------------------------------------------------------------


def test_pair_records_and_rows_match_reference(pair_torchserve, pairs, pair_reference):  # noqa: F811
    rows = random_feature_rows(pairs, 16, seed=2)
    expected = pair_reference(rows)[:, 0]
    assert np.ptp(expected) > 1e-3  # the pairs get different answers, so matching them means something
    records = as_records(pairs, rows)
    assert {"offer_category", "offer_channel", "discount_pct"} <= set(records[0])
    assert isinstance(records[0]["offer_channel"], str)  # categoricals sent as their labels
    np.testing.assert_allclose(pair_torchserve.predict(records), expected, atol=ATOL)
    np.testing.assert_allclose(pair_torchserve.predict(rows), expected, atol=ATOL)


def test_pair_records_with_category_codes_match_reference(pair_torchserve, pairs, pair_reference):  # noqa: F811
    rows = random_feature_rows(pairs, 4, seed=3)
    codes = [dict(zip(pairs.names, map(float, row), strict=True)) for row in rows]
    np.testing.assert_allclose(pair_torchserve.predict(codes), pair_reference(rows)[:, 0], atol=ATOL)
    # customer categoricals as labels, offer categoricals as codes, in the same request
    mixed = as_records(pairs, rows)
    for record, row in zip(mixed, rows, strict=True):
        for name in ("offer_category", "offer_channel"):
            record[name] = int(row[column(pairs, name)])
    np.testing.assert_allclose(pair_torchserve.predict(mixed), pair_reference(rows)[:, 0], atol=ATOL)


def test_one_customer_gets_a_different_answer_per_offer(pair_torchserve, pairs, pair_reference):  # noqa: F811
    """The served model reads the offer columns: the same customer with different offers, different answers."""
    rows = random_feature_rows(pairs, 8, seed=5)
    n_customer = len(FEATURE_NAMES)
    rows[:, :n_customer] = rows[0, :n_customer]  # one customer, eight offers
    expected = pair_reference(rows)[:, 0]
    assert np.ptp(expected) > 1e-4
    served = pair_torchserve.predict(as_records(pairs, rows))
    np.testing.assert_allclose(served, expected, atol=ATOL)


# --- malformed pairs: HTTP 400 naming the problem, server keeps serving ------------------------------------


PAIR_WIDTH = FeatureContract.for_pairs().n_features
CUSTOMER_WIDTH = len(FEATURE_NAMES)
N_OFFER_CATEGORIES = len(next(f for f in FeatureContract.for_pairs().fields if f.name == "offer_category").categories)


def _rows_with(c: FeatureContract, name: str, value: float, row: int = 0) -> list:
    """Three valid pair rows with ``value`` planted in column ``name`` of ``row``."""
    rows = random_feature_rows(c, 3, seed=9)
    rows[row, column(c, name)] = value
    return rows.tolist()


MALFORMED_PAIRS = {
    # case id: (instances builder taking the contract, words the message must all contain)
    **{  # the records the KServe predictor rejects in test_pair_contract
        f"{case} (as KServe)": (lambda c, build=build: [build(c)], (words,))
        for case, (build, words) in MALFORMED_PAIR_RECORDS.items()
    },
    "record missing discount_pct": (
        lambda c: [without(valid_record(c), "discount_pct")],
        ("missing feature(s) ['discount_pct']",),
    ),
    "unknown offer_channel label": (
        lambda c: [valid_record(c, offer_channel="carrier_pigeon")],
        ("unknown category 'carrier_pigeon' for 'offer_channel'",),
    ),
    "unknown offer_category label": (
        lambda c: [valid_record(c, offer_category="toys")],
        ("unknown category 'toys' for 'offer_category'",),
    ),
    "offer_category code out of range in a record": (
        lambda c: [valid_record(c, offer_category=N_OFFER_CATEGORIES)],
        (f"unknown category code {N_OFFER_CATEGORIES} for 'offer_category'",),
    ),
    "offer_category code out of range in a row": (
        lambda c: _rows_with(c, "offer_category", 42.0, row=2),
        ("unknown category code 42 for 'offer_category' in row 2",),
    ),
    "negative offer_channel code in a row": (
        lambda c: _rows_with(c, "offer_channel", -1.0),
        ("unknown category code -1 for 'offer_channel'",),
    ),
    "discount_pct out of range in a row": (lambda c: _rows_with(c, "discount_pct", 250.0), ("discount_pct",)),
    "customer-only row of the old width": (
        lambda c: random_feature_rows(c, 2)[:, :CUSTOMER_WIDTH].tolist(),
        (f"expected shape [N, {PAIR_WIDTH}]", f"got [2, {CUSTOMER_WIDTH}]"),
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_PAIRS))
def test_malformed_pair_is_400_naming_the_problem(pair_torchserve, pairs, pair_reference, case):  # noqa: F811
    build, words = MALFORMED_PAIRS[case]
    response = post(pair_torchserve, json.dumps({"instances": build(pairs)}))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400
    for word in words:
        assert word in body["message"]
    rows = random_feature_rows(pairs, 3, seed=4)  # still serving
    np.testing.assert_allclose(pair_torchserve.predict(rows), pair_reference(rows)[:, 0], atol=ATOL)
