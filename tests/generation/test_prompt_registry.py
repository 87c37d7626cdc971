"""Prompt registry (MLflow Prompt Registry on a real SQLite store) and its CLI: activate, diff, roll back,
refuse prompts the pipeline cannot fill, audit in MLflow, activations seen across data dirs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loyaltylens.cli import app
from loyaltylens.config import get_settings
from loyaltylens.errors import InvalidInputError, NotFoundError, ServiceUnavailableError
from loyaltylens.generation.registry import PromptRegistry
from tests.generation.conftest import PROMPTS


def write_version(sources: Path, version: str, **changes) -> None:
    spec = yaml.safe_load((PROMPTS / "offer_copy.yaml").read_text())
    spec.update(version=version, **changes)
    (sources / f"offer_copy-{version}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


@pytest.fixture
def sources(tmp_path) -> Path:
    """Two good versions and one whose variables the pipeline does not supply."""
    sources = tmp_path / "prompts"
    sources.mkdir()
    write_version(sources, "1.0.0")
    write_version(sources, "1.1.0", system="You write short, upbeat loyalty copy. Answer with JSON only.")
    spec = yaml.safe_load((PROMPTS / "offer_copy.yaml").read_text())
    write_version(
        sources,
        "2.0.0",
        variables=[*spec["variables"], "customer_name"],
        user=spec["user"] + "Address the customer as {customer_name}.\n",
    )
    return sources


def tracking(state: Path) -> str:
    return f"sqlite:///{state / 'mlflow.db'}"


def cli(sources: Path, state: Path, *args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess:
    """The installed entry point in a subprocess: its error boundary (one line, exit 2) is part of the test."""
    env = {
        "LOYALTYLENS_PROMPTS_DIR": str(sources),
        "LOYALTYLENS_MLFLOW_TRACKING_URI": tracking(state),
        "LOYALTYLENS_DATA_DIR": str(data_dir or state / "data"),
    }
    return subprocess.run(
        [sys.executable, "-c", "from loyaltylens.cli import main; main()", "prompt", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


@pytest.fixture
def run(sources, tmp_path, monkeypatch):
    """The ``prompt`` commands in-process (the round trip; error lines are checked through ``cli``)."""
    monkeypatch.setenv("LOYALTYLENS_PROMPTS_DIR", str(sources))
    monkeypatch.setenv("LOYALTYLENS_MLFLOW_TRACKING_URI", tracking(tmp_path / "state"))
    monkeypatch.setenv("LOYALTYLENS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(app, ["prompt", *args])
        assert result.exit_code == 0, result.output
        return result.output

    yield invoke
    get_settings.cache_clear()


def test_cli_round_trip_activate_diff_rollback(run, sources, tmp_path):
    state = tmp_path / "state"
    listed = run("list")
    assert "1.0.0" in listed and "2.0.0" in listed

    diff = run("diff", "offer_copy", "1.1.0", "--from", "1.0.0")
    assert "--- offer_copy@1.0.0" in diff and "+++ offer_copy@1.1.0" in diff
    assert "-version: 1.0.0" in diff and "+version: 1.1.0" in diff

    run("activate", "offer_copy", "1.0.0", "--why", "baseline", "--who", "ana")
    run("activate", "offer_copy", "1.1.0", "--why", "shorter system prompt", "--who", "ben")
    shown = run("show", "offer_copy")
    assert "offer_copy@1.1.0 (active)" in shown and "upbeat loyalty copy" in shown

    assert "active: offer_copy@1.0.0" in run("rollback", "offer_copy", "--why", "CTR dropped", "--who", "ana")
    registry = PromptRegistry(sources, tracking(state))
    assert registry.active("offer_copy").version == "1.0.0"
    log = registry.audit_log("offer_copy")
    assert [(e.action, e.version, e.previous, e.who, e.why) for e in log] == [
        ("activate", "1.0.0", None, "ana", "baseline"),
        ("activate", "1.1.0", "1.0.0", "ben", "shorter system prompt"),
        ("rollback", "1.0.0", "1.1.0", "ana", "CTR dropped"),
    ]
    assert all(e.when for e in log)
    # Any MLflow client reads the deployment through the alias, variables as {{var}}.
    production = registry.client.load_prompt("prompts:/offer_copy@production")
    assert production.tags["loyaltylens.semver"] == "1.0.0"
    assert production.variables == {"segment", "channel", "offer_title", "offer_text", "category",
                                    "discount_pct", "min_spend"}


def test_mismatched_prompt_is_refused_and_nothing_changes(sources, tmp_path):
    state = tmp_path / "state"
    registry = PromptRegistry(sources, tracking(state))
    registry.activate("offer_copy", "1.0.0", why="baseline", who="t")
    refused = cli(sources, state, "activate", "offer_copy", "2.0.0", "--why", "personalise")
    assert refused.returncode == 2
    assert "customer_name" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert registry.active("offer_copy").version == "1.0.0"
    assert len(registry.audit_log("offer_copy")) == 1


def test_activation_in_one_process_is_seen_by_another_with_a_different_data_dir(sources, tmp_path):
    """Cluster-true: the alias lives in the tracking store, not under either process's data dir."""
    state = tmp_path / "state"
    moved = cli(sources, state, "activate", "offer_copy", "1.1.0", "--why", "gate passed", data_dir=tmp_path / "pod-a")
    assert moved.returncode == 0, moved.stderr
    shown = cli(sources, state, "show", "offer_copy", data_dir=tmp_path / "pod-b")
    assert shown.returncode == 0, shown.stderr
    assert "offer_copy@1.1.0 (active)" in shown.stdout
    assert not (tmp_path / "pod-a" / "prompt_registry").exists()


