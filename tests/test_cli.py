"""The root CLI: every stage's commands are mounted, and domain errors become one line with exit code 2."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from loyaltylens.cli import app


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The installed entry point in a subprocess, so the error boundary in ``main`` is what is tested."""
    return subprocess.run(
        [sys.executable, "-c", "from loyaltylens.cli import main; main()", *args], capture_output=True, text=True
    )


def test_every_stage_is_mounted():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ("data", "features", "model", "serve", "pipeline", "offers", "run"):
        assert group in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("pipeline", "run", "training", "-p", "bogus=1"), "pipeline 'training' has no parameter 'bogus'"),
        (("pipeline", "run", "training", "-p", "max_epochs=ten"), "parameter 'max_epochs' must be int"),
        (("pipeline", "run", "nightly"), "unknown pipeline 'nightly'"),
        (("features", "get", "1", "--version", "v0042"), "unknown feature version 'v0042'"),
    ],
)
def test_bad_input_is_one_readable_line_and_exit_2(isolated_settings, args, message):
    if args[0] == "features":  # a store with one version, so the version (not the store) is what is missing
        import pandas as pd

        from loyaltylens.features.definitions import FEATURE_NAMES
        from loyaltylens.features.store import FeatureStore

        online = pd.DataFrame({"customer_id": [1], **{name: [0.0] for name in FEATURE_NAMES}})
        FeatureStore.from_settings(isolated_settings).publish(online, {"as_of": "2026-11-01"})
    result = run_cli(*args)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr
