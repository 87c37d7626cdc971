"""Package the propensity model for TorchServe: the ``.mar`` archive and the KServe ``pytorch`` runtime layout.

:func:`build_archive` packs a model directory (``model.pt`` + ``feature_contract.json``) with the
handler ``serving/torchserve/handler.py`` into ``<name>.mar``; :func:`kserve_layout` writes the layout the
KServe TorchServe runtime reads at ``/mnt/models`` (``config/config.properties``, ``model-store/<name>.mar``).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from loyaltylens.errors import LoyaltyLensError
from loyaltylens.propensity.contract import CONTRACT_FILENAME
from loyaltylens.propensity.export import MODEL_FILENAME

HANDLER_MODULE = "serving.torchserve.handler"
DEFAULT_MODEL_NAME = "propensity"
LOG_CONFIG_FILENAME = "log4j2.xml"
# Where the KServe TorchServe runtime looks: the storage initializer puts the storageUri at /mnt/models.
KSERVE_MODEL_STORE = "/mnt/models/model-store"
KSERVE_INFERENCE_PORT = 8085  # the kserve wrapper (port 8080) forwards to TorchServe here
POD_LOOPBACK = "127.0.0.1"  # TorchServe listens only inside the pod, behind the kserve wrapper


def console_script(name: str) -> str:
    """A console script of this environment (the venv's ``bin/``), falling back to PATH."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        raise LoyaltyLensError(f"{name} not found; install loyaltylens[torchserve]")
    return found


def handler_path() -> Path:
    """The handler file packed into every archive, located without importing it (it needs ``ts``)."""
    spec = importlib.util.find_spec(HANDLER_MODULE)
    if spec is None or spec.origin is None:
        raise LoyaltyLensError(f"cannot locate {HANDLER_MODULE}; is loyaltylens installed with serving/?")
    return Path(spec.origin)


def log_config_path() -> Path:
    """The frontend's log4j2 config, beside the handler: INFO instead of TorchServe's per-request DEBUG."""
    return handler_path().with_name(LOG_CONFIG_FILENAME)


def build_archive(
    model_dir: Path, export_dir: Path, model_name: str = DEFAULT_MODEL_NAME, version: str = "1.0"
) -> Path:
    """Pack ``model_dir`` into ``export_dir/<model_name>.mar`` with torch-model-archiver; return its path.

    The TorchScript file is the serialized model, the feature contract an extra file: TorchServe unpacks
    both next to the handler, which loads them with ``load_model_dir``.
    """
    model_dir, export_dir = Path(model_dir), Path(export_dir)
    for name in (MODEL_FILENAME, CONTRACT_FILENAME):
        if not (model_dir / name).is_file():
            raise LoyaltyLensError(f"model directory {model_dir} has no {name}")
    export_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        console_script("torch-model-archiver"),
        "--model-name", model_name,
        "--version", version,
        "--serialized-file", str(model_dir / MODEL_FILENAME),
        "--handler", str(handler_path()),
        "--extra-files", str(model_dir / CONTRACT_FILENAME),
        "--export-path", str(export_dir),
        "--force",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise LoyaltyLensError(f"torch-model-archiver failed ({result.returncode}): {result.stderr.strip()}")
    return export_dir / f"{model_name}.mar"


def write_properties(path: Path, properties: Mapping[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
    return path


def kserve_layout(
    model_dir: Path,
    out_dir: Path,
    model_name: str = DEFAULT_MODEL_NAME,
    version: str = "1.0",
    workers: int = 1,
) -> Path:
    """Write ``config/config.properties`` and ``model-store/<model_name>.mar`` under ``out_dir`` for KServe.

    Upload ``out_dir`` and point the predictor's ``storageUri`` at it (``modelFormat: pytorch``). The image
    must have ``loyaltylens[serve]`` installed: the handler imports it. Token authorization is disabled in
    this config: the runtime's kserve wrapper calls TorchServe's APIs without a key, so with tokens on the
    model never becomes ready (pytorch/serve#3301); TorchServe binds only to the pod's loopback, behind the
    wrapper. The handler answers KServe v1 bodies itself, so no ``service_envelope`` is set. ``workers``
    defaults to 1 because the stock runtime's container gets one CPU.
    """
    out_dir = Path(out_dir)
    build_archive(model_dir, out_dir / "model-store", model_name, version)
    snapshot = {
        "name": "startup.cfg",
        "modelCount": 1,
        "models": {
            model_name: {
                version: {
                    "defaultVersion": True,
                    "marName": f"{model_name}.mar",
                    "minWorkers": workers,
                    "maxWorkers": workers,
                    "batchSize": 1,  # one request per handler call: a bad request fails only itself
                    "maxBatchDelay": 0,
                    "responseTimeout": 60,
                }
            }
        },
    }
    write_properties(
        out_dir / "config" / "config.properties",
        {
            "inference_address": f"http://{POD_LOOPBACK}:{KSERVE_INFERENCE_PORT}",
            "management_address": f"http://{POD_LOOPBACK}:{KSERVE_INFERENCE_PORT}",
            "metrics_address": f"http://{POD_LOOPBACK}:8082",
            "grpc_inference_port": 7070,
            "grpc_management_port": 7071,
            "enable_envvars_config": "true",
            "install_py_dep_per_model": "false",
            "enable_metrics_api": "true",
            "metrics_mode": "prometheus",
            "disable_token_authorization": "true",
            "load_models": "all",
            "model_store": KSERVE_MODEL_STORE,
            "model_snapshot": json.dumps(snapshot, separators=(",", ":")),
        },
    )
    return out_dir


