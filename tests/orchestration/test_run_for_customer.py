"""run_for_customer on real stages: store lookup, TorchScript propensity (in-process and over KServe v2),
threshold, MiniLM retrieval with eligibility filters, template copy, and per-stage latency."""

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loyaltylens.decision.chain import DecisionChain
from loyaltylens.decision.scorers import InProcessScorer, KServeV2Scorer
from loyaltylens.errors import DataValidationError, UnknownCustomerError
from loyaltylens.features.definitions import PAIR_FEATURES
from loyaltylens.generation.prompts import load_prompt
from loyaltylens.generation.template import TemplateGenerator
from loyaltylens.local.stack import start_propensity_stack
from loyaltylens.propensity.contract import FeatureContract
from loyaltylens.retrieval.query import build_customer_query
from tests.model_samples import export_untrained_model

REPO_PROMPTS = Path(__file__).resolve().parents[2] / "prompts"
CUSTOMERS = [3, 57, 211, 640]


def make_pipeline(store, scorer, index, threshold: float) -> DecisionChain:
    generator = TemplateGenerator(load_prompt(REPO_PROMPTS, "offer_copy"))
    return DecisionChain(store, scorer, lambda name: index, generator, threshold=threshold, top_k=3)


def test_below_threshold_sends_nothing_and_says_why(skeleton_store, skeleton_model_dir, offer_index):
    pipeline = make_pipeline(skeleton_store, InProcessScorer(skeleton_model_dir), offer_index, threshold=1.0)
    decision = pipeline.run_for_customer(CUSTOMERS[0])
    assert not decision.send_offer and decision.offers == [] and decision.copy is None
    assert f"{decision.propensity:.3f} below threshold 1.000" in decision.reason
    assert set(decision.latency_ms) == {"features", "propensity"}


def test_above_threshold_offers_eligible_offers_with_copy(
    skeleton_store, skeleton_model_dir, offer_index, offer_catalog
):
    pipeline = make_pipeline(skeleton_store, InProcessScorer(skeleton_model_dir), offer_index, threshold=0.0)
    for customer_id in CUSTOMERS:
        decision = pipeline.run_for_customer(customer_id)
        record = skeleton_store.get_features([customer_id]).to_records()[0]
        assert decision.send_offer and len(decision.offers) == 3
        as_of = pd.Timestamp(skeleton_store.describe().as_of)
        catalog = offer_catalog.set_index("offer_id")
        for offer in decision.offers:
            assert offer.channel in (record["channel_preference"], "any")
            assert (
                pd.Timestamp(catalog.loc[offer.offer_id, "start_date"])
                <= as_of
                <= pd.Timestamp(catalog.loc[offer.offer_id, "end_date"])
            )
        assert [o.score for o in decision.offers] == sorted((o.score for o in decision.offers), reverse=True)
        best = decision.offers[0]
        assert f"{best.discount_pct:g}%" in decision.copy.headline  # the copy states the offer's own discount
        assert best.text in decision.copy.body
        assert set(decision.latency_ms) == {"features", "propensity", "retrieval", "generation"}
        assert decision.feature_version == "v0001" and decision.retriever == "exact"


def test_unknown_customer_is_a_clear_error(skeleton_store, skeleton_model_dir, offer_index):
    pipeline = make_pipeline(skeleton_store, InProcessScorer(skeleton_model_dir), offer_index, threshold=0.5)
    with pytest.raises(UnknownCustomerError, match="99999"):
        pipeline.run_for_customer(99999)


def test_in_process_and_kserve_modes_decide_the_same(skeleton_store, skeleton_model_dir, offer_index, tmp_path):
    local = make_pipeline(skeleton_store, InProcessScorer(skeleton_model_dir), offer_index, threshold=0.5)
    with start_propensity_stack(skeleton_model_dir, tmp_path, with_transformer=False) as stack:
        remote_scorer = KServeV2Scorer(stack.predictor.http_url, stack.model_name)
        remote = make_pipeline(skeleton_store, remote_scorer, offer_index, threshold=0.5)
        for customer_id in CUSTOMERS:
            a, b = local.run_for_customer(customer_id), remote.run_for_customer(customer_id)
            np.testing.assert_allclose(a.propensity, b.propensity, atol=1e-6)
            assert (a.send_offer, [o.offer_id for o in a.offers], a.copy) == (
                b.send_offer,
                [o.offer_id for o in b.offers],
                b.copy,
            )
        remote_scorer.close()


