"""What the dashboard shows, as plain functions returning frames (the Streamlit script only lays them out).

Everything is read from the services the platform already has: the MLflow tracking server (registry
aliases, version metrics, runs and their tags), the feature store (drift over versions), a dataset (campaign
effects) and a model server's Prometheus ``/metrics`` (per-stage latency). Runs are found generically by
tags and metric names, so a new pipeline that logs to MLflow shows up without a dashboard change:

- eval runs: a ``loyaltylens.run_kind`` tag mentioning ``eval``, or any metric named ``eval...``;
- gate decisions: any tag whose key names a gate (``loyaltylens.gate``, ``loyaltylens.gate_decision`` ...);
- policy value: any metric whose key contains ``policy_value`` (a trailing campaign number is parsed).
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd

from loyaltylens.errors import LoyaltyLensError, ServiceUnavailableError

RUN_KIND_TAG = "loyaltylens.run_kind"
PROMPT_ALIASES = ("production", "candidate")  # the prompt registry's aliases (MLflow lists no prompt aliases)
_GATE_TAG = re.compile(r"(^|\.)gate")
_POLICY_VALUE = re.compile(r"policy_value")
_CAMPAIGN = re.compile(r"campaign[_.-]?(\d+)")
_STAGE_HISTOGRAM = re.compile(r"^request_(\w+?)_seconds$")
METRICS_TIMEOUT_S = 3.0


def _client(tracking_uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri)


def _unavailable(what: str, tracking_uri: str, exc: Exception) -> ServiceUnavailableError:
    return ServiceUnavailableError(f"{what} at {tracking_uri} could not be read: {exc}")


def registry_aliases(tracking_uri: str) -> pd.DataFrame:
    """Every alias of every registered model and prompt: ``kind``, ``name``, ``alias``, ``version`` and the
    version's ``metric.*`` tags as columns (models only).

    Raises:
        ServiceUnavailableError: the tracking server cannot be read.
    """
    client = _client(tracking_uri)
    rows = []
    try:
        for model in client.search_registered_models():
            for alias, version in sorted(model.aliases.items()):
                tags = client.get_model_version(model.name, str(version)).tags
                metrics = {k.removeprefix("metric."): _as_float(v) for k, v in tags.items() if k.startswith("metric.")}
                rows.append({"kind": "model", "name": model.name, "alias": alias, "version": int(version), **metrics})
        for prompt in client.search_prompts():
            for alias in PROMPT_ALIASES:
                try:
                    version = client.get_prompt_version_by_alias(prompt.name, alias).version
                except Exception:  # noqa: BLE001 - MLflow raises a bare MlflowException for a missing alias
                    continue
                rows.append({"kind": "prompt", "name": prompt.name, "alias": alias, "version": int(version)})
    except Exception as exc:
        raise _unavailable("the MLflow registry", tracking_uri, exc) from exc
    return pd.DataFrame(rows, columns=["kind", "name", "alias", "version", *_extra_columns(rows)])


def _extra_columns(rows: list[dict]) -> list[str]:
    known = {"kind", "name", "alias", "version"}
    return sorted({key for row in rows for key in row} - known)


def _as_float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def mlflow_runs(tracking_uri: str, max_results: int = 1000) -> pd.DataFrame:
    """The newest runs of every experiment, one row each: ``run_id``, ``experiment``, ``run_name``, ``start_time``,
    ``status``, then ``metrics.*``, ``params.*`` and ``tags.*`` columns as MLflow names them.

    Raises:
        ServiceUnavailableError: the tracking server cannot be read.
    """
    try:
        client = _client(tracking_uri)
        experiments = {e.experiment_id: e.name for e in client.search_experiments()}
        found = (
            client.search_runs(list(experiments), max_results=max_results, order_by=["attributes.start_time DESC"])
            if experiments
            else []
        )
    except Exception as exc:
        raise _unavailable("MLflow runs", tracking_uri, exc) from exc
    # The client, not mlflow.search_runs: that one reads the process-wide tracking URI, which a library must not set.
    runs = pd.DataFrame(
        [
            {
                "run_id": run.info.run_id,
                "experiment_id": run.info.experiment_id,
                "start_time": pd.to_datetime(run.info.start_time, unit="ms", utc=True),
                "status": run.info.status,
                **{f"metrics.{key}": value for key, value in run.data.metrics.items()},
                **{f"params.{key}": value for key, value in run.data.params.items()},
                **{f"tags.{key}": value for key, value in run.data.tags.items()},
            }
            for run in found
        ]
    )
    if runs.empty:
        return pd.DataFrame(columns=["run_id", "experiment", "run_name", "start_time", "status"])
    runs.insert(1, "experiment", runs["experiment_id"].map(experiments))
    runs.insert(2, "run_name", runs.get("tags.mlflow.runName"))
    return runs


def eval_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs of the eval harness (see the module docstring), newest first, with their ``metrics.*`` columns."""
    if runs.empty:
        return runs
    kind = runs.get(f"tags.{RUN_KIND_TAG}", pd.Series("", index=runs.index)).fillna("").astype(str)
    eval_metrics = [c for c in runs.columns if c.startswith("metrics.eval")]
    has_eval_metric = runs[eval_metrics].notna().any(axis=1) if eval_metrics else False
    chosen = runs[kind.str.contains("eval", case=False) | has_eval_metric]
    return chosen.dropna(axis=1, how="all")


