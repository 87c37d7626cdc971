"""Prompt registry and its CLI: activate, diff, roll back, refuse prompts the pipeline cannot fill, audit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loyaltylens.cli import app
from loyaltylens.config import get_settings
from loyaltylens.errors import InvalidInputError, NotFoundError
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


def cli(sources: Path, state: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed entry point in a subprocess: its error boundary (one line, exit 2) is part of the test."""
    env = {"LOYALTYLENS_PROMPTS_DIR": str(sources), "LOYALTYLENS_PROMPT_REGISTRY_DIR": str(state)}
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
    monkeypatch.setenv("LOYALTYLENS_PROMPT_REGISTRY_DIR", str(tmp_path / "state"))
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
    registry = PromptRegistry(sources, state)
    assert registry.active("offer_copy").version == "1.0.0"
    log = [json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()]
    assert [(e["action"], e["version"], e["who"], e["why"]) for e in log] == [
        ("activate", "1.0.0", "ana", "baseline"),
        ("activate", "1.1.0", "ben", "shorter system prompt"),
        ("rollback", "1.0.0", "ana", "CTR dropped"),
    ]
    assert all(e["when"] for e in log)


def test_mismatched_prompt_is_refused_and_nothing_changes(sources, tmp_path):
    state = tmp_path / "state"
    PromptRegistry(sources, state).activate("offer_copy", "1.0.0", why="baseline", who="t")
    before = (state / "state.json").read_text()
    refused = cli(sources, state, "activate", "offer_copy", "2.0.0", "--why", "personalise")
    assert refused.returncode == 2
    assert "customer_name" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert (state / "state.json").read_text() == before
    assert len((state / "audit.jsonl").read_text().splitlines()) == 1


def test_template_field_must_be_declared(sources, tmp_path):
    spec = yaml.safe_load((PROMPTS / "offer_copy.yaml").read_text())
    write_version(sources, "1.2.0", user=spec["user"] + "Loyalty tier: {tier}.\n")
    with pytest.raises(InvalidInputError, match=r"undeclared variables \['tier'\]"):
        PromptRegistry(sources, tmp_path / "state").activate("offer_copy", "1.2.0", why="tiers")


def test_rollback_restores_a_version_whose_source_file_is_gone(sources, tmp_path):
    registry = PromptRegistry(sources, tmp_path / "state")
    registry.activate("offer_copy", "1.0.0", why="baseline", who="t")
    registry.activate("offer_copy", "1.1.0", why="new copy", who="t")
    (sources / "offer_copy-1.0.0.yaml").unlink()
    assert registry.rollback("offer_copy", why="revert", who="t").version == "1.0.0"
    assert registry.get("offer_copy").source == "registry"


def test_edited_activated_version_must_be_bumped(sources, tmp_path):
    registry = PromptRegistry(sources, tmp_path / "state")
    registry.activate("offer_copy", "1.0.0", why="baseline", who="t")
    registry.activate("offer_copy", "1.1.0", why="next", who="t")
    write_version(sources, "1.0.0", description="edited in place")
    with pytest.raises(InvalidInputError, match="bump its version"):
        registry.activate("offer_copy", "1.0.0", why="back", who="t")


def test_errors_are_one_line_and_exit_2(sources, tmp_path):
    state = tmp_path / "state"
    nothing = cli(sources, state, "rollback", "offer_copy", "--why", "oops")
    assert nothing.returncode == 2 and "no previous version" in nothing.stderr
    registry = PromptRegistry(sources, state)
    with pytest.raises(NotFoundError, match="no version 9.9.9"):
        registry.get("offer_copy", "9.9.9")
    with pytest.raises(InvalidInputError, match="say why"):
        registry.activate("offer_copy", "1.0.0", why=" ")
    with pytest.raises(NotFoundError):
        registry.versions("nope")


def test_repository_prompt_fits_the_pipeline():
    PromptRegistry(PROMPTS, Path("/nonexistent")).active("offer_copy").check_pipeline_fit()