def test_offer_aware_model_scores_every_eligible_candidate_and_sends_the_likeliest(
    skeleton_store, pair_model_dir, offer_index
):
    scorer = InProcessScorer(pair_model_dir)
    chain = DecisionChain(
        skeleton_store,
        scorer,
        lambda name: offer_index,
        TemplateGenerator(load_prompt(REPO_PROMPTS, "offer_copy")),
        threshold=0.0,
        top_k=3,
        candidates=8,
    )
    assert scorer.offer_aware
    for customer_id in CUSTOMERS:
        decision = chain.run_for_customer(customer_id)
        record = skeleton_store.get_features([customer_id]).to_records()[0]
        query = build_customer_query(record, active_at=date.fromisoformat(skeleton_store.describe().as_of))
        candidates = offer_index.search(query.text, k=8, filters=query.filters)
        # Every eligible candidate is scored as a (customer, offer) pair; the likeliest three come back, best first.
        pairs = skeleton_store.get_pair_features([customer_id] * len(candidates), [o.offer_id for o in candidates])
        expected = scorer.score(pairs.values)
        best_three = [candidates[i].offer_id for i in np.argsort(-expected, kind="stable")[:3]]
        assert [o.offer_id for o in decision.offers] == best_three
        np.testing.assert_allclose(decision.offer_propensities, np.sort(expected)[::-1][:3], atol=1e-6)
        assert decision.propensity == decision.offer_propensities[0] and decision.send_offer
        assert decision.copy is not None and f"{decision.offers[0].discount_pct:g}%" in decision.copy.headline
        assert list(decision.latency_ms) == ["features", "retrieval", "propensity", "generation"]


def test_offer_aware_threshold_reads_the_best_offers_propensity(skeleton_store, pair_model_dir, offer_index):
    generator = TemplateGenerator(load_prompt(REPO_PROMPTS, "offer_copy"))
    chain = DecisionChain(
        skeleton_store, InProcessScorer(pair_model_dir), lambda name: offer_index, generator, threshold=1.0
    )
    decision = chain.run_for_customer(CUSTOMERS[1])
    assert not decision.send_offer and decision.offers == [] and decision.copy is None
    assert f"best offer's propensity {decision.propensity:.3f} below threshold 1.000" in decision.reason


def test_a_model_built_on_other_features_is_refused_with_the_widths(tmp_path):
    """A model from a build whose pair rows had one column less (before avg_basket_365d) neither scores pair rows nor
    customer rows: the scorer refuses it at once, saying how to fix it, instead of scoring the wrong columns."""
    older = FeatureContract(fields=tuple(f for f in PAIR_FEATURES if f.name != "avg_basket_365d"))
    with pytest.raises(DataValidationError, match=rf"takes {len(PAIR_FEATURES) - 1} features.*pair rows "
                       rf"{len(PAIR_FEATURES)}: retrain it"):  # fmt: skip
        InProcessScorer(export_untrained_model(tmp_path, contract=older))


def test_offer_aware_kserve_scorer_reads_the_served_contract(skeleton_store, pair_model_dir, offer_index, tmp_path):
    generator = TemplateGenerator(load_prompt(REPO_PROMPTS, "offer_copy"))
    local = DecisionChain(skeleton_store, InProcessScorer(pair_model_dir), lambda n: offer_index, generator, 0.0)
    with start_propensity_stack(pair_model_dir, tmp_path, with_transformer=False) as stack:
        remote_scorer = KServeV2Scorer(stack.predictor.http_url, stack.model_name)
        assert remote_scorer.offer_aware
        remote = DecisionChain(skeleton_store, remote_scorer, lambda n: offer_index, generator, 0.0)
        for customer_id in CUSTOMERS[:2]:
            a, b = local.run_for_customer(customer_id), remote.run_for_customer(customer_id)
            assert [o.offer_id for o in a.offers] == [o.offer_id for o in b.offers]
            np.testing.assert_allclose(a.offer_propensities, b.offer_propensities, atol=1e-6)
        remote_scorer.close()


