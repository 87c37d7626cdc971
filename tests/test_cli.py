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


def test_version_is_the_installed_distribution_version():
    from importlib.metadata import version

    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"loyaltylens {version('loyaltylens')}"


def _closed_port() -> int:
    from loyaltylens.local.launcher import free_port

    return free_port()  # nothing listens there once the probe socket is closed


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (("pipeline", "run", "training", "--host", "http://127.0.0.1:{port}"), {}, "http://127.0.0.1:{port}"),
        (
            ("features", "list", "--json"),
            {"LOYALTYLENS_FEATURE_STORE_CATALOG": "postgres:dbname=x host=127.0.0.1 port={port} user=postgres"},
            "port={port}",
        ),
    ],
    ids=["kfp host", "feature store catalog"],
)
def test_an_unreachable_service_is_one_line_naming_its_uri_and_exit_2(isolated_settings, monkeypatch, args, env, named):
    port = _closed_port()
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(port=port))
    result = run_cli(*(arg.format(port=port) for arg in args))
    assert result.returncode == 2, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and named.format(port=port) in lines[0], result.stderr


def test_model_list_with_an_unreachable_tracking_server_is_an_error(isolated_settings, monkeypatch):
    uri = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("LOYALTYLENS_MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    result = run_cli("model", "list", "--json")
    assert result.returncode == 2 and uri in result.stderr, result.stdout


def test_features_list_json_lists_the_published_versions(isolated_settings):
    import json

    import pandas as pd

    from loyaltylens.features.definitions import FEATURE_NAMES
    from loyaltylens.features.store import FeatureStore

    online = pd.DataFrame({"customer_id": [1, 2], **{name: [0.0, 1.0] for name in FEATURE_NAMES}})
    FeatureStore.from_settings(isolated_settings).publish(online, {"as_of": "2026-11-01"})
    result = run_cli("features", "list", "--json")
    assert result.returncode == 0, result.stderr
    [version] = json.loads(result.stdout)
    assert version["version"] == "v0001" and version["online_rows"] == 2
