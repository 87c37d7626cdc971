"""Decide by money: every policy's true incremental margin per targeted customer over rolling-origin test
campaigns, off-policy estimates from the logs beside the truth, candidate recall, online and batch speed.

One run on a generated dataset (default 20k customers, 365 days). For each of the last ``--origins`` campaigns
(the test campaign), every learnt part is fitted on the campaigns before the validation campaign (the one before
the test campaign): the p(redeem) model (the project's LightGBM pair baseline; the TabTransformer is the
pipeline's, too slow to retrain per origin here) on every training snapshot before it, as the pipeline trains,
and, on the last few campaigns, the pair logistic model it is blended with, the anyway model on hold-out
assignments and its redeemers' shift, the opt-out model and, for the learned baseline, a T-learner on realised
margin (LightGBM on treated and on hold-out rows).
Calibration on chosen offers is measured on validation and test. The truth is read only to score policies and
for three ceilings: the project's formula with the truth's p(redeem), and with the best p(redeem) the pair
features can tell, E[p | features], learnt from the truth of earlier campaigns (:func:`fit_feature_ceiling`); and
deciding by E[incremental margin | features], learnt the same way: the best any policy on these features could do.

Run from the repository root:  .venv/bin/python -m benchmarks.policy [--customers N] [--origins K]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from lightgbm import LGBMRegressor

from benchmarks.report import record
from loyaltylens.config import Settings
from loyaltylens.data import GeneratorConfig, dataset_id, generate_dataset, load_table
from loyaltylens.decision.batch import decide_scored, score_pairs
from loyaltylens.decision.campaign import (
    eligible_pairs,
    fit_anyway_model,
    fit_opt_out_model,
    fit_redeemer_anyway_shift,
    logged_campaign,
    policy_value_from_logs,
)
from loyaltylens.decision.evaluation import recalibrate_blend
from loyaltylens.decision.margin import Economics, MarginModel, PairLogisticModel
from loyaltylens.decision.ope import bootstrap_interval
from loyaltylens.decision.policy import choose_offer, decide_campaign
from loyaltylens.features.compute import connect, snapshot_dates
from loyaltylens.features.definitions import PAIR_FEATURE_NAMES
from loyaltylens.features.pairs import build_pair_index, compute_pair_training_frame
from loyaltylens.groundtruth import campaign_as_of, load_pair_truth
from loyaltylens.propensity.baseline import fit_params, make_lightgbm
from loyaltylens.propensity.contract import FeatureContract

WINDOW = 14
TRAIN_CAMPAIGNS = 8  # campaigns before validation the margin's parts and the T-learner learn from
CEILING_CAMPAIGNS = 3  # campaigns before the first test one whose pair truth the feature ceiling learns from
THRESHOLD = 0.05  # the old fixed propensity threshold, kept only as a policy to compare with
TARGETS = {"share_of_oracle": 0.8, "ope_abs_error_share_of_oracle": 0.10, "candidate_recall": 0.95}
TARGETS |= {"online_p50_ms": 10.0, "batch_50k_s": 60.0}
CANDIDATE_K = 10  # the large-catalogue candidate stage's size


def realised_margin_frame(con, dataset_dir: Path, campaign_ids: list[int], economics: Economics, n_eligible):
    """Logged rows of the campaigns with their pair features and realised reward (for the T-learner)."""
    as_of = campaign_as_of(dataset_dir)
    frames = []
    for k in campaign_ids:
        logs = logged_campaign(dataset_dir, k, WINDOW, economics, n_eligible[k])
        index = build_pair_index(con, as_of[k].to_pydatetime())
        frames.append((logs, index.lookup(logs["customer_id"].to_numpy(), logs["offer_id"].to_numpy())))
    return frames


def fit_feature_ceiling(
    matrices: list[np.ndarray], truth: list[np.ndarray], categorical: list[int], seed: int, objective: str
):
    """E[truth | pair features], evaluation only: LightGBM on a truth column (the p(redeem) with ``cross_entropy``,
    the incremental margin with ``regression``) of every eligible pair of earlier campaigns (``matrices``: their
    pair feature rows). The label is the expectation itself, without a redemption's noise, on ~25 times more pairs
    than were sent, so it comes close to what any model could learn from these features with unlimited sends: what
    the features cannot tell stays out of it. Generous in size (600 trees of 63 leaves gave 0.02 less of the oracle
    on the last test campaign)."""
    model = LGBMRegressor(
        objective=objective, n_estimators=1500, learning_rate=0.05, num_leaves=127, min_child_samples=50,
        random_state=seed, n_jobs=2, verbose=-1,
    )  # fmt: skip
    return model.fit(np.vstack(matrices), np.concatenate(truth), categorical_feature=categorical)


def decide_by_customer(scored: pd.DataFrame) -> pd.DataFrame:
    """``decide_campaign``'s decisions indexed and sorted by customer id, as every policy's values are."""
    return decide_campaign(scored).set_index("customer_id").sort_index()


def bootstrap_ci(values: np.ndarray, seed: int = 0, samples: int = 1000) -> tuple[float, float]:
    return bootstrap_interval(lambda i: values[i].mean(), len(values), seed, samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--origins", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    settings = Settings()
    economics = Economics.from_settings(settings)
    work = Path(tempfile.mkdtemp(prefix="bench-policy-"))
    config = GeneratorConfig(
        n_customers=args.customers, seed=args.seed, pair_truth_campaigns=args.origins + CEILING_CAMPAIGNS
    )
    started = time.perf_counter()
    dataset = generate_dataset(config, work / dataset_id(config)).path
    con = connect(dataset)
    as_of = campaign_as_of(dataset)
    last = max(as_of)
    tests = list(range(last - args.origins + 1, last + 1))
    print(f"dataset {time.perf_counter() - started:.0f} s; test campaigns {tests}", flush=True)

    # Every training snapshot of the pipeline's (from MIN_HISTORY_DAYS on), up to the last test campaign's.
    training = compute_pair_training_frame(con, snapshot_dates(dataset, as_of[last].to_pydatetime(), WINDOW), WINDOW)
    training["campaign"] = training["as_of"].map({v: k for k, v in as_of.items()})
    contract = FeatureContract.for_pairs()
    campaigns = load_table(dataset, "campaigns")
    events = load_table(dataset, "offer_events")
    redeemed = events.loc[events["event_type"] == "redeemed", "assignment_id"]
    n_eligible, truth_rows = {}, {}
    per_policy: dict[str, list[np.ndarray]] = {}
    ope_rows, calibration, recall, fold_info = [], [], [], []
    for test in tests:
        validation = test - 1
        fit_on = list(range(max(1, validation - TRAIN_CAMPAIGNS), validation))
        rows = training[training["campaign"].isin(fit_on)]
        x, y = rows[list(PAIR_FEATURE_NAMES)].to_numpy(np.float32), rows["label"].to_numpy()
        history = training[training["campaign"] < validation]
        redeem_model = make_lightgbm(contract, args.seed).fit(
            history[list(PAIR_FEATURE_NAMES)].to_numpy(np.float32),
            history["label"].to_numpy(),
            **fit_params("lightgbm", contract),
        )

        held = training[training["campaign"] == validation]  # recalibrated on validation sends, never test
        held_x = held[list(PAIR_FEATURE_NAMES)].to_numpy(np.float32)

        def raw_p_redeem(matrix, model=redeem_model):
            return model.predict_proba(matrix)[:, 1]

        pair_logistic = PairLogisticModel().fit(x, y)
        recalibration = recalibrate_blend(raw_p_redeem, pair_logistic, held_x, held["label"].to_numpy())

        fit_snapshots = [as_of[k].to_pydatetime() for k in fit_on]
        anyway = fit_anyway_model(con, fit_snapshots, WINDOW, args.seed)
        opt_out = fit_opt_out_model(con, rows, as_of[validation].to_pydatetime(), args.seed)  # the fit_on sends
        anyway_shift = fit_redeemer_anyway_shift(con, rows, anyway, WINDOW, as_of[validation].to_pydatetime())
        fold_margin = MarginModel(anyway, opt_out, pair_logistic, recalibration, economics, anyway_shift)

        results = {}
        for k in (*fit_on, validation, test):
            if k not in n_eligible:
                targeted = campaigns.loc[campaigns["campaign_id"] == k, "customer_id"].to_numpy()
                pairs = eligible_pairs(con, targeted, as_of[k].to_pydatetime(), WINDOW)
                n_eligible[k] = (pairs, pairs.groupby("customer_id").size())
        # T-learner on realised margin, fitted on the logs of the training campaigns.
        learn = realised_margin_frame(con, dataset, fit_on, economics, {k: n_eligible[k][1] for k in fit_on})
        logs_all = pd.concat([logs for logs, _ in learn], ignore_index=True)
        matrix_all = np.vstack([m for _, m in learn])
        arm = logs_all["treated"].to_numpy()
        mu1 = LGBMRegressor(n_estimators=200, learning_rate=0.05, min_child_samples=50, verbose=-1, n_jobs=2)
        mu0 = LGBMRegressor(n_estimators=200, learning_rate=0.05, min_child_samples=50, verbose=-1, n_jobs=2)
        mu1.fit(matrix_all[arm], logs_all["reward"].to_numpy()[arm])
        mu0.fit(matrix_all[~arm], logs_all["reward"].to_numpy()[~arm])

        for k in (validation, test):
            pairs, counts = n_eligible[k]
            index = build_pair_index(con, as_of[k].to_pydatetime())
            matrix = index.lookup(pairs["customer_id"].to_numpy(), pairs["offer_id"].to_numpy())
            p, terms = fold_margin.margins(matrix, raw_p_redeem(matrix))
            scored = pairs.assign(
                p_redeem=p, expected_margin=terms.expected_margin, expected_cost=p * terms.redemption_cost
            )
            scored["t_learner"] = mu1.predict(matrix) - mu0.predict(matrix)
            results[k] = (scored, index, counts)

        scored, index, counts = results[test]
        truth = load_pair_truth(dataset, [test])[["customer_id", "offer_id", "p_redeem", "incremental_margin"]]
        frame = scored.merge(truth.rename(columns={"p_redeem": "true_p"}), on=["customer_id", "offer_id"])
        assert len(frame) == len(truth) == len(scored), "the eligible pairs are the truth's pairs"
        group = frame.groupby("customer_id")
        rng = np.random.default_rng(test)
        frame["_random"] = rng.random(len(frame))

        def value_of(column: str, send: pd.Series | None = None, frame=frame, group=group) -> pd.Series:
            chosen = frame.loc[group[column].idxmax()].set_index("customer_id")
            value = chosen["incremental_margin"]
            return value.where(send.reindex(value.index).fillna(False).astype(bool), 0.0) if send is not None else value

        decisions = decide_by_customer(frame)
        frame_rows = index.lookup(frame["customer_id"].to_numpy(), frame["offer_id"].to_numpy())

        def decide_with(p_redeem: np.ndarray, frame=frame, frame_rows=frame_rows, margin=fold_margin) -> pd.DataFrame:
            """The project's formula and decision with ``p_redeem`` in place of the model's."""
            terms = margin.margin_terms(frame_rows, p_redeem)
            scored_with = frame[["customer_id", "offer_id"]].assign(
                expected_margin=terms.expected_margin, expected_cost=p_redeem * terms.redemption_cost
            )
            return decide_by_customer(scored_with)

        # Ceilings, evaluation only. With the truth's p(redeem): what a perfect propensity model would earn with the
        # project's other terms. With E[p | features]: what the best p(redeem) model on these pair features could
        # earn; the difference between the two is what the features cannot tell. Deciding by E[margin | features]
        # (every term at once, no formula): the best any policy on these features could earn.
        ceiling_on = list(range(test - CEILING_CAMPAIGNS, test))
        for k in ceiling_on:
            if k not in truth_rows:
                pairs = n_eligible[k][0]
                truth_k = pairs.merge(load_pair_truth(dataset, [k]), on=["customer_id", "offer_id"], how="left")
                index_k = results[k][1] if k in results else build_pair_index(con, as_of[k].to_pydatetime())
                rows_k = index_k.lookup(pairs["customer_id"].to_numpy(), pairs["offer_id"].to_numpy())
                truth_rows[k] = (rows_k, truth_k[["p_redeem", "incremental_margin"]].to_numpy(np.float64))

        def feature_ceiling(column: int, objective: str, ceiling_on=ceiling_on) -> LGBMRegressor:
            return fit_feature_ceiling(
                [truth_rows[k][0] for k in ceiling_on], [truth_rows[k][1][:, column] for k in ceiling_on],
                list(contract.categorical_index), args.seed, objective,
            )  # fmt: skip

        p_ceiling = np.clip(feature_ceiling(0, "cross_entropy").predict(frame_rows), 1e-4, 1.0 - 1e-4)
        with_feature_p = decide_with(p_ceiling)
        by_feature_margin = decide_by_customer(
            frame[["customer_id", "offer_id"]].assign(
                expected_margin=feature_ceiling(1, "regression").predict(frame_rows), expected_cost=0.0
            )
        )
        with_true_p = decide_with(frame["true_p"].to_numpy())
        top_p = frame.loc[group["p_redeem"].idxmax()].set_index("customer_id")
        tl = frame.loc[group["t_learner"].idxmax()].set_index("customer_id")
        project_choice = decisions["offer_id"]
        truth_by_pair = frame.set_index(["customer_id", "offer_id"])["incremental_margin"]

        def value_of_decisions(chosen: pd.DataFrame, truth_by_pair=truth_by_pair) -> np.ndarray:
            offer = chosen["offer_id"].fillna(-1).astype(np.int64)
            return truth_by_pair.reindex(pd.MultiIndex.from_arrays([chosen.index, offer])).fillna(0.0).to_numpy()

        project_value = value_of_decisions(decisions)
        values = {
            "send nothing": np.zeros(len(decisions)),
            "random eligible offer": frame.groupby("customer_id")["incremental_margin"].mean().to_numpy(),
            "top p(redeem)": value_of("p_redeem").to_numpy(),
            "top p(redeem), p >= 0.05": value_of("p_redeem", top_p["p_redeem"] >= THRESHOLD).to_numpy(),
            "T-learner on margin (LightGBM)": value_of("t_learner", tl["t_learner"] > 0).to_numpy(),
            "expected margin (project)": project_value,
            "expected margin with the features' best p(redeem) (feature ceiling)": value_of_decisions(with_feature_p),
            "the features' best margin estimate (policy ceiling)": value_of_decisions(by_feature_margin),
            "expected margin with the true p(redeem) (ceiling)": value_of_decisions(with_true_p),
            "oracle best offer": group["incremental_margin"].max().to_numpy(),
            "oracle best offer or nothing": np.maximum(group["incremental_margin"].max().to_numpy(), 0.0),
        }
        for name, v in values.items():  # every array is by customer id
            per_policy.setdefault(name, []).append(np.asarray(v, dtype=np.float64))
        # Candidate recall of the truly best offer: every eligible offer scored, and a top-10 stage by category
        # history (the customer's share of the offer's category) for catalogues too large to score whole.
        best = frame.loc[group["incremental_margin"].idxmax(), ["customer_id", "offer_id"]]
        share = frame.assign(share=frame_rows[:, PAIR_FEATURE_NAMES.index("category_share_365d")])
        top_k = (
            share.sort_values(["customer_id", "share"], ascending=[True, False])
            .groupby("customer_id")
            .head(CANDIDATE_K)
        )
        in_top_k = best.merge(top_k[["customer_id", "offer_id"]], on=["customer_id", "offer_id"]).shape[0]
        recall.append(
            {"campaign": test, "all_eligible": 1.0, f"category_history_top{CANDIDATE_K}": in_top_k / len(best)}
        )

        # Calibration where decisions act: the chosen (sent) offers' predicted p vs the truth's p, val and test.
        for k, label in ((validation, "validation"), (test, "test")):
            sk = results[k][0]
            chosen = decide_campaign(sk)
            sent = chosen[chosen["send"]].merge(sk, on=["customer_id", "offer_id"], suffixes=("", "_s"))
            logged = campaigns[(campaigns["campaign_id"] == k) & campaigns["treated"]]
            hit = sent.merge(logged, on=["customer_id", "offer_id"])
            calibration.append(
                {
                    "campaign": k,
                    "split": label,
                    "chosen_offers": len(sent),
                    "mean_predicted_p": float(sent["p_redeem"].mean()),
                    "mean_true_p": float(
                        sent.merge(load_pair_truth(dataset, [k]), on=["customer_id", "offer_id"])["p_redeem_y"].mean()
                    ),
                    "logged_matches": len(hit),
                    "observed_redemption_on_logged_matches": float(hit["assignment_id"].isin(redeemed).mean()),
                    "predicted_on_logged_matches": float(hit["p_redeem"].mean()),
                }
            )

        # OPE from the test campaign's logs beside the truth, for each policy that picks offers.
        logs = logged_campaign(dataset, test, WINDOW, economics, counts)
        logged_rows = index.lookup(logs["customer_id"].to_numpy(), logs["offer_id"].to_numpy())
        baseline = mu0.predict(logged_rows)
        margin_by_pair = frame.set_index(["customer_id", "offer_id"])["expected_margin"]
        em_logged = margin_by_pair.reindex(pd.MultiIndex.from_frame(logs[["customer_id", "offer_id"]])).to_numpy()
        policies = {
            "top p(redeem)": top_p["offer_id"],
            "top p(redeem), p >= 0.05": top_p["offer_id"].where(top_p["p_redeem"] >= THRESHOLD),
            "T-learner on margin (LightGBM)": tl["offer_id"].where(tl["t_learner"] > 0),
            "expected margin (project)": project_choice,
        }
        for name, choice in policies.items():
            chosen = logs["customer_id"].map(choice)
            em_chosen = margin_by_pair.reindex(
                pd.MultiIndex.from_arrays([logs["customer_id"], chosen.fillna(-1).astype(np.int64)])
            ).fillna(0.0)
            estimates = policy_value_from_logs(logs, choice, baseline, em_logged, em_chosen.to_numpy(), seed=test)
            true_value = float(per_policy[name][-1].mean())
            ope_rows.append(
                {"campaign": test, "policy": name, "truth": true_value}
                | {f"{e}": est.value for e, est in estimates.items()}
                | {f"{e}_ci": [est.low, est.high] for e, est in estimates.items()}
            )
        fold_info.append(
            {
                "test": test,
                "validation": validation,
                "fit_on": fit_on,
                "mean_p_opt_out": float(opt_out.predict(frame_rows).mean()),
                "redeemer_anyway_shift": anyway_shift,
            }
        )
        print(f"campaign {test}: " + ", ".join(f"{n} {v[-1].mean():+.3f}" for n, v in per_policy.items()), flush=True)

    # Policy values over the test campaigns: pooled customers, 95% bootstrap CI; share of oracle paired.
    pooled = {name: np.concatenate(v) for name, v in per_policy.items()}
    oracle = pooled["oracle best offer or nothing"]
    summary = {}
    for name, v in pooled.items():
        low, high = bootstrap_ci(v)
        summary[name] = {
            "eur_per_targeted": float(v.mean()),
            "ci95": [low, high],
            "per_campaign": [float(x.mean()) for x in per_policy[name]],
        }
    project = pooled["expected margin (project)"]
    rng = np.random.default_rng(1)
    shares = []
    for _ in range(1000):
        i = rng.integers(0, len(project), len(project))
        shares.append(project[i].mean() / oracle[i].mean())
    share_of_oracle = {
        "value": float(project.mean() / oracle.mean()),
        "ci95": [float(np.percentile(shares, 2.5)), float(np.percentile(shares, 97.5))],
    }
    ceiling_share = float(pooled["expected margin with the true p(redeem) (ceiling)"].mean() / oracle.mean())
    share_of_oracle["with_true_p_redeem"] = ceiling_share
    feature_ceiling_share = float(
        pooled["expected margin with the features' best p(redeem) (feature ceiling)"].mean() / oracle.mean()
    )
    share_of_oracle["with_feature_information_p_redeem"] = feature_ceiling_share
    policy_ceiling_share = float(pooled["the features' best margin estimate (policy ceiling)"].mean() / oracle.mean())
    share_of_oracle["policy_ceiling_on_the_features"] = policy_ceiling_share
    ope = pd.DataFrame(ope_rows)
    ope_summary = {}
    for name, g in ope.groupby("policy"):
        ope_summary[name] = (
            {"truth": float(g["truth"].mean())}
            | {e: float(g[e].mean()) for e in ("ips", "snips", "dr")}
            | {
                f"{e}_abs_error_share_of_oracle": float(abs(g[e].mean() - g["truth"].mean()) / oracle.mean())
                for e in ("ips", "snips", "dr")
            }
        )

    # Online: one customer's decision as DecisionChain makes it: the feature rows of its eligible pairs, the
    # p(redeem) model (the LightGBM pair baseline stands in for the served model, on one thread as one request is
    # scored, like InProcessScorer), the margin model's margins and choose_offer.
    scored, index, counts = results[tests[-1]]
    pairs = n_eligible[tests[-1]][0]
    margin_model = fold_margin  # the last fold's
    by_customer = {c: g["offer_id"].to_numpy() for c, g in pairs.groupby("customer_id")}
    ids = list(by_customer)[:300]
    timings = []
    for c in ids:
        offers = by_customer[c]
        t0 = time.perf_counter()
        rows = index.lookup(np.full(len(offers), c), offers)
        _, terms = margin_model.margins(rows, redeem_model.predict_proba(rows, num_threads=1)[:, 1])
        choose_offer(offers, terms.expected_margin)
        timings.append((time.perf_counter() - t0) * 1000)
    online = {"p50_ms": float(np.percentile(timings[20:], 50)), "p99_ms": float(np.percentile(timings[20:], 99))}

    # Batch: 50k customers' eligible pairs (customers of the last campaign drawn with replacement, new ids), through
    # the campaign pipeline's functions: a shard's score_pairs, then the merge's decide_scored.
    rng = np.random.default_rng(2)
    draw = rng.choice(np.array(list(by_customer)), 50_000)
    sizes = np.array([len(by_customer[c]) for c in draw])
    original = np.repeat(draw, sizes)
    batch = pd.DataFrame(
        {
            "customer_id": np.repeat(np.arange(len(draw)), sizes),
            "offer_id": np.concatenate([by_customer[c] for c in draw]),
        }
    )
    audience = pd.DataFrame({"customer_id": np.arange(len(draw))})
    t0 = time.perf_counter()
    rows = index.lookup(original, batch["offer_id"].to_numpy())
    decided = decide_scored([score_pairs(batch, rows, redeem_model.predict_proba(rows)[:, 1], margin_model)], audience)
    batch_s = time.perf_counter() - t0
    load = os.getloadavg()
    results_json = {
        "config": {"customers": args.customers, "seed": args.seed, "origins": args.origins, "tests": tests},
        "folds": fold_info,
        "policies": summary,
        "share_of_oracle": share_of_oracle,
        "ope": ope_summary,
        "ope_per_campaign": ope_rows,
        "calibration_on_chosen_offers": calibration,
        "candidate_recall_of_best_offer": recall,
        "online_decision": online,
        "batch_50k": {
            "seconds": batch_s,
            "pairs": len(batch),
            "customers": int(decided["customer_id"].nunique()),
            "sent_share": float(decided["send"].mean()),
        },
        "load_average": load,
        "targets": TARGETS,
        "wall_s": time.perf_counter() - started,
    }
    rows_md = [
        {
            "policy": name,
            "EUR / targeted customer": f"{s['eur_per_targeted']:+.3f}",
            "95% CI": f"[{s['ci95'][0]:+.3f}, {s['ci95'][1]:+.3f}]",
            "per campaign": " / ".join(f"{x:+.3f}" for x in s["per_campaign"]),
            "OPE DR (IPS, SNIPS)": (
                f"{ope_summary[name]['dr']:+.3f} ({ope_summary[name]['ips']:+.3f}, {ope_summary[name]['snips']:+.3f})"
            )
            if name in ope_summary
            else "",
        }
        for name, s in summary.items()
    ]
    recall_k = float(np.mean([r[f"category_history_top{CANDIDATE_K}"] for r in recall]))
    notes = (
        f"Test campaigns {tests} (rolling origin; p(redeem) fitted on every snapshot before each validation "
        f"campaign, the other parts on the {TRAIN_CAMPAIGNS} campaigns before it), {args.customers:,} customers. "
        f"share_of_oracle {share_of_oracle['value']:.2f} "
        f"[{share_of_oracle['ci95'][0]:.2f}, {share_of_oracle['ci95'][1]:.2f}] (target >= 0.8); the same formula "
        f"with the truth's p(redeem) {ceiling_share:.2f} (what a perfect propensity model would reach with the "
        f"other terms as estimated), with E[p(redeem) given the pair features] {feature_ceiling_share:.2f} (the "
        f"best any model on these features could reach; learnt from the pair truth of the {CEILING_CAMPAIGNS} "
        f"campaigns before each test one); deciding by E[incremental margin given the pair features], learnt the "
        f"same way, {policy_ceiling_share:.2f} (the best any policy on these features could reach). Project OPE abs "
        f"error / oracle: DR {ope_summary['expected margin (project)']['dr_abs_error_share_of_oracle']:.2f}, IPS "
        f"{ope_summary['expected margin (project)']['ips_abs_error_share_of_oracle']:.2f}, SNIPS "
        f"{ope_summary['expected margin (project)']['snips_abs_error_share_of_oracle']:.2f} (target <= 0.10). "
        f"Candidate recall of the best offer: all eligible scored 1.00; category-history top-{CANDIDATE_K} "
        f"{recall_k:.2f} (target >= 0.95). Online decision p50 {online['p50_ms']:.2f} ms, p99 "
        f"{online['p99_ms']:.2f} ms (target p50 <= 10). Batch decisions for 50k customers ({len(batch):,} pairs, "
        f"pair index prebuilt) {batch_s:.1f} s (target <= 60). Machine shared with other sessions: load average "
        f"{load[0]:.1f}."
    )
    record("policy", "Decide by money: policy value against the truth, OPE, speed", results_json, rows_md, notes)
    print(notes)


if __name__ == "__main__":
    main()