def test_margin_model_chooses_the_highest_expected_margin_or_nothing(skeleton_store, pair_model_dir, offer_index):
    """With a margin model the chain ranks the eligible candidates by expected margin (the policy code the batch
    decisions use), sends the best only when it earns money, and says so."""
    from loyaltylens.config import Settings
    from loyaltylens.decision.margin import AnywayModel, Economics, MarginModel
    from loyaltylens.features.definitions import PAIR_FEATURE_NAMES
    from tests.model_samples import never_opts_out

    rng = np.random.default_rng(0)
    rows = rng.random((400, len(PAIR_FEATURE_NAMES))).astype(np.float32)
    anyway = AnywayModel().fit(rows, rows[:, 0] > 0.5)  # any fitted model: the test checks the chain's use of it
    economics = Economics.from_settings(Settings())
    scorer = InProcessScorer(pair_model_dir)
    generator = TemplateGenerator(load_prompt(REPO_PROMPTS, "offer_copy"))
    for send_cost, sends in ((0.0, None), (1_000.0, False)):
        model = MarginModel(
            anyway, never_opts_out(rows), None, None, Economics(**{**economics.__dict__, "send_cost_eur": send_cost})
        )
        chain = DecisionChain(
            skeleton_store, scorer, lambda name: offer_index, generator, 0.5, top_k=3, candidates=8, margin_model=model
        )
        decision = chain.run_for_customer(CUSTOMERS[0])
        record = skeleton_store.get_features([CUSTOMERS[0]]).to_records()[0]
        query = build_customer_query(record, active_at=date.fromisoformat(skeleton_store.describe().as_of))
        candidates = offer_index.search(query.text, k=8, filters=query.filters)
        pairs = skeleton_store.get_pair_features([CUSTOMERS[0]] * len(candidates), [o.offer_id for o in candidates])
        _, terms = model.margins(pairs.values, scorer.score(pairs.values))
        assert decision.expected_margin == pytest.approx(terms.expected_margin.max(), abs=1e-6)
        assert decision.send_offer == (terms.expected_margin.max() > 0) and "margin" in decision.latency_ms
        if sends is False:
            assert not decision.send_offer and decision.reason.startswith("no offer earns money")
        elif decision.send_offer:
            best = candidates[int(np.argmax(terms.expected_margin))].offer_id
            assert decision.offers[0].offer_id == best and f"offer #{best}" in decision.reason


def test_every_customers_query_is_in_the_warmed_cache(skeleton_store, pair_model_dir, offer_catalog):
    """The chain's query vocabulary, embedded before any request: no customer's decision embeds a query, and a
    warmed embedding is the one a request would have computed."""
    from loyaltylens.retrieval.embeddings import TextEmbedder
    from loyaltylens.retrieval.exact import ExactRetriever
    from loyaltylens.retrieval.query import customer_query_texts

    texts = customer_query_texts()
    records = skeleton_store.get_features(skeleton_store.get_online_frame()["customer_id"].tolist()).to_records()
    assert {build_customer_query(r).text for r in records} <= set(texts) and len(set(texts)) == len(texts)
    embedder = TextEmbedder()
    index = ExactRetriever(embedder)
    index.index(offer_catalog)
    assert embedder.warm(texts) == len(texts) and embedder.warm(texts) == 0
    chain = DecisionChain(
        skeleton_store,
        InProcessScorer(pair_model_dir),
        lambda name: index,
        TemplateGenerator(load_prompt(REPO_PROMPTS, "offer_copy")),
        threshold=0.0,
    )
    misses = embedder.query_cache_info().misses
    for customer_id in CUSTOMERS:
        chain.run_for_customer(customer_id)
    assert embedder.query_cache_info().misses == misses
    uncached = TextEmbedder(query_cache_size=0)
    np.testing.assert_array_equal(embedder.embed_query(texts[7]), uncached.embed_query(texts[7]))


def test_without_retrieval_no_offer_outside_its_dates_is_a_candidate(
    skeleton_store, pair_model_dir, offer_catalog, offer_index
):
    """Retrieval down: the history+popularity candidates are the offers running at the feature version's as-of
    (the store's offer table carries their dates), as retrieval's own eligibility filter would give."""
    from loyaltylens.decision.chain import HISTORY_FALLBACK, history_candidates

    def broken(name):
        raise ConnectionError("retrieval is down")

    as_of = pd.Timestamp(skeleton_store.describe().as_of)
    catalog = offer_catalog.set_index("offer_id")
    running = (pd.to_datetime(catalog["start_date"]) <= as_of) & (as_of <= pd.to_datetime(catalog["end_date"]))
    assert running.any() and not running.all(), "the catalogue must hold offers outside their dates at the as-of"
    chain = DecisionChain(
        skeleton_store,
        InProcessScorer(pair_model_dir),
        broken,
        TemplateGenerator(load_prompt(REPO_PROMPTS, "offer_copy")),
        threshold=0.0,
        candidates=len(catalog),
    )
    for customer_id in CUSTOMERS:
        batch = skeleton_store.get_features([customer_id])
        record = batch.to_records()[0]
        candidates = history_candidates(skeleton_store, batch, record, k=len(catalog))
        query = build_customer_query(record, active_at=as_of.date())
        eligible = offer_index.search(query.text, k=len(catalog), filters=query.filters)
        assert {o.offer_id for o in candidates} == {o.offer_id for o in eligible}  # retrieval's eligible set
        decision = chain.run_for_customer(customer_id)
        assert decision.retriever == HISTORY_FALLBACK and decision.offers
        assert all(running[o.offer_id] for o in decision.offers)