def gate_decisions(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, gate tag): ``start_time``, ``experiment``, ``run_name``, ``gate`` (the tag) and
    ``decision`` (its value), newest first; ``passed`` is False when the decision reads as a rejection."""
    columns = ["start_time", "experiment", "run_name", "run_id", "gate", "decision", "passed"]
    gate_columns = [c for c in runs.columns if c.startswith("tags.") and _GATE_TAG.search(c.removeprefix("tags."))]
    if runs.empty or not gate_columns:
        return pd.DataFrame(columns=columns)
    long = runs.melt(
        id_vars=["start_time", "experiment", "run_name", "run_id"],
        value_vars=gate_columns,
        var_name="gate",
        value_name="decision",
    ).dropna(subset=["decision"])
    long["gate"] = long["gate"].str.removeprefix("tags.")
    decision = long["decision"].astype(str).str.lower()
    long["passed"] = ~decision.str.contains(r"reject|fail|block|kept|keep", regex=True)
    return long.sort_values("start_time", ascending=False)[columns].reset_index(drop=True)


def policy_values(runs: pd.DataFrame) -> pd.DataFrame:
    """Every logged policy value: ``run_name``, ``start_time``, ``metric``, ``campaign`` (parsed from the metric
    name, else None) and ``value``."""
    columns = ["start_time", "run_name", "run_id", "metric", "campaign", "value"]
    metric_columns = [c for c in runs.columns if c.startswith("metrics.") and _POLICY_VALUE.search(c)]
    if runs.empty or not metric_columns:
        return pd.DataFrame(columns=columns)
    long = runs.melt(
        id_vars=["start_time", "run_name", "run_id"], value_vars=metric_columns, var_name="metric", value_name="value"
    ).dropna(subset=["value"])
    long["metric"] = long["metric"].str.removeprefix("metrics.")
    campaign = long["metric"].str.extract(_CAMPAIGN, expand=False)
    long["campaign"] = pd.to_numeric(campaign, errors="coerce").astype("Int64")
    return long[columns].reset_index(drop=True)


def stage_latency(metrics_text: str) -> pd.DataFrame:
    """Per model and stage (``preprocess``, ``predict``, ``postprocess``, ...) from KServe's Prometheus histograms
    ``request_<stage>_seconds``: ``requests`` and ``mean_ms``."""
    from prometheus_client.parser import text_string_to_metric_families

    totals: dict[tuple[str, str], dict[str, float]] = {}
    for family in text_string_to_metric_families(metrics_text):
        match = _STAGE_HISTOGRAM.match(family.name)
        if family.type != "histogram" or not match:
            continue
        for sample in family.samples:
            kind = sample.name.removeprefix(family.name)
            if kind in ("_sum", "_count"):
                key = (sample.labels.get("model_name", ""), match.group(1))
                totals.setdefault(key, {})[kind] = totals.get(key, {}).get(kind, 0.0) + sample.value
    rows = [
        {"model": model, "stage": stage, "requests": int(t.get("_count", 0)), "mean_ms": 1000 * t["_sum"] / t["_count"]}
        for (model, stage), t in sorted(totals.items())
        if t.get("_count")
    ]
    return pd.DataFrame(rows, columns=["model", "stage", "requests", "mean_ms"])


def fetch_metrics(url: str, timeout_s: float = METRICS_TIMEOUT_S) -> str:
    """The Prometheus text a server exposes at ``url``.

    Raises:
        ServiceUnavailableError: the server does not answer (an unreachable server is an error, not "no latency").
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - a URL the operator typed
            return response.read().decode()
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        raise ServiceUnavailableError(f"metrics at {url} could not be read: {exc}") from exc


def campaign_effects_with_truth(dataset_dir: Path) -> pd.DataFrame:
    """Campaign effects of a dataset and, when its truth sidecar is there (a simulated dataset), the true effect."""
    from loyaltylens.monitoring.experiments import analyse_campaigns, coverage_against_truth

    effects = analyse_campaigns(dataset_dir)
    try:
        return coverage_against_truth(effects, dataset_dir)
    except (LoyaltyLensError, FileNotFoundError):
        return effects