def test_candidate_alias_is_audited_and_leaves_production(sources, tmp_path):
    registry = PromptRegistry(sources, tracking(tmp_path / "state"))
    registry.activate("offer_copy", "1.1.0", why="try it", who="t", alias="candidate")
    assert registry.get("offer_copy", "candidate").spec.version == "1.1.0"
    assert registry.active("offer_copy").version == "1.0.0"  # no production alias yet: the baseline
    assert [(e.alias, e.version) for e in registry.audit_log("offer_copy")] == [("candidate", "1.1.0")]


def test_template_field_must_be_declared(sources, tmp_path):
    spec = yaml.safe_load((PROMPTS / "offer_copy.yaml").read_text())
    write_version(sources, "1.2.0", user=spec["user"] + "Loyalty tier: {tier}.\n")
    with pytest.raises(InvalidInputError, match=r"undeclared variables \['tier'\]"):
        PromptRegistry(sources, tracking(tmp_path / "state")).activate("offer_copy", "1.2.0", why="tiers")


def test_rollback_restores_a_version_whose_source_file_is_gone(sources, tmp_path):
    registry = PromptRegistry(sources, tracking(tmp_path / "state"))
    registry.activate("offer_copy", "1.0.0", why="baseline", who="t")
    registry.activate("offer_copy", "1.1.0", why="new copy", who="t")
    (sources / "offer_copy-1.0.0.yaml").unlink()
    assert registry.rollback("offer_copy", why="revert", who="t").version == "1.0.0"
    assert registry.get("offer_copy").source == "mlflow"


def test_edited_registered_version_must_be_bumped(sources, tmp_path):
    registry = PromptRegistry(sources, tracking(tmp_path / "state"))
    registry.activate("offer_copy", "1.0.0", why="baseline", who="t")
    write_version(sources, "1.0.0", description="edited in place")
    with pytest.raises(InvalidInputError, match="bump its version"):
        registry.activate("offer_copy", "1.1.0", why="next", who="t")


def test_errors_are_one_line_and_exit_2(sources, tmp_path):
    state = tmp_path / "state"
    nothing = cli(sources, state, "rollback", "offer_copy", "--why", "oops")
    assert nothing.returncode == 2 and "no previous version" in nothing.stderr
    registry = PromptRegistry(sources, tracking(state))
    with pytest.raises(NotFoundError, match="no version 9.9.9"):
        registry.get("offer_copy", "9.9.9")
    with pytest.raises(InvalidInputError, match="say why"):
        registry.activate("offer_copy", "1.0.0", why=" ")
    with pytest.raises(NotFoundError):
        registry.versions("nope")


def test_unreachable_tracking_server_is_an_error(sources, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with pytest.raises(ServiceUnavailableError, match="unavailable"):
        PromptRegistry(sources, "http://127.0.0.1:9").active("offer_copy")


def test_repository_prompts_fit_the_pipeline(tmp_path):
    registry = PromptRegistry(PROMPTS, tracking(tmp_path))
    assert [v.spec.version for v in registry.versions("offer_copy")][0] == "1.0.0"
    for version in registry.versions("offer_copy"):
        version.spec.check_pipeline_fit()
