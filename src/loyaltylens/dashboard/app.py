"""LoyaltyLens dashboard: ``loyaltylens dashboard`` (``streamlit run`` of this file, on loopback).

Widgets are keyed (tests set them by key with Streamlit's ``AppTest``); every value shown comes from a
function of ``loyaltylens.dashboard.data`` or ``loyaltylens.monitoring``, read from the services the
settings name. A section whose source has nothing yet says how to fill it; one whose service fails shows
the error, never an empty chart.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from loyaltylens.config import get_settings
from loyaltylens.dashboard import data
from loyaltylens.data.generator import default_dataset_dir
from loyaltylens.data.io import read_manifest
from loyaltylens.errors import LoyaltyLensError
from loyaltylens.features.store import FeatureStore
from loyaltylens.monitoring.drift import DriftThresholds, drift_history

settings = get_settings()
st.set_page_config(page_title="LoyaltyLens", layout="wide")
st.title("LoyaltyLens")
st.caption(f"data dir `{settings.data_dir}` · MLflow `{settings.tracking_uri}`")


def section_error(exc: Exception) -> None:
    st.error(f"{type(exc).__name__}: {exc}")


@st.cache_data(ttl=30, show_spinner=False)
def cached_runs(tracking_uri: str) -> pd.DataFrame:
    return data.mlflow_runs(tracking_uri)


@st.cache_data(show_spinner="computing drift ...")
def cached_drift_history(_store: FeatureStore, catalog: str, versions: tuple[str, ...], reference: str) -> pd.DataFrame:
    """Versions never change once published, so (catalog, versions, reference) identifies the answer."""
    return drift_history(_store, reference, DriftThresholds.from_settings(settings))


@st.cache_data(show_spinner="measuring campaign effects ...")
def cached_effects(dataset_dir: str, content_hash: str) -> pd.DataFrame:
    return data.campaign_effects_with_truth(Path(dataset_dir))


# --- registry ---------------------------------------------------------------------------------------------
st.header("Registry: aliases and metrics")
try:
    aliases = data.registry_aliases(settings.tracking_uri)
    runs = cached_runs(settings.tracking_uri)
except LoyaltyLensError as exc:
    section_error(exc)
    aliases, runs = pd.DataFrame(), pd.DataFrame()
if aliases.empty:
    st.info("No registered model or prompt has an alias yet: `loyaltylens pipeline run training` registers one.")
else:
    st.dataframe(aliases, hide_index=True)
    metric_columns = [c for c in aliases.columns if c not in ("kind", "name", "alias", "version")]
    if metric_columns:
        metric = st.selectbox("Registry metric", metric_columns, key="registry_metric")
        chart = aliases.dropna(subset=[metric]).assign(label=lambda f: f["name"] + "@" + f["alias"])
        st.bar_chart(chart, x="label", y=metric, horizontal=True, height=60 + 40 * len(chart))

# --- policy value -----------------------------------------------------------------------------------------
st.header("Policy value per campaign")
values = data.policy_values(runs)
if values.empty:
    st.info("No run has logged a `policy_value` metric yet (the decide-by-margin evaluation logs them to MLflow).")
else:
    per_campaign = values.dropna(subset=["campaign"])
    if per_campaign.empty:
        st.bar_chart(values, x="metric", y="value", height=240)
    else:
        per_run = alt.Chart(per_campaign.astype({"campaign": int})).mark_line(point=True)
        st.altair_chart(
            per_run.encode(
                x=alt.X("campaign:O", title="campaign"),
                y=alt.Y("value:Q", title="policy value (EUR per customer)"),
                color=alt.Color("run_name:N", title="run"),
                tooltip=["run_name", "metric", "value"],
            ),
            use_container_width=True,
        )
    st.dataframe(values, hide_index=True)

# --- eval runs and gate decisions -------------------------------------------------------------------------
st.header("Eval runs and gate decisions")
evals = data.eval_runs(runs)
if evals.empty:
    st.info("No eval run yet: `loyaltylens eval run` logs one per candidate to MLflow.")
else:
    eval_metrics = [c for c in evals.columns if c.startswith("metrics.")]
    if eval_metrics:
        chosen = st.selectbox("Eval metric", eval_metrics, key="eval_metric")
        st.line_chart(evals.dropna(subset=[chosen]), x="start_time", y=chosen, height=240)
    st.dataframe(evals[["start_time", "experiment", "run_name", *eval_metrics]], hide_index=True)
decisions = data.gate_decisions(runs)
if decisions.empty:
    st.info("No gate decision recorded yet (the eval-gate and training pipelines tag their runs).")
else:
    left, right = st.columns(2)
    left.metric("gate decisions", len(decisions))
    right.metric("passed", int(decisions["passed"].sum()))
    st.dataframe(decisions, hide_index=True)

# --- drift ------------------------------------------------------------------------------------------------
st.header("Feature drift over versions (PSI against a reference version)")
try:
    store = FeatureStore.from_settings(settings)
    versions = [info.version for info in store.list_versions()]
except LoyaltyLensError as exc:
    section_error(exc)
    versions = []
if len(versions) < 2:
    st.info("Drift needs two feature versions: `loyaltylens features build --as-of ...` publishes them.")
else:
    reference = st.selectbox("Reference version (the training version)", versions[:-1], key="drift_reference")
    thresholds = DriftThresholds.from_settings(settings)
    history = cached_drift_history(store, store.catalog, tuple(versions), reference)
    features = st.multiselect(
        "Features", sorted(history["feature"].unique()), default=None, key="drift_features", placeholder="all"
    )
    shown = history[history["feature"].isin(features)] if features else history
    line = (
        alt.Chart(shown)
        .mark_line(point=True)
        .encode(
            x=alt.X("as_of:T", title="as-of"), y=alt.Y("psi:Q", title="PSI"), color="feature:N", tooltip=list(shown)
        )
    )
    rules = alt.Chart(pd.DataFrame({"psi": [thresholds.minor, thresholds.major]})).mark_rule(strokeDash=[4, 4])
    st.altair_chart(line + rules.encode(y="psi:Q"), use_container_width=True)
    latest = history[history["version"] == history["version"].iloc[-1]]
    st.metric("major features in the newest version", int((latest["level"] == "major").sum()))

# --- campaign effects -------------------------------------------------------------------------------------
st.header("Campaign effects (treated vs hold-out, CUPED, 95 % CI; red: the simulator's truth)")
dataset_dir = Path(st.text_input("Dataset", str(default_dataset_dir(settings)), key="dataset_dir"))
outcome = st.radio("Outcome", ["spend", "margin"], horizontal=True, key="effect_outcome")
if not (dataset_dir / "manifest.json").is_file():
    st.info(f"No dataset at `{dataset_dir}`: `loyaltylens data generate` writes one.")
else:
    try:
        effects = cached_effects(str(dataset_dir), read_manifest(dataset_dir)["content_hash"])
    except LoyaltyLensError as exc:
        section_error(exc)
        effects = pd.DataFrame()
    if not effects.empty:
        shown = effects[effects["outcome"] == outcome]
        base = alt.Chart(shown).encode(x=alt.X("campaign_id:O", title="campaign"))
        layers = base.mark_rule().encode(y=alt.Y("low:Q", title=f"effect on {outcome} (EUR)"), y2="high:Q")
        layers += base.mark_point(filled=True, size=60).encode(y="estimate:Q")
        if "truth" in shown:
            layers += base.mark_point(shape="diamond", color="red", size=80, filled=True).encode(y="truth:Q")
            st.metric("intervals covering the simulator's truth", f"{shown['covered'].mean():.0%}")
        st.altair_chart(layers, use_container_width=True)

# --- latency ----------------------------------------------------------------------------------------------
st.header("Per-stage latency (model server's Prometheus metrics)")
metrics_url = st.text_input("Metrics URL", settings.dashboard_metrics_url or "", key="metrics_url")
if not metrics_url:
    st.info("Give a KServe server's metrics URL, e.g. http://127.0.0.1:8080/metrics (`loyaltylens serve ...`).")
else:
    try:
        latency = data.stage_latency(data.fetch_metrics(metrics_url))
    except LoyaltyLensError as exc:
        section_error(exc)
        latency = pd.DataFrame()
    if latency.empty:
        st.info("The server has served no request yet (no request_<stage>_seconds samples).")
    else:
        st.bar_chart(latency, x="stage", y="mean_ms", color="model", stack=False, height=240)
        st.dataframe(latency, hide_index=True)
