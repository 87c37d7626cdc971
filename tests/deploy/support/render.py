"""Render the project's deployment sources into objects: ``kubectl kustomize`` and ``helm template`` / ``helm lint``.

The binaries are kubectl 1.37 (with kustomize) and helm 4, as ``scripts/install-k8s-tools.sh`` installs them.
A failed render raises :class:`InvalidInputError` carrying the tool's own message (the line that names the
broken file or template); a missing binary raises :class:`LoyaltyLensError` saying how to install it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from loyaltylens.errors import InvalidInputError, LoyaltyLensError
from tests.deploy.support.validation import load_documents


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise LoyaltyLensError(f"{name} not found on PATH; install it with scripts/install-k8s-tools.sh .tools/bin")
    return path


def _run(args: list[str]) -> str:
    result = subprocess.run([_tool(args[0]), *args[1:]], capture_output=True, text=True)
    if result.returncode != 0:
        raise InvalidInputError(f"{' '.join(args[:2])} failed: {(result.stderr or result.stdout).strip()}")
    return result.stdout


def kustomize(directory: Path) -> list[dict]:
    """The objects ``kubectl kustomize DIRECTORY`` renders."""
    return load_documents(_run(["kubectl", "kustomize", str(directory)]))


def _value_args(values: Mapping[str, object]) -> list[str]:
    # --set-json keeps types (true, 10, null) exactly as given
    return [arg for key, value in values.items() for arg in ("--set-json", f"{key}={json.dumps(value)}")]


def helm_template(
    chart: Path,
    values: Mapping[str, object] | None = None,
    *,
    release: str = "loyaltylens",
    namespace: str = "loyaltylens",
) -> list[dict]:
    """The objects ``helm template`` renders for ``chart`` with ``values`` (dotted keys, e.g.
    ``{"torchserve.enabled": False}``)."""
    args = ["helm", "template", release, str(chart), "--namespace", namespace, *_value_args(values or {})]
    return load_documents(_run(args))


def helm_lint(chart: Path, values: Mapping[str, object] | None = None) -> str:
    """``helm lint --strict`` output; raises :class:`InvalidInputError` when the chart has lint errors."""
    return _run(["helm", "lint", "--strict", str(chart), *_value_args(values or {})])
