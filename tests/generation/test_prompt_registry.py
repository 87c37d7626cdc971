"""Prompt registry and its CLI: activate, diff, roll back, refuse prompts the pipeline cannot fill, audit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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
    env = {"LOYALTYLENS_PROMPTS_DIR": str(sources), "LOYALTYLENS_PROMPT_REGISTRY_DIR": str(state), "PATH": ""}
    return subprocess.run(
        [sys.executable, "-c", "from loyaltylens.cli import main; main()", "prompt", *args],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, **env},
        timeout=60,
    )


def test_cli_round_trip_activate_diff_rollback(sources, tmp_path):
    state = tmp_path / "state"
    listed = cli(sources, state, "list")
    assert listed.returncode == 0, listed.stderr
    assert "1.0.0" in listed.stdout and "2.0.0" in listed.stdout

    diff = cli(sources, state, "diff", "offer_copy", "1.1.0", "--from", "1.0.0")
    assert diff.returncode == 0, diff.stderr
    assert "--- offer_copy@1.0.0" in diff.stdout and "+++ offer_copy@1.1.0" in diff.stdout
    assert "-version: 1.0.0" in diff.stdout and "+version: 1.1.0" in diff.stdout

    first = cli(sources, state, "activate", "offer_copy", "1.0.0", "--why", "baseline", "--who", "ana")
    assert first.returncode == 0, first.stderr
    second = cli(sources, state, "activate", "offer_copy", "1.1.0", "--why", "shorter system prompt", "--who", "ben")
    assert second.returncode == 0, second.stderr
    shown = cli(sources, state, "show", "offer_copy").stdout
    assert "offer_copy@1.1.0 (active)" in shown and "upbeat loyalty copy" in shown

    back = cli(sources, state, "rollback", "offer_copy", "--why", "CTR dropped", "--who", "ana")
    assert back.returncode == 0, back.stderr
    assert "active: offer_copy@1.0.0" in back.stdout
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
    assert cli(sources, state, "activate", "offer_copy", "1.0.0", "--why", "baseline").returncode == 0
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
    unknown = cli(sources, state, "show", "offer_copy", "9.9.9")
    assert unknown.returncode == 2 and "no version 9.9.9" in unknown.stderr
    no_reason = cli(sources, state, "activate", "offer_copy", "1.0.0", "--why", " ")
    assert no_reason.returncode == 2 and "say why" in no_reason.stderr
    with pytest.raises(NotFoundError):
        PromptRegistry(sources, state).versions("nope")


def test_repository_prompt_fits_the_pipeline():
    PromptRegistry(PROMPTS, Path("/nonexistent")).active("offer_copy").check_pipeline_fit()
